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
  vector at a time along k, the lanes summed at the end (a full tile's all together,
  ``_hsums``: 15 folds of two vectors for 16 dot products of 16 lanes, instead of 4
  halvings of each; the forward pass of L 10-12% faster in float32 and bf16-mixed).

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


def _element_name(element):
    if isinstance(element, ir.IntType):
        return f"i{element.width}"
    return "f32" if element == ir.FloatType() else "f64"


def _masked(builder, name, ty, args):
    """Call ``llvm.masked.load``/``store`` (the form with an alignment argument)."""
    vec = ty if name == "load" else args[0].type
    suffix = f"v{vec.count}{_element_name(vec.element)}.p0"
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
    """A tile's arguments in LLVM form (data pointers, intp integers, i1 flags), its
    vector type (``lanes`` elements of C's type) and its multiply-add.

    With ``pairs`` (see ``bf16``) the factors of the axpy tile are 32-bit words that
    each hold two bfloat16 numbers, consecutive along k: B is read as ``lanes``-word
    vectors, A's words are broadcast, and ``pairs(builder, x, b, acc)`` adds both
    products of each lane's pair to the float32 accumulator."""

    def __init__(self, values, intp, element, lanes, pairs=None):
        self.values, self.intp, self.lanes = list(values), intp, lanes
        self.vec = ir.VectorType(element, lanes)
        self.factor = ir.VectorType(_I32, lanes) if pairs else self.vec
        self.pairs = pairs

    def const(self, x):
        return ir.Constant(self.intp, x)

    def madd(self, builder):
        """(x, b, acc) -> acc + x b, lane by lane: one fused multiply-add, or for
        bfloat16 pairs the sum of both products."""
        if self.pairs is not None:
            return lambda x, b, acc: self.pairs(builder, x, b, acc)
        fma = _fma(builder, self.vec)
        return lambda x, b, acc: builder.call(fma, [x, b, acc])


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
    vec, factor, lanes, intp = o.vec, o.factor, o.lanes, o.intp
    vptr, fptr = vec.as_pointer(), factor.as_pointer()
    madd = o.madd(builder)
    align = ir.Constant(_I32, 1)
    masks = [_lane_mask(builder, builder.sub(width, o.const(v * lanes)), lanes, intp)
             if masked else None for v, masked in enumerate(masked_vectors)]

    def load(ptr, v, ty=vec):
        if masks[v] is None:
            return builder.load(ptr, align=1)
        return _masked(builder, "load", ty, [ptr, align, masks[v], ir.Constant(ty, None)])

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
                                      fptr), v, factor) for v in range(n_vec)]
        a_col = builder.add(a_off, builder.mul(p, a_cs))
        for r in range(rows):
            x = builder.load(builder.gep(a, [builder.add(a_col, builder.mul(o.const(r), a_rs))]))
            x = _splat(builder, x, factor)
            for v in range(n_vec):
                builder.store(madd(x, b_vec[v], builder.load(acc[r][v])), acc[r][v])
    for r in range(rows):
        for v in range(n_vec):
            store(builder.load(acc[r][v]), c_ptr(r, v), v)


# -- Z = A W^T + b ------------------------------------------------------------------------

