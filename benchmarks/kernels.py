"""Speed of the matrix-product workers on the shapes of one training step.

    python benchmarks/kernels.py                          # float32, one thread
    python benchmarks/kernels.py --precision bf16-mixed   # and on bfloat16 pairs
    python benchmarks/kernels.py --threads 2              # two threads at once

For the L and XL workloads (one thread's shard on two threads), times each product a
step is made of, called directly (best of ``--repeats``), and prints GFLOP/s a thread
beside NumPy's float32 1024 x 1024 product per core (all cores' rate divided by their
number).

``--threads N``: N threads each run the product on operands of their own at the same
time, in one parallel region per call, as the threads of a training step do; a core
may run slower while the others compute too (a shared clock or power budget), and the
rates are then those a step can reach. ``--precision bf16-mixed``: each product is
timed again on bfloat16 pairs, as bf16-mixed training calls it on this CPU
(``fastbp.tuning.bf16_products()``: the vector tiles' ``vdpbf16ps``, or AMX tiles), with
its speed-up over float32: the most a bf16-mixed step can gain here, before the work
that does not shrink (rounding, activations, the update, barriers).
"""

import argparse
import os
import sys
import time

import numba
import numpy as np
from numba import njit, prange

try:  # imported by asv as part of the benchmarks package
    from . import common
except ImportError:  # run as a script
    import common
from fastbp import tuning
from fastbp._validation import PRECISIONS, check_precision
from fastbp.kernels.gemm import PACK_SIZE, gemm, gemm_nt
from fastbp.kernels.layout import aligned_zeros, layer_table, weight_stride
from fastbp.kernels.mixed import AMX, DP_LD, DR_LD, WR_LD, WT_LD, XP_LD, mixed_table
from fastbp.kernels.structures import SUMS_ROWS, Matrix, Rows

if AMX:  # bf16-mixed's every product on AMX tiles (see ``fastbp.kernels.mixed``)
    from fastbp.kernels.amx import pair_product


# Each runner: thread t's operands at t times the size of one thread's (an argument).

@njit(parallel=True)
def _forward_on(threads, m, n, k, x, ldx, w, ldw, bias, z, size):
    """Z = X W^T + b (``gemm_nt``), on each thread."""
    for t in prange(0, threads):
        gemm_nt(m, n, k, Rows(x, t * size[0], ldx), Rows(w, t * size[1], ldw), bias, 0,
                Rows(z, t * size[2], n))


@njit(parallel=True)
def _sums_on(threads, m, n, k, alpha, a, rs, cs, b, ldb, c, ldc, accumulate, pack, size,
             block):
    """C (+)= alpha A B (``gemm``), on each thread, ``block`` rows of A at a time into
    the same rows of C (bf16-mixed's BP4 sums SUMS_ROWS rows, which stay in L2 for the
    update, see ``fastbp.kernels.mixed``)."""
    for t in prange(0, threads):
        for i0 in range(0, m, block):
            gemm(min(block, m - i0), n, k, alpha, Matrix(a, t * size[0] + i0 * rs, rs, cs),
                 Rows(b, t * size[1], ldb), Rows(c, t * size[2], ldc), accumulate,
                 pack[t * PACK_SIZE:(t + 1) * PACK_SIZE])


@njit(parallel=True)
def _tiles_on(threads, m, n, k, a, rs, cs, b, ldb, c, ldc, bias, pack, size, block):
    """C = A B + b on AMX tiles (``amx.pair_product``), as ``_sums_on``."""
    for t in prange(0, threads):
        for i0 in range(0, m, block):
            pair_product(min(block, m - i0), n, k, Matrix(a, t * size[0] + i0 * rs, rs, cs),
                         Rows(b, t * size[1], ldb), Rows(c, t * size[2], ldc), bias, 0, False,
                         pack[t * PACK_SIZE:(t + 1) * PACK_SIZE])


def _best(f, repeats):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def shapes():
    """(label, m, n, k, kind, strides): forward and BP2 of one sample shard, BP4 of one
    row slice, of the second layer of L and XL; ``strides``: that layer's row of
    ``mixed.mixed_table`` (the row strides of its bfloat16 operands)."""
    for name in ("L", "XL"):
        w = common.WORKLOADS[name]
        table = layer_table(w.sizes, [0] * (len(w.sizes) - 1))
        strides = mixed_table(table, w.batch_size)[0][1]
        n_in, n_out, shard = w.sizes[1], w.sizes[2], w.batch_size // 2
        yield f"{name} forward  Z = A W^T", shard, n_out, n_in, "nt", strides
        yield f"{name} BP2      D W", shard, n_in, n_out, "bp2", strides
        yield f"{name} BP4      D^T A", n_out // 2, n_in, w.batch_size, "bp4", strides


class Operands:
    """Random operands, a copy for each of ``threads`` threads, 64-byte aligned; and
    each thread's scratch for ``gemm`` (``pack``)."""

    def __init__(self, threads, rng):
        self.threads, self.rng = threads, rng
        self.pack = aligned_zeros(threads * PACK_SIZE, np.float32)

    def floats(self, n):
        x = aligned_zeros(self.threads * n, np.float32)
        x[:] = self.rng.random(x.shape[0], dtype=np.float32)
        return x

    def pairs(self, n):
        """Words of two bfloat16 numbers in [0.5, 1)."""
        halves = self.rng.integers(0x3F00, 0x3F80, size=2 * self.threads * n, dtype=np.uint16)
        x = aligned_zeros(self.threads * n, np.uint32)
        x[:] = halves.view(np.uint32)
        return x


