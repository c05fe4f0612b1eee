"""The Trainer: mini-batch SGD over a Network, every batch shared among threads."""

import contextlib
import json
import numbers
import warnings
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from . import _compile_ahead, io
from ._config import announce_compilation
from ._exclusive import trainer_method
from ._interrupt import DeferredInterrupt
from ._saved_state import SavedState, check_optimizer_state
from ._sparse import SparseRows, as_sparse, check_sparse_inputs, is_sparse, samples_of
from ._threads import check_threads, max_threads, using_threads
from ._validation import (
    PRECISIONS,
    check_choice,
    check_dtype,
    check_inputs,
    check_int,
    check_positive_float,
    check_precision,
    check_sample_weight,
    check_targets,
)
from ._warn import warn_user
from .callbacks import (
    Callback,
    CallbackList,
    Checkpoint,
    EarlyStopping,
    History,
    ProgressBar,
    Verbose,
    check_callbacks,
)
from .comm import get_comm, usable_cores
from .distributed import DataParallelSteps
from .kernels.costs import COSTS
from .kernels.layout import aligned_zeros, biases_of, relayout, weights_of, without_inputs
from .kernels.mixed import mixed_model, mixed_table
from .kernels.step import (
    COST,
    DELTAS,
    admissible,
    backprop_batch,
    batch_totals,
    by_neuron_pays,
    gradient_step,
    parameter_magnitude,
    train_epoch,
    update_bounds,
)
from .kernels.structures import (
    NO_DROPOUT,
    NO_WEIGHTS,
    Batch,
    Dropout,
    Model,
    Optim,
    Record,
    no_update,
    workspace,
)
from .network import Network
from .optim import OPTIMIZERS, SCHEDULES, Optimizer
from .pacing import Pace

# Inputs look unscaled when max |X| exceeds UNSCALED_INPUT and their root mean square
# UNSCALED_RMS: the initialisation assumes inputs of order 1, and 0-255 pixels saturate
# or kill the first layer. The maximum alone is not enough: standardised data with heavy
# tails or rare features (pixels almost always 0) reaches 20 or 40 standard deviations,
# while its root mean square stays 1. The mean is taken over at most RMS_ROWS rows,
# evenly spaced.
UNSCALED_INPUT = 20.0
UNSCALED_RMS = 3.0
RMS_ROWS = 4096
# The first epoch's loss counts as unmoved below this relative change, checked only
# when the epoch made at least MIN_STEPS_TO_JUDGE updates (a few small steps may
# legitimately move the loss little).
UNMOVED_LOSS = 1e-4
MIN_STEPS_TO_JUDGE = 10

class TrainingDiverged(ArithmeticError):
    """Training stopped because a step's cost or update was not finite.

    The network holds the weights of the last finite step. ``epoch`` and ``step``
    (counted from 1 over the trainer's life) say where; ``loss`` is the batch's mean
    cost at that step.
    """

    def __init__(self, message, epoch, step, loss):
        super().__init__(message)
        self.epoch, self.step, self.loss = epoch, step, loss


