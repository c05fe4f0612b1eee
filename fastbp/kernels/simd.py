"""Register-blocked matrix-multiply micro-kernels, emitted as LLVM vector code.

Left to itself LLVM vectorises a plain loop nest poorly (see NUMBA_NOTES: scalar
accumulators are not combined, heap accumulators stay in memory, ``reassoc``
vectorises the wrong loop). So the innermost block is written here directly in
LLVM IR through ``numba.extending.intrinsic``: ``rows`` x ``n_vec`` vectors of
accumulators (``<8 x float>`` or ``<4 x double>``, one 256-bit register each),
updated by ``llvm.fma`` from one broadcast element of A and ``n_vec`` vector loads
of B per step of k.

Every element of C is a chain of fused multiply-adds over k in increasing order,
starting from 0 or from C's previous value. The scalar tail (``fma``) computes the
same chain, so a value's bits never depend on which block, tile or thread computed it.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Bytes in one vector register (AVX2). LLVM splits wider-than-native vectors and
# joins narrower ones, so the code stays correct on other targets. (512-bit vectors
# were measured no faster on the AVX-512 machine the project runs on.)
VECTOR_BYTES = 32


def _vector_registers():
    """32 where AVX-512VL gives 32 256-bit registers, 16 otherwise (AVX2)."""
    try:
        from llvmlite import binding
        features = binding.get_host_cpu_features()
        return 32 if features.get("avx512vl", False) else 16
    except Exception:  # pragma: no cover - an unknown host: be conservative
        return 16


VECTOR_REGISTERS = _vector_registers()
MAX_ROWS = 6  # 6 x 2 accumulators + 2 loads of B + 1 broadcast fit in 16 registers


def _element(context, dtype):
    return context.get_value_type(dtype), VECTOR_BYTES // (dtype.bitwidth // 8)


def _fma(builder, ty):
    name = f"llvm.fma.{'v%d' % ty.count if isinstance(ty, ir.VectorType) else ''}" \
           f"{'f32' if (ty.element if isinstance(ty, ir.VectorType) else ty) == ir.FloatType() else 'f64'}"
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]), name)


@intrinsic
def fma(typingctx, x, y, z):
    """``x * y + z`` with one rounding (scalar ``llvm.fma``)."""
    if not (isinstance(x, types.Float) and x == y == z):
        return None

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(sig.return_type)
        return builder.call(_fma(builder, ty), list(args))

    return x(x, y, z), codegen


@intrinsic
def vector_lanes(typingctx, array):
    """Elements of ``array``'s dtype in one vector register (8 for float32, 4 for float64)."""
    if not isinstance(array, types.Array):
        return None
    lanes = VECTOR_BYTES // (array.dtype.bitwidth // 8)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, lanes)

    return types.intp(array), codegen


_MICROKERNELS = {}


def _masked(builder, name, ty, args):
    """Call ``llvm.masked.load``/``store`` (the form with an alignment argument)."""
    vec = ty if name == "load" else args[0].type
    suffix = f"v{vec.count}{'f32' if vec.element == ir.FloatType() else 'f64'}.p0"
    arg_types = [a.type for a in args]
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ty, arg_types), f"llvm.masked.{name}.{suffix}")
    return builder.call(function, args)


