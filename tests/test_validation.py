"""Bad input raises a clear ValueError or TypeError that names the argument."""

import numpy as np
import pytest

from fastbp import Network, Trainer


@pytest.fixture
def trainer():
    return Trainer([4, 5, 3], seed=0)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((10, 4)), rng.integers(0, 3, 10)


@pytest.mark.parametrize("X,error,match", [
    (np.zeros(4), ValueError, r"X must be a 2-D array of shape \(n_samples, 4\)"),
    (np.zeros((10, 3)), ValueError, "X must have 4 columns"),
    (np.zeros((0, 4)), ValueError, "X is empty"),
    (np.array([["a"] * 4] * 10), TypeError, "X must hold numbers"),
    (np.full((10, 4), np.nan), ValueError, "X contains NaN or infinity"),
    (np.full((10, 4), np.inf), ValueError, "X contains NaN or infinity"),
    (np.empty((10, 4), dtype=object), TypeError, "X must hold numbers"),
])
def test_bad_X(trainer, data, X, error, match):
    with pytest.raises(error, match=match):
        trainer.fit(X, data[1])


@pytest.mark.parametrize("y,error,match", [
    (np.zeros(9, dtype=int), ValueError, "y has 9 rows but X has 10 samples"),
    (np.full(10, 3), ValueError, r"class labels in \[3, 3\]; expected labels in \[0, 3\)"),
    (np.full(10, -1), ValueError, "expected labels in"),
    (np.full(10, 0.5), ValueError, "y must hold integer class labels"),
    (np.zeros((10, 2)), ValueError, "y must have 3 columns"),
    (np.zeros((10, 3, 1)), ValueError, "y must be 1-D"),
    (np.full((10, 3), np.nan), ValueError, "y contains NaN or infinity"),
    (np.array(["x"] * 10), TypeError, "y must hold numbers"),
])
def test_bad_y(trainer, data, y, error, match):
    with pytest.raises(error, match=match):
        trainer.fit(data[0], y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rows", [8, 40_000])  # below and above one thread's share
def test_finite_and_largest_either_way(dtype, bad, rows):
    """Small inputs are checked with NumPy, large ones by the parallel kernel: the same
    verdict and the same max |X|, which is also what the kernel gives on small ones."""
    from fastbp._validation import check_inputs
    from fastbp.kernels.checks import finite_max_abs
    from fastbp.pacing import ELEMENTS_PER_THREAD

    rng = np.random.default_rng(rows)
    X = (rng.standard_normal((rows, 32)) * 3).astype(dtype)
    X[rows // 3, 7] = -1e3 if dtype == np.float64 else np.float32(-777.25)  # the largest
    assert (X.size < ELEMENTS_PER_THREAD) == (rows == 8)
    if bad is not None:
        X[rows - 1, 31] = bad
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            check_inputs(X, 32, dtype)
        assert finite_max_abs(X) == np.inf
        return
    _, largest = check_inputs(X, 32, dtype, return_max=True)
    assert largest == float(np.abs(X).max()) == finite_max_abs(X)


def test_every_entry_point_checks(trainer, data):
    bad = np.zeros((3, 2))
    for call in (trainer.predict, trainer.predict_proba, trainer.network.forward):
        with pytest.raises(ValueError, match="X must have 4 columns"):
            call(bad)
    for call in (trainer.evaluate, trainer.score, trainer.gradients):
        with pytest.raises(ValueError, match="y has 9 rows"):
            call(data[0], data[1][:9])


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(cost="hinge"), ValueError, "cost must be one of"),
    (dict(activation="swish"), ValueError, "activation must be one of"),
    (dict(activation="softmax"), ValueError, "activation must be one of"),
    (dict(output_activation="relu6"), ValueError, "output_activation must be one of"),
    (dict(learning_rate=0), ValueError, "learning_rate must be a finite number > 0"),
    (dict(learning_rate=-1.0), ValueError, "learning_rate must be"),
    (dict(learning_rate=float("nan")), ValueError, "learning_rate must be"),
    (dict(learning_rate="fast"), TypeError, "learning_rate must be a real number"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
    (dict(epochs=-1), ValueError, "epochs must be >= 0"),
    (dict(threads=0), ValueError, "threads must be >= 1"),
    (dict(threads=10_000), ValueError, "threads must be <="),
    (dict(dtype=np.int32), TypeError, "dtype must be float32 or float64"),
    (dict(dtype="float16"), TypeError, "dtype must be float32 or float64"),
    (dict(cost="cross_entropy", output_activation="sigmoid"), ValueError,
     "cost='cross_entropy' needs a softmax output layer"),
    (dict(cost="binary_cross_entropy", output_activation="softmax"), ValueError,
     "needs a sigmoid output layer"),
])
def test_bad_trainer_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Trainer([4, 5, 3], **kwargs)


