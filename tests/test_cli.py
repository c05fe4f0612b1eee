"""The command line end to end: train, evaluate, predict, on files the test writes."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastbp.tuning
from fastbp.cli import main


@pytest.fixture(autouse=True)
def in_a_fresh_directory(tmp_path_factory, monkeypatch):
    """train writes model.npz in the current directory without -o: not in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


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


def test_train_evaluate_predict_on_a_sparse_file(data_files, capsys):
    sparse = pytest.importorskip("scipy.sparse")
    tmp_path, X, y = data_files
    X = X * (X > 0.3)  # a third of the entries zero
    sparse.save_npz(tmp_path / "text.npz", sparse.csr_matrix(X))
    np.save(tmp_path / "text.labels.npy", y)
    model = tmp_path / "model.npz"
    assert main(["train", "--data", str(tmp_path / "text.npz"), "--hidden", "16", "--epochs",
                 "20", "--optimizer", "adam", "--learning-rate", "0.02", "--batch-size", "8",
                 "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert "text.npz: 90 training and 30 test samples" in out
    assert float(out.split("final test accuracy: ")[1].split()[0]) > 0.7
    assert main(["evaluate", str(model), "--data", str(tmp_path / "text.npz")]) == 0
    assert main(["predict", str(model), "--data", str(tmp_path / "text.npz"), "-o",
                 str(tmp_path / "predictions.csv")]) == 0
    assert np.mean(np.loadtxt(tmp_path / "predictions.csv") == y) > 0.7
    (tmp_path / "text.labels.npy").unlink()
    assert main(["train", "--data", str(tmp_path / "text.npz")]) == 2
    assert "needs its labels beside it" in capsys.readouterr().err


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


@pytest.mark.parametrize("optimizer,activation", [("adamw", "gelu"), ("rmsprop", "silu")])
def test_train_with_the_newer_optimisers_and_activations(data_files, capsys, optimizer,
                                                         activation):
    tmp_path, _, _ = data_files
    model = tmp_path / f"{optimizer}.npz"
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "8", "--epochs",
                 "2", "--optimizer", optimizer, "--activation", activation, "--weight-decay",
                 "0.01", "--rho", "0.9", "--momentum", "0.5" if optimizer == "rmsprop" else "0",
                 "-o", str(model)]) == 0
    capsys.readouterr()
    from fastbp import Trainer
    trainer = Trainer.load(model)
    opt = trainer.optimizer
    assert (opt.name, opt.weight_decay, opt.rho) == (optimizer, 0.01, 0.9)
    assert trainer.network.activations[0] == activation


@pytest.mark.skipif(fastbp.tuning.bf16_products() is None,
                    reason="--precision bf16-mixed needs AVX512-BF16 (or FASTBP_BF16=emulated)")
def test_train_with_bf16_mixed_precision(data_files, capsys, monkeypatch):
    tmp_path, _, _ = data_files
    model = tmp_path / "mixed.npz"
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "8", "--epochs",
                 "2", "--precision", "bf16-mixed", "-o", str(model)]) == 0
    assert "final test accuracy" in capsys.readouterr().out
    from fastbp import Trainer
    assert Trainer.load(model).precision == "bf16-mixed"
    # evaluate and predict run in float32: a bf16-mixed model on a CPU without AVX512-BF16
    monkeypatch.setattr(fastbp.tuning, "bf16_products", lambda: None)
    assert main(["evaluate", str(model), "--data", str(tmp_path / "train.npz")]) == 0
    assert main(["predict", str(model), "--data", str(tmp_path / "train.npz")]) == 0
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--epochs", "1",
                 "--precision", "bf16-mixed", "-o", str(tmp_path / "refused.npz")]) == 2
    assert "AVX512-BF16" in capsys.readouterr().err


