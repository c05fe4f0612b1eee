"""The network: layer sizes, an activation per layer and the parameters W[l], b[l]."""

import itertools
import sys
from collections.abc import Sequence

import numpy as np

from ._exclusive import changing, reading
from ._sparse import SparseRows, as_sparse, check_sparse_inputs, is_sparse, samples_of
from ._threads import check_threads, using_threads
from ._validation import check_choice, check_dtype, check_inputs, check_int
from .kernels.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .kernels.layout import (
    N_IN,
    N_OUT,
    W_T,
    aligned_zeros,
    biases_of,
    layer_table,
    n_params,
    outputs_of,
    relayout,
    weights_of,
    without_inputs,
)
from .kernels.step import FORWARD_PASS, backprop_batch
from .kernels.structures import NO_DROPOUT, NO_WEIGHTS, Batch, Model, workspace

# Samples run forward at a time by forward() (bounds the workspace, not the result).
FORWARD_CHUNK = 1024


def _glorot_uniform(rng, rows, n_out, n_in):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (rows, n_in))


def _he_normal(rng, rows, n_out, n_in):
    return rng.standard_normal((rows, n_in)) * np.sqrt(2.0 / n_in)


# The initialisation rules that ``ACTIVATIONS`` names: ``rows`` rows of a W[l] of shape
# (n_out, n_in), drawn in order (several calls draw what one call for all rows would).
INITIALIZERS = {"glorot": _glorot_uniform, "he": _he_normal}
# Rows drawn at a time: the float64 draw before the conversion stays below 4 MiB (a
# 100000-input layer's whole draw would be twice its float32 weights).
INIT_CHUNK = 1 << 19


class _ParameterList(Sequence):
    """W[1..L] or b[1..L] as views into the flat parameter vector.

    ``net.weights[l] = array`` copies the values in after checking the shape.
    Indices run from 0: ``weights[0]`` is W[1] of the equations.
    """

    def __init__(self, network, kind):
        self._network = network
        self._kind = kind

    def _shape(self, l):
        row = self._network._table[l]
        return (int(row[N_OUT]), int(row[N_IN])) if self._kind == "weights" else (int(row[N_OUT]),)

    def __len__(self):
        return self._network._table.shape[0]

    def __getitem__(self, l):
        if isinstance(l, slice):
            return [self[i] for i in range(len(self))[l]]
        l = range(len(self))[l]
        view = weights_of if self._kind == "weights" else biases_of
        return view(self._network.params, self._network._table, l)

    def __setitem__(self, l, value):
        l = range(len(self))[l]
        name = f"{self._kind}[{l}]"
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {value.dtype}")
        if value.shape != self._shape(l):
            raise ValueError(f"{name} must have shape {self._shape(l)}; got {value.shape}")
        if not np.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or infinity")
        dtype = self._network.dtype
        with np.errstate(over="ignore"):
            converted = value.astype(dtype)
        if not np.isfinite(converted).all():  # e.g. 1e300 does not fit in float32
            raise ValueError(f"{name} holds values too large for {dtype.name}")
        with changing(self._network, f"setting Network.{name}"):
            self[l][...] = converted

    def __repr__(self):
        return f"[{', '.join(f'<{self._kind} {self._shape(l)}>' for l in range(len(self)))}]"


