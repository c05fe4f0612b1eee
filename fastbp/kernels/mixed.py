"""Mixed precision ("bf16-mixed"): the three products of every layer on bfloat16
operands, accumulated in float32; everything else in float32.

    forward   Z[l] = bf16(A[l-1]) bf16(W[l])^T + b[l]
    BP2       D[l] = (bf16(D[l+1]) bf16(W[l+1])) * f'(Z[l])
    BP4       m dC/dW[l] = bf16(D[l])^T bf16(A[l-1])

bf16(x) rounds a float32 to the nearest bfloat16, ties to even (a NaN stays a NaN); a
bfloat16 number is the top half of a float32, so each product of two is exact in
float32. The master weights, biases, optimiser state, A, Z, D, f' and the cost stay
float32, and so does every sum (BP3 included). A layer of fewer than FLOAT32_BELOW
neurons (a classifier's output layer) stays float32 whole (``float32_layer``): BP2 from
it costs more as pairs than it saves (XL: 0.6 against 0.16 ms a step); its forward pass
and BP4 cost about the same either way (a step of L the same, of XL 0-3% more), with no
rounding of its inputs, deltas and weights, and its logits are then float32 sums of
float32 products.

The operands travel as 32-bit words that each hold two bfloat16 numbers consecutive
along the sum's index, the one of even index in the low half (the tiles of ``simd``
multiply such pairs, ``vdpbf16ps``): each product is a ``gemm_nt`` (forward: the
dot-product form, both factors along k) or a ``gemm`` (BP2, BP4: the axpy form, B read
as rows of pairs along k) as in float32, whose k counts pairs. Per layer row l (offsets
in ``MixedModel.mtable``, in words):

    WR   W[l] paired along its inputs:    WR[j, p] = (W[j, 2p], W[j, 2p+1])   forward's W
    WT   W[l] paired along its outputs:   WT[p, i] = (W[2p, i], W[2p+1, i])   BP2's B
    XR   A[l-1] paired along neurons:     XR[s, p] = (A[s, 2p], A[s, 2p+1])   forward's A
    XP   A[l-1] paired along samples:     XP[p, i] = (A[2p, i], A[2p+1, i])   BP4's B
    DR   D[l] paired along neurons                                            BP2's A
    DP   D[l] paired along samples:       DP[j, p] = (D[2p, j], D[2p+1, j])   BP4's A

On the vector tiles both copies of W are rounded row by row, with no transposition (BP2
in the dot-product form read W paired along its outputs transposed, WT[i, p]: its copy,
transposed 16 x 16 words at a time, and the product cost more, an XL epoch 4-5% slower
on Zen 4). D, smaller, is the one transposed (16 x 16 words at a time in registers):
BP4 then reads the rows of DP as its A, where reading DP[p, j] across rows made it copy
every block of A first.

On AMX tiles (``amx``: "amx" and "amx-emulated" in ``tuning.bf16_products``) every
product is C = A B with B read as rows of pairs along k, so WR holds W that way too:

    WR   WR[p, j] = (W[j, 2p], W[j, 2p+1])    forward's B       (rows of n_out words)
    DP   DP[p, j] = (D[2p, j], D[2p+1, j])    BP4's A, read transposed

(``amx`` transposes DP into tiles), and XP as it is.

The rows of WR, WT, XP, DR and DP are WR_LD, WT_LD, XP_LD, DR_LD and DP_LD
(``layout.weight_stride``) words apart: as W's, so that rows read together do not share
cache sets. An odd count is completed
by a zero. WR and WT (in ``w16``) are rounded from the master weights once per weight
per step: by the thread that has just updated a block of rows (``mixed_layer_step``;
``pack_rows`` after the data-parallel update), and by ``pack_weights`` before the first
batch of a call (``MixedModel.packed[0]`` is 0 until then); XR/XP and DR/DP (in
``ops``) by the thread that has just computed the block of A or D they hold
(``operands_of``). A block of samples starts at an even sample (``step``'s shards), and
of neurons at an even neuron, so no pair straddles two threads.
"""

import numba
import numpy as np
from numba import prange

