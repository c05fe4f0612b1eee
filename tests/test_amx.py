"""The AMX tiles of precision "bf16-mixed" (``fastbp.kernels.amx``).

The emulated tile block against its definition, bit for bit, on any CPU; the native one
(AMX-BF16 CPUs only) against the same sums in float64; the products cut into blocks of
tiles (``pair_product``, on the tiles this process runs: native on an AMX CPU, else
emulated) against NumPy at every edge of A, B and k. Training on them is checked by
``test_mixed`` (natively, or in a child process with FASTBP_BF16=amx-emulated). The
native code is also compiled for an AMX CPU on any machine, and its instructions read.
"""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from fastbp import tuning
from fastbp.kernels import amx
from fastbp.kernels.gemm import PACK_SIZE
from fastbp.kernels.structures import Matrix, Rows

ROOT = Path(__file__).resolve().parents[1]
native = pytest.mark.skipif("amx" not in tuning.bf16_ways_of_cpu(),
                            reason="this CPU (or its operating system) has no AMX-BF16 tiles")


@numba.njit
def _emulated(mt, nt, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld):
    amx.tile_block_emulated(mt, nt, kt, a, 0, a_ld, b, 0, b_ld, s, 0, s_ld, c, 0, c_ld)


def _native():
    @numba.njit
    def run(mt, nt, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld):
        amx.tiles_configure()
        amx.tile_block_native(mt, nt, kt, a, 0, a_ld, b, 0, b_ld, s, 0, s_ld, c, 0, c_ld)
        amx.tiles_release()
    return run


@numba.njit
def _pair_product(m, n, k, a, a_off, a_rs, a_cs, b, b_off, ldb, c, c_off, ldc, bias, b0,
                  accumulate):
    scratch = np.zeros(PACK_SIZE, np.uint32)
    amx.pair_product(m, n, k, Matrix(a, a_off, a_rs, a_cs), Rows(b, b_off, ldb),
                     Rows(c, c_off, ldc), bias, b0, accumulate, scratch)


