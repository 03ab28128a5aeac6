"""MNIST / Fashion-MNIST loaders: real data, where files are looked for, checksums,
clear errors, and atomic downloads -- all without network access."""
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import helpers
from minireg.datasets import (CorruptDataError, DataFolderNotFoundError, DownloadError, load_cifar10,
                              load_fashion_mnist, load_mnist, write_idx)
from minireg.datasets import download as download_module
from minireg.datasets import mnist as mnist_module

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No network, no MINIREG_DATA, and a cache inside tmp_path."""
    helpers.forbid_network(monkeypatch)
    monkeypatch.delenv("MINIREG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")


def write_fake_dataset(folder, rng, n_train=12, n_test=5, compress=True):
    """Four small IDX files with MNIST's names. Returns the arrays and their sha256."""
    folder = Path(folder)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    checksums = {}
    for name, array in arrays.items():
        path = write_idx(folder / (name + ".gz" if compress else name), array)
        checksums[name] = hashlib.sha256(gzip.decompress(path.read_bytes()) if compress
                                         else path.read_bytes()).hexdigest()
    return arrays, checksums


def assert_is(X, y, arrays, split="train"):
    prefix = "train" if split == "train" else "t10k"
    images = arrays[f"{prefix}-images-idx3-ubyte"]
    assert X.dtype == np.float32 and X.shape == (len(images), 1, 28, 28)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X[:, 0], (images / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y, arrays[f"{prefix}-labels-idx1-ubyte"])


# ---------------------------------------------------------------- real MNIST

@pytest.fixture(scope="module")
def mnist_folder():
    """The real MNIST files (found before the autouse fixture hides the environment)."""
    return helpers.shared_mnist()


@pytest.fixture(scope="module")
def mnist_train(mnist_folder):
    return load_mnist("train", root=mnist_folder, download=False)


def test_real_training_set(mnist_train):
    X, y = mnist_train
    assert X.shape == (60000, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [5923, 6742, 5958, 6131, 5842,
                                                   5421, 5918, 6265, 5851, 5949])
    assert abs(X.mean(dtype=np.float64) - 0.1307) < 5e-5
    assert abs(X.std(dtype=np.float64) - 0.3081) < 5e-5


def test_real_pixels_match_an_independent_decoding(mnist_train):
    X, _ = mnist_train
    raw = helpers.mnist_bytes("train-images-idx3-ubyte")
    first = np.frombuffer(raw, dtype=np.uint8, offset=16, count=100 * 784).reshape(100, 784)
    np.testing.assert_allclose(X[:100].reshape(100, 784), first / 255.0, rtol=1e-7)


def test_real_test_set_flat_and_parent_folder_as_root(mnist_folder):
    X, y = load_mnist("test", root=mnist_folder.parent, download=False, flatten=True)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), [980, 1135, 1032, 1010, 982,
                                                   892, 958, 1028, 974, 1009])


def test_real_mnist_through_the_environment_variable(monkeypatch, mnist_folder):
    monkeypatch.setenv("MINIREG_DATA", str(mnist_folder.parent))
    X, y = load_mnist("test", download=False)
    assert X.shape == (10000, 1, 28, 28) and len(y) == 10000


def test_real_mnist_files_fail_the_fashion_checksums(mnist_folder):
    with pytest.raises(CorruptDataError, match="sha256"):
        load_fashion_mnist("test", root=mnist_folder, download=False)


# ---------------------------------------------------------------- where files are looked for

@pytest.mark.parametrize("compress", [True, False])
def test_root_argument(tmp_path, monkeypatch, compress):
    arrays, checksums = write_fake_dataset(tmp_path / "data", np.random.default_rng(0), compress=compress)
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    assert_is(*load_mnist("train", root=tmp_path / "data", download=False), arrays)
    assert_is(*load_mnist("test", root=str(tmp_path / "data"), download=False), arrays, "test")


def test_flatten(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path, np.random.default_rng(1))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    X, _ = load_mnist(root=tmp_path, download=False)
    X_flat, _ = load_mnist(root=tmp_path, download=False, flatten=True)
    np.testing.assert_array_equal(X_flat, X.reshape(len(X), 784))


def test_environment_variable_with_dataset_subfolder(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path / "env" / "mnist", np.random.default_rng(2))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "env"))
    assert_is(*load_mnist(download=False), arrays)


