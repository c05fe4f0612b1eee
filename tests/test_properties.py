"""Property-based tests: random shapes, dtypes, values and settings at the public API.

Every call either works or raises one of the documented errors: ValueError or
TypeError (``fastbp.ModelFileError`` is a ValueError), and from ``fit`` also
``fastbp.TrainingDiverged``; never another exception, a crash or a hang. And bad input
never costs the model: a call refused for its arguments leaves the parameters as they
were, and after ``fit`` they are finite.

Examples are tiny (networks of a few units, a few samples, at most two epochs) and the
search is derandomised, so that the file runs in seconds and the same way everywhere.
"""

import gzip
import io as pyio
import os
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastbp
from fastbp import ModelFileError, Network, Trainer, idx
from fastbp import io as model_io
from fastbp.kernels.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastbp.kernels.costs import COSTS
from fastbp.optim import OPTIMIZERS, SCHEDULES

DOCUMENTED = (ValueError, TypeError)
# Trainer.fit stops a diverging run with the weights of its last finite step.
TrainingDiverged = getattr(fastbp, "TrainingDiverged", None)
FIT_ERRORS = DOCUMENTED + ((TrainingDiverged,) if TrainingDiverged is not None else ())


def search(max_examples):
    """Hypothesis settings: reproducible (no database, derandomised), no deadline (the
    first example of a kind may compile kernels)."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True,
                    database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def attempt(call, *args, errors=DOCUMENTED, **kwargs):
    """``(result, None)``, or ``(None, error)`` for a documented error, which must have a
    message; any other exception fails the test."""
    name = getattr(call, "__name__", "call")
    try:
        result = call(*args, **kwargs)
    except errors as error:
        assert str(error), f"{type(error).__name__} without a message"
        event(f"{name}: {type(error).__name__}")  # --hypothesis-show-statistics
        return None, error
    event(f"{name}: returned")
    return result, None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("properties")


# Strategies ---------------------------------------------------------------------------
#
# Each argument is valid about four times in five, so that a fair share of examples gets
# past the checks and trains, and the rest probes one bad argument at a time.

@st.composite
def mostly(draw, valid, invalid, odds=4):
    """A draw from ``valid``, or (about one time in ``odds + 1``) from ``invalid``; valid
    is the simpler choice, that shrinking moves towards."""
    return draw(invalid if draw(st.integers(0, odds)) == odds else valid)


NUMERIC_DTYPES = ["float16", "float32", "float64", ">f4", ">f8", "int8", "int32", "int64",
                  ">i4", "uint8", "uint64", "bool"]
OTHER_DTYPES = ["complex64", ">c16", "U3", "S2", "datetime64[s]", "timedelta64[s]", "object"]
HIDDEN = list(HIDDEN_ACTIVATIONS)
OUTPUT_FOR = {name: cost.output for name, cost in COSTS.items() if cost.needs_output}


def _elements(dtype, tame):
    """Values for ``dtype``: small ones (tame), or anything it holds (NaN, inf, huge,
    subnormal)."""
    if dtype.kind == "f":
        if tame:
            return st.floats(-4, 4, width=8 * dtype.itemsize)
        return hnp.from_dtype(dtype)
    if dtype.kind in "iu":
        if tame:
            return st.integers(0, 2)
        return hnp.from_dtype(dtype)
    if dtype.kind == "O":
        return st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3), st.text(max_size=2),
                         st.just([1, 2]))
    return hnp.from_dtype(dtype)


@st.composite
def arrays(draw, shape, dtypes=None, tame=None):
    """An array of ``shape`` in a random dtype and memory layout: C or Fortran order,
    strided, negative strides, or a nested list. Not ``tame``: NaN, inf, huge values."""
    if dtypes is None:
        dtypes = draw(mostly(st.just(NUMERIC_DTYPES), st.just(OTHER_DTYPES)))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if tame is None:
        tame = draw(mostly(st.just(True), st.just(False), odds=2))
    array = draw(hnp.arrays(dtype, shape, elements=_elements(dtype, tame)))
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed", "list"]))
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]  # a view, every other element
    elif layout == "reversed" and array.ndim:
        array = np.flip(np.flip(array, 0).copy(), 0)
    elif layout == "list" and dtype.kind in "biuf":
        return array.tolist()
    return array


@st.composite
def inputs(draw, n_features):
    """X: mostly of shape (n, n_features), sometimes the wrong shape or empty."""
    n = draw(mostly(st.integers(1, 6), st.just(0)))
    shape = draw(mostly(st.just((n, n_features)),
                        st.sampled_from([(n,), (n, n_features + 1), (n, n_features, 1), ()])))
    return draw(arrays(shape))


@st.composite
def targets(draw, n_samples, n_outputs):
    """y: class labels (in range or not), regression values, a target matrix, or the
    wrong length or shape."""
    n = draw(mostly(st.just(n_samples), st.sampled_from([max(n_samples - 1, 0), n_samples + 1])))
    kind = draw(st.sampled_from(["labels", "labels", "float_labels", "values", "matrix",
                                 "other"]))
    if kind in ("labels", "float_labels"):
        high = max(n_outputs, 2)
        labels = draw(hnp.arrays(np.int64, n, elements=mostly(st.integers(0, high - 1),
                                                              st.sampled_from([-1, high]))))
        dtype = (draw(st.sampled_from(["float16", "float32", ">f8"])) if kind == "float_labels"
                 else draw(st.sampled_from(["int64", "int8", "uint8", ">i4", "bool"])))
        if dtype == "bool":
            labels = labels > 0
        return labels.astype(dtype)
    if kind == "values":
        return draw(arrays((n,), dtypes=["float32", "float64", "float16"]))
    if kind == "matrix":
        return draw(arrays((n, n_outputs)))
    return draw(arrays(draw(st.sampled_from([(n, n_outputs + 1), (n, 1, 1), ()]))))


def layer_sizes(min_layers=2, max_layers=4):
    return st.lists(st.integers(1, 4), min_size=min_layers, max_size=max_layers)


bad_sizes = st.one_of(
    st.lists(st.integers(-2, 4), max_size=4),
    st.lists(st.one_of(st.integers(1, 3), st.floats(1, 3), st.text(max_size=1), st.booleans(),
                       st.none(), st.just(np.int64(2)), st.just(np.uint8(3))), max_size=4),
    st.sampled_from([[2**40, 2**40], [2**63, 1], [3, 2**62, 2], "3-2", None, 3, (2, 3),
                     range(1, 4), np.array([2, 3]), b"ab", {2: 3}]))
bad_names = st.sampled_from(["swish", "", "RELU", None, 3, b"relu", ["relu"] * 9, "softmax "])
hidden_names = st.sampled_from(HIDDEN)
output_names = mostly(st.sampled_from(sorted(ACTIVATIONS)), bad_names)
seeds = mostly(st.one_of(st.none(), st.integers(0, 2**70)),
               st.one_of(st.integers(-3, -1), st.floats(0, 3), st.text(max_size=2),
                         st.booleans()))
dtypes = mostly(st.sampled_from([np.float32, np.float64, "float32", "f8", ">f4", "<f8"]),
                st.sampled_from([np.float16, np.int32, "complex64", "nonsense", 3, object,
                                 "f4,f4", ("f4", -1), None]))
# Plain Python reals of every awkward sort: NaN, infinities, an int beyond the floats.
reals = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                  st.just(10**400), st.just(-(10**400)), st.booleans(), st.none(),
                  st.text(max_size=2), st.just(np.float32(0.5)), st.just(1j))


@st.composite
def activations_for(draw, sizes):
    """One name, one per hidden layer, or something else."""
    n_hidden = max(len(sizes) - 2, 0) if isinstance(sizes, list) else 1
    return draw(mostly(st.one_of(hidden_names, st.lists(hidden_names, min_size=n_hidden,
                                                        max_size=n_hidden)),
                       st.one_of(bad_names, st.lists(hidden_names, max_size=3),
                                 st.lists(mostly(hidden_names, bad_names), max_size=3))))


def _is_tame(X):
    """Whether X holds only numbers of moderate size (a forward pass then stays finite)."""
    try:
        array = np.asarray(X)
    except ValueError:
        return False
    return bool(array.dtype.kind in "biuf" and array.size
                and np.all(np.abs(array.astype(np.float64)) <= 1e3))


def params_of(model):
    return model.network.params.copy() if isinstance(model, Trainer) else model.params.copy()


def assert_unchanged(before, model, what):
    after = model.network.params if isinstance(model, Trainer) else model.params
    assert after.tobytes() == before.tobytes(), f"{what} changed the parameters"


# Networks ----------------------------------------------------------------------------

@search(250)
@given(sizes=mostly(layer_sizes(), bad_sizes), output=output_names, dtype=dtypes, seed=seeds,
       data=st.data())
def test_network_construction(sizes, output, dtype, seed, data):
    activation = data.draw(activations_for(sizes))
    net, error = attempt(Network, sizes, activation, output, dtype=dtype, seed=seed)
    if error is not None:
        return
    assert net.sizes == tuple(int(n) for n in sizes)
    assert net.dtype in (np.float32, np.float64) and net.dtype.isnative
    assert len(net.activations) == len(net.sizes) - 1
    assert np.isfinite(net.params).all()
    X = data.draw(inputs(net.sizes[0]))
    before = params_of(net)
    for call in (net.forward, net.predict):
        out, error = attempt(call, X)
        if error is None:
            n = len(X)
            assert out.shape == ((n, net.sizes[-1]) if call == net.forward else (n,))
    assert_unchanged(before, net, "forward")


@search(200)
@given(sizes=layer_sizes(), dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_weight_assignment(sizes, dtype, data):
    """Random arrays assigned to weights and biases: copied in (converted) or refused
    with the parameters untouched."""
    net = Network(sizes, "tanh", "identity", dtype=dtype, seed=0)
    l = data.draw(st.integers(0, net.n_layers - 1))
    kind = data.draw(st.sampled_from(["weights", "biases"]))
    shape = (sizes[l + 1], sizes[l]) if kind == "weights" else (sizes[l + 1],)
    value = data.draw(arrays(data.draw(st.sampled_from([shape] * 4 + [shape[::-1], (1,), ()])),
                             dtypes=NUMERIC_DTYPES + OTHER_DTYPES))
    before = params_of(net)
    whole = data.draw(st.booleans())
    if whole:
        values = [np.asarray(v).copy() for v in getattr(net, kind)]
        values[l] = value
        _, error = attempt(setattr, net, kind, values)
    else:
        _, error = attempt(getattr(net, kind).__setitem__, l, value)
    if error is not None:
        assert_unchanged(before, net, f"a refused {kind} assignment")
        return
    np.testing.assert_array_equal(getattr(net, kind)[l], np.asarray(value).astype(dtype))
    assert np.isfinite(net.params).all()


# Trainers ----------------------------------------------------------------------------

def unit_interval(high=1.0):
    return mostly(st.floats(0, high, exclude_max=True), st.one_of(st.floats(-0.5, 1.5), reals))


TRAINER_ARGUMENTS = {
    "cost": mostly(st.sampled_from(list(COSTS)), st.sampled_from(["hinge", "", None, 3])),
    "learning_rate": mostly(st.floats(1e-4, 1.0), st.one_of(reals, st.just(1e300))),
    "batch_size": mostly(st.one_of(st.integers(1, 8), st.just(10**20), st.just(np.int32(3))),
                         st.one_of(st.integers(-2, 0), st.floats(-1, 3), st.none(),
                                   st.booleans())),
    "epochs": mostly(st.one_of(st.integers(0, 2), st.just(np.int64(1))),
                     st.one_of(st.just(-1), st.floats(0, 2), st.none())),
    "optimizer": mostly(st.sampled_from(list(OPTIMIZERS)),
                        st.sampled_from(["rms", "", None, "SGD"])),
    "momentum": unit_interval(0.99),
    "nesterov": st.booleans(),
    "beta1": unit_interval(),
    "beta2": unit_interval(),
    "epsilon": mostly(st.floats(1e-10, 1.0), reals),
    "rho": unit_interval(),
    "weight_decay": mostly(st.one_of(st.just(0.0), st.floats(0, 0.1)), reals),
    "lr_schedule": mostly(st.sampled_from(list(SCHEDULES)),
                          st.sampled_from(["linear", None])),
    "lr_step_size": mostly(st.integers(1, 3), st.one_of(st.integers(-1, 0), reals)),
    "lr_gamma": mostly(st.floats(0.1, 1.0), reals),
    "dropout": mostly(st.one_of(st.floats(0, 0.9), st.lists(st.floats(0, 0.9), max_size=3)),
                      st.one_of(st.floats(-0.5, 1.5), reals, st.just(np.float64(0.25)),
                                st.just(np.array(0.25)))),
    "threads": mostly(st.one_of(st.none(), st.integers(1, 2)),
                      st.one_of(st.integers(-1, 0), st.just(99), st.floats(1, 2))),
    "activation": mostly(hidden_names, st.one_of(bad_names, st.lists(hidden_names, max_size=3))),
    "output_activation": output_names,
    "dtype": dtypes,
    "seed": seeds,
}


@st.composite
def trainer_arguments(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(TRAINER_ARGUMENTS)), max_size=5, unique=True))
    return {name: draw(TRAINER_ARGUMENTS[name]) for name in chosen}


@search(200)
@given(network=mostly(layer_sizes(), st.one_of(st.lists(st.integers(-1, 3), max_size=3),
                                                st.sampled_from(["4-3", None, 3,
                                                                 {"sizes": [2, 3]}]))),
       prebuilt=st.booleans(), kwargs=trainer_arguments(), data=st.data())
def test_trainer_construction_and_fit(network, prebuilt, kwargs, data):
    """Any settings: a Trainer or a documented error; a Trainer then fits tame data for
    at most two epochs, or stops with a documented error, its parameters finite."""
    if prebuilt:
        network, error = attempt(Network, network, "tanh",
                                 OUTPUT_FOR.get(kwargs.get("cost"), "identity"), seed=0)
        if error is not None:
            return
    kwargs.update(verbose=False, progress=False)
    trainer, error = attempt(Trainer, network, **kwargs)
    if error is not None:
        return
    net = trainer.network
    n = data.draw(st.integers(1, 6))
    X = data.draw(arrays((n, net.sizes[0]), dtypes=["float32", "float64"], tame=True))
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, max(net.sizes[-1], 2) - 1)))
    before = params_of(trainer)
    _, error = attempt(trainer.fit, X, y, epochs=min(trainer.epochs, 2), errors=FIT_ERRORS)
    if error is not None and not isinstance(error, FIT_ERRORS[2:]):
        assert_unchanged(before, trainer, f"fit refused with {error!r}")
    assert np.isfinite(net.params).all()


CONFIGURATIONS = [  # (sizes, hidden, output, cost, dtype)
    ([3, 4, 2], "relu", "softmax", "cross_entropy", np.float32),
    ([3, 4, 3], "tanh", "softmax", "cross_entropy", np.float64),
    ([2, 3, 1], "sigmoid", "sigmoid", "binary_cross_entropy", np.float32),
    ([3, 2], "relu", "identity", "quadratic", np.float32),
    ([2, 3, 2], "elu", "sigmoid", "quadratic", np.float64),
]


@st.composite
def trainers(draw):
    sizes, hidden, output, cost, dtype = draw(st.sampled_from(CONFIGURATIONS))
    return Trainer(Network(sizes, hidden, output, dtype=dtype, seed=1), cost,
                   learning_rate=draw(st.sampled_from([0.01, 0.1])),
                   batch_size=draw(st.integers(1, 4)), epochs=1, seed=0,
                   threads=draw(st.sampled_from([None, 1])), verbose=False, progress=False)


@st.composite
def fit_arguments(draw, n_samples, n_outputs):
    """Options of fit: sample and class weights, epochs, a validation split."""
    kwargs = {}
    if draw(st.booleans()):
        kwargs["sample_weight"] = draw(mostly(
            st.one_of(arrays((n_samples,), dtypes=NUMERIC_DTYPES, tame=True), st.none()),
            st.one_of(arrays(draw(st.sampled_from([(n_samples,), (n_samples + 1,),
                                                   (n_samples, 1)]))),
                      st.just(np.full(n_samples, 1e300)), st.just([-1.0] * n_samples))))
    if draw(st.booleans()):
        kwargs["class_weight"] = draw(mostly(
            st.one_of(st.just("balanced"), st.none(),
                      st.dictionaries(st.integers(0, 3), st.floats(0, 4), max_size=3)),
            st.one_of(st.just("even"), st.just([1, 2]),
                      st.dictionaries(st.one_of(st.integers(-1, 3), st.floats(0, 2),
                                                st.text(max_size=1), st.none()),
                                      st.one_of(st.floats(allow_nan=True),
                                                st.integers(-1, 10**400), st.text(max_size=1),
                                                st.none()),
                                      max_size=3))))
    if draw(st.booleans()):
        kwargs["epochs"] = draw(mostly(st.integers(0, 2), st.one_of(st.just(-1),
                                                                    st.floats(0, 2))))
    if draw(st.booleans()):
        kwargs["validation_split"] = draw(mostly(st.sampled_from([0.0, 0.25, 0.5]),
                                                 st.one_of(st.floats(-0.5, 1.5), reals)))
    return kwargs


@pytest.mark.filterwarnings("ignore:X looks unscaled")  # any values, on purpose
@search(200)
@given(trainer=trainers(), data=st.data())
def test_fit_with_random_data(trainer, data):
    """Random X, y, weights and options: training, or a documented error; a refusal
    leaves the parameters and history untouched, and the parameters stay finite."""
    net = trainer.network
    X = data.draw(inputs(net.sizes[0]))
    n = len(X) if np.ndim(X) >= 1 else 1
    y = data.draw(targets(n, net.sizes[-1]))
    kwargs = data.draw(fit_arguments(n, net.sizes[-1]))
    before, history = params_of(trainer), {k: list(v) for k, v in trainer.history.items()}
    result, error = attempt(trainer.fit, X, y, errors=FIT_ERRORS, **kwargs)
    if error is not None and not isinstance(error, FIT_ERRORS[2:]):
        assert_unchanged(before, trainer, f"fit refused with {error!r}")
        assert trainer.history == history
    assert np.isfinite(net.params).all()
    if result is not None:
        assert all(len(values) <= 2 for values in result.values())
        assert all(np.isfinite(values).all() for values in result.values())


@search(150)
@given(trainer=trainers(), data=st.data())
def test_using_a_trainer_with_random_data(trainer, data):
    """predict, predict_proba, evaluate, score and gradients on random X and y: results
    of the right shape, or a documented error; the parameters are never changed."""
    net = trainer.network
    X = data.draw(inputs(net.sizes[0]))
    n = len(X) if np.ndim(X) >= 1 else 1
    y = data.draw(targets(n, net.sizes[-1]))
    before = params_of(trainer)
    tame = _is_tame(X)
    for call in (trainer.predict, trainer.predict_proba, net.forward, net.predict):
        out, error = attempt(call, X)
        if error is None:
            assert len(out) == n
            if call in (trainer.predict_proba, net.forward):
                assert out.shape == (n, net.sizes[-1]) and out.dtype == net.dtype
                assert not tame or np.isfinite(out).all()
    for call in (trainer.evaluate, trainer.score, trainer.gradients):
        out, error = attempt(call, X, y)
        if error is None and call == trainer.evaluate:
            assert set(out) <= {"loss", "accuracy"}
            assert not tame or np.isfinite(out["loss"])
        if error is None and call == trainer.gradients:
            assert [g.shape for g in out[0]] == [w.shape for w in net.weights]
            assert [g.shape for g in out[1]] == [b.shape for b in net.biases]
    assert_unchanged(before, trainer, "using the trainer")


# Model files -------------------------------------------------------------------------

def _saved_model(workdir):
    """The bytes of a valid model file, and its network."""
    net = Network([3, 4, 2], "tanh", "softmax", seed=0)
    path = workdir / "valid.npz"
    model_io.save(net, path, cost="cross_entropy", extra={"epoch": 3, "note": "x"})
    return path.read_bytes(), net


def _load_bytes(workdir, content):
    path = workdir / "model.npz"
    path.write_bytes(content)
    return attempt(model_io.load, path)


@search(200)
@given(content=st.binary(max_size=600),
       prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x1f\x8b"]))
def test_load_random_bytes(workdir, content, prefix):
    loaded, error = _load_bytes(workdir, prefix + content)
    assert isinstance(error, ModelFileError), f"loaded {loaded!r} or raised {error!r}"


@search(200)
@given(data=st.data())
def test_load_damaged_model_file(workdir, data):
    """A valid file with bytes changed, removed or cut off: a ModelFileError, or (where
    the change missed everything that matters) exactly the saved network."""
    content, net = _saved_model(workdir)
    damaged = bytearray(content)
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "set", "cut", "delete", "insert"]))
        at = data.draw(st.integers(0, max(len(damaged) - 1, 0)))
        if how == "flip" and damaged:
            damaged[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "set" and damaged:
            damaged[at] = data.draw(st.integers(0, 255))
        elif how == "cut":
            del damaged[at:]
        elif how == "delete":
            del damaged[at:at + data.draw(st.integers(1, 16))]
        else:
            damaged[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    loaded, error = _load_bytes(workdir, bytes(damaged))
    if error is not None:
        assert isinstance(error, ModelFileError), repr(error)
        return
    assert loaded.network.sizes == net.sizes and loaded.network.activations == net.activations
    assert loaded.network.params.tobytes() == net.params.tobytes()


ENTRY_NAMES = ["format", "format_version", "sizes", "activations", "dtype", "cost", "W1", "b1",
               "W2", "b2", "W3", "extra/x", "opt/m", "checksum", "other"]


@st.composite
def entry_values(draw, name):
    """Plausible or random values for a model file's entry."""
    plausible = {
        "format": st.sampled_from([np.array("fastbp-model"), np.array("other"),
                                   np.array(b"fastbp-model"), np.array(["fastbp-model"])]),
        "format_version": st.sampled_from([np.array(1), np.array(2), np.array(0),
                                           np.array(-1), np.array(1.0), np.array(True),
                                           np.array([1]), np.array(2**63, dtype=np.uint64)]),
        "sizes": st.one_of(hnp.arrays(st.sampled_from([np.int64, np.uint8, np.int8, np.float64]),
                                      st.integers(0, 4), elements=st.integers(-1, 3)),
                           st.just(np.array([2**63 - 1, 2])), st.just(np.array([0, 3]))),
        "activations": hnp.arrays("U12", st.integers(0, 3),
                                  elements=st.sampled_from(list(ACTIVATIONS) + ["x"])),
        "dtype": st.sampled_from([np.array("float32"), np.array("float64"), np.array("int8"),
                                  np.array(["float32"])]),
        "cost": st.sampled_from([np.array(c) for c in COSTS] + [np.array("x"),
                                                                     np.array(1)]),
    }
    if name in plausible and draw(st.integers(0, 3)):
        return draw(plausible[name])
    if name[0] in "Wb" and name[1:].isdigit() and draw(st.integers(0, 3)):
        shape = draw(st.sampled_from([(3,), (2, 3), (3, 2), (2,), (0,), (2, 2)]))
        return draw(arrays(shape, dtypes=["float32", "float64", ">f4", "float16", "int32"]))
    return draw(arrays(draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
                       dtypes=NUMERIC_DTYPES + ["U3", "S2", "complex64", "datetime64[s]"]))


