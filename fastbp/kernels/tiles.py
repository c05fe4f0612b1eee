"""The LLVM IR of the register-blocked matrix-multiply tiles, for any vector width.

Left to itself LLVM vectorises a plain loop nest poorly (see NUMBA_NOTES: scalar
accumulators are not combined, heap accumulators stay in memory, ``reassoc``
vectorises the wrong loop). So the innermost blocks are written here directly in
LLVM IR, with accumulators that are vector registers updated by ``llvm.fma``. This
module only emits code: ``simd`` wraps it in Numba intrinsics for the variant chosen
for the CPU, and ``fastbp.tuning`` compiles it alone to measure the variants.

- ``emit_axpy``: C (+)= A B for ``rows`` rows and two vectors of columns; per step of
  k, one broadcast element of A per row and one vector load of B per vector.
- ``emit_dot``: Z = A W^T + b for ``rows`` x ``cols`` dot products, both factors read a
  vector at a time along k, the lanes summed at the end.

Every element is a fixed chain of operations: in ``emit_axpy`` fused multiply-adds
over k in increasing order from 0 or from C's previous value; in ``emit_dot`` lane
p mod lanes accumulates in increasing p and the lanes are summed by a fixed tree. A
value's bits therefore never depend on which tile shape, block or thread computed
it; in ``emit_dot`` they do depend on the number of lanes (the vector width).
"""

from llvmlite import ir
from numba.core import cgutils

_I32 = ir.IntType(32)


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


class Operands:
    """A tile's arguments in LLVM form (data pointers, intp integers, i1 flags) and its
    vector type: ``lanes`` elements of the arrays' type."""

    def __init__(self, values, intp, element, lanes):
        self.values, self.intp, self.lanes = list(values), intp, lanes
        self.vec = ir.VectorType(element, lanes)

    def const(self, x):
        return ir.Constant(self.intp, x)


def switch(builder, selector, intp, cases):
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

def emit_axpy(builder, o, rows, masked):
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


# -- Z = A W^T + b ------------------------------------------------------------------------

def emit_dot(builder, o, rows, cols):
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
