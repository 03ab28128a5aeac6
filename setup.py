"""Build script for minireg's compiled kernels.

Every ``minireg/_ext/*.pyx`` file becomes one extension module. Each kernel has a
pure-NumPy twin in ``minireg/kernels/`` (one module per kernel); the package works (slower) without them.
"""
import os
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent

# Developers may rebuild a single kernel: MINIREG_BUILD_ONLY=pava python setup.py build_ext --inplace
ONLY = {name for name in os.environ.get("MINIREG_BUILD_ONLY", "").split(",") if name}

# The warp agrees with its NumPy twin bit for bit only if the C compiler rounds after
# every multiply and every add, as NumPy does: no fused multiply-adds.
EXTRA_COMPILE_ARGS = {"warp": ["-ffp-contract=off"]}

extensions = [
    Extension(
        f"minireg._ext.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3", *EXTRA_COMPILE_ARGS.get(pyx.stem, [])],
    )
    for pyx in sorted((HERE / "minireg" / "_ext").glob("*.pyx"))
    if not ONLY or pyx.stem in ONLY
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
