"""Model files: round trips, atomic writes, and a clear error for every bad file."""

import io as pyio
import os
import pickle
import zipfile

import numpy as np
import pytest

from fastbp import io
from fastbp.io import LoadedModel, ModelFileError, load, save
from fastbp.network import Network

NETWORKS = [
    ([5, 7, 6, 3], ["tanh", "sigmoid"], "softmax"),
    ([4, 8, 1], ["relu"], "sigmoid"),
    ([3, 6, 5, 4, 2], ["identity", "relu", "tanh"], "identity"),
    ([6, 2], [], "tanh"),
    ([4, 5, 6, 2], ["gelu", "silu"], "gelu"),
]


def make_network(sizes=(5, 7, 6, 3), hidden=("tanh", "sigmoid"), output="softmax",
                 dtype=np.float32, seed=0):
    net = Network(list(sizes), activation=list(hidden), output_activation=output,
                  dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    net.biases = [rng.standard_normal(b.shape) for b in net.biases]  # not just zeros
    return net


def raw_entries(path):
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def rewrite(path, *, remove=(), **changes):
    """Rewrite a model file with entries changed, and a correct checksum."""
    arrays = raw_entries(path)
    arrays.update({k.replace("__", "/"): np.asarray(v) for k, v in changes.items()})
    for key in remove:
        del arrays[key]
    arrays["checksum"] = np.array(io._checksum(arrays))
    with open(path, "wb") as file:
        np.savez(file, **arrays)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.npz"
    save(make_network(), path, cost="cross_entropy")
    return path


# Round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes,hidden,output", NETWORKS)
def test_round_trip(tmp_path, rng, dtype, sizes, hidden, output):
    net = make_network(sizes, hidden, output, dtype)
    path = tmp_path / "net.npz"
    save(net, path)
    loaded = load(path)
    assert isinstance(loaded, LoadedModel)
    got = loaded.network
    assert got.sizes == net.sizes
    assert got.activations == net.activations
    assert got.dtype == net.dtype
    for l in range(net.n_layers):
        assert np.array_equal(got.weights[l], net.weights[l])
        assert np.array_equal(got.biases[l], net.biases[l])
    X = rng.standard_normal((37, sizes[0]))
    expected, actual = net.forward(X), got.forward(X)
    assert actual.dtype == expected.dtype
    assert actual.tobytes() == expected.tobytes()  # bit-identical
    assert loaded.cost is None
    assert loaded.optimizer_state == {} and loaded.extra == {}
    assert loaded.format_version == io.FORMAT_VERSION


def test_file_entries(model_file):
    arrays = raw_entries(model_file)
    assert set(arrays) == {"format", "format_version", "sizes", "activations", "dtype",
                           "cost", "checksum", "W1", "W2", "W3", "b1", "b2", "b3"}
    assert str(arrays["format"]) == "fastbp-model"
    assert int(arrays["format_version"]) == 1
    assert arrays["sizes"].tolist() == [5, 7, 6, 3]
    assert arrays["activations"].dtype.kind == "U"
    assert arrays["activations"].tolist() == ["tanh", "sigmoid", "softmax"]
    assert str(arrays["dtype"]) == "float32"
    assert arrays["W2"].shape == (6, 7) and arrays["W2"].dtype == np.float32
    assert len(str(arrays["checksum"])) == 64


@pytest.mark.parametrize("cost", ["cross_entropy", "binary_cross_entropy", "quadratic"])
def test_cost_round_trip(tmp_path, cost):
    save(make_network(), tmp_path / "m.npz", cost=cost)
    assert load(tmp_path / "m.npz").cost == cost


def test_optimizer_state_and_extra_round_trip(tmp_path, rng):
    net = make_network(dtype=np.float64)
    state = {"velocity": rng.standard_normal(net.params.size).astype(np.float32),
             "second/moment": rng.random((3, 4)), "step": np.array(12, dtype=np.int64)}
    extra = {"epoch": 7, "learning_rate": 0.05, "note": "best so far", "flag": True,
             "loss": np.array([0.9, 0.5, 0.3]), "labels": np.array(["cat", "dog"])}
    save(net, tmp_path / "m.npz", cost="quadratic", optimizer_state=state, extra=extra)
    loaded = load(tmp_path / "m.npz")
    assert set(loaded.optimizer_state) == set(state)
    for name, value in state.items():
        got = loaded.optimizer_state[name]
        assert got.dtype == value.dtype and np.array_equal(got, value)
    assert set(loaded.extra) == set(extra)
    assert loaded.extra["epoch"] == 7 and isinstance(loaded.extra["epoch"], np.integer)
    assert loaded.extra["learning_rate"] == 0.05
    assert loaded.extra["note"] == "best so far"
    assert loaded.extra["flag"] is np.True_
    assert np.array_equal(loaded.extra["loss"], extra["loss"])
    assert loaded.extra["labels"].tolist() == ["cat", "dog"]


def test_path_used_as_given(tmp_path):
    save(make_network(), str(tmp_path / "model.bin"))
    assert os.listdir(tmp_path) == ["model.bin"]
    assert load(str(tmp_path / "model.bin")).network.sizes == (5, 7, 6, 3)


def test_save_rejects_bad_arguments(tmp_path):
    net = make_network()
    with pytest.raises(TypeError, match="network must be a fastbp Network"):
        save("not a network", tmp_path / "m.npz")
    with pytest.raises(ValueError, match="cost must be one of"):
        save(net, tmp_path / "m.npz", cost="hinge")
    with pytest.raises(TypeError, match=r"extra\['obj'\] must be numbers"):
        save(net, tmp_path / "m.npz", extra={"obj": object()})
    with pytest.raises(TypeError, match="optimizer_state names must be strings"):
        save(net, tmp_path / "m.npz", optimizer_state={1: np.zeros(2)})
    with pytest.raises(ValueError, match="must not be empty"):
        save(net, tmp_path / "m.npz", extra={"": 1})
    assert os.listdir(tmp_path) == []


# Atomic writes -------------------------------------------------------------------------

def test_overwrite_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.npz"
    save(make_network(seed=1), path)
    second = make_network(sizes=(4, 8, 1), hidden=("relu",), output="sigmoid", seed=2)
    save(second, path, cost="binary_cross_entropy")
    assert os.listdir(tmp_path) == ["m.npz"]
    loaded = load(path)
    assert loaded.network.sizes == (4, 8, 1) and loaded.cost == "binary_cross_entropy"
    assert np.array_equal(loaded.network.weights[0], second.weights[0])


def test_write_is_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    save(make_network(), tmp_path / "m.npz")
    assert len(synced) >= 1


@pytest.mark.parametrize("fail_in", ["savez", "replace"])
def test_failed_write_keeps_old_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "m.npz"
    save(make_network(seed=1), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        if fail_in == "savez":
            args[0].write(b"PK\x03\x04 half a file")
        raise OSError("simulated crash")

    monkeypatch.setattr(np if fail_in == "savez" else os, fail_in, crash)
    with pytest.raises(OSError, match="simulated crash"):
        save(make_network(seed=2), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["m.npz"]
    assert path.read_bytes() == before
    load(path)


def test_next_write_removes_stale_temporary_files(tmp_path):
    """A kill between creating the temporary file and renaming it leaves
    ``.m.npz.<token>.tmp`` behind; the next successful write of m.npz removes it, and
    nothing else (other targets' temporaries, files that only look alike)."""
    path = tmp_path / "m.npz"
    left = [".m.npz.0123456789ab.tmp", ".m.npz.ffffffffffff.tmp"]
    kept = [".other.npz.0123456789ab.tmp", ".m.npz.notatoken.tmp", "m.npz.0123456789ab.tmp",
            ".m.npz.0123456789ab.tmp.bak"]
    for name in left + kept:
        (tmp_path / name).write_bytes(b"PK\x03\x04 half a file")
    save(make_network(), path)
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["m.npz"])


# Bad files -----------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("content", [b"", b"hello, world\n", b"PK\x03\x04garbage" * 10])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=str(path)):
        load(path)


def test_npy_file(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, np.arange(5))
    with pytest.raises(ModelFileError, match=r"not an \.npz/zip archive"):
        load(path)


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.9, 0.99, "last byte"])
def test_truncated_file(model_file, fraction):
    data = model_file.read_bytes()
    cut = len(data) - 1 if fraction == "last byte" else int(len(data) * fraction)
    model_file.write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match=str(model_file)):
        load(model_file)


