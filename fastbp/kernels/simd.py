"""Register-blocked matrix-multiply tiles, emitted as LLVM vector code.

Left to itself LLVM vectorises a plain loop nest poorly (see NUMBA_NOTES: scalar
accumulators are not combined, heap accumulators stay in memory, ``reassoc``
vectorises the wrong loop). So the innermost blocks are written here directly in
LLVM IR through ``numba.extending.intrinsic``, with accumulators that are 256-bit
vector registers (``<8 x float>`` or ``<4 x double>``) updated by ``llvm.fma``.

Two tiles, each one intrinsic that takes the tile's shape at run time and branches
(an LLVM ``switch``) to a block compiled for that shape:

- ``axpy_tile``: C (+)= A B for MAX_ROWS rows (or 1) and two vectors of columns; per
  step of k, one broadcast element of A per row and one vector load of B per vector.
- ``dot_tile``: Z = A W^T + b for DOT x DOT dot products (or 1 x DOT, DOT x 1, 1 x 1),
  both factors read a vector at a time along k, the lanes summed at the end.

Every element is a fixed chain of operations: in ``axpy_tile`` fused multiply-adds
over k in increasing order from 0 or from C's previous value; in ``dot_tile`` lane
p mod lanes accumulates in increasing p and the lanes are summed by a fixed tree. A
value's bits therefore never depend on which tile shape, block or thread computed it.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Bytes in one vector register (AVX2). LLVM splits wider-than-native vectors and
# joins narrower ones, so the code stays correct on other targets. (512-bit vectors
# were measured no faster on the AVX-512 machine the project runs on.)
VECTOR_BYTES = 32
MAX_ROWS = 6  # axpy: 6 x 2 accumulators + 2 loads of B + 1 broadcast fit in 16 registers

_I32 = ir.IntType(32)


def _vector_registers():
    """32 where AVX-512VL gives 32 256-bit registers, 16 otherwise (AVX2)."""
    try:
        from llvmlite import binding
        features = binding.get_host_cpu_features()
        return 32 if features.get("avx512vl", False) else 16
    except Exception:  # pragma: no cover - an unknown host: be conservative
        return 16


VECTOR_REGISTERS = _vector_registers()
# dot: 4 x 4 accumulators + 8 operands where there are 32 registers, else 3 x 3 + 6;
# 4 x 4 measured 65 -> 89 GFLOP/s on XL's forward pass.
DOT = 4 if VECTOR_REGISTERS >= 32 else 3


def _lanes(dtype):
    return VECTOR_BYTES // (dtype.bitwidth // 8)


def _fma(builder, ty):
    element = ty.element if isinstance(ty, ir.VectorType) else ty
    name = ("llvm.fma." + (f"v{ty.count}" if isinstance(ty, ir.VectorType) else "")
            + ("f32" if element == ir.FloatType() else "f64"))
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]), name)


def _masked(builder, name, ty, args):
    """Call ``llvm.masked.load``/``store`` (the form with an alignment argument)."""
    vec = ty if name == "load" else args[0].type
    suffix = f"v{vec.count}{'f32' if vec.element == ir.FloatType() else 'f64'}.p0"
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ty, [a.type for a in args]), f"llvm.masked.{name}.{suffix}")
    return builder.call(function, args)


def _splat(builder, value, vec_type):
    """A vector of ``vec_type`` with every lane ``value``."""
    one = builder.insert_element(ir.Constant(vec_type, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vec_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, vec_type.count),
                                              [0] * vec_type.count))


def _lane_mask(builder, n_valid, lanes, intp):
    """``<lanes x i1>``: lane i is on when i < ``n_valid``."""
    ivec = ir.VectorType(intp, lanes)
    return builder.icmp_signed("<", ir.Constant(ivec, list(range(lanes))),
                               _splat(builder, n_valid, ivec))


def _hsum(builder, v, lanes):
    """Sum of the lanes of ``v`` by halving: always the same tree, so the same bits."""
    while lanes > 1:
        half = lanes // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, half),
                                                      list(range(half, lanes))))
        v = builder.fadd(lo, hi)
        lanes = half
    return builder.extract_element(v, ir.Constant(_I32, 0))


class _Operands:
    """The arguments of a tile intrinsic in LLVM form: data pointers of the arrays,
    the integers as intp, the booleans as i1."""

    def __init__(self, context, builder, sig, args):
        self.intp = context.get_value_type(types.intp)
        self.values = []
        for ty, value in zip(sig.args, args):
            if isinstance(ty, types.Array):
                value = context.make_array(ty)(context, builder, value).data
            elif isinstance(ty, types.Boolean):
                value = context.cast(builder, value, ty, types.boolean)
            else:
                value = context.cast(builder, value, ty, types.intp)
            self.values.append(value)
        array = next(t for t in sig.args if isinstance(t, types.Array))
        self.lanes = _lanes(array.dtype)
        self.vec = ir.VectorType(context.get_value_type(array.dtype), self.lanes)

    def const(self, x):
        return ir.Constant(self.intp, x)


def _switch(builder, selector, intp, cases):
    """Branch on ``selector`` to the emitter of the matching case; ``cases`` maps
    integers to functions that emit their block."""
    merge = builder.append_basic_block("tile.end")
    switch = builder.switch(selector, merge)
    for value, emit in cases.items():
        block = builder.append_basic_block(f"tile.{value}")
        switch.add_case(ir.Constant(intp, value), block)
        builder.position_at_end(block)
        emit()
        builder.branch(merge)
    builder.position_at_end(merge)


# -- C (+)= A B ---------------------------------------------------------------------------

# Tile shapes compiled: every intrinsic call expands to code for each of them, and the
# compile time grows with their number, so only the full tile and single rows (or
# single dot products) are compiled; callers cut the edges of a matrix into those.
# axpy: (rows, masked): two full vectors of columns, or two masked ones at the edge.
AXPY_SHAPES = [(rows, masked) for rows in (MAX_ROWS, 1) for masked in (False, True)]


def _emit_axpy(builder, o, rows, masked):
    masked_vectors = (masked, masked)
    (rows_arg, width, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc,
     accumulate) = o.values
    vec, lanes, intp = o.vec, o.lanes, o.intp
    vptr = vec.as_pointer()
    fma = _fma(builder, vec)
    align = ir.Constant(_I32, 1)
    masks = [_lane_mask(builder, builder.sub(width, o.const(v * lanes)), lanes, intp)
             if masked else None for v, masked in enumerate(masked_vectors)]

    def load(ptr, v):
        if masks[v] is None:
            return builder.load(ptr, align=1)
        return _masked(builder, "load", vec, [ptr, align, masks[v], ir.Constant(vec, None)])

    def store(value, ptr, v):
        if masks[v] is None:
            builder.store(value, ptr, align=1)
        else:
            _masked(builder, "store", ir.VoidType(), [value, ptr, align, masks[v]])

    def c_ptr(r, v):
        index = builder.add(c_off, builder.add(builder.mul(o.const(r), ldc), o.const(v * lanes)))
        return builder.bitcast(builder.gep(c, [index]), vptr)

    n_vec = len(masked_vectors)
    acc = [[cgutils.alloca_once(builder, vec) for _ in range(n_vec)] for _ in range(rows)]
    with builder.if_else(accumulate) as (then, otherwise):
        with then:
            for r in range(rows):
                for v in range(n_vec):
                    builder.store(load(c_ptr(r, v), v), acc[r][v])
        with otherwise:
            for r in range(rows):
                for v in range(n_vec):
                    builder.store(ir.Constant(vec, None), acc[r][v])
    with cgutils.for_range(builder, kc) as loop:
        p = loop.index
        b_row = builder.add(b_off, builder.mul(p, ldb))
        b_vec = [load(builder.bitcast(builder.gep(b, [builder.add(b_row, o.const(v * lanes))]),
                                      vptr), v) for v in range(n_vec)]
        a_col = builder.add(a_off, builder.mul(p, a_cs))
        for r in range(rows):
            x = builder.load(builder.gep(a, [builder.add(a_col, builder.mul(o.const(r), a_rs))]))
            x = _splat(builder, x, vec)
            for v in range(n_vec):
                builder.store(builder.call(fma, [x, b_vec[v], builder.load(acc[r][v])]), acc[r][v])
    for r in range(rows):
        for v in range(n_vec):
            store(builder.load(acc[r][v]), c_ptr(r, v), v)


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
        o = _Operands(context, builder, sig, args)
        rows, width = o.values[0], o.values[1]
        partial = builder.icmp_signed("<", width, o.const(2 * o.lanes))
        selector = builder.add(builder.mul(rows, o.const(2)), builder.zext(partial, o.intp))
        _switch(builder, selector, o.intp, {
            2 * r + m: (lambda r=r, m=m: _emit_axpy(builder, o, r, m)) for r, m in AXPY_SHAPES})
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vector_lanes(typingctx, array):
    """Elements of ``array``'s dtype in one vector register (8 for float32, 4 for float64)."""
    if not isinstance(array, types.Array):
        return None
    lanes = _lanes(array.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, lanes)

    return types.intp(array), codegen