def test_a_bad_precision_is_refused_by_argparse(capsys):
    for argv in (["train", "--precision", "bf16"], ["--precision", "16"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


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
        (["--data", _csv(tmp_path / "text.csv", "a,b\nx,1\n")], "could not convert"),
        (["--data", _csv(tmp_path / "ragged.csv", "1,2,0\n3,1\n")], "line 2 has 2 fields"),
        (["--data", _csv(tmp_path / "oneclass.csv", "1,2,cat\n3,1,cat\n")],
         "name 1 class; a classifier needs at least two"),
        (["--data", _csv(tmp_path / "longname.csv", "1,cat\n3," + "x" * 201 + "\n")],
         "class names must be 1 to 200 printable characters"),
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
    assert_trains_or_one_error_line(path, tmp_path, capsys)


def assert_trains_or_one_error_line(path, tmp_path, capsys):
    status = main(["train", "--data", str(path), "--hidden", "2", "--epochs", "1", "-o",
                   str(tmp_path / "model.npz")])
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
    assert_trains_or_one_error_line(path, tmp_path, capsys)


@pytest.fixture
def named_classes(tmp_path):
    """A CSV whose labels are names, with a header, and its features alone."""
    rng = np.random.default_rng(1)
    X = rng.random((150, 4))
    names = np.array(["setosa", "versicolor", "virginica"])[(X[:, 0] * 3).astype(int)]
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join(f"{v:.6f}" for v in row) + f',"{name}"' for row, name in zip(X, names)]
    (tmp_path / "flowers.csv").write_text("\n".join(lines) + "\n")
    np.savetxt(tmp_path / "features.csv", X, delimiter=",", fmt="%.6f")
    return tmp_path, X, names


def test_class_names_are_stored_and_predicted(named_classes, capsys):
    tmp_path, X, names = named_classes
    model = str(tmp_path / "flowers.npz")
    assert main(["train", "--data", str(tmp_path / "flowers.csv"), "--hidden", "16",
                 "--epochs", "40", "--optimizer", "adam", "--learning-rate", "0.02",
                 "--batch-size", "8", "-o", model]) == 0
    capsys.readouterr()
    from fastbp import io
    assert io.load(model).extra["cli_classes"].tolist() == ["setosa", "versicolor", "virginica"]
    for data in ("features.csv", "flowers.csv"):  # features only, or features then label
        out = tmp_path / f"predicted-{data}"
        assert main(["predict", model, "--data", str(tmp_path / data), "-o", str(out)]) == 0
        predicted = np.array(out.read_text().split())
        assert predicted.shape == (150,) and set(predicted) <= set(names)
        assert np.mean(predicted == names) > 0.8
    capsys.readouterr()
    assert main(["predict", model, "--data", str(tmp_path / "features.csv")]) == 0
    assert capsys.readouterr().out.split() == predicted.tolist()  # printed alike
    assert main(["evaluate", model, "--data", str(tmp_path / "flowers.csv")]) == 0
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("cost", ["quadratic", "binary_cross_entropy"])
def test_class_names_of_other_costs(named_classes, cost):
    """Outputs of values (quadratic) and one sigmoid output (two classes) map to names."""
    tmp_path, _, names = named_classes
    if cost == "binary_cross_entropy":  # two classes: one output
        lines = (tmp_path / "flowers.csv").read_text().splitlines()
        (tmp_path / "flowers.csv").write_text("\n".join(
            [lines[0]] + [line for line in lines[1:] if "virginica" not in line]) + "\n")
        names = names[names != "virginica"]
    model = str(tmp_path / "model.npz")
    assert main(["train", "--data", str(tmp_path / "flowers.csv"), "--hidden", "8",
                 "--epochs", "3", "--cost", cost, "-o", model]) == 0
    out = tmp_path / "predicted.csv"
    assert main(["predict", model, "--data", str(tmp_path / "features.csv"), "-o",
                 str(out)]) == 0
    predicted = out.read_text().split()
    assert len(predicted) == 150 and set(predicted) <= set(names)


def test_predict_refuses_csvs_that_do_not_fit_the_model(named_classes, capsys):
    tmp_path, X, names = named_classes
    model = str(tmp_path / "flowers.npz")
    assert main(["train", "--data", str(tmp_path / "flowers.csv"), "--hidden", "4",
                 "--epochs", "1", "-o", model]) == 0
    np.savetxt(tmp_path / "wide.csv", np.c_[X, X], delimiter=",")
    (tmp_path / "named.csv").write_text("1,2,3,setosa\n4,5,6,virginica\n")
    numbers = tmp_path / "numbers.csv"
    np.savetxt(numbers, np.c_[X, np.zeros(len(X))], delimiter=",")
    for data, message in (("wide.csv", "8 columns, while the model takes 4 features"),
                          ("named.csv", "column 4 holds text")):
        capsys.readouterr()
        assert main(["predict", model, "--data", str(tmp_path / data)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert main(["evaluate", model, "--data", str(numbers)]) == 2
    assert "the labels are numbers, while the model was trained on class names" in (
        capsys.readouterr().err)
    (tmp_path / "other.csv").write_text("1,2,3,4,setosa\n4,5,6,7,rose\n" * 2)
    assert main(["evaluate", model, "--data", str(tmp_path / "other.csv"), "--test-size",
                 "0.5"]) == 2
    assert "labels ['rose'] are not among the model's classes" in capsys.readouterr().err


@pytest.mark.parametrize("key,value,message", [
    ("cli_classes", np.array(["a", "a", "b"]), "3 distinct printable strings"),
    ("cli_classes", np.array(["a", "b\nc", "d"]), "3 distinct printable strings"),
    ("cli_classes", np.array(["a", "b"]), "3 distinct printable strings"),
    ("cli_classes", np.array([1, 2, 3]), "3 distinct printable strings"),
    ("cli_classes", np.array(["a", "", "c"]), "3 distinct printable strings"),
    ("cli_seed", np.int64(-1), "extra/cli_seed must be an integer"),
    ("cli_seed", np.float64(1.5), "extra/cli_seed must be an integer"),
    ("cli_test_size", np.float64(1.0), "extra/cli_test_size must be a number in (0, 1)"),
    ("cli_test_size", np.str_("0.25"), "extra/cli_test_size must be a number in (0, 1)"),
])
def test_the_model_files_fields_are_checked(named_classes, capsys, key, value, message):
    from fastbp import io
    tmp_path, _, _ = named_classes
    model = str(tmp_path / "flowers.npz")
    assert main(["train", "--data", str(tmp_path / "flowers.csv"), "--hidden", "4",
                 "--epochs", "1", "-o", model]) == 0
    loaded = io.load(model)
    io.save(loaded.network, model, cost=loaded.cost, optimizer_state=loaded.optimizer_state,
            extra={**loaded.extra, key: value})
    capsys.readouterr()
    for argv in (["predict", model, "--data", str(tmp_path / "features.csv")],
                 ["evaluate", model, "--data", str(tmp_path / "flowers.csv")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_evaluate_reuses_the_split_of_training(data_files, capsys):
    tmp_path, _, _ = data_files
    model = str(tmp_path / "model.npz")
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "16", "--epochs",
                 "10", "--seed", "3", "--test-size", "0.3", "-o", model]) == 0
    trained = capsys.readouterr().out
    test = trained.split("test loss ")[1].split("\n")[0]
    n_test = trained.split(" test samples")[0].split(" and ")[-1]
    assert main(["evaluate", model, "--data", str(tmp_path / "train.npz")]) == 0
    out = capsys.readouterr().out
    assert f"{n_test} test samples (split with seed 3, test size 0.3)" in out
    loss, accuracy = test.split("  test accuracy ")
    assert f"loss {loss}  accuracy {accuracy}" in out
    assert "note:" not in out
    assert main(["evaluate", model, "--data", str(tmp_path / "train.npz"), "--seed", "1",
                 "--test-size", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "test samples (split with seed 1, test size 0.5)" in out
    assert ("note: the model was trained on the split with seed 3 and test size 0.3: this "
            "test part may hold training samples") in out


def test_train_without_output_writes_model_npz_and_never_replaces_it(data_files, capsys):
    tmp_path, _, _ = data_files
    argv = ["train", "--data", str(tmp_path / "train.npz"), "--hidden", "4", "--epochs", "1"]
    assert main(argv) == 0
    assert "model written to model.npz" in capsys.readouterr().out
    first = Path("model.npz").read_bytes()
    assert main(argv + ["--seed", "5"]) == 2
    captured = capsys.readouterr()
    assert "model.npz exists in the current directory; name the model file with -o" in (
        captured.err) and "epoch" not in captured.out
    assert Path("model.npz").read_bytes() == first
    assert main(argv + ["--seed", "5", "-o", "model.npz"]) == 0  # named: replaced
    assert Path("model.npz").read_bytes() != first


def test_every_option_has_help_and_the_epilog_shows_examples_and_the_csv_format():
    from fastbp.cli import build_parser
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in [("fastbp", parser), *commands.items()]:
        for action in command._actions:
            if action.dest not in ("help", "command"):
                assert action.help, (name, action.option_strings or action.dest)
    for name in ("train", "evaluate", "predict"):
        text = commands[name].format_help()
        examples = text.split("examples:\n")[1].split("\n\n")[0].splitlines()
        assert len(examples) == 3 and all(e.startswith("  fastbp ") for e in examples)
        assert "CSV files: one sample per line" in text and "names such as setosa" in text
