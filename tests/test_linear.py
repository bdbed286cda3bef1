"""The delta rule (fastnn.linear): convergence to least squares, the kernel against NumPy,
Adaline classification, partial_fit, bad input, divergence, scikit-learn's estimator checks."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn._core._linear import lms_epoch
from fastnn.linear import DeltaRuleClassifier, DeltaRuleRegressor

DTYPES = [np.float64, np.float32]


def _standardized(n_samples, n_features, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    return (X - X.mean(axis=0)) / X.std(axis=0), rng


def _lstsq(X, y):
    """Least squares with an intercept column: (coef, intercept)."""
    A = np.c_[X, np.ones(X.shape[0])]
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    return sol[:-1], sol[-1]


# ---------------------------------------------------------------------------------------------
# Convergence to numpy.linalg.lstsq.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size, lr", [(1, 0.05), (16, 0.2), ("full", 0.5)])
def test_noiseless_converges_to_lstsq(batch_size, lr, dtype):
    X, rng = _standardized(200, 5, 0)
    y = X @ rng.standard_normal(5) + 0.7
    coef, intercept = _lstsq(X, y)
    reg = DeltaRuleRegressor(learning_rate=lr, batch_size=batch_size, max_iter=3000, tol=0,
                             random_state=0)
    reg.fit(X.astype(dtype), y)
    assert reg.coef_.dtype == dtype and reg.coef_.shape == (5,)
    assert np.isscalar(reg.intercept_) or np.ndim(reg.intercept_) == 0
    np.testing.assert_allclose(reg.coef_, coef, atol=1e-4, rtol=0)
    assert abs(reg.intercept_ - intercept) < 1e-4
    assert reg.loss_curve_[-1] < 1e-10
    assert reg.n_iter_ == len(reg.loss_curve_) < 3000  # stopped by tol, no warning needed
    assert reg.t_ == 200 * reg.n_iter_
    assert reg.score(X.astype(dtype), y) > 1 - 1e-8


@pytest.mark.parametrize("dtype", DTYPES)
def test_noisy_tracks_lstsq(dtype):
    X, rng = _standardized(200, 5, 1)
    sigma = 0.5
    y = X @ rng.standard_normal(5) - 0.3 + sigma * rng.standard_normal(200)
    coef, intercept = _lstsq(X, y)
    mse_opt = np.mean((X @ coef + intercept - y) ** 2)

    # Full-batch gradient descent minimises the same quadratic as lstsq: it converges to the
    # lstsq solution itself, noise or not.
    full = DeltaRuleRegressor(learning_rate=0.5, batch_size="full", max_iter=3000, tol=0)
    full.fit(X.astype(dtype), y)
    np.testing.assert_allclose(full.coef_, coef, atol=1e-4, rtol=0)
    assert abs(full.intercept_ - intercept) < 1e-4

    # Online LMS with a constant step never settles: each update follows one noisy sample, so
    # the weights hover around the optimum. Widrow's misadjustment gives the excess mean
    # squared error over the optimum as about M = lr tr(R) / 2 (R = E[x x^T] of the inputs
    # with the constant 1 for the intercept; tr(R) = 5 + 1 = 6 for standardized features):
    # with lr = 0.002, M ~ 0.6%, so the training MSE must be within 1% of lstsq's, while the
    # weights stay within a small distance (excess MSE = (w - w*)^T R (w - w*) ~ M sigma^2,
    # i.e. |w - w*| ~ sqrt(0.006 * 0.25) ~ 0.04; we allow 0.1).
    online = DeltaRuleRegressor(learning_rate=0.002, max_iter=300, tol=None, random_state=0)
    online.fit(X.astype(dtype), y)
    mse = np.mean((online.predict(X) - y) ** 2)
    assert mse_opt <= mse * (1 + 1e-6) and mse < 1.01 * mse_opt
    dist = np.linalg.norm(np.r_[online.coef_ - coef, online.intercept_ - intercept])
    assert dist < 0.1
    # A ten times smaller step hovers about ten times closer (misadjustment is linear in lr).
    fine = clone(online).set_params(learning_rate=0.0002, max_iter=200, warm_start=True)
    fine.fit(X.astype(dtype), y)  # cold start: 200 epochs at the small step
    fine.set_params(max_iter=1).fit(X.astype(dtype), y)  # warm start keeps the weights
    assert len(fine.loss_curve_) == 201
    mse_fine = np.mean((fine.predict(X) - y) ** 2)
    assert mse_fine - mse_opt < 0.5 * (mse - mse_opt) + 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_output(dtype):
    X, rng = _standardized(150, 4, 2)
    W = rng.standard_normal((4, 3))
    Y = X @ W + np.array([1.0, -2.0, 0.5])
    A = np.c_[X, np.ones(150)]
    sol = np.linalg.lstsq(A, Y, rcond=None)[0]
    reg = DeltaRuleRegressor(learning_rate=0.05, max_iter=3000, tol=0, random_state=0)
    reg.fit(X.astype(dtype), Y.astype(dtype))
    assert reg.coef_.shape == (4, 3) and reg.intercept_.shape == (3,)
    assert reg.coef_.dtype == dtype and reg.intercept_.dtype == dtype
    np.testing.assert_allclose(reg.coef_, sol[:-1], atol=1e-4, rtol=0)
    np.testing.assert_allclose(reg.intercept_, sol[-1], atol=1e-4, rtol=0)
    assert reg.predict(X.astype(dtype)).shape == (150, 3)
    # each output of a multi-output fit equals a single-output fit (same order)
    single = DeltaRuleRegressor(learning_rate=0.05, max_iter=5, tol=None, random_state=0)
    multi = clone(single).fit(X, Y)
    one = clone(single).fit(X, Y[:, 1])
    np.testing.assert_allclose(multi.coef_[:, 1], one.coef_, rtol=1e-12, atol=1e-14)


def test_non_float_input_becomes_float64():
    X = np.arange(20).reshape(10, 2) % 3
    reg = DeltaRuleRegressor(max_iter=5, tol=None).fit(X, np.arange(10) % 2)
    assert reg.coef_.dtype == np.float64


# ---------------------------------------------------------------------------------------------
# The kernel against a NumPy transcription of the rule.

def _numpy_epoch(X, T, order, coef, intercept, lr, batch):
    coef, intercept = coef.astype(np.float64), intercept.astype(np.float64)
    total = 0.0
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        E = T[idx] - (X[idx] @ coef + intercept)  # errors with the weights before the update
        total += 0.5 * np.sum(E ** 2)
        coef = coef + lr * (X[idx].T @ E) / len(idx)
        intercept = intercept + lr * E.sum(axis=0) / len(idx)
    return coef, intercept, total / T.size


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 7, 50])
def test_kernel_matches_numpy(batch, dtype):
    X, rng = _standardized(50, 6, 3)
    T = rng.standard_normal((50, 2))
    X, T = X.astype(dtype), T.astype(dtype)
    coef = np.zeros((6, 2), dtype=dtype)
    intercept = np.zeros(2, dtype=dtype)
    ref_coef, ref_icpt = coef.astype(np.float64), intercept.astype(np.float64)
    scratch = np.empty((8, 2))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for epoch in range(4):
        order = rng.permutation(50).astype(np.intp)
        loss = lms_epoch(X, T, order, coef, intercept, 0.05, batch, scratch)
        ref_coef, ref_icpt, ref_loss = _numpy_epoch(X.astype(np.float64), T.astype(np.float64),
                                                    order, ref_coef, ref_icpt, 0.05, batch)
        assert coef.dtype == dtype
        np.testing.assert_allclose(coef, ref_coef, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(intercept, ref_icpt, rtol=rtol, atol=rtol)
        assert loss == pytest.approx(ref_loss, rel=rtol)


# ---------------------------------------------------------------------------------------------
# Adaline.

@pytest.mark.parametrize("dtype", DTYPES)
def test_classifier_separable_binary(dtype):
    X, rng = _standardized(200, 2, 4)
    y = np.where(X @ np.array([1.5, -1.0]) + 0.2 > 0, "yes", "no")
    keep = np.abs(X @ np.array([1.5, -1.0]) + 0.2) > 0.3  # a margin
    X, y = X[keep].astype(dtype), y[keep]
    clf = DeltaRuleClassifier(learning_rate=0.01, max_iter=300, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.coef_.shape == (1, 2) and clf.intercept_.shape == (1,)
    assert clf.coef_.dtype == dtype
    assert clf.score(X, y) == 1.0
    assert set(clf.predict(X)) == {"no", "yes"}
    assert clf.decision_function(X).shape == (len(y),)


def test_classifier_three_blobs_ovr():
    rng = np.random.default_rng(5)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    labels = np.array([10, 20, 30])
    y = np.repeat(labels, 100)
    X = centers[np.repeat([0, 1, 2], 100)] + 0.8 * rng.standard_normal((300, 2))
    clf = DeltaRuleClassifier(learning_rate=0.005, max_iter=200, random_state=0).fit(X, y)
    assert list(clf.classes_) == [10, 20, 30]
    assert clf.coef_.shape == (3, 2) and clf.intercept_.shape == (3,)
    assert clf.decision_function(X).shape == (300, 3)
    assert clf.score(X, y) > 0.9
    assert set(clf.predict(X)) <= set(labels)


# ---------------------------------------------------------------------------------------------
# partial_fit.

@pytest.mark.parametrize("batch_size", [1, 8])
def test_partial_fit_equals_fit_regressor(batch_size):
    X, rng = _standardized(60, 3, 6)
    y = X @ rng.standard_normal(3) + 0.1 * rng.standard_normal(60)
    params = dict(learning_rate=0.03, shuffle=False, batch_size=batch_size)
    pf = DeltaRuleRegressor(**params)
    for _ in range(4):
        pf.partial_fit(X, y)
    fit = DeltaRuleRegressor(max_iter=4, tol=None, **params).fit(X, y)
    np.testing.assert_array_equal(pf.coef_, fit.coef_)
    assert pf.intercept_ == fit.intercept_
    assert pf.loss_curve_ == fit.loss_curve_
    assert pf.n_iter_ == fit.n_iter_ == 4 and pf.t_ == fit.t_ == 240


def test_partial_fit_equals_fit_classifier():
    X, rng = _standardized(90, 2, 7)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    params = dict(learning_rate=0.02, shuffle=False)
    pf = DeltaRuleClassifier(**params)
    for _ in range(3):
        pf.partial_fit(X, y, classes=["c", "a", "b"])
    fit = DeltaRuleClassifier(max_iter=3, tol=None, **params).fit(X, y)
    np.testing.assert_array_equal(pf.classes_, fit.classes_)
    np.testing.assert_array_equal(pf.coef_, fit.coef_)
    np.testing.assert_array_equal(pf.intercept_, fit.intercept_)


def test_partial_fit_classes_rules():
    X, _ = _standardized(20, 2, 8)
    y = np.array([0, 1] * 10)
    clf = DeltaRuleClassifier()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, np.array([0, 5] * 10))
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.n_iter_ == 1


def test_convergence_warning_and_tol_none():
    X, rng = _standardized(50, 2, 9)
    y = X @ np.array([1.0, 2.0]) + rng.standard_normal(50)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        DeltaRuleRegressor(max_iter=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DeltaRuleRegressor(max_iter=2, tol=None).fit(X, y)


def test_determinism_and_pickle():
    X, rng = _standardized(80, 3, 10)
    y = X @ rng.standard_normal(3) + rng.standard_normal(80)
    a = DeltaRuleRegressor(max_iter=10, tol=None, random_state=3).fit(X, y)
    b = DeltaRuleRegressor(max_iter=10, tol=None, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict(X), a.predict(X))


# ---------------------------------------------------------------------------------------------
# Bad input, divergence.

@pytest.mark.parametrize("Est", [DeltaRuleRegressor, DeltaRuleClassifier])
@pytest.mark.parametrize("params, match", [
    (dict(learning_rate=0), "learning_rate"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(max_iter=0), "max_iter"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size="half"), "batch_size"),
    (dict(tol=-1.0), "tol"),
])
def test_invalid_hyperparameters(Est, params, match):
    X, _ = _standardized(20, 2, 11)
    y = np.array([0, 1] * 10)
    est = Est(**params)  # stored unchanged, checked in fit
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    with pytest.raises(ValueError, match=match):
        Est(**params).partial_fit(X, y, **({"classes": [0, 1]} if Est is DeltaRuleClassifier
                                          else {}))
    assert not hasattr(est, "coef_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("Est", [DeltaRuleRegressor, DeltaRuleClassifier])
def test_bad_data(Est):
    X, _ = _standardized(20, 3, 12)
    y = np.array([0, 1] * 10)
    extra = {"classes": [0, 1]} if Est is DeltaRuleClassifier else {}
    est = Est(max_iter=5, tol=None).fit(X, y)
    coef = est.coef_.copy()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(est).fit(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.partial_fit(bad, y, **extra)
    y_bad = y.astype(float)
    y_bad[0] = np.nan
    with pytest.raises(ValueError):
        clone(est).fit(X, y_bad)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2], y, **extra)
    with pytest.raises(ValueError, match="2D array"):
        clone(est).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="sample"):
        clone(est).fit(X[:0], y[:0])
    np.testing.assert_array_equal(est.coef_, coef)
    assert est.n_iter_ == 5 and est.n_features_in_ == 3


def test_single_class_rejected():
    X, _ = _standardized(10, 2, 13)
    with pytest.raises(ValueError, match="class"):
        DeltaRuleClassifier().fit(X, np.ones(10))


@pytest.mark.parametrize("Est", [DeltaRuleRegressor, DeltaRuleClassifier])
def test_divergence_keeps_previous_model(Est):
    X, rng = _standardized(100, 4, 14)
    y = np.where(X[:, 0] > 0, 1, 0) if Est is DeltaRuleClassifier else X @ np.ones(4)
    est = Est(max_iter=20, tol=None, random_state=0).fit(X, y)
    coef, intercept, curve = est.coef_.copy(), np.copy(est.intercept_), list(est.loss_curve_)
    est.set_params(learning_rate=50.0, max_iter=200)
    with pytest.raises(ValueError, match="non-finite.*smaller learning_rate"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.coef_, coef)
    np.testing.assert_array_equal(est.intercept_, intercept)
    assert est.loss_curve_ == curve and est.n_iter_ == 20
    with pytest.raises(ValueError, match="non-finite"):
        for _ in range(200):
            est.partial_fit(X, y, **({"classes": [0, 1]} if Est is DeltaRuleClassifier
                                     else {}))
    assert np.isfinite(est.coef_).all()
    # a fresh estimator that diverges stays unfitted
    fresh = Est(learning_rate=50.0, max_iter=200)
    with pytest.raises(ValueError, match="non-finite"):
        fresh.fit(X, y)
    assert not hasattr(fresh, "coef_") and not hasattr(fresh, "n_features_in_")


# ---------------------------------------------------------------------------------------------
# scikit-learn's estimator checks.

_DIVERGES = ("LMS with a constant learning_rate is stable only for learning_rate < "
             "2 / |x|^2; this check fits features of mean ~100 (|x|^2 ~ 2e4) with the default "
             "0.01, so the run diverges and fit raises, as documented.")
_EXPECTED_FAILED = {
    "check_fit_idempotent": _DIVERGES,
    "check_fit_check_is_fitted": _DIVERGES,
    "check_n_features_in": _DIVERGES,
}


@parametrize_with_checks([DeltaRuleRegressor(), DeltaRuleClassifier()],
                         expected_failed_checks=lambda est: _EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_partial_fit_keeps_fitted_dtype_and_warm_start():
    X, rng = _standardized(40, 3, 15)
    y = X @ rng.standard_normal(3)
    reg = DeltaRuleRegressor().partial_fit(X.astype(np.float32), y)
    reg.partial_fit(X, y)  # float64 data into a float32 model: computed in float32
    assert reg.coef_.dtype == np.float32 and reg.n_iter_ == 2 and reg.t_ == 80
    warm = DeltaRuleRegressor(max_iter=3, tol=None, shuffle=False, warm_start=True)
    warm.fit(X, y)
    warm.fit(X, y)
    cold = DeltaRuleRegressor(max_iter=6, tol=None, shuffle=False).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, cold.coef_)
    assert len(warm.loss_curve_) == 6 and warm.n_iter_ == 3


def test_ctrl_c_stops_at_an_epoch_boundary_and_keeps_the_weights():
    """SIGINT (Ctrl-C) during fit: the running epoch finishes, fit returns with a warning
    and the weights trained so far; the estimator is fitted and usable."""
    import os
    import signal
    import threading

    X, rng = _standardized(20000, 5, 16)
    y = X @ rng.standard_normal(5)
    reg = DeltaRuleRegressor(learning_rate=1e-3, max_iter=100000, tol=None)
    # Python's own handler, whatever the test process started with (a process started in
    # the background by a shell ignores SIGINT, and fit leaves an ignored SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            reg.fit(X, y)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert 1 <= reg.n_iter_ < 100000
    assert len(reg.loss_curve_) == reg.n_iter_
    assert reg.score(X, y) > 0.99  # a few epochs of LMS on noiseless data
