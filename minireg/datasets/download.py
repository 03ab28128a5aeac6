"""Where data files are looked for, and how they are downloaded.

Where
-----
A loader searches these *base folders*, in this order:

1. the ``root`` argument, when one is given;
2. the folder named by the environment variable ``MINIREG_DATA``, when it is set;
3. the cache, ``$XDG_CACHE_HOME/minireg`` or, by default, ``~/.cache/minireg``.

The folders given by ``root`` and ``MINIREG_DATA`` must exist: they are never created
(a typo would otherwise start a download into a new folder), and a missing one is a
:class:`DataFolderNotFoundError`. Only the cache is created when needed.

In each base folder the loader looks first in the dataset's own subfolder (``mnist/``,
``fashion-mnist/``, ``cifar-10-batches-py/``), then the base folder itself. So
``root="../shared/data"`` and ``root="../shared/data/mnist"`` both work. A loader may
add places of its own after these (Fashion-MNIST adds Debian's
``/usr/share/datasets/fashion-mnist``).

Downloads
---------
When a file is found nowhere, it is downloaded into the dataset's subfolder of the
*first* base folder, from the public mirrors in order until one works. Each download
goes to a temporary file in the destination folder; its decompressed content is checked
against the published checksum; only then is it renamed into place (``os.replace``).
A mirror that fails or serves wrong bytes leaves nothing behind, and the next one is
tried. Only the standard library (``urllib``) is used.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from .files import CorruptDataError, read_decompressed

ENVIRONMENT_VARIABLE = "MINIREG_DATA"
DOWNLOAD_TIMEOUT_SECONDS = 60


class DownloadError(OSError):
    """No mirror delivered a good copy of a file. The message lists each mirror's error
    and how to provide the file by hand."""


class DataFolderNotFoundError(FileNotFoundError):
    """A folder given for data (the ``root`` argument or ``$MINIREG_DATA``) does not exist.

    Attributes
    ----------
    argument : str
        ``"root"`` or ``"MINIREG_DATA"``: where the folder was given (so that a command
        line can name its own option instead).
    folder : Path
        The folder as given.
    """

    def __init__(self, argument: str, folder: Path):
        self.argument, self.folder = argument, folder
        given = f"root={str(folder)!r}" if argument == "root" else f"{argument}={folder}"
        if folder.exists():
            problem = "is a file, not a folder"
        else:
            problem = ("no such folder (a data folder is not created, so that a typo does not "
                       "download into a new one)")
        instead = f"${ENVIRONMENT_VARIABLE} or the cache" if argument == "root" else "the cache"
        super().__init__(
            f"{given}: {problem}. Pass an existing folder (one that holds the data files, or "
            f"an empty one to download into), or leave {argument} unset to use {instead} "
            f"{cache_folder()}."
        )


def cache_folder() -> Path:
    """The default place for downloads: ``$XDG_CACHE_HOME/minireg``, else ``~/.cache/minireg``."""
    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg_cache) if xdg_cache else Path.home() / ".cache"
    return base / "minireg"


def base_folders(root=None) -> list[Path]:
    """The base folders searched for data, in order: ``root``, ``$MINIREG_DATA``, the cache.

    Raises :class:`DataFolderNotFoundError` if ``root`` or ``$MINIREG_DATA`` is not an
    existing folder."""
    given = []
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a str or a path, got {type(root).__name__}")
        given.append(("root", Path(root).expanduser()))
    environment_folder = os.environ.get(ENVIRONMENT_VARIABLE)
    if environment_folder:
        given.append((ENVIRONMENT_VARIABLE, Path(environment_folder).expanduser()))
    for argument, folder in given:
        if not folder.is_dir():
            raise DataFolderNotFoundError(argument, folder)
    return [folder for _, folder in given] + [cache_folder()]


def search_folders(subfolder: str, root=None, extra_folders=()) -> list[Path]:
    """Every folder a loader looks in: for each base folder, ``base/subfolder`` then
    ``base``; then ``extra_folders``."""
    folders = []
    for base in base_folders(root):
        folders.append(base / subfolder)
        folders.append(base)
    folders.extend(Path(folder) for folder in extra_folders)
    return folders


def download_folder(subfolder: str, root=None) -> Path:
    """Where a missing file is downloaded to: ``subfolder`` of the first base folder."""
    return base_folders(root)[0] / subfolder


def find_file(filename: str, folders) -> Path | None:
    """The first ``folder/filename`` or ``folder/filename.gz`` that exists, or None."""
    for folder in folders:
        for name in (filename, filename + ".gz"):
            candidate = Path(folder) / name
            if candidate.is_file():
                return candidate
    return None


def fetch_url(url: str, handle) -> None:
    """Copy the resource at ``url`` (``https://``, ``http://`` or ``file://``) into the open
    binary file ``handle``. Tests replace this function to stay off the network."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        shutil.copyfileobj(response, handle, length=1 << 20)


def download_to_temporary(url: str, folder) -> Path:
    """Download ``url`` into a new temporary file inside ``folder`` and return its path.

    The caller renames it into place (``os.replace``) or deletes it. If the download
    fails or is interrupted, the temporary file is removed before the error propagates.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(urlsplit(url).path).name or "download"
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            fetch_url(url, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def download_verified(urls, folder, check) -> tuple[Path, bytes]:
    """Download the first URL that delivers good content, and store it atomically.

    Parameters
    ----------
    urls : sequence of str
        The same file on different mirrors, tried in order.
    folder : Path
        Destination folder; the file keeps the name it has in the URL.
    check : callable
        ``check(data, source)`` raises :class:`CorruptDataError` when the decompressed
        bytes ``data`` are not the expected ones.

    Returns
    -------
    path : Path
        The stored file.
    data : bytes
        Its decompressed content (already checked).

    Raises
    ------
    DownloadError
        When every mirror failed; nothing is left in ``folder``.
    """
    failures = []
    for url in urls:
        destination = Path(folder) / Path(urlsplit(url).path).name
        print(f"minireg: downloading {url} to {destination}", file=sys.stderr)
        try:
            temporary = download_to_temporary(url, folder)
        except OSError as error:  # URLError, HTTPError, timeouts and disk errors are OSErrors
            failures.append(f"{url}: {error}")
            continue
        try:
            data = read_decompressed(temporary)
            check(data, url)
            os.replace(temporary, destination)
        except CorruptDataError as error:
            failures.append(f"{url}: {error}")
            continue
        finally:
            temporary.unlink(missing_ok=True)
        return destination, data
    listing = "\n  ".join(failures)
    names = sorted({Path(urlsplit(url).path).name for url in urls})
    raise DownloadError(
        f"could not download a good copy of {', '.join(names)} from any mirror:\n  {listing}\n"
        f"Without network access, copy the file (gzip or raw) into {folder}, or into a "
        f"folder given as `root` or named by the {ENVIRONMENT_VARIABLE} environment variable."
    )


def load_verified_bytes(filename: str, subfolder: str, check, mirrors, root=None,
                        download=True, extra_folders=()) -> bytes:
    """Find a data file (or download it), and return its checked, decompressed bytes.

    Parameters
    ----------
    filename : str
        The uncompressed name, e.g. ``"train-images-idx3-ubyte"``; ``filename + ".gz"``
        is accepted too.
    subfolder : str
        The dataset's folder name inside a base folder, e.g. ``"mnist"``.
    check : callable
        ``check(data, source)`` raises :class:`CorruptDataError` for wrong bytes.
    mirrors : sequence of str
        Base URLs ending in ``/``; the file is fetched as ``mirror + filename + ".gz"``.
    root : str or Path, optional
        Folder searched first (see the module docstring).
    download : bool
        Download the file when it is found nowhere.
    extra_folders : sequence of Path
        Searched after the base folders.

    Raises
    ------
    FileNotFoundError
        The file is found nowhere and ``download`` is False.
    CorruptDataError
        A file was found but is truncated, corrupt or fails its checksum.
    DownloadError
        It had to be downloaded and no mirror delivered a good copy.
    """
    folders = search_folders(subfolder, root, extra_folders)
    path = find_file(filename, folders)
    if path is not None:
        data = read_decompressed(path)
        check(data, path)
        return data
    if not download:
        searched = "\n  ".join(str(folder) for folder in folders)
        raise FileNotFoundError(
            f"{filename} (or {filename}.gz) was not found in any of:\n  {searched}\n"
            f"Call the loader with download=True to fetch it, or copy the file into one of "
            f"these folders, or pass root=<folder> or set {ENVIRONMENT_VARIABLE}=<folder>."
        )
    urls = [mirror + filename + ".gz" for mirror in mirrors]
    _, data = download_verified(urls, download_folder(subfolder, root), check)
    return data
