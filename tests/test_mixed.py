"""precision="bf16-mixed": bfloat16 operands, float32 sums, float32 everything else.

Checked against the plain-NumPy reference taking its products as ``naive.bf16_product``
(operands rounded to bfloat16, sums in float64), per product (``gradients``) and per
epoch, for any thread count and both ways of sharing a batch; on the CPU's own
instruction and, in child processes, on the other ways this machine can run (the other
instruction, the emulated layouts of the vector and AMX tiles).
"""

from pathlib import Path

import naive
import numpy as np
import pytest
import scipy.sparse
from conftest import assert_child_passed, child_pytest, make_targets, shared_by_neurons

from fastbp import Network, Trainer, tuning
from fastbp._threads import max_threads
from fastbp.kernels.mixed import FLOAT32_BELOW, bf16_bits

ROOT = Path(__file__).resolve().parents[1]
needs_bf16 = pytest.mark.skipif(tuning.bf16_products() is None,
                                reason="this CPU has neither AVX512-BF16 nor AMX-BF16 "
                                       "(FASTBP_BF16=emulated)")
pytestmark = needs_bf16

# The kernels sum in float32 what the reference sums in float64, and round to
# bfloat16 from their float32 values (the reference from its float64 ones, rounded to
# float32 first): the few operands that land on the other side of a tie move by one
# bfloat16 step.
TOLERANCE = 2e-4


def assert_close(actual, expected, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(np.abs(expected).max(), 1e-3)
    error = np.abs(actual - expected).max() / scale
    assert error <= TOLERANCE, f"{what}: relative error {error:.3g}"


def params64(net):
    return ([np.array(W, np.float64) for W in net.weights],
            [np.array(b, np.float64) for b in net.biases])


def test_rounding_is_to_nearest_even():
    cases = [(1.0, 0x3F80), (-2.5, 0xC020), (1 + 2**-8, 0x3F80), (1 + 3 * 2**-8, 0x3F82),
             (1 + 2**-8 + 2**-20, 0x3F81), (3.4e38, 0x7F80), (np.inf, 0x7F80), (0.0, 0),
             (-0.0, 0x8000)]
    for x, expected in cases:
        bits = np.array([x], np.float32).view(np.uint32)[0]
        assert bf16_bits(bits) == expected, x
        assert naive.bf16(x) == np.array([expected << 16], np.uint32).view(np.float32)[0]
    nan = bf16_bits(np.array([np.nan], np.float32).view(np.uint32)[0])
    assert (nan & 0x7F80) == 0x7F80 and (nan & 0x7F) != 0  # a NaN stays a NaN


def test_the_cpus_rounding_is_to_nearest_even_but_for_denormals(rng):
    """``simd.bf16_round`` (the conversion instruction, used where the CPU multiplies
    bfloat16 numbers) against ``bf16_bits`` on a million random bit patterns: the same
    for every finite number but denormals (flushed to a zero of their sign, or the same
    where the instruction keeps them), infinities and NaNs (a NaN stays one)."""
    import numba

    from fastbp.kernels.simd import bf16_round

    @numba.njit
    def rounded(bits, out):
        for i in range(bits.size):
            out[i] = bf16_round(bits[i])

    bits = rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32)
    got = np.zeros(bits.size, np.int64)
    rounded(bits, got)
    want = bf16_bits_of(bits.view(np.float32)).astype(np.int64)
    x = bits.view(np.float32)
    nan, denormal = np.isnan(x), (x != 0) & (np.abs(x) < np.finfo(np.float32).tiny)
    normal = ~nan & ~denormal
    np.testing.assert_array_equal(got[normal], want[normal])
    assert ((got[nan] & 0x7F80) == 0x7F80).all() and ((got[nan] & 0x7F) != 0).all()
    sign = (bits[denormal] >> 31).astype(np.int64) << 15
    assert ((got[denormal] == sign) | (got[denormal] == want[denormal])).all()


@pytest.mark.parametrize("j0,j1,i0,i1", [(0, 37, 0, 45), (4, 36, 3, 40), (2, 31, 0, 45),
                                         (6, 25, 10, 11)])