class Trainer:
    """Trains a :class:`Network` with mini-batch stochastic gradient descent.

    Parameters
    ----------
    network : Network or sequence of int
        The network to train, or its layer sizes ``(n_0, ..., n_L)`` to build one with
        ``activation``, ``output_activation``, ``dtype`` and ``seed``.
    cost : {"cross_entropy", "binary_cross_entropy", "quadratic"}
        Cross-entropy needs a softmax output, binary cross-entropy a sigmoid output;
        the quadratic cost ``1/2 ||a - y||^2`` works with any output activation.
    learning_rate : float
        eta of the update ``W <- W - eta dC/dW``, where C is the batch mean cost.
    optimizer : {"sgd", "adam", "adamw", "rmsprop"}
        With ``momentum`` (SGD's, RMSprop's), ``nesterov``, ``beta1``, ``beta2``,
        ``epsilon`` (Adam's, AdamW's; epsilon RMSprop's too), ``rho`` (RMSprop's decay of
        the mean square), ``weight_decay`` (an L2 penalty on the weights; AdamW's
        decoupled decay ``W <- (1 - eta lambda) W``), and the learning-rate schedule
        ``lr_schedule`` ("constant", "step": times ``lr_gamma`` every ``lr_step_size``
        epochs, "cosine": annealed over ``epochs``, "invscaling": divided by (samples
        seen + 1) ** ``power_t``, "adaptive": divided by 5 each time early stopping's
        ``patience`` runs out, until 1e-6): see :class:`fastbp.optim.Optimizer`.
        The optimiser's state carries over between calls of :meth:`fit`.
    batch_size : int
        Samples per mini-batch; the last batch of an epoch may be shorter.
    epochs : int
        Epochs run by :meth:`fit` unless it is given ``epochs``.
    threads : int or None
        Threads that share each batch. None: chosen while training, by measurement,
        among 1, 2, 4, ... and all cores (``NUMBA_NUM_THREADS``), and followed as the
        load of the machine changes (see :mod:`fastbp.pacing`); ``threads_chosen`` says
        which. Results are bit-identical whatever the number.
    shuffle : bool
        Visit the samples in a new random order every epoch (False: in their order).
    seed : int or None
        Seeds the shuffling (and the network's initialisation when built from sizes):
        epoch e visits the samples in the order of the e-th
        ``np.random.default_rng(seed).permutation(n_samples)``.
    dropout : float or sequence of float in [0, 1)
        Inverted dropout on the hidden layers during training: one rate for all hidden
        layers or one per hidden layer. Each unit is dropped with that probability and
        the kept ones are scaled by 1 / (1 - rate); prediction and evaluation use the
        whole network. The masks are seeded by ``seed`` and do not depend on the number
        of threads (see :mod:`fastbp.kernels.dropout`).
    verbose : bool
        Print the loss (and accuracy) after each epoch.
    progress : bool or None
        A progress bar over epochs and over the batches of each epoch, with the running
        loss (needs ``tqdm``). None: shown when standard error is a terminal and tqdm
        is installed.
    comm : None, "mpi" or a communicator of :mod:`fastbp.comm`
        Data-parallel training across processes (see :mod:`fastbp.distributed`): every
        rank takes its shard of each global batch of ``batch_size`` samples, and one
        all-reduce per step adds the gradients. Parameters and shuffling come from rank
        0; only rank 0 prints, draws progress and writes checkpoints. With ``comm`` and
        ``threads=None``, each process gets its share of its machine's cores.
    precision : {"32", "bf16-mixed"}
        "bf16-mixed": training's three matrix products per layer (forward, BP2, BP4)
        take bfloat16 operands, rounded from float32, and accumulate in float32; the
        weights, biases, optimiser state, activations, deltas and cost stay float32,
        as does a layer of fewer than 32 neurons whole (see :mod:`fastbp.kernels.mixed`).
        Needs a float32 network, dense inputs and a CPU with AVX512-BF16 or AMX-BF16
        (``fastbp info`` lists its features); results are still bit-identical for any
        thread count. :meth:`gradients` takes the same products;
        :meth:`evaluate`, :meth:`predict` and validation run in float32 on the weights.

    Attributes
    ----------
    network : Network
    history : dict of list
        Per-epoch ``loss`` (mean cost over the epoch's samples, each taken before the
        update of its batch), ``learning_rate`` and, when training a classifier,
        ``accuracy``, over all calls of :meth:`fit`.
    stopped_epoch, best_epoch : int or None
        When the last :meth:`fit` stopped early (``patience``): the epoch it stopped
        at, and the epoch with the best monitored value, whose weights were restored
        with ``restore_best_weights`` (both counted from 1 over the trainer's life, as
        the verbose table); None otherwise.
    """

    def __init__(self, network, cost="cross_entropy", *, learning_rate=0.1, batch_size=32,
                 epochs=10, threads=None, seed=None, activation="relu",
                 output_activation=None, dtype=np.float32, optimizer="sgd", momentum=0.0,
                 nesterov=False, beta1=0.9, beta2=0.999, epsilon=1e-8, rho=0.99,
                 weight_decay=0.0,
                 lr_schedule="constant", lr_step_size=10, lr_gamma=0.1, power_t=0.5,
                 dropout=0.0, shuffle=True, verbose=False, progress=None, comm=None,
                 precision="32"):
        self.cost = check_choice(cost, COSTS, "cost")
        if isinstance(network, Network):
            self.network = network
        elif isinstance(network, Sequence) and not isinstance(network, (str, bytes)):
            self.network = Network(network, activation,
                                   output_activation or COSTS[cost].output,
                                   dtype=check_dtype(dtype), seed=seed)
        else:
            raise TypeError(f"network must be a Network or a sequence of layer sizes; "
                            f"got {network!r}")
        self.precision = check_precision(precision, self.network.dtype)
        required = COSTS[cost].output
        if COSTS[cost].needs_output and self.network.activations[-1] != required:
            raise ValueError(f"cost={cost!r} needs a {required} output layer; the network's "
                             f"output activation is {self.network.activations[-1]!r}")
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.epochs = check_int(epochs, "epochs", minimum=0)
        self.optimizer = Optimizer(optimizer, learning_rate, momentum=momentum,
                                   nesterov=nesterov, beta1=beta1, beta2=beta2, epsilon=epsilon,
                                   rho=rho,
                                   weight_decay=weight_decay, schedule=lr_schedule,
                                   step_size=lr_step_size, gamma=lr_gamma,
                                   horizon=max(self.epochs, 1), power_t=power_t)
        self.comm = get_comm(comm)
        if threads is None and self.comm.size > 1:  # no oversubscription
            threads = max(1, min(max_threads(), usable_cores() // self.comm.processes_on_node))
        self.threads = check_threads(threads)
        # threads=None: each call's count chosen by measurement, up to self.threads.
        self._pace = Pace(None if threads is None else self.threads, self.threads,
                          work=6.0 * self.network.n_params * self.batch_size)
        self.seed = seed
        self.shuffle = bool(shuffle)
        self.dropout = _check_dropout(dropout, self.network.n_layers - 1)
        # The masks' seed: from the user's seed, but a stream apart from the shuffling.
        self._drop_seed = int(np.random.SeedSequence(seed).generate_state(2, np.uint32)
                              .view(np.uint64)[0] >> np.uint64(1))
        self.verbose = bool(verbose)
        self.progress = progress if progress is None else bool(progress)
        ProgressBar.check(self.progress)
        self.history = {"loss": []}
        self.stopped_epoch = self.best_epoch = None
        self._rng = np.random.default_rng(seed)
        self._workspaces = {}
        self._operands = {}  # bf16-mixed: (mtable, w16, ops) per batch size
        self._sums = None  # bf16-mixed with plain SGD: the batch sums

    # -- data ---------------------------------------------------------------------------

    def _check_data(self, X, y, return_max=False):
        """(X, Y, whether y holds labels), converted; with ``return_max`` also max |X|.
        A SciPy sparse X comes back as ``SparseRows`` (see :mod:`fastbp._sparse`)."""
        net = self.network
        if is_sparse(X):
            X, x_max = check_sparse_inputs(X, net.sizes[0], net.dtype)
        else:
            X, x_max = check_inputs(X, net.sizes[0], net.dtype, return_max=True)
        Y, labels = check_targets(y, X.shape[0], net.sizes[-1], net.dtype,
                                  float_labels=self.cost != "quadratic")
        checked = X, Y, labels or self.cost != "quadratic"
        return checked + (x_max,) if return_max else checked

    def _workspace(self, cap, threads, sparse=False):
        """A ``kernels.structures.Workspace`` for batches of up to ``cap`` samples on
        ``threads`` threads (of ``sparse`` inputs: no room for A[0]). Its buffers are
        allocated once per (layer sizes, batch size, dtype, kind of inputs) for
        ``self.threads``, the most any call uses; training's and evaluation's stay."""
        net = self.network
        mixed = self.precision == "bf16-mixed"
        ws = _kept(self._workspaces, (cap, net.sizes, net.dtype, self.threads, sparse, mixed),
                   lambda: workspace(without_inputs(net._table) if sparse else net._table, cap,
                                     net.dtype, self.threads,
                                     n_features=net.sizes[0] if sparse else 0, mixed=mixed))
        return ws._replace(n_shards=threads)

    def _kernel_data(self, X, Y, weight, order, cap, threads, products=True):
        """(model, samples, workspace) as the kernels take them, for checked inputs X
        (dense X read as CSR where W[1] is stored feature-major); with ``products``
        false, float32 products whatever ``precision`` says (evaluation)."""
        net = self.network
        if isinstance(X, np.ndarray) and net.feature_major:
            X = as_sparse(X)
        sparse = isinstance(X, SparseRows)
        model = Model(net.params, net._table_for(X), COSTS[self.cost].code)
        if products and self.precision == "bf16-mixed":
            if sparse:
                raise ValueError("precision='bf16-mixed' trains on dense X only; use "
                                 "precision='32' for sparse inputs")
            model = self._mixed_model(model, cap)
        return model, samples_of(X, Y, weight, order), self._workspace(cap, threads, sparse)

    def _mixed_model(self, model, cap):
        """``model`` with its bfloat16 operands for batches of up to ``cap`` samples
        (allocated once per batch size, the last two kept)."""
        def make():
            mtable, w_words, op_words = mixed_table(model.table, cap)
            return mtable, aligned_zeros(w_words, np.uint32), aligned_zeros(op_words, np.uint32)

        mtable, w16, ops = _kept(self._operands, (cap, self.network.sizes), make)
        return mixed_model(model, w16, ops, mtable)

    def _optim(self, hyper):
        """The optimiser as the kernels take it, with its state for this network."""
        opt = self.optimizer
        net = self.network
        grad, state1, state2 = opt.buffers(net.params.size, net.dtype)
        if self.precision == "bf16-mixed" and opt.fused:  # no fused SGD: sums in grad
            grad = self._sums_buffer()
        return Optim(opt.code, hyper, opt.t, grad, state1, state2)

    def _sums_buffer(self):
        """A buffer for the gradient's batch sums, where the optimiser keeps none."""
        size = self.network.params.size
        if self._sums is None or self._sums.size != size:
            self._sums = aligned_zeros(size, self.network.dtype)
        return self._sums

    # -- training -----------------------------------------------------------------------

    @trainer_method(changes_network=True)
    def fit(self, X, y, *, epochs=None, sample_weight=None, class_weight=None,
            validation_data=None, validation_split=0.0, patience=None, monitor=None,
            min_delta=0.0, restore_best_weights=True, callbacks=(), checkpoint=None,
            checkpoint_every=1, resume=None, on_divergence="raise", verbose=None,
            progress=None):
        """Train for ``epochs`` epochs (default: ``self.epochs``), continuing from the
        network's current weights and the optimiser's state.

        Parameters
        ----------
        X : array-like or SciPy sparse matrix, shape (n_samples, n_0)
            A sparse X is read as CSR, in place (another format is converted once), and
            the first layer is trained on its nonzeros, with W[1] stored feature-major
            (see :mod:`fastbp.kernels.sparse` and ``docs/design.md``, "Sparse inputs",
            for how the optimisers treat the features absent from a batch).
        y : array-like, shape (n_samples,) or (n_samples, n_L)
            Integer class labels (one-hot encoded internally), or the target matrix. A
            1-D float y is one target of values for the quadratic cost (as scikit-learn's
            regressors read it), class labels for the cross-entropies.
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights: a sample's cost and its share of the gradient are
            multiplied by its weight (the batch's sum is still divided by the batch size).
        class_weight : dict or "balanced", optional
            Weights per class label (integer labels only), multiplied into
            ``sample_weight``; "balanced" gives class c the weight
            n_samples / (n_classes * count(c)), as in scikit-learn.
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch: ``val_loss`` (and ``val_accuracy``) in the history.
        validation_split : float in [0, 1)
            Alternatively, hold out this fraction of the samples (the last ones, before
            any shuffling) as validation data.
        patience : int, optional
            Early stopping: stop when ``monitor`` has not improved by more than
            ``min_delta`` for this many epochs; with ``restore_best_weights`` the weights
            of the best epoch are put back.
        monitor : str, optional
            A history key: ``val_loss`` (default when there is validation data), ``loss``,
            ``accuracy`` or ``val_accuracy`` (the accuracies are maximised).
        callbacks : iterable of :class:`fastbp.Callback` or callables
            Callback objects (see :mod:`fastbp.callbacks`: ``on_train_begin``,
            ``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end``, ``on_train_end``), and
            plain functions, each called as ``callback(trainer, epoch, logs)`` after every
            epoch, ``logs`` holding that epoch's values. Setting ``trainer.stop_training =
            True`` stops at the end of the epoch. A callback that overrides
            ``on_batch_end`` makes every compiled call run one batch, so that it is
            called after every batch.
        checkpoint : str or os.PathLike, optional
            Write the whole training state (as :meth:`save`, plus this call's progress
            and the early-stopping state) to this file every ``checkpoint_every`` epochs
            and at the end, atomically: a crash or kill at any moment leaves the previous
            checkpoint or the new one, never a damaged file.
        resume : str or os.PathLike, optional
            A checkpoint to continue from: its weights, optimiser and shuffling state and
            history replace this trainer's, and the epochs it had completed of its call
            count towards ``epochs``. The same data and settings then give weights
            bit-identical to a run that was never interrupted.
        on_divergence : {"raise", "stop"}
            When a step's cost is not finite or its update would not be (see
            :func:`fastbp.kernels.step.train_epoch`), training stops with the weights of
            the last finite step; "raise" then raises :class:`TrainingDiverged`, "stop"
            returns the history and records where in ``self.diverged``.
        verbose, progress : bool or None
            Override the constructor's ``verbose`` and ``progress`` for this call
            (None: the constructor's).

        Returns
        -------
        dict of list
            Per epoch of this call: ``loss``, ``learning_rate``, and as they apply
            ``accuracy``, ``val_loss``, ``val_accuracy``.

        Notes
        -----
        A RuntimeWarning says when X looks unscaled (max |X| above 20 and root mean
        square above 3: standardised data stays near 1), and when the
        trainer's first epoch left its loss where it started: the mean cost of the
        epoch's first mini-batch, measured before the first update and again after the
        epoch, changed by less than 1e-4 relative (judged when the epoch made at least
        10 updates). When early stopping stops, ``stopped_epoch`` and ``best_epoch``
        (counted from 1 over the trainer's life) say which epoch stopped and which
        epoch's weights were kept; with ``verbose`` a line says so.

        Ctrl-C stops training after the step under way and returns the history so far;
        ``self.interrupted`` is then True and the model holds the weights of the last
        completed step (a second Ctrl-C interrupts at once).
        """
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", minimum=0)
        verbose = self.verbose if verbose is None else bool(verbose)
        progress = self.progress if progress is None else bool(progress)
        check_choice(on_divergence, {"raise", "stop"}, "on_divergence")
        bar = ProgressBar(progress)
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
        run = self._fit_data(X, y, sample_weight, class_weight, validation_data,
                             validation_split)
        stopper = EarlyStopping(patience, monitor, min_delta, restore_best_weights, verbose)
        stopper.check_monitor(run.validation is not None)
        given = check_callbacks(callbacks)
        first_epoch = 0 if resume is None else self._resume(resume, stopper)
        self._start_run(run)
        history = History()
        saver = None if checkpoint is None else Checkpoint(checkpoint, checkpoint_every, stopper)
        callbacks = CallbackList(
            [history, bar, Verbose() if verbose else None,
             self._first_epoch_check(run, first_epoch, epochs), *given, stopper, saver],
            run.n, run.cap, run.classification)
        logs = {}
        announce_compilation(train_epoch)
        self._compile_ahead(run)
        with DeferredInterrupt() as interrupt, contextlib.closing(bar):
            callbacks.on_train_begin(self, {"epochs": epochs, "initial_epoch": first_epoch,
                                            "steps": run.n_batches})
            for epoch in range(first_epoch, epochs):
                logs = {"learning_rate": self.optimizer.learning_rate_at(self.optimizer.epoch)}
                run.order = (self._rng.permutation(run.n) if self.shuffle
                             else np.arange(run.n, dtype=np.int64))
                callbacks.on_epoch_begin(self, epoch, logs)
                if not self._train_epoch(run, logs, callbacks, interrupt):
                    break
                if run.validation is not None:
                    result = self._evaluate_checked(*run.validation)
                    logs.update({f"val_{key}": value for key, value in result.items()})
                callbacks.on_epoch_end(self, epoch, logs)
                if self.stop_training or interrupt.interrupted:
                    break
        self.interrupted = interrupt.interrupted
        callbacks.on_train_end(self, logs)
        self._report_end(on_divergence)
        return history.history

    def _fit_data(self, X, y, sample_weight, class_weight, validation_data, validation_split):
        """``fit``'s data checked and converted, the validation data held out, as a
        namespace: X, Y, classification, x_max, weight, validation (or None)."""
        X, Y, classification, x_max = self._check_data(X, y, return_max=True)
        self._lay_out_for(X)
        rms = _root_mean_square(X) if x_max is not None and x_max > UNSCALED_INPUT else 0.0
        if rms > UNSCALED_RMS:
            warn_user(f"X looks unscaled: max |X| is {x_max:g} and its root mean square "
                      f"{rms:.3g}, while the network's initialisation expects inputs of "
                      f"order 1, and training may stall. Scale X, e.g. divide pixels by 255 "
                      f"or use sklearn.preprocessing.StandardScaler.")
        weight = check_sample_weight(sample_weight, class_weight, y, X.shape[0])
        validation = self._validation(X, Y, validation_data, validation_split)
        if validation_split:
            n_val = validation[0].shape[0]
            X, Y = X[:-n_val], Y[:-n_val]
            weight = weight[:-n_val] if weight.size else weight
        return SimpleNamespace(X=X, Y=Y, classification=classification, x_max=x_max,
                               weight=weight, validation=validation)

    def _compile_ahead(self, run):
        """On a cold kernel cache, the step's kernels for this fit compiled in two
        processes (see ``_compile_ahead``)."""
        if self.comm.size > 1 or not _compile_ahead.wanted(train_epoch):
            return
        order = np.arange(run.n, dtype=np.int64)
        model, samples, ws = self._kernel_data(run.X, run.Y, run.weight, order, run.cap, 1)
        opt = self._optim(self.optimizer.hyper(self.optimizer.epoch))
        batch = Batch(0, run.cap, 1)  # as train_epoch passes them: int64s, float64s
        by_neuron = True if self._by_neuron_for(self._pace.best, run.X) else None
        t, g_max = np.int64(1), 0.0
        _compile_ahead.compile_in_two(
            # small kernels that admissible and train_epoch call, first: in the cache
            # before this process, done with backprop_batch, types the calls to them
            helper=[(update_bounds, (opt.code, opt.hyper, t, g_max, g_max, g_max)),
                    (batch_totals, (ws, t, g_max)),
                    (gradient_step, (model, samples, ws, opt, batch))],
            here=[(backprop_batch, (model, samples, ws, run.drop, batch, np.int64(DELTAS),
                                    by_neuron)),
                  (parameter_magnitude, (model.params, opt.state1, opt.state2, opt.code,
                                         ws.magnitude, ws.n_shards)),
                  (admissible, (model, ws, opt, 0.0, 0.0, 0, 0))])

    def _start_run(self, run):
        """Buffers of a ``fit`` call (added to ``run``), its flags reset, and with
        ``comm`` every rank given rank 0's state."""
        run.n = n = run.X.shape[0]
        run.cap = cap = min(self.batch_size, n)
        run.n_batches = n_batches = -(-n // cap)
        run.record = Record(np.zeros(n_batches), np.zeros(n_batches, dtype=np.int64))
        run.drop = self._dropout()
        self.stop_training = self.interrupted = False
        self.diverged = None
        self.stopped_epoch = self.best_epoch = None
        run.parallel = None
        if self.comm.size > 1:
            run.parallel = DataParallelSteps(self.comm, cap, self.network.params.size,
                                             self.network.dtype)
            self._share_state_of_rank_0()

    def _train_epoch(self, run, logs, callbacks, interrupt):
        """The epoch's batches in compiled calls (as ``self._pace`` cuts them, with
        ``on_batch_end`` after each); its loss and accuracy added to ``logs``. False when
        it did not complete: a step diverged, or Ctrl-C."""
        opt, n, cap, n_batches = self.optimizer, run.n, run.cap, run.n_batches
        batch_cost, batch_correct = run.record
        optim = self._optim(opt.hyper(opt.epoch))
        calls = self._pace.calls(n_batches, callbacks.batches_per_call(n_batches))
        # One process runs the steps in compiled code, several the same steps around an
        # all-reduce (see fastbp.distributed); the arguments are the same.
        run_steps, ws_cap = train_epoch, cap
        if run.parallel is not None:
            run_steps, ws_cap = run.parallel.run, run.parallel.local_cap
        for b0, b1, threads in calls:
            model, samples, ws = self._kernel_data(run.X, run.Y, run.weight, run.order, ws_cap,
                                                   threads)
            with using_threads(threads):
                done = run_steps(model, samples, optim._replace(t=opt.t), ws, run.drop,
                                 run.record, b0, b1, run.x_max,
                                 True if self._by_neuron_for(threads, run.X) else None)
            opt.t += done - b0
            if done < b1:
                self.diverged = {"epoch": opt.epoch + 1, "step": opt.t + 1,
                                 "loss": float(batch_cost[done] / min(cap, n))}
                return False
            callbacks.on_batches_end(self, b0, b1, batch_cost, batch_correct)
            if interrupt.interrupted and b1 < n_batches:
                return False
        opt.epoch += 1
        opt.samples += n
        logs["loss"] = float(batch_cost.sum() / n)
        if run.classification:
            logs["accuracy"] = float(batch_correct.sum() / n)
        if run.parallel is not None:  # mean all-reduce time per step
            logs["allreduce_seconds"] = run.parallel.allreduce_seconds / n_batches
            run.parallel.allreduce_seconds = 0.0
        return True

    def _first_epoch_check(self, run, first_epoch, epochs):
        """The callback that warns when the trainer's first epoch leaves its loss where it
        started, or None where that is not judged (after training, on one rank of
        several, with few steps, or with no epoch to run)."""
        if (self.history.get("loss") or self.optimizer.epoch or self.comm.size > 1
                or run.n_batches < MIN_STEPS_TO_JUDGE or epochs <= first_epoch):
            return None
        return _UnmovedLoss(run)

    def _report_end(self, on_divergence):
        """Raise (``on_divergence="raise"``) or warn when training diverged; warn when
        Ctrl-C interrupted it."""
        if self.diverged is not None:
            where = self.diverged
            message = (f"training diverged at epoch {where['epoch']}, step {where['step']}: "
                       f"the cost was not finite or the update too large (batch loss "
                       f"{where['loss']:.4g}); the weights are those of the last finite step. "
                       f"Try a lower learning_rate (now {self.learning_rate:g}).")
            if on_divergence == "raise":
                raise TrainingDiverged(message, **where)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        elif self.interrupted:
            warnings.warn(f"training interrupted (Ctrl-C) during epoch "
                          f"{self.optimizer.epoch + 1} after step {self.optimizer.t}; the "
                          f"model holds the weights of that step", RuntimeWarning, stacklevel=3)

    def _loss_of(self, X, Y, classification):
        """Mean cost of the current network on a few checked samples."""
        if not isinstance(X, SparseRows):
            X = np.ascontiguousarray(X, dtype=self.network.dtype)  # rows of a memmap too
        return self._evaluate_checked(X, Y, classification)["loss"]

    def _warn_if_unmoved(self, before, after):
        if before > 0 and abs(after - before) < UNMOVED_LOSS * before:
            warn_user(f"the training loss has not moved in the first epoch: the first "
                      f"mini-batch's loss was {before:.6g} before training and {after:.6g} "
                      f"after the epoch (relative change below {UNMOVED_LOSS:g}). Check "
                      f"that X is scaled and try a larger learning_rate (now "
                      f"{self.learning_rate:g}).")

    @property
    def threads_chosen(self):
        """The thread count training runs on now: ``threads``, or with ``threads=None`` the
        fastest count measured so far (before anything is measured, the count the work
        of a batch calls for, up to the cores free then; see :mod:`fastbp.pacing`)."""
        return self._pace.best

    def _by_neuron_for(self, threads, X):
        """Whether to share layers by neurons (see ``kernels.step.BY_NEURON_MIN_WEIGHTS``)
        for inputs X; the first layer of sparse inputs does not count: its work is the
        batch's nonzeros times n_1, not n_0 n_1."""
        table = self.network._table
        if isinstance(X, SparseRows):
            table = table[1:]
        return table.shape[0] > 0 and by_neuron_pays(table, threads)

    def _lay_out_for(self, X):
        """Store W[1] feature-major for sparse X, row-major for dense X (see
        :attr:`Network.feature_major`), converting the optimiser's state with it."""
        net, opt = self.network, self.optimizer
        old = net._lay_out(isinstance(X, SparseRows))
        if old is not None and opt.state is not None:
            opt.state = tuple(relayout(buffer, old, net._table) for buffer in opt.state)

    def _share_state_of_rank_0(self):
        """Give every rank rank 0's parameters, optimiser state, shuffling and dropout
        seed (they are equal after the first fit; this makes them equal before it)."""
        comm, opt = self.comm, self.optimizer
        comm.bcast(self.network.params)
        if opt.state is not None:
            for buffer in opt.state[1:]:
                comm.bcast(buffer)
        state = comm.bcast_object((self._rng.bit_generator.state, self._drop_seed, opt.t,
                                   opt.epoch, opt.samples, opt.scale))
        (self._rng.bit_generator.state, self._drop_seed, opt.t, opt.epoch, opt.samples,
         opt.scale) = state

    def _dropout(self):
        """Dropout as the kernels take it: a rate per layer row (the output layer's is
        0), or none when nothing is dropped."""
        rates = np.zeros(self.network.n_layers)
        rates[:-1] = self.dropout
        return Dropout(rates, self._drop_seed) if rates.any() else NO_DROPOUT

    def partial_fit(self, X, y, *, sample_weight=None, class_weight=None):
        """One pass over (X, y), continuing from the current weights and optimiser
        state: for data that arrives in parts. Returns that pass's history entry."""
        return self.fit(X, y, epochs=1, sample_weight=sample_weight, class_weight=class_weight)

    def _validation(self, X, Y, validation_data, validation_split):
        """(X_val, Y_val, labels) checked and converted, or None."""
        if validation_data is not None:
            if validation_split:
                raise ValueError("give validation_data or validation_split, not both")
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a pair (X_val, y_val)")
            return self._check_data(*validation_data)
        if (isinstance(validation_split, (bool, np.bool_))
                or not isinstance(validation_split, numbers.Real)):
            raise TypeError(f"validation_split must be a number; got {validation_split!r}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {validation_split}")
        if not validation_split:
            return None
        n_val = round(validation_split * X.shape[0])
        if not 0 < n_val < X.shape[0]:
            raise ValueError(f"validation_split={validation_split} leaves no samples for "
                             f"{'validation' if n_val == 0 else 'training'}")
        labels = self.cost != "quadratic"
        return X[-n_val:], Y[-n_val:], labels

    @trainer_method(changes_network=False)
    def gradients(self, X, y):
        """dC/dW[l] and dC/db[l] of the mean cost over all of X as one batch; no update
        (and no dropout).

        Returns
        -------
        (list of ndarray, list of ndarray)
            Gradients shaped like ``network.weights`` and ``network.biases``.
        """
        X, Y, _ = self._check_data(X, y)
        net = self.network
        n = X.shape[0]
        grad = aligned_zeros(net.params.size, net.dtype)
        threads = self.threads_chosen
        model, samples, ws = self._kernel_data(X, Y, NO_WEIGHTS, np.arange(n, dtype=np.int64),
                                               n, threads)
        with using_threads(threads):
            backprop_batch(model, samples, ws, NO_DROPOUT, Batch(0, n, 0), DELTAS, None)
            gradient_step(model, samples, ws, no_update(self.optimizer.hyper(0), grad),
                          Batch(0, n, 0))
        grad = grad / n  # the kernels leave batch sums
        L = net.n_layers
        return ([weights_of(grad, net._table, l) for l in range(L)],
                [biases_of(grad, net._table, l) for l in range(L)])

    # -- using the trained network ------------------------------------------------------

    def predict_proba(self, X):
        """The output activations A[L], shape (n_samples, n_L)."""
        return self.network.forward(X, threads=self.threads_chosen)

    def predict(self, X):
        """Class labels for classifiers (softmax or sigmoid output), A[L] otherwise."""
        if self.network.activations[-1] in ("softmax", "sigmoid"):
            return self.network.predict(X, threads=self.threads_chosen)
        return self.network.forward(X, threads=self.threads_chosen)

    @trainer_method(changes_network=False)
    def evaluate(self, X, y):
        """Mean cost and, for class labels or a cross-entropy cost, accuracy on (X, y)."""
        return self._evaluate_checked(*self._check_data(X, y))

    def _evaluate_checked(self, X, Y, classification):
        n = X.shape[0]
        cap = min(n, 1024)
        total, correct = 0.0, 0
        threads = self.threads_chosen
        model, samples, ws = self._kernel_data(X, Y, NO_WEIGHTS, np.arange(n, dtype=np.int64),
                                               cap, threads, products=False)
        with using_threads(threads):
            for start in range(0, n, cap):
                m = min(cap, n - start)
                backprop_batch(model, samples, ws, NO_DROPOUT, Batch(start, m, 0), COST, None)
                total += float(ws.cost[:m].sum())
                correct += int(ws.correct[:m].sum())
        result = {"loss": total / n}
        if classification:
            result["accuracy"] = correct / n
        return result

    @trainer_method(changes_network=False)
    def score(self, X, y):
        """Accuracy for class labels (as scikit-learn classifiers), R^2 for targets."""
        X_checked, Y, labels = self._check_data(X, y)
        if labels:
            return self.evaluate(X, y)["accuracy"]
        a = self.network.forward(X_checked, threads=self.threads_chosen).astype(np.float64)
        Y = Y.astype(np.float64)
        residual = ((Y - a) ** 2).sum()
        total = ((Y - Y.mean(axis=0)) ** 2).sum()
        return float(1 - residual / total) if total > 0 else 0.0

    # -- files --------------------------------------------------------------------------

    _SETTINGS = ("learning_rate", "batch_size", "epochs", "threads", "shuffle", "precision")
    _OPTIMIZER_SETTINGS = ("name", "momentum", "nesterov", "beta1", "beta2", "epsilon", "rho",
                           "weight_decay", "schedule", "step_size", "gamma", "horizon",
                           "power_t")

    # Prefixes of the names the trainer itself writes under extra/.
    _OWN_PREFIXES = ("history_", "run_", "stopper_", "optimizer_")

    @trainer_method(changes_network=False)
    def save(self, path, *, extra=None):
        """Write the network, the cost, the settings and the optimiser's state (with the
        shuffling generator's) to a self-describing ``.npz`` file, atomically; see
        :mod:`fastbp.io`. :meth:`load` continues training exactly where this left off.

        ``extra``: entries of the caller's own (class names, say), stored as
        ``extra/<name>`` and read back with :func:`fastbp.io.load`; a name the trainer
        writes itself is refused."""
        self._save(path, extra=extra)

    def _save(self, path, run=None, stopper=None, extra=None):
        """``save``, with a checkpoint's progress of its ``fit`` call (``run``), the
        early-stopping state and the caller's ``extra`` entries."""
        callers = extra or {}
        opt = self.optimizer
        extra = {key: getattr(self, key) for key in self._SETTINGS}
        extra["threads"] = 0 if self._pace.adaptive else self.threads  # 0: threads=None
        extra.update({f"optimizer_{key}": getattr(opt, key) for key in self._OPTIMIZER_SETTINGS})
        extra.update(optimizer_t=opt.t, optimizer_epoch=opt.epoch,
                     optimizer_samples=opt.samples, optimizer_scale=opt.scale,
                     rng_state=json.dumps(self._rng.bit_generator.state),
                     dropout=np.asarray(self.dropout, dtype=np.float64),
                     dropout_seed=self._drop_seed)
        for key, values in self.history.items():
            extra[f"history_{key}"] = np.asarray(values, dtype=np.float64)
        for key, value in (run or {}).items():
            extra[f"run_{key}"] = value
        # Files hold W[1] row-major (see Network.feature_major): the best weights and the
        # optimiser's state too.
        if stopper is not None:
            extra.update(stopper.state())
            if "stopper_best_params" in extra:
                extra["stopper_best_params"] = self.network._row_major(
                    extra["stopper_best_params"])
        state = {}
        if opt.state is not None:
            state = {"state1": self.network._row_major(opt.state[1]),
                     "state2": self.network._row_major(opt.state[2])}
        clashes = sorted(key for key in callers
                         if key in extra or str(key).startswith(self._OWN_PREFIXES))
        if clashes:
            raise ValueError(f"extra names {clashes} are the trainer's own; choose others")
        io.save(self.network, path, cost=self.cost, optimizer_state=state,
                extra={**extra, **callers})

    @classmethod
    def load(cls, path, *, threads=None, precision=None):
        """A Trainer from a file written by :meth:`save` (or a network saved with
        :func:`fastbp.io.save`, which gets default settings). ``threads`` overrides the
        saved thread count (results do not depend on it), ``precision`` the saved
        precision (say "32" on a CPU without AVX512-BF16). Every saved setting and state
        is checked; a wrong one is a :class:`fastbp.ModelFileError` naming it."""
        return cls._from_loaded(io.load(path), path, threads, precision)

    @classmethod
    def _from_loaded(cls, model, path, threads=None, precision=None):
        """``load`` of a file already read by :func:`fastbp.io.load`."""
        if threads is not None:
            threads = check_threads(threads)
        if "learning_rate" not in model.extra:  # a network saved by fastbp.io.save
            implied = {c.output: name for name, c in COSTS.items()}
            cost = model.cost or implied.get(model.network.activations[-1], "quadratic")
            return cls(model.network, cost, threads=threads, precision=precision or "32")
        if model.cost is None:
            raise io.ModelFileError(f"{path!s}: a trainer's file must hold its cost")
        saved = SavedState(model, path)
        try:
            return cls._from_settings(model, saved, threads, precision)
        except io.ModelFileError:
            raise
        except (TypeError, ValueError) as error:  # settings valid alone, not together
            raise io.ModelFileError(f"{path!s}: its training settings are not valid "
                                    f"({error})") from None

    @classmethod
    def _from_settings(cls, model, saved, threads, precision):
        inf = np.inf
        fraction = {"high_open": True}
        positive = {"low_open": True, "high_open": True}
        dropout = 0.0  # one rate, or one per hidden layer
        if "dropout" in saved:
            dropout = (saved.floats("dropout").tolist() if np.ndim(saved.extra["dropout"])
                       else saved.real("dropout", 0, 1, high_open=True))
        trainer = cls(
            model.network, model.cost,
            learning_rate=saved.real("learning_rate", 0, inf, **positive),
            batch_size=saved.integer("batch_size", 1), epochs=saved.integer("epochs"),
            # 0: chosen by the trainer (threads=None)
            threads=threads or min(saved.integer("threads", 0), max_threads()) or None,
            optimizer=saved.choice("optimizer_name", OPTIMIZERS, default="sgd"),
            momentum=saved.real("optimizer_momentum", 0, 1, default=0.0, **fraction),
            nesterov=saved.flag("optimizer_nesterov", default=False),
            beta1=saved.real("optimizer_beta1", 0, 1, default=0.9, **fraction),
            beta2=saved.real("optimizer_beta2", 0, 1, default=0.999, **fraction),
            epsilon=saved.real("optimizer_epsilon", 0, inf, default=1e-8, **positive),
            rho=saved.real("optimizer_rho", 0, 1, default=0.99, **fraction),
            weight_decay=saved.real("optimizer_weight_decay", 0, inf, default=0.0,
                                    high_open=True),
            lr_schedule=saved.choice("optimizer_schedule", SCHEDULES, default="constant"),
            lr_step_size=saved.integer("optimizer_step_size", 1, default=10),
            lr_gamma=saved.real("optimizer_gamma", 0, inf, default=0.1, **positive),
            power_t=saved.real("optimizer_power_t", 0, inf, default=0.5, high_open=True),
            shuffle=saved.flag("shuffle", default=True), dropout=dropout,
            precision=precision or saved.choice("precision", PRECISIONS, default="32"))
        opt = trainer.optimizer
        opt.horizon = saved.integer("optimizer_horizon", 1, default=opt.horizon)
        trainer._restore_state(model, saved)
        return trainer

    def _restore_state(self, model, saved):
        """Take the training state (optimiser, shuffling, dropout seed, history) from a
        loaded file whose network matches this trainer's (``saved``: its
        :class:`SavedState`). Every value is checked before any is taken."""
        opt = self.optimizer
        drop_seed = saved.integer("dropout_seed", 0, 2**63 - 1, default=self._drop_seed)
        t, epoch = saved.integer("optimizer_t"), saved.integer("optimizer_epoch")
        samples = saved.integer("optimizer_samples", default=0)
        scale = saved.real("optimizer_scale", 0, 1, low_open=True, default=1.0)
        rng_state = saved.rng_state("rng_state")
        history = {key[len("history_"):]: list(map(float, saved.floats(key, finite=False)))
                   for key in saved.extra if key.startswith("history_")}
        state = None
        if model.optimizer_state:
            unknown = sorted(set(model.optimizer_state) - {"state1", "state2"})
            if unknown:
                raise io.ModelFileError(f"{saved.path!s}: opt/ entries {unknown} are not "
                                        f"a state of any optimizer (state1, state2)")
            state = [check_optimizer_state(model, name, saved.path)
                     for name in ("state1", "state2")]
            rule = OPTIMIZERS[opt.name]
            if rule.squares and (state[1] < 0).any():
                raise io.ModelFileError(f"{saved.path!s}: opt/state2 holds {opt.name}'s "
                                        f"{rule.state[1]}, which must be >= 0")
        self._drop_seed, opt.t, opt.epoch = drop_seed, t, epoch
        opt.samples, opt.scale = samples, scale
        if state is not None and not opt.fused:  # plain SGD keeps no state
            _, state1, state2 = opt.buffers(self.network.params.size, model.network.dtype)
            state1[...], state2[...] = (relayout(buffer, model.network._table, self.network._table)
                                        for buffer in state)
        self._rng.bit_generator.state = rng_state
        self.history = history

    def _resume(self, path, stopper):
        """Load a checkpoint written by ``fit`` into this trainer; returns the epochs of
        its ``fit`` call that it had completed."""
        model = io.load(path)
        saved = SavedState(model, path)
        net, loaded = self.network, model.network
        mismatches = [
            f"{what} {theirs!r} (this trainer: {ours!r})"
            for what, theirs, ours in (
                ("layer sizes", loaded.sizes, net.sizes),
                ("activations", loaded.activations, net.activations),
                ("dtype", loaded.dtype.name, net.dtype.name),
                ("cost", model.cost, self.cost),
                ("optimizer", saved.choice("optimizer_name", OPTIMIZERS, default=None),
                 self.optimizer.name),
                ("batch_size", saved.integer("batch_size", 1, default=None), self.batch_size))
            if theirs != ours]
        if mismatches or "rng_state" not in saved:
            raise ValueError(f"resume={path!s} does not hold a training state of this trainer: "
                             + ("; ".join(mismatches) or "it holds a network only"))
        stopper.restore_state(saved, loaded)  # in the file's layout, row-major
        if stopper.best_params is not None:
            stopper.best_params = relayout(stopper.best_params, loaded._table, net._table)
        self._restore_state(model, saved)
        net.params[...] = relayout(loaded.params, loaded._table, net._table)
        if "run_epoch" not in saved:
            return 0
        if saved.flag("run_finished"):
            return saved.integer("run_epochs")
        return saved.integer("run_epoch")

    def __getstate__(self):  # scratch buffers, rebuilt on demand
        return {**self.__dict__, "_workspaces": {}, "_operands": {}, "_sums": None}

    def __setstate__(self, state):
        self.__dict__.update({"precision": "32", "_operands": {}, "_sums": None, **state})

    def __repr__(self):
        return (f"Trainer({self.network!r}, cost={self.cost!r}, "
                f"learning_rate={self.learning_rate}, "
                f"batch_size={self.batch_size}, threads={self.threads})")


class _UnmovedLoss(Callback):
    """Warns when the trainer's first epoch leaves the loss of the epoch's first
    mini-batch where it was before the epoch (``UNMOVED_LOSS``)."""

    def __init__(self, run):
        self.run = run
        self.judged = False

    def on_epoch_begin(self, trainer, epoch, logs):
        if not self.judged:
            first = self.run.order[:self.run.cap]
            self.first_batch = (self.run.X[first], self.run.Y[first], self.run.classification)
            self.before = trainer._loss_of(*self.first_batch)

    def on_epoch_end(self, trainer, epoch, logs):
        if not self.judged:
            self.judged = True
            trainer._warn_if_unmoved(self.before, trainer._loss_of(*self.first_batch))


def _kept(cache, key, make):
    """``cache[key]``, made by ``make()`` if missing; a cache keeps the last two (training's
    and evaluation's buffers)."""
    if key not in cache:
        if len(cache) >= 2:
            del cache[next(iter(cache))]
        cache[key] = make()
    return cache[key]


def _root_mean_square(X):
    """sqrt(mean X^2) over at most ``RMS_ROWS`` evenly spaced rows of X, converted a
    few rows at a time (X may be a memory map of integers); of all rows for sparse X."""
    if isinstance(X, SparseRows):
        values = X.data[X.indptr[0]:X.indptr[-1]].astype(np.float64)
        count = X.shape[0] * X.shape[1]
        return float(np.sqrt(np.sum(values * values) / count)) if count else 0.0
    rows = np.arange(0, X.shape[0], max(1, -(-X.shape[0] // RMS_ROWS)))
    chunk = max(1, 8192 // max(1, X.shape[1]))
    total = 0.0
    for i in range(0, rows.size, chunk):
        block = X[rows[i:i + chunk]].astype(np.float64)
        total += float(np.sum(block * block))
    count = rows.size * X.shape[1]
    return float(np.sqrt(total / count)) if count else 0.0


def _check_dropout(dropout, n_hidden):
    """Dropout rates of the hidden layers as a tuple of floats in [0, 1)."""
    def rate(value, name):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number in [0, 1); got {value!r}")
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1); got {value}")
        return float(value)

    if isinstance(dropout, np.ndarray) and dropout.ndim == 0:
        dropout = dropout.item()
    if isinstance(dropout, (numbers.Real, np.generic)) or dropout is None:
        value = rate(dropout, "dropout")
        if value and not n_hidden:
            raise ValueError("dropout applies to hidden layers, and this network has none")
        return (value,) * n_hidden
    if isinstance(dropout, (str, bytes)) or not isinstance(dropout, (Sequence, np.ndarray)):
        raise TypeError(f"dropout must be a number or one number per hidden layer; got "
                        f"{dropout!r}")
    if len(dropout) != n_hidden:
        raise ValueError(f"dropout must be one rate or {n_hidden} rates (one per hidden "
                         f"layer); got {len(dropout)}")
    return tuple(rate(value, f"dropout[{i}]") for i, value in enumerate(dropout))
