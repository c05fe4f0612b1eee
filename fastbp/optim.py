"""Optimisers and learning-rate schedules: settings, validation and state.

The updates themselves run in the kernels (``kernels/optimizers.py``); this module
turns the user's settings into the optimiser code and hyper-parameter array the
kernels take, and owns the state that persists between calls of ``fit`` (momentum,
Adam's moments and step count), so that continuing training continues the optimiser.
The optimisers by name are the registry ``OPTIMIZERS`` of ``kernels/optimizers.py``; the
learning-rate schedules by name are ``SCHEDULES`` here.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._validation import check_choice, check_int, check_positive_float
from .kernels import optimizers as K
from .kernels.layout import aligned_zeros
from .kernels.optimizers import OPTIMIZERS

# "adaptive" divides the rate by this when it is told of a plateau, and stops at MIN_RATE
# (scikit-learn's MLP values).
ADAPTIVE_FACTOR, MIN_RATE = 5.0, 1e-6


class Schedule(NamedTuple):
    """An entry of ``SCHEDULES``."""
    rate: Callable          # (optimizer, epoch) -> the learning rate of that epoch
    reads: tuple = ()       # the Optimizer's settings it reads besides learning_rate
    adaptive: bool = False  # lowers the rate at a plateau instead of stopping


def _cosine(opt, epoch):
    return opt.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(epoch, opt.horizon - 1)
                                                     / opt.horizon))


# The learning-rate schedules by name: what the trainer, the CLI and the estimators read.
SCHEDULES = {
    "constant": Schedule(lambda opt, epoch: opt.learning_rate),
    "step": Schedule(lambda opt, epoch: opt.learning_rate * opt.gamma ** (epoch // opt.step_size),
                     ("step_size", "gamma")),
    "cosine": Schedule(_cosine, ("horizon",)),
    "invscaling": Schedule(lambda opt, epoch: opt.learning_rate / (opt.samples + 1) ** opt.power_t,
                           ("power_t",)),
    "adaptive": Schedule(lambda opt, epoch: opt.learning_rate * opt.scale, adaptive=True),
}


def _check_fraction(value, name, *, allow_zero=True):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number; got {value!r}") from None
    except OverflowError:  # an integer beyond the range of floats: far outside [0, 1)
        value = math.inf if value > 0 else -math.inf
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise ValueError(f"{name} must be in [{0 if allow_zero else '0 (excluded)'}, 1); "
                         f"got {value}")
    return value


class Optimizer:
    """Mini-batch gradient descent with its hyper-parameters and state.

    Parameters
    ----------
    name : {"sgd", "adam", "adamw", "rmsprop"}
        The update rule (see ``fastbp.kernels.optimizers``): SGD, Adam, AdamW (Adam with
        decoupled weight decay) or RMSprop; each reads the settings its entry of
        ``OPTIMIZERS`` names.
    learning_rate : float
        eta (the initial one, under a schedule).
    momentum : float in [0, 1)
        SGD: mu of ``v <- mu v - eta g; W <- W + v``; 0 is plain SGD. RMSprop: mu of
        ``v <- mu v + g / (sqrt(s) + eps); W <- W - eta v`` (PyTorch's form); 0 is none.
    nesterov : bool
        SGD only: Nesterov's momentum, ``W <- W + mu v - eta g`` (needs momentum > 0).
    beta1, beta2, epsilon : float
        Adam's and AdamW's decay rates of the first and second moments and their
        denominator term (epsilon is RMSprop's too).
    rho : float in [0, 1)
        RMSprop's decay rate of the mean square of the gradient (PyTorch's ``alpha``,
        Keras's ``rho``).
    weight_decay : float >= 0
        lambda of an L2 penalty ``lambda/2 ||W||^2`` on the weights (not the biases);
        for AdamW the decoupled decay ``W <- (1 - eta lambda) W`` at each step instead
        (PyTorch's ``weight_decay`` of ``AdamW``, here on the weights only).
    schedule : {"constant", "step", "cosine", "invscaling", "adaptive"}
        Learning rate of epoch e (counted over all calls of ``fit``): eta; eta times
        ``gamma ** (e // step_size)``; eta (1 + cos(pi e / horizon)) / 2; as
        scikit-learn's MLP, eta / (t + 1) ** power_t, t the samples trained on before
        the epoch (``samples``); or eta divided by 5 at each :meth:`plateau` (when
        early stopping's patience runs out).
    step_size, gamma : int, float
        The step schedule's period in epochs and factor.
    horizon : int
        The cosine schedule's length in epochs (after it, the rate stays at its last
        value).
    power_t : float >= 0
        The exponent of "invscaling".
    """

    def __init__(self, name="sgd", learning_rate=0.1, *, momentum=0.0, nesterov=False,
                 beta1=0.9, beta2=0.999, epsilon=1e-8, rho=0.99, weight_decay=0.0,
                 schedule="constant", step_size=10, gamma=0.1, horizon=10, power_t=0.5):
        self.name = check_choice(name, OPTIMIZERS, "optimizer")
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.momentum = _check_fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)
        if self.nesterov and not (self.name == "sgd" and self.momentum > 0):
            raise ValueError("nesterov=True needs optimizer='sgd' and momentum > 0")
        if self.momentum and "momentum" not in OPTIMIZERS[self.name].reads:
            takers = [name for name, rule in OPTIMIZERS.items() if "momentum" in rule.reads]
            raise ValueError(f"momentum is for optimizer={' or '.join(map(repr, takers))}; "
                             f"{self.name!r} reads {', '.join(OPTIMIZERS[self.name].reads)}")
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.epsilon = check_positive_float(epsilon, "epsilon")
        self.rho = _check_fraction(rho, "rho")
        if weight_decay != 0:
            check_positive_float(weight_decay, "weight_decay")
        self.weight_decay = float(weight_decay)
        self.schedule = check_choice(schedule, SCHEDULES, "lr_schedule")
        self.step_size = check_int(step_size, "lr_step_size", minimum=1)
        self.gamma = check_positive_float(gamma, "lr_gamma")
        self.horizon = (check_int(horizon, "epochs", minimum=1)
                        if "horizon" in SCHEDULES[schedule].reads else horizon)
        self.power_t = 0.0 if power_t == 0 else check_positive_float(power_t, "power_t")
        self.samples = 0   # samples trained on so far ("invscaling" counts them)
        self.scale = 1.0   # the factor "adaptive" has reached
        self.t = 0        # updates made so far (Adam's bias correction counts them)
        self.epoch = 0    # epochs trained so far (the schedules count them)
        self.state = None  # (grad, state1, state2) once allocated

    @property
    def code(self):
        """The kernels' optimiser code."""
        if self.name != "sgd" or self.momentum == 0:
            return OPTIMIZERS[self.name].code
        return K.NESTEROV if self.nesterov else K.MOMENTUM

    @property
    def fused(self):
        """Whether the update is fused into BP4 (plain SGD): no gradient is stored."""
        return self.code == K.SGD and self.weight_decay == 0

    def learning_rate_at(self, epoch):
        return SCHEDULES[self.schedule].rate(self, epoch)

    def plateau(self):
        """Told that training has stopped improving: "adaptive" divides its rate by 5
        and returns True (training goes on) while the rate is above 1e-6; every other
        schedule returns False (training stops)."""
        if (not SCHEDULES[self.schedule].adaptive
                or self.learning_rate_at(self.epoch) <= MIN_RATE):
            return False
        self.scale /= ADAPTIVE_FACTOR
        return True

    def hyper(self, epoch):
        """The kernels' hyper-parameter array for ``epoch``."""
        hyper = np.zeros(K.N_HYPER)
        hyper[K.ETA] = self.learning_rate_at(epoch)
        hyper[K.WEIGHT_DECAY] = self.weight_decay
        hyper[K.MU] = self.momentum
        hyper[K.BETA1], hyper[K.BETA2], hyper[K.EPSILON] = self.beta1, self.beta2, self.epsilon
        hyper[K.RHO] = self.rho
        return hyper

    def __setstate__(self, state):
        # Unpickled state may be read-only or unaligned: aligned, writable copies.
        self.__dict__.update(state)
        if self.state is not None:
            self.state = tuple(_aligned_copy(a) for a in self.state)

    def buffers(self, n_params, dtype):
        """(grad, state1, state2): full-size buffers, or 1-element placeholders when the
        update is fused and needs none. State survives between calls of ``fit``."""
        if self.fused:
            placeholder = np.zeros(1, dtype=dtype)
            return placeholder, placeholder, placeholder
        if self.state is None or self.state[0].size != n_params or self.state[0].dtype != dtype:
            self.state = tuple(aligned_zeros(n_params, dtype) for _ in range(3))
        return self.state


def _aligned_copy(array):
    copied = aligned_zeros(array.size, array.dtype)
    copied[...] = array
    return copied