def test_root_comes_before_the_environment_variable(tmp_path, monkeypatch):
    in_root, sums_root = write_fake_dataset(tmp_path / "root", np.random.default_rng(3))
    in_env, sums_env = write_fake_dataset(tmp_path / "env", np.random.default_rng(4))
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", sums_root)
    assert_is(*load_mnist(root=tmp_path / "root", download=False), in_root)
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", sums_env)
    assert_is(*load_mnist(download=False), in_env)


def test_cache_folder(tmp_path, monkeypatch):
    cache = tmp_path / "xdg-cache" / "minireg" / "mnist"
    arrays, checksums = write_fake_dataset(cache, np.random.default_rng(5))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    assert download_module.cache_folder() == tmp_path / "xdg-cache" / "minireg"
    assert_is(*load_mnist(download=False), arrays)


def test_default_cache_is_in_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download_module.cache_folder() == tmp_path / ".cache" / "minireg"


def test_fashion_mnist_is_found_in_the_debian_folder(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays, checksums = write_fake_dataset(debian, np.random.default_rng(6), compress=False)
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION_MNIST", debian)
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_SHA256", checksums)
    assert_is(*load_fashion_mnist("test", download=False), arrays, "test")
    # MNIST does not look there
    with pytest.raises(FileNotFoundError):
        load_mnist("test", download=False)


# ---------------------------------------------------------------- clear errors

def test_missing_files_say_where_they_were_looked_for(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    (tmp_path / "root").mkdir()
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(root=tmp_path / "root", download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message
    for folder in (tmp_path / "root", tmp_path / "env" / "mnist", tmp_path / "xdg-cache" / "minireg"):
        assert str(folder) in message
    assert "download=True" in message and "MINIREG_DATA" in message


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist, load_cifar10])
@pytest.mark.parametrize("download", [True, False])
def test_a_missing_root_is_reported_and_not_created(tmp_path, loader, download):
    missing = tmp_path / "no" / "such"
    with pytest.raises(DataFolderNotFoundError) as info:
        loader(root=missing, download=download)
    assert f"root={str(missing)!r}: no such folder" in str(info.value)
    assert info.value.argument == "root" and info.value.folder == missing
    assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "no").exists()

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with pytest.raises(DataFolderNotFoundError, match="is a file, not a folder"):
        loader(root=a_file, download=download)


def test_a_missing_environment_folder_is_reported_and_not_created(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "typo"))
    with pytest.raises(DataFolderNotFoundError) as info:
        load_mnist("test")
    assert f"MINIREG_DATA={tmp_path / 'typo'}: no such folder" in str(info.value)
    assert info.value.argument == "MINIREG_DATA"
    assert not (tmp_path / "typo").exists()


def test_checksum_mismatch_names_file_digests_and_remedy(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path, np.random.default_rng(7))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    images = arrays["train-images-idx3-ubyte"].copy()
    images[0, 0, 0] ^= 1
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)  # a valid file, wrong bytes
    with pytest.raises(CorruptDataError) as info:
        load_mnist(root=tmp_path, download=False)
    message = str(info.value)
    assert str(path) in message and checksums["train-images-idx3-ubyte"] in message
    assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() in message
    assert "Delete" in message


def test_truncated_file_is_an_error_not_a_download(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path, np.random.default_rng(8))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(CorruptDataError, match="truncated gzip"):
        load_mnist("test", root=tmp_path, download=True)


def test_bad_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("validation")


# ---------------------------------------------------------------- downloads, offline

def serve(folder):
    return Path(folder).resolve().as_uri() + "/"