@pytest.mark.parametrize("args,kwargs,error,match", [
    (([4],), {}, ValueError, "sizes must name at least an input and an output layer"),
    (([4, 0, 3],), {}, ValueError, r"sizes\[1\] must be >= 1"),
    (([4, 2.0, 3],), {}, TypeError, r"sizes\[1\] must be an integer"),
    (("4-3",), {}, TypeError, "sizes must be a sequence"),
    (([4, 5, 6, 3], ["relu"]), {}, ValueError, "activation must be one name or 2 names"),
    (([4, 5, 6, 3], ["relu", "nope"]), {}, ValueError, r"activation\[1\] must be one of"),
])
def test_bad_network_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        Network(*args, **kwargs)


def test_bad_assignments_leave_the_network_unchanged():
    net = Network([3, 4, 2], seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(4, 3\)"):
        net.weights[0] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"biases\[1\] contains NaN"):
        net.biases = [np.zeros(4), np.array([0.0, np.nan])]
    with pytest.raises(ValueError, match="weights must be a list of 2 arrays"):
        net.weights = [np.zeros((4, 3))]
    np.testing.assert_array_equal(net.params, before)


def test_non_contiguous_integer_and_float64_inputs_are_converted(trainer, data):
    X, y = data
    wide = np.zeros((10, 8))
    wide[:, ::2] = X
    results = [trainer.predict_proba(X), trainer.predict_proba(wide[:, ::2]),
               trainer.predict_proba(X.astype(">f8")), trainer.predict_proba(X.tolist())]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    trainer.fit(np.round(X).astype(np.int32), y.astype(np.uint8), epochs=1)


def test_float_targets_of_a_quadratic_network_are_values():
    rng = np.random.default_rng(0)
    X = rng.random((80, 3)).astype(np.float32)
    y = np.floor(40 * X[:, 0]).astype(np.float64)  # whole numbers 0..39, as values
    regressor = Trainer([3, 8, 1], "quadratic", learning_rate=1e-3, batch_size=8, seed=0)
    history = regressor.fit(X, y / 40, epochs=2)
    assert "accuracy" not in history  # values, not labels
    regressor.fit(X, y, epochs=1)  # formerly "y holds class labels in [0, 39]"
    assert isinstance(regressor.score(X, y), float)
    with pytest.raises(ValueError, match=r"class labels in \[0, 39\].*pass y as floats"):
        regressor.fit(X, y.astype(np.int64), epochs=1)  # integers stay labels
    wide = Trainer([3, 8, 4], "quadratic", seed=0)
    with pytest.raises(ValueError, match=r"reads as values .*y.astype\(int\)"):
        wide.fit(X, y % 4, epochs=1)
    wide.fit(X, (y % 4).astype(int), epochs=1)  # labels, one-hot encoded
    classifier = Trainer([3, 8, 4], "cross_entropy", seed=0)  # whole floats are labels
    assert "accuracy" in classifier.fit(X, y % 4, epochs=1)
