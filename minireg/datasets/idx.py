"""The IDX file format of MNIST and Fashion-MNIST: read it, and write it (for tests).

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/) is

====================  ======================================================
bytes 0-1             zero
byte 2                the type of the values (table below)
byte 3                the number of dimensions ``d``
``d`` times 4 bytes   the size of each dimension, big-endian unsigned int32
the rest              the values, big-endian, in C (row-major) order
====================  ======================================================

MNIST's images are ``(N, 28, 28)`` unsigned bytes, its labels ``(N,)`` unsigned bytes.
The reader checks every field and that the data are exactly as long as the header
says, so that a truncated file gives a clear error instead of a wrong array.
"""
from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np

from .files import CorruptDataError, atomic_write, read_decompressed, what_to_do

# type byte -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, source="<bytes>") -> np.ndarray:
    """Decode the (decompressed) bytes of an IDX file into an array.

    Parameters
    ----------
    data : bytes
        The whole file content, already gunzipped.
    source : str or Path
        The file the bytes came from, named in error messages.

    Returns
    -------
    numpy.ndarray
        An array with the file's shape and the native-byte-order version of its type
        (``uint8`` for MNIST). It owns its memory and is writeable.

    Raises
    ------
    CorruptDataError
        If the magic number, the type byte or the number of dimensions is invalid,
        or if the data are shorter (truncated file) or longer than the header says.
    """
    if len(data) < 4:
        raise CorruptDataError(
            f"{source} is {len(data)} bytes long, too short to be an IDX file. {what_to_do(source)}"
        )
    zero_0, zero_1, type_code, n_dims = data[0], data[1], data[2], data[3]
    if zero_0 != 0 or zero_1 != 0:
        raise CorruptDataError(
            f"{source} is not an IDX file: it must start with two zero bytes, "
            f"found {data[:2].hex()}. {what_to_do(source)}"
        )
    if type_code not in IDX_DTYPES:
        accepted = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise CorruptDataError(
            f"{source} has IDX type byte 0x{type_code:02X}; accepted are {accepted}. "
            f"{what_to_do(source)}"
        )
    if n_dims == 0:
        raise CorruptDataError(f"{source} declares 0 dimensions. {what_to_do(source)}")
    header_length = 4 + 4 * n_dims
    if len(data) < header_length:
        raise CorruptDataError(
            f"{source} is truncated inside its header ({len(data)} of {header_length} bytes). "
            f"{what_to_do(source)}"
        )
    shape = struct.unpack(f">{n_dims}I", data[4:header_length])
    dtype = IDX_DTYPES[type_code]
    expected_length = header_length + math.prod(shape) * dtype.itemsize
    if len(data) < expected_length:
        raise CorruptDataError(
            f"{source} is truncated: its header announces shape {shape} "
            f"({expected_length} bytes in all) but the file has {len(data)} bytes. "
            f"{what_to_do(source)}"
        )
    if len(data) > expected_length:
        raise CorruptDataError(
            f"{source} has {len(data) - expected_length} bytes after the data announced by "
            f"its header (shape {shape}); it is not a valid IDX file. {what_to_do(source)}"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_length).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (recognised by content, not name).

    See :func:`parse_idx` for the checks and the errors.
    """
    path = Path(path)
    return parse_idx(read_decompressed(path), source=path)


def idx_bytes(array) -> bytes:
    """Encode an array as the bytes of an IDX file (the inverse of :func:`parse_idx`)."""
    array = np.asarray(array)
    type_code = None
    for code, dtype in IDX_DTYPES.items():
        if array.dtype == dtype.newbyteorder("="):
            type_code = code
    if type_code is None:
        raise TypeError(
            f"array dtype {array.dtype} has no IDX type; accepted are uint8, int8, "
            "int16, int32, float32, float64"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = array.astype(IDX_DTYPES[type_code], copy=False)
    return header + np.ascontiguousarray(big_endian).tobytes()


def write_idx(path, array, compress=None) -> Path:
    """Write an array as an IDX file, atomically.

    Parameters
    ----------
    path : str or Path
        Destination.
    array : array_like
        Values of a type listed in ``IDX_DTYPES``.
    compress : bool, optional
        Gzip the file. By default, compress when ``path`` ends in ``.gz``.
    """
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = idx_bytes(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write(path, data)
