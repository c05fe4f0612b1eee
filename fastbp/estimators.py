"""scikit-learn estimators: :class:`MLPClassifier` and :class:`MLPRegressor`, trained by a
fastbp :class:`~fastbp.Trainer`.

They follow the parameters and fitted attributes of scikit-learn's estimators of the
same names, so that they work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``
and pass ``sklearn.utils.estimator_checks``. This module needs scikit-learn (an
optional dependency of fastbp); ``fastbp.MLPClassifier`` imports it on first use.

Where they differ from scikit-learn's: the solvers are fastbp's optimisers, "sgd",
"adam", "adamw" and "rmsprop" (no L-BFGS); ``learning_rate`` also takes fastbp's
schedules "step" and "cosine"; the
stopping criterion watches the validation *loss* under ``early_stopping`` (scikit-learn
watches the validation score); ``warm_start`` also keeps the optimiser's state;
``loss_`` and ``loss_curve_`` leave out the L2 penalty; ``coefs_`` and ``intercepts_``
are read-only views; and there are fastbp's own ``rho``, ``dropout``, ``threads``,
``dtype`` and ``precision``.

X may be a SciPy sparse matrix (TF-IDF, hashed or one-hot features): it is read as CSR
(another format converted once), never densified, and the network's first layer is
trained on its nonzeros only (see :mod:`fastbp.kernels.sparse`, which also says how
the optimisers other than plain SGD update the weights of the features a batch lacks).

As in scikit-learn, ``alpha`` is divided by a batch's total sample weight (its size,
without ``sample_weight``), and weights are normalised to mean 1, so that integer
weights act as repeated samples: exactly so, up to rounding, when a batch holds all
samples.
"""

import warnings
from numbers import Integral, Real

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_array, check_random_state, column_or_1d
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:
    raise ImportError("fastbp.MLPClassifier and fastbp.MLPRegressor need scikit-learn "
                      "(1.6 or later): pip install scikit-learn") from error

from ._params import (
    ARRAY_LIKE,
    BOOLEAN,
    DTYPE,
    NONE,
    RANDOM_STATE,
    VERBOSE,
    Interval,
    Options,
    check_parameters,
)
from ._validation import PRECISIONS, check_dtype, check_int
from .kernels.activations import HIDDEN_ACTIVATIONS
from .optim import OPTIMIZERS, SCHEDULES
from .trainer import Trainer

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's name for the sigmoid, accepted so that its settings carry over.
_ALIASES = {"logistic": "sigmoid"}
# Learning-rate schedules that scikit-learn applies to "sgd" only (the others keep the
# rate constant then).
_SGD_ONLY = ("invscaling", "adaptive")
# The Trainer's optimiser settings that parameters give, whichever solver reads them.
# Momentum is the "sgd" solver's only, as in scikit-learn (the Trainer's "rmsprop" reads
# it too).
_SOLVER_SETTINGS = {"beta1": "beta_1", "beta2": "beta_2", "epsilon": "epsilon", "rho": "rho"}


