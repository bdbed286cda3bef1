"""MLPClassifier and MLPRegressor (fastnn.neural_network, fastnn.training).

Parity with scikit-learn's MLPs (the same weights, to rounding, for solver="sgd" and
"lbfgs" in float64; accuracy on the shipped digits for adam, sgd, lbfgs), every activation,
solver and loss option, early stopping, schedules and history, partial_fit and warm starts,
reproducibility, dtypes, sample and class weights, multilabel targets, probabilities,
callbacks, verbose output, augmentation, clipping, the layer options, scikit-learn
tooling (Pipeline, GridSearchCV, cross_val_score, clone, pickle, joblib with mmap_mode),
bad input, divergence, Ctrl-C, and scikit-learn's estimator checks.

scikit-learn is the reference: where a test compares against a number, the number comes
from sklearn.neural_network, from fastnn.schedules' documented sequences, or from a formula
written out here, never from fastnn's own earlier output.
"""
import math
import os
import pickle
import signal
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk_nn
from sklearn.base import clone
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn import MLPClassifier, MLPRegressor, schedules
from fastnn.datasets import load_digits
from fastnn.training import InterruptFlag

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# ---------------------------------------------------------------------------------------------
# Small problems shared by the tests.

_rng = np.random.RandomState(0)
X = _rng.standard_normal((120, 5))
Y_BIN = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
Y_MULTI = np.digitize(X[:, 0] + 0.5 * X[:, 2], [-0.5, 0.5])            # 3 classes
Y_LABELS = np.c_[Y_BIN, X[:, 2] > 0, X[:, 3] > 0.3].astype(int)        # multilabel
Y_REG = X @ _rng.standard_normal(5) + 0.1 * _rng.standard_normal(120)
Y_REG2 = np.c_[Y_REG, X[:, 0] ** 2]                                      # two outputs

TARGETS = {"binary": Y_BIN, "multiclass": Y_MULTI, "multilabel": Y_LABELS,
           "regression": Y_REG, "regression2": Y_REG2}


def _est(problem):
    return MLPRegressor if problem.startswith("regression") else MLPClassifier


def _sk_est(problem):
    return sk_nn.MLPRegressor if problem.startswith("regression") else sk_nn.MLPClassifier


def _small(Est, **params):
    """A quick estimator: one small hidden layer, one thread, a fixed seed."""
    defaults = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0, n_threads=1)
    defaults.update(params)
    return Est(**defaults)


def _weights(est):
    return list(est.coefs_) + list(est.intercepts_)


def _assert_same_model(a, b):
    wa, wb = _weights(a), _weights(b)
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert_array_equal(u, v)


def _max_rel_err(a, b):
    """Largest |a - b| over each weight array, relative to that array's largest |b|."""
    return max(np.max(np.abs(u - v)) / np.max(np.abs(v)) for u, v in zip(_weights(a),
                                                                          _weights(b)))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _numpy_forward(est, X, hidden, residual=False):
    """The network's output, computed from coefs_/intercepts_ with NumPy (no batch norm or
    dropout): hidden activation `hidden`, identity residual connections after the first
    hidden layer when `residual`, and the estimator's out_activation_ (but not "exp")."""
    a = X
    n_layers = len(est.coefs_)
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        z = a @ W + b
        if i == n_layers - 1:
            break
        h = hidden(z)
        a = h + a if residual and i > 0 else h
    if est.out_activation_ == "logistic":
        return _sigmoid(z)
    if est.out_activation_ == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    assert est.out_activation_ in ("identity", "exp")  # exp: the caller applies it
    return z


# ---------------------------------------------------------------------------------------------
# Parity with scikit-learn: with init="sklearn" (the default) and float64 data, the weights
# come from the same RandomState draws and the rows are shuffled from the same stream, so
# plain SGD (constant learning rate) and L-BFGS follow scikit-learn's trajectory.

@pytest.mark.parametrize("problem", ["binary", "multiclass", "multilabel", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sgd_and_lbfgs_reproduce_sklearn(solver, problem):
    y = TARGETS[problem]
    params = dict(hidden_layer_sizes=(7, 4), solver=solver, max_iter=20, random_state=1,
                  learning_rate_init=0.01, batch_size=32)
    ours = _est(problem)(n_threads=1, **params).fit(X, y)
    ref = _sk_est(problem)(**params).fit(X, y)
    assert [w.shape for w in _weights(ours)] == [w.shape for w in _weights(ref)]
    assert _max_rel_err(ours, ref) < 1e-10
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-10)
    assert ours.out_activation_ == ref.out_activation_
    assert ours.n_layers_ == ref.n_layers_ and ours.n_outputs_ == ref.n_outputs_
    if solver == "sgd":
        assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
        assert ours.t_ == ref.t_ == 20 * X.shape[0]
        assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-10)
    if problem != "regression":
        assert_array_equal(ours.classes_, ref.classes_)
        assert_array_equal(ours.predict(X), ref.predict(X))
        # The weights agree to 1e-10 relative; a probability carries that error times the
        # size of the logits, which reach hundreds here (probabilities down to 1e-246), so
        # the tolerance scales with the largest finite |log p| (BLAS thread counts differ
        # between the two fits: the last digits move between runs).
        log_p = ref.predict_log_proba(X)
        scale = np.max(np.abs(log_p[np.isfinite(log_p)]))
        assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                        rtol=1e-10 * (1 + scale), atol=1e-12)
    else:
        assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9, atol=1e-12)


def test_sgd_two_outputs_same_weights_loss_is_the_sum():
    """For several outputs scikit-learn descends the sum over outputs of the half squared
    error but reports its mean: the weights agree and, without the L2 term (alpha=0),
    fastnn's loss (the sum it descends) is n_outputs times scikit-learn's."""
    params = dict(hidden_layer_sizes=(7,), solver="sgd", max_iter=15, random_state=2,
                  learning_rate_init=0.01, batch_size=32, alpha=0.0)
    ours = MLPRegressor(n_threads=1, **params).fit(X, Y_REG2)
    ref = sk_nn.MLPRegressor(**params).fit(X, Y_REG2)
    assert _max_rel_err(ours, ref) < 1e-10
    assert_allclose(ours.loss_curve_, 2 * np.asarray(ref.loss_curve_), rtol=1e-10)
    assert ours.predict(X).shape == (120, 2)


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_sample_weight_reproduces_sklearn(solver, problem):
    y = TARGETS[problem]
    sw = np.random.RandomState(3).randint(0, 4, X.shape[0]).astype(float)
    params = dict(hidden_layer_sizes=(6,), solver=solver, max_iter=15, random_state=0,
                  batch_size=20)
    ours = _est(problem)(n_threads=1, **params).fit(X, y, sample_weight=sw)
    ref = _sk_est(problem)(**params).fit(X, y, sample_weight=sw)
    assert _max_rel_err(ours, ref) < 1e-10
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-10)


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_early_stopping_reproduces_sklearn(problem):
    """Same validation split (from the same stream), same scores, same stopping epoch, and
    the best weights restored."""
    rng = np.random.RandomState(5)
    Xl = rng.standard_normal((300, 5))
    y = {"binary": (Xl[:, 0] + Xl[:, 1] ** 2 + 0.5 * rng.standard_normal(300) > 1),
         "multiclass": (Xl[:, 0] > 0).astype(int) + (Xl[:, 1] > 0.5),
         "regression": Xl @ rng.standard_normal(5) + 0.5 * rng.standard_normal(300)}[problem]
    params = dict(hidden_layer_sizes=(10,), solver="sgd", max_iter=300, random_state=3,
                  learning_rate_init=0.01, batch_size=32, early_stopping=True,
                  n_iter_no_change=5)
    ours = _est(problem)(n_threads=1, **params).fit(Xl, y)
    ref = _sk_est(problem)(**params).fit(Xl, y)
    assert ours.n_iter_ == ref.n_iter_ < 300          # stopped early
    assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-12)
    assert ours.best_validation_score_ == pytest.approx(ref.best_validation_score_,
                                                        rel=1e-12)
    assert ours.best_loss_ is None and ref.best_loss_ is None
    assert _max_rel_err(ours, ref) < 1e-10


@pytest.mark.parametrize("problem", ["binary", "regression"])
@pytest.mark.parametrize("learning_rate", ["invscaling", "adaptive"])
def test_learning_rate_rules_reproduce_sklearn(learning_rate, problem):
    """learning_rate="invscaling" (lr0 / (t + 1)^power_t, t = samples seen before the
    epoch) and "adaptive" (lr / 5 after n_iter_no_change epochs without improvement; stop
    at lr <= 1e-6) as scikit-learn's solver="sgd". momentum=0: with momentum, torch's form
    (which fastnn uses) differs from scikit-learn's once the learning rate changes."""
    y = TARGETS[problem]
    lr0 = 0.05 if learning_rate == "adaptive" else 0.2
    params = dict(hidden_layer_sizes=(6,), solver="sgd", learning_rate=learning_rate,
                  learning_rate_init=lr0, max_iter=300, random_state=0, batch_size=20,
                  momentum=0.0, n_iter_no_change=3, tol=1e-3)
    ours = _est(problem)(n_threads=1, **params).fit(X, y)
    ref = _sk_est(problem)(**params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    assert _max_rel_err(ours, ref) < 1e-10
    lrs = ours.history_["learning_rate"]
    assert len(lrs) == ours.n_iter_
    if learning_rate == "invscaling":
        n = X.shape[0]
        assert lrs == pytest.approx([lr0 / (e * n + 1) ** 0.5 for e in range(ours.n_iter_)],
                                    rel=1e-15)
    else:
        # piecewise constant: lr0 / 5^k, never increasing; it stopped at the 1e-6 floor
        ks = np.log(lr0 / np.array(lrs)) / np.log(5)
        assert_allclose(ks, np.round(ks), atol=1e-9)
        assert np.all(np.diff(lrs) <= 0) and lrs[0] == lr0
        assert ours.n_iter_ < 300 and lrs[-1] <= 1e-6


@pytest.mark.parametrize("solver, extra", [("adam", {}), ("sgd", {"learning_rate_init": 0.05}),
                                           ("lbfgs", {})])
def test_digits_accuracy_within_one_point_of_sklearn(solver, extra):
    X_d, y_d = load_digits(return_X_y=True)
    X_d = X_d / 16
    X_tr, X_te, y_tr, y_te = train_test_split(X_d, y_d, test_size=0.3, random_state=0,
                                              stratify=y_d)
    params = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=50, random_state=0,
                  **extra)
    ours = MLPClassifier(n_threads=1, **params).fit(X_tr, y_tr)
    ref = sk_nn.MLPClassifier(**params).fit(X_tr, y_tr)
    ours_acc, ref_acc = ours.score(X_te, y_te), ref.score(X_te, y_te)
    assert ours_acc > 0.9
    assert abs(ours_acc - ref_acc) <= 0.01


