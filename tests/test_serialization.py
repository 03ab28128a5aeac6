"""Atomic writes and model save/load through .npz files."""
import os
import signal
import stat
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from minireg import io, losses, nn
from minireg.optim import SGD
from minireg.training import Trainer


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
    with pytest.raises(io.CorruptFileError, match="entry 'bad' holds an object array") as info:
        io.load_npz(tmp_path / "pickled.npz")
    assert "allow_pickle" not in str(info.value)
    io.save_npz_atomic(tmp_path / "c.npz", path=np.zeros(1))  # "path" is a valid array name
    assert list(io.load_npz(tmp_path / "c.npz")) == ["path"]


# ---- files that cannot be read back ---------------------------------------------------------------


def saved_bytes(tmp_path):
    """A small .npz as minireg writes it, and its arrays."""
    arrays = {"layers.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "step": np.array(7),
              "trainer": np.array('{"format": 1}')}
    io.save_npz_atomic(tmp_path / "good.npz", **arrays)
    return (tmp_path / "good.npz").read_bytes(), arrays


def refusal(path, match):
    """The CorruptFileError for ``path``, which must name the file, match ``match``, say
    what to do, and never advise unpickling."""
    with pytest.raises(io.CorruptFileError, match=match) as info:
        io.load_npz(path)
    message = str(info.value)
    assert str(path) in message and ("save it again" in message or "Save the file again" in message)
    assert "pickle=" not in message
    assert isinstance(info.value, ValueError)
    return message


@pytest.mark.parametrize("keep", [0, 1, 3, 30, "half", -23, -1])
def test_a_truncated_file_is_reported_as_truncated(tmp_path, keep):
    good, _ = saved_bytes(tmp_path)
    size = len(good) // 2 if keep == "half" else keep % len(good)
    path = tmp_path / "model.npz"
    path.write_bytes(good[:size])
    expected = "empty" if size == 0 else "not an .npz file" if size < 4 else "truncated"
    refusal(path, expected)


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    """A flipped byte in the data, a header or the zip directory is an error naming the
    file; one in a field nobody reads (a time stamp) changes nothing. Never a wrong value."""
    good, arrays = saved_bytes(tmp_path)
    path = tmp_path / "flipped.npz"
    refused = 0
    for position in range(0, len(good), 2):
        flipped = bytearray(good)
        flipped[position] ^= 0xFF if position % 4 else 0x01
        path.write_bytes(bytes(flipped))
        try:
            loaded = io.load_npz(path)
        except io.CorruptFileError as error:
            assert str(path) in str(error)
            refused += 1
            continue
        for name, array in loaded.items():  # an entry can vanish (a damaged directory), never change
            assert name in arrays and array.dtype == arrays[name].dtype
            np.testing.assert_array_equal(array, arrays[name])
    assert refused > len(good) // 4


def test_a_corrupt_entry_is_named(tmp_path):
    good, arrays = saved_bytes(tmp_path)
    position = good.index(arrays["layers.0.weight"].tobytes()) + 5  # inside the weight's data
    corrupt = bytearray(good)
    corrupt[position] ^= 0x40
    path = tmp_path / "model.npz"
    path.write_bytes(bytes(corrupt))
    message = refusal(path, "entry 'layers.0.weight' is corrupt")
    assert "CRC" in message


def test_files_that_are_not_npz_archives(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("weights: 0.1 0.2 0.3\n")
    refusal(text, r"not an \.npz file .*begins with b'weigh")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    refusal(empty, "empty")
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    refusal(single, r"single NumPy array \(\.npy\)")
    with pytest.raises(IsADirectoryError, match=f"{tmp_path}.* is a folder, not an .npz file"):
        io.load_npz(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.load_npz(tmp_path / "missing.npz")


def test_a_text_file_given_to_model_load_says_so_and_changes_nothing(tmp_path):
    model = small_model(0)
    before = model.state_dict()
    path = tmp_path / "weights.txt"
    path.write_text("0.1 0.2\n")
    with pytest.raises(io.CorruptFileError, match="not an .npz file") as info:
        model.load(path)
    assert "pickle" not in str(info.value)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])


