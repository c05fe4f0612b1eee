"""The Trainer: mini-batch SGD over a Network, every batch shared among threads."""

from collections.abc import Sequence

import numpy as np

from ._threads import check_threads, using_threads
from ._validation import (check_choice, check_dtype, check_inputs, check_int,
                          check_positive_float, check_targets)
from .kernels.costs import COST_CODES
from .kernels.gemm import PACK_SIZE
from .kernels.layout import aligned_zeros, biases_of, n_activations, n_deltas, weights_of
from .kernels.step import backprop_batch, by_neuron_pays, gradient_step, train_epoch
from .network import Network

# The output activation a cost implies; cross-entropies need theirs (BP1 relies on it).
OUTPUT_ACTIVATION = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
    "quadratic": "identity",
}


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
    batch_size : int
        Samples per mini-batch; the last batch of an epoch may be shorter.
    epochs : int
        Epochs run by :meth:`fit` unless it is given ``epochs``.
    threads : int or None
        Threads that share each batch; None: all cores (``NUMBA_NUM_THREADS``). Results
        are bit-identical whatever the number.
    seed : int or None
        Seeds the shuffling (and the network's initialisation when built from sizes):
        epoch e visits the samples in the order of the e-th
        ``np.random.default_rng(seed).permutation(n_samples)``.
    verbose : bool
        Print the loss (and accuracy) after each epoch.

    Attributes
    ----------
    network : Network
    history : dict of list
        Per-epoch ``loss`` (mean cost over the epoch's samples, each taken before the
        update of its batch) and, when training a classifier, ``accuracy``, over all
        calls of :meth:`fit`.
    """

    def __init__(self, network, cost="cross_entropy", *, learning_rate=0.1, batch_size=32,
                 epochs=10, threads=None, seed=None, activation="relu",
                 output_activation=None, dtype=np.float32, verbose=False):
        self.cost = check_choice(cost, set(COST_CODES), "cost")
        if isinstance(network, Network):
            self.network = network
        elif isinstance(network, Sequence) and not isinstance(network, (str, bytes)):
            self.network = Network(network, activation,
                                   output_activation or OUTPUT_ACTIVATION[cost],
                                   dtype=check_dtype(dtype), seed=seed)
        else:
            raise TypeError(f"network must be a Network or a sequence of layer sizes; "
                            f"got {network!r}")
        required = OUTPUT_ACTIVATION[cost]
        if cost != "quadratic" and self.network.activations[-1] != required:
            raise ValueError(f"cost={cost!r} needs a {required} output layer; the network's "
                             f"output activation is {self.network.activations[-1]!r}")
        self.learning_rate = check_positive_float(learning_rate, "learning_rate")
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.epochs = check_int(epochs, "epochs", minimum=0)
        self.threads = check_threads(threads)
        self.seed = seed
        self.verbose = bool(verbose)
        self.history = {"loss": []}
        self._rng = np.random.default_rng(seed)
        self._by_neuron = by_neuron_pays(self.network._table, self.threads)
        self._workspaces = {}

    # -- data ---------------------------------------------------------------------------

    def _check_data(self, X, y):
        net = self.network
        X = check_inputs(X, net.sizes[0], net.dtype)
        Y, labels = check_targets(y, X.shape[0], net.sizes[-1], net.dtype)
        return X, Y, labels or self.cost != "quadratic"

    def _workspace(self, cap):
        """Buffers for batches of up to ``cap`` samples, allocated once per (layer sizes,
        batch size, dtype, threads): activations, deltas, per-sample cost and
        correctness, and each thread's scratch for copying blocks of matrices."""
        net = self.network
        key = (cap, net.sizes, net.dtype, self.threads)
        if key not in self._workspaces:
            if len(self._workspaces) >= 2:  # training's and evaluation's stay
                del self._workspaces[next(iter(self._workspaces))]
            self._workspaces[key] = (
                aligned_zeros(cap * n_activations(net._table), net.dtype),
                aligned_zeros(cap * n_deltas(net._table), net.dtype),
                np.zeros(cap, dtype=np.float64),
                np.zeros(cap, dtype=np.int64),
                aligned_zeros(self.threads * PACK_SIZE, net.dtype),
            )
        return self._workspaces[key]

    # -- training -----------------------------------------------------------------------

    def fit(self, X, y, *, epochs=None):
        """Train for ``epochs`` epochs (default: ``self.epochs``), continuing from the
        network's current weights.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_0)
        y : array-like, shape (n_samples,) or (n_samples, n_L)
            Integer class labels (one-hot encoded internally), or the target matrix.

        Returns
        -------
        dict of list
            ``loss`` and, for classification, ``accuracy`` of each epoch of this call.
        """
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", minimum=0)
        X, Y, classification = self._check_data(X, y)
        net = self.network
        n = X.shape[0]
        cap = min(self.batch_size, n)
        a_ws, d_ws, sample_cost, sample_correct, pack_ws = self._workspace(cap)
        n_batches = -(-n // cap)
        batch_cost = np.zeros(n_batches)
        batch_correct = np.zeros(n_batches, dtype=np.int64)
        history = {"loss": []}
        if classification:
            history["accuracy"] = []
        cost_code = COST_CODES[self.cost]
        with using_threads(self.threads):
            for epoch in range(epochs):
                order = self._rng.permutation(n)
                train_epoch(net.params, net._table, cost_code, X, Y, order, cap, 0, n_batches,
                            self.learning_rate, a_ws, d_ws, sample_cost, sample_correct,
                            batch_cost, batch_correct, pack_ws, self.threads, self._by_neuron)
                history["loss"].append(float(batch_cost.sum() / n))
                if classification:
                    history["accuracy"].append(float(batch_correct.sum() / n))
                if self.verbose:
                    print(self._epoch_line(len(self.history["loss"]) + 1, history), flush=True)
                for key, values in history.items():
                    self.history.setdefault(key, []).append(values[-1])
        return history

    @staticmethod
    def _epoch_line(epoch, history):
        line = f"epoch {epoch:4d}  loss {history['loss'][-1]:.6f}"
        if "accuracy" in history:
            line += f"  accuracy {history['accuracy'][-1]:.4f}"
        return line

    def gradients(self, X, y):
        """dC/dW[l] and dC/db[l] of the mean cost over all of X as one batch; no update.

        Returns
        -------
        (list of ndarray, list of ndarray)
            Gradients shaped like ``network.weights`` and ``network.biases``.
        """
        X, Y, _ = self._check_data(X, y)
        net = self.network
        n = X.shape[0]
        a_ws, d_ws, sample_cost, sample_correct, pack_ws = self._workspace(n)
        grad = aligned_zeros(net.params.size, net.dtype)
        order = np.arange(n, dtype=np.int64)
        with using_threads(self.threads):
            backprop_batch(net.params, net._table, COST_CODES[self.cost], X, Y, order,
                           0, n, n, a_ws, d_ws, sample_cost, sample_correct, pack_ws,
                           self.threads)
            gradient_step(net.params, net._table, n, n, a_ws, d_ws, grad, 0.0, pack_ws,
                          self.threads)
        grad = grad / n  # the kernels leave batch sums
        L = net.n_layers
        return ([weights_of(grad, net._table, l) for l in range(L)],
                [biases_of(grad, net._table, l) for l in range(L)])

    # -- using the trained network ------------------------------------------------------

    def predict_proba(self, X):
        """The output activations A[L], shape (n_samples, n_L)."""
        return self.network.forward(X, threads=self.threads)

    def predict(self, X):
        """Class labels for classifiers (softmax or sigmoid output), A[L] otherwise."""
        if self.network.activations[-1] in ("softmax", "sigmoid"):
            return self.network.predict(X, threads=self.threads)
        return self.network.forward(X, threads=self.threads)

    def evaluate(self, X, y):
        """Mean cost and, for class labels or a cross-entropy cost, accuracy on (X, y)."""
        X, Y, classification = self._check_data(X, y)
        net = self.network
        n = X.shape[0]
        cap = min(n, 1024)
        a_ws, d_ws, sample_cost, sample_correct, pack_ws = self._workspace(cap)
        order = np.arange(n, dtype=np.int64)
        total, correct = 0.0, 0
        with using_threads(self.threads):
            for start in range(0, n, cap):
                m = min(cap, n - start)
                backprop_batch(net.params, net._table, COST_CODES[self.cost], X, Y,
                               order, start, m, cap, a_ws, d_ws, sample_cost, sample_correct,
                               pack_ws, self.threads)
                total += float(sample_cost[:m].sum())
                correct += int(sample_correct[:m].sum())
        result = {"loss": total / n}
        if classification:
            result["accuracy"] = correct / n
        return result

    def score(self, X, y):
        """Accuracy for class labels (as scikit-learn classifiers), R^2 for targets."""
        X_checked, Y, labels = self._check_data(X, y)
        if labels:
            return self.evaluate(X, y)["accuracy"]
        a = self.network.forward(X_checked, threads=self.threads).astype(np.float64)
        Y = Y.astype(np.float64)
        residual = ((Y - a) ** 2).sum()
        total = ((Y - Y.mean(axis=0)) ** 2).sum()
        return float(1 - residual / total) if total > 0 else 0.0

    def __repr__(self):
        return (f"Trainer({self.network!r}, cost={self.cost!r}, "
                f"learning_rate={self.learning_rate}, "
                f"batch_size={self.batch_size}, threads={self.threads})")