# ---------------------------------------------------------------------------------------------
# Every activation, solver and loss trains to a sensible score on a small problem.

X_MOONS, Y_MOONS = make_moons(200, noise=0.15, random_state=0)
X_MOONS_TEST, Y_MOONS_TEST = make_moons(200, noise=0.15, random_state=1)
_rs = np.random.RandomState(1)
X_WAVE = _rs.uniform(-2, 2, (200, 2))
Y_WAVE = np.sin(X_WAVE[:, 0]) + 0.5 * X_WAVE[:, 1] ** 2
X_WAVE_TEST = _rs.uniform(-2, 2, (200, 2))
Y_WAVE_TEST = np.sin(X_WAVE_TEST[:, 0]) + 0.5 * X_WAVE_TEST[:, 1] ** 2

# The linear baselines on these problems: accuracy ~0.86 and R^2 ~0.6. A trained network
# must beat them clearly.
_TRAIN = dict(hidden_layer_sizes=(16,), max_iter=150, n_iter_no_change=150, random_state=0,
              n_threads=1, batch_size=32, learning_rate_init=0.02)

ACTIVATIONS = ["elu", "gelu", "leaky_relu", "logistic", "sigmoid", "maxout", "prelu", "relu",
               "selu", "silu", "swish", "softplus", "tanh"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_trains(activation):
    params = dict(_TRAIN, activation=activation)
    if activation in ("softplus", "logistic", "sigmoid"):
        # derivatives at most 1/4 (sigmoid) or a slow bend (softplus): a larger step
        params["learning_rate_init"] = 0.05
    clf = MLPClassifier(**params).fit(X_MOONS, Y_MOONS)
    assert clf.score(X_MOONS_TEST, Y_MOONS_TEST) >= 0.93
    reg = MLPRegressor(**params).fit(X_WAVE, Y_WAVE)
    assert reg.score(X_WAVE_TEST, Y_WAVE_TEST) >= 0.95


@pytest.mark.parametrize("activation", ["identity", "linear"])
def test_identity_activation_is_a_linear_model(activation):
    """With identity hidden units the network is linear: it scores as a linear model."""
    clf = MLPClassifier(**dict(_TRAIN, activation=activation)).fit(X_MOONS, Y_MOONS)
    lin = LogisticRegression().fit(X_MOONS, Y_MOONS)
    assert abs(clf.score(X_MOONS_TEST, Y_MOONS_TEST)
               - lin.score(X_MOONS_TEST, Y_MOONS_TEST)) <= 0.03
    reg = MLPRegressor(**dict(_TRAIN, activation=activation)).fit(X_WAVE, Y_WAVE)
    linr = LinearRegression().fit(X_WAVE, Y_WAVE)
    assert reg.score(X_WAVE_TEST, Y_WAVE_TEST) == pytest.approx(
        linr.score(X_WAVE_TEST, Y_WAVE_TEST), abs=0.02)
    assert_allclose(reg.predict(X_WAVE), _numpy_forward(reg, X_WAVE, lambda z: z).ravel(),
                    rtol=1e-10, atol=1e-12)


def test_binary_step_warns_that_it_cannot_train():
    with pytest.warns(UserWarning, match="binary_step.*zero derivative"):
        MLPClassifier(**dict(_TRAIN, activation="binary_step", max_iter=2)).fit(X_MOONS,
                                                                               Y_MOONS)


SOLVER_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.3, "rmsprop": 0.01,
             "adadelta": 3.0, "adam": 0.02, "adamw": 0.02, "nadam": 0.02, "amsgrad": 0.02,
             "lbfgs": 0.001}


@pytest.mark.parametrize("solver", sorted(SOLVER_LR))
def test_every_solver_trains(solver):
    params = dict(_TRAIN, activation="tanh", solver=solver,
                  learning_rate_init=SOLVER_LR[solver])
    clf = MLPClassifier(**params).fit(X_MOONS, Y_MOONS)
    assert clf.score(X_MOONS_TEST, Y_MOONS_TEST) >= 0.93
    reg = MLPRegressor(**params).fit(X_WAVE, Y_WAVE)
    assert reg.score(X_WAVE_TEST, Y_WAVE_TEST) >= 0.95


@pytest.mark.parametrize("loss", ["log_loss", "hinge", "focal"])
def test_every_classifier_loss_trains(loss):
    params = dict(_TRAIN, activation="tanh", loss=loss)
    clf = MLPClassifier(**params).fit(X_MOONS, Y_MOONS)
    assert clf.score(X_MOONS_TEST, Y_MOONS_TEST) >= 0.93
    # three classes: the moon's label, plus one right of x = 0.5
    y3 = Y_MOONS + (X_MOONS[:, 0] > 0.5)
    y3_test = Y_MOONS_TEST + (X_MOONS_TEST[:, 0] > 0.5)
    clf3 = MLPClassifier(**params).fit(X_MOONS, y3)
    assert clf3.score(X_MOONS_TEST, y3_test) >= 0.9
    assert clf3.out_activation_ == {"log_loss": "softmax", "hinge": "identity",
                                    "focal": "logistic"}[loss]


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber", "pseudo_huber",
                                  "log_cosh", "poisson"])
def test_every_regressor_loss_trains(loss):
    y, y_test = Y_WAVE, Y_WAVE_TEST
    if loss == "poisson":  # a positive mean, predicted through a log link
        y, y_test = np.exp(y / 2), np.exp(y_test / 2)
    reg = MLPRegressor(**dict(_TRAIN, activation="tanh", loss=loss)).fit(X_WAVE, y)
    assert reg.score(X_WAVE_TEST, y_test) >= 0.95
    if loss == "poisson":
        assert reg.out_activation_ == "exp"
        assert_allclose(reg.predict(X_WAVE),
                        np.exp(_numpy_forward(reg, X_WAVE, np.tanh)).ravel(), rtol=1e-10)
        with pytest.raises(ValueError, match="non-negative"):
            clone(reg).fit(X_WAVE, -y)


def test_loss_params_reach_the_loss():
    """Huber (torch's: r^2 / 2 inside delta, delta (|r| - delta / 2) outside) with a huge
    delta is the half squared error, with a tiny delta it is delta times the absolute
    error: compared on the loss of the first epoch from the same start (full-batch SGD
    with a vanishing step, so that the weights stay put)."""
    common = dict(_TRAIN, solver="sgd", batch_size="full", shuffle=False, max_iter=1,
                  alpha=0.0, momentum=0.0, learning_rate_init=1e-12)

    def first_loss(**params):
        return MLPRegressor(**common, **params).fit(X_WAVE, Y_WAVE).loss_

    half_sq, mae = first_loss(loss="squared_error"), first_loss(loss="absolute_error")
    assert first_loss(loss="huber", loss_params={"delta": 1e6}) == pytest.approx(half_sq,
                                                                                rel=1e-9)
    assert first_loss(loss="huber", loss_params={"delta": 1e-6}) == pytest.approx(1e-6 * mae,
                                                                                 rel=1e-5)
    assert first_loss(loss="huber") != pytest.approx(half_sq, rel=1e-3)
    with pytest.raises(ValueError, match="log_loss.*loss_params"):
        MLPClassifier(loss_params={"gamma": 1.0}).fit(X, Y_BIN)


# ---------------------------------------------------------------------------------------------
# Early stopping: the validation split, the restored best weights, the attributes.

def _sklearn_validation_split(hidden, X, y, seed, validation_fraction=0.1):
    """The validation split scikit-learn's MLP draws (REFERENCE.md §8): from the stream of
    RandomState(seed) after the initial weights (per layer a (fan_in, fan_out) then a
    (fan_out,) uniform draw), train_test_split(random_state=stream), stratified for binary
    y. Valid for the default options (no dropout or augmentation seed drawn)."""
    rng = np.random.RandomState(seed)
    sizes = [X.shape[1], *hidden, 1]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        rng.uniform(size=(fan_in, fan_out))
        rng.uniform(size=fan_out)
    _, X_val, _, y_val = train_test_split(X, y, random_state=rng,
                                          test_size=validation_fraction, stratify=y)
    return X_val, y_val


def test_early_stopping_restores_the_best_validation_model():
    rng = np.random.RandomState(7)
    Xl = rng.standard_normal((400, 5))
    y = (Xl[:, 0] + Xl[:, 1] ** 2 + 0.7 * rng.standard_normal(400) > 1).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(12,), early_stopping=True, n_iter_no_change=4,
                        learning_rate_init=0.02, max_iter=200, random_state=4,
                        n_threads=1).fit(Xl, y)
    scores = clf.validation_scores_
    best = int(np.argmax(scores))
    assert clf.n_iter_ == len(scores) == best + 1 + 4 + 1   # 5 epochs without improvement
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None

    X_val, y_val = _sklearn_validation_split((12,), Xl, y, seed=4)
    assert len(y_val) == 40
    # the fitted model is the best epoch's: its validation accuracy and loss are the ones
    # recorded for that epoch
    assert clf.score(X_val, y_val) == clf.best_validation_score_
    history = clf.history_
    assert history["val_score"] == scores
    # (the validation loss tells the epochs apart where the accuracy may tie)
    val_loss = log_loss(y_val, clf.predict_proba(X_val))
    assert history["val_loss"][best] == pytest.approx(val_loss, rel=1e-12)
    assert history["val_loss"][-1] != pytest.approx(val_loss, rel=1e-6)


