"""Model files whose checksum is valid but whose contents are hostile: every value a
Trainer reads back is checked, and anything wrong is a ModelFileError naming it."""

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastbp import ModelFileError, Trainer, TrainingDiverged
from fastbp import io as model_io


def rng_json(**changes):
    state = np.random.default_rng(0).bit_generator.state
    state.update(changes)
    return json.dumps(state)


HOSTILE = [np.inf, -np.inf, np.nan, 1e300, -1, 0, 2**62, np.int64(-2**63), 0.5, True,
           "adam", "x", b"x", np.zeros(3), np.zeros((2, 2)), np.array([np.nan]), 1 + 2j,
           np.datetime64("2020-01-01"),
           "[" * 5000 + "]" * 5000,
           rng_json(state={"state": -1, "inc": 1}),
           rng_json(state={"state": 2**200, "inc": 1}),
           rng_json(state={"state": 1, "inc": 2}),
           rng_json(bit_generator="MT19937"), rng_json(has_uint32=5), rng_json(uinteger=-1),
           json.dumps([[[[[[[[1]]]]]]]]), json.dumps({"a": 1}), "not json"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint with every kind of entry: Adam state, dropout, the early-stopping
    state with its best weights, the progress of a fit call, history."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    trainer = Trainer([4, 5, 3], optimizer="adam", learning_rate=0.01, batch_size=8, seed=0,
                      dropout=0.1, lr_schedule="cosine", epochs=3)
    path = tmp_path_factory.mktemp("hostile") / "run.npz"
    trainer.fit(X, y, validation_split=0.2, patience=5, checkpoint=path)
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    return entries, X, y


def write(path, entries):
    entries = dict(entries)
    entries["checksum"] = np.array(model_io._checksum(entries))
    with open(path, "wb") as file:
        np.savez(file, **entries)


def extra_names(checkpoint):
    return sorted(name for name in checkpoint[0] if name.startswith(("extra/", "opt/")))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_hostile_setting_is_refused_naming_it(checkpoint, tmp_path_factory, data):
    """One entry replaced by a hostile value (or removed): Trainer.load and fit(resume=)
    either work, and the trainer then trains, or raise a ModelFileError that names the
    entry; never OverflowError, RecursionError, MemoryError or a failure inside fit
    (TrainingDiverged, the documented end of a run with a huge learning rate, aside)."""
    entries, X, y = checkpoint
    entries = dict(entries)
    name = data.draw(st.sampled_from(extra_names(checkpoint)))
    if data.draw(st.integers(0, 9)) == 0:
        del entries[name]
    else:
        entries[name] = np.asarray(data.draw(st.sampled_from(HOSTILE)))
    path = tmp_path_factory.mktemp("hostile") / "run.npz"
    write(path, entries)
    short = name.split("/", 1)[1]
    for attempt in ("load", "resume"):
        try:
            if attempt == "load":
                trainer = Trainer.load(path)
            else:
                trainer = Trainer([4, 5, 3], optimizer="adam", learning_rate=0.01,
                                  batch_size=8, seed=0, dropout=0.1, lr_schedule="cosine")
                trainer.fit(X, y, epochs=4, validation_split=0.2, patience=5, resume=path)
        except ModelFileError as error:
            assert short in str(error) or "settings are not valid" in str(error), str(error)
            continue
        except ValueError as error:  # resume's check that the file is this trainer's
            assert attempt == "resume" and "does not hold a training state" in str(error)
            continue
        except TrainingDiverged:  # e.g. learning_rate 1e300: valid, and a clean outcome
            continue
        with contextlib.suppress(TrainingDiverged):
            trainer.fit(X, y, epochs=1)
        assert np.isfinite(trainer.network.params).all()


