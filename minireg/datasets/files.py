"""Bytes on disk: read (gzip or raw), hash, and write atomically.

Three small jobs every loader needs:

* :func:`read_decompressed` -- the bytes of a data file, gunzipped when the file is a
  gzip file (recognised by its first two bytes, not by its name), with a clear error
  when the compressed stream is truncated or corrupt;
* :func:`sha256_hex` / :func:`md5_hex` and :func:`check_digest` -- checksums of the
  *decompressed* bytes, so that a faithful mirror that re-compressed the files is
  accepted, and a clear error naming the file, the expected and the actual digest;
* :func:`atomic_write` -- :func:`minireg.io.atomic_write_bytes`, creating the folder
  first: a reader never sees a half-written file, and a write that fails (or is
  interrupted with Ctrl-C) leaves nothing behind.
"""
from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from minireg.io import CorruptFileError, atomic_write_bytes

GZIP_MAGIC = b"\x1f\x8b"


class CorruptDataError(CorruptFileError):
    """A data file exists but its content is wrong: truncated, corrupt, or its checksum
    does not match the published one. The message names the file and what to do.

    A :class:`minireg.io.CorruptFileError` (a ``ValueError``), so that one ``except``
    catches every unreadable file, data or checkpoint."""


def what_to_do(path) -> str:
    """The advice every corrupt-file error ends with."""
    return (
        f"Delete {path} and load again (with download=True a fresh copy is fetched), "
        "or put a good copy of the file there, or point `root` (or the MINIREG_DATA "
        "environment variable) at a folder that holds good copies."
    )


def decompress_if_gzip(data: bytes, source) -> bytes:
    """Return ``data`` gunzipped if it starts with the gzip magic bytes, else unchanged.

    Parameters
    ----------
    data : bytes
        The raw content of a file.
    source : str or Path
        Where the bytes came from, used in error messages.

    Raises
    ------
    CorruptDataError
        If the gzip stream is truncated or corrupt (bad CRC, bad deflate data).
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError as error:
        raise CorruptDataError(
            f"{source} is a truncated gzip file ({error}); the download was probably "
            f"interrupted. {what_to_do(source)}"
        ) from error
    except (gzip.BadGzipFile, zlib.error) as error:
        raise CorruptDataError(
            f"{source} is a corrupt gzip file ({error}). {what_to_do(source)}"
        ) from error


def read_decompressed(path) -> bytes:
    """Read a file and return its content, gunzipped if it is a gzip file."""
    path = Path(path)
    return decompress_if_gzip(path.read_bytes(), path)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def md5_hex(data: bytes) -> str:
    """MD5 of ``data`` as 32 lowercase hex digits (used only where MD5 is what was
    published, e.g. the CIFAR-10 batches)."""
    return hashlib.md5(data).hexdigest()


def check_digest(data: bytes, expected: str, source, algorithm: str = "sha256") -> None:
    """Raise :class:`CorruptDataError` unless the digest of ``data`` equals ``expected``.

    Parameters
    ----------
    data : bytes
        The decompressed content.
    expected : str
        The published hex digest.
    source : str or Path
        The file the bytes came from (named in the error).
    algorithm : {"sha256", "md5"}
    """
    if algorithm == "sha256":
        actual = sha256_hex(data)
    elif algorithm == "md5":
        actual = md5_hex(data)
    else:
        raise ValueError(f"algorithm must be 'sha256' or 'md5', got {algorithm!r}")
    if actual != expected:
        raise CorruptDataError(
            f"{source}: {algorithm} of the decompressed content is {actual}, expected "
            f"{expected}. The file is truncated, corrupt or a different file. "
            f"{what_to_do(source)}"
        )


def atomic_write(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file appears complete or not at all,
    creating its folder if needed (:func:`minireg.io.atomic_write_bytes`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path
