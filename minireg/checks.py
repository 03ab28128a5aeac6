"""The checks every public function makes at its door, written once.

minireg checks its inputs where a user hands them in -- the public function, a
layer's or a regularizer's constructor -- and nowhere after that: the code behind the
door (NumPy twins, compiled kernels, the inner loops) assumes valid input, as
scikit-learn's ``isotonic_regression`` checks before it calls its kernel.

Each check returns the value in a plain form (a Python ``int`` or ``float``, a pair)
or raises an error whose message names the argument as the user wrote it and says
which values are accepted::

    >>> check_int(0, "stride", minimum=1)
    Traceback (most recent call last):
    ValueError: stride must be an integer >= 1, got 0

Wrong *types* raise :class:`TypeError`, wrong *values* :class:`ValueError`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer in [minimum, maximum] (bounds optional)."""
    if type(value) is int and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return value  # the common case, decided before any message is built (kernels check per call)
    if minimum is not None and maximum is not None:
        accepted = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        accepted = f"an integer >= {minimum}"
    elif maximum is not None:
        accepted = f"an integer <= {maximum}"
    else:
        accepted = "an integer"
    if not _is_integer(value):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return int(value)


def check_number(value, name: str, minimum: float | None = None, maximum: float | None = None,
                 include_minimum: bool = True, include_maximum: bool = True) -> float:
    """``value`` as a ``float`` if it is a *finite* real number in the given interval.

    NaN and infinities are always refused. ``include_minimum=False`` makes the lower
    bound open (``> minimum``), ``include_maximum=False`` the upper one.
    """
    if (type(value) is float and math.isfinite(value)
            and (minimum is None or value > minimum or (include_minimum and value == minimum))
            and (maximum is None or value < maximum or (include_maximum and value == maximum))):
        return value  # the common case, decided before any message is built (kernels check per call)
    left = "[" if include_minimum else "("
    right = "]" if include_maximum else ")"
    if minimum is None and maximum is None:
        accepted = "a finite number"
    else:
        low = "-inf" if minimum is None else f"{minimum!r}"
        high = "inf" if maximum is None else f"{maximum!r}"
        accepted = f"a finite number in {'(' if minimum is None else left}{low}, " \
                   f"{high}{')' if maximum is None else right}"
    if not _is_real(value):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    if minimum is not None and (number < minimum or (not include_minimum and number == minimum)):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    if maximum is not None and (number > maximum or (not include_maximum and number == maximum)):
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return number


def check_probability(value, name: str, include_zero: bool = True, include_one: bool = False) -> float:
    """``value`` as a ``float`` in [0, 1) by default; the bounds' openness is adjustable."""
    return check_number(value, name, 0.0, 1.0, include_minimum=include_zero, include_maximum=include_one)


def check_choice(value, name: str, choices) -> object:
    """``value`` itself if it is one of ``choices`` (compared with ``==``)."""
    choices = tuple(choices)
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_pair(value, name: str, minimum: int = 1) -> tuple:
    """An int ``k`` as ``(k, k)``, or a pair of two ints, each at least ``minimum``.

    The form in which convolutions and pooling take ``kernel_size``, ``stride`` and
    ``padding`` as (height, width).
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a pair (height, width), got {value!r}")
        return (check_int(value[0], f"{name}[0]", minimum), check_int(value[1], f"{name}[1]", minimum))
    if not _is_integer(value):
        raise TypeError(f"{name} must be an integer or a pair (height, width), got {value!r}")
    number = check_int(value, name, minimum)
    return (number, number)


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
"""The floating-point dtypes minireg computes in. float16 is refused: its range and
precision are too small for the optimizers (Adam's second moments underflow)."""


def check_float_dtype(dtype, name: str) -> np.dtype:
    """``dtype`` as a NumPy dtype if it is float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def check_float_array(array, name: str, ndim: int | None = None, finite: bool = False) -> np.ndarray:
    """``array`` itself if it is a float32 or float64 ndarray (of ``ndim`` axes, and with
    only finite values when ``finite``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of float32 or float64, got {type(array).__name__}")
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a NumPy array of float32 or float64, got dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {array.shape}")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers only; it has NaN or infinite values")
    return array


def check_out_array(out, name: str, shape, dtype, c_contiguous: bool = False) -> np.ndarray:
    """``out`` itself if it is a writeable ndarray of ``shape`` and ``dtype`` (and
    C-contiguous when ``c_contiguous``): an array a function writes its result into."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    if (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype and out.flags.writeable
            and (out.flags.c_contiguous or not c_contiguous)):
        return out
    wanted = f"a writeable{' C-contiguous' if c_contiguous else ''} NumPy array of shape {shape} and dtype {dtype}"
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be None or {wanted}, got {type(out).__name__}")
    problems = [f"shape {out.shape}" if out.shape != shape else "",
                f"dtype {out.dtype}" if out.dtype != dtype else "",
                "a read-only array" if not out.flags.writeable else "",
                "an array that is not C-contiguous" if c_contiguous and not out.flags.c_contiguous else ""]
    raise ValueError(f"{name} must be {wanted}; got {', '.join(p for p in problems if p)}")


def check_no_overlap(out: np.ndarray, array: np.ndarray, name: str, array_name: str,
                     in_place: bool = False) -> None:
    """Refuse an output ``out`` that shares memory with the input ``array``.

    A kernel that reads ``array`` while it writes ``out`` gives a result that depends on
    the order of its loops when the two overlap, so overlap is refused. With
    ``in_place``, ``out`` may be ``array`` itself -- the same memory, shape, strides and
    dtype (``out=x``) -- which such a kernel handles entry by entry.
    """
    if (in_place and out is array) or not np.shares_memory(out, array):
        return
    if not in_place:
        raise ValueError(f"{name} shares memory with {array_name}; pass an array that does not overlap it")
    if not _same_memory_and_layout(out, array):
        raise ValueError(f"{name} overlaps {array_name} in memory without being {array_name} itself; "
                         f"pass {name}={array_name} to work in place, or an array that does not "
                         f"share memory with {array_name}")


def _same_memory_and_layout(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype)


def as_array(value, name: str) -> np.ndarray:
    """``np.asarray(value)``, or a TypeError naming ``name`` when NumPy cannot make one
    array of it (a ragged list, for instance)."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array (or a list of numbers of one shape); {error}") from None