@st.composite
def model_entries(draw, workdir):
    """The entries of a valid model file of a random small network, then up to three
    entries replaced, removed or added."""
    sizes = draw(layer_sizes(2, 3))
    net = Network(sizes, draw(hidden_names), draw(st.sampled_from(sorted(ACTIVATIONS))),
                  dtype=draw(st.sampled_from([np.float32, np.float64])), seed=0)
    path = workdir / "entries.npz"
    model_io.save(net, path, cost=draw(st.sampled_from([None] + sorted(COSTS))),
                  extra={"epoch": 1})
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    names = draw(st.lists(st.sampled_from(ENTRY_NAMES), max_size=3))
    for name in names:
        if draw(st.integers(0, 3)):
            entries[name] = np.asarray(draw(entry_values(name)))
        else:
            entries.pop(name, None)
    if "checksum" not in names and draw(mostly(st.just(True), st.just(False))):
        entries["checksum"] = np.array(model_io._checksum(entries))
    return entries


@search(250)
@given(data=st.data())
def test_load_random_entries_with_a_valid_checksum(workdir, data):
    """A valid file's entries changed under a correct checksum, so that every check after
    the checksum is reached: a ModelFileError, or a network that matches the entries."""
    entries = data.draw(model_entries(workdir))
    buffer = pyio.BytesIO()
    np.savez(buffer, **entries)
    loaded, error = _load_bytes(workdir, buffer.getvalue())
    if error is not None:
        assert isinstance(error, ModelFileError), repr(error)
        return
    net = loaded.network
    assert list(net.sizes) == entries["sizes"].tolist()
    assert list(net.activations) == entries["activations"].tolist()
    for l in range(net.n_layers):
        np.testing.assert_array_equal(net.weights[l], entries[f"W{l + 1}"])
        np.testing.assert_array_equal(net.biases[l], entries[f"b{l + 1}"])


