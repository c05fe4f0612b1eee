"""The matrix-multiply tiles of ``tiles`` as Numba intrinsics, for the kernel variant
chosen for this CPU.

The variant (see :mod:`fastbp.tuning`) fixes the vector width and the tile shapes
before anything is compiled; it is measured once per CPU, cached, and can be forced
with ``FASTBP_KERNEL``. Each intrinsic takes the tile's shape at run time and branches
(an LLVM ``switch``) to a block compiled for that shape:

- ``axpy_tile``: C (+)= A B for MAX_ROWS rows (or 1) and two vectors of columns.
- ``dot_tile``: Z = A W^T + b for DOT x DOT dot products (or 1 x DOT, DOT x 1, 1 x 1).

Both also multiply bfloat16 numbers (precision "bf16-mixed"): given uint32 arrays for
A and B (W), whose words each hold a pair of bfloat16 numbers consecutive along k (see
``tiles``), and float32 C (Z, bias), they add both products of each pair, by
``vdpbf16ps`` or, where ``tuning.bf16_products`` says so, emulated.
"""

import numba
import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..tuning import bf16_products, build_name, kernel_variant
from .tiles import Operands, dpbf16_emulated, dpbf16_ir, dpbf16_native, emit_axpy, emit_dot, switch

VARIANT = kernel_variant()
BUILD = build_name()  # the variant, and how bfloat16 pairs are multiplied
BF16 = bf16_products()
VECTOR_BYTES = VARIANT.vector_bytes
MAX_ROWS = VARIANT.rows  # rows of the axpy tile
DOT = VARIANT.dot  # the dot tile is DOT x DOT
PANEL = 2 * VECTOR_BYTES // 4  # float32 columns of the axpy tile

# Tile shapes compiled: every intrinsic call expands to code for each of them, and the
# compile time grows with their number, so only the full tile and single rows (or
# single dot products) are compiled; callers cut the edges of a matrix into those.
# axpy: (rows, masked): two full vectors of columns, or two masked ones at the edge.
AXPY_SHAPES = [(rows, masked) for rows in (MAX_ROWS, 1) for masked in (False, True)]


def _lanes(itemsize):
    """Elements of ``itemsize`` bytes in one vector register of the variant."""
    return VECTOR_BYTES // itemsize


def _pairs(context):
    """The multiply-add of bfloat16 pairs (see ``tiles``) for this process; the native
    one's function, written as IR text, is linked into the code being compiled."""
    if BF16 in ("emulated", "amx-emulated"):
        return dpbf16_emulated
    if BF16 is None:
        raise TypeError("bfloat16 products need a CPU with AVX512-BF16 (or FASTBP_BF16="
                        "emulated)")
    _, text = dpbf16_ir(_lanes(4))
    context.active_code_library.add_llvm_module(binding.parse_assembly(text))
    return dpbf16_native


def _operands(context, builder, sig, args, pairs=None):
    """The intrinsic's arguments as ``tiles.Operands``: arrays as their data pointers,
    booleans as i1, integers as intp."""
    values = []
    for ty, value in zip(sig.args, args):
        if isinstance(ty, types.Array):
            value = context.make_array(ty)(context, builder, value).data
        elif isinstance(ty, types.Boolean):
            value = context.cast(builder, value, ty, types.boolean)
        else:
            value = context.cast(builder, value, ty, types.intp)
        values.append(value)
    array = next(t for t in sig.args if isinstance(t, types.Array))
    return Operands(values, context.get_value_type(types.intp),
                    context.get_value_type(array.dtype), _lanes(array.dtype.bitwidth // 8),
                    pairs)


@intrinsic
def axpy_tile(typingctx, rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
              accumulate):
    """C[:rows, :width] (+)= A[:rows, :kc] B[:kc, :width], for rows = MAX_ROWS or 1 and
    width <= 2 lanes, on flat arrays: C[r, q] is ``c[c_off + r*ldc + q]``, A[r, p] is
    ``a[a_off + r*a_rs + p*a_cs]``, B[p, q] is ``b[b_off + p*ldb + q]``. With
    ``accumulate`` false C is overwritten. A width under 2 lanes is loaded and stored
    masked. With uint32 A and B and a float32 C, kc counts pairs of bfloat16 numbers."""
    if not (isinstance(c, types.Array) and isinstance(a, types.Array)):
        return None
    pairs = c.dtype == types.float32 and a.dtype == b.dtype == types.uint32
    if not (pairs or c.dtype == a.dtype == b.dtype):
        return None
    sig = types.void(rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
                     accumulate)

    def codegen(context, builder, sig, args):
        o = _operands(context, builder, sig, args, _pairs(context) if pairs else None)
        rows, width = o.values[0], o.values[1]
        partial = builder.icmp_signed("<", width, o.const(2 * o.lanes))
        selector = builder.add(builder.mul(rows, o.const(2)), builder.zext(partial, o.intp))
        switch(builder, selector, o.intp, {
            2 * r + m: (lambda r=r, m=m: emit_axpy(builder, o, r, m)) for r, m in AXPY_SHAPES})
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vector_lanes(typingctx, array):
    """Elements of ``array``'s dtype in one vector register of the variant."""
    if not isinstance(array, types.Array):
        return None
    lanes = _lanes(array.dtype.bitwidth // 8)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, lanes)

    return types.intp(array), codegen


@intrinsic
def prefetch(typingctx, array, index, write):
    """A hint that ``array[index]`` will be read (or written, if the constant ``write``
    is true) soon: ``llvm.prefetch`` into all cache levels. Never faults, so the index
    needs no check; nothing else happens."""
    if not (isinstance(array, types.Array) and isinstance(write, types.BooleanLiteral)):
        return None
    rw = int(write.literal_value)

    def codegen(context, builder, sig, args):
        ptr = builder.gep(context.make_array(sig.args[0])(context, builder, args[0]).data,
                          [context.cast(builder, args[1], sig.args[1], types.intp)])
        i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, rw), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index, write), codegen


