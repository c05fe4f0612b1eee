"""fastbp: fast training of fully-connected neural networks on the CPU.

Backpropagation is written out as Numba kernels (``fastbp.kernels``); a small Python
``Trainer`` drives them and shares every mini-batch among the cores.

>>> from fastbp import Trainer
>>> from fastbp.datasets import load_digits
>>> X, y = load_digits()
>>> trainer = Trainer([64, 64, 10], cost="cross_entropy", learning_rate=0.1, seed=0)
>>> history = trainer.fit(X, y, epochs=5)
"""

from . import datasets, io
from .io import ModelFileError, load, save
from .network import Network
from .optim import Optimizer
from .trainer import Trainer

__all__ = ["ModelFileError", "Network", "Optimizer", "Trainer", "datasets", "io", "load",
           "save"]
__version__ = "0.1.0"
