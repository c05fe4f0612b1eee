"""fastbp.MLPClassifier and fastbp.MLPRegressor: scikit-learn's estimator checks, use in
Pipeline, GridSearchCV and cross_val_score, and how the parameters reach the Trainer."""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

import fastbp
import fastbp.tuning
from fastbp import MLPClassifier, MLPRegressor

# One thread: results do not depend on the number, and on a busy machine one is fastest
# for these tiny networks.
SMALL = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, threads=1)
# Short fits stop at max_iter: tests that care about ConvergenceWarning catch it themselves.
# scikit-learn's checks train on unscaled data (max |X| about 100): fit says so.
pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("ignore:X looks unscaled")]

# The defaults, but small and quick; accurate enough for the checks' thresholds.
CHECKED = [MLPClassifier(max_iter=100, **SMALL), MLPRegressor(max_iter=100, **SMALL)]

FLOAT32_SAMPLE_WEIGHT = (
    "In float32 the weighted and the repeated fits agree only to float32 rounding: their "
    "batches sum the samples' gradients in different orders and over different numbers of "
    "terms. After the check's 100 epochs the predictions differ by 5e-7 to 1e-4, and the "
    "check asks for rtol=1e-7. With dtype=np.float64 the check passes "
    "(test_sample_weight_equivalence_in_float64).")


def expected_failed_checks(estimator):
    if np.dtype(estimator.dtype) == np.float32:  # sparse X: the same sums, the same reason
        return {f"check_sample_weight_equivalence_on_{kind}_data": FLOAT32_SAMPLE_WEIGHT
                for kind in ("dense", "sparse")}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", CHECKED, ids=lambda e: type(e).__name__)
def test_sample_weight_equivalence_in_float64(estimator):
    # Batches of all samples ("auto" for the check's 15 samples): integer weights are
    # then repeated samples, the L2 penalty included, up to float64 rounding.
    estimator = clone(estimator).set_params(dtype=np.float64)
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# -- data -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    return X, y / y.std()


# -- in scikit-learn's tools ------------------------------------------------------------

def test_in_a_pipeline():
    X, y = load_iris(return_X_y=True)  # unscaled: the pipeline scales
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    X_train, X_test, y_train, y_test = train_test_split(X, names, test_size=0.3,
                                                        random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=200, random_state=0, **SMALL))
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.9
    assert set(pipe.predict(X_test)) <= set(names)
    assert pipe.predict_proba(X_test).shape == (len(X_test), 3)


def test_in_a_grid_search(iris):
    X, y = iris
    search = GridSearchCV(MLPClassifier(max_iter=100, random_state=0, **SMALL),
                          {"hidden_layer_sizes": [(2,), (16,)], "alpha": [1e-4, 1e-1]},
                          cv=3)
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.85
    assert search.best_estimator_.n_iter_ >= 1
    assert search.best_estimator_.get_params()["hidden_layer_sizes"] == \
        search.best_params_["hidden_layer_sizes"]