# -- Z = A W^T + b ------------------------------------------------------------------------

def _emit_dot(builder, o, rows, cols):
    (rows_arg, cols_arg, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
     accumulate) = o.values
    vec, lanes = o.vec, o.lanes
    vptr = vec.as_pointer()
    fma = _fma(builder, vec)
    a_rows = [builder.add(a_off, builder.mul(o.const(r), lda)) for r in range(rows)]
    w_rows = [builder.add(w_off, builder.mul(o.const(c), ldw)) for c in range(cols)]
    acc = [[cgutils.alloca_once(builder, vec) for _ in range(cols)] for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            builder.store(ir.Constant(vec, None), acc[r][c])

    def step(p, load):
        va = [load(builder.bitcast(builder.gep(a, [builder.add(a_rows[r], p)]), vptr))
              for r in range(rows)]
        vw = [load(builder.bitcast(builder.gep(w, [builder.add(w_rows[c], p)]), vptr))
              for c in range(cols)]
        for r in range(rows):
            for c in range(cols):
                builder.store(builder.call(fma, [va[r], vw[c], builder.load(acc[r][c])]),
                              acc[r][c])

    n_full = builder.sdiv(k, o.const(lanes))
    with cgutils.for_range(builder, n_full) as loop:
        step(builder.mul(loop.index, o.const(lanes)), lambda ptr: builder.load(ptr, align=1))
    p_tail = builder.mul(n_full, o.const(lanes))
    remaining = builder.sub(k, p_tail)
    with builder.if_then(builder.icmp_signed(">", remaining, o.const(0))):
        mask = _lane_mask(builder, remaining, lanes, o.intp)  # the last, partial vector
        step(p_tail, lambda ptr: _masked(builder, "load", vec, [
            ptr, ir.Constant(_I32, 1), mask, ir.Constant(vec, None)]))
    for r in range(rows):
        for c in range(cols):
            total = _hsum(builder, builder.load(acc[r][c]), lanes)
            index = builder.add(z_off, builder.add(builder.mul(o.const(r), ldz), o.const(c)))
            z_ptr = builder.gep(z, [index])
            b_ptr = builder.gep(bias, [builder.add(b_off, o.const(c))])
            start = builder.load(builder.select(accumulate, z_ptr, b_ptr))
            builder.store(builder.fadd(start, total), z_ptr)


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
        o = _Operands(context, builder, sig, args)
        rows, cols = o.values[0], o.values[1]
        selector = builder.add(builder.mul(rows, o.const(DOT + 1)), cols)
        _switch(builder, selector, o.intp, {
            (DOT + 1) * r + c: (lambda r=r, c=c: _emit_dot(builder, o, r, c))
            for r in (DOT, 1) for c in (DOT, 1)})
        return context.get_dummy_value()

    return sig, codegen