def _npy(array):
    buffer = pyio.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@search(100)
@given(members=st.lists(st.tuples(st.sampled_from(["format", "format.npy", "format_version",
                                                   "checksum.npy", "W1.npy", "x/y", ""]),
                                  st.one_of(st.binary(max_size=64),
                                            st.just(b"\x93NUMPY junk"),
                                            st.builds(lambda a: _npy(a),
                                                      arrays(st.just((2,)), tame=True)),
                                            st.sampled_from([_npy(np.array("fastbp-model")),
                                                             _npy(np.array(1))]))),
                        max_size=4),
       compressed=st.booleans())
def test_load_zip_with_odd_members(workdir, members, compressed):
    """Zip archives whose members are not all .npy arrays, or are duplicated."""
    buffer = pyio.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members:
            if name:
                archive.writestr(name, content)
    loaded, error = _load_bytes(workdir, buffer.getvalue())
    assert isinstance(error, ModelFileError), f"loaded {loaded!r} or raised {error!r}"


storable = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.booleans(),
                     st.text(max_size=3), st.lists(st.integers(0, 3), max_size=3),
                     arrays(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                            dtypes=NUMERIC_DTYPES + ["U3", "S2", "complex64"], tame=True))
unstorable = st.one_of(st.none(), st.just(object()), st.just({"a": 1}), st.just([1, "a", None]),
                       st.integers(2**64, 2**70), st.just([[1], [1, 2]]),
                       arrays(st.just((2,)), dtypes=["object"]))