def test_in_cross_val_score(iris, regression):
    scores = cross_val_score(MLPClassifier(max_iter=100, random_state=0, **SMALL), *iris, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    r2 = cross_val_score(MLPRegressor(max_iter=200, random_state=0, **SMALL), *regression,
                         cv=3)
    assert r2.shape == (3,) and r2.min() > 0.8


# -- import -----------------------------------------------------------------------------

def test_estimators_are_imported_lazily():
    assert fastbp.MLPClassifier is fastbp.estimators.MLPClassifier
    assert fastbp.MLPRegressor is fastbp.estimators.MLPRegressor
    assert {"MLPClassifier", "MLPRegressor"} <= set(fastbp.__all__) & set(dir(fastbp))
    with pytest.raises(AttributeError, match="no attribute 'MLPRanker'"):
        fastbp.MLPRanker  # noqa: B018


def test_import_fastbp_without_scikit_learn():
    code = (
        "import sys\n"
        "import fastbp\n"
        "assert 'sklearn' not in sys.modules, 'import fastbp imported sklearn'\n"
        "sys.modules['sklearn'] = None  # as if it were not installed\n"
        "from fastbp import Trainer\n"
        "try:\n"
        "    fastbp.MLPClassifier\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    root = str(Path(fastbp.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=root, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install scikit-learn" in result.stdout


# -- what fit makes ---------------------------------------------------------------------

def test_fitted_attributes_of_a_multiclass_classifier(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8, 5), max_iter=7, random_state=0,
                        threads=1).fit(X, y)
    net = clf.trainer_.network
    assert net.sizes == (4, 8, 5, 3) and net.activations == ("relu", "relu", "softmax")
    assert clf.trainer_.cost == "cross_entropy" and clf.out_activation_ == "softmax"
    assert (clf.n_layers_, clf.n_outputs_, clf.n_features_in_) == (4, 3, 4)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert [c.shape for c in clf.coefs_] == [(4, 8), (8, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (5,), (3,)]
    for coef, intercept, W, b in zip(clf.coefs_, clf.intercepts_, net.weights, net.biases):
        np.testing.assert_array_equal(coef, W.T)
        np.testing.assert_array_equal(intercept, b)
    with pytest.raises(ValueError, match="read-only"):
        clf.coefs_[0][0, 0] = 1.0
    assert clf.n_iter_ == 7 and len(clf.loss_curve_) == 7 and clf.t_ == 7 * len(X)
    assert clf.loss_curve_ == clf.trainer_.history["loss"]
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(proba, net.forward(X), rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(X), proba.argmax(axis=1))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_binary_string_labels_use_one_sigmoid_output(iris):
    X, y = iris
    labels = np.where(y == 0, "setosa", "other")
    clf = MLPClassifier(max_iter=50, random_state=0, **SMALL).fit(X, labels)
    assert clf.trainer_.cost == "binary_cross_entropy" and clf.out_activation_ == "sigmoid"
    assert clf.n_outputs_ == 1
    np.testing.assert_array_equal(clf.classes_, ["other", "setosa"])
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba[:, 1], clf.trainer_.network.forward(X)[:, 0], rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, labels) == 1.0


def test_multilabel_indicator_targets(iris):
    X, y = iris
    Y = np.column_stack([y == 0, y == 2, X[:, 0] > 0]).astype(int)
    clf = MLPClassifier(max_iter=100, random_state=0, **SMALL).fit(X, Y)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "sigmoid"
    assert clf.trainer_.cost == "binary_cross_entropy"
    prediction = clf.predict(X)
    assert prediction.shape == (150, 3) and set(np.unique(prediction)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3) and (proba >= 0).all() and (proba <= 1).all()
    np.testing.assert_array_equal(prediction, (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.9  # subset accuracy


def test_regressor_outputs(regression):
    X, y = regression
    reg = MLPRegressor(max_iter=200, random_state=0, **SMALL).fit(X, y)
    assert reg.trainer_.cost == "quadratic" and reg.out_activation_ == "identity"
    assert reg.n_outputs_ == 1
    prediction = reg.predict(X)
    assert prediction.shape == (200,) and prediction.dtype == np.float64
    assert reg.score(X, y) > 0.95
    Y = np.column_stack([y, -2 * y])
    reg2 = MLPRegressor(max_iter=200, random_state=0, **SMALL).fit(X, Y)
    assert reg2.n_outputs_ == 2 and reg2.predict(X).shape == (200, 2)
    assert reg2.score(X, Y) > 0.9


# -- parameters -------------------------------------------------------------------------

def test_parameters_reach_the_trainer(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=7, activation="logistic", solver="sgd",
                        alpha=0.01, batch_size=16, learning_rate="cosine",
                        learning_rate_init=0.05, max_iter=3, momentum=0.5,
                        dtype=np.float64, threads=1).fit(X, y)
    trainer, opt = clf.trainer_, clf.trainer_.optimizer
    assert trainer.network.sizes == (4, 7, 3)
    assert trainer.network.activations == ("sigmoid", "softmax")
    assert trainer.network.dtype == np.float64 and trainer.batch_size == 16
    assert (opt.name, opt.learning_rate, opt.momentum, opt.nesterov) == ("sgd", 0.05, 0.5, True)
    assert opt.schedule == "cosine" and opt.horizon == 3
    assert opt.weight_decay == pytest.approx(0.01 / 16)  # scikit-learn's alpha / batch

    adam = MLPRegressor(beta_1=0.8, beta_2=0.99, epsilon=1e-6, learning_rate="step",
                        max_iter=2, **SMALL).fit(X, y)
    opt = adam.trainer_.optimizer
    assert (opt.name, opt.beta1, opt.beta2, opt.epsilon) == ("adam", 0.8, 0.99, 1e-6)
    assert opt.schedule == "step" and opt.learning_rate == 0.01
    assert adam.trainer_.batch_size == 150  # "auto": min(200, n_samples)
    assert opt.weight_decay == pytest.approx(1e-4 / 150)

    adamw = MLPClassifier(solver="adamw", alpha=0.01, max_iter=2, **SMALL).fit(X, y)
    opt = adamw.trainer_.optimizer
    assert opt.name == "adamw" and opt.weight_decay == 0.01  # decoupled: not divided
    assert opt.momentum == 0  # momentum is the "sgd" solver's, as in scikit-learn
    rmsprop = MLPRegressor(solver="rmsprop", rho=0.9, epsilon=1e-6, max_iter=2,
                           activation="gelu", **SMALL).fit(X, y)
    opt = rmsprop.trainer_.optimizer
    assert (opt.name, opt.rho, opt.epsilon, opt.momentum) == ("rmsprop", 0.9, 1e-6, 0.0)
    assert rmsprop.trainer_.network.activations[0] == "gelu"

    plain = MLPClassifier(solver="sgd", momentum=0.0, max_iter=2, **SMALL).fit(X, y)
    assert plain.trainer_.optimizer.momentum == 0 and not plain.trainer_.optimizer.nesterov
    nothing_hidden = MLPClassifier(**dict(SMALL, hidden_layer_sizes=()), max_iter=2).fit(X, y)
    assert nothing_hidden.trainer_.network.sizes == (4, 3) and nothing_hidden.n_layers_ == 2

    dropped = MLPClassifier(**dict(SMALL, hidden_layer_sizes=(8, 6)), dropout=[0.1, 0.3],
                            max_iter=2).fit(X, y)
    assert dropped.trainer_.dropout == (0.1, 0.3) and not dropped.trainer_.progress
    assert MLPClassifier(dropout=0.2, max_iter=2, **SMALL).fit(X, y).trainer_.dropout == (0.2,)


NO_BF16 = pytest.mark.skipif(fastbp.tuning.bf16_products() is None,
                             reason="precision='bf16-mixed' needs AVX512-BF16 (or "
                                    "FASTBP_BF16=emulated)")


def test_precision_is_a_parameter():
    clf = MLPClassifier(**SMALL)
    assert clf.get_params()["precision"] == "32"
    clf.set_params(precision="bf16-mixed")
    assert clone(clf).get_params()["precision"] == "bf16-mixed"
    assert "precision" in MLPRegressor().get_params()


@NO_BF16
def test_bf16_mixed_precision_reaches_the_trainer(iris, regression):
    X, y = iris
    wide = {**SMALL, "hidden_layer_sizes": (40,)}  # a layer of 32 neurons or more: bfloat16
    mixed = MLPClassifier(precision="bf16-mixed", max_iter=5, batch_size=16, random_state=0,
                          **wide)
    assert mixed.fit(X, y).trainer_.precision == "bf16-mixed"
    assert mixed.get_params()["precision"] == "bf16-mixed"
    assert mixed.predict_proba(X).shape == (150, 3) and mixed.score(X, y) > 0.8
    plain = MLPClassifier(max_iter=5, batch_size=16, random_state=0, **wide).fit(X, y)
    assert plain.trainer_.precision == "32"
    # bfloat16 products: other bits, nearly the same loss
    assert not np.array_equal(plain.trainer_.network.params, mixed.trainer_.network.params)
    assert mixed.loss_ == pytest.approx(plain.loss_, rel=0.05)
    reg = MLPRegressor(precision="bf16-mixed", max_iter=2, random_state=0, **SMALL)
    assert reg.fit(*regression).trainer_.precision == "bf16-mixed"
    import scipy.sparse
    with pytest.raises(ValueError, match="bf16-mixed"):  # dense X only
        clone(mixed).fit(scipy.sparse.csr_matrix(X), y)


@pytest.mark.parametrize("params,error,match", [
    (dict(solver="lbfgs"), ValueError, "'solver' parameter"),
    (dict(rho=1.0), ValueError, "'rho' parameter"),
    (dict(activation="softmax"), ValueError, "'activation' parameter"),
    (dict(learning_rate="exponential"), ValueError, "'learning_rate' parameter"),
    (dict(learning_rate=0.01), ValueError,
     r"learning_rate names the schedule; did you mean learning_rate_init=0.01\?"),
    (dict(power_t=-1.0), ValueError, "'power_t' parameter"),
    (dict(shuffle="yes"), ValueError, "'shuffle' parameter"),
    (dict(hidden_layer_sizes=0), ValueError, "'hidden_layer_sizes' parameter"),
    (dict(hidden_layer_sizes=(4, 0)), ValueError, r"hidden_layer_sizes\[1\] must be >= 1"),
    (dict(batch_size=0), ValueError, "'batch_size' parameter"),
    (dict(momentum=1.0), ValueError, "'momentum' parameter"),
    (dict(validation_fraction=1.0), ValueError, "'validation_fraction' parameter"),
    (dict(max_iter=0), ValueError, "'max_iter' parameter"),
    (dict(threads=0), ValueError, "'threads' parameter"),
    (dict(dtype="int32"), TypeError, "dtype must be float32 or float64"),
    (dict(dropout=1.0), ValueError, "'dropout' parameter"),
    (dict(dropout=[0.1, 0.2]), ValueError, "dropout must be one rate or 1 rates"),
    (dict(precision="bf16"), ValueError, "'precision' parameter"),
    (dict(precision="bf16-mixed", dtype=np.float64), ValueError, "needs a float32 network"),
])
def test_bad_parameters_name_themselves(iris, params, error, match):
    with pytest.raises(error, match=match):
        MLPClassifier(**params).fit(*iris)


def test_random_state(iris):
    X, y = iris
    first, second = (MLPClassifier(max_iter=3, random_state=1, **SMALL).fit(X, y)
                     for _ in range(2))
    np.testing.assert_array_equal(first.trainer_.network.params,
                                  second.trainer_.network.params)
    other = MLPClassifier(max_iter=3, random_state=np.random.RandomState(1), **SMALL).fit(X, y)
    assert other.n_iter_ == 3
    unseeded = MLPClassifier(max_iter=3, **SMALL).fit(X, y)
    assert unseeded.n_iter_ == 3


# -- stopping ---------------------------------------------------------------------------

def test_stopping_on_the_training_loss(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # no epoch after the first improves by tol=10: patience runs out after 4 more
        clf = MLPClassifier(max_iter=100, tol=10.0, n_iter_no_change=4, random_state=0,
                            **SMALL).fit(X, y)
    assert clf.n_iter_ == 5
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(5\) reached"):
        MLPClassifier(max_iter=5, tol=0.0, random_state=0, **SMALL).fit(X, y)


def test_early_stopping_on_the_validation_loss(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                            tol=0.0, max_iter=200, learning_rate_init=0.1,
                            hidden_layer_sizes=(32,), random_state=0, threads=1).fit(X, y)
    history = clf.trainer_.history
    assert clf.n_iter_ < 200 and len(history["val_loss"]) == clf.n_iter_
    # stopped 3 epochs after the best validation loss
    assert clf.n_iter_ == int(np.argmin(history["val_loss"])) + 1 + 3
    assert clf.t_ == clf.n_iter_ * 120  # 30 of the 150 samples held out
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    assert all(0 <= s <= 1 for s in clf.validation_scores_)


def test_early_stopping_of_a_weighted_regressor(regression):
    X, y = regression
    weight = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    reg = MLPRegressor(early_stopping=True, n_iter_no_change=3, max_iter=300, random_state=0,
                       **SMALL).fit(X, y, sample_weight=weight)
    assert len(reg.validation_scores_) == reg.n_iter_ and reg.t_ == reg.n_iter_ * 180
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.9  # R^2


# -- continuing -------------------------------------------------------------------------

def test_warm_start_continues_the_trainer(iris):
    X, y = iris
    once = MLPClassifier(max_iter=10, tol=0.0, n_iter_no_change=100, random_state=0,
                         **SMALL).fit(X, y)
    warm = MLPClassifier(max_iter=4, tol=0.0, n_iter_no_change=100, warm_start=True,
                         random_state=0, **SMALL).fit(X, y)
    trainer = warm.trainer_
    warm.set_params(max_iter=6).fit(X, y)
    assert warm.trainer_ is trainer and warm.n_iter_ == 10 and len(warm.loss_curve_) == 10
    assert warm.t_ == 10 * 150 and trainer.optimizer.t == 10
    # the optimiser's state and the shuffling carried over: as one run of 10 epochs
    np.testing.assert_array_equal(warm.trainer_.network.params, once.trainer_.network.params)
    assert warm.loss_curve_ == once.loss_curve_
    with pytest.raises(ValueError, match="warm_start can only be used where y has the same"):
        warm.fit(X[y < 2], y[y < 2])
    cold = clone(warm).set_params(warm_start=False).fit(X, y)
    refit = cold.trainer_
    cold.fit(X, y)
    assert cold.trainer_ is not refit and cold.n_iter_ == 6


def test_partial_fit(iris, regression):
    X, y = iris
    clf = MLPClassifier(random_state=0, tol=0.0, n_iter_no_change=100, **SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = MLPClassifier(max_iter=3, random_state=0, tol=0.0, n_iter_no_change=100,
                               **SMALL).fit(X, y)
    np.testing.assert_array_equal(clf.trainer_.network.params, fitted.trainer_.network.params)
    clf.partial_fit(X[:10], y[:10])  # a part without some classes
    with pytest.raises(ValueError, match=r"labels \[3\] that are not among the classes"):
        clf.partial_fit(X, np.where(y == 2, 3, y))
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(X[:, :3], y)
    reg = MLPRegressor(random_state=0, **SMALL)
    reg.partial_fit(*regression).partial_fit(*regression)
    assert reg.n_iter_ == 2 and reg.predict(regression[0]).shape == (200,)


# -- sample weights and pickling --------------------------------------------------------

def test_sample_weights_count_like_repeated_samples(iris):
    X, y = iris
    weight = np.random.default_rng(0).integers(0, 4, size=len(y)).astype(float)
    params = dict(max_iter=5, batch_size=32, random_state=0, **SMALL)

    def fitted(sample_weight, alpha):
        clf = MLPClassifier(alpha=alpha, **params).fit(X, y, sample_weight=sample_weight)
        return clf.trainer_.network.params

    # The gradient is a weighted mean, and (as in scikit-learn) the L2 penalty is divided
    # by the batch's total weight: four times the weights is a quarter of the penalty.
    np.testing.assert_array_equal(fitted(4 * weight, 0.1), fitted(weight, 0.1 / 4))
    np.testing.assert_array_equal(fitted(4 * weight, 0.0), fitted(weight, 0.0))
    assert not np.array_equal(fitted(weight, 0.1), fitted(None, 0.1))
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier(**params).fit(X, y, sample_weight=-weight)


def test_pickle_round_trip(iris):
    X, y = iris
    clf = MLPClassifier(max_iter=5, solver="adam", random_state=0, **SMALL).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    params = copy.trainer_.network.params
    assert params.flags.writeable and params.ctypes.data % 64 == 0
    # the optimiser's state travelled too: both continue identically
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.trainer_.network.params, clf.trainer_.network.params)


# -- scikit-learn's schedules, shuffle, verbose and API ---------------------------------

def test_invscaling_and_adaptive_as_scikit_learn_defines_them(iris, capsys):
    X, y = iris
    inv = MLPClassifier(solver="sgd", learning_rate="invscaling", power_t=0.5, max_iter=3,
                        **dict(SMALL, learning_rate_init=0.1))
    inv.fit(X, y)
    n = len(y)  # eta0 / (t + 1) ** power_t, t the samples seen before the epoch
    assert inv.trainer_.history["learning_rate"] == pytest.approx(
        [0.1, 0.1 / (n + 1) ** 0.5, 0.1 / (2 * n + 1) ** 0.5])
    adam = MLPClassifier(learning_rate="invscaling", max_iter=2, **SMALL).fit(X, y)
    assert adam.trainer_.optimizer.schedule == "constant"  # as scikit-learn: sgd only

    adaptive = MLPClassifier(solver="sgd", learning_rate="adaptive", tol=100.0,
                             n_iter_no_change=2, max_iter=50, verbose=True, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        adaptive.fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert adaptive.n_iter_ == 15 and min(adaptive.trainer_.history["learning_rate"]) < 1e-6
    plateau = ("Training loss did not improve more than tol=100.000000 for 2 consecutive "
               "epochs.")
    assert out[3] == plateau + " Setting learning rate to 0.002000"
    assert out[-1] == plateau + " Learning rate too small. Stopping."


def test_verbose_prints_scikit_learns_lines(iris, capsys):
    X, y = iris
    clf = MLPClassifier(max_iter=3, verbose=True, **SMALL).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {i + 1}, loss = {loss:.8f}"
                     for i, loss in enumerate(clf.loss_curve_)]
    clf.set_params(warm_start=True, max_iter=1).fit(X, y)  # counted on, as scikit-learn
    assert capsys.readouterr().out.startswith("Iteration 4, loss = ")
    MLPClassifier(max_iter=2, verbose=True, early_stopping=True, **SMALL).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert lines[1].startswith("Validation score: ")
    MLPClassifier(max_iter=2, **SMALL).fit(X, y)
    assert capsys.readouterr().out == ""


def test_shuffle_reaches_the_trainer(iris):
    X, y = iris
    fits = [MLPClassifier(max_iter=2, shuffle=False, random_state=seed, **SMALL).fit(X, y)
            for seed in (0, 0)]
    assert fits[0].trainer_.shuffle is False
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    assert MLPClassifier(max_iter=1, **SMALL).fit(X, y).trainer_.shuffle is True


def test_only_public_scikit_learn_api_is_imported():
    import ast
    tree = ast.parse(Path(fastbp.estimators.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            private = [part for part in node.module.split(".") if part.startswith("_")]
            private += [alias.name for alias in node.names if alias.name.startswith("_")]
            assert not private, (node.module, private)