def test_rows_paired(rng, j0, j1, i0, i1):
    """BP2's copy of W: T[p, i] = (bf16(S[2p, i]), bf16(S[2p+1, i])) for rows ``j0:j1``
    and columns ``i0:i1`` (a missing odd row paired with a zero); nothing else of T
    written."""
    from fastbp.kernels.mixed import _pair_rows
    from fastbp.kernels.structures import Rows

    n, ld, t_ld = 45, 48, 50
    S = rng.standard_normal(40 * ld).astype(np.float32)
    T = np.zeros(20 * t_ld, np.uint32)
    _pair_rows(Rows(S, 0, ld), j0, j1, i0, i1, Rows(T, 0, t_ld))
    rows = np.concatenate([S.reshape(40, ld)[:j1, :n], np.zeros((1, n), np.float32)])
    if j1 % 2 == 0:
        rows = rows[:-1]
    halves = bf16_bits_of(rows)  # [row, column]
    want = halves[0::2] | halves[1::2] << 16  # [pair p, column i]
    got = T.reshape(20, t_ld)
    p0, p1 = j0 // 2, (j1 + 1) // 2
    np.testing.assert_array_equal(got[p0:p1, i0:i1], want[p0:p1, i0:i1])
    untouched = np.ones_like(got, bool)
    untouched[p0:p1, i0:i1] = False
    assert not got[untouched].any()


