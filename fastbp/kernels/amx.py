"""The bfloat16 products on AMX tiles (``tuning.bf16_products()`` "amx"), or on the
same layout with the tile instruction emulated ("amx-emulated": any CPU, for tests).

An AMX tile register holds 16 rows of 64 bytes. ``tdpbf16ps`` adds to a 16 x 16
float32 C the product of A, 16 rows of 16 bfloat16 pairs along k, and B, 16 rows
(pairs of k) of 16 columns, whose word (p, q) holds (B[2p, q], B[2p+1, q]) -- the
pairs of ``tiles`` and ``mixed``, read as rows: A's rows as ``mixed`` stores XR and DR,
B's as it stores XP and, under AMX, the weights (see ``mixed``). Per element and pair,
the product of the even members is added first, then that of the odd ones, each
exact, each sum rounded to float32 (Intel's definition of the instruction, which
``tile_block_emulated`` follows).

``tile_block`` computes a block of mt x nt (1 or 2 each) C tiles over kt tiles of k:
the C tiles are loaded from their start values (the biases, or C), stay in tmm0-3 from
the first pair to the last (A in tmm4-5, B in tmm6-7), then are stored in place.
``pair_product`` cuts C (+)= A B into such blocks for slices of KC pairs (whole tiles;
the last pairs of k, under 16, a slice of their own): rows of A or B that are stored as
tiles are read in place; A read transposed (BP4's D) is transposed into the thread's
scratch 16 x 16 words at a time; blocks that run past an edge of A or B are copied
there, completed by zeros, and edge blocks of C are staged there.

Every element of C is a fixed chain -- from its start value (the bias, or C itself),
the pairs in increasing order, C stored and loaded again between slices -- that does
not depend on blocks or threads.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.types import intp

from .._config import jit
from .gemm import PACK_SIZE
from .simd import BF16, transpose_block
from .structures import Rows
from .tiles import switch

TILE = 16  # rows of a tile; words (pairs, or float32 numbers) in a row
BLOCK = 2 * TILE  # rows and columns of C that ``tile_block`` computes at most
KC = 256  # pairs of k per slice: a block of B (32 KiB) stays in L1 ...
MC = 128  # ... while MC rows of A (128 KiB) pass under it from L2
SCRATCH = MC * KC + BLOCK * KC + BLOCK * BLOCK  # words of scratch ``pair_product`` uses
assert SCRATCH <= PACK_SIZE  # the thread's scratch of ``gemm``

_I8, _I64 = ir.IntType(8), ir.IntType(64)
C_TILES, A_TILES, B_TILES = (0, 1, 2, 3), (4, 5), (6, 7)  # tile registers


def _config_bytes():
    """``ldtilecfg``'s 64 bytes: palette 1, tiles 0-7 of 16 rows of 64 bytes."""
    config = bytearray(64)
    config[0] = 1
    for t in range(8):
        config[16 + 2 * t] = 4 * TILE  # bytes per row (16 bits, little-endian)
        config[48 + t] = TILE  # rows
    return config


def _amx(builder, name, *args):
    """Call ``llvm.x86.<name>`` (tile numbers as i8 constants, strides as i64)."""
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [a.type for a in args]), f"llvm.x86.{name}")
    builder.call(function, list(args))


def _emit_block(builder, mt, nt, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld):
    """The tile code for mt x nt C tiles over kt tiles of k: pointers are i8*, strides
    bytes (i64)."""
    def at(base, row, ld, column):  # base + row*ld + column bytes
        return builder.gep(base, [builder.add(builder.mul(row, ld), column)])

    def const(x):
        return ir.Constant(_I64, x)

    tiles = [(i, j, ir.Constant(_I8, C_TILES[2 * i + j])) for i in range(mt) for j in range(nt)]
    for i, j, tile in tiles:
        _amx(builder, "tileloadd64", tile, at(s, const(TILE * i), s_ld, const(4 * TILE * j)), s_ld)
    with cgutils.for_range(builder, kt) as loop:
        t = loop.index
        for i in range(mt):  # A's k-tile t: 64 bytes per tile along its rows
            _amx(builder, "tileloadd64", ir.Constant(_I8, A_TILES[i]),
                 at(a, const(TILE * i), a_ld, builder.mul(t, const(4 * TILE))), a_ld)
        for j in range(nt):  # B's: 16 rows per tile down its rows
            _amx(builder, "tileloadd64", ir.Constant(_I8, B_TILES[j]),
                 at(b, builder.mul(t, const(TILE)), b_ld, const(4 * TILE * j)), b_ld)
        for i, j, tile in tiles:
            _amx(builder, "tdpbf16ps", tile, ir.Constant(_I8, A_TILES[i]),
                 ir.Constant(_I8, B_TILES[j]))
    for i, j, tile in tiles:
        _amx(builder, "tilestored64", tile, at(c, const(TILE * i), c_ld, const(4 * TILE * j)),
             c_ld)


