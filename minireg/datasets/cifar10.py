"""CIFAR-10: 32x32 colour images of 10 classes, in the "python version" pickle batches.

CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html) has 50,000
training images in five batches ``data_batch_1`` ... ``data_batch_5`` and 10,000 test
images in ``test_batch``, all in the folder ``cifar-10-batches-py/`` of the archive
``cifar-10-python.tar.gz``. Each batch is a Python pickle of a dict with

* ``"data"``: a ``uint8`` array of shape ``(N, 3072)``, one row per image, holding the
  1024 red, then the 1024 green, then the 1024 blue values, each in row-major order;
* ``"labels"``: a list of ``N`` ints in 0-9.

Checksums
---------
We could not download the archive while writing this module, so we do not know the
SHA-256 of its files. We check each extracted batch against the **MD5** published by
torchvision (``torchvision/datasets/cifar.py``, ``CIFAR10.train_list``, ``test_list``
and ``meta``, in the pytorch/vision repository). Like the SHA-256 of the IDX loaders,
it is the digest of the decompressed file, so a re-compressed archive passes. (MD5 is
fine to detect accidents -- truncation, corruption -- which is all it is used for.)

Safety
------
Unpickling can run arbitrary code. Batches are unpickled only after their MD5 matched,
and through :class:`BatchUnpickler`, which refuses every global except the few that
rebuild a NumPy array.
"""
from __future__ import annotations

import io
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np

from .download import (ENVIRONMENT_VARIABLE, DownloadError, download_folder,
                       download_to_temporary, find_file, search_folders)
from .files import CorruptDataError, atomic_write, check_digest, read_decompressed, what_to_do

FOLDER = "cifar-10-batches-py"
ARCHIVE_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)

# MD5 of each decompressed file, as published in torchvision/datasets/cifar.py (pytorch/vision)
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
SPLIT_BATCHES = {
    "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"),
    "test": ("test_batch",),
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else.

    The CIFAR-10 batches were pickled by Python 2 with NumPy 1 (globals
    ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``); pickles
    written today name ``numpy._core.multiarray`` and ``_codecs.encode`` instead.
    """

    ALLOWED_GLOBALS = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: a CIFAR-10 batch holds only "
                "NumPy arrays, lists and strings"
            )
        return super().find_class(module, name)


def parse_batch(data: bytes, source="<bytes>"):
    """Decode the bytes of one CIFAR-10 batch.

    Returns
    -------
    images : ndarray of uint8, shape (N, 3, 32, 32)
    labels : ndarray of int64, shape (N,)

    Raises
    ------
    CorruptDataError
        If the bytes are not a pickled batch of the expected layout.
    """
    try:
        # latin1 turns Python 2 byte strings into str without loss (NumPy's advice)
        batch = BatchUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as error:  # pickle raises many kinds of errors for bad bytes
        raise CorruptDataError(
            f"{source} is not a readable CIFAR-10 batch ({type(error).__name__}: {error}). "
            f"{what_to_do(source)}"
        ) from error
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise CorruptDataError(
            f"{source}: expected a dict with keys 'data' and 'labels'. {what_to_do(source)}"
        )
    images = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise CorruptDataError(
            f"{source}: 'data' must be uint8 of shape (N, 3072), got {images.dtype} {images.shape}"
        )
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise CorruptDataError(
            f"{source}: 'labels' must be {len(images)} integers, got {labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptDataError(f"{source}: labels must be 0-9")
    return images.reshape(len(images), 3, 32, 32), labels.astype(np.int64)


def load_cifar10(split="train", root=None, download=True):
    """Load CIFAR-10.

    Parameters
    ----------
    split : {"train", "test"}
        50,000 training or 10,000 test images.
    root : str or Path, optional
        A folder searched first, before ``$MINIREG_DATA`` and the cache; the batches are
        looked for in ``root/cifar-10-batches-py/`` and in ``root`` itself.
    download : bool
        If batches are missing, download ``cifar-10-python.tar.gz`` (163 MB) and extract
        the batches into ``cifar-10-batches-py/`` of the first base folder.

    Returns
    -------
    X : ndarray of float32, shape (N, 3, 32, 32)
        Channels red, green, blue; values in [0, 1] (bytes divided by 255).
    y : ndarray of int64, shape (N,)
        Labels 0-9; names in :data:`CIFAR10_CLASSES`.
    """
    if split not in SPLIT_BATCHES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folders = search_folders(FOLDER, root)
    if any(find_file(name, folders) is None for name in SPLIT_BATCHES[split]):
        if not download:
            missing = [name for name in SPLIT_BATCHES[split] if find_file(name, folders) is None]
            searched = "\n  ".join(str(folder) for folder in folders)
            raise FileNotFoundError(
                f"CIFAR-10 batches {missing} were not found in any of:\n  {searched}\n"
                f"Call load_cifar10 with download=True, or extract cifar-10-python.tar.gz into "
                f"one of these folders, or pass root=<folder> or set "
                f"{ENVIRONMENT_VARIABLE}=<folder>."
            )
        download_and_extract(download_folder(FOLDER, root))

    images, labels = [], []
    for name in SPLIT_BATCHES[split]:
        path = find_file(name, folders)
        data = read_decompressed(path)
        check_digest(data, CIFAR10_MD5[name], path, algorithm="md5")
        batch_images, batch_labels = parse_batch(data, source=path)
        images.append(batch_images)
        labels.append(batch_labels)
    X = np.divide(np.concatenate(images), np.float32(255.0), dtype=np.float32)
    return X, np.concatenate(labels)


def download_and_extract(folder, urls=None):
    """Download the archive, check each batch's MD5, and write the batches into ``folder``.

    The archive goes to a temporary file in ``folder``'s parent and is deleted afterwards;
    each batch is written atomically, and only after its MD5 matched. Only the expected
    members are read from the archive (never ``extractall``). ``urls`` defaults to
    :data:`ARCHIVE_URLS`, tried in order.
    """
    folder = Path(folder)
    failures = []
    for url in ARCHIVE_URLS if urls is None else urls:
        print(f"minireg: downloading {url} to {folder}", file=sys.stderr)
        try:
            archive = download_to_temporary(url, folder.parent)
        except OSError as error:
            failures.append(f"{url}: {error}")
            continue
        try:
            members = _read_members(archive, url)
        except CorruptDataError as error:
            failures.append(f"{url}: {error}")
            continue
        finally:
            archive.unlink(missing_ok=True)
        for name, data in members.items():
            atomic_write(folder / name, data)
        return folder
    listing = "\n  ".join(failures)
    raise DownloadError(
        f"could not download CIFAR-10 from any mirror:\n  {listing}\n"
        f"Without network access, extract cifar-10-python.tar.gz so that the batches lie in "
        f"{folder}, or in a folder given as `root` or named by {ENVIRONMENT_VARIABLE}."
    )


def _read_members(archive, source):
    """Every batch of the archive as bytes, each checked against its MD5."""
    members = {}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for name, md5 in CIFAR10_MD5.items():
                member = tar.getmember(f"{FOLDER}/{name}")
                if not member.isfile():
                    raise CorruptDataError(f"{source}: {FOLDER}/{name} is not a regular file")
                data = tar.extractfile(member).read()
                check_digest(data, md5, f"{source} member {FOLDER}/{name}", algorithm="md5")
                members[name] = data
    except (tarfile.TarError, KeyError, EOFError, OSError) as error:
        raise CorruptDataError(f"{source} is not a complete CIFAR-10 archive ({error})") from error
    return members

