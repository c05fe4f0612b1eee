"""The matrix-multiply tiles of ``tiles`` as Numba intrinsics, for the kernel variant
chosen for this CPU.

The variant (see :mod:`fastbp.tuning`) fixes the vector width and the tile shapes
before anything is compiled; it is measured once per CPU, cached, and can be forced
with ``FASTBP_KERNEL``. Each intrinsic takes the tile's shape at run time and branches
(an LLVM ``switch``) to a block compiled for that shape:

- ``axpy_tile``: C (+)= A B for MAX_ROWS rows (or 1) and two vectors of columns.
- ``dot_tile``: Z = A W^T + b for DOT x DOT dot products (or 1 x DOT, DOT x 1, 1 x 1).
"""

import numba
from numba import types
from numba.extending import intrinsic

from ..tuning import kernel_variant
from .tiles import Operands, emit_axpy, emit_dot, switch

VARIANT = kernel_variant()
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


def _operands(context, builder, sig, args):
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
                    context.get_value_type(array.dtype), _lanes(array.dtype.bitwidth // 8))


@intrinsic
def axpy_tile(typingctx, rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
              accumulate):
    """C[:rows, :width] (+)= A[:rows, :kc] B[:kc, :width], for rows = MAX_ROWS or 1 and
    width <= 2 lanes, on flat arrays: C[r, q] is ``c[c_off + r*ldc + q]``, A[r, p] is
    ``a[a_off + r*a_rs + p*a_cs]``, B[p, q] is ``b[b_off + p*ldb + q]``. With
    ``accumulate`` false C is overwritten. A width under 2 lanes is loaded and stored
    masked."""
    if not (isinstance(c, types.Array) and c.dtype == a.dtype == b.dtype):
        return None
    sig = types.void(rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
                     accumulate)

    def codegen(context, builder, sig, args):
        o = _operands(context, builder, sig, args)
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
def dot_tile(typingctx, rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
             accumulate):
    """Z[:rows, :cols] = s + A[:rows, :k] W[:cols, :k]^T for rows, cols in {1, DOT}, on flat
    arrays: Z[r, c] is ``z[z_off + r*ldz + c]``, A[r, p] is ``a[a_off + r*lda + p]``,
    W[c, p] is ``w[w_off + c*ldw + p]``, and s is ``bias[b_off + c]``, or Z[r, c] itself
    when ``accumulate`` is true. The last, partial vector of k is loaded masked."""
    if not (isinstance(z, types.Array) and z.dtype == a.dtype == w.dtype == bias.dtype):
        return None
    sig = types.void(rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
                     accumulate)

    def codegen(context, builder, sig, args):
        o = _operands(context, builder, sig, args)
        rows, cols = o.values[0], o.values[1]
        selector = builder.add(builder.mul(rows, o.const(DOT + 1)), cols)
        switch(builder, selector, o.intp, {
            (DOT + 1) * r + c: (lambda r=r, c=c: emit_dot(builder, o, r, c))
            for r in (DOT, 1) for c in (DOT, 1)})
        return context.get_dummy_value()

    return sig, codegen


# -- plain Python, for NUMBA_DISABLE_JIT=1 (debuggers, coverage) ---------------------------

def _axpy_tile_python(rows, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
                      accumulate):
    for r in range(rows):
        for q in range(width):
            i = c_off + r * ldc + q
            total = c[i] if accumulate else c.dtype.type(0)
            for p in range(kc):
                total += a[a_off + r * a_rs + p * a_cs] * b[b_off + p * ldb + q]
            c[i] = total


def _dot_tile_python(rows, cols, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
                     accumulate):
    for r in range(rows):
        for col in range(cols):
            i = z_off + r * ldz + col
            start = z[i] if accumulate else bias[b_off + col]
            x = a[a_off + r * lda:a_off + r * lda + k]
            y = w[w_off + col * ldw:w_off + col * ldw + k]
            z[i] = start + (x * y).sum(dtype=z.dtype)


if numba.config.DISABLE_JIT:  # intrinsics cannot run as Python: their plain twins do
    axpy_tile, dot_tile = _axpy_tile_python, _dot_tile_python

    def vector_lanes(array):
        return _lanes(array.itemsize)