def test_early_stopping_restores_batch_norm_statistics():
    """A run cut at the best epoch (max_iter = best + 1) trains the same epochs; the early-
    stopped model restored to that epoch predicts the same, batch-norm running statistics
    included."""
    rng = np.random.RandomState(8)
    Xl = rng.standard_normal((300, 4))
    y = Xl[:, 0] - 2 * Xl[:, 1] ** 2 + 0.5 * rng.standard_normal(300)
    params = dict(hidden_layer_sizes=(10,), batch_norm=True, early_stopping=True,
                  n_iter_no_change=3, learning_rate_init=0.05, random_state=1, n_threads=1)
    full = MLPRegressor(max_iter=200, **params).fit(Xl, y)
    best = int(np.argmax(full.validation_scores_))
    assert best + 1 < full.n_iter_
    cut = MLPRegressor(max_iter=best + 1, **params).fit(Xl, y)
    assert cut.validation_scores_ == full.validation_scores_[:best + 1]
    _assert_same_model(full, cut)
    assert_array_equal(full.predict(Xl), cut.predict(Xl))
    for a, b in zip(full.network_.running_stats(), cut.network_.running_stats()):
        if a is not None:
            assert_array_equal(a[0], b[0])
            assert_array_equal(a[1], b[1])


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:10], Y_REG[:10])  # 1 validation row
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, Y_REG)


# ---------------------------------------------------------------------------------------------
# History, schedules, verbose output, callbacks.

HISTORY_KEYS = {"loss", "val_loss", "val_score", "learning_rate", "time"}


@pytest.mark.parametrize("early_stopping", [False, True])
def test_history_contents(early_stopping):
    clf = _small(MLPClassifier, max_iter=6, early_stopping=early_stopping,
                 learning_rate_init=0.003).fit(X, Y_MULTI)
    h = clf.history_
    assert set(h) == HISTORY_KEYS
    assert all(len(v) == clf.n_iter_ == 6 for v in h.values())
    assert h["loss"] == clf.loss_curve_
    assert h["learning_rate"] == [0.003] * 6
    assert all(isinstance(t, float) and t > 0 for t in h["time"])
    if early_stopping:
        assert h["val_score"] == clf.validation_scores_
        assert all(isinstance(v, float) and v > 0 for v in h["val_loss"])
    else:
        assert h["val_score"] == h["val_loss"] == [None] * 6
    # a warm start continues the history
    clf.set_params(warm_start=True, max_iter=3).fit(X, Y_MULTI)
    assert all(len(v) == 9 for v in clf.history_.values()) and clf.n_iter_ == 3
    assert clf.history_["loss"] == clf.loss_curve_


def test_history_lbfgs():
    reg = _small(MLPRegressor, solver="lbfgs", max_iter=15).fit(X, Y_REG)
    h = reg.history_
    assert set(h) == HISTORY_KEYS
    assert len(h["loss"]) == reg.n_iter_ == 15
    assert h["loss"][-1] == pytest.approx(reg.loss_, rel=1e-12)
    assert all(b <= a for a, b in zip(h["loss"], h["loss"][1:]))  # L-BFGS descends


SCHEDULES = [("step", {"step_size": 2, "gamma": 0.5}), ("exponential", {"gamma": 0.8}),
             ("cosine", {"T_max": 3}), ("cosine_restarts", {"T_0": 2, "T_mult": 2})]


@pytest.mark.parametrize("name, params", SCHEDULES)
def test_lr_schedule_sequence(name, params):
    expected = schedules.get(name, 0.01, **params).sequence(7)
    est = _small(MLPRegressor, max_iter=7, learning_rate_init=0.01, lr_schedule=name,
                 lr_schedule_params=params, n_iter_no_change=100).fit(X, Y_REG)
    assert est.history_["learning_rate"] == expected
    # partial_fit continues the schedule across calls
    pf = _small(MLPRegressor, learning_rate_init=0.01, lr_schedule=name,
                lr_schedule_params=params)
    for _ in range(7):
        pf.partial_fit(X, Y_REG)
    assert pf.history_["learning_rate"] == expected
    # a Schedule instance works as well
    inst = _small(MLPRegressor, max_iter=7, lr_schedule=schedules.get(name, 0.01, **params),
                  n_iter_no_change=100).fit(X, Y_REG)
    assert inst.history_["learning_rate"] == expected


def test_lr_schedule_drives_the_optimizer():
    """cosine with T_max=2 gives lr exactly 0 in the third epoch: that epoch leaves the
    weights unchanged, while the first two moved them."""
    params = dict(lr_schedule="cosine", lr_schedule_params={"T_max": 2},
                  learning_rate_init=0.01, n_iter_no_change=100)
    two = _small(MLPClassifier, max_iter=2, **params).fit(X, Y_BIN)
    three = _small(MLPClassifier, max_iter=3, **params).fit(X, Y_BIN)
    assert three.history_["learning_rate"][2] == 0.0
    _assert_same_model(two, three)
    one = _small(MLPClassifier, max_iter=1, **params).fit(X, Y_BIN)
    assert not np.array_equal(one.coefs_[0], two.coefs_[0])


def test_lr_schedule_errors():
    with pytest.raises(ValueError, match="both set the learning rate"):
        MLPClassifier(solver="sgd", learning_rate="adaptive", lr_schedule="cosine",
                      lr_schedule_params={"T_max": 3}).fit(X, Y_BIN)
    with pytest.raises(ValueError, match="without an lr_schedule"):
        MLPClassifier(lr_schedule_params={"T_max": 3}).fit(X, Y_BIN)
    with pytest.raises(TypeError, match="step_size"):
        MLPClassifier(lr_schedule="step").fit(X, Y_BIN)


def test_verbose_prints_each_iteration(capsys):
    clf = _small(MLPClassifier, max_iter=4, verbose=1).fit(X, Y_BIN)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {k}, loss = {loss:.8f}"
                     for k, loss in enumerate(clf.loss_curve_, start=1)]
    clf = _small(MLPClassifier, max_iter=3, verbose=True, early_stopping=True).fit(X, Y_BIN)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == [f"Iteration {k}, loss = {loss:.8f}"
                           for k, loss in enumerate(clf.loss_curve_, start=1)]
    assert lines[1::2] == [f"Validation score: {s:f}" for s in clf.validation_scores_]
    reg = _small(MLPRegressor, solver="lbfgs", max_iter=3, verbose=1).fit(X, Y_REG)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {k}, loss = {loss:.8f}"
                     for k, loss in enumerate(reg.history_["loss"], start=1)]
    _small(MLPClassifier, max_iter=3).fit(X, Y_BIN)
    assert capsys.readouterr().out == ""


def test_verbose_2_shows_a_progress_bar_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(__import__("sys").stdout, "isatty", lambda: True)
    clf = _small(MLPClassifier, max_iter=2, batch_size=50, verbose=2).fit(X, Y_BIN)
    out = capsys.readouterr().out
    for done in (50, 100, 120):                     # after each minibatch
        assert f"] {done}/120" in out
    assert "[" + "#" * 30 + "] 120/120" in out
    assert out.count("Iteration ") == clf.n_iter_ == 2


