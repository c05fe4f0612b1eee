"""Mixed precision ("bf16-mixed"): the three products of every layer on bfloat16
operands, accumulated in float32; everything else in float32.

    forward   Z[l] = bf16(A[l-1]) bf16(W[l])^T + b[l]
    BP2       D[l] = (bf16(D[l+1]) bf16(W[l+1])) * f'(Z[l])
    BP4       m dC/dW[l] = bf16(D[l])^T bf16(A[l-1])

bf16(x) rounds a float32 to the nearest bfloat16, ties to even (a NaN stays a NaN); a
bfloat16 number is the top half of a float32, so each product of two is exact in
float32. The master weights, biases, optimiser state, A, Z, D, f' and the cost stay
float32, and so does every sum (BP3 included).

The operands travel as 32-bit words that each hold two bfloat16 numbers consecutive
along the sum's index, the one of even index in the low half (the tiles of ``simd``
multiply such pairs, ``vdpbf16ps``): each product is a ``gemm`` or ``gemm_nt`` as in
float32, whose k counts pairs. Per layer row l (offsets in ``MixedModel.mtable``, in
words):

    WR   W[l] paired along its inputs:    WR[j, p] = (W[j, 2p], W[j, 2p+1])   forward's W
    WB   W[l] paired along its outputs:   WB[p, i] = (W[2p, i], W[2p+1, i])   BP2's B
    XR   A[l-1] paired along neurons:     XR[s, p] = (A[s, 2p], A[s, 2p+1])   forward's A
    XP   A[l-1] paired along samples:     XP[p, i] = (A[2p, i], A[2p+1, i])   BP4's B
    DR   D[l] paired along neurons                                            BP2's A
    DP   D[l] paired along samples                                            BP4's A

The rows of WR and XP are WR_LD and XP_LD (``layout.weight_stride``) words apart: as
W's, so that rows read together do not share cache sets. An odd count is completed
by a zero. WR and WB (in ``w16``) are rounded from the master weights once per weight
per step: by the thread that has just updated a block of rows (``pack_rows``), and by
``pack_weights`` before the first batch of a call (``MixedModel.packed[0]`` is 0 until
then); XR/XP and DR/DP (in ``ops``) by the thread that has just computed the block of
A or D they hold. A block of samples starts at an even sample (``step``'s shards), and
of neurons at an even neuron, so no pair straddles two threads.
"""

import numpy as np
from numba import prange

from .._config import jit
from .backprop import bias_rows
from .dense import activate_rows
from .gemm import gemm, gemm_nt
from .layout import A_OFF, ALIGN, B_OFF, D_OFF, N_IN, N_OUT, W_LD, W_OFF, weight_stride
from .optimizers import update_rows
from .structures import Matrix, MixedModel, Rows, by_structure

WR_OFF, WB_OFF, XR_OFF, XP_OFF, DR_OFF, DP_OFF, WR_LD, XP_LD = range(8)


def _half(n):
    return (int(n) + 1) // 2


