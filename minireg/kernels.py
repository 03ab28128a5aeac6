"""The hot paths of minireg, each written twice: readable NumPy, and compiled.

Three computations dominate the running time of what minireg does and are compiled
with Cython in ``minireg/_ext/``:

* ``im2col`` / ``col2im`` -- the unfolding of image patches that turns a convolution
  into one matrix product, and its adjoint (``_ext/im2col.pyx``);
* the OWL / GrOWL proximal operator -- a sort, the pool-adjacent-violators algorithm
  and a scatter (``_ext/pava.pyx``);
* dropout masks -- random bits, the keep mask and the scaled output in one pass
  (``_ext/dropout.pyx``).

For each one, this module holds a pure-NumPy *twin*: the same function, written to be
read line by line by a student. The tests check that twin and kernel agree. The public
function of each pair (``im2col``, ``owl_prox``, ...) calls the compiled kernel when it
is built and switched on, and the twin otherwise.

The switch
----------
* ``MINIREG_PURE_NUMPY=1`` in the environment, before minireg is imported, starts with
  the twins switched on everywhere (useful for stepping through the code);
* ``use_compiled(False)`` / ``use_compiled(True)`` flips it at run time, and returns
  the previous setting so that a test can restore it;
* ``compiled_status()`` says, for each kernel, whether it is built and in use.

If the extensions are not built (for instance a source checkout used without
``pip install``), minireg still imports and works through the twins, and says so once
with a :class:`RuntimeWarning`.
"""
from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

_EXTENSION_NAMES = ("im2col", "pava", "dropout")


def _load_extensions():
    loaded, missing = {}, []
    for name in _EXTENSION_NAMES:
        try:
            loaded[name] = importlib.import_module(f"minireg._ext.{name}")
        except ImportError:
            missing.append(name)
    return loaded, missing


_EXT, _MISSING = _load_extensions()
_USE_COMPILED = os.environ.get("MINIREG_PURE_NUMPY", "").strip() in ("", "0")

if _MISSING and _USE_COMPILED:
    warnings.warn(
        "minireg: the compiled kernels "
        + ", ".join(f"minireg._ext.{name}" for name in _MISSING)
        + " are not built, so minireg uses their pure-NumPy twins (correct, but slower). "
        "Build them with `pip install -e .` from the source checkout.",
        RuntimeWarning,
        stacklevel=2,
    )


def use_compiled(enabled: bool) -> bool:
    """Switch the compiled kernels on (``True``) or force the NumPy twins (``False``).

    Returns the previous setting. Kernels that are not built always fall back to
    their twins, whatever this says.
    """
    global _USE_COMPILED
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"use_compiled(enabled=...) takes True or False, got {enabled!r}")
    previous, _USE_COMPILED = _USE_COMPILED, bool(enabled)
    return previous


def compiled_status() -> dict:
    """For each kernel: ``'compiled'`` if it is built and in use, else ``'numpy twin'``."""
    return {name: "compiled" if _compiled(name) else "numpy twin" for name in _EXTENSION_NAMES}


def _compiled(name: str):
    """The compiled module ``name`` if it is built and switched on, else ``None``."""
    return _EXT.get(name) if _USE_COMPILED else None


# ---------------------------------------------------------------------------------------
# im2col / col2im  (compiled: minireg/_ext/im2col.pyx)
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# OWL / GrOWL proximal operator  (compiled: minireg/_ext/pava.pyx)
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# dropout masks  (compiled: minireg/_ext/dropout.pyx)
# ---------------------------------------------------------------------------------------