@pytest.mark.parametrize("j0,j1", [(0, 37), (4, 36), (2, 31), (0, 53), (6, 25)])
def test_pairs_transposed(rng, j0, j1):
    """BP4's copy of D on the vector tiles: T[i, p] = (bf16(S[2p, i]), bf16(S[2p+1, i])),
    the blocks of 16 x 16 (or 8 x 8) words transposed in registers and the edges
    (columns, pairs, a missing odd row) one by one; a scratch of 20 columns cuts the 45
    columns into three chunks."""
    from fastbp.kernels.mixed import _pairs_transposed
    from fastbp.kernels.structures import Rows

    n, ld, t_ld = 45, 48, 32
    S = rng.standard_normal(60 * ld).astype(np.float32)
    T = np.zeros(n * t_ld, np.uint32)
    _pairs_transposed(Rows(S, 0, ld), n, j0, j1, Rows(T, 0, t_ld),
                      np.zeros(16 * 20, np.uint32))
    halves = bf16_bits_of(S.reshape(60, ld)[:, :n])  # [row, column]
    for p in range(j0 // 2, (j1 + 1) // 2):
        high = halves[2 * p + 1] if 2 * p + 1 < j1 else 0
        np.testing.assert_array_equal(T.reshape(n, t_ld)[:, p], halves[2 * p] | high << 16)
    untouched = np.ones((n, t_ld), bool)
    untouched[:, j0 // 2:(j1 + 1) // 2] = False
    assert not T.reshape(n, t_ld)[untouched].any()


@pytest.mark.parametrize("j0,j1", [(0, 37), (2, 45), (6, 21)])
def test_rows_paired_and_transposed(rng, j0, j1):
    """AMX's forward copy of W: T[p, j] = (bf16(S[j, 2p]), bf16(S[j, 2p+1])), 32 rows
    and as many pairs as the scratch holds at a time (here 32 of 51: two chunks), 16 x
    16 words transposed in registers and the edges (rows, pairs, the missing odd
    column) one by one; nothing else of T written."""
    from fastbp.kernels.mixed import _rows_paired_transposed
    from fastbp.kernels.structures import Rows

    n, ld, t_ld = 101, 104, 50
    S = rng.standard_normal(50 * ld).astype(np.float32)
    T = np.zeros(51 * t_ld, np.uint32)
    _rows_paired_transposed(Rows(S, 0, ld), n, j0, j1, Rows(T, 0, t_ld),
                            np.zeros(32 * 32, np.uint32))
    halves = bf16_bits_of(np.concatenate([S.reshape(50, ld)[:, :n], np.zeros((50, 1),
                                                                            np.float32)], 1))
    want = halves[:, 0::2] | halves[:, 1::2] << 16  # [row j, pair p]
    got = T.reshape(51, t_ld)
    np.testing.assert_array_equal(got[:, j0:j1], want[j0:j1].T)
    untouched = np.ones_like(got, bool)
    untouched[:, j0:j1] = False
    assert not got[untouched].any()


def bf16_bits_of(x):
    """The bfloat16 halves of float32 ``x`` (nearest, ties to even), as uint32."""
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint32)


@pytest.mark.parametrize("by_neuron", [False, True])
@pytest.mark.parametrize("sizes,hidden", [((13, 35, 33, 5), "tanh"), ((20, 33, 4), "gelu"),
                                          ((40, 9, 35, 5), "tanh"),  # a narrow layer first
                                          ((6, 40, 33, 3), "relu"), ((6, 40, 70, 3), "relu")])
def test_gradients_match_the_reference(rng, sizes, hidden, by_neuron):
    """Odd and even layer sizes and batch: every pair completed by a zero is right."""
    net = Network(sizes, hidden, "softmax", seed=2)
    X = rng.standard_normal((11, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], 11)
    trainer = Trainer(net, precision="bf16-mixed",
                      threads=min(2, max_threads()) if by_neuron else None)
    with shared_by_neurons(by_neuron):
        grad_w, grad_b = trainer.gradients(X, y)
    weights, biases = params64(net)
    want_w, want_b = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                    X.astype(np.float64), naive.one_hot(y, sizes[-1]),
                                    product=naive.bf16_product)
    plain_w, _ = naive.backprop(weights, biases, net.activations, "cross_entropy",
                                X.astype(np.float64), naive.one_hot(y, sizes[-1]))
    for l in range(net.n_layers):
        assert_close(grad_w[l], want_w[l], f"dC/dW[{l + 1}]")
        assert_close(grad_b[l], want_b[l], f"dC/db[{l + 1}]")
    # and the products really are in bfloat16: float32 ones are further away
    gap = max(np.abs(grad_w[l] - plain_w[l]).max() / np.abs(plain_w[l]).max()
              for l in range(net.n_layers))
    assert gap > 10 * TOLERANCE * 2**-8


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("by_neuron", [False, True])
def test_epochs_match_the_reference(rng, optimizer, by_neuron):
    """Two epochs of SGD against the reference's; Adam against float32 training (the
    reference has no Adam), within bfloat16's rounding."""
    net = Network([5, 40, 7, 3], ["tanh", "relu"], "softmax", seed=3)
    weights, biases = params64(net)
    n, batch_size, seed, eta = 23, 5, 7, 0.3
    X = rng.standard_normal((n, 5)).astype(np.float32)
    Y = make_targets(rng, "cross_entropy", "softmax", n, 3).astype(np.float32)
    threads = min(2, max_threads()) if by_neuron else None
    kw = {"learning_rate": 0.01} if optimizer == "adam" else {"learning_rate": eta}
    if optimizer == "adam":
        twin = Trainer(Network([5, 40, 7, 3], ["tanh", "relu"], "softmax", seed=3),
                       batch_size=batch_size, seed=seed, optimizer="adam", **kw)
        twin.fit(X, Y, epochs=2)
    trainer = Trainer(net, batch_size=batch_size, seed=seed, threads=threads,
                      optimizer=optimizer, precision="bf16-mixed", **kw)
    with shared_by_neurons(by_neuron):
        history = trainer.fit(X, Y, epochs=2)
    if optimizer == "adam":
        for l in range(net.n_layers):
            moved = np.abs(twin.network.weights[l] - weights[l]).max()
            assert np.abs(net.weights[l] - twin.network.weights[l]).max() < 0.05 * moved
        return
    shuffles = np.random.default_rng(seed)
    losses = []
    for _ in range(2):
        weights, biases, loss = naive.train_epoch(
            weights, biases, net.activations, "cross_entropy", X.astype(np.float64),
            Y.astype(np.float64), shuffles.permutation(n), batch_size, eta,
            product=naive.bf16_product)
        losses.append(loss)
    for l in range(net.n_layers):
        assert_close(net.weights[l], weights[l], f"W[{l + 1}]")
        assert_close(net.biases[l], biases[l], f"b[{l + 1}]")
    assert_close(history["loss"], losses, "loss")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_layers_of_few_neurons_stay_float32(rng, optimizer):
    """A network whose every layer has fewer than FLOAT32_BELOW neurons trains as in
    float32, bit for bit (with the update float32 takes unfused: Adam; SGD within
    rounding), while a layer one neuron wider moves it."""
    X = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def trained(sizes, precision):
        trainer = Trainer(Network(sizes, "tanh", "softmax", seed=4), batch_size=8, seed=1,
                          optimizer=optimizer, learning_rate=0.05, precision=precision)
        trainer.fit(X, y, epochs=2)
        return trainer.network.params

    narrow = (12, FLOAT32_BELOW - 1, 3)
    if optimizer == "adam":
        np.testing.assert_array_equal(trained(narrow, "bf16-mixed"), trained(narrow, "32"))
    else:
        np.testing.assert_allclose(trained(narrow, "bf16-mixed"), trained(narrow, "32"),
                                   rtol=0, atol=1e-6)
    wide = (12, FLOAT32_BELOW, 3)
    assert np.abs(trained(wide, "bf16-mixed") - trained(wide, "32")).max() > 1e-4