extra_names = mostly(st.text(min_size=1, max_size=4), st.one_of(st.just(""), st.integers(0, 2)))
extra_values = mostly(storable, unstorable, odds=6)


@search(150)
@given(cost=mostly(st.sampled_from(list(COSTS) + [None]), st.sampled_from(["hinge", 3])),
       state=st.dictionaries(extra_names, extra_values, max_size=3),
       extra=st.dictionaries(extra_names, extra_values, max_size=3))
def test_save_with_random_extras(workdir, cost, state, extra):
    """save stores what it can without pickle and refuses the rest before writing
    anything; what it stored loads back equal."""
    directory = workdir / "save"
    directory.mkdir(exist_ok=True)
    for leftover in directory.iterdir():
        leftover.unlink()
    net = Network([2, 3], "tanh", "sigmoid", seed=0)
    path = directory / "m.npz"
    _, error = attempt(model_io.save, net, path, cost=cost, optimizer_state=state, extra=extra)
    if error is not None:
        assert list(directory.iterdir()) == []
        return
    assert [p.name for p in directory.iterdir()] == ["m.npz"]
    loaded = model_io.load(path)
    assert loaded.cost == cost
    assert loaded.network.params.tobytes() == net.params.tobytes()
    for saved, got in ((state, loaded.optimizer_state), (extra, loaded.extra)):
        assert set(got) == set(saved)
        for name, value in saved.items():
            np.testing.assert_array_equal(got[name], np.asarray(value))