from .._config import jit
from .backprop import bias_rows, delta_product
from .dense import activate_rows
from .gemm import gemm, gemm_nt
from .layout import A_OFF, ALIGN, B_OFF, D_OFF, N_IN, N_OUT, W_LD, W_OFF, weight_stride
from .optimizers import update_rows
from .simd import BF16, TRANSPOSE, bf16_round, transpose_block, transpose_half_block
from .structures import SUMS_ROWS, Matrix, MixedModel, Rows, by_structure, scratch

FLOAT32_BELOW = 32
# On AMX tiles (``amx``) every product takes B as rows of pairs along k: the forward
# pass's copy of W (WR) is kept in that layout too, and BP4's A (DP) is transposed by them.
AMX = BF16 in ("amx", "amx-emulated")
if AMX:
    from .amx import pair_product

WR_OFF, WT_OFF, XR_OFF, XP_OFF, DR_OFF, DP_OFF, WR_LD, WT_LD, XP_LD, DR_LD, DP_LD = range(11)


@jit(inline=True)
def float32_layer(table, l):
    """Whether layer row ``l`` takes float32 operands (see above)."""
    return table[l, N_OUT] < FLOAT32_BELOW


def _half(n):
    return (int(n) + 1) // 2


def _up(n):
    return -(-int(n) // ALIGN) * ALIGN


def mixed_table(table, cap):
    """(mtable, words of ``w16``, words of ``ops``) of the network of ``table`` for
    batches of up to ``cap`` samples."""
    mtable = np.zeros((table.shape[0], 11), dtype=np.int64)
    w = o = 0
    for l, row in enumerate(table):
        n_in, n_out = int(row[N_IN]), int(row[N_OUT])
        mtable[l, XP_LD] = weight_stride(n_in)
        mtable[l, DR_LD] = weight_stride(_half(n_out))
        # DP[p, j] (AMX) or DP[j, p] (rows of sample pairs, BP4's A read along its rows)
        mtable[l, DP_LD] = n_out if AMX else weight_stride(_half(cap))
        mtable[l, WT_LD] = weight_stride(n_in)  # WT[p, i] = (W[2p, i], W[2p+1, i])
        if AMX:  # WR[p, j] = (W[j, 2p], W[j, 2p+1])
            mtable[l, WR_LD] = weight_stride(n_out)
            wr_words = _half(n_in) * mtable[l, WR_LD]
        else:  # WR[j, p] = (W[j, 2p], W[j, 2p+1])
            mtable[l, WR_LD] = weight_stride(_half(n_in))
            wr_words = mtable[l, WR_LD] * n_out
        w_words = (wr_words, _half(n_out) * mtable[l, WT_LD])
        sizes = ((WR_OFF, w_words[0], True), (WT_OFF, w_words[1], True),
                 (XR_OFF, cap * _half(n_in), False), (XP_OFF, _half(cap) * mtable[l, XP_LD], False),
                 (DR_OFF, cap * mtable[l, DR_LD], False),
                 (DP_OFF, (_half(cap) if AMX else n_out) * mtable[l, DP_LD], False))
        for column, words, of_weights in sizes:
            words = 0 if n_out < FLOAT32_BELOW else words  # a float32_layer has none
            if of_weights:
                mtable[l, column], w = w, _up(w + words)
            else:
                mtable[l, column], o = o, _up(o + words)
    return mtable, w, o


def mixed_model(model, w16, ops, mtable):
    """``model`` (a ``structures.Model``) with its bfloat16 operands, WR and WT to be
    rounded from the weights before they are used."""
    zeros = np.zeros(int(model.table[:, N_IN].max()), dtype=np.float32)  # BP2's "biases"
    return MixedModel(*model, w16, ops, mtable, zeros, np.zeros(1, dtype=np.int64))


@jit
def bf16_bits(u):
    """The bfloat16 nearest (ties to even) to the float32 of bits ``u``, as an integer
    (a NaN stays one). Branch-free, so that loops of it vectorise."""
    u = np.int64(u)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded if (u & 0x7FFFFFFF) <= 0x7F800000 else 0x7FC0


# Where the CPU multiplies bfloat16 numbers, it rounds them too (``simd.bf16_round``:
# several times faster; denormals flushed, as its products would treat them); emulated
# products round as ``bf16_bits`` does.
to_bf16 = (bf16_round if BF16 in ("amx", "avx512bf16") and not numba.config.DISABLE_JIT
           else bf16_bits)


@jit
def _pair(lo, hi):
    """The word of two float32 bit patterns rounded to bfloat16, ``lo`` in the low half."""
    return to_bf16(lo) | (to_bf16(hi) << 16)


@jit
def _round(x, out):
    """out[i] = bf16(x[i]): float32 bits to bfloat16 halves (slices: the loop vectorises)."""
    for i in range(out.shape[0]):
        out[i] = to_bf16(x[i])


@jit
def _round_pairs(lo, hi, out):
    """out[i] = (bf16(lo[i]), bf16(hi[i])) as words."""
    for i in range(out.shape[0]):
        out[i] = _pair(lo[i], hi[i])


@jit
def to_pairs(S, n, s0, s1, j0, j1, R, P):
    """Rows ``s0:s1`` (s0 even; s1 even or the last row) and columns ``j0:j1`` (j0 even;
    j1 even or n) of the float32 matrix S (``Rows``, n columns) as bfloat16 pairs:
    along columns into the words of ``R`` (``Rows``: row s from ``R.offset + s*R.ld``),
    along rows into those of ``P`` (word (p, j) at ``P.offset + p*P.ld + j``; None:
    not wanted). A pair missing its odd member gets a zero."""
    bits = S.data.view(np.uint32)
    halves = R.data.view(np.uint16)  # little-endian: the low half first
    for s in range(s0, s1):  # a row of bfloat16 numbers is a row of their pairs
        row, out = S.offset + s * S.ld, 2 * (R.offset + s * R.ld)
        _round(bits[row + j0:row + j1], halves[out + j0:out + j1])
        if j1 == n and n % 2:
            halves[out + n] = 0
    if P is not None:
        _pair_rows(S, s0, s1, j0, j1, P)


@jit
def _pair_rows(S, s0, s1, j0, j1, P):
    """``to_pairs``'s pairs along rows: word (p, j) at ``P.offset + p*P.ld + j``."""
    bits, words = S.data.view(np.uint32), P.data
    for s in range(s0, s1, 2):
        row, out = S.offset + s * S.ld, P.offset + (s // 2) * P.ld
        if s + 1 < s1:
            _round_pairs(bits[row + j0:row + j1], bits[row + S.ld + j0:row + S.ld + j1],
                         words[out + j0:out + j1])
        else:
            _round(bits[row + j0:row + j1], words[out + j0:out + j1])


# -- the products -------------------------------------------------------------------------

@jit(inline=True)
def _words(pack):
    return pack.view(np.uint32)


@jit
def mixed_forward(model, l, A, z_off, activation_code, s0, rows, j0, j1, pack):
    """``dense.dense_forward`` for layer row ``l`` on the bfloat16 operands: samples
    ``s0:s0 + rows``, whose A[l] (and Z) ``A`` receives, neurons ``j0:j1``."""
    _forward_pairs(model, l, A, s0, rows, j0, j1, pack)
    activate_rows(A, z_off, activation_code, rows, j0, j1)


@jit
def mixed_delta_product(model, l, D_next, D, s0, rows, k0, k1, pack):
    """``backprop.delta_product`` into D[l] of layer row ``l`` (``D``) on the bfloat16
    operands of D[l+1] and W[l+1] (float32 ones, ``D_next`` and the weights, below
    FLOAT32_BELOW neurons in layer l+1), for samples ``s0:s0 + rows`` and neurons
    ``k0:k1``."""
    table = model.table
    if float32_layer(table, l + 1):
        W = Rows(model.params, table[l + 1, W_OFF], table[l + 1, W_LD])
        delta_product(D_next, W, D, rows, k0, k1, pack)
    else:
        _delta_pairs(model, l, D, s0, rows, k0, k1, pack)


# The forward pass on the vector tiles: Z = A W^T + b (``gemm_nt``, the dot-product form).

@jit(inline=True)
def _forward_pairs(model, l, A, s0, rows, j0, j1, pack):
    table, mt = model.table, model.mtable
    h, ld = (table[l, N_IN] + 1) // 2, mt[l, WR_LD]
    gemm_nt(rows, j1 - j0, h, Rows(model.ops, mt[l, XR_OFF] + s0 * h, h),
            Rows(model.w16, mt[l, WR_OFF] + j0 * ld, ld), model.params, table[l, B_OFF] + j0,
            Rows(A.data, A.offset + j0, A.ld))


# The same on AMX tiles: C (+)= A B, B's rows of pairs along k as they are stored.

@jit(inline=True)
def _amx_forward_pairs(model, l, A, s0, rows, j0, j1, pack):
    table, mt = model.table, model.mtable
    h = (table[l, N_IN] + 1) // 2
    pair_product(rows, j1 - j0, h, Matrix(model.ops, mt[l, XR_OFF] + s0 * h, h, 1),
                 Rows(model.w16, mt[l, WR_OFF] + j0, mt[l, WR_LD]),
                 Rows(A.data, A.offset + j0, A.ld), model.params, table[l, B_OFF] + j0, False,
                 _words(pack))


# BP2 and BP4: C = A B from zero, B's rows of pairs along k as they are stored, on the
# vector tiles (``gemm``, the axpy form) or on AMX tiles.

@jit(inline=True)
def _vector_sums(model, m, n, k, A, B, C, pack):
    gemm(m, n, k, 1.0, A, B, C, False, _words(pack))


@jit(inline=True)
def _amx_sums(model, m, n, k, A, B, C, pack):
    pair_product(m, n, k, A, B, C, model.zeros, 0, False, _words(pack))


if AMX:
    _forward_pairs, _pair_sums = _amx_forward_pairs, _amx_sums
else:
    _pair_sums = _vector_sums


@jit(inline=True)
def _delta_pairs(model, l, D, s0, rows, k0, k1, pack):
    mt = model.mtable
    h, ld = (model.table[l + 1, N_OUT] + 1) // 2, mt[l + 1, DR_LD]
    _pair_sums(model, rows, k1 - k0, h, Matrix(model.ops, mt[l + 1, DR_OFF] + s0 * ld, ld, 1),
               Rows(model.w16, mt[l + 1, WT_OFF] + k0, mt[l + 1, WT_LD]),
               Rows(D.data, D.offset + k0, D.ld), pack)


@jit(inline=True)
def _gradient_pairs(model, l, m, G, j0, j1, pack):
    mt = model.mtable
    # DP[p, j] under AMX (read transposed), else DP[j, p] (see the layouts above)
    rs, cs = (1, mt[l, DP_LD]) if AMX else (mt[l, DP_LD], 1)
    _pair_sums(model, j1 - j0, model.table[l, N_IN], (m + 1) // 2,
               Matrix(model.ops, mt[l, DP_OFF] + j0 * rs, rs, cs),
               Rows(model.ops, mt[l, XP_OFF], mt[l, XP_LD]),
               Rows(G.data, G.offset + j0 * G.ld, G.ld), pack)


@jit
def mixed_layer_step(model, ws, opt, l, batch, j0, j1, out, pack, sums):
    """BP3/BP4 of rows ``j0:j1`` (j0 even) of layer row ``l`` and, unless ``opt.code``
    is -1, the optimiser's update of those rows and their rounding into WR and WT,
    SUMS_ROWS rows at a time: their weights' sums in ``sums`` (the thread's block, which
    stays in its L2 from BP4 to the update: written to ``out``, as large as W, the sums
    went to memory, and BP4 on XL ran at 140 instead of 195 GFLOP/s a core), the biases'
    in ``out``. With ``opt.code`` -1 (or no room in ``sums``) the weights' sums too go to
    ``out`` (in the layout of ``params``)."""
    table, m = model.table, batch.m
    n_in, n_out, w_ld = table[l, N_IN], table[l, N_OUT], table[l, W_LD]
    D = Rows(ws.d, ws.cap * table[l, D_OFF], n_out)
    W = Rows(model.params, table[l, W_OFF], w_ld)
    for jb in range(j0, j1, SUMS_ROWS):
        je = min(jb + SUMS_ROWS, j1)
        G = Rows(out, table[l, W_OFF], w_ld)
        if opt.code >= 0 and sums.shape[0] >= SUMS_ROWS * w_ld:  # row j at (j - jb) w_ld
            G = Rows(sums, -jb * w_ld, w_ld)
        _gradient_pairs(model, l, m, G, jb, je, pack)
        bias_rows(D, m, out, table[l, B_OFF], jb, je, 0.0, pack)
        if opt.code >= 0:
            update_rows(opt, W, G, n_in, table[l, B_OFF], jb, je, m, batch.t)
            _pack_layer(model, l, jb, je, pack)


# -- rounding the weights, once per step --------------------------------------------------

@jit(inline=True)
def even_bounds(shard, n_shards, n):
    """Rows ``j0:j1`` of n that shard ``shard`` of ``n_shards`` takes: an even number
    (but the last shard's), so that no pair straddles two threads (``step``'s shards of
    samples and of a layer's rows, and the rounding of the weights)."""
    half = (n + 1) // 2
    return min(n, 2 * (shard * half // n_shards)), min(n, 2 * ((shard + 1) * half // n_shards))


@jit
def _pack_layer(model, l, j0, j1, pack):
    """Rows ``j0:j1`` (j0 even; j1 even or n_out) of W[l] into WR and WT; ``pack``: the
    thread's scratch (``gemm``'s)."""
    table, mt, w16 = model.table, model.mtable, model.w16
    if float32_layer(table, l):
        return
    n_in = table[l, N_IN]
    W = Rows(model.params, table[l, W_OFF], table[l, W_LD])
    WR = Rows(w16, mt[l, WR_OFF], mt[l, WR_LD])
    if AMX:
        _rows_paired_transposed(W, n_in, j0, j1, WR, _words(pack))
    else:
        to_pairs(W, n_in, j0, j1, 0, n_in, WR, None)
    if l > 0:  # BP2 reads WT
        _pair_rows(W, j0, j1, 0, n_in, Rows(w16, mt[l, WT_OFF], mt[l, WT_LD]))


@jit
def _rows_paired_transposed(S, n, j0, j1, T, scratch):
    """Rows ``j0:j1`` of the float32 matrix S (``Rows``, n columns) paired along its
    columns, transposed into the words of ``T``: T[p, j] = (S[j, 2p], S[j, 2p+1]).
    2 PAIRS rows at a time, and as many pairs as ``scratch`` holds, are rounded into it
    (a vectorised pass), then transposed into T 16 x 16 words at a time, in registers;
    the edges one by one."""
    h, rows = (n + 1) // 2, 2 * PAIRS
    width = min(h, max(PAIRS, scratch.shape[0] // rows // PAIRS * PAIRS))  # pairs at a time
    for jb in range(j0, j1, rows):
        je = min(jb + rows, j1)
        for c0 in range(0, h, width):
            w = min(width, h - c0)  # pair (j, c0 + p) at (j - jb) w + p:
            to_pairs(S, n, jb, je, 2 * c0, min(2 * (c0 + w), n), Rows(scratch, -jb * w - c0, w),
                     None)
            for p0 in range(0, w, PAIRS):
                out = T.offset + (c0 + p0) * T.ld
                for q0 in range(jb, je, PAIRS):
                    if p0 + PAIRS <= w and q0 + PAIRS <= je:
                        transpose_block(scratch, (q0 - jb) * w + p0, w, T.data, out + q0, T.ld)
                        continue
                    for p in range(p0, min(p0 + PAIRS, w)):
                        for j in range(q0, min(q0 + PAIRS, je)):
                            T.data[out + (p - p0) * T.ld + j] = scratch[(j - jb) * w + p]


PAIRS = TRANSPOSE  # the square blocks of words transposed in registers: 64 bytes a row
HALF = PAIRS // 2


@jit
def _pairs_transposed(S, n, j0, j1, T, scratch):
    """Rows ``j0:j1`` (j0 even) of the float32 matrix S (``Rows``, n columns) paired
    along rows into the words of ``T``, transposed: T[i, p] = (S[2p, i], S[2p+1, i]).
    PAIRS pairs of rows at a time are rounded into ``scratch`` as rows of words (a
    vectorised pass), then transposed into T in square blocks of PAIRS (or HALF, for
    fewer pairs) columns, in registers; the last columns and pairs one by one."""
    chunk = scratch.shape[0] // PAIRS  # columns at a time
    for jb in range(j0, j1, 2 * PAIRS):
        je = min(jb + 2 * PAIRS, j1)
        pairs = (je - jb + 1) // 2
        for i0 in range(0, n, chunk):
            i1 = min(i0 + chunk, n)
            width = i1 - i0  # word (q, i) of the block at q*width + i - i0:
            _pair_rows(S, jb, je, i0, i1, Rows(scratch, -(jb // 2) * width - i0, width))
            # columns i0:done of pairs 0:covered in blocks
            covered, done = 0, i0
            if pairs == PAIRS:
                covered = PAIRS
                while done + PAIRS <= i1:
                    transpose_block(scratch, done - i0, width, T.data,
                                    T.offset + done * T.ld + jb // 2, T.ld)
                    done += PAIRS
            elif pairs >= HALF:
                covered = HALF
                while done + HALF <= i1:
                    transpose_half_block(scratch, done - i0, width, T.data,
                                         T.offset + done * T.ld + jb // 2, T.ld)
                    done += HALF
            for i in range(i0, i1):
                out = T.data[T.offset + i * T.ld + jb // 2:][:pairs]
                for q in range(covered if i < done else 0, pairs):
                    out[q] = scratch[q * width + i - i0]


@jit(parallel=True)
def _pack_all(model, ws):
    for shard in prange(0, ws.n_shards):
        pack = scratch(ws, shard)
        for l in range(model.table.shape[0]):
            j0, j1 = even_bounds(shard, ws.n_shards, model.table[l, N_OUT])
            if j0 < j1:
                _pack_layer(model, l, j0, j1, pack)


# -- what ``step`` calls: nothing for a float32 ``Model`` ---------------------------------

@jit(inline=True)
def _no_packing(model, ws):
    pass


@jit(inline=True)
def _no_row_packing(model, l, j0, j1, pack):
    pass


@jit
def _pack_mixed(model, ws):
    if model.packed[0] == 0:
        _pack_all(model, ws)
        model.packed[0] = 1


# Rounds all of WR and WT if they have not been since the call began.
pack_weights = by_structure(MixedModel, _no_packing, _pack_mixed)
# Rounds rows j0:j1 (j0 even) of layer row l, just updated: (model, l, j0, j1, pack).
pack_rows = by_structure(MixedModel, _no_row_packing, _pack_layer)


# What a phase of ``step`` leaves for the products: nothing, the inputs A[0], the
# outputs of layer row l, the deltas of layer row l.
NO_OPERANDS, INPUT_OPERANDS, OUTPUT_OPERANDS, DELTA_OPERANDS = range(4)


@jit
def _operands_of(model, ws, kind, l, s0, s1, j0, j1, pack):
    """Samples ``s0:s1`` and neurons ``j0:j1`` of what ``kind`` names, just computed, as
    the bfloat16 operands of the products that read them; ``pack``: the thread's
    scratch."""
    table, mt, cap = model.table, model.mtable, ws.cap
    if kind == INPUT_OPERANDS and not float32_layer(table, 0):
        n = table[0, N_IN]
        to_pairs(Rows(ws.a, 0, n), n, s0, s1, 0, n, Rows(model.ops, mt[0, XR_OFF], (n + 1) // 2),
                 Rows(model.ops, mt[0, XP_OFF], mt[0, XP_LD]))
    elif (kind == OUTPUT_OPERANDS and l + 1 < table.shape[0]
          and not float32_layer(table, l + 1)):  # the next layer's inputs
        n = table[l, N_OUT]
        to_pairs(Rows(ws.a, cap * table[l, A_OFF], n), n, s0, s1, j0, j1,
                 Rows(model.ops, mt[l + 1, XR_OFF], (n + 1) // 2),
                 Rows(model.ops, mt[l + 1, XP_OFF], mt[l + 1, XP_LD]))
    elif kind == DELTA_OPERANDS and not float32_layer(table, l):
        n = table[l, N_OUT]
        D, DP = Rows(ws.d, cap * table[l, D_OFF], n), Rows(model.ops, mt[l, DP_OFF], mt[l, DP_LD])
        if l > 0:  # BP2 reads DR
            to_pairs(D, n, s0, s1, j0, j1, Rows(model.ops, mt[l, DR_OFF], mt[l, DR_LD]), None)
        if AMX:
            _pair_rows(D, s0, s1, j0, j1, DP)
        else:  # DP[j, p]: columns j0:j1 of D, paired along rows and transposed
            _pairs_transposed(Rows(D.data, D.offset + j0, D.ld), j1 - j0, s0, s1,
                              Rows(DP.data, DP.offset + j0 * DP.ld, DP.ld), _words(pack))


@jit(inline=True)
def _no_operands(model, ws, kind, l, s0, s1, j0, j1, pack):
    pass


# (model, ws, kind, l, s0, s1, j0, j1, pack): nothing for a float32 ``Model``.
operands_of = by_structure(MixedModel, _no_operands, _operands_of)