@pytest.mark.parametrize("name,value,match", [
    ("batch_size", np.inf, r"extra/batch_size must be an integer in \[1, "),
    ("batch_size", 2**62, "extra/batch_size must be an integer"),
    ("threads", 1e300, "extra/threads must be an integer"),
    ("optimizer_t", -1, r"extra/optimizer_t must be an integer in \[0, "),
    ("optimizer_horizon", 0, "extra/optimizer_horizon"),
    ("dropout_seed", 2**63, "extra/dropout_seed"),
    ("epochs", "10", "extra/epochs must be an integer"),
    ("learning_rate", np.inf, r"extra/learning_rate must be a number in \(0, inf\)"),
    ("optimizer_beta1", 1.0, "extra/optimizer_beta1"),
    ("optimizer_nesterov", "yes", "extra/optimizer_nesterov must be a boolean"),
    ("rng_state", rng_json(state={"state": 2**200, "inc": 1}), "extra/rng_state must be"),
    ("rng_state", "[" * 100000 + "]" * 100000, "extra/rng_state must be"),
    ("stopper_best_params", np.zeros(3), "extra/stopper_best_params must be finite float32"),
])
def test_named_instances(checkpoint, tmp_path, name, value, match):
    entries, X, y = checkpoint
    entries = dict(entries, **{f"extra/{name}": np.asarray(value)})
    write(tmp_path / "run.npz", entries)
    with pytest.raises(ModelFileError, match=match):
        if name.startswith("stopper"):
            Trainer([4, 5, 3], optimizer="adam", batch_size=8).fit(
                X, y, validation_split=0.2, patience=5, resume=tmp_path / "run.npz")
        else:
            Trainer.load(tmp_path / "run.npz")


def test_optimizer_state_must_fit_the_parameters(checkpoint, tmp_path):
    entries, _, _ = checkpoint
    for value, match in ((np.zeros(3, np.float32), "opt/state1 must be finite float32"),
                         (np.full_like(entries["opt/state1"], np.inf), "opt/state1"),
                         (entries["opt/state1"].astype(np.float64), "opt/state1")):
        write(tmp_path / "run.npz", dict(entries, **{"opt/state1": value}))
        with pytest.raises(ModelFileError, match=match):
            Trainer.load(tmp_path / "run.npz")
    write(tmp_path / "run.npz", dict(entries, **{"opt/velocity": entries["opt/state1"]}))
    with pytest.raises(ModelFileError, match=r"opt/ entries \['velocity'\] are not a state"):
        Trainer.load(tmp_path / "run.npz")
    write(tmp_path / "run.npz", dict(entries, **{"opt/state2": -entries["opt/state2"] - 1}))
    with pytest.raises(ModelFileError, match="opt/state2 holds adam's second moments"):
        Trainer.load(tmp_path / "run.npz")
    rmsprop = dict(entries, **{"opt/state2": -entries["opt/state2"] - 1,
                               "extra/optimizer_name": np.array("rmsprop")})
    write(tmp_path / "run.npz", rmsprop)
    with pytest.raises(ModelFileError, match="opt/state2 holds rmsprop's mean squares"):
        Trainer.load(tmp_path / "run.npz")


def test_load_names_a_bad_threads_argument_not_the_file(checkpoint, tmp_path):
    write(tmp_path / "run.npz", checkpoint[0])
    for threads, error in ((0, ValueError), (-1, ValueError), ("2", TypeError)):
        with pytest.raises(error, match="threads must be") as info:
            Trainer.load(tmp_path / "run.npz", threads=threads)
        assert not isinstance(info.value, ModelFileError)
    assert Trainer.load(tmp_path / "run.npz", threads=1).threads == 1


def test_a_history_without_loss_resumes(checkpoint, tmp_path):
    """A checkpoint whose history lacks the loss (written by hand) loads and resumes."""
    entries, X, y = checkpoint
    entries = {name: value for name, value in entries.items()
               if name != "extra/history_loss"}
    write(tmp_path / "run.npz", entries)
    trainer = Trainer.load(tmp_path / "run.npz")
    assert "loss" not in trainer.history
    trainer.fit(X, y, epochs=1)
    assert len(trainer.history["loss"]) == 1