# IDX files ---------------------------------------------------------------------------

def _read_idx_bytes(workdir, content):
    path = workdir / "data.idx"
    path.write_bytes(content)
    return attempt(idx.read_idx, path, errors=(ValueError,))  # read_idx's one error


@st.composite
def idx_contents(draw):
    """An IDX file's bytes: a header that is right, nearly right or random (huge or
    overflowing dimensions, too many of them), then values of about the right length."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=72))
    code = draw(mostly(st.sampled_from(sorted(idx.IDX_TYPES)), st.sampled_from([0, 0x0A, 0xFF])))
    ndim = draw(mostly(st.integers(0, 3), st.sampled_from([4, 33, 65, 255])))
    dims = draw(st.lists(mostly(st.integers(0, 3), st.sampled_from([2**31, 2**32 - 1])),
                         min_size=ndim, max_size=ndim))
    header = struct.pack(f">BBBB{ndim}I", 0, 0, code, ndim, *dims)
    if draw(st.integers(0, 5)) == 0:
        header = header[:draw(st.integers(0, len(header)))]
    itemsize = idx.IDX_TYPES[code].itemsize if code in idx.IDX_TYPES else 1
    size = min(int(np.prod(dims, dtype=object)) * itemsize, 64)
    size = max(0, size + draw(mostly(st.just(0), st.integers(-3, 3))))
    return header + draw(st.binary(min_size=size, max_size=size))


@search(250)
@given(content=idx_contents(),
       compress=st.sampled_from(["no", "no", "gzip", "gzip-cut", "magic-only"]))
def test_read_idx_random_bytes(workdir, content, compress):
    if compress == "gzip":
        content = gzip.compress(content, mtime=0)
    elif compress == "gzip-cut":
        content = gzip.compress(content, mtime=0)[:-3]
    elif compress == "magic-only":
        content = b"\x1f\x8b" + content
    array, error = _read_idx_bytes(workdir, content)
    if error is None:
        assert isinstance(array, np.ndarray) and array.dtype.isnative
        assert array.dtype.newbyteorder(">") in idx.IDX_TYPES.values()


@search(150)
@given(array=arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
                    dtypes=NUMERIC_DTYPES + ["int16", ">i2", "complex64", "U3"]),
       compress=st.booleans())
def test_idx_round_trip(workdir, array, compress):
    path = workdir / "round.idx"
    _, error = attempt(idx.write_idx, path, array, compress=compress)
    if error is not None:
        return
    back = idx.read_idx(path)
    expected = np.asarray(array)
    assert back.shape == expected.shape and back.dtype.isnative
    np.testing.assert_array_equal(back, expected)


@search(150)
@given(data=st.data())
def test_read_idx_damaged_file(workdir, data):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = workdir / "valid.idx"
    compress = data.draw(st.booleans())
    idx.write_idx(path, array, compress=compress)
    damaged = bytearray(path.read_bytes())
    at = data.draw(st.integers(0, len(damaged) - 1))
    how = data.draw(st.sampled_from(["flip", "cut", "append"]))
    if how == "flip":
        damaged[at] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "cut":
        del damaged[at:]
    else:
        damaged += data.draw(st.binary(min_size=1, max_size=8))
    back, error = _read_idx_bytes(workdir, bytes(damaged))
    if error is None:  # a flipped bit in the values, or in gzip's unchecked header
        assert isinstance(back, np.ndarray) and back.dtype.isnative


# What the search found, kept as fixed examples -----------------------------------------

def _zip_with_raw_member():
    buffer = pyio.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("format.npy", _npy(np.array("fastbp-model")))
        archive.writestr("format_version", b"not an array")
    return buffer.getvalue()


def _assign(dtype, value):
    net = Network([2, 3], dtype=dtype, seed=0)
    before = params_of(net)
    try:
        net.weights[0] = value
    finally:
        assert_unchanged(before, net, "a refused assignment")


X4 = np.ones((4, 2))


@pytest.mark.parametrize("call,error,match", [
    # An integer beyond the floats raised OverflowError.
    (lambda: Trainer([2, 3], learning_rate=10**400), ValueError, "learning_rate must be"),
    (lambda: Trainer([2, 3], momentum=10**400), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: Trainer([2, 3]).fit(X4, [0, 1, 2, 0], class_weight={0: 10**400}), ValueError,
     r"class_weight values must be finite and >= 0; got class_weight\[0\] = inf"),
    (lambda: Trainer([2, 3]).fit(X4, [0, 1, 2, 0], class_weight={float("inf"): 1.0}),
     TypeError, "class_weight keys must be integer class labels"),
    # Labels were cast to int64 before the range check: a message about wrapped values.
    (lambda: Trainer([2, 3]).fit(X4, np.full(4, 1e20)), ValueError,
     r"labels in \[1e\+20, 1e\+20\]"),
    (lambda: Trainer([2, 3]).fit(X4, np.full(4, 2**64 - 1, np.uint64)), ValueError,
     r"labels in \[18446744073709551615, 18446744073709551615\]"),
    # Finite float64 values that overflow float32 were stored as infinity.
    (lambda: Trainer([2, 3]).fit(X4, np.full((4, 3), 1e300)), ValueError,
     "y holds values too large for float32"),
    (lambda: _assign(np.float32, np.full((3, 2), 1e300)), ValueError,
     r"weights\[0\] holds values too large for float32"),
    # numpy's messages, which did not name the argument.
    (lambda: Network([2, 3, 2], activation=5), TypeError, "activation must be a name or"),
    (lambda: Network([2, 3], seed=-1), ValueError, "seed must be >= 0"),
    (lambda: Network([2, 3], seed="a"), TypeError, "seed must be an integer"),
    (lambda: Network([2, 3], dtype=("f4", -1)), TypeError, "dtype must be float32 or float64"),
    # Sizes whose parameters cannot be addressed: int64 offsets wrapped around, then an
    # allocation of a wrong size (68 TiB for these) was attempted.
    (lambda: Network([2**40, 2**40]), ValueError, "more than can be held in memory"),
    (lambda: Network([3, 2**62, 2]), ValueError, "more than can be held in memory"),
    # A zip member that is not .npy came back from np.load as bytes: AttributeError.
    (lambda: _load_bytes_now(_zip_with_raw_member()), ModelFileError,
     r"member 'format_version' is not a NumPy array"),
])
def test_found_examples(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _load_bytes_now(content):
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "m.npz")
        with open(path, "wb") as file:
            file.write(content)
        model_io.load(path)


def test_big_endian_dtype_is_computed_natively():
    """dtype=">f4" was accepted as is: the kernels then failed to compile (TypingError)."""
    net = Network([2, 3], dtype=">f4", seed=0)
    assert net.dtype == np.float32 and net.dtype.isnative and net.params.dtype.isnative
    trainer = Trainer([2, 3], dtype=">f8", seed=0)
    trainer.fit(X4, [0, 1, 2, 0], epochs=1)
    assert net.forward(X4).dtype == np.float32


def test_trainer_load_of_a_network_saved_with_a_cost(workdir):
    path = workdir / "network-with-cost.npz"
    model_io.save(Network([2, 3], seed=0), path, cost="cross_entropy")
    assert Trainer.load(path).cost == "cross_entropy"
    model_io.save(Network([2, 3], "relu", "sigmoid", seed=0), path)
    assert Trainer.load(path).cost == "binary_cross_entropy"