def microkernel(rows, n_vec, masked=False):
    """The intrinsic for a ``rows`` x (``n_vec`` vectors) block of C += A B.

    Called as ``kernel(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, accumulate,
    n_valid)`` on flat arrays: C[r, q] is ``c[c_off + r*ldc + q]``, A[r, p] is
    ``a[a_off + r*a_rs + p*a_cs]``, B[p, q] is ``b[b_off + p*ldb + q]``, for r < rows,
    q < n_vec * lanes, p < kc. With ``accumulate`` false C is overwritten. With
    ``masked`` (and ``n_vec`` = 1) only columns q < ``n_valid`` are read and written.
    """
    key = (rows, n_vec, masked)
    if key in _MICROKERNELS:
        return _MICROKERNELS[key]

    @intrinsic
    def kernel(typingctx, c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, accumulate,
               n_valid):
        if not (isinstance(c, types.Array) and c.dtype == a.dtype == b.dtype):
            return None
        sig = types.void(c, c_off, ldc, a, a_off, a_rs, a_cs, b, b_off, ldb, kc, accumulate,
                         n_valid)

        def codegen(context, builder, sig, args):
            (c_arr, c_off, ldc, a_arr, a_off, a_rs, a_cs, b_arr, b_off, ldb, kc,
             accumulate, n_valid) = args
            tys = sig.args
            elt, lanes = _element(context, tys[0].dtype)
            vec = ir.VectorType(elt, lanes)
            vptr = vec.as_pointer()
            intp = context.get_value_type(types.intp)
            cast = [lambda v, t=t: context.cast(builder, v, t, types.intp) for t in tys]
            c_off, ldc, a_off, a_rs, a_cs, b_off, ldb, kc = (
                cast[i](v) for i, v in ((1, c_off), (2, ldc), (4, a_off), (5, a_rs),
                                        (6, a_cs), (8, b_off), (9, ldb), (10, kc)))
            accumulate = context.cast(builder, accumulate, tys[11], types.boolean)
            c_data = context.make_array(tys[0])(context, builder, c_arr).data
            a_data = context.make_array(tys[3])(context, builder, a_arr).data
            b_data = context.make_array(tys[7])(context, builder, b_arr).data
            fma_v = _fma(builder, vec)
            align1 = ir.Constant(ir.IntType(32), 1)
            if masked:  # lanes q < n_valid
                ivec = ir.VectorType(intp, lanes)
                n_valid = context.cast(builder, n_valid, tys[12], types.intp)
                bound = builder.insert_element(ir.Constant(ivec, ir.Undefined), n_valid,
                                               ir.Constant(ir.IntType(32), 0))
                bound = builder.shuffle_vector(bound, ir.Constant(ivec, ir.Undefined),
                                               ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                           [0] * lanes))
                mask = builder.icmp_signed("<", ir.Constant(ivec, list(range(lanes))), bound)

            def load(ptr):
                if masked:
                    return _masked(builder, "load", vec, [ptr, align1, mask, ir.Constant(vec, None)])
                return builder.load(ptr, align=1)

            def store(value, ptr):
                if masked:
                    _masked(builder, "store", ir.VoidType(), [value, ptr, align1, mask])
                else:
                    builder.store(value, ptr, align=1)

            def c_ptr(r, v):
                index = builder.add(c_off, builder.add(builder.mul(ir.Constant(intp, r), ldc),
                                                       ir.Constant(intp, v * lanes)))
                return builder.bitcast(builder.gep(c_data, [index]), vptr)

            acc = [[cgutils.alloca_once(builder, vec) for _ in range(n_vec)] for _ in range(rows)]
            with builder.if_else(accumulate) as (then, otherwise):
                with then:
                    for r in range(rows):
                        for v in range(n_vec):
                            builder.store(load(c_ptr(r, v)), acc[r][v])
                with otherwise:
                    for r in range(rows):
                        for v in range(n_vec):
                            builder.store(ir.Constant(vec, None), acc[r][v])

            zero_idx = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            with cgutils.for_range(builder, kc) as loop:
                p = loop.index
                b_row = builder.add(b_off, builder.mul(p, ldb))
                b_vec = [load(builder.bitcast(
                    builder.gep(b_data, [builder.add(b_row, ir.Constant(intp, v * lanes))]),
                    vptr)) for v in range(n_vec)]
                a_col = builder.add(a_off, builder.mul(p, a_cs))
                for r in range(rows):
                    index = builder.add(a_col, builder.mul(ir.Constant(intp, r), a_rs))
                    x = builder.load(builder.gep(a_data, [index]))
                    x = builder.insert_element(ir.Constant(vec, ir.Undefined), x,
                                               ir.Constant(ir.IntType(32), 0))
                    x = builder.shuffle_vector(x, ir.Constant(vec, ir.Undefined), zero_idx)
                    for v in range(n_vec):
                        builder.store(builder.call(fma_v, [x, b_vec[v], builder.load(acc[r][v])]),
                                      acc[r][v])
            for r in range(rows):
                for v in range(n_vec):
                    store(builder.load(acc[r][v]), c_ptr(r, v))
            return context.get_dummy_value()

        return sig, codegen

    _MICROKERNELS[key] = kernel
    return kernel


_DOT_KERNELS = {}


def _hsum(builder, v, lanes):
    """Sum of the lanes of ``v`` by halving: always the same tree, so the same bits."""
    i32 = ir.IntType(32)
    while lanes > 1:
        half = lanes // 2
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half), list(range(half))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, half),
                                                      list(range(half, lanes))))
        v = builder.fadd(lo, hi)
        lanes = half
    return builder.extract_element(v, ir.Constant(i32, 0))


