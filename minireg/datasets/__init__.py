"""Datasets: MNIST, Fashion-MNIST, CIFAR-10, GrOWL's synthetic data, the randomization
tests of Zhang et al. (2017), mini-batches and the train/validation split.

Where files are looked for and how they are checked: :mod:`minireg.datasets.download`
and ``docs/data.md``.
"""
from .cifar10 import CIFAR10_CLASSES, load_cifar10
from .download import DataFolderNotFoundError, DownloadError, cache_folder
from .files import CorruptDataError
from .idx import read_idx, write_idx
from .loader import DataLoader, as_generator, train_val_indices, train_val_split
from .mnist import FASHION_MNIST_CLASSES, MNIST_CLASSES, load_fashion_mnist, load_mnist
from .randomization import (gaussian_inputs, pixel_permutation, random_labels, random_pixels,
                            shuffled_pixels)
from .synthetic import GrowlSyntheticData, growl_synthetic

__all__ = [
    "load_mnist", "load_fashion_mnist", "load_cifar10",
    "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES",
    "growl_synthetic", "GrowlSyntheticData",
    "random_labels", "shuffled_pixels", "pixel_permutation", "random_pixels", "gaussian_inputs",
    "DataLoader", "train_val_split", "train_val_indices", "as_generator",
    "read_idx", "write_idx",
    "CorruptDataError", "DownloadError", "DataFolderNotFoundError", "cache_folder",
]
