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
untouched. A writer killed outright (SIGKILL, a power cut) cannot delete its temporary
file; the next successful save of the same target removes it (a writer holds a lock on
its temporary file, so only abandoned ones are removed, never another writer's).

Reading back, :func:`load_npz` says which file is wrong, what is wrong with it (empty,
not an ``.npz`` file, truncated, a corrupt entry, an object or complex array), and what
to do, with one exception type, :class:`CorruptFileError`. It never unpickles.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import zipfile

import numpy as np

try:
    import fcntl
except ImportError:  # Windows, which refuses to delete a file another process has open
    fcntl = None

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


TEMPORARY_SUFFIX = ".tmp"


def _temporary_prefix(path) -> str:
    """Temporary files for ``folder/name`` are ``folder/.name.XXXXXXXX.tmp``."""
    return "." + os.path.basename(path) + "."


def _new_temporary(path):
    """Create a fresh temporary file beside ``path``, locked (POSIX) while it is written.

    Returns the open descriptor and the file's name. The lock tells
    :func:`_remove_abandoned_temporaries` of other writers that the file is in use; if
    one of them removed it in the instant before we locked it, we make another.
    """
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(path),
                                         suffix=TEMPORARY_SUFFIX)
        if fcntl is None:
            return fd, temporary
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, temporary
        os.close(fd)


