"""The first layer on sparse inputs: X in CSR form (``structures.SparseSamples``), W[1]
read and changed only where a sample's nonzeros point.

    forward   Z[1][s, j] = b[j] + sum over the nonzeros (i, v) of row s of v W[1][j, i]
    BP4       m dC/dW[1][j, i] = sum over s, and the nonzeros (i, v) of row s, of D[1][s, j] v
    BP3       as for dense inputs (``backprop.bias_rows``)
    BP2       none: nothing flows back into the inputs

W[1] is read through strides (a ``structures.Matrix``: element (j, i) at ``offset +
j*rs + i*cs``). A network trained on sparse inputs stores it feature-major
(``layout.W_T``: rs = 1, cs = W_LD), so that the weights a nonzero names are one
contiguous row W[1]^T[i, :] and every loop over neurons runs over contiguous memory;
row-major (rs = W_LD, cs = 1) is read the same way, strided.

The rows a batch names are scattered over W[1], mostly outside every cache, and each
costs a trip to memory that the hardware cannot foresee; the loops over nonzeros ask
for the row AHEAD nonzeros on (``prefetch``), across the end of a sample into the next,
so that those trips overlap the work on the rows before.

Threads share the forward pass by samples or by neurons, as for dense inputs; BP4 by
neurons: a thread owns neurons j0:j1 (a contiguous slice of every row of W[1]^T) and
goes through the batch in sample order, so each weight sees the same chain of roundings
whatever the number of threads.

The updates:

- plain SGD is fused into BP4, nonzero by nonzero: ``W[j, i] -= (eta/m D[s, j]) v``.
  A feature absent from the batch has a zero gradient, so this is exactly the dense
  update, without touching the weights of the features absent from the batch.
- the other optimisers (and SGD with weight decay) are lazy, as PyTorch's
  ``SparseAdam``: the batch sums of the features present in the batch
  (``present_features``, in order of first appearance) go to their rows of the gradient
  buffer, and only those rows of W[1] and of the optimiser's state are updated, by the
  dense rule (``optimizers.update_entries``). The weights, momentum and moments of a
  feature absent from the batch stay as they are: its momentum does not carry it on,
  its moments do not decay, weight decay does not shrink it. The biases, whose gradient
  every sample feeds, are updated as for dense inputs.
"""

from .._config import jit
from .backprop import bias_rows
from .dense import activate_rows
from .gemm import copy
from .layout import W_LD, W_OFF, W_T
from .optimizers import SGD, keeps_squares, update_entries
from .simd import prefetch
from .structures import Matrix, SparseSamples, by_structure


def by_input(dense, sparse):
    """A function of (samples, ...) that runs ``dense`` for ``Samples`` and ``sparse``
    for ``SparseSamples``; compiled code chooses by the type, so each compiles alone."""
    return by_structure(SparseSamples, dense, sparse)


@jit(inline=True)
def input_weights(params, table):
    """W[1] in ``params`` (or a buffer of its layout) as a ``Matrix`` of element (j, i)."""
    ld = table[0, W_LD]
    if table[0, W_T]:
        return Matrix(params, table[0, W_OFF], 1, ld)
    return Matrix(params, table[0, W_OFF], ld, 1)


@jit
def sparse_forward(X, order, first, W, b_off, A, z_off, activation_code, rows, j0, j1):
    """Neurons ``j0:j1`` of A[1] = f(X W[1]^T + b[1]) for the samples
    ``order[first:first + rows]`` of the CSR ``X`` (anything with its ``indptr``,
    ``indices`` and ``data``: a ``SparseSamples``).

    ``W`` is a ``Matrix`` (see the module's docstring), b[1] in the same buffer from
    ``b_off``; ``A``, ``z_off`` and the rest as in ``dense.dense_forward``.
    """
    w, w_off, rs, cs = W
    a, a_off, n_out = A
    for s in range(rows):
        row = order[first + s]
        z = a_off + s * n_out
        copy(w[b_off + j0:], a[z + j0:], j1 - j0)  # b[1], to which the products add
        after = order[first + s + 1] if s + 1 < rows else row
        for p in range(X.indptr[row], X.indptr[row + 1]):
            _prefetch_ahead(X, row, after, p, W, j0, j1, False)
            _add_scaled(a, z + j0, X.data[p], w, w_off + X.indices[p] * cs + j0 * rs, rs,
                        j1 - j0)
    activate_rows(A, z_off, activation_code, rows, j0, j1)


AHEAD = 8  # nonzeros; each row's trip to memory overlaps the work on this many rows
CACHE_LINE = 64  # bytes, on every x86 CPU


@jit(inline=True)
def _prefetch_ahead(X, row, after, p, W, j0, j1, write):
    """Ask for elements j0:j1 of the row of W[1]^T that the nonzero AHEAD places after
    ``p`` names (``p`` in sample ``row``, ``after`` the next sample, or ``row`` for the
    last): every cache line of it when that row is contiguous (feature-major W[1])."""
    w, w_off, rs, cs = W
    if rs != 1:
        return
    q = p + AHEAD
    end = X.indptr[row + 1]
    if q >= end:
        q = X.indptr[after] + (q - end)
        if after == row or q >= X.indptr[after + 1]:
            return
    _prefetch_slice(w, w_off + X.indices[q] * cs, j0, j1, write)


