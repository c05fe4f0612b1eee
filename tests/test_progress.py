"""The progress bar: shown on request, quiet by default off a terminal, same results."""

import numpy as np
import pytest

import fastbp.callbacks
from fastbp import Trainer


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def fit(**kwargs):
    trainer = Trainer([6, 9, 2], learning_rate=0.2, batch_size=7, seed=0, dropout=0.2,
                      **kwargs)
    history = trainer.fit(*data(), epochs=3)
    return trainer, history


def test_bar_shows_epochs_batches_and_running_loss(capsys):
    pytest.importorskip("tqdm")
    trainer, history = fit(progress=True)
    err = capsys.readouterr().err
    assert "epochs" in err and "3/3" in err
    assert "batches" in err and "43/43" in err  # 300 samples in batches of 7
    assert f"loss={history['loss'][-1]:.4f}" in err
    # Epochs run in several compiled calls with a bar: the same bits as in one call.
    plain, plain_history = fit(progress=False)
    np.testing.assert_array_equal(trainer.network.params, plain.network.params)
    assert history == plain_history


def test_quiet_by_default_off_a_terminal(capsys):
    fit()  # pytest captures standard error: not a terminal
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_verbose_lines_go_around_the_bar(capsys):
    pytest.importorskip("tqdm")
    fit(progress=True, verbose=True)
    out = capsys.readouterr()
    assert "epoch    3  loss" in out.out + out.err


def test_progress_without_tqdm_says_what_to_install(monkeypatch):
    monkeypatch.setattr(fastbp.callbacks, "_tqdm", lambda: None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        Trainer([6, 2], progress=True)
    fit(progress=None)  # auto: no bar, no error
