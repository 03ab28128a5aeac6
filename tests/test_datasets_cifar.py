"""CIFAR-10 loader on small pickle batches written by the tests; no network."""
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

import helpers
from minireg.datasets import CorruptDataError, DownloadError, load_cifar10
from minireg.datasets import cifar10 as cifar_module

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
           "test_batch")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    helpers.forbid_network(monkeypatch)
    monkeypatch.delenv("MINIREG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def batch_bytes(images, labels, old_numpy_names=False):
    """A batch as CIFAR-10 stores it: a pickled dict, data (N, 3072) uint8, labels a list."""
    batch = {"batch_label": "testing batch", "data": images.reshape(len(images), 3072),
             "labels": [int(label) for label in labels],
             "filenames": [f"image_{i}.png" for i in range(len(images))]}
    data = pickle.dumps(batch, protocol=2)
    if old_numpy_names:  # the name NumPy 1 wrote, as in the published files
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return data


def write_fake_batches(folder, rng, per_batch=3):
    """Six small batches and a meta file. Returns {name: (images, labels)} and their md5."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    contents, md5 = {}, {}
    for index, name in enumerate(BATCHES):
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch)
        data = batch_bytes(images, labels, old_numpy_names=index % 2 == 0)
        (folder / name).write_bytes(data)
        contents[name] = (images, labels)
        md5[name] = hashlib.md5(data).hexdigest()
    meta = pickle.dumps({"label_names": list(cifar_module.CIFAR10_CLASSES)}, protocol=2)
    (folder / "batches.meta").write_bytes(meta)
    md5["batches.meta"] = hashlib.md5(meta).hexdigest()
    return contents, md5


def expected(contents, names):
    images = np.concatenate([contents[name][0] for name in names])
    labels = np.concatenate([contents[name][1] for name in names])
    return (images / 255.0).astype(np.float32), labels


def test_train_and_test_splits(tmp_path, monkeypatch):
    contents, md5 = write_fake_batches(tmp_path / "cifar-10-batches-py", np.random.default_rng(0))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    X, y = load_cifar10("train", root=tmp_path, download=False)
    assert X.shape == (15, 3, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    X_expected, y_expected = expected(contents, BATCHES[:5])
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    X, y = load_cifar10("test", root=tmp_path / "cifar-10-batches-py", download=False)
    np.testing.assert_array_equal(X, expected(contents, ["test_batch"])[0])


def test_rows_hold_red_then_green_then_blue_planes(tmp_path, monkeypatch):
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    images = np.tile(row, (2, 1))
    data = batch_bytes(images, [3, 4])
    (tmp_path / "test_batch").write_bytes(data)
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", {"test_batch": hashlib.md5(data).hexdigest()})
    X, y = load_cifar10("test", root=tmp_path, download=False)
    np.testing.assert_array_equal(X[:, 0], np.float32(10 / 255))
    np.testing.assert_array_equal(X[:, 2], np.float32(30 / 255))
    np.testing.assert_array_equal(y, [3, 4])


def test_md5_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    _, md5 = write_fake_batches(tmp_path, np.random.default_rng(1))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    with pytest.raises(CorruptDataError) as info:
        load_cifar10("test", root=tmp_path, download=False)
    assert "md5" in str(info.value) and str(path) in str(info.value) and md5["test_batch"] in str(info.value)


def test_a_pickle_with_other_globals_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    data = pickle.dumps({"data": Payload(), "labels": []}, protocol=2)
    (tmp_path / "test_batch").write_bytes(data)
    # even with a matching checksum the unpickler refuses to call os.system
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", {"test_batch": hashlib.md5(data).hexdigest()})
    with pytest.raises(CorruptDataError, match="refusing to load the global"):
        load_cifar10("test", root=tmp_path, download=False)
    assert not marker.exists()


def test_missing_batches_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10("train", root=tmp_path, download=False)
    assert "data_batch_1" in str(info.value) and "download=True" in str(info.value)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        load_cifar10("val")


def make_archive(source_folder, archive_path, truncate=0):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source_folder, arcname="cifar-10-batches-py")
    data = buffer.getvalue()
    archive_path.write_bytes(data[:len(data) - truncate])
    return archive_path.resolve().as_uri()


def test_download_extracts_checked_batches(tmp_path, monkeypatch):
    contents, md5 = write_fake_batches(tmp_path / "made", np.random.default_rng(2))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    url = make_archive(tmp_path / "made", tmp_path / "cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar_module, "ARCHIVE_URLS", (url,))
    X, y = load_cifar10("test")
    np.testing.assert_array_equal(y, contents["test_batch"][1])
    cache = tmp_path / "xdg-cache" / "minireg"
    assert sorted(os.listdir(cache)) == ["cifar-10-batches-py"]  # the archive is gone
    assert sorted(os.listdir(cache / "cifar-10-batches-py")) == sorted(md5)


def test_broken_archive_leaves_nothing(tmp_path, monkeypatch):
    _, md5 = write_fake_batches(tmp_path / "made", np.random.default_rng(3))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    url = make_archive(tmp_path / "made", tmp_path / "cifar-10-python.tar.gz", truncate=100)
    monkeypatch.setattr(cifar_module, "ARCHIVE_URLS", (url,))
    with pytest.raises(DownloadError, match="not a complete CIFAR-10 archive"):
        load_cifar10("test")
    assert os.listdir(tmp_path / "xdg-cache" / "minireg") == []


def test_the_real_url_without_network_is_a_clear_error(tmp_path):
    with pytest.raises(DownloadError) as info:
        load_cifar10("test")
    assert "cs.toronto.edu" in str(info.value) and "network access is disabled" in str(info.value)
    assert os.listdir(tmp_path / "xdg-cache" / "minireg") == []