def _train(threads, by_neuron, X, y, optimizer="sgd"):
    trainer = Trainer([30, 64, 33, 4], batch_size=9, seed=5, threads=threads,
                      optimizer=optimizer, precision="bf16-mixed", dropout=0.1)
    with shared_by_neurons(by_neuron):
        trainer.fit(X, y, epochs=2)
    return trainer.network.params.copy()


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_same_bits_for_any_thread_count(rng, optimizer):
    X = rng.standard_normal((61, 30)).astype(np.float32)
    y = rng.integers(0, 4, 61)
    first = _train(1, False, X, y, optimizer)
    for threads in range(2, min(4, max_threads()) + 1):
        for by_neuron in (False, True):
            assert np.array_equal(_train(threads, by_neuron, X, y, optimizer), first), \
                (threads, by_neuron)


def test_weights_changed_between_calls_are_used(rng):
    """The rounded copies follow the weights a user sets between calls."""
    X = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    trainer = Trainer([6, 5, 3], precision="bf16-mixed", seed=0)
    before = trainer.gradients(X, y)[0][0].copy()
    trainer.network.weights[0][...] *= 2
    assert not np.allclose(trainer.gradients(X, y)[0][0], before)


def test_checkpoint_keeps_master_weights_and_precision(tmp_path, rng):
    X = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    trainer = Trainer([6, 8, 3], precision="bf16-mixed", seed=0, batch_size=8)
    trainer.fit(X, y, epochs=1)
    trainer.save(tmp_path / "t.npz")
    loaded = Trainer.load(tmp_path / "t.npz")
    assert loaded.precision == "bf16-mixed"
    assert np.array_equal(loaded.network.params, trainer.network.params)  # float32, exact
    trainer.fit(X, y, epochs=1)
    loaded.fit(X, y, epochs=1)
    assert np.array_equal(loaded.network.params, trainer.network.params)
    assert Trainer.load(tmp_path / "t.npz", precision="32").precision == "32"


def test_refusals_name_what_is_wrong(monkeypatch, rng):
    with pytest.raises(ValueError, match="precision must be one of"):
        Trainer([4, 3], precision="bf16")
    with pytest.raises(ValueError, match="float32 network"):
        Trainer([4, 3], precision="bf16-mixed", dtype=np.float64)
    X = scipy.sparse.random(10, 4, density=0.5, format="csr", dtype=np.float32)
    with pytest.raises(ValueError, match="dense X only"):
        Trainer([4, 3], precision="bf16-mixed").fit(X, np.arange(10) % 3, epochs=1)
    monkeypatch.setattr(tuning, "bf16_products", lambda: None)
    with pytest.raises(ValueError, match="avx512bf16"):
        Trainer([4, 3], precision="bf16-mixed")


def _other_ways():
    """The ways of multiplying bfloat16 pairs this machine can run, but for this
    process's own: the emulated ones always."""
    this = tuning.bf16_products()
    ways = tuning.bf16_ways_of_cpu() + ["emulated", "amx-emulated"]
    return [way for way in ways if way != this]


@pytest.mark.parametrize("way", [
    pytest.param(way, marks=child_pytest(
        "tests/test_mixed.py", "-k",
        "gradients_match or (epochs_match and sgd) or (thread_count and sgd)",
        FASTBP_BF16=way)) for way in _other_ways()])
def test_other_ways_give_the_reference_results(way, child_run):
    """The reference tests in a child process that multiplies bfloat16 pairs another
    way (FASTBP_BF16: the other instruction, or the vector or AMX tiles' layout
    emulated), which compiles every kernel again: per product, whole epochs, and the
    same bits for any thread count."""
    assert_child_passed(child_run)


def test_emulated_ranks_match_one_process(rng):
    """Data-parallel steps take the same products: the ranks' sums (each over its own
    pairs of samples) add up to one process's to float32 rounding."""
    from fastbp.comm import Emulated

    X = rng.standard_normal((203, 7)).astype(np.float32)
    y = rng.integers(0, 3, 203)
    results = []
    for comm in (None, Emulated(2), Emulated(3)):
        trainer = Trainer([7, 40, 3], learning_rate=0.05, batch_size=15, seed=1, comm=comm,
                          precision="bf16-mixed")
        trainer.fit(X, y, epochs=3)
        results.append(trainer.network.params.copy())
    for params in results[1:]:
        np.testing.assert_allclose(params, results[0], rtol=0, atol=2e-5)