class Network:
    """A fully-connected feed-forward network.

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, n_1, ..., n_L)``: inputs, hidden layers, outputs.
    activation : str or sequence of str
        Activation of the hidden layers: one name for all, or one per hidden layer.
        One of ``identity``, ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``elu``,
        ``softplus``, ``gelu`` (exact, with erf), ``silu`` (also called swish): the
        hidden ones of ``fastbp.kernels.activations.ACTIVATIONS``.
    output_activation : str
        Activation of the output layer: also ``softmax``.
    dtype : float32 (default) or float64
        Type of the parameters and of all computation.
    seed : int or None
        Seed of the initialisation: each activation's rule (``init`` in ``ACTIVATIONS``),
        Glorot/Xavier uniform for sigmoid, tanh, identity, softplus and softmax layers,
        He normal for the ReLU family, GELU and SiLU; biases start at zero.
        An integer >= 0 (or a ``numpy.random.Generator``, ``SeedSequence`` or
        ``BitGenerator``).

    Raises
    ------
    TypeError
        An argument of the wrong type (sizes not integers, an unknown dtype ...).
    ValueError
        A bad value: a layer size < 1, an unknown activation, a negative seed, or more
        parameters than can be addressed. A network that can be addressed but does not
        fit in memory raises MemoryError.

    Attributes
    ----------
    weights : list of ndarray, shape (n_l, n_{l-1})
        W[1..L]; row j holds the weights into neuron j. Readable and assignable.
    biases : list of ndarray, shape (n_l,)
    params : ndarray
        All parameters in one vector (each W[l] row-major, then b[l], each starting on
        a 64-byte boundary); ``weights`` and ``biases`` are views into it.
    feature_major : bool
        Whether W[1] is stored feature-major, as W[1]^T (rows of n_1 weights, one per
        input feature): what training on sparse inputs makes it (see
        :mod:`fastbp.kernels.sparse`). ``weights[0]`` keeps its shape (n_1, n_0), a
        transposed view then.
    """

    def __init__(self, sizes, activation="relu", output_activation="softmax", *,
                 dtype=np.float32, seed=None):
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise TypeError(f"sizes must be a sequence of layer sizes; got {sizes!r}")
        if len(sizes) < 2:
            raise ValueError(f"sizes must name at least an input and an output layer; "
                             f"got {sizes!r}")
        self.sizes = tuple(check_int(n, f"sizes[{i}]", minimum=1) for i, n in enumerate(sizes))
        self.dtype = check_dtype(dtype)
        _check_size(self.sizes, self.dtype)
        n_hidden = len(self.sizes) - 2
        if isinstance(activation, str):
            hidden = [activation] * n_hidden
        else:
            try:
                hidden = list(activation)
            except TypeError:
                raise TypeError(f"activation must be a name or a sequence of names (one per "
                                f"hidden layer); got {activation!r}") from None
            if len(hidden) != n_hidden:
                raise ValueError(f"activation must be one name or {n_hidden} names (one per "
                                 f"hidden layer); got {len(hidden)}")
        for i, name in enumerate(hidden):
            check_choice(name, set(HIDDEN_ACTIVATIONS), "activation"
                         if isinstance(activation, str) else f"activation[{i}]")
        check_choice(output_activation, set(ACTIVATIONS), "output_activation")
        self.activations = tuple(hidden) + (output_activation,)
        self._table = self._table_of(False)
        self.params = aligned_zeros(n_params(self._table), self.dtype)
        self.initialize(seed)

    @property
    def weights(self):
        return _ParameterList(self, "weights")

    @weights.setter
    def weights(self, values):
        self._assign_all("weights", values)

    @property
    def biases(self):
        return _ParameterList(self, "biases")

    @biases.setter
    def biases(self, values):
        self._assign_all("biases", values)

    def _assign_all(self, kind, values):
        values = list(values)
        target = _ParameterList(self, kind)
        if len(values) != len(target):
            raise ValueError(f"{kind} must be a list of {len(target)} arrays; got {len(values)}")
        with changing(self, f"setting Network.{kind}"):
            backup = self.params.copy()  # all or nothing
            try:
                for l, value in enumerate(values):
                    target[l] = value
            except Exception:
                self.params[...] = backup
                raise

    @property
    def feature_major(self):
        return bool(self._table[0, W_T])

    def _table_of(self, feature_major):
        entries = [ACTIVATIONS[a] for a in self.activations]
        return layer_table(self.sizes, [f.code for f in entries], [f.needs_z for f in entries],
                           feature_major=feature_major)

    def _row_major(self, flat):
        """A vector in the layout of ``params`` (state, gradients) in the row-major layout,
        which files hold."""
        return relayout(flat, self._table, self._table_of(False)) if self.feature_major else flat

    def _lay_out(self, feature_major):
        """Store W[1] feature-major or row-major (a new parameter vector, the same values);
        returns the previous layer table, or None when nothing changed."""
        if self.feature_major == bool(feature_major):
            return None
        table = self._table_of(feature_major)
        with changing(self, "Network layout"):
            old, self._table = self._table, table
            self.params = relayout(self.params, old, table)
        return old

    @property
    def table(self):
        """The layer table the kernels read (see :mod:`fastbp.kernels.layout`), read-only."""
        table = self._table.view()
        table.flags.writeable = False
        return table

    def __setstate__(self, state):
        # Unpickled arrays may be read-only memory maps (joblib) or not 64-byte aligned:
        # the kernels get writable, aligned ones, as the constructor made them.
        self.__dict__.update(state)
        params = aligned_zeros(self.params.size, self.params.dtype)
        params[...] = self.params
        self.params, self._table = params, np.array(self._table)

    @property
    def n_layers(self):
        """L, the number of layers with weights."""
        return len(self.sizes) - 1

    @property
    def n_params(self):
        """Number of weights and biases."""
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def initialize(self, seed=None):
        """Draw new weights (by each activation's rule of ``INITIALIZERS``) and zero the
        biases."""
        rng = np.random.default_rng(_check_seed(seed))
        with changing(self, "Network.initialize"):
            self._initialize(rng)
        return self

    def _initialize(self, rng):
        for l, activation in enumerate(self.activations):
            n_out, n_in = self.sizes[l + 1], self.sizes[l]
            rule, W = INITIALIZERS[ACTIVATIONS[activation].init], self.weights[l]
            rows = max(1, INIT_CHUNK // n_in)
            for j in range(0, n_out, rows):
                W[j:j + rows] = rule(rng, min(rows, n_out - j), n_out, n_in)
            self.biases[l][...] = 0

    def copy(self):
        clone = object.__new__(Network)
        clone.__dict__.update(self.__dict__)
        clone.params = aligned_zeros(self.params.size, self.dtype)
        clone.params[...] = self.params
        return clone

    def forward(self, X, *, threads=None):
        """A[L] for the samples in X, shape (n_samples, n_L), computed in ``self.dtype``.
        X may be a SciPy sparse matrix (read as CSR, see :mod:`fastbp.kernels.sparse`);
        a network stored feature-major reads a dense X as CSR too."""
        X = self._checked_inputs(X)
        threads = check_threads(threads)
        n = X.shape[0]
        cap = min(n, FORWARD_CHUNK)
        table = self._table_for(X)
        model = Model(self.params, table, 0)
        samples = samples_of(X, np.zeros((0, self.sizes[-1]), self.dtype), NO_WEIGHTS,
                             np.arange(n, dtype=np.int64))
        ws = workspace(table, cap, self.dtype, threads, training=False)
        out = np.empty((n, self.sizes[-1]), dtype=self.dtype)
        L = self.n_layers
        with reading(self, "Network.forward"), using_threads(threads):
            for start in range(0, n, cap):
                m = min(cap, n - start)
                backprop_batch(model, samples, ws, NO_DROPOUT, Batch(start, m, 0), FORWARD_PASS,
                               None)
                out[start:start + m] = outputs_of(ws.a, table, cap, m, L - 1)
        return out

    def _checked_inputs(self, X):
        """X checked and converted: a C-contiguous array, or ``SparseRows`` for sparse X
        (and for any X when W[1] is stored feature-major)."""
        if isinstance(X, SparseRows):  # checked already
            return X
        if is_sparse(X):
            return check_sparse_inputs(X, self.sizes[0], self.dtype)[0]
        X = check_inputs(X, self.sizes[0], self.dtype)
        return as_sparse(X) if self.feature_major else X

    def _table_for(self, X):
        """The layer table kernels take for the checked inputs X: sparse ones are read in
        place, so the workspace holds no A[0]."""
        return self._table if isinstance(X, np.ndarray) else without_inputs(self._table)

    def predict(self, X, *, threads=None):
        """Class labels for a classifier's output (argmax; ``a > 0.5`` for one output)."""
        a = self.forward(X, threads=threads)
        if a.shape[1] == 1:
            return (a[:, 0] > 0.5).astype(np.int64)
        return np.argmax(a, axis=1)

    def __repr__(self):
        layers = ", ".join(f"{n}" for n in self.sizes)
        return (f"Network(sizes=({layers}), activations={self.activations}, "
                f"dtype={self.dtype.name}, n_params={self.n_params})")


def _check_size(sizes, dtype):
    """ValueError if the parameter vector of these layer sizes could not be indexed (its
    offsets would wrap around in the int64 layer table)."""
    n = sum(a * b + b for a, b in itertools.pairwise(sizes))
    # Twice the bytes: room for the row padding and alignment gaps of ``layout``.
    if 2 * (n + 64 * len(sizes)) * dtype.itemsize > sys.maxsize:
        raise ValueError(f"sizes {list(sizes)} give a network of {n} parameters, more than "
                         f"can be held in memory")


def _check_seed(seed):
    """A seed for ``np.random.default_rng``: None, an integer >= 0 or NumPy's own types."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.BitGenerator,
                                         np.random.SeedSequence)):
        return seed
    return check_int(seed, "seed", minimum=0)