def test_download_tries_mirrors_in_order_and_stores_atomically(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path / "server", np.random.default_rng(9))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (serve(tmp_path / "empty-mirror"),
                                                        serve(tmp_path / "server")))
    assert_is(*load_mnist("test"), arrays, "test")
    cache = tmp_path / "xdg-cache" / "minireg" / "mnist"
    assert sorted(os.listdir(cache)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    # the second load reads the cache and never fetches
    def fetch_forbidden(url, handle):
        raise AssertionError("fetched although the file is cached")

    monkeypatch.setattr(download_module, "fetch_url", fetch_forbidden)
    assert_is(*load_mnist("test"), arrays, "test")


def test_download_goes_into_root_when_given(tmp_path, monkeypatch):
    arrays, checksums = write_fake_dataset(tmp_path / "server", np.random.default_rng(10))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", checksums)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (serve(tmp_path / "server"),))
    (tmp_path / "mine").mkdir()
    load_mnist("train", root=tmp_path / "mine")
    assert sorted(os.listdir(tmp_path / "mine" / "mnist")) == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_mirror_with_wrong_bytes_leaves_nothing(tmp_path, monkeypatch):
    _, checksums = write_fake_dataset(tmp_path / "server", np.random.default_rng(11))
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", {name: "0" * 64 for name in checksums})
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", (serve(tmp_path / "server"),))
    with pytest.raises(DownloadError) as info:
        load_mnist("test")
    assert "0" * 64 in str(info.value) and "Without network access" in str(info.value)
    assert os.listdir(tmp_path / "xdg-cache" / "minireg" / "mnist") == []


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    def interrupted_fetch(url, handle):
        handle.write(b"\x1f\x8b partial content")
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "fetch_url", interrupted_fetch)
    with pytest.raises(KeyboardInterrupt):
        load_mnist("test")
    assert os.listdir(tmp_path / "xdg-cache" / "minireg" / "mnist") == []


def test_real_mirrors_without_network_give_a_clear_error(tmp_path):
    with pytest.raises(DownloadError) as info:
        load_fashion_mnist("test")
    message = str(info.value)
    assert "fashion-mnist.s3-website" in message and "network access is disabled" in message
    assert os.listdir(tmp_path / "xdg-cache" / "minireg" / "fashion-mnist") == []


# ---------------------------------------------------------------- the tests' own search for MNIST

@pytest.fixture
def helper_search(tmp_path, monkeypatch):
    """shared_mnist as on a machine without MNIST beside the checkout and without network."""
    monkeypatch.setattr(helpers, "CHECKOUT", tmp_path / "work" / "minireg")
    helpers.shared_mnist.cache_clear()
    yield
    helpers.shared_mnist.cache_clear()


def test_the_tests_find_mnist_through_the_environment_variable_first(tmp_path, monkeypatch, helper_search):
    write_fake_dataset(tmp_path / "env" / "mnist", np.random.default_rng(12))
    write_fake_dataset(tmp_path / "xdg-cache" / "minireg" / "mnist", np.random.default_rng(13))
    monkeypatch.setenv("MINIREG_DATA", str(tmp_path / "env"))
    assert helpers.shared_mnist() == tmp_path / "env" / "mnist"


def test_the_tests_find_mnist_in_the_cache_then_beside_the_checkout(tmp_path, helper_search):
    write_fake_dataset(tmp_path / "work" / "shared" / "data" / "mnist", np.random.default_rng(14))
    assert helpers.shared_mnist() == tmp_path / "work" / "shared" / "data" / "mnist"
    helpers.shared_mnist.cache_clear()
    write_fake_dataset(tmp_path / "xdg-cache" / "minireg" / "mnist", np.random.default_rng(15), compress=False)
    assert helpers.shared_mnist() == tmp_path / "xdg-cache" / "minireg" / "mnist"


def test_the_tests_download_mnist_when_it_is_nowhere(tmp_path, monkeypatch, helper_search):
    arrays, checksums = write_fake_dataset(tmp_path / "server", np.random.default_rng(16))
    monkeypatch.setattr(helpers, "MNIST_SHA256", checksums)
    monkeypatch.setattr(helpers, "MNIST_MIRRORS", (serve(tmp_path / "server"),))
    assert helpers.shared_mnist() == tmp_path / "xdg-cache" / "minireg" / "mnist"
    assert sorted(os.listdir(helpers.shared_mnist())) == sorted(name + ".gz" for name in arrays)


def test_without_mnist_the_tests_fail_with_one_message_saying_how_to_get_it(tmp_path, helper_search):
    write_fake_dataset(tmp_path / "work" / "shared" / "data" / "mnist", np.random.default_rng(17))
    os.remove(tmp_path / "work" / "shared" / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz")  # incomplete
    with pytest.raises(pytest.fail.Exception) as info:
        helpers.shared_mnist()
    message = str(info.value)
    assert message.startswith("These tests need MNIST")
    assert str(tmp_path / "xdg-cache" / "minireg" / "mnist") in message
    assert str(tmp_path / "work" / "shared" / "data" / "mnist") in message
    assert "network access is disabled" in message
    assert "set MINIREG_DATA" in message and "load_mnist('train')" in message