def float32_product(kind, m, n, k, threads, ops):
    """A call of the float32 product, as a step of float32 training makes it."""
    if kind == "nt":
        ld = weight_stride(k)
        x, w, z, b = ops.floats(m * k), ops.floats(n * ld), ops.floats(m * n), ops.floats(n)
        size = np.array([m * k, n * ld, m * n])
        return lambda: _forward_on(threads, m, n, k, x, k, w, ld, b, z, size)
    if kind == "bp2":  # A: D[l+1] rows (k per sample), B: W[l+1] rows, padded
        ld = weight_stride(n)
        x, w, c = ops.floats(m * k), ops.floats(k * ld), ops.floats(m * n)
        size = np.array([m * k, k * ld, m * n])
        return lambda: _sums_on(threads, m, n, k, 1.0, x, k, 1, w, ld, c, n, False, ops.pack,
                                size, m)
    # BP4: A: D[l] read transposed, B: A[l-1]; the fused update accumulates onto W
    n_out, ld = 2 * m, weight_stride(n)
    d, x, w = ops.floats(k * n_out), ops.floats(k * n), ops.floats(m * ld)
    size = np.array([k * n_out, k * n, m * ld])
    return lambda: _sums_on(threads, m, n, k, -1e-3, d, 1, n_out, x, n, w, ld, True, ops.pack,
                            size, m)


def pair_product_call(kind, m, n, k, threads, ops, strides):
    """A call of the same product on bfloat16 pairs (k // 2 of them), in the layouts and
    row strides of ``fastbp.kernels.mixed``: the weights' pairs WR (forward) and WT (BP2),
    the deltas' DR (BP2) and DP (BP4), the activations' XR (forward) and XP (BP4)."""
    h = (k + 1) // 2
    if kind == "nt":  # WR[p, j] on AMX (h rows), else WR[j, p] (n rows)
        ld = strides[WR_LD]
        x, w, z, b = ops.pairs(m * h), ops.pairs((h if AMX else n) * ld), \
            ops.floats(m * n), ops.floats(n)
        size = np.array([m * h, w.shape[0] // threads, m * n])
        if AMX:
            return lambda: _tiles_on(threads, m, n, h, x, h, 1, w, ld, z, n, b,
                                     ops.pack.view(np.uint32), size, m)
        return lambda: _forward_on(threads, m, n, h, x, h, w, ld, b, z, size)
    if kind == "bp2":  # A: DR (rows of samples), B: WT[p, i]
        ld, dr_ld = strides[WT_LD], strides[DR_LD]
        a, b, c = ops.pairs(m * dr_ld), ops.pairs(h * ld), ops.floats(m * n)
        rs, cs, a_size = dr_ld, 1, m * dr_ld
    else:  # BP4: A: DP (DP[p, j] read transposed on AMX, else DP[j, p]), B: XP[p, i]
        ld, dp_ld = strides[XP_LD], strides[DP_LD]
        rs, cs = (1, dp_ld) if AMX else (dp_ld, 1)
        a_size = h * dp_ld if AMX else m * dp_ld
        a, b = ops.pairs(a_size), ops.pairs(h * ld)
        c = ops.floats(SUMS_ROWS * weight_stride(n))
    size = np.array([a_size, h * ld, c.shape[0] // threads])
    ldc, block = (weight_stride(n), SUMS_ROWS) if kind == "bp4" else (n, m)
    if AMX:
        zeros = np.zeros(n, np.float32)
        return lambda: _tiles_on(threads, m, n, h, a, rs, cs, b, ld, c, ldc, zeros,
                                 ops.pack.view(np.uint32), size, block)
    return lambda: _sums_on(threads, m, n, h, 1.0, a, rs, cs, b, ld, c, ldc, False,
                            ops.pack.view(np.uint32), size, block)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads running a product each at the same time (default 1)")
    parser.add_argument("--precision", default="32", choices=PRECISIONS,
                        help="bf16-mixed: also the products on bfloat16 pairs, and the ratio")
    parser.add_argument("--repeats", type=int, default=9, help="best of this many calls")
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        parser.error(f"--threads must be 1 to {numba.config.NUMBA_NUM_THREADS}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        check_precision(args.precision, np.float32)
    except ValueError as error:
        parser.error(str(error))
    numba.set_num_threads(args.threads)
    mixed = args.precision == "bf16-mixed"
    rng = np.random.default_rng(0)
    ops = Operands(args.threads, rng)
    a = rng.random((1024, 1024), dtype=np.float32)
    a @ a
    roof = 2 * 1024 ** 3 / _best(lambda: a @ a, 10) / 1e9 / os.cpu_count()
    print(f"{tuning.cpu_model()}: {tuning.kernel_variant().name} tiles"
          + (f", bfloat16 products on {tuning.bf16_products()}" if mixed else "")
          + f"; threads at once: {args.threads}; best of {args.repeats} calls")
    print(f"NumPy float32 1024^3 product: {roof:.1f} GFLOP/s per core")
    print(f"{'product':<26} {'m':>5} {'n':>5} {'k':>5}   float32 GFLOP/s a thread"
          + ("   bfloat16    ratio" if mixed else ""))
    for label, m, n, k, kind, strides in shapes():
        flops = 2 * m * n * k * args.threads
        gflops = flops / _best(float32_product(kind, m, n, k, args.threads, ops),
                               args.repeats) / 1e9 / args.threads
        line = (f"{label:<26} {m:>5} {n:>5} {k:>5}   {gflops:6.1f} "
                f"({100 * gflops / roof:3.0f}% of a core)")
        if mixed:
            call = pair_product_call(kind, m, n, k, args.threads, ops, strides)
            pairs = flops / _best(call, args.repeats) / 1e9 / args.threads
            line += f"      {pairs:6.1f}    {pairs / gflops:4.2f}x"
        print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