def _up(n):
    return -(-int(n) // ALIGN) * ALIGN


def mixed_table(table, cap):
    """(mtable, words of ``w16``, words of ``ops``) of the network of ``table`` for
    batches of up to ``cap`` samples."""
    mtable = np.zeros((table.shape[0], 8), dtype=np.int64)
    w = o = 0
    for l, row in enumerate(table):
        n_in, n_out = int(row[N_IN]), int(row[N_OUT])
        mtable[l, WR_LD] = weight_stride(_half(n_in))
        mtable[l, XP_LD] = weight_stride(n_in)
        sizes = ((WR_OFF, mtable[l, WR_LD] * n_out, True), (WB_OFF, _half(n_out) * n_in, True),
                 (XR_OFF, cap * _half(n_in), False), (XP_OFF, _half(cap) * mtable[l, XP_LD], False),
                 (DR_OFF, cap * _half(n_out), False), (DP_OFF, _half(cap) * n_out, False))
        for column, words, of_weights in sizes:
            if of_weights:
                mtable[l, column], w = w, _up(w + words)
            else:
                mtable[l, column], o = o, _up(o + words)
    return mtable, w, o


def mixed_model(model, w16, ops, mtable):
    """``model`` (a ``structures.Model``) with its bfloat16 operands, WR and WB to be
    rounded from the weights before they are used."""
    return MixedModel(*model, w16, ops, mtable, np.zeros(1, dtype=np.int64))


@jit
def bf16_bits(u):
    """The bfloat16 nearest (ties to even) to the float32 of bits ``u``, as an integer
    (a NaN stays one). Branch-free, so that loops of it vectorise."""
    u = np.int64(u)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded if (u & 0x7FFFFFFF) <= 0x7F800000 else 0x7FC0


@jit
def _pair(lo, hi):
    """The word of two float32 bit patterns rounded to bfloat16, ``lo`` in the low half."""
    return bf16_bits(lo) | (bf16_bits(hi) << 16)


@jit
def to_pairs(src, off, n, s0, s1, j0, j1, ops, r_off, p_off, p_ld):
    """Samples ``s0:s1`` (s0 even; s1 even or the batch's end) and neurons ``j0:j1``
    (j0 even; j1 even or n) of the float32 matrix ``src[off + s*n + j]`` as bfloat16
    pairs: along j into ``ops[r_off + s*ceil(n/2) + j//2]``, along s into
    ``ops[p_off + (s//2)*p_ld + j]``. A pair missing its odd member gets a zero."""
    bits = src.view(np.uint32)
    h = (n + 1) // 2
    q0, q1 = j0 // 2, (j1 - j0) // 2 + j0 // 2  # whole pairs of neurons
    for s in range(s0, s1):
        row, out = off + s * n, r_off + s * h
        for q in range(q0, q1):
            ops[out + q] = _pair(bits[row + 2 * q], bits[row + 2 * q + 1])
        if (j1 - j0) % 2:
            ops[out + q1] = bf16_bits(bits[row + j1 - 1])
    for s in range(s0, s1 - 1, 2):
        row, out = off + s * n, p_off + (s // 2) * p_ld
        for j in range(j0, j1):
            ops[out + j] = _pair(bits[row + j], bits[row + n + j])
    if (s1 - s0) % 2:
        row, out = off + (s1 - 1) * n, p_off + ((s1 - 1) // 2) * p_ld
        for j in range(j0, j1):
            ops[out + j] = bf16_bits(bits[row + j])


# -- the products -------------------------------------------------------------------------

@jit
def _words(pack):
    return pack.view(np.uint32)


@jit
def mixed_forward(model, l, A, z_off, activation_code, s0, rows, j0, j1, pack):
    """``dense.dense_forward`` for layer row ``l`` on the bfloat16 operands: samples
    ``s0:s0 + rows``, whose A[l] (and Z) ``A`` receives, neurons ``j0:j1``."""
    table, mt = model.table, model.mtable
    h, ld = (table[l, N_IN] + 1) // 2, mt[l, WR_LD]
    gemm_nt(rows, j1 - j0, h, Rows(model.ops, mt[l, XR_OFF] + s0 * h, h),
            Rows(model.w16, mt[l, WR_OFF] + j0 * ld, ld), model.params, table[l, B_OFF] + j0,
            Rows(A.data, A.offset + j0, A.ld))
    activate_rows(A, z_off, activation_code, rows, j0, j1)


@jit
def mixed_delta_product(model, l, D, s0, rows, k0, k1, pack):
    """``backprop.delta_product`` into D[l] of layer row ``l`` (``D``) on the bfloat16
    operands of D[l+1] and W[l+1], for samples ``s0:s0 + rows`` and neurons ``k0:k1``."""
    table, mt = model.table, model.mtable
    n, h = table[l, N_OUT], (table[l + 1, N_OUT] + 1) // 2
    gemm(rows, k1 - k0, h, 1.0, Matrix(model.ops, mt[l + 1, DR_OFF] + s0 * h, h, 1),
         Rows(model.w16, mt[l + 1, WB_OFF] + k0, n), Rows(D.data, D.offset + k0, D.ld), False,
         _words(pack))


@jit
def mixed_gradient_rows(model, l, D, m, out, j0, j1, pack):
    """``backprop.gradient_rows`` with ``step`` 0 (never fused: the sums are float32,
    the update reads them) on the bfloat16 operands of D[l] and A[l-1]: rows ``j0:j1``
    of m dC/dW[l] into ``out`` (in the layout of ``params``), and BP3 in float32."""
    table, mt = model.table, model.mtable
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    w_ld = table[l, W_LD]
    gemm(j1 - j0, n_in, (m + 1) // 2, 1.0, Matrix(model.ops, mt[l, DP_OFF] + j0, 1, n_out),
         Rows(model.ops, mt[l, XP_OFF], mt[l, XP_LD]),
         Rows(out, table[l, W_OFF] + j0 * w_ld, w_ld),
         False, _words(pack))
    bias_rows(D, m, out, table[l, B_OFF], j0, j1, 0.0)


# Rows of W that BP4, the update and the rounding take in turn: their sums, weights and
# state stay in the core's L2 from one to the next.
ROW_BLOCK = 48


@jit
def mixed_layer_step(model, ws, opt, l, batch, j0, j1, out, pack):
    """BP3/BP4 of rows ``j0:j1`` (j0 even) of layer row ``l`` into ``out`` and, unless
    ``opt.code`` is -1, the optimiser's update of those rows and their rounding into WR
    and WB, a block of rows at a time."""
    table, m = model.table, batch.m
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    D = Rows(ws.d, ws.cap * table[l, D_OFF], n_out)
    W = Rows(model.params, table[l, W_OFF], table[l, W_LD])
    for jb in range(j0, j1, ROW_BLOCK):
        je = min(jb + ROW_BLOCK, j1)
        mixed_gradient_rows(model, l, D, m, out, jb, je, pack)
        if opt.code >= 0:
            update_rows(opt, W, n_in, table[l, B_OFF], jb, je, m, batch.t)
            _pack_layer(model, l, jb, je)


# -- rounding the weights, once per step --------------------------------------------------

@jit
def _even_bounds(shard, n_shards, n):
    """Rows of a shard, an even number of them (but the last shard's)."""
    half = (n + 1) // 2
    return min(n, 2 * (shard * half // n_shards)), min(n, 2 * ((shard + 1) * half // n_shards))


@jit
def _pack_layer(model, l, j0, j1):
    """Rows ``j0:j1`` (j0 even; j1 even or n_out) of W[l] into WR and WB: ``to_pairs``
    with W's rows as samples."""
    table, mt, w16 = model.table, model.mtable, model.w16
    n_in, w_ld, w_off = table[l, N_IN], table[l, W_LD], table[l, W_OFF]
    bits = model.params.view(np.uint32)
    h = (n_in + 1) // 2
    wr, ld, wb = mt[l, WR_OFF], mt[l, WR_LD], mt[l, WB_OFF]
    for j in range(j0, j1):
        row, out = w_off + j * w_ld, wr + j * ld
        for q in range(n_in // 2):
            w16[out + q] = _pair(bits[row + 2 * q], bits[row + 2 * q + 1])
        if n_in % 2:
            w16[out + h - 1] = bf16_bits(bits[row + n_in - 1])
    for j in range(j0, j1 - 1, 2):
        row, out = w_off + j * w_ld, wb + (j // 2) * n_in
        for i in range(n_in):
            w16[out + i] = _pair(bits[row + i], bits[row + w_ld + i])
    if (j1 - j0) % 2:
        row, out = w_off + (j1 - 1) * w_ld, wb + ((j1 - 1) // 2) * n_in
        for i in range(n_in):
            w16[out + i] = bf16_bits(bits[row + i])


@jit(parallel=True)
def _pack_all(model, n_shards):
    for shard in prange(0, n_shards):
        for l in range(model.table.shape[0]):
            j0, j1 = _even_bounds(shard, n_shards, model.table[l, N_OUT])
            if j0 < j1:
                _pack_layer(model, l, j0, j1)


# -- what ``step`` calls: nothing for a float32 ``Model`` ---------------------------------

@jit
def _nothing(model, *args):
    pass


@jit
def _pack_mixed(model, n_shards):
    if model.packed[0] == 0:
        _pack_all(model, n_shards)
        model.packed[0] = 1


# Rounds all of WR and WB if they have not been since the call began.
pack_weights = by_structure(MixedModel, _nothing, _pack_mixed)
# Rounds rows j0:j1 (j0 even) of layer row l, just updated: (model, l, j0, j1).
pack_rows = by_structure(MixedModel, _nothing, _pack_layer)


@jit
def _inputs_to_pairs(model, ws, s0, s1):
    n = model.table[0, N_IN]
    to_pairs(ws.a, 0, n, s0, s1, 0, n, model.ops, model.mtable[0, XR_OFF],
             model.mtable[0, XP_OFF], model.mtable[0, XP_LD])


@jit
def _outputs_to_pairs(model, ws, l, s0, s1, j0, j1):
    """A[l+1] (of layer row l) as the operands of the next layer row, if any."""
    table, mt = model.table, model.mtable
    if l + 1 < table.shape[0]:
        n = table[l, N_OUT]
        to_pairs(ws.a, ws.cap * table[l, A_OFF], n, s0, s1, j0, j1, model.ops,
                 mt[l + 1, XR_OFF], mt[l + 1, XP_OFF], mt[l + 1, XP_LD])


@jit
def _deltas_to_pairs(model, ws, l, s0, s1, j0, j1):
    table, mt = model.table, model.mtable
    n = table[l, N_OUT]
    to_pairs(ws.d, ws.cap * table[l, D_OFF], n, s0, s1, j0, j1, model.ops, mt[l, DR_OFF],
             mt[l, DP_OFF], n)


inputs_to_pairs = by_structure(MixedModel, _nothing, _inputs_to_pairs)
outputs_to_pairs = by_structure(MixedModel, _nothing, _outputs_to_pairs)
deltas_to_pairs = by_structure(MixedModel, _nothing, _deltas_to_pairs)
