"""Files that are either fully written or not written at all.

A training run that is killed while it saves a model (Ctrl-C, an out-of-memory kill, a
full disk) must not leave a half-written file where the last good snapshot used to be:
early stopping (Deep Learning, Algorithm 7.1) relies on that snapshot. Every writer
here follows the same three steps:

1. write everything to a temporary file *in the same folder* as the target;
2. flush Python's buffer and ``os.fsync`` the file, so the bytes are on disk;
3. ``os.replace`` the temporary file onto the target.

``os.replace`` is atomic on POSIX and Windows when both paths are on one file system
(hence the same folder): a reader sees either the old file or the new one, never a
mix. If anything fails before step 3, the temporary file is deleted and the target is
untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np

# The process's umask, read once, so that new files get the usual permissions
# (0o666 minus the umask) instead of mkstemp's private 0o600.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _check_path(path, name="path"):
    """``path`` as a string; a TypeError naming the argument otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if path == "" or os.path.isdir(path):
        raise ValueError(f"{name} must name a file, got {path!r}")
    return path


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file that replaces ``path`` when the ``with`` block ends normally.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)write. Its folder must exist.
    mode : {"wb", "w"}
        Binary or text (UTF-8) writing.

    Yields
    ------
    file
        The open temporary file. If the block raises, the temporary file is removed,
        ``path`` keeps its old content, and the exception propagates.

    Examples
    --------
    >>> with atomic_open("notes.txt", "w") as f:       # doctest: +SKIP
    ...     f.write("all or nothing")
    """
    path = _check_path(path)
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path!r}: the folder {folder!r} does not exist")
    if os.path.exists(path):
        permissions = os.stat(path).st_mode & 0o777
    else:
        permissions = 0o666 & ~_UMASK
    fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, permissions)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    _fsync_folder(folder)


def atomic_write_bytes(path, data) -> None:
    """Write ``data`` (bytes-like) to ``path`` atomically (see the module docstring)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}")
    with atomic_open(path, "wb") as file:
        file.write(data)


def atomic_write_text(path, text: str) -> None:
    """Write the string ``text`` to ``path`` atomically, encoded as UTF-8."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    with atomic_open(path, "w") as file:
        file.write(text)


def save_npz_atomic(path, /, **arrays) -> None:
    """Save named arrays to an uncompressed ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Used exactly as given (unlike ``numpy.savez``, no ``.npz`` is appended).
    **arrays : array_like
        Name -> array. Names may contain dots (``"0.weight"``); pass a dict with
        ``save_npz_atomic(path, **state)``.

    Notes
    -----
    Object arrays are refused, so that :func:`load_npz` never needs ``allow_pickle``
    (loading pickles runs arbitrary code).
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {name!r} has dtype object; save_npz_atomic stores numeric arrays only")
    with atomic_open(path, "wb") as file:
        np.savez(file, **arrays)


def load_npz(path) -> dict:
    """Read every array of an ``.npz`` file into a dict (pickles refused), and close it."""
    path = _check_path(path)
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