@jit(inline=True)
def _prefetch_slice(array, start, j0, j1, write):
    """Ask for every cache line of ``array[start + j0:start + j1]``."""
    for k in range(j0, j1, CACHE_LINE // array.itemsize):
        prefetch(array, start + k, write)


@jit
def _add_scaled(y, y_off, v, x, x_off, stride, n):
    """y[y_off + k] += v x[x_off + k stride] for k < n. With stride 1 (W[1]
    feature-major), over slices: LLVM vectorises that loop, not one whose indices may be
    negative (Numba's wraparound) or whose stride it cannot see."""
    ys = y[y_off:y_off + n]
    if stride == 1:
        xs = x[x_off:x_off + n]
        for k in range(n):
            ys[k] += v * xs[k]
    else:
        for k in range(n):
            ys[k] += v * x[x_off + k * stride]


@jit
def sparse_gradient_rows(X, order, first, D, m, W, b_off, j0, j1, step, sums):
    """BP3 and BP4 of the first layer for neurons ``j0:j1`` and the samples
    ``order[first:first + m]`` of the CSR ``X``: with ``step`` > 0 the SGD update
    ``-= step * sums`` applied to W[1] and b[1], nonzero by nonzero in sample order;
    with ``step`` = 0 the sums added to ``W`` (a gradient buffer whose rows of the
    batch's features the caller has zeroed, see ``zero_feature_rows``) and written to
    its biases.

    ``D`` is D[1] of the batch (a ``Rows``), ``W`` a ``Matrix`` over the parameters or
    the gradient buffer, b[1] in the same buffer from ``b_off``; ``sums``: scratch for
    ``bias_rows``.
    """
    delta, d_off, n_out = D
    w, w_off, rs, cs = W
    scale = w.dtype.type(-step if step > 0 else 1.0)
    for s in range(m):
        row = order[first + s]
        d = d_off + s * n_out
        after = order[first + s + 1] if s + 1 < m else row
        for p in range(X.indptr[row], X.indptr[row + 1]):
            _prefetch_ahead(X, row, after, p, W, j0, j1, True)
            _add_products(w, w_off + X.indices[p] * cs + j0 * rs, rs, scale, delta, d + j0,
                          X.data[p], j1 - j0)
    bias_rows(D, m, w, b_off, j0, j1, step, sums)


@jit
def _add_products(y, y_off, stride, scale, delta, d_off, v, n):
    """y[y_off + k stride] += (scale delta[d_off + k]) v for k < n (as gemm packs alpha A,
    then multiplies), vectorised for stride 1 as in ``_add_scaled``."""
    ds = delta[d_off:d_off + n]
    if stride == 1:
        ys = y[y_off:y_off + n]
        for k in range(n):
            ys[k] += (scale * ds[k]) * v
    else:
        for k in range(n):
            y[y_off + k * stride] += (scale * ds[k]) * v


@jit
def present_features(X, order, first, m, seen, present):
    """The features with a nonzero in the samples ``order[first:first + m]`` into
    ``present``, in order of first appearance; returns how many. ``seen`` (a flag per
    feature, all False) is left as it was found."""
    count = 0
    for s in range(m):
        row = order[first + s]
        for p in range(X.indptr[row], X.indptr[row + 1]):
            i = X.indices[p]
            if not seen[i]:
                seen[i] = True
                present[count] = i
                count += 1
    for k in range(count):
        seen[present[k]] = False
    return count


@jit
def zero_feature_rows(W, present, count, j0, j1):
    """W[j, i] = 0 for neurons ``j0:j1`` and the features ``present[:count]``."""
    w, w_off, rs, cs = W
    zero = w.dtype.type(0)
    for k in range(count):
        if rs == 1 and k + AHEAD < count:
            _prefetch_slice(w, w_off + present[k + AHEAD] * cs, j0, j1, True)
        col = w_off + present[k] * cs
        for j in range(j0, j1):
            w[col + j * rs] = zero


@jit
def lazy_update(opt, W, b_off, present, count, j0, j1, m, t):
    """The optimiser's update of neurons ``j0:j1`` of W[1] (a ``Matrix`` over the
    parameters) for the features ``present[:count]`` only, and of their biases from
    ``b_off``; ``opt.grad`` holds the batch sums in those places."""
    params, w_off, rs, cs = W
    for k in range(count):
        if rs == 1 and k + AHEAD < count:
            start = w_off + present[k + AHEAD] * cs
            _prefetch_slice(params, start, j0, j1, True)
            _prefetch_slice(opt.grad, start, j0, j1, False)
            if opt.code != SGD:
                _prefetch_slice(opt.state1, start, j0, j1, True)
            if keeps_squares(opt.code):
                _prefetch_slice(opt.state2, start, j0, j1, True)
        update_entries(opt, params, w_off + present[k] * cs + j0 * rs, j1 - j0, rs, m, t, True)
    update_entries(opt, params, b_off + j0, j1 - j0, 1, m, t, False)