_PARAMETERS = """\
    hidden_layer_sizes : array-like of int, or int, default=(100,)
        Sizes of the hidden layers: the i-th element is the number of neurons of the
        i-th hidden layer; ``()`` gives no hidden layer.
    activation : str, default="relu"
        Activation of the hidden layers: {hidden}, or "logistic" (scikit-learn's name
        for "sigmoid").
    solver : {{"sgd", "adam", "adamw", "rmsprop"}}, default="adam"
        The optimiser: mini-batch SGD (with ``momentum`` and ``nesterovs_momentum``),
        Adam or AdamW (with ``beta_1``, ``beta_2``, ``epsilon``), or RMSprop (with
        ``rho``, ``epsilon``).
    alpha : float >= 0, default=0.0001
        Strength of the L2 penalty on the weights. As in scikit-learn it is divided by a
        batch's total sample weight: the Trainer's ``weight_decay`` is
        ``alpha / batch_size``, with ``sample_weight`` ``alpha / (batch_size * mean
        weight)`` (the weights are then normalised to mean 1, so that integer weights act
        as repeated samples). For "adamw", the decoupled decay of the weights,
        ``W <- (1 - learning_rate * alpha) W`` each step, as PyTorch's ``weight_decay``
        (not divided).
    batch_size : int or "auto", default="auto"
        Samples per mini-batch; "auto" is ``min(200, n_samples)``. A batch size larger
        than the number of samples is clipped to it.
    learning_rate : {{"constant", "invscaling", "adaptive", "step", "cosine"}}, \
default="constant"
        The learning-rate schedule over the epochs. As scikit-learn's, with
        ``solver="sgd"`` only (``"adam"`` keeps the rate constant): "invscaling" is
        ``learning_rate_init / (t + 1) ** power_t``, t the samples trained on before the
        epoch; "adaptive" keeps the rate while the training loss (or with
        ``early_stopping`` the validation loss) improves by more than ``tol``, divides
        it by 5 each time it has not for ``n_iter_no_change`` epochs, and stops once it
        is at most 1e-6. fastbp's own, with either solver: "step", times 0.1 every 10
        epochs; "cosine", annealed over ``max_iter`` epochs.
    learning_rate_init : float > 0, default=0.001
        The (initial) learning rate.
    power_t : float >= 0, default=0.5
        The exponent of "invscaling".
    max_iter : int >= 1, default=200
        Most epochs that :meth:`fit` trains for (each call, also with ``warm_start``).
    shuffle : bool, default=True
        Visit the samples in a new random order every epoch.
    random_state : int, RandomState instance or None, default=None
        Draws the integer seed of the Trainer (initialisation and shuffling) and the
        validation split of ``early_stopping``. Pass an int for reproducible results.
    tol : float >= 0, default=1e-4
        Improvement of the loss that counts (Trainer.fit's ``min_delta``).
    n_iter_no_change : int >= 1, default=10
        :meth:`fit` stops when the training loss, or with ``early_stopping`` the
        validation loss, has not improved by more than ``tol`` for this many epochs in a
        row (Trainer.fit's ``patience``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        single-label classification), stop on its loss, and put back the weights of the
        epoch with the lowest validation loss.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out under ``early_stopping``.
    momentum : float in [0, 1), default=0.9
        Momentum of the "sgd" solver.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for the "sgd" solver (when ``momentum > 0``).
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates.
    epsilon : float > 0, default=1e-8
        Adam's (AdamW's, RMSprop's) term for numerical stability.
    rho : float in [0, 1), default=0.99
        RMSprop's decay rate of the mean square of the gradient (PyTorch's ``alpha``).
    warm_start : bool, default=False
        True: :meth:`fit` continues from the fitted Trainer, its weights and optimiser
        state (Adam's moments, the step count, the schedule's epoch) included, for up to
        ``max_iter`` more epochs; of changed parameters only ``max_iter``, ``alpha``,
        ``batch_size`` and the stopping ones take effect. False: every call of
        :meth:`fit` starts afresh.
    dropout : float in [0, 1) or array-like of float, default=0.0
        Dropout rate of the hidden layers (one for all, or one per hidden layer), passed
        to the Trainer when it is not zero.
    threads : int or None, default=None
        Threads that share each batch; None: all cores. Results do not depend on it.
    dtype : float32 or float64, default=np.float32
        Type of the parameters and of all computation. Predictions and probabilities
        are returned as float64 either way.
    precision : {{"32", "bf16-mixed"}}, default="32"
        "bf16-mixed": training's matrix products take bfloat16 operands and accumulate
        in float32, while the weights, optimiser state and everything else stay float32
        (the Trainer's ``precision``). Needs ``dtype=np.float32``, dense X and a CPU
        with AVX512-BF16 or AMX-BF16 (``FASTBP_BF16=emulated``: the same numerics, slowly, on any
        CPU). Prediction, probabilities and scores are computed in float32.
    verbose : bool, default=False
        Print the loss after each epoch, in scikit-learn's words ("Iteration 1, loss =
        0.69314718"), the validation score with ``early_stopping``, and why training
        stopped or the rate changed.
"""