def _pointers(context, builder, sig, args):
    """The arguments as LLVM values: arrays as i8* to their data, integers as i64."""
    values = []
    for ty, value in zip(sig.args, args):
        if isinstance(ty, types.Array):
            value = builder.bitcast(context.make_array(ty)(context, builder, value).data,
                                    _I8.as_pointer())
        else:
            value = context.cast(builder, value, ty, types.int64)
        values.append(value)
    return values


@intrinsic
def tiles_configure(typingctx):
    """Configure the tile registers as ``tile_block`` uses them (``ldtilecfg``), for
    the calling thread; ``tiles_release`` gives them back."""
    def codegen(context, builder, sig, args):
        config_type = ir.ArrayType(_I8, 64)
        with builder.goto_entry_block():
            config = builder.alloca(config_type)
            config.align = 64
        builder.store(ir.Constant(config_type, _config_bytes()), config)
        _amx(builder, "ldtilecfg", builder.bitcast(config, _I8.as_pointer()))
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def tiles_release(typingctx):
    """Return the tile registers to their initial state (``tilerelease``)."""
    def codegen(context, builder, sig, args):
        _amx(builder, "tilerelease")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def tile_block_native(typingctx, mt, nt, kt, a, a_off, a_ld, b, b_off, b_ld, s, s_off, s_ld, c,
                      c_off, c_ld):
    """C[i, q] = S[i, q] + sum over p < 16 kt of A[i, p] . B[p, q] for i < 16 mt,
    q < 16 nt (mt, nt in {1, 2}), by AMX tiles: A[i, p] is word ``a[a_off + i*a_ld + p]``,
    B[p, q] word ``b[b_off + p*b_ld + q]`` (pairs of bfloat16 numbers), S[i, q] and C[i, q]
    the float32 ``s[s_off + i*s_ld + q]`` and ``c[c_off + i*c_ld + q]`` (s_ld 0: one row
    for all). The tiles must be configured (``tiles_configure``). Compiles only for a
    CPU with AMX-BF16; runs only once Linux has granted the tiles
    (``tuning.amx_permitted``)."""
    if not (isinstance(a, types.Array) and isinstance(c, types.Array)
            and a.dtype == b.dtype == types.uint32 and s.dtype == c.dtype == types.float32):
        return None
    sig = types.void(mt, nt, kt, a, a_off, a_ld, b, b_off, b_ld, s, s_off, s_ld, c, c_off, c_ld)

    def codegen(context, builder, sig, args):
        mt, nt, kt, *places = _pointers(context, builder, sig, args)
        four, one = ir.Constant(_I64, 4), ir.Constant(_I64, 1)
        bases, strides = [], []
        for data, offset, ld in zip(places[0::3], places[1::3], places[2::3]):
            bases.append(builder.gep(data, [builder.mul(offset, four)]))
            strides.append(builder.mul(ld, four))
        (a, b, s, c), (a_ld, b_ld, s_ld, c_ld) = bases, strides
        selector = builder.add(builder.shl(builder.sub(mt, one), one), builder.sub(nt, one))
        switch(builder, selector, _I64, {
            2 * (m - 1) + (n - 1): (lambda m=m, n=n: _emit_block(
                builder, m, n, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld))
            for m in (1, 2) for n in (1, 2)})
        return context.get_dummy_value()

    return sig, codegen


def _half_intrinsic(shift, mask):
    def half(typingctx, word):
        if word != types.uint32:
            return None

        def codegen(context, builder, sig, args):
            value = args[0]
            if shift:
                value = builder.shl(value, ir.Constant(value.type, shift))
            if mask:
                value = builder.and_(value, ir.Constant(value.type, mask))
            return builder.bitcast(value, ir.FloatType())

        return types.float32(word), codegen
    return intrinsic(half)


# The bfloat16 number of even index (low half) and of odd index (high half) of a word,
# as float32.
even_half = _half_intrinsic(16, 0)
odd_half = _half_intrinsic(0, 0xFFFF0000)