def test_verbose_reports_no_improvement_stop(capsys):
    clf = _small(MLPRegressor, max_iter=500, tol=1.0, n_iter_no_change=2,
                 verbose=1).fit(X, Y_REG)
    out = capsys.readouterr().out
    assert clf.n_iter_ == 1 + 3  # the first epoch, then n_iter_no_change + 1 without gain
    assert ("Training loss did not improve more than tol=1.000000 for 2 consecutive epochs. "
            "Stopping.") in out


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callbacks_get_the_history_and_can_stop(solver):
    seen = []

    def record(history):
        seen.append((len(history["loss"]), history["loss"][-1]))

    def stop_at_three(history):
        return len(history["loss"]) >= 3

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a callback stop is no failure
        est = _small(MLPRegressor, solver=solver, max_iter=50,
                     callbacks=[record, stop_at_three]).fit(X, Y_REG)
    assert est.n_iter_ == 3
    assert [n for n, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == est.history_["loss"]
    # a single callable is accepted too, and a falsy return goes on
    calls = []
    _small(MLPRegressor, solver=solver, max_iter=4, tol=0.0,
           callbacks=lambda h: calls.append(1)).fit(X, Y_REG)
    assert len(calls) == 4
    with pytest.raises(TypeError, match="callables"):
        _small(MLPRegressor, callbacks=[record, "stop"]).fit(X, Y_REG)


# ---------------------------------------------------------------------------------------------
# partial_fit, warm_start, reproducibility, threads.

PF_CONFIGS = [
    {},                                                       # adam, shuffled minibatches
    {"solver": "sgd", "dropout": 0.2},
    {"solver": "nadam", "batch_norm": True, "augment": 0.1},
    {"lr_schedule": "step", "lr_schedule_params": {"step_size": 2, "gamma": 0.5}},
]


@pytest.mark.parametrize("config", PF_CONFIGS, ids=lambda c: "-".join(map(str, c)) or "adam")
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_partial_fit_n_times_equals_fit_n_iterations(problem, config):
    """fastnn keeps the random stream (shuffling, dropout masks, noise) and the optimizer
    across partial_fit calls, so n calls are exactly a fit of n epochs."""
    Est, y = _est(problem), TARGETS[problem]
    extra = {"classes": [0, 1, 2]} if problem == "multiclass" else {}
    pf = _small(Est, batch_size=16, **config)
    for _ in range(4):
        pf.partial_fit(X, y, **extra)
    fit = _small(Est, batch_size=16, max_iter=4, **config).fit(X, y)
    _assert_same_model(pf, fit)
    assert pf.loss_curve_ == fit.loss_curve_
    assert pf.n_iter_ == 1 and fit.n_iter_ == 4      # n_iter_: epochs of the last call
    assert pf.t_ == fit.t_ == 4 * X.shape[0]
    assert pf.history_["learning_rate"] == fit.history_["learning_rate"]


@pytest.mark.parametrize("config", PF_CONFIGS[:3], ids=["adam", "sgd-dropout", "nadam-bn"])
def test_warm_start_resumes_the_optimizer(config):
    """Two warm-started fits of 2 epochs are one fit of 4: Adam's moments and step count,
    the momentum buffer, the random stream and the row order all carry over."""
    warm = _small(MLPClassifier, batch_size=16, max_iter=2, warm_start=True, **config)
    warm.fit(X, Y_BIN)
    warm.fit(X, Y_BIN)
    once = _small(MLPClassifier, batch_size=16, max_iter=4, **config).fit(X, Y_BIN)
    _assert_same_model(warm, once)
    assert warm.loss_curve_ == once.loss_curve_
    assert warm.n_iter_ == 2 and warm.t_ == once.t_
    # without warm_start, fit starts over: the same as a fresh 2-epoch fit
    cold = clone(warm).set_params(warm_start=False)
    cold.fit(X, Y_BIN)
    cold.fit(X, Y_BIN)
    _assert_same_model(cold, _small(MLPClassifier, batch_size=16, max_iter=2,
                                    **config).fit(X, Y_BIN))


def test_warm_start_needs_the_same_network_and_classes():
    clf = _small(MLPClassifier, warm_start=True).fit(X, Y_MULTI)
    coefs = [w.copy() for w in clf.coefs_]
    with pytest.raises(ValueError, match="same architecture"):
        clf.set_params(hidden_layer_sizes=(9,)).fit(X, Y_MULTI)
    clf.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X, Y_MULTI + 1)                       # a class not seen before
    subset = Y_MULTI != Y_MULTI.max()
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X[subset], Y_MULTI[subset])           # a class missing (scikit-learn's rule)
    with pytest.raises(ValueError, match="features"):
        clf.fit(X[:, :4], Y_MULTI)
    for a, b in zip(coefs, clf.coefs_):
        assert_array_equal(a, b)
    assert clf.n_iter_ == 10


def test_random_state_reproducibility():
    params = dict(dropout=0.3, augment=0.05, batch_size=16)    # every source of randomness
    a = _small(MLPClassifier, random_state=11, **params).fit(X, Y_MULTI)
    b = _small(MLPClassifier, random_state=11, **params).fit(X, Y_MULTI)
    _assert_same_model(a, b)
    c = _small(MLPClassifier, random_state=12, **params).fit(X, Y_MULTI)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    # a RandomState instance is consumed, as in scikit-learn: refits differ
    shared = np.random.RandomState(0)
    d = _small(MLPClassifier, random_state=shared, **params)
    first = d.fit(X, Y_MULTI).coefs_[0].copy()
    assert not np.array_equal(first, d.fit(X, Y_MULTI).coefs_[0])
    # None draws fresh weights
    e = _small(MLPClassifier, random_state=None, max_iter=1)
    assert not np.array_equal(e.fit(X, Y_MULTI).coefs_[0].copy(),
                              e.fit(X, Y_MULTI).coefs_[0])
    # clones refit identically
    _assert_same_model(clone(a).fit(X, Y_MULTI), a)


def _threads_problem():
    rng = np.random.RandomState(9)
    Xb = rng.standard_normal((3000, 40))
    return Xb, (Xb[:, :3].sum(axis=1) > 0).astype(int)


@pytest.mark.parametrize("config", [{}, {"batch_norm": True, "dropout": 0.2},
                                    {"solver": "lbfgs"}], ids=["adam", "bn-dropout", "lbfgs"])
def test_one_and_two_threads(config, monkeypatch):
    """fastnn's own kernels split their work statically and sum in a fixed order: with BLAS
    held at one thread, n_threads=1 and 2 give bitwise identical models (full batches of
    3000 rows x 384 units are large enough for the kernels to use both threads).

    fit also lets BLAS use n_threads threads; OpenBLAS's threaded dgemm sums the long
    (3000-row) products of the weight gradients in another order than its serial one, so
    then the models agree to rounding only. Each thread count on its own is deterministic."""
    import fastnn.neural_network as nn_module
    from fastnn.network import _KERNEL_THREADS_MIN_ELEMENTS
    from threadpoolctl import threadpool_limits

    Xb, yb = _threads_problem()
    assert 3000 * 384 >= _KERNEL_THREADS_MIN_ELEMENTS
    params = dict(hidden_layer_sizes=(384,), max_iter=2, batch_size="full", random_state=0,
                  **config)
    with threadpool_limits(1, user_api="blas"):
        monkeypatch.setattr(nn_module, "threadpool_limits", lambda *a, **k: _NullContext())
        fixed_blas = {t: MLPClassifier(n_threads=t, **params).fit(Xb, yb) for t in (1, 2)}
    monkeypatch.undo()
    _assert_same_model(fixed_blas[1], fixed_blas[2])

    models = {t: MLPClassifier(n_threads=t, **params).fit(Xb, yb) for t in (1, 2)}
    _assert_same_model(models[2], MLPClassifier(n_threads=2, **params).fit(Xb, yb))
    # (the biases before batch norm get a zero gradient up to rounding, which Adam scales
    # up: compare what the model computes)
    assert_allclose(models[1].predict_proba(Xb), models[2].predict_proba(Xb), rtol=1e-9)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------------------------
# dtypes, sparse input.

# (a float32 probability can round to exactly 0: its log is -inf, as in scikit-learn)
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_dtype_is_kept_end_to_end(solver, dtype):
    Xd = X.astype(dtype)
    clf = _small(MLPClassifier, solver=solver).fit(Xd, Y_MULTI)
    assert clf.network_.params.dtype == dtype
    assert all(w.dtype == dtype for w in _weights(clf))
    assert all(np.shares_memory(w, clf.network_.params) for w in _weights(clf))
    assert clf.predict_proba(Xd).dtype == dtype
    assert clf.predict_log_proba(Xd).dtype == dtype
    reg = _small(MLPRegressor, solver=solver).fit(Xd, Y_REG2)
    assert reg.network_.params.dtype == dtype and reg.predict(Xd).dtype == dtype
    # the fitted dtype wins over the input's at predict and partial_fit
    other = X.astype(np.float64 if dtype == np.float32 else np.float32)
    assert clf.predict_proba(other).dtype == dtype
    if solver != "lbfgs":
        reg.partial_fit(other, Y_REG2)
        assert reg.network_.params.dtype == dtype
    # integer data becomes float64
    assert _small(MLPRegressor, solver=solver).fit(
        (X * 10).astype(np.int64), Y_REG).network_.params.dtype == np.float64


def test_float32_trains_like_float64():
    a = _small(MLPClassifier, max_iter=30).fit(X.astype(np.float32), Y_MULTI)
    b = _small(MLPClassifier, max_iter=30).fit(X, Y_MULTI)
    assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_equals_dense(fmt):
    Xs = sp.random(120, 30, density=0.2, format=fmt, random_state=0)
    y = (Xs.toarray().sum(axis=1) > 1.2).astype(int)
    for solver in ("adam", "lbfgs"):
        sparse = _small(MLPClassifier, solver=solver).fit(Xs, y)
        dense = _small(MLPClassifier, solver=solver).fit(Xs.toarray(), y)
        _assert_same_model(sparse, dense)
        assert_array_equal(sparse.predict_proba(Xs), dense.predict_proba(Xs.toarray()))


# ---------------------------------------------------------------------------------------------
# Sample and class weights.

