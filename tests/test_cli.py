"""The command line end to end: train, evaluate, predict, on files the test writes."""

import subprocess
import sys

import numpy as np
import pytest

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
    with pytest.raises(SystemExit, match="--data must be digits, fashion-mnist"):
        main(["train", "--data", "nothing.txt"])


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
    with pytest.raises(SystemExit, match="--resume needs --checkpoint"):
        main(common + ["--resume"])


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