@jit
def tile_block_emulated(mt, nt, kt, a, a_off, a_ld, b, b_off, b_ld, s, s_off, s_ld, c, c_off,
                        c_ld):
    """``tile_block_native`` on any CPU, in float32 arithmetic, as Intel defines the
    instruction: per element, for each pair in increasing order, the exact product of
    the even members added, then that of the odd ones. (The hardware's sums differ in
    the last bits: it does not round as that definition does.)"""
    for i in range(TILE * mt):
        for q in range(TILE * nt):
            acc = s[s_off + i * s_ld + q]
            for p in range(TILE * kt):
                x, y = a[a_off + i * a_ld + p], b[b_off + p * b_ld + q]
                acc += even_half(x) * even_half(y)
                acc += odd_half(x) * odd_half(y)
            c[c_off + i * c_ld + q] = acc


@jit(inline=True)
def _no_tiles():
    pass


if numba.config.DISABLE_JIT:  # intrinsics cannot run as Python: plain twins do
    def even_half(word):
        return np.uint32(np.uint32(word) << np.uint32(16)).view(np.float32)

    def odd_half(word):
        return np.uint32(np.uint32(word) & np.uint32(0xFFFF0000)).view(np.float32)

if BF16 == "amx" and not numba.config.DISABLE_JIT:
    tile_block, tiles_begin, tiles_end = tile_block_native, tiles_configure, tiles_release
else:
    tile_block, tiles_begin, tiles_end = tile_block_emulated, _no_tiles, _no_tiles


# -- C (+)= A B in blocks of tiles --------------------------------------------------------

@jit(inline=True)
def _pack_a(a, a_off, a_rs, a_cs, rows, kc, ld, scratch):
    """A[:rows, :kc] (A[i, p] = ``a[a_off + i*a_rs + p*a_cs]``) into rows of tiles in
    ``scratch`` (row i from ``i*ld``), completed by zeros to whole tiles: where A is
    read transposed (a_rs 1), 16 x 16 words at a time in registers."""
    for i0 in range(0, rows + (-rows) % TILE, TILE):
        for p0 in range(0, ld, TILE):
            if a_rs == 1 and i0 + TILE <= rows and p0 + TILE <= kc:
                transpose_block(a, a_off + p0 * a_cs + i0, a_cs, scratch, i0 * ld + p0, ld)
                continue
            for i in range(i0, i0 + TILE):
                for p in range(p0, p0 + TILE):
                    inside = i < rows and p < kc
                    scratch[i * ld + p] = a[a_off + i * a_rs + p * a_cs] if inside else 0


@jit(inline=True)
def _pack_b(b, b_off, ldb, kc, cols, kt, ld, scratch, s_off):
    """B[:kc, :cols] (B[p, q] = ``b[b_off + p*ldb + q]``) into ``scratch`` from
    ``s_off``, rows ``ld`` apart, completed by zeros to kt x ld/16 tiles."""
    for p in range(TILE * kt):
        for q in range(ld):
            inside = p < kc and q < cols
            scratch[s_off + p * ld + q] = b[b_off + p * ldb + q] if inside else 0


@jit(inline=True)
def _block(tiles, X, Y, C, rows, cols, bias, b_off, first, stage, staged):
    """C's block of ``rows`` x ``cols`` (``C`` from its first element) of ``tiles`` =
    (mt, nt, kt) by ``tile_block`` from the words ``X`` and ``Y`` (Rows), from the biases
    (``first``) or from C: in place where it is whole tiles, else staged."""
    mt, nt, kt = tiles
    x, x_off, x_ld = X
    y, y_off, y_ld = Y
    c, at, ldc = C
    if rows == TILE * mt and cols == TILE * nt:
        if first:  # each row starts at the biases
            tile_block(mt, nt, kt, x, x_off, x_ld, y, y_off, y_ld, bias, b_off, 0, c, at, ldc)
        else:
            tile_block(mt, nt, kt, x, x_off, x_ld, y, y_off, y_ld, c, at, ldc, c, at, ldc)
        return
    for i in range(TILE * mt):  # an edge: C's start values staged, then back
        row = staged + i * BLOCK
        for q in range(TILE * nt):
            stage[row + q] = 0
        if i < rows:
            for q in range(cols):
                stage[row + q] = bias[b_off + q] if first else c[at + i * ldc + q]
    tile_block(mt, nt, kt, x, x_off, x_ld, y, y_off, y_ld, stage, staged, BLOCK, stage, staged,
               BLOCK)
    for i in range(rows):
        for q in range(cols):
            c[at + i * ldc + q] = stage[staged + i * BLOCK + q]


