"""How a network is laid out in flat buffers, so that kernels need no Python objects.

All parameters live in one vector ``params``: for each layer l = 1..L, W[l] (row-major,
shape (n_l, n_{l-1})) followed by b[l]. Gradients and optimiser state use the same
layout. Activations of a batch of capacity ``cap`` live in one vector too: layer l
(inputs included, l = 0) occupies ``cap * n_l`` entries from ``cap * A_OFF``; the
deltas of layers 1..L likewise from ``cap * D_OFF``. A layer whose activation computes
f' from z (``needs_z``: GELU, SiLU) also keeps Z[l] there, from ``cap * Z_OFF``, after
all the activations; for the others Z_OFF is -1 and nothing more is stored.

A network is described to kernels by an int64 table with one row per layer l = 1..L
and the columns below.

W[l] is stored with a row stride of ``W_LD`` >= n_{l-1} (see ``weight_stride``); the
padding holds zeros. Where ``W_T`` is 1 (only ever the first layer, of a network trained
on sparse inputs, see ``sparse``), W[1] is stored feature-major instead: W[1]^T, of
shape (n_0, n_1), rows ``W_LD`` >= n_1 apart, so that the weights one input feature
feeds are contiguous. Every W[l], b[l] and every layer's block of activations or deltas
starts on a 64-byte boundary (buffers come from ``aligned_zeros``, offsets are
multiples of ALIGN): vector loads that straddle cache lines were measured to cost up
to 20% in the forward pass. Rows inside a block are aligned too when n_l is a
multiple of 16.
"""

import numpy as np

N_IN, N_OUT, W_OFF, B_OFF, ACT, A_OFF, D_OFF, W_LD, Z_OFF, W_T = range(10)
N_COLUMNS = 10
ALIGN = 16  # elements: 64 bytes of float32
ALIGN_BYTES = 64


def _up(n):
    return -(-n // ALIGN) * ALIGN


def layer_table(sizes, activation_codes, keep_z=None, feature_major=False):
    """The int64 table of a network with layer sizes ``(n_0, ..., n_L)``; ``keep_z``:
    whether each layer keeps Z (default: none does); ``feature_major``: W[1] stored
    transposed (``W_T``)."""
    sizes = [int(n) for n in sizes]
    table = np.zeros((len(sizes) - 1, N_COLUMNS), dtype=np.int64)
    p = 0
    for l in range(1, len(sizes)):
        row = table[l - 1]
        row[N_IN], row[N_OUT] = sizes[l - 1], sizes[l]
        transposed = feature_major and l == 1
        row[W_T] = transposed
        row[W_LD] = _up(sizes[l]) if transposed else weight_stride(sizes[l - 1])
        row[W_OFF] = p
        p = _up(p + (sizes[0] if transposed else sizes[l]) * row[W_LD])
        row[B_OFF] = p
        p = _up(p + sizes[l])
        row[ACT] = activation_codes[l - 1]
        row[A_OFF] = sum(_up(n) for n in sizes[:l])
        row[D_OFF] = sum(_up(n) for n in sizes[1:l])
    z_off = sum(_up(n) for n in sizes)  # after A[0..L]
    for row, keep in zip(table, keep_z or [False] * len(table)):
        row[Z_OFF] = z_off if keep else -1
        z_off += _up(row[N_OUT]) if keep else 0
    return table


def weight_stride(n_in):
    """Elements from one row of W to the next: n_in, padded by 64 bytes when n_in is a
    multiple of 64. Rows a multiple of 256 or 512 bytes apart fall into the same few
    cache sets and evict each other when a block of rows is read together (BP2 reads W
    a block of rows at a time); padded, they spread over all sets and need no copying."""
    return n_in + ALIGN if n_in % 64 == 0 else n_in


def n_params(table):
    """Length of the parameter vector (W[l] and b[l], with the alignment gaps)."""
    return _up(int(table[-1][B_OFF] + table[-1][N_OUT]))


def n_activations(table):
    """Entries per sample of the activation workspace (inputs and kept Z included)."""
    ends = [row[Z_OFF] + _up(row[N_OUT]) for row in table if row[Z_OFF] >= 0]
    return int(max(ends, default=table[-1][A_OFF] + _up(table[-1][N_OUT])))


def n_deltas(table):
    return int(table[-1][D_OFF] + _up(table[-1][N_OUT]))


def aligned_zeros(n, dtype):
    """A zeroed 1-D array of ``n`` elements starting on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    raw = np.zeros(n * dtype.itemsize + ALIGN_BYTES, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGN_BYTES
    return raw[start:start + n * dtype.itemsize].view(dtype)


# Views for Python code (the kernels index the flat buffers directly).

def weights_of(params, table, l):
    """W of layer row ``l`` of the table (network layer l + 1): a (n_out, n_in) view
    into ``params``; rows are ``W_LD`` apart, or, stored feature-major (``W_T``), the
    transpose of a (n_in, n_out) view whose rows are."""
    n_in, n_out, o, ld, transposed = (int(x) for x in table[l, [N_IN, N_OUT, W_OFF, W_LD, W_T]])
    if transposed:
        return params[o:o + n_in * ld].reshape(n_in, ld)[:, :n_out].T
    return params[o:o + n_out * ld].reshape(n_out, ld)[:, :n_in]


def relayout(flat, table, new_table):
    """A vector in the layout of ``new_table`` holding the weights and biases that
    ``flat`` holds in the layout of ``table`` (the same network, W[1] stored another
    way; see ``W_T``); the padding is zero."""
    out = aligned_zeros(n_params(new_table), flat.dtype)
    for l in range(table.shape[0]):
        weights_of(out, new_table, l)[...] = weights_of(flat, table, l)
        biases_of(out, new_table, l)[...] = biases_of(flat, table, l)
    return out


def without_inputs(table):
    """The table of the same network for a workspace that holds no A[0]: sparse inputs
    are read where they are (see ``sparse``), so their n_0 columns take no room."""
    out = table.copy()
    shift = _up(int(table[0, N_IN]))
    out[:, A_OFF] -= shift
    out[out[:, Z_OFF] >= 0, Z_OFF] -= shift
    return out


def biases_of(params, table, l):
    """b of layer row ``l``: a (n_out,) view into ``params``."""
    o, n_out = int(table[l, B_OFF]), int(table[l, N_OUT])
    return params[o:o + n_out]


def outputs_of(a_ws, table, cap, m, l):
    """A of layer row ``l`` for the first ``m`` samples: a (m, n_out) view into an
    activation workspace of capacity ``cap``."""
    n, o = int(table[l, N_OUT]), cap * int(table[l, A_OFF])
    return a_ws[o:o + m * n].reshape(m, n)