def _remove_abandoned_temporaries(path) -> None:
    """Delete the temporary files of ``path`` that killed writers left behind.

    Only names that :func:`_new_temporary` makes for this very target are considered,
    and only those that no writer holds: on POSIX a writer keeps its temporary file
    locked until it is renamed; on Windows an open file cannot be deleted.
    """
    folder = os.path.dirname(os.path.abspath(path))
    ours = re.compile(re.escape(_temporary_prefix(path)) + r"[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))
    for entry in os.listdir(folder):
        if not ours.fullmatch(entry):
            continue
        candidate = os.path.join(folder, entry)
        if fcntl is None:
            with contextlib.suppress(OSError):
                os.remove(candidate)
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer holds it
            os.remove(candidate)
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
        ``path`` keeps its old content, and the exception propagates. After a successful
        replace, temporary files of ``path`` abandoned by killed writers are removed.

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
    fd, temporary = _new_temporary(path)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
            os.chmod(temporary, permissions)
            if fcntl is not None:  # rename while still holding the lock
                os.replace(temporary, path)
        if fcntl is None:  # Windows cannot rename an open file
            os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    _fsync_folder(folder)
    _remove_abandoned_temporaries(path)


def atomic_write_bytes(path, data) -> None:
    """Write ``data`` (bytes-like) to ``path`` atomically (see the module docstring)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}")
    with atomic_open(path, "wb") as file:
        file.write(data)


@contextlib.contextmanager
def png_figure(path, *args, **kwargs):
    """A matplotlib figure that becomes a PNG file at ``path``, written atomically.

    ``with png_figure(path, rows, columns, figsize=...) as (figure, axes):`` makes the
    figure with ``pyplot.subplots(*args, **kwargs)`` (the Agg backend, no screen); when
    the block ends without an error the figure is saved, and it is closed in any case.
    matplotlib must be installed (``pip install "minireg[plot]"``)."""
    import io as bytes_io

    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(*args, **kwargs)
    try:
        yield figure, axes
        buffer = bytes_io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        pyplot.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


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


class CorruptFileError(ValueError):
    """A file exists but cannot be read back as what minireg saved there.

    The message names the file, says what is wrong with it (empty, not an ``.npz``
    file, truncated, which entry is corrupt or holds what) and what to do. The data
    loaders' :class:`minireg.datasets.CorruptDataError` is a subclass, so one
    ``except CorruptFileError`` catches every unreadable file.
    """


# What to do about a file that cannot be read: it cannot be repaired, only replaced.
REMEDY = ("Such a file cannot be repaired: save it again (model.save(path), or rerun what "
          "wrote it; for a checkpoint, delete it and resume from an earlier one or start "
          "over), or copy it again if it was copied from elsewhere.")

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry; an empty zip
NPY_SIGNATURE = b"\x93NUMPY"


def _corrupt(path, problem, remedy=REMEDY) -> CorruptFileError:
    return CorruptFileError(f"{path}: {problem}. {remedy}")


def _check_readable(path) -> str:
    """``path`` as a string, naming an existing file; a clear error otherwise."""
    if isinstance(path, (str, os.PathLike)) and os.path.isdir(path):
        folder = os.fsdecode(os.fspath(path))
        raise IsADirectoryError(f"{folder!r} is a folder, not an .npz file: pass the path of the file "
                                f"itself, e.g. {os.path.join(folder, 'model.npz')!r}")
    path = _check_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r}: no such file")
    return path


def load_npz(path) -> dict:
    """Read every array of an ``.npz`` file written by :func:`save_npz_atomic` (or
    ``numpy.savez``) into a dict.

    Nothing is unpickled: object arrays are refused, as are complex arrays (minireg
    stores real numbers only; converting one to float would silently drop its
    imaginary part).

    Raises
    ------
    CorruptFileError
        The file is empty, is not an ``.npz`` file, is truncated, has a corrupt entry
        (bad checksum, bad ``.npy`` header, fewer bytes than its shape needs), or holds
        an object or complex array. The message names the file and the entry.
    FileNotFoundError, IsADirectoryError
        ``path`` does not exist, or is a folder.
    """
    path = _check_readable(path)
    with open(path, "rb") as file:
        start = file.read(len(NPY_SIGNATURE))
    if not start:
        raise _corrupt(path, "the file is empty (0 bytes)")
    if start.startswith(NPY_SIGNATURE):
        raise _corrupt(path, "this is a single NumPy array (.npy), not an .npz archive of named arrays")
    if not start.startswith(ZIP_SIGNATURES):
        raise _corrupt(path, f"not an .npz file (an .npz file is a zip archive, which begins with "
                             f"'PK'; this one begins with {start!r})")
    try:
        archive = zipfile.ZipFile(path)
    except Exception as error:  # damaged zip structures raise many kinds of errors
        raise _corrupt(path, _unreadable_zip(path, error)) from error
    with archive:
        return dict(_read_entry(archive, info, path) for info in archive.infolist())


def _unreadable_zip(path, error) -> str:
    """Why a file that begins like a zip archive cannot be opened as one."""
    size = os.path.getsize(path)
    with open(path, "rb") as file:
        file.seek(max(0, size - 22 - 0xFFFF))  # the end record: 22 bytes and a comment
        tail = file.read()
    if b"PK\x05\x06" not in tail:
        return (f"truncated: the zip directory that ends an .npz file is missing (the file has "
                f"{size} bytes; a copy or download that stopped early looks like this)")
    return f"corrupt: its zip directory cannot be read ({error})"


def _read_entry(archive, info, path):
    """``(name, array)`` of one ``.npy`` entry of the open zip ``archive``, checked
    (see :func:`load_npz`)."""
    if not info.filename.endswith(".npy"):
        raise _corrupt(path, f"entry {info.filename!r} is not a NumPy array (.npy)")
    name = info.filename[: -len(".npy")]
    try:
        with archive.open(info) as member:
            dtype, data_bytes = _read_npy_header(member)
            if dtype.hasobject:
                raise _corrupt(path, f"entry {name!r} holds an object array (pickled Python "
                                     "objects), which minireg never loads: unpickling can run "
                                     "arbitrary code", "Save the file again with numeric arrays only.")
            if dtype.kind == "c":
                raise _corrupt(path, f"entry {name!r} holds complex numbers ({dtype}); minireg "
                                     "stores real numbers only, and reading them as floats would "
                                     "silently drop the imaginary parts",
                               "Save the file again with real arrays (np.real(w), if the "
                               "imaginary parts are zero).")
            expected = member.tell() + data_bytes
            if expected != info.file_size:
                raise _corrupt(path, f"entry {name!r} is corrupt: its header announces "
                                     f"{expected} bytes, the entry holds {info.file_size}")
        with archive.open(info) as member:
            array = np.lib.format.read_array(member, allow_pickle=False)
            member.read()  # to the end, so that the zip's CRC-32 of the entry is checked
        return name, array
    except CorruptFileError:
        raise
    except Exception as error:  # as above; sizes were checked, so no huge allocation fails
        raise _corrupt(path, f"entry {name!r} is corrupt ({error})") from error


def _read_npy_header(member):
    """The dtype and the number of data bytes of an open ``.npy`` stream, which is left
    just after the header."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    return dtype, math.prod(shape) * dtype.itemsize