_ATTRIBUTES = """\
    trainer_ : Trainer
        The fastbp Trainer; ``trainer_.network`` holds the network, ``trainer_.history``
        the per-epoch values of all calls.
    coefs_ : list of ndarray, shape (n_in, n_out)
        The weights of each layer in scikit-learn's orientation, ``W[l].T`` of fastbp:
        read-only views into ``trainer_.network`` (so always current); copy one to
        change it, or assign through ``trainer_.network.weights``.
    intercepts_ : list of ndarray, shape (n_out,)
        The biases of each layer, read-only views likewise.
    loss_ : float
        The mean cost over the last epoch's samples (weighted by ``sample_weight``),
        each taken before its batch's update; without the L2 penalty.
    loss_curve_ : list of float
        ``loss_`` after every epoch, over all calls of :meth:`fit` and
        :meth:`partial_fit` since the network was created.
    best_loss_ : float or None
        The lowest value of ``loss_curve_``; None when fitted with ``early_stopping``.
    validation_scores_ : list of float or None
        With ``early_stopping``, the score (as :meth:`score`) on the held-out data after
        every epoch; None otherwise.
    best_validation_score_ : float or None
        The highest of ``validation_scores_``; None without ``early_stopping``.
    n_iter_ : int
        Epochs trained since the network was created.
    t_ : int
        Training samples seen since the network was created (epochs times samples).
    n_layers_ : int
        Layers, input and output included.
    n_outputs_ : int
        Output neurons.
    out_activation_ : str
        Activation of the output layer: "softmax", "sigmoid" or "identity".
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Names of the features seen in :meth:`fit`, when X had string column names.
"""


def _checked_sample_weight(sample_weight, n_samples):
    """Sample weights as a new float64 array of shape (n_samples,): finite, >= 0; a
    number weighs every sample alike."""
    if isinstance(sample_weight, Real):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    weight = check_array(sample_weight, ensure_2d=False, dtype=np.float64, copy=True,
                         input_name="sample_weight")
    if weight.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {weight.shape}, expected ({n_samples},)!")
    if (weight < 0).any():
        raise ValueError("Negative values in data passed to sample_weight")
    return weight


def _read_only(array):
    view = array.view()
    view.flags.writeable = False
    return view


def _writable(array):
    """``array``, or a copy of it when it is read-only (a memory map, say): the kernels
    would otherwise be compiled once more, for read-only arrays. Sparse X: its arrays."""
    if hasattr(array, "indptr"):  # CSR: the arrays the kernels read
        parts = (array.data, array.indices, array.indptr)
        return array if all(a.flags.writeable for a in parts) else array.copy()
    return array if array.flags.writeable else array.copy()