# float32 -> bfloat16 by LLVM's ``fptrunc``, which it emits as AVX512-BF16's
# ``vcvtneps2bf16`` (16 at a time once a loop of it is vectorised): nearest, ties to
# even, like ``mixed.bf16_bits``, but with denormal inputs flushed to zero -- which the
# products (``vdpbf16ps``, ``tdpbf16ps``) do to them anyway -- and a NaN's payload kept.
_BF16_ROUND = """
define weak_odr i64 @fastbp_bf16_round(i32 %u) alwaysinline {
  %f = bitcast i32 %u to float
  %b = fptrunc float %f to bfloat
  %r = bitcast bfloat %b to i16
  %w = zext i16 %r to i64
  ret i64 %w
}
"""


@intrinsic
def bf16_round(typingctx, bits):
    """The bfloat16 nearest to the float32 of (integer) ``bits``, as an integer, by the
    CPU's conversion instruction (see ``_BF16_ROUND``)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        context.active_code_library.add_llvm_module(binding.parse_assembly(_BF16_ROUND))
        word = context.cast(builder, args[0], sig.args[0], types.uint32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), [ir.IntType(32)]), "fastbp_bf16_round")
        return builder.call(function, [word])

    return types.int64(bits), codegen


TRANSPOSE = 16  # words on a side of the block that ``transpose_block`` transposes


def _swapped(builder, rows, d):
    """One step of the block transpose: in each 2d x 2d block, the d x d block right of
    the diagonal and the one below it swap places (as lanes of row pairs d apart)."""
    n = len(rows)
    mask = ir.VectorType(ir.IntType(32), n)
    first = ir.Constant(mask, [k if not k & d else n + k - d for k in range(n)])
    second = ir.Constant(mask, [k + d if not k & d else n + k for k in range(n)])
    for r in range(n):
        if not r & d:
            a, b = rows[r], rows[r + d]
            rows[r] = builder.shuffle_vector(a, b, first)
            rows[r + d] = builder.shuffle_vector(a, b, second)


def _transposer(n):
    """An intrinsic that transposes an ``n`` x ``n`` block of 32-bit words in vector
    registers: n loads, n log2(n) shuffles and n stores (an element-wise loop is scalar:
    LLVM does not vectorise a transpose)."""
    def transpose(typingctx, src, s_off, s_ld, dst, d_off, d_ld):
        if not (isinstance(src, types.Array) and isinstance(dst, types.Array)
                and src.dtype == dst.dtype and src.dtype.bitwidth == 32):
            return None

        def codegen(context, builder, sig, args):
            pointer = ir.VectorType(ir.IntType(32), n).as_pointer()
            ends = []
            for array, off, ld, typ in ((args[0], args[1], args[2], sig.args[0]),
                                        (args[3], args[4], args[5], sig.args[3])):
                data = builder.bitcast(context.make_array(typ)(context, builder, array).data,
                                       ir.IntType(32).as_pointer())
                ends.append((data, context.cast(builder, off, sig.args[1], types.intp),
                             context.cast(builder, ld, sig.args[2], types.intp)))

            def row(end, r):
                data, off, ld = end
                at = builder.add(off, builder.mul(ld, ir.Constant(off.type, r)))
                return builder.bitcast(builder.gep(data, [at]), pointer)

            rows = [builder.load(row(ends[0], r), align=4) for r in range(n)]
            d = 1
            while d < n:
                _swapped(builder, rows, d)
                d *= 2
            for i, vector in enumerate(rows):
                builder.store(vector, row(ends[1], i), align=4)
            return context.get_dummy_value()

        return types.void(src, s_off, s_ld, dst, d_off, d_ld), codegen

    transpose.__name__ = f"transpose_{n}"
    transpose.__doc__ = (f"dst[d_off + i*d_ld + r] = src[s_off + r*s_ld + i] for r, i < {n}: "
                         "a block of 32-bit words transposed in registers.")
    return intrinsic(transpose)


transpose_block = _transposer(TRANSPOSE)
transpose_half_block = _transposer(TRANSPOSE // 2)


@intrinsic
def dot_tile(typingctx, rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
             accumulate):
    """Z[:rows, :cols] = s + A[:rows, :k] W[:cols, :k]^T for rows, cols in {1, DOT}, on flat
    arrays: Z[r, c] is ``z[z_off + r*ldz + c]``, A[r, p] is ``a[a_off + r*lda + p]``,
    W[c, p] is ``w[w_off + c*ldw + p]``, and s is ``bias[b_off + c]``, or Z[r, c] itself
    when ``accumulate`` is true. The last, partial vector of k is loaded masked. With
    uint32 A and W and float32 Z and bias, k counts pairs of bfloat16 numbers."""
    if not (isinstance(z, types.Array) and isinstance(a, types.Array)):
        return None
    pairs = z.dtype == bias.dtype == types.float32 and a.dtype == w.dtype == types.uint32
    if not (pairs or z.dtype == a.dtype == w.dtype == bias.dtype):
        return None
    sig = types.void(rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
                     accumulate)

    def codegen(context, builder, sig, args):
        o = _operands(context, builder, sig, args, _pairs(context) if pairs else None)
        rows, cols = o.values[0], o.values[1]
        selector = builder.add(builder.mul(rows, o.const(DOT + 1)), cols)
        switch(builder, selector, o.intp, {
            (DOT + 1) * r + c: (lambda r=r, c=c: emit_dot(builder, o, r, c))
            for r in (DOT, 1) for c in (DOT, 1)})
        return context.get_dummy_value()

    return sig, codegen


# -- plain Python, for NUMBA_DISABLE_JIT=1 (debuggers, coverage) ---------------------------

def _unpaired(x):
    """Words of bfloat16 pairs as float32 numbers, the pairs side by side (other
    arrays as they are)."""
    x = np.asarray(x)
    if x.dtype != np.uint32:
        return x
    halves = np.stack([x << np.uint32(16), x & np.uint32(0xFFFF0000)], axis=-1)
    return halves.view(np.float32)


def _axpy_tile_python(rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
                      accumulate):
    for r in range(rows):
        for q in range(width):
            i = c_off + r * ldc + q
            total = c[i] if accumulate else c.dtype.type(0)
            for p in range(kc):
                x = _unpaired(a[a_off + r * a_rs + p * a_cs])
                y = _unpaired(b[b_off + p * ldb + q])
                total += (x * y).sum() if x.ndim else x * y
            c[i] = total


def _dot_tile_python(rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
                     accumulate):
    for r in range(rows):
        for col in range(cols):
            i = z_off + r * ldz + col
            start = z[i] if accumulate else bias[b_off + col]
            x = _unpaired(a[a_off + r * lda:a_off + r * lda + k])
            y = _unpaired(w[w_off + col * ldw:w_off + col * ldw + k])
            z[i] = start + (x * y).sum(dtype=z.dtype)


if numba.config.DISABLE_JIT:  # intrinsics cannot run as Python: their plain twins do
    axpy_tile, dot_tile = _axpy_tile_python, _dot_tile_python

    def vector_lanes(array):
        return _lanes(array.itemsize)

    def prefetch(array, index, write):
        pass

    def _transposer(n):
        def transpose(src, s_off, s_ld, dst, d_off, d_ld):
            for r in range(n):
                for i in range(n):
                    dst[d_off + i * d_ld + r] = src[s_off + r * s_ld + i]
        return transpose

    transpose_block = _transposer(TRANSPOSE)
    transpose_half_block = _transposer(TRANSPOSE // 2)