def test_complex_weights_are_refused_not_silently_made_real(tmp_path):
    model = small_model(0)
    before = model.state_dict()
    state = dict(before)
    state["layers.0.weight"] = before["layers.0.weight"] + 1j  # np.savez itself accepts this
    np.savez(tmp_path / "complex.npz", **state)
    with pytest.raises(io.CorruptFileError, match=r"entry 'layers.0.weight' holds complex numbers \(complex64\)"):
        model.load(tmp_path / "complex.npz")
    np.testing.assert_array_equal(model.layers[0].weight.data, before["layers.0.weight"])


def test_a_zip_that_is_not_an_npz_and_an_entry_shorter_than_its_header(tmp_path):
    other = tmp_path / "other.npz"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    refusal(other, "entry 'readme.txt' is not a NumPy array")
    short = tmp_path / "short.npz"
    npy = BytesIO()
    np.save(npy, np.zeros(10))
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("w.npy", npy.getvalue()[:-8])  # a consistent zip whose entry lost a value
    refusal(short, "entry 'w' is corrupt: its header announces 208 bytes, the entry holds 200")


def test_a_corrupt_checkpoint_is_reported_by_name(tmp_path):
    model = small_model(0)
    trainer = Trainer(model, losses.cross_entropy, SGD(model.parameters(), lr=0.1))
    path = tmp_path / "run.npz"
    trainer.save_checkpoint(path)
    path.write_bytes(path.read_bytes()[:-100])
    other = small_model(1)
    other_trainer = Trainer(other, losses.cross_entropy, SGD(other.parameters(), lr=0.1))
    with pytest.raises(io.CorruptFileError, match="truncated") as info:
        other_trainer.load_checkpoint(path)
    assert str(path) in str(info.value)


# ---- temporary files left by killed writers ---------------------------------------------------------


def test_a_killed_writers_temporary_file_is_removed_by_the_next_save(tmp_path):
    target = tmp_path / "model.npz"
    script = (f"import os, signal\nfrom minireg import io\n"
              f"with io.atomic_open({str(target)!r}) as file:\n"
              f"    file.write(b'half a model')\n"
              f"    file.flush()\n"
              f"    os.kill(os.getpid(), signal.SIGKILL)\n")
    environment = {**os.environ, "PYTHONPATH": str(Path(io.__file__).parents[1])}
    finished = subprocess.run([sys.executable, "-c", script], env=environment)
    assert finished.returncode == -signal.SIGKILL
    assert len(leftovers(tmp_path, "model.npz")) == 1   # what SIGKILL leaves
    unrelated = [tmp_path / ".model.npz.notes.tmp", tmp_path / ".other.npz.abcdefgh.tmp",
                 tmp_path / "model.npz.abcdefgh.tmp"]
    for path in unrelated:
        path.write_bytes(b"not ours")

    small_model(0).save(target)
    assert leftovers(tmp_path, "model.npz") == [".model.npz.notes.tmp"]
    assert all(path.exists() for path in unrelated)


def test_a_save_in_progress_keeps_its_temporary_file(tmp_path):
    target = tmp_path / "state.bin"
    with io.atomic_open(target) as slow:
        slow.write(b"the slow writer")
        io.atomic_write_bytes(target, b"a quick writer finished first")
        assert len(leftovers(tmp_path, "state.bin")) == 1   # the slow writer's file survived
    assert target.read_bytes() == b"the slow writer"
    assert leftovers(tmp_path, "state.bin") == []


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


def test_png_figure_writes_a_png_and_nothing_when_the_drawing_fails(tmp_path):
    from matplotlib import pyplot

    path = tmp_path / "plot.png"
    with io.png_figure(path, figsize=(2, 2), dpi=50) as (figure, axes):
        axes.plot([0, 1], [1, 0])
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    open_before = len(pyplot.get_fignums())
    failed = tmp_path / "failed.png"
    with pytest.raises(RuntimeError, match="drawing failed"):
        with io.png_figure(failed) as (figure, axes):
            raise RuntimeError("drawing failed")
    assert not failed.exists() and len(pyplot.get_fignums()) == open_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]       # no temporary left behind