def emit_dot(builder, o, rows, cols):
    (rows_arg, cols_arg, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
     accumulate) = o.values
    vec, factor, lanes = o.vec, o.factor, o.lanes
    fptr = factor.as_pointer()
    madd = o.madd(builder)
    a_rows = [builder.add(a_off, builder.mul(o.const(r), lda)) for r in range(rows)]
    w_rows = [builder.add(w_off, builder.mul(o.const(c), ldw)) for c in range(cols)]
    acc = [[cgutils.alloca_once(builder, vec) for _ in range(cols)] for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            builder.store(ir.Constant(vec, None), acc[r][c])

    def step(p, load):
        va = [load(builder.bitcast(builder.gep(a, [builder.add(a_rows[r], p)]), fptr))
              for r in range(rows)]
        vw = [load(builder.bitcast(builder.gep(w, [builder.add(w_rows[c], p)]), fptr))
              for c in range(cols)]
        for r in range(rows):
            for c in range(cols):
                builder.store(madd(va[r], vw[c], builder.load(acc[r][c])), acc[r][c])

    n_full = builder.sdiv(k, o.const(lanes))
    with cgutils.for_range(builder, n_full) as loop:
        step(builder.mul(loop.index, o.const(lanes)), lambda ptr: builder.load(ptr, align=1))
    p_tail = builder.mul(n_full, o.const(lanes))
    remaining = builder.sub(k, p_tail)
    with builder.if_then(builder.icmp_signed(">", remaining, o.const(0))):
        mask = _lane_mask(builder, remaining, lanes, o.intp)  # the last, partial vector
        step(p_tail, lambda ptr: _masked(builder, "load", factor, [
            ptr, ir.Constant(_I32, 1), mask, ir.Constant(factor, None)]))
    def z_ptr(r, c):
        return builder.gep(z, [builder.add(z_off, builder.add(builder.mul(o.const(r), ldz),
                                                              o.const(c)))])

    def b_ptr(c):
        return builder.gep(bias, [builder.add(b_off, o.const(c))])

    n = rows * cols
    if n & (n - 1) == 0 and n >= lanes and lanes % cols == 0:  # whole rows per vector
        sums = _hsums(builder, [builder.load(acc[r][c]) for r in range(rows)
                                for c in range(cols)], lanes)
        row_vec = ir.VectorType(vec.element, cols)
        per = lanes // cols  # rows of Z per vector of sums
        for g, total in enumerate(sums):
            starts = [builder.load(builder.bitcast(builder.select(
                accumulate, z_ptr(g * per + r, 0), b_ptr(0)), row_vec.as_pointer()), align=4)
                for r in range(per)]
            total = builder.fadd(_concatenated(builder, starts), total)
            for r in range(per):
                part = builder.shuffle_vector(total, total, ir.Constant(
                    ir.VectorType(_I32, cols), list(range(r * cols, (r + 1) * cols))))
                builder.store(part, builder.bitcast(z_ptr(g * per + r, 0),
                                                    row_vec.as_pointer()), align=4)
        return
    for r in range(rows):
        for c in range(cols):
            total = _hsum(builder, builder.load(acc[r][c]), lanes)
            start = builder.load(builder.select(accumulate, z_ptr(r, c), b_ptr(c)))
            builder.store(builder.fadd(start, total), z_ptr(r, c))


def _hsums(builder, vectors, lanes):
    """The lane sums of a power-of-two count (at least ``lanes``) of vectors, by the
    tree of ``_hsum``, in vectors of ``lanes`` sums in order: each level folds two
    vectors of segments (one per vector summed) into one of half-width segments, by two
    two-source shuffles and an add, instead of each vector's halves alone."""
    width = lanes
    while width > 1:
        half = width // 2
        n_segments = lanes // width
        lo = [s * width + i for s in range(n_segments) for i in range(half)]
        hi = [h + half for h in lo]
        lo = ir.Constant(ir.VectorType(_I32, lanes), lo + [lanes + i for i in lo])
        hi = ir.Constant(ir.VectorType(_I32, lanes), hi + [lanes + i for i in hi])
        vectors = [builder.fadd(builder.shuffle_vector(u, v, lo), builder.shuffle_vector(u, v, hi))
                   for u, v in zip(vectors[0::2], vectors[1::2])]
        width = half
    return vectors


def _concatenated(builder, parts):
    """One vector of the equal-length vectors ``parts`` (a power-of-two count) in order."""
    while len(parts) > 1:
        count = parts[0].type.count
        order = ir.Constant(ir.VectorType(_I32, 2 * count), list(range(2 * count)))
        parts = [builder.shuffle_vector(u, v, order) for u, v in zip(parts[0::2], parts[1::2])]
    return parts[0]


# -- bfloat16 pairs -----------------------------------------------------------------------
# A 32-bit word holds two bfloat16 numbers, the one of even index in its low half: the
# layout of AVX512-BF16's ``vdpbf16ps``, which adds both products of each lane's pair to
# a float32 lane. A bfloat16 number is the top half of a float32, so the products are
# exact in float32.

def dpbf16_ir(lanes):
    """(name, IR text) of a function ``<lanes x float> (acc, <lanes x i32> x,
    <lanes x i32> b)`` that runs ``vdpbf16ps`` on the pairs. llvmlite's IR builder has
    no bfloat type, so the bitcasts to it are written as text and linked in."""
    bits = 32 * lanes
    name = f"fastbp_dpbf16ps_{lanes}"
    pair, f32 = f"<{2 * lanes} x bfloat>", f"<{lanes} x float>"
    i32 = f"<{lanes} x i32>"
    intrinsic = f"llvm.x86.avx512bf16.dpbf16ps.{bits}"
    text = f"""
define weak_odr {f32} @{name}({f32} %acc, {i32} %x, {i32} %b) alwaysinline {{
  %xp = bitcast {i32} %x to {pair}
  %bp = bitcast {i32} %b to {pair}
  %r = call {f32} @{intrinsic}({f32} %acc, {pair} %xp, {pair} %bp)
  ret {f32} %r
}}
declare {f32} @{intrinsic}({f32}, {pair}, {pair})
"""
    return name, text


def dpbf16_native(builder, x, b, acc):
    """acc + x_odd b_odd + x_even b_even per lane, by ``vdpbf16ps`` (``dpbf16_ir``'s
    function, which the caller links in)."""
    lanes = acc.type.count
    name, _ = dpbf16_ir(lanes)
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(acc.type, [acc.type, x.type, b.type]), name)
    return builder.call(function, [acc, x, b])


def dpbf16_emulated(builder, x, b, acc):
    """The same in float32 arithmetic: the odd products, then the even ones, each added
    by a fused multiply-add (exact products, one rounding each)."""
    fvec, ivec = acc.type, x.type
    fma = _fma(builder, fvec)
    top = ir.Constant(ivec, [0xFFFF0000 - (1 << 32)] * ivec.count)  # as a signed i32
    shift = ir.Constant(ivec, [16] * ivec.count)

    def halves(v):
        return (builder.bitcast(builder.and_(v, top), fvec),
                builder.bitcast(builder.shl(v, shift), fvec))

    (x_odd, x_even), (b_odd, b_even) = halves(x), halves(b)
    acc = builder.call(fma, [x_odd, b_odd, acc])
    return builder.call(fma, [x_even, b_even, acc])