def words(rng, n):
    """Words of two random bfloat16 numbers each."""
    high = rng.standard_normal(n).astype(np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
    low = rng.standard_normal(n).astype(np.float32).view(np.uint32) >> np.uint32(16)
    return high | low


def halves(w):
    """(even, odd) bfloat16 halves of words, as float64."""
    w = np.asarray(w, np.uint32)
    return ((w << np.uint32(16)).view(np.float32).astype(np.float64),
            (w & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64))


def pair_matmul(A, B):
    """sum over p of A[i, p] . B[p, q] (both pairs) in float64."""
    (ae, ao), (be, bo) = halves(A), halves(B)
    return ae @ be + ao @ bo


SHAPES = [(mt, nt, kt, s_ld) for mt in (1, 2) for nt in (1, 2) for kt, s_ld in ((1, 0), (3, 40))]


def _block(rng, mt, nt, kt):
    a_ld, b_ld, c_ld = 16 * kt + 5, 16 * nt + 3, 40
    a, b = words(rng, 16 * mt * a_ld), words(rng, 16 * kt * b_ld)
    s = rng.standard_normal(32 * 40).astype(np.float32)
    A = a.reshape(-1, a_ld)[:, :16 * kt]
    B = b.reshape(-1, b_ld)[:, :16 * nt]
    return a, a_ld, b, b_ld, s, c_ld, A, B


@pytest.mark.parametrize("mt,nt,kt,s_ld", SHAPES)
def test_emulated_tiles_follow_the_definition(rng, mt, nt, kt, s_ld):
    """Bit for bit: from S, per pair in order, the even product added, then the odd."""
    a, a_ld, b, b_ld, s, c_ld, A, B = _block(rng, mt, nt, kt)
    c = np.full(16 * mt * c_ld, -1, np.float32)
    _emulated(mt, nt, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld)
    (ae, ao), (be, bo) = halves(A), halves(B)
    acc = np.lib.stride_tricks.as_strided(s, (16 * mt, 16 * nt), (4 * s_ld, 4)).copy()
    for p in range(16 * kt):  # the products are exact in float32, each sum rounds
        acc = acc + np.outer(ae[:, p], be[p]).astype(np.float32)
        acc = acc + np.outer(ao[:, p], bo[p]).astype(np.float32)
    C = c.reshape(-1, c_ld)
    np.testing.assert_array_equal(C[:, :16 * nt], acc)
    assert (C[:, 16 * nt:] == -1).all()


@native
@pytest.mark.parametrize("mt,nt,kt,s_ld", SHAPES)
def test_native_tiles_give_the_sums(rng, mt, nt, kt, s_ld):
    """The hardware's sums (not rounded as the definition says: within float32's
    rounding of the float64 ones, not bit for bit the emulated ones)."""
    a, a_ld, b, b_ld, s, c_ld, A, B = _block(rng, mt, nt, kt)
    c = np.full(16 * mt * c_ld, -1, np.float32)
    _native()(mt, nt, kt, a, a_ld, b, b_ld, s, s_ld, c, c_ld)
    S = np.lib.stride_tricks.as_strided(s, (16 * mt, 16 * nt), (4 * s_ld, 4))
    want = S + pair_matmul(A, B)
    C = c.reshape(-1, c_ld)
    scale = np.abs(want).max()
    assert np.abs(C[:, :16 * nt] - want).max() <= 16 * kt * 2 ** -23 * scale
    assert (C[:, 16 * nt:] == -1).all()


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (16, 16, 16), (48, 64, 128), (33, 40, 37),
                                   (70, 17, 300), (5, 100, 600), (32, 32, 256),
                                   (300, 40, 70), (130, 33, 20)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
def test_pair_product_matches_numpy(rng, m, n, k, transposed, accumulate):
    """Edges of rows, columns and k (slices of KC pairs; chunks of MC rows), A as rows
    of pairs (the
    forward pass, BP2) or read transposed (BP4), offsets everywhere; C outside its
    block untouched."""
    a_off, b_off, c_off, ldb, ldc = 3, 5, 7, n + 9, n + 4
    a = words(rng, a_off + m * k + 11)
    A = a[a_off:a_off + m * k].reshape((k, m)).T if transposed else \
        a[a_off:a_off + m * k].reshape((m, k))
    a_rs, a_cs = (1, m) if transposed else (k, 1)
    b = words(rng, b_off + k * ldb)
    B = b[b_off:].reshape(k, ldb)[:, :n]
    c = rng.standard_normal(c_off + m * ldc + 3).astype(np.float32)
    start = c[c_off:c_off + m * ldc].reshape(m, ldc)[:, :n].astype(np.float64)
    bias = rng.standard_normal(n + 2).astype(np.float32)
    before = c.copy()
    _pair_product(m, n, k, a, a_off, a_rs, a_cs, b, b_off, ldb, c, c_off, ldc, bias, 2,
                  accumulate)
    want = (start if accumulate else bias[2:].astype(np.float64)) + pair_matmul(A, B)
    C = c[c_off:c_off + m * ldc].reshape(m, ldc)
    scale = np.abs(want).max()
    assert np.abs(C[:, :n] - want).max() <= (k + 1) * 2 ** -23 * scale
    outside = np.ones_like(c, bool)
    outside[c_off:c_off + m * ldc].reshape(m, ldc)[:, :n] = False
    np.testing.assert_array_equal(c[outside], before[outside])


def test_the_way_is_chosen_and_forced(monkeypatch):
    """AMX before AVX512-BF16 where both exist; FASTBP_BF16 forces one the CPU has, or an
    emulated one; a way the CPU lacks, or a name not known, is refused with its name."""
    ways = tuning.bf16_ways_of_cpu()
    monkeypatch.delenv(tuning.BF16_ENV, raising=False)
    assert tuning.bf16_products() == (ways[0] if ways else None)
    for way in tuning.BF16_WAYS:
        monkeypatch.setenv(tuning.BF16_ENV, way)
        if way in ways or "emulated" in way:
            assert tuning.bf16_products() == way
        else:
            with pytest.raises(ValueError, match=way):
                tuning.bf16_products()
    monkeypatch.setenv(tuning.BF16_ENV, "amx16")
    with pytest.raises(ValueError, match=r"amx16.*expected one of"):
        tuning.bf16_products()


def test_amx_permission_is_asked_once_and_answered():
    """``arch_prctl`` answers (True or False, never an exception), and the answer holds."""
    first = tuning.amx_permitted()
    assert first in (True, False)
    assert tuning.amx_permitted() is first


CROSS_COMPILE = """
import numba
from fastbp.kernels import amx

@numba.njit
def block(a, b, s, c):
    amx.tiles_configure()
    amx.tile_block_native(2, 2, 4, a, 0, 64, b, 0, 32, s, 0, 0, c, 0, 32)
    amx.tiles_release()

block.compile("void(uint32[::1], uint32[::1], float32[::1], float32[::1])")
print(block.inspect_asm(block.signatures[0]))
"""


def test_native_tiles_compile_for_an_amx_cpu_anywhere(tmp_path):
    """The tile code as LLVM emits it for Sapphire Rapids (Numba's NUMBA_CPU_NAME and
    NUMBA_CPU_FEATURES, in a child process: compiled, never run), on any x86-64 CPU:
    the configuration, the loads, the products, the stores and the release."""
    env = dict(os.environ, NUMBA_CPU_NAME="sapphirerapids",
               NUMBA_CPU_FEATURES="+amx-tile,+amx-bf16,+avx512bf16,+avx512f,+avx512vl",
               FASTBP_KERNEL="256bit-r6-d4", FASTBP_CACHE_DIR=str(tmp_path),
               NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", CROSS_COMPILE], capture_output=True,
                            text=True, timeout=600, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    asm = result.stdout
    for instruction in ("ldtilecfg", "tileloadd", "tdpbf16ps", "tilestored", "tilerelease"):
        assert instruction in asm, instruction
    assert asm.count("tdpbf16ps") >= 4 + 2 + 2 + 1  # the 2x2, 2x1, 1x2 and 1x1 blocks