def _rate_hint(value):
    """The hint for a number given as ``learning_rate`` (a schedule's name)."""
    if isinstance(value, Real) and not isinstance(value, (bool, np.bool_)):
        return (f"learning_rate names the schedule; did you mean "
                f"learning_rate_init={value!r}?")
    return None


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the Trainer's
    construction, fitting, and the fitted attributes."""

    # Each parameter and the values it takes (checked by fit and partial_fit).
    _PARAMETER_RULES = {
        "hidden_layer_sizes": [ARRAY_LIKE, Interval(Integral, 1, None, "left")],
        "activation": [Options(*HIDDEN_ACTIVATIONS, *_ALIASES)],
        "solver": [Options(*OPTIMIZERS)],
        "alpha": [Interval(Real, 0, None, "left")],
        "batch_size": [Options("auto"), Interval(Integral, 1, None, "left")],
        "learning_rate": [Options(*SCHEDULES)],
        "learning_rate_init": [Interval(Real, 0, None, "neither")],
        "power_t": [Interval(Real, 0, None, "left")],
        "max_iter": [Interval(Integral, 1, None, "left")],
        "shuffle": [BOOLEAN],
        "random_state": [RANDOM_STATE],
        "tol": [Interval(Real, 0, None, "left")],
        "n_iter_no_change": [Interval(Integral, 1, None, "left")],
        "early_stopping": [BOOLEAN],
        "validation_fraction": [Interval(Real, 0, 1, "neither")],
        "momentum": [Interval(Real, 0, 1, "left")],
        "nesterovs_momentum": [BOOLEAN],
        "beta_1": [Interval(Real, 0, 1, "left")],
        "beta_2": [Interval(Real, 0, 1, "left")],
        "epsilon": [Interval(Real, 0, None, "neither")],
        "rho": [Interval(Real, 0, 1, "left")],
        "warm_start": [BOOLEAN],
        "dropout": [Interval(Real, 0, 1, "left"), ARRAY_LIKE],
        "threads": [Interval(Integral, 1, None, "left"), NONE],
        "dtype": [DTYPE],
        "precision": [Options(*PRECISIONS)],
        "verbose": [VERBOSE],
    }
    _PARAMETER_HINTS = {"learning_rate": _rate_hint}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4,
                 n_iter_no_change=10, early_stopping=False, validation_fraction=0.1,
                 momentum=0.9, nesterovs_momentum=True, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, rho=0.99, warm_start=False, dropout=0.0, threads=None,
                 dtype=np.float32, precision="32", verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.rho = rho
        self.warm_start = warm_start
        self.dropout = dropout
        self.threads = threads
        self.dtype = dtype
        self.precision = precision
        self.verbose = verbose

    # -- what subclasses provide --------------------------------------------------------

    def _encode(self, y, fresh, classes=None):
        """(Y, encoder): y as the Trainer's (n_samples, n_outputs) target matrix, and
        the encoder (the classifier's LabelBinarizer, learnt afresh when ``fresh``)."""
        raise NotImplementedError

    def _keep_encoder(self, encoder):
        """Store the encoder as fitted attributes (after training succeeded)."""

    @staticmethod
    def _cost(encoder):
        """The Trainer's cost for targets encoded by ``encoder``."""
        raise NotImplementedError

    @staticmethod
    def _score_targets(A, Y, encoder, sample_weight):
        """The score of outputs A against encoded targets Y (validation_scores_)."""
        raise NotImplementedError

    @staticmethod
    def _stratify(Y, encoder):
        """Labels to stratify the early-stopping split by, or None."""
        return None

    # -- fitting ------------------------------------------------------------------------

    def _compute_dtype(self):
        return check_dtype(self.dtype).type

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = [sizes]
        return [check_int(n, f"hidden_layer_sizes[{i}]", minimum=1)
                for i, n in enumerate(sizes)]

    def _check_X(self, X, *, reset=False):
        X = validate_data(self, X, reset=reset, dtype=self._compute_dtype(), order="C",
                          accept_sparse="csr")
        return _writable(X)

    def _new_trainer(self, n_inputs, n_outputs, batch_size, seed, cost):
        """A Trainer for the parameters (its weight_decay is set per call of fit)."""
        kwargs = dict(learning_rate=self.learning_rate_init, batch_size=batch_size,
                      epochs=self.max_iter, threads=self.threads, seed=seed,
                      activation=_ALIASES.get(self.activation, self.activation),
                      dtype=self._compute_dtype(), optimizer=self.solver,
                      weight_decay=self.alpha, lr_schedule=self._schedule(),
                      power_t=self.power_t, shuffle=self.shuffle, dropout=self.dropout,
                      precision=self.precision,
                      progress=False)  # the estimator prints scikit-learn's lines itself
        kwargs.update({setting: getattr(self, _SOLVER_SETTINGS[setting])
                       for setting in OPTIMIZERS[self.solver].reads
                       if setting in _SOLVER_SETTINGS})
        if self.solver == "sgd":
            kwargs.update(momentum=self.momentum,
                          nesterov=bool(self.nesterovs_momentum) and self.momentum > 0)
        sizes = [n_inputs, *self._hidden_sizes(), n_outputs]
        return Trainer(sizes, cost, **kwargs)

    def _schedule(self):
        """The Trainer's lr_schedule: scikit-learn's schedules are for "sgd" only."""
        if self.solver != "sgd" and self.learning_rate in _SGD_ONLY:
            return "constant"
        return self.learning_rate

    def _fit(self, X, y, sample_weight=None, *, incremental=False, classes=None):
        check_parameters(self, self._PARAMETER_RULES, self._PARAMETER_HINTS)
        fresh = not hasattr(self, "trainer_") or (not incremental and not self.warm_start)
        X, y = validate_data(self, X, y, reset=fresh, dtype=self._compute_dtype(),
                             order="C", multi_output=True, y_numeric=self._y_numeric,
                             accept_sparse="csr")
        X = _writable(X)
        Y, encoder = self._encode(y, fresh, classes)
        weight = None
        if sample_weight is not None:
            weight = _checked_sample_weight(sample_weight, X.shape[0])
        rng = check_random_state(self.random_state)
        early_stopping = self.early_stopping and not incremental
        X_val = Y_val = weight_val = None
        if early_stopping:
            split = train_test_split(X, Y, *([] if weight is None else [weight]),
                                     test_size=self.validation_fraction, random_state=rng,
                                     stratify=self._stratify(Y, encoder))
            X, X_val, Y, Y_val = split[:4]
            if weight is not None:
                weight, weight_val = split[4:]
        n = X.shape[0]
        batch_size = min(200 if self.batch_size == "auto" else self.batch_size, n)
        # As in scikit-learn, the L2 penalty is divided by a batch's total sample weight.
        batch_weight = batch_size
        if weight is not None:
            # Weights of mean 1 over the training samples: the gradient of a batch is then
            # (about) the weighted mean of its samples'. Integer weights act as repeated
            # samples, exactly so when a batch holds all samples.
            mean = weight.mean()
            if not mean > 0:
                raise ValueError("sample_weight must not be zero for all training samples")
            weight /= mean
            batch_weight = batch_size * mean
        if fresh:
            seed = int(rng.randint(np.iinfo(np.int32).max))
            trainer = self._new_trainer(X.shape[1], Y.shape[1], batch_size, seed,
                                        self._cost(encoder))
        else:
            trainer = self.trainer_
            if Y.shape[1] != trainer.network.sizes[-1]:
                raise ValueError(f"y has {Y.shape[1]} outputs but the fitted network has "
                                 f"{trainer.network.sizes[-1]}")
            trainer.batch_size = batch_size
            trainer.shuffle = bool(self.shuffle)
        trainer.optimizer.weight_decay = (self.alpha if OPTIMIZERS[self.solver].decoupled
                                          else self.alpha / batch_weight)

        scores = []
        callbacks = []
        if early_stopping:
            def record_score(trainer, epoch, logs):
                scores.append(self._score_targets(trainer.predict_proba(X_val), Y_val,
                                                  encoder, weight_val))
            callbacks.append(record_score)
        if self.verbose:
            callbacks.append(self._printer(0 if fresh else self.n_iter_, scores))
        patience = None if incremental else self.n_iter_no_change
        history = trainer.fit(X, Y, epochs=1 if incremental else self.max_iter,
                              sample_weight=weight,
                              validation_data=(X_val, Y_val) if early_stopping else None,
                              patience=patience, monitor="val_loss" if early_stopping else "loss",
                              min_delta=self.tol, restore_best_weights=early_stopping,
                              callbacks=callbacks)

        losses = history.get("loss", [])  # none when stopped (Ctrl-C) in the first epoch
        self._keep_encoder(encoder)
        self.trainer_ = trainer
        self.n_iter_ = (0 if fresh else self.n_iter_) + len(losses)
        self.t_ = (0 if fresh else self.t_) + len(losses) * n
        self.loss_curve_ = ([] if fresh else list(self.loss_curve_)) + list(losses)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        if early_stopping:
            earlier = [] if fresh else (getattr(self, "validation_scores_", None) or [])
            self.validation_scores_ = list(earlier) + scores
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            if fresh or not incremental:
                self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)
        self.n_layers_ = trainer.network.n_layers + 1
        self.n_outputs_ = trainer.network.sizes[-1]
        self.out_activation_ = trainer.network.activations[-1]
        if self.verbose and trainer.stopped_epoch is not None:
            print(self._no_improvement() + (" Learning rate too small. Stopping."
                                            if trainer.optimizer.schedule == "adaptive"
                                            else " Stopping."))
        if (not incremental and len(losses) == self.max_iter
                and trainer.stopped_epoch is None):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          f"reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=3)
        return self

    def _no_improvement(self):
        """scikit-learn's words for a plateau."""
        watched = "Validation loss" if self.early_stopping else "Training loss"
        return (f"{watched} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs.")

    def _printer(self, n_iter, scores):
        """A callback printing each epoch as scikit-learn's verbose estimators do, and
        the rate of "adaptive" when it changes."""
        rates = []

        def print_epoch(trainer, epoch, logs):
            rates.append(logs["learning_rate"])
            if len(rates) > 1 and rates[-1] < rates[-2] and self._schedule() == "adaptive":
                print(f"{self._no_improvement()} Setting learning rate to {rates[-1]:f}")
            print(f"Iteration {n_iter + len(rates)}, loss = {logs['loss']:.8f}")
            if scores:
                print(f"Validation score: {scores[-1]:f}")
        return print_epoch

    def _forward(self, X):
        """The network's outputs A[L] for X, as float64."""
        check_is_fitted(self)
        X = self._check_X(X)
        return self.trainer_.predict_proba(X).astype(np.float64)

    # -- fitted attributes --------------------------------------------------------------

    @property
    def coefs_(self):
        check_is_fitted(self)
        return [_read_only(w.T) for w in self.trainer_.network.weights]

    @property
    def intercepts_(self):
        check_is_fitted(self)
        return [_read_only(b) for b in self.trainer_.network.biases]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # SciPy sparse X, read as CSR
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier trained by fastbp, with scikit-learn's API.

    More than two classes get a softmax output and the cross-entropy cost; two classes
    (and a single one) a sigmoid output neuron and the binary cross-entropy; a
    multi-label indicator matrix y one sigmoid output per label. Class labels may be of
    any type (strings, say).

    Parameters
    ----------
{_PARAMETERS.format(hidden=', '.join(f'"{a}"' for a in HIDDEN_ACTIVATIONS))}
    Attributes
    ----------
    classes_ : ndarray
        The class labels (for multi-label y, the indices of the labels).
{_ATTRIBUTES}
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastbp import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
    ...                     max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:1]).shape
    (1, 3)
    """

    _y_numeric = False

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multi-label indicator matrix.
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights of the samples' costs and gradients; integer weights
            count as repeated samples (see ``alpha``).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimiser state.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like, shape (n_samples,), optional
        classes : array-like, shape (n_classes,)
            All class labels that any call will see: required on the first call (when
            the estimator is not fitted yet), optional afterwards.

        Returns
        -------
        self
        """
        if not hasattr(self, "trainer_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _encode(self, y, fresh, classes=None):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        labels = unique_labels(y)
        if fresh:
            binarizer = LabelBinarizer()
            binarizer.fit(y if classes is None or multilabel else classes)
            known = binarizer.classes_
        else:
            binarizer = self._label_binarizer
            known = self.classes_
            if multilabel != (binarizer.y_type_ == "multilabel-indicator"):
                raise ValueError(f"y must be of the type seen by the first fit, "
                                 f"{binarizer.y_type_}; got {type_of_target(y)}")
            if classes is not None and not np.array_equal(unique_labels(classes), known):
                raise ValueError(f"classes={list(classes)} differs from the classes of the "
                                 f"earlier calls, {known.tolist()}")
            if self.warm_start and classes is None and not np.array_equal(labels, known):
                raise ValueError(f"warm_start can only be used where y has the same classes "
                                 f"as in the previous call to fit: previously "
                                 f"{known.tolist()}, y has {labels.tolist()}")
        unseen = np.setdiff1d(labels, known)
        if unseen.size:
            raise ValueError(f"y has labels {unseen.tolist()} that are not among the classes "
                             f"{known.tolist()}")
        Y = np.ascontiguousarray(binarizer.transform(y), dtype=self._compute_dtype())
        return Y, binarizer

    def _keep_encoder(self, encoder):
        self._label_binarizer = encoder
        self.classes_ = encoder.classes_

    @staticmethod
    def _cost(encoder):
        return "cross_entropy" if encoder.y_type_ == "multiclass" else "binary_cross_entropy"

    @staticmethod
    def _stratify(Y, encoder):
        if encoder.y_type_ == "multilabel-indicator":
            return None  # as scikit-learn: no stratification of several labels
        return Y.argmax(axis=1) if encoder.y_type_ == "multiclass" else Y[:, 0]

    @staticmethod
    def _score_targets(A, Y, encoder, sample_weight):
        if encoder.y_type_ == "multiclass":
            return accuracy_score(Y.argmax(axis=1), A.argmax(axis=1),
                                  sample_weight=sample_weight)
        return accuracy_score(Y.astype(np.int64), (A > 0.5).astype(np.int64),
                              sample_weight=sample_weight)

    def predict(self, X):
        """Class labels (for multi-label y, the indicator matrix), shape (n_samples,) or
        (n_samples, n_labels)."""
        A = self._forward(X)
        return self._label_binarizer.inverse_transform(A)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of
        ``classes_`` (two columns for two classes); for multi-label y, the probability
        of each label."""
        A = self._forward(X)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return A
        if len(self.classes_) == 1:
            return np.ones((A.shape[0], 1))
        if A.shape[1] == 1:
            return np.hstack([1 - A, A])
        return A / A.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by fastbp, with scikit-learn's API.

    An identity output layer and the quadratic cost ``1/2 ||a - y||^2``; y may have
    several columns (one output neuron each). 1-D y gives 1-D predictions.

    Parameters
    ----------
{_PARAMETERS.format(hidden=', '.join(f'"{a}"' for a in HIDDEN_ACTIVATIONS))}
    Attributes
    ----------
{_ATTRIBUTES}
    Examples
    --------
    >>> import numpy as np
    >>> from fastbp import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                    max_iter=300, random_state=0).fit(X, X.ravel() ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _y_numeric = True

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights of the samples' costs and gradients; integer weights
            count as repeated samples (see ``alpha``).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimiser state.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like, shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode(self, y, fresh, classes=None):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.array(Y, dtype=self._compute_dtype(), order="C"), None  # a writable copy

    @staticmethod
    def _cost(encoder):
        return "quadratic"

    @staticmethod
    def _score_targets(A, Y, encoder, sample_weight):
        return r2_score(Y, A, sample_weight=sample_weight)

    def predict(self, X):
        """Predictions, shape (n_samples,) for a single output, else (n_samples, n_outputs)."""
        A = self._forward(X)
        return A.ravel() if self.n_outputs_ == 1 else A

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
