"""How a network is laid out in flat buffers, so that kernels need no Python objects.

All parameters live in one vector ``params``: for each layer l = 1..L, W[l] (row-major,
shape (n_l, n_{l-1})) followed by b[l]. Gradients and optimiser state use the same
layout. Activations of a batch of capacity ``cap`` live in one vector too: layer l
(inputs included, l = 0) occupies ``cap * n_l`` entries from ``cap * A_OFF``; the
deltas of layers 1..L likewise from ``cap * D_OFF``.

A network is described to kernels by an int64 table with one row per layer l = 1..L
and the columns below.
"""

import numpy as np

from .._config import jit

N_IN, N_OUT, W_OFF, B_OFF, ACT, A_OFF, D_OFF = range(7)
N_COLUMNS = 7


def layer_table(sizes, activation_codes):
    """The int64 table of a network with layer sizes ``(n_0, ..., n_L)``."""
    sizes = [int(n) for n in sizes]
    table = np.zeros((len(sizes) - 1, N_COLUMNS), dtype=np.int64)
    p = 0
    for l in range(1, len(sizes)):
        row = table[l - 1]
        row[N_IN], row[N_OUT] = sizes[l - 1], sizes[l]
        row[W_OFF] = p
        p += sizes[l] * sizes[l - 1]
        row[B_OFF] = p
        p += sizes[l]
        row[ACT] = activation_codes[l - 1]
        row[A_OFF] = sum(sizes[:l])
        row[D_OFF] = sum(sizes[1:l])
    return table


def n_params(table):
    last = table[-1]
    return int(last[B_OFF] + last[N_OUT])


def n_activations(table):
    """Entries per sample of the activation workspace (inputs included)."""
    return int(table[-1][A_OFF] + table[-1][N_OUT])


def n_deltas(table):
    return int(table[-1][D_OFF] + table[-1][N_OUT])


@jit
def weights_of(params, table, l):
    """W of layer row ``l`` of the table, a (n_out, n_in) view into ``params``."""
    n_in, n_out, o = table[l, N_IN], table[l, N_OUT], table[l, W_OFF]
    return params[o:o + n_out * n_in].reshape((n_out, n_in))


@jit
def biases_of(params, table, l):
    o = table[l, B_OFF]
    return params[o:o + table[l, N_OUT]]


@jit
def outputs_of(a_ws, table, cap, m, l):
    """A of layer row ``l`` (network layer l + 1), a (m, n_out) view."""
    n, o = table[l, N_OUT], cap * table[l, A_OFF]
    return a_ws[o:o + m * n].reshape((m, n))