def _pair_product(m, n, k, A, B, C, bias, b_off, accumulate, scratch):
    """C (+)= A B on bfloat16 pairs in AMX tiles; a serial worker.

    Parameters
    ----------
    m, n, k : int
        Rows of C, columns of C, pairs of k.
    A : Matrix
        Words A[i, p] = ``A.data[A.offset + i*A.rs + p*A.cs]``.
    B : Rows
        Words B[p, q] = ``B.data[B.offset + p*B.ld + q]``.
    C : Rows
        float32 C[i, q] = ``C.data[C.offset + i*C.ld + q]``.
    bias, b_off : ndarray, int
        C[i, q] starts at ``bias[b_off + q]``, or at C[i, q] with ``accumulate``.
    scratch : ndarray, 1-D, uint32
        At least SCRATCH words, private to the calling thread.
    """
    a, a_off, a_rs, a_cs = A
    b, b_start, ldb = B
    c, c_off, ldc = C
    stage = scratch.view(np.float32)
    packed_b, staged = MC * KC, MC * KC + BLOCK * KC  # where B's edge blocks and C's go
    tiles_begin()
    k0 = 0
    while k0 < k:
        kc = min(KC, k - k0)
        if kc > TILE:  # whole tiles of k first, read in place; the rest a slice of its own
            kc -= kc % TILE
        kt = (kc + TILE - 1) // TILE
        ld = TILE * kt  # of packed rows of A
        whole = kc == ld
        first = k0 == 0 and not accumulate
        direct = a_cs == 1 and whole  # A's rows are tiles as stored
        for i1 in range(0, m, MC):  # MC rows of A, in L2, pass under each block of B (L1)
            chunk = min(MC, m - i1)
            last = i1 + (chunk - 1) // BLOCK * BLOCK  # the last block of rows
            if not direct:
                _pack_a(a, a_off + i1 * a_rs + k0 * a_cs, a_rs, a_cs, chunk, kc, ld, scratch)
            elif (i1 + chunk - last) % TILE:  # its rows are not whole tiles: copied
                _pack_a(a, a_off + last * a_rs + k0, a_rs, 1, i1 + chunk - last, kc, ld, scratch)
            for j0 in range(0, n, BLOCK):
                cols = min(BLOCK, n - j0)
                nt = (cols + TILE - 1) // TILE
                if whole and cols == TILE * nt:
                    y, y_off, y_ld = b, b_start + k0 * ldb + j0, ldb
                else:
                    _pack_b(b, b_start + k0 * ldb + j0, ldb, kc, cols, kt, TILE * nt, scratch,
                            packed_b)
                    y, y_off, y_ld = scratch, packed_b, TILE * nt
                for i0 in range(i1, i1 + chunk, BLOCK):
                    rows = min(BLOCK, i1 + chunk - i0)
                    mt = (rows + TILE - 1) // TILE
                    if not direct:
                        x, x_off, x_ld = scratch, (i0 - i1) * ld, ld
                    elif rows == TILE * mt:
                        x, x_off, x_ld = a, a_off + i0 * a_rs + k0, a_rs
                    else:
                        x, x_off, x_ld = scratch, 0, ld
                    _block((mt, nt, kt), Rows(x, x_off, x_ld), Rows(y, y_off, y_ld),
                           Rows(c, c_off + i0 * ldc + j0, ldc), rows, cols, bias, b_off + j0,
                           first, stage, staged)
        k0 += kc
    tiles_end()


def _signature():
    words, floats = types.Array(types.uint32, 1, "C"), types.Array(types.float32, 1, "C")
    return types.void(intp, intp, intp, types.Tuple((words, intp, intp, intp)),
                      types.Tuple((words, intp, intp)), types.Tuple((floats, intp, intp)),
                      floats, intp, types.boolean, words)


if numba.config.DISABLE_JIT:  # plain Python: the body itself
    pair_product = _pair_product
else:
    from .linked import compile_once

    _pair_product_c = compile_once("amx_pair_product", _pair_product, {"bf16": _signature()})

    @jit
    def pair_product(m, n, k, A, B, C, bias, b_off, accumulate, scratch):
        """C (+)= A B on AMX tiles: ``_pair_product``, compiled once."""
        _pair_product_c((m, n, k, A, B, C, bias, b_off, accumulate, scratch))
