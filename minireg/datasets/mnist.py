"""MNIST and Fashion-MNIST: 28x28 grey images of 10 classes, in IDX files.

* MNIST (LeCun, Cortes, Burges): handwritten digits, 60,000 training and 10,000 test
  images. License CC BY-SA 3.0.
* Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): Zalando article images with the same
  layout and file names. License MIT.

Both are four IDX files (see :mod:`minireg.datasets.idx`). The loaders look for them
(gzip or raw) as described in :mod:`minireg.datasets.download`; Fashion-MNIST is also
looked for where Debian's ``dataset-fashion-mnist`` package puts it. Every file is
checked against the SHA-256 of its *decompressed* bytes, so any faithful mirror passes
and a truncated or corrupt file is caught. The checksums are those recorded in
``../shared/data/README.md`` of this project.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .download import load_verified_bytes
from .files import CorruptDataError, check_digest
from .idx import parse_idx

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of the decompressed files (../shared/data/README.md)
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
# where `apt-get install dataset-fashion-mnist` puts the files
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def load_mnist(split="train", root=None, download=True, flatten=False):
    """Load MNIST.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test examples.
    root : str or Path, optional
        A folder searched first, before ``$MINIREG_DATA`` and the cache
        (e.g. ``"../shared/data"`` or ``"../shared/data/mnist"``).
    download : bool
        Download missing files from the public mirrors into the cache (or ``root``).
    flatten : bool
        Return images as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.

    Returns
    -------
    X : ndarray of float32, shape (N, 1, 28, 28) or (N, 784)
        Pixel intensities scaled to [0, 1] (the bytes divided by 255).
    y : ndarray of int64, shape (N,)
        Labels 0-9.

    Raises
    ------
    FileNotFoundError, CorruptDataError, DownloadError
        See :func:`minireg.datasets.download.load_verified_bytes`; each message names
        the file and says what to do.
    """
    return _load_idx_dataset(split, root, download, flatten, "mnist", MNIST_SHA256,
                             MNIST_MIRRORS, extra_folders=())


def load_fashion_mnist(split="train", root=None, download=True, flatten=False):
    """Load Fashion-MNIST; same arguments and return values as :func:`load_mnist`.

    Besides ``root``, ``$MINIREG_DATA`` and the cache, the Debian location
    ``/usr/share/datasets/fashion-mnist/`` is searched. The class names are
    :data:`FASHION_MNIST_CLASSES`.
    """
    return _load_idx_dataset(split, root, download, flatten, "fashion-mnist",
                             FASHION_MNIST_SHA256, FASHION_MNIST_MIRRORS,
                             extra_folders=(DEBIAN_FASHION_MNIST,))


def _load_idx_dataset(split, root, download, flatten, subfolder, checksums, mirrors, extra_folders):
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = SPLIT_FILES[split]

    def check_images(data, source):
        check_digest(data, checksums[images_name], source)

    def check_labels(data, source):
        check_digest(data, checksums[labels_name], source)

    image_bytes = load_verified_bytes(images_name, subfolder, check_images, mirrors, root,
                                      download, extra_folders)
    label_bytes = load_verified_bytes(labels_name, subfolder, check_labels, mirrors, root,
                                      download, extra_folders)
    images = parse_idx(image_bytes, source=images_name)
    labels = parse_idx(label_bytes, source=labels_name)
    _check_images_and_labels(images, labels, images_name, labels_name)

    X = np.divide(images, np.float32(255.0), dtype=np.float32).reshape(len(images), 1, 28, 28)
    if flatten:
        X = X.reshape(len(X), 28 * 28)
    y = labels.astype(np.int64)
    return X, y


def _check_images_and_labels(images, labels, images_name, labels_name):
    """Shapes and label values, checked even though the checksums already passed, so
    that a replaced checksum table (as in the tests) still yields valid arrays."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptDataError(
            f"{images_name}: expected uint8 images of shape (N, 28, 28), got "
            f"{images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise CorruptDataError(
            f"{labels_name}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise CorruptDataError(
            f"{images_name} has {len(images)} images but {labels_name} has {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"{labels_name}: labels must be 0-9, found {int(labels.max())}")
