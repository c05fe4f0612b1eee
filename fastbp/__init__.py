"""fastbp: fast training of fully-connected neural networks on the CPU.

Backpropagation is written out as Numba kernels (``fastbp.kernels``); a small Python
``Trainer`` drives them and shares every mini-batch among the cores.

>>> from fastbp import Trainer
>>> from fastbp.datasets import load_digits
>>> X, y = load_digits()
>>> trainer = Trainer([64, 64, 10], cost="cross_entropy", learning_rate=0.1, seed=0)
>>> history = trainer.fit(X, y, epochs=5)

``fastbp.MLPClassifier`` and ``fastbp.MLPRegressor`` are scikit-learn estimators
(``fastbp.estimators``), imported on first access: they need scikit-learn, which
``import fastbp`` does not.
"""

from . import datasets, io
from ._exclusive import ConcurrentUseError
from ._version import __version__ as __version__
from .callbacks import Callback, EarlyStopping
from .io import ModelFileError, load, save
from .network import Network
from .optim import Optimizer
from .trainer import Trainer, TrainingDiverged

__all__ = ["Callback", "ConcurrentUseError", "EarlyStopping", "MLPClassifier", "MLPRegressor",
           "ModelFileError", "Network", "Optimizer", "Trainer", "TrainingDiverged", "datasets",
           "io", "load", "save"]

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")  # in fastbp.estimators, which needs sklearn


def __getattr__(name):
    """``fastbp.MLPClassifier`` and ``fastbp.MLPRegressor``: import ``fastbp.estimators``
    (and with it scikit-learn) only when one of them is first asked for."""
    if name in _ESTIMATORS:
        from . import estimators  # raises ImportError saying `pip install scikit-learn`

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_ESTIMATORS))