@pytest.mark.parametrize("problem", ["binary", "multiclass", "multilabel", "regression2"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop", "lbfgs"])
def test_weight_two_equals_a_duplicated_row(solver, problem):
    """With full batches in a fixed order, every loss is a weighted mean: a weight of 2 is
    the row counted twice (to rounding: the sums run in another order)."""
    y = TARGETS[problem]
    sw = np.ones(len(y))
    sw[:15] = 2
    X_dup, y_dup = np.r_[X, X[:15]], np.r_[y, y[:15]]
    params = dict(solver=solver, shuffle=False, batch_size="full", max_iter=10)
    weighted = _small(_est(problem), **params).fit(X, y, sample_weight=sw)
    duplicated = _small(_est(problem), **params).fit(X_dup, y_dup)
    for u, v in zip(_weights(weighted), _weights(duplicated)):
        assert_allclose(u, v, rtol=1e-10, atol=1e-13)
    assert weighted.loss_ == pytest.approx(duplicated.loss_, rel=1e-10)
    if solver != "lbfgs":   # and in partial_fit
        extra = {"classes": np.unique(y)} if problem in ("binary", "multiclass") else {}
        pw = _small(_est(problem), **params)
        pd = _small(_est(problem), **params)
        for _ in range(3):
            pw.partial_fit(X, y, sample_weight=sw, **extra)
            pd.partial_fit(X_dup, y_dup, **extra)
        for u, v in zip(_weights(pw), _weights(pd)):
            assert_allclose(u, v, rtol=1e-10, atol=1e-13)


def test_zero_weight_is_a_removed_row():
    sw = np.ones(len(Y_MULTI))
    sw[::4] = 0
    keep = sw > 0
    params = dict(shuffle=False, batch_size="full", max_iter=10)
    weighted = _small(MLPClassifier, **params).fit(X, Y_MULTI, sample_weight=sw)
    removed = _small(MLPClassifier, **params).fit(X[keep], Y_MULTI[keep])
    for u, v in zip(_weights(weighted), _weights(removed)):
        assert_allclose(u, v, rtol=1e-10, atol=1e-13)


def test_class_weight():
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class = _small(MLPClassifier, class_weight=cw).fit(X, Y_MULTI)
    by_sample = _small(MLPClassifier).fit(X, Y_MULTI,
                                          sample_weight=np.vectorize(cw.get)(Y_MULTI))
    _assert_same_model(by_class, by_sample)
    # the two multiply
    sw = np.linspace(0.5, 2, len(Y_MULTI))
    both = _small(MLPClassifier, class_weight=cw).fit(X, Y_MULTI, sample_weight=sw)
    product = _small(MLPClassifier).fit(X, Y_MULTI,
                                        sample_weight=sw * np.vectorize(cw.get)(Y_MULTI))
    _assert_same_model(both, product)
    # "balanced": n_samples / (n_classes * count)
    counts = np.bincount(Y_MULTI)
    balanced = _small(MLPClassifier, class_weight="balanced").fit(X, Y_MULTI)
    manual = _small(MLPClassifier).fit(X, Y_MULTI,
                                       sample_weight=(len(Y_MULTI) / (3 * counts))[Y_MULTI])
    for u, v in zip(_weights(balanced), _weights(manual)):
        assert_allclose(u, v, rtol=1e-12)
    # a heavy class wins the ambiguous points
    heavy = _small(MLPClassifier, class_weight={0: 1, 1: 50, 2: 1}, max_iter=50,
                   learning_rate_init=0.01).fit(X, Y_MULTI)
    plain = _small(MLPClassifier, max_iter=50, learning_rate_init=0.01).fit(X, Y_MULTI)
    assert (heavy.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_sample_weight_errors():
    with pytest.raises(ValueError, match="at least one non-zero"):
        MLPClassifier().fit(X, Y_BIN, sample_weight=np.zeros(120))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        MLPClassifier().fit(X, Y_BIN, sample_weight=np.ones(119))
    with pytest.raises(ValueError, match="Negative"):
        MLPRegressor().fit(X, Y_REG, sample_weight=-np.ones(120))
    with pytest.raises(ValueError, match="sums to zero"):   # class_weight zeroes everything
        MLPClassifier(class_weight={0: 0, 1: 0}).fit(X, Y_BIN)


# ---------------------------------------------------------------------------------------------
# Classifier outputs: multilabel, probabilities, hinge.

def test_multilabel():
    clf = _small(MLPClassifier, max_iter=200, learning_rate_init=0.01).fit(X, Y_LABELS)
    assert clf.n_outputs_ == 3 and clf.out_activation_ == "logistic"
    assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(X)
    assert pred.shape == (120, 3) and set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3)
    assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.score(X, Y_LABELS) > 0.6   # subset accuracy: all three labels right
    # partial_fit takes multilabel targets without classes=
    pf = _small(MLPClassifier).partial_fit(X, Y_LABELS)
    assert pf.predict(X).shape == (120, 3)


@pytest.mark.parametrize("loss", ["log_loss", "focal"])
@pytest.mark.parametrize("problem", ["binary", "multiclass"])
def test_predict_proba_shapes_and_sums(problem, loss):
    y = np.array(["no", "yes"])[Y_BIN] if problem == "binary" else Y_MULTI + 10
    clf = _small(MLPClassifier, loss=loss).fit(X, y)
    n_classes = len(np.unique(y))
    proba = clf.predict_proba(X)
    assert proba.shape == (120, n_classes)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    assert clf.predict(X).dtype == y.dtype


def test_probabilities_are_the_network_output():
    """predict_proba is the softmax (several classes) or logistic (two) of the last layer,
    computed here with NumPy from coefs_ and intercepts_."""
    multi = _small(MLPClassifier, activation="tanh").fit(X, Y_MULTI)
    assert_allclose(multi.predict_proba(X), _numpy_forward(multi, X, np.tanh), rtol=1e-10)
    binary = _small(MLPClassifier, activation="relu").fit(X, Y_BIN)
    p = _numpy_forward(binary, X, lambda z: np.maximum(z, 0)).ravel()
    assert_allclose(binary.predict_proba(X), np.c_[1 - p, p], rtol=1e-10, atol=1e-15)


def test_hinge_has_no_predict_proba():
    clf = _small(MLPClassifier, loss="hinge")
    assert not hasattr(clf, "predict_proba") and not hasattr(clf, "predict_log_proba")
    clf.fit(X, Y_MULTI)
    assert not hasattr(clf, "predict_proba")
    with pytest.raises(AttributeError):
        clf.predict_proba(X)
    assert clf.predict(X).shape == (120,)
    assert hasattr(_small(MLPClassifier, loss="focal"), "predict_proba")


# ---------------------------------------------------------------------------------------------
# partial_fit rules.

def test_partial_fit_needs_classes_first_and_refuses_changes():
    clf = _small(MLPClassifier)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, Y_BIN)
    assert not hasattr(clf, "n_features_in_")
    clf.partial_fit(X[Y_MULTI < 2], Y_MULTI[Y_MULTI < 2], classes=[0, 1, 2])  # a subset
    assert_array_equal(clf.classes_, [0, 1, 2]) and clf.predict_proba(X).shape == (120, 3)
    coefs = [w.copy() for w in clf.coefs_]
    clf.partial_fit(X, Y_MULTI)                 # later calls may leave classes out
    assert clf.t_ == (Y_MULTI < 2).sum() + 120
    coefs = [w.copy() for w in clf.coefs_]
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, Y_MULTI, classes=[0, 1])
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, Y_MULTI + 1)
    with pytest.raises(ValueError, match="classes not in"):
        _small(MLPClassifier).partial_fit(X, Y_MULTI, classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], Y_MULTI)
    for a, b in zip(coefs, clf.coefs_):
        assert_array_equal(a, b)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_partial_fit_unavailable_for_lbfgs(Est):
    est = Est(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit") as info:
        est.partial_fit(X, Y_BIN)
    assert "only available for stochastic optimizers" in str(info.value.__cause__)
    assert hasattr(Est(solver="adadelta"), "partial_fit")


# ---------------------------------------------------------------------------------------------
# Augmentation and gradient clipping.

def _record_training_inputs(monkeypatch):
    """Record a copy of every minibatch X the network trains on (fastnn.training calls
    its module-level loss_and_gradient for each minibatch)."""
    import fastnn.training as training

    seen = []
    original = training.loss_and_gradient

    def recording(network, X_batch, *args, **kwargs):
        seen.append(np.array(X_batch, copy=True))
        return original(network, X_batch, *args, **kwargs)

    monkeypatch.setattr(training, "loss_and_gradient", recording)
    return seen


def test_augment_noise(monkeypatch):
    seen = _record_training_inputs(monkeypatch)
    params = dict(shuffle=False, batch_size="full", max_iter=3)
    clf = _small(MLPClassifier, augment=0.5, **params).fit(X, Y_BIN)
    assert len(seen) == 3
    noise = np.stack(seen) - X
    assert abs(noise.mean()) < 0.05
    assert noise.std() == pytest.approx(0.5, rel=0.1)
    assert not np.array_equal(noise[0], noise[1])           # fresh noise every epoch
    assert not np.shares_memory(seen[0], X)
    # noise at training only: predictions are deterministic
    assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    plain = _small(MLPClassifier, **params).fit(X, Y_BIN)
    assert not np.array_equal(plain.coefs_[0], clf.coefs_[0])


def test_augment_callable_receives_each_batch(monkeypatch):
    seen = _record_training_inputs(monkeypatch)
    received, returned = [], []
    X_before = X.copy()

    def augment(X_batch, rng):
        assert isinstance(rng, np.random.Generator)
        received.append(X_batch.copy())
        X_batch *= 2.0                         # in place: must not reach the caller's X
        out = X_batch + rng.standard_normal(X_batch.shape)
        returned.append(out)
        return out

    _small(MLPRegressor, augment=augment, shuffle=False, batch_size=32,
           max_iter=2).fit(X, Y_REG)
    bounds = [(0, 32), (32, 64), (64, 96), (96, 120)]
    assert len(received) == 2 * len(bounds)
    for k, (start, stop) in enumerate(bounds * 2):
        assert_array_equal(received[k], X[start:stop])
        assert_array_equal(seen[k], returned[k])           # the network trains on it
    assert_array_equal(X, X_before)


def test_augment_identity_callable_changes_nothing():
    """Without shuffling or dropout the random stream is not used: an augment callable that
    returns its batch unchanged gives the model trained without augmentation."""
    params = dict(shuffle=False, batch_size=32)
    a = _small(MLPClassifier, augment=lambda X_batch, rng: X_batch, **params).fit(X, Y_MULTI)
    b = _small(MLPClassifier, **params).fit(X, Y_MULTI)
    _assert_same_model(a, b)


def test_augment_errors():
    with pytest.raises(ValueError, match="keep the shape"):
        _small(MLPClassifier, augment=lambda X_batch, rng: X_batch[:, :2]).fit(X, Y_BIN)
    with pytest.raises(TypeError, match="real numbers"):
        _small(MLPClassifier, augment=lambda X_batch, rng: X_batch.astype(str)).fit(X, Y_BIN)
    with pytest.raises(ValueError, match="augment needs a stochastic solver"):
        _small(MLPClassifier, solver="lbfgs", augment=0.1).fit(X, Y_BIN)


def _warm_base():
    """A regressor warm-started from 3 epochs of full-batch SGD without momentum: the next
    fit of one epoch is one plain step, params -= 0.1 * gradient."""
    params = dict(solver="sgd", momentum=0.0, batch_size="full", shuffle=False,
                  learning_rate_init=0.1, alpha=1e-3)
    return _small(MLPRegressor, max_iter=3, warm_start=True, **params).fit(X, 5 * Y_REG)


def _one_sgd_step(clip):
    """(weights before, gradient there, weights after one step with the options `clip`)."""
    reg = _warm_base()
    before = reg.network_.params.copy()
    _, grads = reg.network_.loss_and_gradient(X, (5 * Y_REG)[:, None])
    grads = grads.copy()
    assert_array_equal(reg.network_.params, before)
    reg.set_params(max_iter=1, **clip).fit(X, 5 * Y_REG)
    return before, grads, reg.network_.params.copy()


@pytest.mark.parametrize("clip", [{}, {"clip_norm": 0.5}, {"clip_value": 0.05},
                                  {"clip_norm": 0.5, "clip_value": 0.05},
                                  {"clip_norm": 1e6}], ids=str)
def test_gradient_clipping(clip):
    """torch's clip_grad_norm_ (g * max_norm / (||g|| + 1e-6) when that is < 1), then
    clip_grad_value_ (g clamped to [-c, c])."""
    before, g, after = _one_sgd_step(clip)
    expected = g.copy()
    if "clip_norm" in clip:
        coef = clip["clip_norm"] / (np.linalg.norm(g) + 1e-6)
        if coef < 1:
            expected *= coef
    if "clip_value" in clip:
        expected = np.clip(expected, -clip["clip_value"], clip["clip_value"])
    if clip:
        assert not np.allclose(expected, g) or clip == {"clip_norm": 1e6}
    assert_allclose(after, before - 0.1 * expected, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Layer options: dropout, batch norm, residual connections, L1, initialisation.

def test_dropout_only_at_training():
    clf = _small(MLPClassifier, dropout=0.5, max_iter=30).fit(X, Y_MULTI)
    # inverted dropout: nothing to rescale at predict time, the plain forward pass
    assert_allclose(clf.predict_proba(X),
                    _numpy_forward(clf, X, lambda z: np.maximum(z, 0)), rtol=1e-10)
    plain = _small(MLPClassifier, max_iter=30).fit(X, Y_MULTI)
    assert not np.array_equal(plain.coefs_[0], clf.coefs_[0])
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        _small(MLPClassifier, solver="lbfgs", dropout=0.1).fit(X, Y_MULTI)


def test_batch_norm_uses_running_statistics_at_predict():
    reg = _small(MLPRegressor, batch_norm=True, max_iter=20, batch_size=16,
                 learning_rate_init=0.01).fit(X, Y_REG)
    full = reg.predict(X)
    # batch statistics would make a row's prediction depend on the other rows
    single = np.array([reg.predict(X[i:i + 1])[0] for i in range(5)])
    assert_allclose(single, full[:5], rtol=1e-12)
    mean, var = reg.network_.running_stats()[0]
    hidden = X @ reg.coefs_[0] + reg.intercepts_[0]
    # the running averages (momentum 0.1, 20 epochs x 8 batches) follow the batches'
    assert_allclose(mean, hidden.mean(axis=0), atol=0.3 * hidden.std(axis=0).max())
    assert np.all(var > 0)
    assert reg.score(X, Y_REG) > 0.8


def test_residual_connections():
    """Equal widths: each hidden layer after the first adds its input (identity skip)."""
    reg = _small(MLPRegressor, hidden_layer_sizes=(8, 8, 8), activation="tanh",
                 residual=True, max_iter=40).fit(X, Y_REG)
    assert_allclose(reg.predict(X), _numpy_forward(reg, X, np.tanh, residual=True).ravel(),
                    rtol=1e-10, atol=1e-12)
    plain = _small(MLPRegressor, hidden_layer_sizes=(8, 8, 8), activation="tanh",
                   max_iter=40).fit(X, Y_REG)
    assert_allclose(plain.predict(X), _numpy_forward(plain, X, np.tanh).ravel(),
                    rtol=1e-10, atol=1e-12)
    # unequal widths train too
    assert _small(MLPRegressor, hidden_layer_sizes=(8, 6), residual=True, max_iter=40,
                  learning_rate_init=0.01).fit(X, Y_REG).score(X, Y_REG) > 0.8


@pytest.mark.parametrize("penalty", ["l1", "alpha"])
def test_penalties_and_their_scale(penalty):
    """The penalty gradient is l1 * sign(W) / n or alpha * W / n (n = the batch's rows, as
    scikit-learn scales alpha), on the weights only: one SGD step from the same weights
    with and without the penalty differs by exactly lr times that. The penalty follows
    set_params in a warm start (scikit-learn reads alpha at each step too)."""
    base, with_penalty = _warm_base(), _warm_base()
    W = [w.copy() for w in base.coefs_]
    strength = 3.0
    base.set_params(max_iter=1, alpha=0.0).fit(X, 5 * Y_REG)
    with_penalty.set_params(**{"max_iter": 1, "alpha": 0.0, penalty: strength})
    with_penalty.fit(X, 5 * Y_REG)
    n = X.shape[0]
    for w, a, b in zip(W, base.coefs_, with_penalty.coefs_):
        grad = np.sign(w) if penalty == "l1" else w
        assert_allclose(b - a, -0.1 * strength * grad / n, rtol=1e-9, atol=1e-14)
    for a, b in zip(base.intercepts_, with_penalty.intercepts_):
        assert_array_equal(a, b)
    # the reported loss includes the penalty at the starting weights of the epoch
    norm = sum(np.abs(w).sum() if penalty == "l1" else 0.5 * (w ** 2).sum() for w in W)
    assert with_penalty.loss_ - base.loss_ == pytest.approx(strength * norm / n, rel=1e-9)


def _initial_weights(init, activation="relu"):
    """The weights right after initialisation: one epoch of Adam at lr 1e-12 (each weight
    moves by at most ~1e-12)."""
    rng = np.random.RandomState(0)
    Xi, yi = rng.standard_normal((50, 100)), rng.standard_normal(50)
    reg = MLPRegressor(hidden_layer_sizes=(200,), activation=activation, init=init,
                       learning_rate_init=1e-12, max_iter=1, random_state=0, n_threads=1)
    return reg.fit(Xi, yi)


@pytest.mark.parametrize("init, kind, scale", [
    ("glorot_uniform", "uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("glorot_normal", "normal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ("he_uniform", "uniform", lambda fi, fo: math.sqrt(6 / fi)),
    ("he_normal", "normal", lambda fi, fo: math.sqrt(2 / fi)),
    ("lecun_normal", "normal", lambda fi, fo: math.sqrt(1 / fi)),
])
def test_init_distributions(init, kind, scale):
    """torch.nn.init's formulas (gain 1 for Glorot, sqrt(2) for He); biases start at 0."""
    W = _initial_weights(init).coefs_[0]
    fan_in, fan_out = W.shape
    s = scale(fan_in, fan_out)
    if kind == "uniform":      # U(-s, s): bounded by s, standard deviation s / sqrt(3)
        assert np.abs(W).max() <= s and np.abs(W).max() > 0.99 * s
        assert W.std() == pytest.approx(s / math.sqrt(3), rel=0.05)
    else:
        assert W.std() == pytest.approx(s, rel=0.05)
    assert abs(W.mean()) < 0.05 * s
    assert np.abs(_initial_weights(init).intercepts_[0]).max() < 1e-9


def test_init_aliases_sklearn_auto_and_zeros():
    for alias, name in [("xavier_uniform", "glorot_uniform"), ("xavier_normal", "glorot_normal"),
                        ("kaiming_uniform", "he_uniform"), ("kaiming_normal", "he_normal")]:
        _assert_same_model(_initial_weights(alias), _initial_weights(name))
    # sklearn: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (2 for logistic), biases too
    for activation, factor in [("relu", 6), ("logistic", 2)]:
        est = _initial_weights("sklearn", activation)
        for W, b in zip(est.coefs_, est.intercepts_):
            a = math.sqrt(factor / (W.shape[0] + W.shape[1]))
            assert np.abs(W).max() <= a + 1e-9 and np.abs(W).max() > 0.9 * a
            assert np.abs(b).max() <= a + 1e-9 and np.abs(b).max() > 0.5 * a
    # auto: He for ReLU-like hidden layers, Glorot for the identity output layer
    auto = _initial_weights("auto")
    assert np.abs(auto.coefs_[0]).max() > 0.99 * math.sqrt(6 / 100)
    assert np.abs(auto.coefs_[1]).max() <= math.sqrt(6 / 201)
    # zeros: no gradient reaches any weight (every hidden unit is 0 and so is W1): the
    # weights stay exactly 0, only the output bias learns
    zeros = _small(MLPRegressor, init="zeros", max_iter=20).fit(X, Y_REG)
    assert all(not w.any() for w in zeros.coefs_) and not zeros.intercepts_[0].any()
    assert zeros.intercepts_[1][0] != 0


# ---------------------------------------------------------------------------------------------
# scikit-learn tooling: Pipeline, GridSearchCV, cross_val_score, clone, pickle, joblib.

def test_pipeline_and_grid_search():
    pipe = make_pipeline(StandardScaler(), _small(MLPClassifier, max_iter=50,
                                                  learning_rate_init=0.01))
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                                 "mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3)
    search.fit(X_MOONS, Y_MOONS)
    assert search.best_score_ > 0.8
    assert set(search.best_params_) == {"mlpclassifier__hidden_layer_sizes",
                                        "mlpclassifier__alpha"}
    assert search.score(X_MOONS_TEST, Y_MOONS_TEST) > 0.8
    assert search.predict_proba(X_MOONS_TEST).shape == (200, 2)


def test_cross_val_score():
    """Threads here (worker processes would cost seconds of start-up; pickling has its own
    tests): the folds give the same scores as one after the other."""
    reg = make_pipeline(StandardScaler(), _small(MLPRegressor, max_iter=100,
                                                 learning_rate_init=0.01))
    with joblib.parallel_backend("threading", n_jobs=2):
        scores = cross_val_score(reg, X_WAVE, Y_WAVE, cv=3, n_jobs=2)
    assert scores.shape == (3,) and np.all(scores > 0.8)
    serial = cross_val_score(reg, X_WAVE, Y_WAVE, cv=3)
    assert_array_equal(scores, serial)


def test_clone_and_params():
    est = MLPClassifier(hidden_layer_sizes=(5, 3), activation="gelu", solver="nadam",
                        dropout=0.1, lr_schedule="cosine", lr_schedule_params={"T_max": 4},
                        callbacks=[len], augment=0.1, class_weight="balanced")
    params = est.get_params()
    assert params["activation"] == "gelu" and params["lr_schedule_params"] == {"T_max": 4}
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    fitted = _small(MLPClassifier).fit(X, Y_BIN)
    assert not hasattr(clone(fitted), "coefs_")


@pytest.mark.parametrize("problem", ["multiclass", "regression2"])
def test_pickle_round_trip(problem):
    y = TARGETS[problem]
    est = _small(_est(problem), batch_norm=True).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    assert hasattr(est, "coefs_")        # pickling leaves the original as it was
    _assert_same_model(loaded, est)
    # coefs_ are views into the loaded network's one buffer again
    assert all(np.shares_memory(w, loaded.network_.params) for w in _weights(loaded))
    assert_array_equal(loaded.predict(X), est.predict(X))
    # and it keeps training where the original would
    est.set_params(warm_start=True, max_iter=3)
    loaded.set_params(warm_start=True, max_iter=3)
    _assert_same_model(loaded.fit(X, y), est.fit(X, y))


def test_joblib_mmap_load_predict_and_warm_start(tmp_path):
    """joblib.load(mmap_mode="r") hands back read-only memory maps: prediction works on
    them, and a warm start trains a writable copy (exactly as the original would)."""
    params = dict(hidden_layer_sizes=(40, 20), batch_norm=True, max_iter=3)
    clf = _small(MLPClassifier, **params).fit(X, Y_MULTI)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path, mmap_mode="r")
    assert isinstance(loaded.network_.params, np.memmap)
    assert not loaded.network_.params.flags.writeable
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert_array_equal(loaded.predict(X), clf.predict(X))

    loaded.set_params(warm_start=True, max_iter=2).fit(X, Y_MULTI)
    assert loaded.network_.params.flags.writeable
    assert loaded.n_iter_ == 2 and len(loaded.loss_curve_) == 5
    _assert_same_model(loaded, _small(MLPClassifier, **dict(params, max_iter=5)).fit(X,
                                                                                   Y_MULTI))
    # partial_fit on a fresh read-only load too; the file on disk is untouched
    again = joblib.load(path, mmap_mode="r")
    again.partial_fit(X, Y_MULTI)
    assert again.t_ == 4 * 120
    _assert_same_model(joblib.load(path), clf)


# ---------------------------------------------------------------------------------------------
# Bad input: a clear ValueError/TypeError, raised before any state changes.

def _bad_fit_cases():
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    X_inf = X.copy()
    X_inf[5, 0] = np.inf
    y_nan = Y_REG.copy()
    y_nan[2] = np.nan
    return [
        ("nan in X", MLPRegressor, X_nan, Y_REG, ValueError, "NaN"),
        ("inf in X", MLPClassifier, X_inf, Y_BIN, ValueError, "infinity"),
        ("nan in y", MLPRegressor, X, y_nan, ValueError, "NaN"),
        ("1-D X", MLPRegressor, X[:, 0], Y_REG, ValueError, "2D array"),
        ("0 samples", MLPClassifier, X[:0], Y_BIN[:0], ValueError, "0 sample"),
        ("0 features", MLPRegressor, X[:, :0], Y_REG, ValueError, "0 feature"),
        ("complex X", MLPRegressor, X + 1j, Y_REG, ValueError, "Complex"),
        ("strings in X", MLPClassifier, np.full((120, 2), "a", dtype=object), Y_BIN,
         ValueError, "convert"),
        ("continuous y", MLPClassifier, X, Y_REG, ValueError, "Unknown label type"),
        ("y of the wrong length", MLPRegressor, X, Y_REG[:-1], ValueError,
         "inconsistent numbers of samples"),
        ("negative y for poisson", "poisson", X, Y_REG, ValueError, "non-negative"),
    ]


@pytest.mark.parametrize("case", _bad_fit_cases(), ids=lambda c: c[0])
def test_bad_input_in_fit(case):
    _, Est, X_bad, y_bad, error, match = case
    est = MLPRegressor(loss="poisson") if Est == "poisson" else Est()
    with pytest.raises(error, match=match):
        est.fit(X_bad, y_bad)
    assert not [k for k in vars(est) if k.endswith("_")]      # still unfitted


def test_bad_input_leaves_a_fitted_model_unchanged():
    clf = _small(MLPClassifier).fit(X, Y_MULTI)
    reg = _small(MLPRegressor).fit(X, Y_REG)
    snapshot = {id(e): (e.network_.params.copy(), e.n_iter_, list(e.loss_curve_))
                for e in (clf, reg)}
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    attempts = [
        (ValueError, "NaN", lambda: reg.fit(X_nan, Y_REG)),
        (ValueError, "NaN", lambda: reg.partial_fit(X_nan, Y_REG)),
        (ValueError, "NaN", lambda: clf.predict(X_nan)),
        (ValueError, "features", lambda: clf.predict(X[:, :4])),
        (ValueError, "features", lambda: reg.partial_fit(X[:, :4], Y_REG)),
        (ValueError, "2D array", lambda: reg.predict(X[0])),
        (ValueError, "classes not in", lambda: clf.partial_fit(X, Y_MULTI + 7)),
        (ValueError, "hidden_layer_sizes", lambda: clf.set_params(
            hidden_layer_sizes=(0,)).fit(X, Y_MULTI)),
        (ValueError, "learning_rate_init", lambda: reg.set_params(
            learning_rate_init=-1.0).fit(X, Y_REG)),
        (TypeError, "no hyper-parameter", lambda: reg.set_params(
            learning_rate_init=0.001, solver_params={"rho": 0.9}).fit(X, Y_REG)),
    ]
    for error, match, attempt in attempts:
        with pytest.raises(error, match=match):
            attempt()
    for e in (clf, reg):
        params, n_iter, curve = snapshot[id(e)]
        assert_array_equal(e.network_.params, params)
        assert e.n_iter_ == n_iter and e.loss_curve_ == curve
        assert e.n_features_in_ == 5


def test_data_variants_that_must_work():
    """Fortran order, read-only arrays, lists, int data, one sample, one feature, a 2-D
    column y (with scikit-learn's DataConversionWarning)."""
    ref = _small(MLPRegressor).fit(X, Y_REG)
    _assert_same_model(_small(MLPRegressor).fit(np.asfortranarray(X), Y_REG), ref)
    ro = X.copy()
    ro.flags.writeable = False
    _assert_same_model(_small(MLPRegressor).fit(ro, Y_REG), ref)
    _assert_same_model(_small(MLPRegressor).fit(X.tolist(), Y_REG.tolist()), ref)
    assert ref.predict(ro).shape == (120,)
    with pytest.warns(DataConversionWarning):
        col = _small(MLPRegressor).fit(X, Y_REG[:, None])
    _assert_same_model(col, ref)
    assert _small(MLPClassifier).fit(X[:, :1], Y_BIN).predict(X[:, :1]).shape == (120,)
    assert _small(MLPRegressor).fit(X[:1], Y_REG[:1]).predict(X[:2]).shape == (2,)
    one_class = _small(MLPClassifier).fit(X, np.full(120, 7))
    assert_array_equal(one_class.predict(X[:3]), [7, 7, 7])


INVALID_PARAMS = [
    ("hidden_layer_sizes", (3, 0), ValueError, "hidden_layer_sizes"),
    ("activation", "softmax", ValueError, "activation"),
    ("activation", "nope", ValueError, "activation"),
    ("solver", "newton", ValueError, "solver"),
    ("alpha", -1.0, ValueError, "alpha"),
    ("batch_size", 0, ValueError, "batch_size"),
    ("learning_rate_init", 0.0, ValueError, "learning_rate_init"),
    ("max_iter", 0, ValueError, "max_iter"),
    ("momentum", 1.5, ValueError, "momentum"),
    ("beta_2", 1.0, ValueError, "beta_2"),
    ("validation_fraction", 1.0, ValueError, "validation_fraction"),
    ("dropout", 1.0, ValueError, "dropout"),
    ("l1", -0.1, ValueError, "l1"),
    ("init", "orthogonal", ValueError, "init"),
    ("clip_norm", 0.0, ValueError, "clip_norm"),
    ("clip_value", -1.0, ValueError, "clip_value"),
    ("lr_schedule", "warmup", ValueError, "lr_schedule"),
    ("augment", -0.1, ValueError, "augment"),
    ("n_threads", 0, ValueError, "n_threads"),
    ("callbacks", [print, 3], TypeError, "callables"),
    ("solver_params", {"weight_decay": -1.0}, ValueError, "weight_decay"),
    ("activation_params", {"negative_slope": "x"}, TypeError, "negative_slope"),
    ("loss", "hinge", ValueError, "loss"),                        # a classifier loss
    ("loss_params", {"delta": -1.0}, ValueError, "delta"),
]


@pytest.mark.parametrize("name, value, error, match", INVALID_PARAMS,
                         ids=[f"{c[0]}={c[1]!r}" for c in INVALID_PARAMS])
def test_invalid_hyperparameters_raise_in_fit(name, value, error, match):
    params = {"max_iter": 5}
    params.update({"activation": "leaky_relu"} if name == "activation_params" else {})
    params.update({"loss": "huber"} if name == "loss_params" else {})
    params[name] = value
    est = MLPRegressor(**params)                       # __init__ only stores
    assert est.get_params()[name] is value
    with pytest.raises(error, match=match):
        est.fit(X, Y_REG)
    assert not [k for k in vars(est) if k.endswith("_")]
    if name != "solver":                               # (newton has no partial_fit)
        with pytest.raises(error, match=match):
            MLPRegressor(**params).partial_fit(X, Y_REG)


# ---------------------------------------------------------------------------------------------
# Divergence and Ctrl-C.

def _diverging(**params):
    """SGD with a learning rate of 10 on features and targets of size ~1e3."""
    return MLPRegressor(**dict(dict(solver="sgd", learning_rate_init=10.0, max_iter=5,
                                    hidden_layer_sizes=(8,), batch_size=10, n_threads=1,
                                    random_state=0), **params))


def test_divergence_in_the_first_epoch_leaves_the_estimator_unfitted():
    reg = _diverging()
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights") \
            as info:
        reg.fit(X * 1e3, Y_REG * 1e3)
    message = str(info.value)
    assert "epoch 1" in message
    assert "lower learning_rate_init" in message and "clip_norm" in message
    assert not [k for k in vars(reg) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        reg.predict(X)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_divergence_keeps_the_previous_model(how):
    """A diverging call leaves the model it started from, finite and usable, whether it
    diverges in its first epoch or after finite epochs (whose weights have exploded: the
    last finite epoch of the second run predicts inf)."""
    reg = _small(MLPRegressor, solver="sgd", learning_rate_init=1e-3, max_iter=5,
                 warm_start=True).fit(X, Y_REG)
    before = reg.network_.params.copy()
    curve, predictions = list(reg.loss_curve_), reg.predict(X)

    def call():
        if how == "warm_start":
            reg.fit(X_big, y_big)
        else:
            for _ in range(200):
                reg.partial_fit(X_big, y_big)

    for params, X_big, y_big in [
            (dict(learning_rate_init=10.0, batch_size=10), X * 1e3, Y_REG * 1e3),  # at once
            (dict(learning_rate_init=0.05, momentum=0.99, batch_size="auto", max_iter=200),
             X * 3, Y_REG * 30)]:                                          # after 5 epochs
        reg.set_params(**params)
        with pytest.raises(ValueError, match="non-finite parameter weights.*previous state"):
            call()
        if how == "warm_start":
            assert_array_equal(reg.network_.params, before)
            assert reg.loss_curve_ == curve and reg.n_iter_ == 5
            assert_array_equal(reg.predict(X), predictions)
        # (partial_fit: each call is all or nothing, so the calls before the diverging one
        # stay, and with the slow blow-up their weights are huge, yet finite)
        assert np.isfinite(reg.network_.params).all()
        assert np.isfinite(reg.loss_curve_).all()


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("Est", [MLPRegressor, MLPClassifier])
def test_nonfinite_params(Est, solver):
    """scikit-learn's test_nonfinite_params: features near the float64 maximum."""
    rng = np.random.RandomState(0)
    X_huge = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(10)
    if Est is MLPClassifier:
        y = (y > 0).astype(int)
    est = Est(solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            est.fit(X_huge, y)
        except ValueError as exc:
            assert str(exc).startswith("Solver produced non-finite parameter weights. The "
                                       "input data may contain large values and need to be "
                                       "preprocessed.")
        else:
            # (a clipped cross-entropy can stay finite; scikit-learn's case, the regressor,
            # must raise)
            assert Est is MLPClassifier
    # unfitted, or the model of the last finite epoch: never a non-finite model
    if hasattr(est, "network_"):
        assert np.isfinite(est.network_.params).all()
        assert np.isfinite(est.predict(X[:, :2])).all()
    else:
        assert not [k for k in vars(est) if k.endswith("_")]


def _sigint():
    signal.raise_signal(signal.SIGINT)


@pytest.fixture
def sigint_guard():
    """A SIGINT handler that records instead of raising KeyboardInterrupt, for the Ctrl-C
    tests: should fit not catch the signal, the test fails instead of the whole session
    being interrupted. Returns the list of signals it caught."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    yield caught
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_ctrl_c_in_a_callback_keeps_the_model(solver, sigint_guard):
    handler = signal.getsignal(signal.SIGINT)

    def interrupt_at_three(history):
        if len(history["loss"]) == 3:
            _sigint()

    with pytest.warns(UserWarning, match="interrupted"):
        reg = _small(MLPRegressor, solver=solver, max_iter=50, tol=0.0,
                     callbacks=interrupt_at_three).fit(X, Y_REG)
    # the stochastic loop checks for Ctrl-C after the callbacks of the epoch; L-BFGS at the
    # start of its next iteration's report
    assert reg.n_iter_ == (3 if solver == "adam" else 4)
    assert np.isfinite(reg.predict(X)).all()
    assert signal.getsignal(signal.SIGINT) is handler      # the handler is restored
    assert sigint_guard == []                              # fit caught the signal
    if solver == "adam":
        assert len(reg.loss_curve_) == 3


def test_an_ignored_sigint_stays_ignored():
    """A process that ignores SIGINT (a job a shell started in the background) keeps
    ignoring it while fitting: the signal neither stops training nor raises."""
    def interrupt_at_two(history):
        if len(history["loss"]) == 2:
            _sigint()

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptFlag() as flag:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            _sigint()
        assert not flag.interrupted
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no "interrupted" warning
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg = _small(MLPRegressor, max_iter=4, tol=0.0,
                         callbacks=interrupt_at_two).fit(X, Y_REG)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert reg.n_iter_ == 4


def test_ctrl_c_in_the_middle_of_an_epoch(sigint_guard):
    """SIGINT during the 5th minibatch of the 3rd epoch (an augment callable runs for each
    batch): training stops after that minibatch, the epoch counts with its 50 rows."""
    calls = []

    def augment(X_batch, rng):
        calls.append(len(X_batch))
        if len(calls) == 2 * 12 + 5:
            os.kill(os.getpid(), signal.SIGINT)
        return X_batch

    with pytest.warns(UserWarning, match="interrupted"):
        clf = _small(MLPClassifier, batch_size=10, max_iter=20,
                     augment=augment).fit(X, Y_BIN)
    assert len(calls) == 29 and sigint_guard == []
    assert clf.n_iter_ == 3 and clf.t_ == 2 * 120 + 50
    assert clf.predict(X).shape == (120,)


def test_ctrl_c_with_early_stopping_keeps_the_best_model(sigint_guard):
    def interrupt_at_six(history):
        if len(history["loss"]) == 6:
            _sigint()

    with pytest.warns(UserWarning, match="interrupted"):
        clf = _small(MLPClassifier, early_stopping=True, max_iter=50, n_iter_no_change=50,
                     learning_rate_init=0.05, callbacks=interrupt_at_six).fit(X, Y_BIN)
    assert clf.n_iter_ == 6 and sigint_guard == []
    X_val, y_val = _sklearn_validation_split((8,), X, Y_BIN, seed=0)
    assert clf.score(X_val, y_val) == clf.best_validation_score_ == max(
        clf.validation_scores_)


def test_ctrl_c_in_the_first_minibatch(sigint_guard):
    """Even the first minibatch's step is kept: a fresh estimator comes out fitted, with
    one (partial) epoch of 10 rows."""
    def augment(X_batch, rng):
        _sigint()
        return X_batch

    fresh = _small(MLPClassifier, augment=augment, batch_size=10)
    with pytest.warns(UserWarning, match="interrupted by user after 1 epochs"):
        fresh.fit(X, Y_BIN)
    assert fresh.n_iter_ == 1 and fresh.t_ == 10 and sigint_guard == []
    assert fresh.predict(X).shape == (120,)


# ---------------------------------------------------------------------------------------------
# scikit-learn's estimator checks, on the defaults and on configurations that exercise the
# toolbox. (The delta-rule estimators have theirs in test_linear.py.)

CHECKED = [
    MLPClassifier(max_iter=50),
    MLPRegressor(max_iter=50),
    MLPClassifier(solver="lbfgs", max_iter=50, n_threads=1),
    MLPRegressor(solver="lbfgs", max_iter=50, n_threads=1),
    MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", batch_norm=True, dropout=0.1,
                  max_iter=50, n_threads=1),
    MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", batch_norm=True, dropout=0.1,
                 max_iter=50, n_threads=1),
    MLPClassifier(loss="hinge", max_iter=50, n_threads=1),
    MLPClassifier(loss="focal", max_iter=50, n_threads=1),
    MLPClassifier(hidden_layer_sizes=(32, 32), activation="gelu", residual=True,
                  solver="nadam", init="auto", l1=1e-4, clip_norm=1.0,
                  learning_rate_init=0.01, lr_schedule="cosine",
                  lr_schedule_params={"T_max": 100}, max_iter=50, n_threads=1),
    MLPRegressor(hidden_layer_sizes=(16,), activation="selu", init="lecun_normal",
                 solver="sgd", learning_rate_init=0.01, clip_value=1.0, max_iter=50,
                 n_threads=1),
    MLPClassifier(augment=0.05, max_iter=50, n_threads=1),
]

_NOT_A_REWEIGHTING = (
    "{what}: a sample weight of 2 is not a duplicated row here, so fitting with integer "
    "weights differs from fitting on the repeated rows (and the check compares to 1e-7)")


def _expected_failed_checks(est):
    failed = {}
    causes = [cause for option, cause in [
        (est.dropout, "dropout masks are drawn per row"),
        (est.batch_norm, "batch statistics count each repeated row"),
        (est.augment is not None, "input noise is drawn per row")] if option]
    if causes:
        what = ", ".join(causes)
        for check in ("check_sample_weight_equivalence_on_dense_data",
                      "check_sample_weight_equivalence_on_sparse_data"):
            failed[check] = _NOT_A_REWEIGHTING.format(what=what)
    if est.dropout and isinstance(est, MLPClassifier):
        failed["check_class_weight_classifiers"] = (
            "the check weights one class 1e7 times the other: the weighted training loss is "
            "then carried by a few rows and dropout makes it noisy, so scikit-learn's "
            "stopping rule on the training loss (tol, n_iter_no_change=20) ends the fit "
            "before the heavy class is learnt")
    return failed


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
