"""Atomic writes and model save/load through .npz files."""
import os
import stat

import numpy as np
import pytest

from minireg import io, nn


def small_model(seed):
    return nn.Sequential(
        nn.Linear(4, 6, rng=seed), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3, rng=seed + 1)
    )


def leftovers(folder, name):
    """Temporary files that a writer of ``name`` left behind in ``folder``."""
    return [entry for entry in os.listdir(folder) if entry.startswith("." + name)]


# ---- minireg.io ---------------------------------------------------------------------------------


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "data.bin"
    io.atomic_write_bytes(target, b"first")
    io.atomic_write_bytes(str(target), bytearray(b"second"))
    assert target.read_bytes() == b"second"
    io.atomic_write_text(tmp_path / "notes.txt", "déjà vu\n")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "déjà vu\n"
    assert leftovers(tmp_path, "data.bin") == [] and leftovers(tmp_path, "notes.txt") == []


def test_new_files_get_ordinary_permissions_and_old_ones_keep_theirs(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "fresh.bin"
    io.atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    os.chmod(target, 0o600)
    io.atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_exception_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "state.bin"
    io.atomic_write_bytes(target, b"old content")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with io.atomic_open(target) as file:
            file.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old content"
    assert leftovers(tmp_path, "state.bin") == []


def test_io_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="data"):
        io.atomic_write_bytes(tmp_path / "a", "text, not bytes")
    with pytest.raises(TypeError, match="path"):
        io.atomic_write_bytes(3, b"")
    with pytest.raises(ValueError, match="path"):
        io.atomic_write_bytes(tmp_path, b"")  # a folder
    with pytest.raises(FileNotFoundError, match="folder"):
        io.atomic_write_bytes(tmp_path / "missing" / "a", b"")
    with pytest.raises(ValueError, match="mode"):
        with io.atomic_open(tmp_path / "a", "ab"):
            pass


def test_npz_round_trip_and_no_pickles(tmp_path):
    arrays = {"layers.0.weight": np.arange(6.0).reshape(2, 3), "count": np.array(3)}
    io.save_npz_atomic(tmp_path / "a.npz", **arrays)
    loaded = io.load_npz(tmp_path / "a.npz")
    assert list(loaded) == list(arrays)
    for name in arrays:
        np.testing.assert_array_equal(loaded[name], arrays[name])
    with pytest.raises(TypeError, match="object"):
        io.save_npz_atomic(tmp_path / "b.npz", bad=np.array([{}, None], dtype=object))
    np.savez(tmp_path / "pickled.npz", bad=np.array([{}, None], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        io.load_npz(tmp_path / "pickled.npz")
    io.save_npz_atomic(tmp_path / "c.npz", path=np.zeros(1))  # "path" is a valid array name
    assert list(io.load_npz(tmp_path / "c.npz")) == ["path"]


# ---- Module.save / load ---------------------------------------------------------------------------


def test_state_dict_round_trip_through_a_file(tmp_path):
    model = small_model(0)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    for _ in range(3):
        model(x)  # move the running statistics away from their initial values
    model.eval()
    path = tmp_path / "model.npz"
    model.save(path)

    other = small_model(10).eval()
    assert not np.allclose(other(x).data, model(x).data)
    assert other.load(path) is other
    np.testing.assert_array_equal(other(x).data, model(x).data)
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.dtype == b.dtype == np.float32
    assert set(io.load_npz(path)) == {
        "layers.0.weight", "layers.0.bias", "layers.1.scale", "layers.1.shift",
        "layers.1.running_mean", "layers.1.running_var", "layers.3.weight", "layers.3.bias",
    }


def test_state_dict_is_a_copy():
    model = small_model(0)
    state = model.state_dict()
    state["layers.0.weight"][:] = 0
    state["layers.1.running_var"][:] = 0
    assert model.layers[0].weight.data.any() and model.layers[1].running_var.all()


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = small_model(0)
    model.save(path)
    before = path.read_bytes()

    def savez_that_dies_halfway(file, **arrays):
        file.write(b"PK\x03\x04 a partial zip archive")
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while saving

    monkeypatch.setattr(np, "savez", savez_that_dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        small_model(5).save(path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert leftovers(tmp_path, "model.npz") == []
    restored = small_model(5).load(path)
    np.testing.assert_array_equal(restored.layers[0].weight.data, model.layers[0].weight.data)


def test_loading_a_wrong_shape_or_missing_key_is_a_clear_error_and_changes_nothing(tmp_path):
    model = small_model(0)
    original = model.state_dict()

    wrong_shape = small_model(1).state_dict()
    wrong_shape["layers.3.weight"] = np.zeros((6, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"layers\.3\.weight.*\(6, 4\).*\(6, 3\)"):
        model.load_state_dict(wrong_shape)

    missing = small_model(1).state_dict()
    del missing["layers.1.running_var"]
    with pytest.raises(KeyError, match="missing keys.*layers.1.running_var"):
        model.load_state_dict(missing)

    extra = small_model(1).state_dict()
    extra["layers.9.weight"] = np.zeros(2)
    with pytest.raises(KeyError, match="unexpected keys.*layers.9.weight"):
        model.load_state_dict(extra)

    io.save_npz_atomic(tmp_path / "other.npz", **nn.Linear(4, 2, rng=0).state_dict())
    with pytest.raises(KeyError, match="missing keys"):
        model.load(tmp_path / "other.npz")

    for name, array in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(array, original[name], err_msg=name)
    with pytest.raises(TypeError, match="dict"):
        model.load_state_dict([("layers.0.weight", np.zeros((4, 6)))])


def test_loading_float64_values_keeps_a_float32_model_float32():
    model = small_model(0)
    state = {name: array.astype(np.float64) + 1.0 for name, array in model.state_dict().items()}
    model.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.layers[1].running_mean.dtype == np.float32
    np.testing.assert_allclose(model.layers[1].running_mean, 1.0)