def dot_kernel(rows, cols):
    """The intrinsic for a ``rows`` x ``cols`` block of Z = A W^T + b (dot products).

    Called as ``kernel(z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
    accumulate)`` on flat arrays: Z[r, c] = ``z[z_off + r*ldz + c]`` receives ``s +
    sum_p a[a_off + r*lda + p] * w[w_off + c*ldw + p]``, for r < rows, c < cols, p < k,
    where s is ``bias[b_off + c]``, or Z[r, c] itself when ``accumulate`` is true.
    Both factors are read along their contiguous axis, a vector at a time; each
    product accumulates in lane p mod lanes by fused multiply-adds in increasing p
    (the last, partial vector is loaded masked), and the lanes are summed by a fixed
    tree. Every element is therefore computed identically in every block shape.
    """
    key = (rows, cols)
    if key in _DOT_KERNELS:
        return _DOT_KERNELS[key]

    @intrinsic
    def kernel(typingctx, z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
               accumulate):
        if not (isinstance(z, types.Array) and z.dtype == a.dtype == w.dtype == bias.dtype):
            return None
        sig = types.void(z, z_off, ldz, a, a_off, lda, w, w_off, ldw, k, bias, b_off,
                         accumulate)

        def codegen(context, builder, sig, args):
            tys = sig.args
            elt, lanes = _element(context, tys[0].dtype)
            vec = ir.VectorType(elt, lanes)
            vptr = vec.as_pointer()
            intp = context.get_value_type(types.intp)
            ints = {i: context.cast(builder, args[i], tys[i], types.intp)
                    for i in (1, 2, 4, 5, 7, 8, 9, 11)}
            z_off, ldz, a_off, lda, w_off, ldw, k, b_off = (ints[i] for i in (1, 2, 4, 5, 7, 8, 9, 11))
            z_data = context.make_array(tys[0])(context, builder, args[0]).data
            a_data = context.make_array(tys[3])(context, builder, args[3]).data
            w_data = context.make_array(tys[6])(context, builder, args[6]).data
            b_data = context.make_array(tys[10])(context, builder, args[10]).data
            fma_v = _fma(builder, vec)
            const = lambda x: ir.Constant(intp, x)  # noqa: E731

            a_rows = [builder.add(a_off, builder.mul(const(r), lda)) for r in range(rows)]
            w_rows = [builder.add(w_off, builder.mul(const(c), ldw)) for c in range(cols)]
            acc = [[cgutils.alloca_once(builder, vec) for _ in range(cols)] for _ in range(rows)]
            for r in range(rows):
                for c in range(cols):
                    builder.store(ir.Constant(vec, None), acc[r][c])

            def step(p, load):
                va = [load(builder.bitcast(builder.gep(a_data, [builder.add(a_rows[r], p)]), vptr))
                      for r in range(rows)]
                vw = [load(builder.bitcast(builder.gep(w_data, [builder.add(w_rows[c], p)]), vptr))
                      for c in range(cols)]
                for r in range(rows):
                    for c in range(cols):
                        builder.store(builder.call(fma_v, [va[r], vw[c], builder.load(acc[r][c])]),
                                      acc[r][c])

            n_full = builder.sdiv(k, const(lanes))
            with cgutils.for_range(builder, n_full) as loop:
                step(builder.mul(loop.index, const(lanes)), lambda ptr: builder.load(ptr, align=1))
            p_tail = builder.mul(n_full, const(lanes))
            remaining = builder.sub(k, p_tail)
            with builder.if_then(builder.icmp_signed(">", remaining, const(0))):
                ivec = ir.VectorType(intp, lanes)
                bound = builder.insert_element(ir.Constant(ivec, ir.Undefined), remaining,
                                               ir.Constant(ir.IntType(32), 0))
                bound = builder.shuffle_vector(bound, ir.Constant(ivec, ir.Undefined),
                                               ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                           [0] * lanes))
                mask = builder.icmp_signed("<", ir.Constant(ivec, list(range(lanes))), bound)
                step(p_tail, lambda ptr: _masked(builder, "load", vec, [
                    ptr, ir.Constant(ir.IntType(32), 1), mask, ir.Constant(vec, None)]))
            accumulate = context.cast(builder, args[12], tys[12], types.boolean)
            for r in range(rows):
                for c in range(cols):
                    total = _hsum(builder, builder.load(acc[r][c]), lanes)
                    index = builder.add(z_off, builder.add(builder.mul(const(r), ldz), const(c)))
                    z_ptr = builder.gep(z_data, [index])
                    b_ptr = builder.gep(b_data, [builder.add(b_off, const(c))])
                    start = builder.load(builder.select(accumulate, z_ptr, b_ptr))
                    builder.store(builder.fadd(start, total), z_ptr)
            return context.get_dummy_value()

        return sig, codegen

    _DOT_KERNELS[key] = kernel
    return kernel
