"""The command line end to end: train, evaluate, predict, on files the test writes."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastbp.cli import main


@pytest.fixture
def data_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((120, 6))
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0.5)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savetxt(tmp_path / "train.csv", np.c_[X, y], delimiter=",", header="a,b,c,d,e,f,label",
               comments="")
    return tmp_path, X, y


def test_train_evaluate_predict(data_files, capsys):
    tmp_path, X, y = data_files
    model = tmp_path / "model.npz"
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "16", "--epochs",
                 "20", "--optimizer", "adam", "--learning-rate", "0.02", "--batch-size", "8",
                 "--validation-split", "0.1", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "epoch   20" in out and "val_loss" in out and "final test accuracy" in out
    accuracy = float(out.split("final test accuracy: ")[1].split()[0])
    assert accuracy > 0.8
    assert main(["evaluate", str(model), "--data", str(tmp_path / "train.npz")]) == 0
    evaluated = capsys.readouterr().out
    assert f"accuracy {accuracy:.4f}" in evaluated  # the same held-out quarter
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(model), "--data", str(tmp_path / "train.npz"), "-o",
                 str(predictions)]) == 0
    labels = np.loadtxt(predictions, ndmin=1)
    assert labels.shape == (120,) and set(np.unique(labels)) <= {0, 1, 2}
    assert np.mean(labels == y) > 0.8


def test_train_from_csv_with_header(data_files, capsys):
    tmp_path, _, _ = data_files
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--hidden", "8", "--epochs",
                 "2"]) == 0
    assert "train.csv: 90 training and 30 test samples" in capsys.readouterr().out


def test_help_and_bad_data(tmp_path):
    for command in ([], ["train"], ["evaluate"], ["predict"]):
        result = subprocess.run([sys.executable, "-m", "fastbp", *command, "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage:" in result.stdout
    assert main(["train", "--data", "nothing.txt"]) == 2


def test_learning_curve_plot(data_files, capsys):
    pytest.importorskip("matplotlib")
    tmp_path, _, _ = data_files
    image = tmp_path / "curves.png"
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "8", "--epochs",
                 "4", "--validation-split", "0.2", "--plot", str(image)]) == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 5000


def test_train_with_checkpoints_and_resume(data_files, capsys):
    tmp_path, X, y = data_files
    common = ["train", "--data", str(tmp_path / "train.npz"), "--hidden", "8", "--epochs", "4",
              "--batch-size", "8", "--dropout", "0.1"]
    assert main(common + ["-o", str(tmp_path / "plain.npz")]) == 0
    checkpoint = tmp_path / "run.npz"
    assert main(common + ["--checkpoint", str(checkpoint), "--resume"]) == 0
    assert "resuming" not in capsys.readouterr().out  # nothing to resume yet
    assert main(common + ["--checkpoint", str(checkpoint), "--resume", "-o",
                          str(tmp_path / "resumed.npz")]) == 0
    assert "resuming from" in capsys.readouterr().out
    from fastbp import Trainer
    plain, resumed = Trainer.load(tmp_path / "plain.npz"), Trainer.load(tmp_path / "resumed.npz")
    # The finished checkpoint trains no further: the same weights as the plain run.
    np.testing.assert_array_equal(plain.network.params, resumed.network.params)
    assert plain.dropout == (0.1,)
    assert main(common + ["--resume"]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "-1"], "epochs must be >= 0; got -1"),
    (["train", "--data", "no-such-file.csv"], "No such file"),
    (["evaluate", "no-such-model.npz"], "No such file"),
    (["train", "--learning-rate", "0"], "learning_rate must be a finite number > 0"),
    (["train", "--learning-rate", "1e12", "--epochs", "2"], "lower learning_rate"),
])
def test_bad_input_is_one_line_and_exit_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1



def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _csv(path, text):
    path.write_text(text)
    return str(path)


def _bad_inputs(tmp_path):
    """(argv, what the error line must say) for every kind of bad input found."""
    X = np.random.default_rng(0).random((20, 3))
    y = np.arange(20) % 2
    good = _npz(tmp_path / "good.npz", X=X, y=y)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((tmp_path / "good.npz").read_bytes()[:300])
    model = tmp_path / "model.npz"
    rows = "\n".join(",".join(map(str, row)) for row in np.c_[X, y])
    cases = [
        (["--data", _npz(tmp_path / "inf.npz", X=X, y=np.r_[y[:-1], np.inf])],
         "labels must be whole numbers"),
        (["--data", _npz(tmp_path / "nan.npz", X=X, y=np.r_[y[:-1], np.nan])], "got nan"),
        (["--data", _npz(tmp_path / "big.npz", X=X, y=np.r_[y[:-1], 1e12])],
         "labels must be whole numbers"),
        (["--data", _npz(tmp_path / "half.npz", X=X, y=np.r_[y[:-1], 0.5])], "got 0.5"),
        (["--data", _npz(tmp_path / "neg.npz", X=X, y=np.r_[y[:-1], -1])], "got -1"),
        (["--data", _npz(tmp_path / "many.npz", X=X, y=np.r_[y[:-1], 2**31 - 1])],
         "GiB of memory"),
        (["--data", _csv(tmp_path / "inf.csv", rows + "\n1,2,3,inf\n")], "got inf"),
        (["--data", _csv(tmp_path / "big.csv", rows + "\n1,2,3,1e12\n")], "got 1000000000000.0"),
        (["--data", str(truncated)], "not a readable .npz file"),
        (["--data", _npz(tmp_path / "noX.npz", y=y)], "needs arrays ['X', 'y']"),
        (["--data", _npz(tmp_path / "strings.npz", X=X, y=y.astype(str))],
         "labels must be one column of numbers"),
        (["--data", good, "--hidden", "1000000000"], "GiB of memory"),
        (["--data", good, "--hidden", "100000", "100000", "100000"], "GiB of memory"),
        (["--data", _csv(tmp_path / "one.csv", "1\n2\n3\n")], "at least two columns"),
        (["--data", _csv(tmp_path / "empty.csv", "")], "no rows of data"),
        (["--data", _csv(tmp_path / "header.csv", "a,b,label\n")], "no rows of data"),
        (["--data", _csv(tmp_path / "text.csv", "a,b\n1,x\n")], "could not convert"),
        (["--data", str(tmp_path / "data.txt")], "--data must be digits"),
        (["--data", good, "--resume"], "--resume needs --checkpoint"),
        (["--data", good, "-o", str(tmp_path / "missing" / "m.npz")], "does not exist"),
        (["--data", good, "-o", str(tmp_path / "good.npz" / "m.npz")], "does not exist"),
        (["--data", good, "--checkpoint", str(tmp_path / "missing" / "run.npz")],
         "does not exist"),
        (["--data", good, "--plot", str(tmp_path / "missing" / "c.png")], "does not exist"),
    ]
    return [(["train", "--epochs", "1", *argv], match) for argv, match in cases] + [
        (["predict", str(model), "--data", _npz(tmp_path / "onlyy.npz", y=y)],
         "needs arrays ['X']"),
        (["predict", str(model), "--data", good, "-o", str(tmp_path / "no" / "p.csv")],
         "does not exist"),
        (["evaluate", str(model), "--data", str(truncated)], "not a readable .npz file"),
        (["evaluate", str(truncated), "--data", good], "truncated, damaged"),
    ]


def test_every_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys):
    """Each bad input found by trying as a careless user would: one line on standard
    error (no traceback) and exit status 2, before any training or writing."""
    X = np.random.default_rng(0).random((20, 3))
    assert main(["train", "--data", _npz(tmp_path / "t.npz", X=X, y=np.arange(20) % 2),
                 "--hidden", "4", "--epochs", "1", "-o", str(tmp_path / "model.npz")]) == 0
    capsys.readouterr()
    for argv, match in _bad_inputs(tmp_path):
        before = sorted(p.name for p in tmp_path.iterdir())
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert match in captured.err, (argv, captured.err)
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, argv
        assert "epoch" not in captured.out, argv  # refused before training
        assert sorted(p.name for p in tmp_path.iterdir()) == before, argv


def test_a_batch_larger_than_the_data_is_not_refused_for_memory(data_files, capsys):
    tmp_path, _, _ = data_files
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "4", "--epochs",
                 "1", "--batch-size", "1000000000000"]) == 0


def test_bad_input_in_a_real_process_is_one_line_and_status_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastbp", "train", "--data", "digits",
                             "--hidden", "1000000000"], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "GiB of memory" in result.stderr


def test_unwritable_output_directory_is_refused_before_training(tmp_path, capsys, monkeypatch):
    """(Permission bits do not stop root, so the refusal of the probe file is simulated.)"""
    import fastbp.cli

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fastbp.cli.tempfile, "TemporaryFile", refuse)
    assert main(["train", "--epochs", "1", "-o", str(tmp_path / "m.npz")]) == 2
    captured = capsys.readouterr()
    assert f"cannot write in {tmp_path} (Permission denied)" in captured.err
    assert "epoch" not in captured.out


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="0123456789.,-+e\nainf x", max_size=120),
       header=st.booleans())
def test_any_csv_trains_or_is_one_error_line(tmp_path, capsys, text, header):
    """Whatever a CSV holds: training, or one error line and exit status 2."""
    path = tmp_path / "random.csv"
    path.write_text(("a,b,label\n" if header else "") + text)
    status = main(["train", "--data", str(path), "--hidden", "2", "--epochs", "1"])
    captured = capsys.readouterr()
    assert status in (0, 2)
    if status == 2:
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
        assert captured.err.startswith("fastbp train: error: ")


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=hnp.arrays(st.sampled_from([np.float64, np.int64, np.uint8, np.bool_]),
                         st.integers(0, 12)),
       columns=st.integers(1, 3))
def test_any_npz_labels_train_or_are_one_error_line(tmp_path, capsys, labels, columns):
    """Labels of any values, types and lengths in a .npz data file."""
    path = tmp_path / "random.npz"
    np.savez(path, X=np.ones((len(labels), columns)), y=labels)
    status = main(["train", "--data", str(path), "--hidden", "2", "--epochs", "1"])
    captured = capsys.readouterr()
    assert status in (0, 2)
    if status == 2:
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