@pytest.mark.parametrize("offset", [0, 13, -1])
def test_flipped_byte_in_weights(model_file, offset):
    data = bytearray(model_file.read_bytes())
    weights = np.ascontiguousarray(load(model_file).network.weights[1]).tobytes()
    start = data.find(weights)
    assert start >= 0
    data[start + offset % len(weights)] ^= 0x01
    model_file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):  # the zip's CRC or the checksum, not BadZipFile
        load(model_file)


def test_checksum_mismatch(model_file):
    arrays = raw_entries(model_file)
    arrays["W1"] = arrays["W1"].copy()
    arrays["W1"][0, 0] += 1  # a valid zip (new CRC), but the old checksum
    with open(model_file, "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load(model_file)


@pytest.mark.parametrize("entries,match", [
    ({"a": np.arange(3), "b": np.ones((2, 2))}, "no 'format' entry"),
    ({"format": np.array("other-model"), "W1": np.ones((2, 2))}, "format is 'other-model'"),
    ({"format": np.array(b"fastbp-model")}, "format is not a string"),
])
def test_foreign_npz(tmp_path, entries, match):
    path = tmp_path / "m.npz"
    np.savez(path, **entries)
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_newer_format_version(model_file):
    rewrite(model_file, format_version=np.array(999, dtype=np.int64))
    with pytest.raises(ModelFileError, match="format version 999 is newer"):
        load(model_file)


@pytest.mark.parametrize("changes,match", [
    ({"W2": np.zeros((7, 6), np.float32)}, r"W2 has shape \(7, 6\)"),
    ({"b3": np.zeros(4, np.float32)}, r"b3 has shape \(4,\)"),
    ({"W1": np.zeros((7, 5), np.float64)}, "W1 has dtype float64"),
    ({"activations": np.array(["tanh", "swish", "softmax"])}, "swish"),
    ({"activations": np.array(["tanh", "softmax"])}, "'activations' must be 3 names"),
    ({"sizes": np.array([5, 7, 6, 4])}, r"W3 has shape \(3, 6\)"),
    ({"dtype": np.array("float16")}, "'dtype' must be"),
    ({"cost": np.array("hinge")}, "cost is 'hinge'; expected one of"),
    ({"cost": np.array(3)}, "cost is not a string"),
    ({"W9": np.zeros(1)}, r"unexpected entries \['W9'\]"),
    ({"W1": np.full((7, 5), np.nan, np.float32)}, "NaN"),
    ({"format_version": np.array("1")}, "malformed 'format_version'"),
])
def test_inconsistent_contents(model_file, changes, match):
    rewrite(model_file, **changes)
    with pytest.raises(ModelFileError, match=match):
        load(model_file)


def test_missing_entry(model_file):
    rewrite(model_file, remove=["b2"])
    with pytest.raises(ModelFileError, match="no entry 'b2'"):
        load(model_file)


def test_zip_bomb_is_refused_before_inflating(model_file, tmp_path, monkeypatch):
    """A member that inflates to 256 MiB: refused from the directory alone, since model
    files store their members uncompressed."""
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in raw_entries(model_file).items():
            buffer = pyio.BytesIO()
            np.save(buffer, array)
            archive.writestr(name + ".npy", buffer.getvalue(), zipfile.ZIP_STORED)
        with archive.open("extra/bomb.npy", "w", force_zip64=True) as member:
            zeros = np.zeros(2**28, np.uint8)
            np.lib.format.write_array_header_1_0(
                member, np.lib.format.header_data_from_array_1_0(zeros))
            chunk = bytes(2**22)
            for _ in range(2**28 // 2**22):
                member.write(chunk)
    assert bomb.stat().st_size < 2**20
    monkeypatch.setattr(io.np, "load", _never_called)
    with pytest.raises(ModelFileError, match=r"'extra/bomb\.npy' is compressed"):
        load(bomb)


def test_declared_sizes_beyond_the_file_are_refused(model_file, monkeypatch):
    """A directory that declares a stored member of 1 GiB in a file of a few kB."""
    content = bytearray(model_file.read_bytes())
    entry = content.index(b"PK\x01\x02")  # the first central directory entry
    content[entry + 20:entry + 28] = (2**30).to_bytes(4, "little") * 2  # both sizes
    model_file.write_bytes(bytes(content))
    monkeypatch.setattr(io.np, "load", _never_called)
    with pytest.raises(ModelFileError, match=r"members declare \d+ bytes, more than the file"):
        load(model_file)


def _never_called(*args, **kwargs):
    raise AssertionError("np.load was called: the file was not refused beforehand")


def _npy_bytes(array, shape=None):
    """An .npy image of ``array``, its header declaring ``shape`` if given."""
    header = np.lib.format.header_data_from_array_1_0(array)
    if shape is not None:
        header["shape"] = shape
    buffer = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    buffer.write(array.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("members,match", [
    ([("extra/big.npy", _npy_bytes(np.zeros(4), shape=(2**40,)))],
     r"declares shape \(1099511627776,\)"),
    ([("extra/big.npy", _npy_bytes(np.zeros(4), shape=(2**31, 2**31, 2**31)))],
     "declares shape"),
    ([("extra/short.npy", _npy_bytes(np.zeros(4), shape=(3,)))], "declares shape"),
    ([("extra/a.npy", _npy_bytes(np.zeros(1))), ("extra/a.npy", _npy_bytes(np.ones(1)))],
     "appears twice"),
    ([("extra/raw", b"0123")], "is not a NumPy array"),
    ([("extra/junk.npy", b"\x93NUMPY\x01\x00junk")], "is not a NumPy array"),
])
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_members_are_checked_before_reading(model_file, monkeypatch, members, match):
    """Declared shapes must match the members' sizes, names must be unique .npy arrays:
    all checked from the directory and the .npy headers, before any data is read."""
    entries = raw_entries(model_file)
    with zipfile.ZipFile(model_file, "w", zipfile.ZIP_STORED) as archive:
        for name, array in entries.items():
            archive.writestr(name + ".npy", _npy_bytes(array))
        for name, content in members:
            archive.writestr(name, content)
    monkeypatch.setattr(io.np, "load", _never_called)
    with pytest.raises(ModelFileError, match=match):
        load(model_file)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return "boom"


class Payload:
    def __reduce__(self):
        return _record_unpickling, ()


def test_pickled_object_array_is_refused(model_file):
    arrays = raw_entries(model_file)
    arrays["extra/evil"] = np.array([Payload()], dtype=object)
    with open(model_file, "wb") as file:
        np.savez(file, **arrays)  # saving pickles the object array
    with pytest.raises(ModelFileError, match="only pickle could read"):
        load(model_file)
    assert UNPICKLED == []


def test_load_never_unpickles(model_file, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    loaded = load(model_file)
    assert loaded.network.sizes == (5, 7, 6, 3) and loaded.cost == "cross_entropy"


def test_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


@pytest.mark.parametrize("settings", [dict(), dict(momentum=0.9, nesterov=True),
                                      dict(optimizer="adam", learning_rate=0.01,
                                           weight_decay=1e-3, lr_schedule="cosine"),
                                      dict(optimizer="adamw", learning_rate=0.01,
                                           weight_decay=0.05, activation="gelu"),
                                      dict(optimizer="rmsprop", learning_rate=0.01, rho=0.9,
                                           momentum=0.5, weight_decay=1e-3,
                                           activation="silu")])
def test_trainer_save_load_continues_bit_for_bit(tmp_path, settings):
    """A saved Trainer, loaded, predicts identically and continues training as if it had
    never stopped: the optimiser's state, the schedule and the shuffling carry over."""
    from fastbp import Trainer

    rng = np.random.default_rng(0)
    X = rng.random((90, 6), dtype=np.float32)
    y = rng.integers(0, 3, 90)
    trainer = Trainer([6, 9, 3], batch_size=8, seed=2, epochs=6, **settings)
    trainer.fit(X, y, epochs=2)
    path = tmp_path / "model.npz"
    trainer.save(path)
    loaded = Trainer.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), trainer.predict_proba(X))
    assert loaded.history == trainer.history
    trainer.fit(X, y, epochs=3)
    loaded.fit(X, y, epochs=3)
    np.testing.assert_array_equal(loaded.network.params, trainer.network.params)
    assert loaded.history == trainer.history


def test_trainer_save_keeps_the_callers_extra_entries(tmp_path):
    from fastbp import Trainer
    trainer = Trainer([3, 4, 2], seed=0)
    path = tmp_path / "model.npz"
    trainer.save(path, extra={"my_classes": np.array(["cat", "dog"]), "my_seed": 3})
    loaded = io.load(path)
    assert loaded.extra["my_classes"].tolist() == ["cat", "dog"] and loaded.extra["my_seed"] == 3
    assert Trainer.load(path).history == trainer.history
    for name in ("learning_rate", "history_loss", "optimizer_mine", "run_x", "stopper_y"):
        with pytest.raises(ValueError, match=rf"extra names \['{name}'\] are the trainer's own"):
            trainer.save(path, extra={name: 1})
