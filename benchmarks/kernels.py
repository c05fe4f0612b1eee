"""Single-thread speed of the matrix-product workers on the shapes of one training step.

    python benchmarks/kernels.py

For the L and XL workloads (one thread's shard on two threads), times each product a
step is made of, called directly (best of 5), and prints GFLOP/s beside NumPy's
float32 1024 x 1024 product per core (all cores' rate divided by their number).
"""

import os
import time

import numpy as np

try:  # imported by asv as part of the benchmarks package
    from . import common
except ImportError:  # run as a script
    import common  # noqa: F401
from fastbp.kernels.gemm import PACK_SIZE, gemm, gemm_nt
from fastbp.kernels.layout import aligned_zeros, weight_stride
from fastbp.kernels.structures import Matrix, Rows


def _random(n, rng):
    x = aligned_zeros(n, np.float32)
    x[:] = rng.random(n, dtype=np.float32)
    return x


def _best(f, repeats=5):
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def shapes():
    """(label, m, n, k, kind): forward and BP2 of one sample shard, BP4 of one row slice."""
    for name, n_in, n_out, batch in (("L", 512, 512, 128), ("XL", 2048, 2048, 256)):
        shard = batch // 2
        yield f"{name} forward  Z = A W^T", shard, n_out, n_in, "nt"
        yield f"{name} BP2      D W", shard, n_in, n_out, "bp2"
        yield f"{name} BP4      D^T A", n_out // 2, n_in, batch, "bp4"


def main():
    rng = np.random.default_rng(0)
    pack = aligned_zeros(PACK_SIZE, np.float32)
    a = rng.random((1024, 1024), dtype=np.float32)
    a @ a
    roof = 2 * 1024 ** 3 / _best(lambda: a @ a, 10) / 1e9 / os.cpu_count()
    print(f"NumPy float32 1024^3 product: {roof:.1f} GFLOP/s per core")
    for label, m, n, k, kind in shapes():
        if kind == "nt":
            ld = weight_stride(k)
            x, w, z, b = _random(m * k, rng), _random(n * ld, rng), _random(m * n, rng), \
                _random(n, rng)
            run = lambda: gemm_nt(m, n, k, Rows(x, 0, k), Rows(w, 0, ld), b, 0,  # noqa: E731
                                  Rows(z, 0, n))
        elif kind == "bp2":  # A: D[l+1] rows (k per sample), B: W[l+1] rows, padded
            ld = weight_stride(n)
            x, w, c = _random(m * k, rng), _random(k * ld, rng), _random(m * n, rng)
            run = lambda: gemm(m, n, k, 1.0, Matrix(x, 0, k, 1), Rows(w, 0, ld),  # noqa: E731
                               Rows(c, 0, n), False, pack)
        else:  # A: D[l] read transposed, B: A[l-1]; the fused update accumulates onto W
            n_out = 2 * m
            ld = weight_stride(n)
            d, x, w = _random(k * n_out, rng), _random(k * n, rng), _random(m * ld, rng)
            run = lambda: gemm(m, n, k, -1e-3, Matrix(d, 0, 1, n_out),  # noqa: E731
                               Rows(x, 0, n), Rows(w, 0, ld), True, pack)
        gflops = 2 * m * n * k / _best(run) / 1e9
        print(f"{label:<26} m={m:<5} n={n:<5} k={k:<5} {gflops:6.1f} GFLOP/s "
              f"({100 * gflops / roof:.0f}% of a core)")


if __name__ == "__main__":
    main()
