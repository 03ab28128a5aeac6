"""IDX reading and writing: the format byte by byte, and clear errors for bad files."""
import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import helpers
from minireg.datasets import CorruptDataError, read_idx, write_idx
from minireg.datasets.download import find_file
from minireg.datasets.idx import parse_idx

def test_parse_hand_made_bytes():
    # type 0x0B = big-endian int16, 2 dimensions of sizes 2 and 3, then six values
    data = bytes.fromhex("00000B02" "00000002" "00000003") + struct.pack(">6h", 1, -2, 3, 256, -32768, 7)
    array = parse_idx(data)
    assert array.dtype == np.int16
    np.testing.assert_array_equal(array, [[1, -2, 3], [256, -32768, 7]])


def test_real_mnist_headers_have_the_published_magic_numbers():
    # LeCun's page: magic 2049 (0x00000801) for labels and 2051 (0x00000803) for images
    labels = helpers.mnist_bytes("t10k-labels-idx1-ubyte")
    images = helpers.mnist_bytes("t10k-images-idx3-ubyte")
    assert struct.unpack(">II", labels[:8]) == (2049, 10000)
    assert struct.unpack(">IIII", images[:16]) == (2051, 10000, 28, 28)
    label_array = read_idx(find_file("t10k-labels-idx1-ubyte", [helpers.shared_mnist()]))
    assert label_array.shape == (10000,) and label_array.dtype == np.uint8
    np.testing.assert_array_equal(label_array, np.frombuffer(labels, dtype=np.uint8, offset=8))


DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=50, deadline=None)
@given(dtype=st.sampled_from(DTYPES),
       shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       compress=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_write_then_read_round_trip(tmp_path_factory, dtype, shape, compress, seed):
    rng = np.random.default_rng(seed)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    assert path.read_bytes().startswith(b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == tuple(shape)
    np.testing.assert_array_equal(back, array)


def test_written_bytes_are_big_endian(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.array([1, 2], dtype=np.int32))
    assert path.read_bytes() == bytes.fromhex("00000C01 00000002 00000001 00000002".replace(" ", ""))


def test_write_refuses_types_without_an_idx_code(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))


def _valid_bytes():
    return bytes.fromhex("00000802" "00000002" "00000002") + bytes([1, 2, 3, 4])


@pytest.mark.parametrize("data, message", [
    (_valid_bytes()[:-1], "truncated"),
    (_valid_bytes()[:10], "truncated inside its header"),
    (_valid_bytes()[:3], "too short"),
    (_valid_bytes() + b"\x00", "bytes after the data"),
    (b"\x01" + _valid_bytes()[1:], "two zero bytes"),
    (_valid_bytes()[:2] + b"\x07" + _valid_bytes()[3:], "type byte 0x07"),
    (bytes.fromhex("00000800"), "0 dimensions"),
])
def test_bad_files_give_clear_errors(tmp_path, data, message):
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(CorruptDataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "Delete" in str(info.value)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(_valid_bytes() * 100)[:-20])
    with pytest.raises(CorruptDataError, match="truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_is_detected(tmp_path):
    compressed = bytearray(gzip.compress(np.arange(5000, dtype=np.int32).tobytes()))
    compressed[len(compressed) // 2] ^= 0xFF
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(CorruptDataError, match="corrupt gzip"):
        read_idx(path)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted_replace(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        write_idx(tmp_path / "x.idx.gz", np.zeros(10, dtype=np.uint8))
    assert os.listdir(tmp_path) == []


def test_a_rewrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.zeros((100, 100), dtype=np.uint8))
    write_idx(path, np.ones(3, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(path), [1, 1, 1])
    assert os.listdir(tmp_path) == ["x.idx"]
