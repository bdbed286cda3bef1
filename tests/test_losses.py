"""Tests of fastnn.losses (and through it fastnn._core._losses).

Every expected value comes from a plain NumPy formula written from the definitions (torch's
for the losses it has, torchvision's for focal, Keras' hinge mapping); fastnn never computes
an expected value. References are evaluated in float64 at the (possibly float32-rounded)
inputs. Gradients are checked against central finite differences of value() in float64, and
float32 gradients against the float64 ones at the same inputs.

Tolerances. Each loss term is a handful of floating-point operations (libm/libmvec within
4 ulp) on intermediates whose size is bounded by the term's ``scale`` (1 + |y_true| +
|y_pred| for the test data, plus exp(y_pred) for poisson), and the terms are summed in
double. So a value is within K_EPS * eps * (mean scale) of the reference, and a gradient
element within K_EPS * eps * (|g| + scale / normaliser), eps being the machine epsilon of
the dtype. The largest error measured is about 1 eps (float32 BCE gradient, all kernel
variants); K_EPS = 8 leaves margin without hiding a real error (a wrong formula, constant or
weight is off by far more).
"""
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from fastnn import losses
from fastnn._core import _dispatch
from fastnn.losses import Loss

DTYPES = [np.float32, np.float64]
K_EPS = 8
BIG_ROWS = 15001  # with 3 outputs: 45003 elements, parallel (> 32768), several blocks
VARIANTS = _dispatch.available_variants("_losses")


# ---------------------------------------------------------------------------------------------
# NumPy references, written from the definitions.

def mean_elements(L, sw):
    """Element-wise reduction: mean over all elements, or weighted by sample."""
    L = L.reshape(L.shape[0], -1)
    if sw is None:
        return L.mean()
    return (sw[:, None] * L).sum() / (sw.sum() * L.shape[1])


def mean_rows(l, sw):
    """Distribution reduction: per-sample losses averaged over samples."""
    return l.mean() if sw is None else (sw * l).sum() / sw.sum()


def log_sigmoid(x):
    return -np.logaddexp(0, -x)


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def ref_mse(yt, yp, sw, p):
    return mean_elements((yp - yt) ** 2, sw)


def ref_mae(yt, yp, sw, p):
    return mean_elements(np.abs(yp - yt), sw)


def ref_huber(yt, yp, sw, p):
    d = p.get("delta", 1.0)
    r = np.abs(yp - yt)
    return mean_elements(np.where(r < d, 0.5 * r * r, d * (r - 0.5 * d)), sw)


def ref_pseudo_huber(yt, yp, sw, p):
    d = p.get("delta", 1.0)
    return mean_elements(d * d * (np.sqrt(1 + ((yp - yt) / d) ** 2) - 1), sw)


def ref_log_cosh(yt, yp, sw, p):
    return mean_elements(np.log(np.cosh(yp - yt)), sw)


def ref_poisson(yt, yp, sw, p):
    return mean_elements(np.exp(yp) - yt * yp, sw)


def ref_bce(yt, yp, sw, p):
    return mean_elements(-(yt * np.maximum(np.log(yp), -100)
                           + (1 - yt) * np.maximum(np.log(1 - yp), -100)), sw)


def ref_sigmoid_ce(yt, yp, sw, p):
    pw = p.get("pos_weight")
    pw = 1.0 if pw is None else np.asarray(pw, dtype=np.float64)
    return mean_elements(-(pw * yt * log_sigmoid(yp) + (1 - yt) * log_sigmoid(-yp)), sw)


def ref_hinge(yt, yp, sw, p):
    y = 2 * yt - 1 if np.isin(yt, [0, 1]).all() else yt
    return mean_elements(np.maximum(1 - y * yp, 0), sw)


def ref_focal(yt, yp, sw, p):
    alpha, gamma = p.get("alpha", 0.25), p.get("gamma", 2.0)
    prob = np.exp(log_sigmoid(yp))
    ce = -(yt * log_sigmoid(yp) + (1 - yt) * log_sigmoid(-yp))
    p_t = prob * yt + (1 - prob) * (1 - yt)
    L = ce * (1 - p_t) ** gamma
    if alpha is not None:
        L = (alpha * yt + (1 - alpha) * (1 - yt)) * L
    return mean_elements(L, sw)


def ref_categorical(yt, yp, sw, p):
    return mean_rows(-(yt * np.log(yp)).sum(axis=1), sw)


def ref_kl(yt, yp, sw, p):
    safe = np.where(yt > 0, yt, 1.0)
    return mean_rows(np.where(yt > 0, yt * np.log(safe / yp), 0.0).sum(axis=1), sw)


def ref_sparse(labels, yp, sw, p):
    return mean_rows(-np.log(yp[np.arange(len(labels)), labels]), sw)


def ref_softmax(yt, yp, sw, p):
    """torch CrossEntropyLoss: labels (1-D) or dense targets; class weight normalised by the
    total weight of the targets (see fastnn.losses.SoftmaxCrossentropy)."""
    lsm = log_softmax(yp)
    targets = np.eye(yp.shape[1])[yt] if yt.ndim == 1 else yt
    w = p.get("weight")
    c = targets if w is None else targets * np.asarray(w, dtype=np.float64)
    s = np.ones(yp.shape[0]) if sw is None else sw
    per_sample = -(c * lsm).sum(axis=1)
    if w is None:
        return (s * per_sample).sum() / s.sum()
    return (s * per_sample).sum() / (s * c.sum(axis=1)).sum()


# ---------------------------------------------------------------------------------------------
# Test data, kept away from kinks (|r| = 0 for mae, |r| = delta for huber, margin 0 for hinge)
# so that finite differences are valid.

def _signed(rng, shape, low, high):
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def gen_regression(rng, shape, p):
    yt = rng.standard_normal(shape)
    r = _signed(rng, shape, 0.05, 3.0)
    d = p.get("delta", 1.0)
    r = np.where(np.abs(np.abs(r) - d) < 0.02, r + 0.05 * np.sign(r), r)
    return yt, yt + r


def gen_counts(rng, shape, p):
    return rng.poisson(2.0, shape).astype(np.float64), rng.uniform(-2, 2, shape)


def _binary_targets(rng, shape):
    """Half hard {0, 1} targets, half soft ones in (0, 1)."""
    hard = rng.integers(0, 2, shape).astype(np.float64)
    soft = rng.uniform(0, 1, shape)
    return np.where(rng.uniform(size=shape) < 0.5, hard, soft)


def gen_binary_probabilities(rng, shape, p):
    return _binary_targets(rng, shape), rng.uniform(0.05, 0.95, shape)


def gen_hard_binary_probabilities(rng, shape, p):
    """Hard {0, 1} targets only: binary_crossentropy's one-log path."""
    return rng.integers(0, 2, shape).astype(np.float64), rng.uniform(0.05, 0.95, shape)


def gen_binary_logits(rng, shape, p):
    return _binary_targets(rng, shape), rng.uniform(-4, 4, shape)


def gen_hard_binary_logits(rng, shape, p):
    """Hard {0, 1} targets only: focal's hard-label path."""
    return rng.integers(0, 2, shape).astype(np.float64), rng.uniform(-4, 4, shape)


def gen_hinge(rng, shape, p, labels=(0.0, 1.0)):
    yt = rng.choice(labels, shape)
    signed = np.where(yt == 0, -1.0, yt)
    margin = _signed(rng, shape, 0.1, 2.0)
    return yt, signed * (1 - margin)


def gen_hinge_pm1(rng, shape, p):
    return gen_hinge(rng, shape, p, labels=(-1.0, 1.0))


def _probability_rows(rng, shape):
    q = rng.dirichlet(np.ones(shape[1]), shape[0])
    return 0.8 * q + 0.2 / shape[1]  # rows sum to 1, entries >= 0.2 / n_classes


def gen_distributions(rng, shape, p):
    return rng.dirichlet(np.ones(shape[1]), shape[0]), _probability_rows(rng, shape)


def gen_sparse(rng, shape, p):
    return rng.integers(0, shape[1], shape[0]), _probability_rows(rng, shape)


def gen_softmax_labels(rng, shape, p):
    return rng.integers(0, shape[1], shape[0]), rng.standard_normal(shape) * 2


def gen_softmax_dense(rng, shape, p):
    return rng.dirichlet(np.ones(shape[1]), shape[0]), rng.standard_normal(shape) * 2


@dataclass
class Case:
    id: str
    name: str
    ref: Callable
    gen: Callable
    params: dict = field(default_factory=dict)
    two_d_only: bool = False  # distribution losses need (n_samples, n_classes)
    labels: bool = False  # y_true is integer labels
    exp_scale: bool = False  # poisson: intermediates as large as exp(y_pred)

    def __str__(self):
        return self.id

    def make(self, n_threads=None):
        return losses.get(self.name, n_threads=n_threads, **self.params)

    def data(self, rng, n_samples, n_outputs, dtype=np.float64):
        shape = (n_samples, n_outputs)
        yt, yp = self.gen(rng, shape, self.params)
        yp = yp.astype(dtype)
        if not self.labels:
            yt = yt.astype(dtype)
        return yt, yp

    def scale(self, yt, yp):
        """Size of the intermediates of each element's loss term (see module docstring)."""
        yt64 = np.zeros(yp.shape) if self.labels else np.abs(yt.astype(np.float64))
        s = 1 + yt64 + np.abs(yp.astype(np.float64))
        if self.exp_scale:
            s = s + np.exp(yp.astype(np.float64))
        return s


PV = np.array([0.5, 2.0, 1.25])  # per-output pos_weight for 3 outputs
CW = np.array([0.3, 2.0, 1.0])  # class weights for 3 classes

CASES = [
    Case("mse", "mse", ref_mse, gen_regression),
    Case("squared_error", "squared_error", ref_mse, gen_regression),
    Case("mae", "mae", ref_mae, gen_regression),
    Case("absolute_error", "absolute_error", ref_mae, gen_regression),
    Case("huber", "huber", ref_huber, gen_regression),
    Case("huber_0.3", "huber", ref_huber, gen_regression, {"delta": 0.3}),
    Case("pseudo_huber", "pseudo_huber", ref_pseudo_huber, gen_regression),
    Case("pseudo_huber_2.5", "pseudo_huber", ref_pseudo_huber, gen_regression,
         {"delta": 2.5}),
    Case("log_cosh", "log_cosh", ref_log_cosh, gen_regression),
    Case("poisson", "poisson", ref_poisson, gen_counts, exp_scale=True),
    Case("bce", "binary_crossentropy", ref_bce, gen_binary_probabilities),
    Case("bce_hard", "binary_crossentropy", ref_bce, gen_hard_binary_probabilities),
    Case("sigmoid_ce", "sigmoid_crossentropy", ref_sigmoid_ce, gen_binary_logits),
    Case("sigmoid_ce_pw", "sigmoid_crossentropy", ref_sigmoid_ce, gen_binary_logits,
         {"pos_weight": 2.5}),
    Case("sigmoid_ce_pw_vector", "sigmoid_crossentropy", ref_sigmoid_ce, gen_binary_logits,
         {"pos_weight": PV}, two_d_only=True),
    Case("hinge_01", "hinge", ref_hinge, gen_hinge),
    Case("hinge_pm1", "hinge", ref_hinge, gen_hinge_pm1),
    Case("focal", "focal", ref_focal, gen_binary_logits),
    Case("focal_no_alpha", "focal", ref_focal, gen_binary_logits, {"alpha": None}),
    Case("focal_hard", "focal", ref_focal, gen_hard_binary_logits),
    Case("focal_hard_no_alpha", "focal", ref_focal, gen_hard_binary_logits, {"alpha": None}),
    Case("focal_0.6_0.5", "focal", ref_focal, gen_binary_logits, {"alpha": 0.6, "gamma": 0.5}),
    Case("focal_gamma0", "focal", ref_focal, gen_binary_logits, {"gamma": 0.0}),
    Case("focal_gamma3.5", "focal", ref_focal, gen_binary_logits, {"alpha": 0.9, "gamma": 3.5}),
    Case("categorical", "categorical_crossentropy", ref_categorical, gen_distributions,
         two_d_only=True),
    Case("kl", "kl_divergence", ref_kl, gen_distributions, two_d_only=True),
    Case("sparse", "sparse_categorical_crossentropy", ref_sparse, gen_sparse,
         two_d_only=True, labels=True),
    Case("softmax_labels", "softmax_crossentropy", ref_softmax, gen_softmax_labels,
         two_d_only=True, labels=True),
    Case("softmax_labels_weight", "softmax_crossentropy", ref_softmax, gen_softmax_labels,
         {"weight": CW}, two_d_only=True, labels=True),
    Case("softmax_dense", "softmax_crossentropy", ref_softmax, gen_softmax_dense,
         two_d_only=True),
    Case("softmax_dense_weight", "softmax_crossentropy", ref_softmax, gen_softmax_dense,
         {"weight": CW}, two_d_only=True),
]
ELEMENTWISE = [c for c in CASES if not c.two_d_only]
CASE_BY_ID = {c.id: c for c in CASES}


def shapes_for(case):
    """(n_samples, n_outputs, one_d) combinations a case is tested on."""
    if case.two_d_only:
        return [(40, 3, False)]
    return [(40, 1, True), (40, 3, False)]


def as_shape(a, one_d):
    return a[:, 0] if one_d and a.ndim == 2 else a


def normaliser(case, yt, yp, sw):
    n_samples = yp.shape[0]
    n_outputs = yp.size // n_samples
    total = n_samples if sw is None else sw.sum()
    return total * (1 if case.two_d_only else n_outputs)


def assert_value_close(case, value, yt, yp, sw, dtype):
    ref = case.ref(yt.astype(np.float64) if not case.labels else yt, yp.astype(np.float64),
                   None if sw is None else sw.astype(np.float64), case.params)
    scale = case.scale(yt, yp).mean()
    tol = K_EPS * np.finfo(dtype).eps * scale
    assert abs(value - ref) <= tol, (value, ref, abs(value - ref) / (np.finfo(dtype).eps * scale))


def weights_for(rng, n_samples):
    w = rng.uniform(0.2, 3.0, n_samples)
    w[::7] = 0.0
    return w


# ---------------------------------------------------------------------------------------------
# Values against the references, for every kernel variant this CPU runs.

@pytest.fixture(params=VARIANTS)
def variant(request, monkeypatch):
    """Run the test with each compiled variant (baseline, avx2, avx512) of the kernels."""
    monkeypatch.setattr(losses, "_kernels", _dispatch.load("_losses", isa=request.param))
    return request.param


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_value_matches_reference(case, dtype, weighted, variant):
    rng = np.random.default_rng(0)
    for n_samples, n_outputs, one_d in shapes_for(case):
        yt, yp = case.data(rng, n_samples, n_outputs, dtype)
        yt, yp = as_shape(yt, one_d), as_shape(yp, one_d)
        sw = weights_for(rng, n_samples).astype(dtype) if weighted else None
        loss = case.make()
        assert_value_close(case, loss.value(yt, yp, sample_weight=sw), yt, yp, sw, dtype)
        value, grad = loss.value_and_gradient(yt, yp, sample_weight=sw)
        assert_value_close(case, value, yt, yp, sw, dtype)
        assert grad.shape == yp.shape and grad.dtype == dtype


# ---------------------------------------------------------------------------------------------
# Gradients: central finite differences of value() in float64.

def finite_difference_gradient(loss, yt, yp, sw):
    g = np.empty_like(yp)
    flat_x, flat_g = yp.reshape(-1), g.reshape(-1)
    for i in range(flat_x.size):
        x0 = flat_x[i]
        h = 1e-6 * (1 + abs(x0))
        flat_x[i] = x0 + h
        plus = loss.value(yt, yp, sample_weight=sw)
        flat_x[i] = x0 - h
        minus = loss.value(yt, yp, sample_weight=sw)
        flat_x[i] = x0
        flat_g[i] = (plus - minus) / (2 * h)
    return g


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient_matches_finite_differences(case, weighted):
    rng = np.random.default_rng(1)
    for n_samples, n_outputs, one_d in shapes_for(case):
        n_samples = 8
        yt, yp = case.data(rng, n_samples, n_outputs)
        yt, yp = as_shape(yt, one_d), as_shape(yp, one_d)
        sw = weights_for(rng, n_samples) if weighted else None
        loss = case.make()
        grad = loss.gradient(yt, yp, sample_weight=sw)
        fd = finite_difference_gradient(loss, yt, yp, sw)
        # central differences: truncation ~ h^2 f''' and rounding ~ eps |f| / h, both far
        # below 1e-8 here, where the gradient's entries are ~ 1 / n_elements ~ 0.05
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
        if weighted:
            assert np.all(grad[sw == 0] == 0)  # zero-weight rows get no gradient


@pytest.mark.parametrize("case", CASES, ids=str)
def test_float32_gradient_matches_float64(case):
    rng = np.random.default_rng(2)
    for n_samples, n_outputs, one_d in shapes_for(case):
        yt, yp = case.data(rng, n_samples, n_outputs, np.float32)
        yt, yp = as_shape(yt, one_d), as_shape(yp, one_d)
        loss = case.make()
        g32 = loss.gradient(yt, yp)
        g64 = loss.gradient(yt if case.labels else yt.astype(np.float64), yp.astype(np.float64))
        assert g32.dtype == np.float32
        norm = normaliser(case, yt, yp, None)
        tol = K_EPS * np.finfo(np.float32).eps * (np.abs(g64) + case.scale(yt, yp) / norm)
        assert np.all(np.abs(g32 - g64) <= tol)


# ---------------------------------------------------------------------------------------------
# Threads: 1 and 2 threads give bitwise identical results (chunked reductions).

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_threads_give_identical_results(case, weighted):
    rng = np.random.default_rng(3)
    yt, yp = case.data(rng, BIG_ROWS, 3, np.float32)
    sw = weights_for(rng, BIG_ROWS).astype(np.float32) if weighted else None
    v1, g1 = case.make(n_threads=1).value_and_gradient(yt, yp, sample_weight=sw)
    v2, g2 = case.make(n_threads=2).value_and_gradient(yt, yp, sample_weight=sw)
    v3 = case.make(n_threads=3).value(yt, yp, sample_weight=sw)
    assert v1 == v2 == v3
    assert np.array_equal(g1, g2)
    # and the blocked, parallel run is still the right answer
    assert_value_close(case, v2, yt, yp, sw, np.float32)


# ---------------------------------------------------------------------------------------------
# One kernel for value, gradient and both; out=.

@pytest.mark.parametrize("case", CASES, ids=str)
def test_value_gradient_and_out_agree(case):
    rng = np.random.default_rng(4)
    yt, yp = case.data(rng, 5000, 3, np.float32)  # several blocks, some rows in the last
    loss = case.make(n_threads=2)
    value, grad = loss.value_and_gradient(yt, yp)
    assert loss.value(yt, yp) == value
    assert np.array_equal(loss.gradient(yt, yp), grad)
    out = np.full_like(yp, np.nan)
    assert loss.gradient(yt, yp, out=out) is out
    assert np.array_equal(out, grad)
    out[...] = np.nan
    value2, grad2 = loss.value_and_gradient(yt, yp, out=out)
    assert grad2 is out and value2 == value


# ---------------------------------------------------------------------------------------------
# Sample weights: a weight of 2 is a duplicated row, a weight of 0 drops the row.

@pytest.mark.parametrize("case", CASES, ids=str)
def test_weight_two_equals_duplicated_row(case):
    rng = np.random.default_rng(5)
    yt, yp = case.data(rng, 12, 3)
    w = np.ones(12)
    w[[2, 7]] = 2
    order = np.r_[np.arange(12), [2, 7]]
    loss = case.make()
    value, grad = loss.value_and_gradient(yt, yp, sample_weight=w)
    value_dup, grad_dup = loss.value_and_gradient(yt[order], yp[order])
    # the same terms summed in another order: equal to rounding
    assert value == pytest.approx(value_dup, rel=1e-13)
    expected = grad_dup[:12].copy()
    expected[[2, 7]] += grad_dup[12:]
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_zero_weight_ignores_row(case):
    rng = np.random.default_rng(6)
    yt, yp = case.data(rng, 12, 3)
    w = rng.uniform(0.5, 2, 12)
    w[[0, 5, 11]] = 0
    keep = w > 0
    loss = case.make()
    value, grad = loss.value_and_gradient(yt, yp, sample_weight=w)
    value_kept, grad_kept = loss.value_and_gradient(yt[keep], yp[keep], sample_weight=w[keep])
    assert value == pytest.approx(value_kept, rel=1e-13)
    np.testing.assert_allclose(grad[keep], grad_kept, rtol=1e-13, atol=1e-16)
    assert np.all(grad[~keep] == 0)


def test_weights_of_one_equal_no_weights():
    rng = np.random.default_rng(7)
    for case in CASES:
        yt, yp = case.data(rng, 30, 3)
        loss = case.make()
        v, g = loss.value_and_gradient(yt, yp)
        vw, gw = loss.value_and_gradient(yt, yp, sample_weight=np.ones(30))
        assert v == pytest.approx(vw, rel=1e-14), case
        np.testing.assert_allclose(g, gw, rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------
# Shapes and memory layouts.

@pytest.mark.parametrize("case", ELEMENTWISE, ids=str)
def test_1d_and_column_vectors_are_interchangeable(case):
    rng = np.random.default_rng(8)
    yt, yp = case.data(rng, 50, 1)
    loss = case.make()
    v, g = loss.value_and_gradient(yt[:, 0], yp[:, 0])
    assert g.shape == (50,)
    for t, p in [(yt, yp), (yt[:, 0], yp), (yt, yp[:, 0])]:
        v2, g2 = loss.value_and_gradient(t, p)
        assert v2 == v and g2.shape == p.shape
        assert np.array_equal(g2.reshape(-1), g)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_read_only_fortran_and_strided_inputs(case):
    rng = np.random.default_rng(9)
    yt, yp = case.data(rng, 60, 3)
    loss = case.make()
    v, g = loss.value_and_gradient(yt, yp)

    ro_t, ro_p = yt.copy(), yp.copy()
    ro_t.setflags(write=False)
    ro_p.setflags(write=False)
    v2, g2 = loss.value_and_gradient(ro_t, ro_p)
    assert v2 == v and np.array_equal(g2, g)

    f_t = yt if case.labels else np.asfortranarray(yt)
    v3, g3 = loss.value_and_gradient(f_t, np.asfortranarray(yp))
    # F order walks the elements in another order: the sum may round differently, and an
    # element may fall in a loop's vector body (libmvec) instead of its scalar remainder (libm)
    assert v3 == pytest.approx(v, rel=1e-14)
    np.testing.assert_allclose(g3, g, rtol=K_EPS * np.finfo(np.float64).eps, atol=0)

    big_t = np.repeat(yt, 2, axis=0) if case.labels else np.repeat(np.repeat(yt, 2, 0), 2, 1)
    big_p = np.repeat(np.repeat(yp, 2, 0), 2, 1)
    s_t = big_t[::2] if case.labels else big_t[::2, ::2]
    v4, g4 = loss.value_and_gradient(s_t, big_p[::2, ::2])
    assert v4 == v and np.array_equal(g4, g)


def test_list_inputs_and_integer_targets():
    v = losses.get("mse").value([0, 1, 2], np.array([0.5, 1.0, 2.0]))
    assert v == pytest.approx((0.25 + 0 + 0) / 3)
    yp = np.array([[0.2, 0.8], [0.6, 0.4]])
    onehot = np.array([[0, 1], [1, 0]])  # integer one-hot targets
    loss = losses.get("categorical_crossentropy")
    assert loss.value(onehot, yp) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert losses.get("sparse_categorical_crossentropy").value(
        np.array([1.0, 0.0]), yp) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


# ---------------------------------------------------------------------------------------------
# Losses with particular conventions.

def test_softmax_one_hot_equals_labels():
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 3, 200)
    x = rng.standard_normal((200, 3)) * 3
    onehot = np.eye(3)[labels]
    sw = rng.uniform(0, 2, 200)
    for params in [{}, {"weight": CW}]:
        loss = losses.get("softmax_crossentropy", **params)
        for w in [None, sw]:
            v1, g1 = loss.value_and_gradient(labels, x, sample_weight=w)
            v2, g2 = loss.value_and_gradient(onehot, x, sample_weight=w)
            assert v1 == pytest.approx(v2, rel=1e-14)
            np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-17)


def test_softmax_class_weight_normalisation_is_torchs():
    # torch: sum_i w[y_i] l_i / sum_i w[y_i], not the plain mean of w[y_i] l_i
    x = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 1, 1])
    w = np.array([1.0, 3.0])
    l = -log_softmax(x)[np.arange(3), y]
    expected = (w[y] * l).sum() / w[y].sum()
    got = losses.get("softmax_crossentropy", weight=w).value(y, x)
    assert got == pytest.approx(expected, rel=1e-15)
    assert got != pytest.approx((w[y] * l).mean())


@pytest.mark.parametrize("n_classes", [4097, 5000])
def test_softmax_many_classes(n_classes):
    """More classes than a block holds (the one-row-per-block path), value alone too."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, n_classes)) * 3
    labels = rng.integers(0, n_classes, 5)
    dense = rng.dirichlet(np.ones(n_classes), 5)
    w = rng.uniform(0.5, 2, n_classes)
    sw = rng.uniform(0.5, 2, 5)
    for params in [{}, {"weight": w}]:
        loss = losses.get("softmax_crossentropy", **params)
        for y in [labels, dense]:
            value, grad = loss.value_and_gradient(y, x, sample_weight=sw)
            assert loss.value(y, x, sample_weight=sw) == value
            expected = ref_softmax(y, x, sw, params)
            assert value == pytest.approx(expected, rel=1e-13)
            # d value / d x = s_i (C_i softmax(x_i) - c_i) / sum_k s_k C_k, c = w t, C = sum c
            targets = np.eye(n_classes)[y] if y.ndim == 1 else y
            c = targets * params.get("weight", 1.0)
            C = c.sum(axis=1, keepdims=True)
            softmax = np.exp(log_softmax(x))
            denominator = (sw[:, None] * C).sum() if params else sw.sum()
            expected_grad = sw[:, None] * (C * softmax - c) / denominator
            tol = K_EPS * np.finfo(np.float64).eps * (np.abs(expected_grad)
                                                      + (sw[:, None] * (C + c)) / denominator)
            assert np.all(np.abs(grad - expected_grad) <= tol)
    for bad, match in [(np.nan, "y_pred contains NaN"), (-np.inf, "y_pred contains inf")]:
        x_bad = x.copy()
        x_bad[2, -1] = bad
        with pytest.raises(ValueError, match=match):
            losses.get("softmax_crossentropy").value(labels, x_bad)
    with pytest.raises(ValueError, match=f"outside \\[0, {n_classes - 1}\\]"):
        losses.get("softmax_crossentropy").value(np.r_[labels[:4], n_classes], x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", [1, 2, 3, 7, 8, 10, 15, 16, 17])
# 31 tiles and 9 rows, or 31 tiles and 21 rows: the last tile ends in its first or in its
# second half (AVX-512 builds move a tile 16 float32 or 8 float64 rows at a time)
@pytest.mark.parametrize("n_samples", [1001, 1013])
def test_softmax_many_rows_few_classes(n_classes, dtype, n_samples, variant):
    """Short rows go through the kernel in tiles of 32 rows (rows of fewer than 64 bytes),
    longer ones row by row: several blocks and a partial last tile, on both sides of that
    limit, with weights, class weights, both target forms, the value alone, 1 and 2
    threads."""
    rng = np.random.default_rng(21)
    x = (rng.standard_normal((n_samples, n_classes)) * 3).astype(dtype)
    labels = rng.integers(0, n_classes, n_samples)
    dense = rng.dirichlet(np.ones(n_classes), n_samples).astype(dtype)
    w = rng.uniform(0.5, 2, n_classes)
    sw = weights_for(rng, n_samples).astype(dtype)
    eps = np.finfo(dtype).eps
    x64 = x.astype(np.float64)
    softmax = np.exp(log_softmax(x64))
    for params in [{}, {"weight": w}]:
        for y in [labels, dense]:
            for s in [None, sw]:
                loss = losses.get("softmax_crossentropy", n_threads=1, **params)
                value, grad = loss.value_and_gradient(y, x, sample_weight=s)
                assert loss.value(y, x, sample_weight=s) == value
                v2, g2 = losses.get("softmax_crossentropy", n_threads=2,
                                    **params).value_and_gradient(y, x, sample_weight=s)
                assert v2 == value and np.array_equal(g2, grad)
                y64 = y if y.ndim == 1 else y.astype(np.float64)
                s64 = np.ones(n_samples) if s is None else s.astype(np.float64)
                expected = ref_softmax(y64, x64, s64, params)
                scale = (1 + np.abs(x64)).sum(axis=1).mean()
                assert abs(value - expected) <= K_EPS * eps * scale, (value, expected)
                # d value / d x = s_i (C_i softmax(x_i) - c_i) / sum_k s_k C_k, c = w t
                targets = np.eye(n_classes)[y] if y.ndim == 1 else y64
                c = targets * params.get("weight", 1.0)
                C = c.sum(axis=1, keepdims=True)
                denominator = (s64[:, None] * C).sum() if params else s64.sum()
                expected_grad = s64[:, None] * (C * softmax - c) / denominator
                tol = K_EPS * eps * (np.abs(expected_grad)
                                     + s64[:, None] * (C + c) / denominator)
                assert np.all(np.abs(grad - expected_grad) <= tol)
    # the in-kernel checks: the last (partial) tile, a tile's first row and its second half;
    # labels too large for an int32 or a float32 to hold exactly
    for row, bad in [(-1, n_classes), (0, -1), (32 * 5 + 20, 2**40), (32 * 7 + 3, 2**31)]:
        bad_label = labels.copy()
        bad_label[row] = bad
        with pytest.raises(ValueError, match="outside"):
            losses.get("softmax_crossentropy").value(bad_label, x)
    for bad, match in [(np.nan, "y_pred contains NaN"), (-np.inf, "y_pred contains inf"),
                       (np.inf, "y_pred contains inf")]:
        x_bad = x.copy()
        x_bad[-1, -1] = bad
        for y in [labels, dense]:
            with pytest.raises(ValueError, match=match):
                losses.get("softmax_crossentropy").value_and_gradient(y, x_bad)
    dense_bad = dense.copy()
    dense_bad[-1, 0] = 1.5
    with pytest.raises(ValueError, match="target probabilities in \\[0, 1\\]"):
        losses.get("softmax_crossentropy").value(dense_bad, x)


@pytest.mark.parametrize("case", [CASE_BY_ID[i] for i in ["mse", "sigmoid_ce_pw", "focal",
                                                         "categorical", "kl"]], ids=str)
def test_rows_longer_than_a_block(case):
    """More outputs than a block holds: one row per block, the row cut into pieces, sample
    weights and per-column pos_weight expanded across the pieces."""
    rng = np.random.default_rng(18)
    n_outputs = 5000
    yt, yp = case.data(rng, 7, n_outputs)
    sw = rng.uniform(0.5, 2, 7)
    params = dict(case.params)
    if case.id == "sigmoid_ce_pw":
        params["pos_weight"] = rng.uniform(0.5, 2, n_outputs)
    loss = losses.get(case.name, n_threads=2, **params)
    value, grad = loss.value_and_gradient(yt, yp, sample_weight=sw)
    assert value == pytest.approx(case.ref(yt, yp, sw, params), rel=1e-13)
    unweighted_row = loss.gradient(yt[3:4], yp[3:4])
    np.testing.assert_allclose(grad[3], unweighted_row[0] * sw[3] / sw.sum(), rtol=1e-13)


def test_hinge_label_conventions():
    s = np.array([0.3, -2.0, 1.5, 0.2])
    loss = losses.get("hinge")
    v01 = loss.value(np.array([1.0, 0.0, 0.0, 1.0]), s)
    vpm = loss.value(np.array([1.0, -1.0, -1.0, 1.0]), s)
    assert v01 == vpm == pytest.approx(np.mean([0.7, 0.0, 2.5, 0.8]))
    # all labels 1: the two conventions agree
    assert loss.value(np.ones(4), s) == pytest.approx(np.mean([0.7, 3.0, 0.0, 0.8]))


def test_focal_alpha_none_and_gamma_zero_is_bce_with_logits():
    rng = np.random.default_rng(12)
    yt, yp = gen_binary_logits(rng, (30, 2), {})
    focal = losses.get("focal", alpha=None, gamma=0.0)
    bce = losses.get("sigmoid_crossentropy")
    v1, g1 = focal.value_and_gradient(yt, yp)
    v2, g2 = bce.value_and_gradient(yt, yp)
    assert v1 == pytest.approx(v2, rel=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-17)


def test_bce_clamps_log_at_minus_100_like_torch():
    loss = losses.get("binary_crossentropy")
    value, grad = loss.value_and_gradient(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert value == 100.0
    # torch's gradient (p - y) / max(p (1 - p), 1e-12), with 1e-12 as a float, / n
    assert grad == pytest.approx(np.array([-1, 1]) / np.float32(1e-12) / 2)


def test_probabilities_are_clipped_at_eps():
    for dtype in DTYPES:
        eps = np.finfo(dtype).eps
        p = np.array([[0.0, 1.0]], dtype=dtype)
        t = np.array([[1.0, 0.0]], dtype=dtype)
        for name in ["categorical_crossentropy", "kl_divergence"]:
            value, grad = losses.get(name).value_and_gradient(t, p)
            assert value == pytest.approx(-np.log(eps), rel=1e-6)
            assert grad[0, 0] == pytest.approx(-1 / eps, rel=1e-6) and grad[0, 1] == 0
        value = losses.get("sparse_categorical_crossentropy").value([0], p)
        assert value == pytest.approx(-np.log(eps), rel=1e-6)


def test_small_terms_keep_their_relative_precision():
    """log1p(exp(-|x|)) is a polynomial e Q(2e - 1) and log(1 - p) is a plain log with the
    rounding error of 1 - p corrected: the tiny losses of confident, right predictions keep
    full relative precision, where a bare log(1 + e) or log(1 - p) would lose most of it.
    (abs=0: pytest.approx's default absolute tolerance of 1e-12 exceeds these values.)"""
    x = np.linspace(10, 35, 11)  # e = exp(-x) from 4.5e-5 down to 6.3e-16
    for name in ["sigmoid_crossentropy", "focal"]:
        params = {"alpha": None, "gamma": 0.0} if name == "focal" else {}
        loss = losses.get(name, **params)
        # right with y = 1 (x > 0) and with y = 0 (x < 0): the loss is log1p(exp(-|x|)) both
        # ways, and neither may come out of a difference such as x + (log1p(e) - x)
        for y_true, y_pred in [(np.ones_like(x), x), (np.zeros_like(x), -x)]:
            assert loss.value(y_true, y_pred) == pytest.approx(
                np.log1p(np.exp(-x)).mean(), rel=8 * np.finfo(float).eps, abs=0)
    p = np.logspace(-15, -3, 13)
    value = losses.get("binary_crossentropy").value(np.zeros_like(p), p)
    assert value == pytest.approx(-np.log1p(-p).mean(), rel=8 * np.finfo(float).eps, abs=0)


def test_poisson_overflow_is_inf_not_an_error():
    """exp(y_pred) beyond the float range is a genuine +inf (as torch), not bad input."""
    value, grad = losses.get("poisson").value_and_gradient(
        np.array([1.0, 2.0], dtype=np.float32), np.array([100.0, 0.0], dtype=np.float32))
    assert value == math.inf and grad[0] == np.inf and np.isfinite(grad[1])


# ---------------------------------------------------------------------------------------------
# Extreme inputs: logits of +-1e4, probabilities of exactly 0 and 1, residuals of 1e30.

def extreme_inputs(case, dtype):
    n = 8
    rng = np.random.default_rng(13)
    if case.gen is gen_regression:
        yp = np.array([1e30, -1e30, 3e29, 0.0, 1e30, -2.0, 1e-30, 7.0])
        yt = np.array([0.0, 0.0, -1e30, 1e30, 1e30, 5e29, 0.0, -1e30])
        return yt.astype(dtype), yp.astype(dtype)
    if case.gen is gen_counts:  # log-rates: exp(-1e4) = 0, exp(+-80) in range
        return (np.array([0, 1, 5, 0, 3, 1e4, 0, 2.0]).astype(dtype),
                np.array([-1e4, -1e4, -80, 80, 0, -1e4, -30, 1]).astype(dtype))
    logits = np.array([1e4, -1e4, 1e4, -1e4, 0, 80, -80, 3])
    if case.gen in (gen_binary_logits, gen_hard_binary_logits, gen_hinge, gen_hinge_pm1):
        yt = np.array([1, 1, 0, 0, 1, 0, 1, 0.5]) if case.gen is gen_binary_logits else \
            np.array([1, 1, 0, 0, 1, 0, 1, 0.0])
        if case.gen is gen_hinge_pm1:
            yt = np.where(yt == 0, -1.0, yt)
        yt, yp = yt, logits
        if case.two_d_only:
            yt, yp = np.tile(yt[:, None], 3), np.tile(yp[:, None], 3)
        return yt.astype(dtype), yp.astype(dtype)
    if case.gen is gen_binary_probabilities:
        return (np.array([1, 0, 1, 0, 0.5, 1, 0, 0.3]).astype(dtype),
                np.array([0, 1, 1, 0, 0, 0.5, 1, 1]).astype(dtype))
    if case.gen is gen_hard_binary_probabilities:
        return (np.array([1, 0, 1, 0, 0, 1, 0, 1]).astype(dtype),
                np.array([0, 1, 1, 0, 1e-30, 0.5, 1, 1 - 1e-7]).astype(dtype))
    probs = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]] * 2)
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]] * 2)
    big = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4], [0, 0, -1e4], [-1e4, -1e4, -1e4]] * 2)
    if case.gen is gen_distributions:
        return targets.astype(dtype), probs.astype(dtype)
    if case.gen is gen_sparse:
        return targets.argmax(axis=1), probs.astype(dtype)
    if case.gen is gen_softmax_labels:
        return rng.integers(0, 3, n), big.astype(dtype)
    return targets.astype(dtype), big.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_extreme_inputs_give_finite_values_and_gradients(case, dtype):
    yt, yp = extreme_inputs(case, dtype)
    for weighted in [False, True]:
        sw = np.linspace(0, 2, yp.shape[0]).astype(dtype) if weighted else None
        value, grad = case.make().value_and_gradient(yt, yp, sample_weight=sw)
        assert math.isfinite(value), (case.id, value)
        assert np.isfinite(grad).all(), (case.id, grad)


def test_extreme_values_are_right():
    # log-sum-exp and log1p(exp(-|x|)) keep the exact values at +-1e4 logits
    x = np.array([[1e4, -1e4]], dtype=np.float32)
    assert losses.get("softmax_crossentropy").value([1], x) == 2e4
    assert losses.get("sigmoid_crossentropy").value(np.array([1.0, 0.0]),
                                                    np.array([-1e4, 1e4])) == 1e4
    # 1e30 residuals in float32: the square is formed in double
    assert losses.get("mse").value(np.zeros(2, np.float32),
                                   np.array([1e30, -1e30], np.float32)) == \
        pytest.approx(float(np.float32(1e30)) ** 2, rel=1e-15)
    assert losses.get("pseudo_huber", delta=2.0).gradient(
        np.zeros(2), np.array([1e30, -1e30])) == pytest.approx([1.0, -1.0])
    assert losses.get("log_cosh").value(np.zeros(1), np.array([1e30])) == \
        pytest.approx(1e30 - np.log(2))


# ---------------------------------------------------------------------------------------------
# Bad input: TypeError / ValueError naming the problem.

@pytest.mark.parametrize("name", ["mse", "hinge", "focal", "binary_crossentropy",
                                  "categorical_crossentropy", "softmax_crossentropy"])
def test_shape_mismatch(name):
    loss = losses.get(name)
    with pytest.raises(ValueError, match=r"y_true has shape \(4, 3\) but y_pred has shape "
                                         r"\(4, 2\)|one integer label per sample"):
        loss.value(np.zeros((4, 3)), np.full((4, 2), 0.5))


def test_bad_shapes_and_dtypes():
    mse = losses.get("mse")
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        mse.value(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="empty"):
        mse.value(np.zeros(0), np.zeros(0))
    with pytest.raises(TypeError, match="y_pred has integer dtype"):
        mse.value(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="y_true has string dtype"):
        mse.value(np.array(["a", "b"]), np.zeros(2))
    with pytest.raises(TypeError, match="y_true has complex dtype"):
        mse.value(np.zeros(2, complex), np.zeros(2))
    with pytest.raises(ValueError, match="2-D array \\(n_samples, n_classes\\)"):
        losses.get("categorical_crossentropy").value(np.zeros(3), np.full(3, 0.3))
    with pytest.raises(ValueError, match="one integer label per sample"):
        losses.get("sparse_categorical_crossentropy").value(np.zeros(3, int),
                                                            np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(3,\)"):
        mse.value(np.zeros(3), np.zeros(3), sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="pos_weight has 2 values but y_pred has 3 outputs"):
        losses.get("sigmoid_crossentropy", pos_weight=[1, 2]).value(np.zeros((2, 3)),
                                                                     np.zeros((2, 3)))
    with pytest.raises(ValueError, match="weight has 3 class weights but y_pred has 2"):
        losses.get("softmax_crossentropy", weight=[1, 2, 3]).value([0, 1], np.zeros((2, 2)))


def test_out_is_checked():
    loss = losses.get("mse")
    yt, yp = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="out has shape"):
        loss.gradient(yt, yp, out=np.empty((2, 3)))
    with pytest.raises(TypeError, match="out has dtype float32"):
        loss.gradient(yt, yp, out=np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="out overlaps y_pred"):
        loss.gradient(yt, yp, out=yp)
    with pytest.raises(ValueError, match="out is read-only"):
        ro = np.empty((3, 2))
        ro.setflags(write=False)
        loss.gradient(yt, yp, out=ro)


def _put(a, index, value):
    a = a.copy()
    a.reshape(-1)[index] = value
    return a


# (case ids, which array, bad value, message): each bad value is tried at the first and at the
# last element of a big (parallel) and a small array
BAD_VALUES = [
    ([c.id for c in CASES], "y_pred", np.nan, "y_pred contains NaN"),
    ([c.id for c in CASES], "y_pred", np.inf, "y_pred contains inf"),
    ([c.id for c in CASES], "y_pred", -np.inf, "y_pred contains inf"),
    ([c.id for c in CASES if not c.labels], "y_true", np.nan, "y_true contains NaN"),
    ([c.id for c in CASES if not c.labels], "y_true", np.inf, "y_true contains inf"),
    ([c.id for c in CASES if not c.labels], "y_true", -np.inf, "y_true contains inf"),
    (["bce", "bce_hard", "categorical", "kl", "sparse"], "y_pred", -0.1,
     r"y_pred must hold probabilities in \[0, 1\], got -0.1"),
    (["bce", "bce_hard", "categorical", "kl", "sparse"], "y_pred", 1.5,
     r"y_pred must hold probabilities in \[0, 1\], got 1.5"),
    (["bce", "bce_hard", "sigmoid_ce", "sigmoid_ce_pw", "focal", "focal_hard", "categorical"],
     "y_true", -0.5, r"y_true must hold targets in \[0, 1\], got -0.5"),
    (["bce", "sigmoid_ce", "focal_no_alpha", "categorical", "kl", "softmax_dense"], "y_true",
     2.0, r"y_true must hold .*in \[0, 1\], got 2.0"),
    (["poisson"], "y_true", -1.0, "y_true must hold non-negative counts, got -1.0"),
    (["hinge_01", "hinge_pm1"], "y_true", 0.5, r"hinge labels must be in \{0, 1\} or "
                                               r"\{-1, 1\}, got 0.5"),
    (["hinge_01", "hinge_pm1"], "y_true", 2.0, r"hinge labels must be in"),
    (["sparse", "softmax_labels", "softmax_labels_weight"], "y_true", 3,
     r"y_true has label 3, outside \[0, 2\]"),
    (["sparse", "softmax_labels", "softmax_labels_weight"], "y_true", -1,
     r"y_true has label -1, outside \[0, 2\]"),
]
BAD_CASES = [(case_id, which, value, match) for ids, which, value, match in BAD_VALUES
             for case_id in ids]


@pytest.mark.parametrize("case_id, which, bad, match", BAD_CASES,
                         ids=[f"{c}-{w}-{v}" for c, w, v, _ in BAD_CASES])
def test_bad_values_are_named(case_id, which, bad, match):
    case = CASE_BY_ID[case_id]
    rng = np.random.default_rng(14)
    for n_samples in [6, BIG_ROWS]:
        yt, yp = case.data(rng, n_samples, 3, np.float32)
        for index in [0, -1]:
            t, p = (_put(yt, index, bad), yp) if which == "y_true" else (yt, _put(yp, index, bad))
            loss = case.make(n_threads=2)
            for call in [loss.value, loss.gradient, loss.value_and_gradient]:
                with pytest.raises(ValueError, match=match):
                    call(t, p)
            with pytest.raises(ValueError, match=match):  # weighted path too
                loss.value(t, p, sample_weight=np.ones(n_samples))


def test_every_variant_reports_bad_values(variant):
    """The checks ride on NaN propagation through the vector maths: every compiled variant
    must report every bad value (small arrays here; the big ones run above)."""
    rng = np.random.default_rng(17)
    for case_id, which, bad, match in BAD_CASES:
        case = CASE_BY_ID[case_id]
        yt, yp = case.data(rng, 6, 3, np.float32)
        for index in [0, -1]:
            t, p = (_put(yt, index, bad), yp) if which == "y_true" else (yt, _put(yp, index, bad))
            with pytest.raises(ValueError, match=match):
                case.make().value_and_gradient(t, p)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_soft_labels_still_find_a_bad_probability_where_y_is_1(dtype, variant):
    """With soft labels in a piece, binary cross-entropy takes log(1 - p) only where y != 1;
    a probability above 1 where y = 1 must still make the value NaN, and be named. In every
    variant: float32 on AVX-512 builds takes the soft-label branch of _pieces.h."""
    for n in [10, 50000]:
        y = np.full(n, 0.5, dtype=dtype)
        p = np.full(n, 0.5, dtype=dtype)
        y[3], p[3] = 1.0, 1.5
        with pytest.raises(ValueError, match=r"y_pred must hold probabilities in \[0, 1\], "
                                             r"got 1.5"):
            losses.get("binary_crossentropy", n_threads=2).value(y, p)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 64, 65, 1023, 1024, 1025, 3001])
def test_bce_float32_pieces_agree_across_variants(n):
    """Float32 binary cross-entropy takes a piece in vector registers with its own log on
    AVX-512 builds (_pieces.h), and gcc-vectorised loops with libmvec's log elsewhere. Every
    variant: the value within K_EPS eps of the float64 reference, at sizes that end inside a
    vector, a prefetch step and a piece; vectors of hard labels only, vectors mixing in soft
    ones, p of exactly 0 and 1 (the clamp at -100), -0, subnormals and p near 0 and 1 (the
    corrected log(1 - p)). The gradient is the same product of float32 roundings in every
    variant, so it equals the float32 NumPy formula bit for bit."""
    rng = np.random.default_rng(n)
    p = rng.uniform(0, 1, n)
    special = [0.0, 1.0, -0.0, 1e-40, 1e-30, 3e-8, 1 - 2**-24, 0.5, 1e-12, 1 - 2**-12]
    at = rng.choice(n, size=min(n, len(special)), replace=False)
    p[at] = special[:len(at)]
    p = p.astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    soft_rows = np.arange(n)[(np.arange(n) // 16) % 3 == 1]  # every third vector mixes in soft
    y[soft_rows[::5]] = rng.uniform(0, 1, soft_rows[::5].size)
    w = rng.integers(1, 9, n).astype(np.float32) / 4  # exact sum, so gs is the same as here
    expected_grad = (np.float32(1 / w.sum()) * w) * (
        (p - y) * (np.float32(1) / np.maximum(p * (1 - p), np.float32(1e-12))))
    p64, y64 = p.astype(np.float64), y.astype(np.float64)
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped at -100 as torch does
        ref = (w * -(y64 * np.maximum(np.log(p64), -100)
                     + (1 - y64) * np.maximum(np.log1p(-p64), -100))).sum() / w.sum()
    for isa in VARIANTS:
        kernels = _dispatch.load("_losses", isa=isa)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(losses, "_kernels", kernels)
            value, grad = losses.get("binary_crossentropy").value_and_gradient(
                y, p, sample_weight=w)
        assert abs(value - ref) <= K_EPS * np.finfo(np.float32).eps * max(ref, 1), (isa, value,
                                                                                    ref)
        np.testing.assert_array_equal(grad, expected_grad, err_msg=isa)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1023, 1024, 1025, 3001])
def test_focal_float32_hard_labels_agree_across_variants(n):
    """Float32 focal loss (gamma = 2) with hard labels takes a piece in vector registers on
    AVX-512 builds (_pieces.h) and gcc-vectorised loops elsewhere; a piece with a soft label
    takes the general loops in every variant. Every variant, at sizes that end inside a
    vector and a piece, with soft labels all over the second piece (n > 1024) and one in the
    last of the third piece's chunks (n > 2821; the register piece then has written the
    terms and gradients of the chunks before, which the general loops write again), and
    logits of +-0, +-1e4, +-80 and 1e-30: the value within K_EPS eps of the float64
    reference, and the gradient within 16 eps of the float64 derivative, written here from
    the maths (about ten float32 roundings, the exp within 1 ulp and log1p within 2). The
    general loops are held to the same bound on their hard labels, where a plain s - y
    would cancel."""
    rng = np.random.default_rng(n)
    x = rng.normal(0, 4, n)
    special = [0.0, -0.0, 1e4, -1e4, 80.0, -80.0, 1e-30, 2.5]
    x[:min(n, len(special))] = special[:n]
    x = x.astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    y[1024 + 3:2048:7] = rng.uniform(0, 1, y[1024 + 3:2048:7].size)
    y[2048 + 3 * 256 + 5:2048 + 3 * 256 + 6] = 0.3
    w = rng.integers(1, 9, n).astype(np.float32) / 4
    x64, y64, w64 = x.astype(np.float64), y.astype(np.float64), w.astype(np.float64)
    alpha = 0.25
    s, log_s, log_sc = np.exp(log_sigmoid(x64)), log_sigmoid(x64), log_sigmoid(-x64)
    ce = -(y64 * log_s + (1 - y64) * log_sc)
    q = s * (1 - y64) + (1 - s) * y64  # 1 - p_t
    alpha_t = alpha * y64 + (1 - alpha) * (1 - y64)
    ref = (w64 * alpha_t * q ** 2 * ce).sum() / w64.sum()
    # d/dx alpha_t q^2 ce = alpha_t (2 q ce dq/dx + q^2 (s - y)), dq/dx = s (1 - s) (1 - 2y)
    ref_grad = w64 / w64.sum() * alpha_t * (2 * q * ce * s * (1 - s) * (1 - 2 * y64)
                                            + q ** 2 * (s - y64))
    # For a soft y, s - y itself cancels where s ~ y: float32 gets it within about
    # eps (s + y), not eps |s - y|, so there the bound is relative to the summands' sizes.
    scale = np.where(np.isin(y, [0, 1]), np.abs(ref_grad), w64 / w64.sum() * alpha_t * (
        2 * q * ce * s * (1 - s) + q ** 2 * (s + y64)))
    eps = float(np.finfo(np.float32).eps)
    for isa in VARIANTS:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(losses, "_kernels", _dispatch.load("_losses", isa=isa))
            value, grad = losses.get("focal").value_and_gradient(y, x, sample_weight=w)
        assert abs(value - ref) <= K_EPS * eps * ref, (isa, value, ref)
        # below float32's smallest normal number the products underflow (x = -80: q^2 is
        # about 1e-70), so there the bound is absolute
        bound = 16 * eps * scale + np.finfo(np.float32).tiny
        worst = np.argmax(np.abs(grad - ref_grad) - bound)
        assert (np.abs(grad - ref_grad) <= bound).all(), (isa, worst, grad[worst],
                                                          ref_grad[worst])


def test_bce_float32_keeps_small_terms_precise():
    """log(1 - p) for tiny p in float32: fl(1 - p) is 1 below 2^-25, so a bare log would
    give 0; the corrected log keeps the relative precision, in every variant."""
    p = np.logspace(-12, -3, 10).astype(np.float32)
    expected = -np.log1p(-p.astype(np.float64)).mean()
    for isa in VARIANTS:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(losses, "_kernels", _dispatch.load("_losses", isa=isa))
            value = losses.get("binary_crossentropy").value(np.zeros_like(p), p)
        assert value == pytest.approx(expected, rel=4 * float(np.finfo(np.float32).eps), abs=0), isa


def test_hinge_mixed_conventions_are_refused():
    for n in [4, 50000]:
        y = np.ones(n)
        y[0], y[-1] = 0, -1
        with pytest.raises(ValueError, match="hinge labels mix 0 and -1"):
            losses.get("hinge", n_threads=2).value(y, np.zeros(n))


def test_non_integer_labels():
    yp = np.full((3, 2), 0.5)
    for name in ["sparse_categorical_crossentropy", "softmax_crossentropy"]:
        with pytest.raises(ValueError, match="non-integer value 0.5"):
            losses.get(name).value(np.array([0, 0.5, 1]), yp)
        with pytest.raises(ValueError, match="y_true \\(labels\\) contains NaN or inf"):
            losses.get(name).value(np.array([0, np.nan, 1]), yp)
        # integer-valued floats are labels
        assert math.isfinite(losses.get(name).value(np.array([0.0, 1.0, 1.0]), yp))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_sample_weights(case):
    rng = np.random.default_rng(15)
    yt, yp = case.data(rng, 5, 3)
    loss = case.make()
    for w, match in [([1, -1, 1, 1, 1], "sample_weight must hold non-negative weights, got -1"),
                     ([1, np.nan, 1, 1, 1], "sample_weight contains NaN"),
                     ([1, np.inf, 1, 1, 1], "sample_weight contains inf"),
                     ([0, 0, 0, 0, 0], "sample_weight sums to 0")]:
        with pytest.raises(ValueError, match=match):
            loss.value_and_gradient(yt, yp, sample_weight=np.array(w, dtype=float))
    with pytest.raises(TypeError, match="sample_weight has string dtype"):
        loss.value(yt, yp, sample_weight=np.array(["a"] * 5))


def test_zero_total_class_weight():
    loss = losses.get("softmax_crossentropy", weight=[0.0, 1.0])
    with pytest.raises(ValueError, match="total weight of the targets .* is 0"):
        loss.value([0, 0], np.zeros((2, 2)))


def test_registry_names_and_parameters():
    assert set(losses.available()) == {
        "mse", "squared_error", "mae", "absolute_error", "huber", "pseudo_huber", "log_cosh",
        "poisson", "binary_crossentropy", "sigmoid_crossentropy", "categorical_crossentropy",
        "sparse_categorical_crossentropy", "softmax_crossentropy", "hinge", "kl_divergence",
        "focal"}
    assert type(losses.get("squared_error")) is type(losses.get("mse"))
    loss = losses.get("huber", delta=2.0)
    assert losses.get(loss) is loss
    assert repr(loss) == "Huber(delta=2.0)"
    assert repr(losses.get("focal")) == "Focal()"
    with pytest.raises(ValueError, match="unknown loss 'mean_squared'; available: "):
        losses.get("mean_squared")
    with pytest.raises(TypeError, match="loss 'mse' has no parameter 'delta'"):
        losses.get("mse", delta=1.0)
    with pytest.raises(TypeError, match="loss 'huber' has no parameter 'alpha'"):
        losses.get("huber", alpha=1.0)
    with pytest.raises(TypeError, match="loss name must be a str"):
        losses.get(3)
    with pytest.raises(TypeError, match="parameters cannot be given with a Loss instance"):
        losses.get(loss, delta=1.0)
    assert isinstance(loss, Loss)


@pytest.mark.parametrize("name, params, error, match", [
    ("huber", {"delta": 0}, ValueError, "delta must be > 0, got 0.0"),
    ("huber", {"delta": -1}, ValueError, "delta must be > 0"),
    ("huber", {"delta": np.nan}, ValueError, "delta must be finite"),
    ("huber", {"delta": "1"}, TypeError, "delta must be a real number"),
    ("pseudo_huber", {"delta": 0.0}, ValueError, "delta must be > 0"),
    ("focal", {"gamma": -0.5}, ValueError, "gamma must be >= 0, got -0.5"),
    ("focal", {"alpha": 1.5}, ValueError, "alpha must be <= 1.0, got 1.5"),
    ("focal", {"alpha": -0.25}, ValueError, "alpha must be >= 0"),
    ("sigmoid_crossentropy", {"pos_weight": -1.0}, ValueError, "pos_weight must be >= 0"),
    ("sigmoid_crossentropy", {"pos_weight": [1, np.nan]}, ValueError,
     "pos_weight contains NaN or inf"),
    ("softmax_crossentropy", {"weight": [1, -2]}, ValueError, "weight must be >= 0, got -2.0"),
    ("softmax_crossentropy", {"weight": [0, 0]}, ValueError, "at least one positive"),
    ("softmax_crossentropy", {"weight": [[1, 2]]}, ValueError, "1-D array"),
    ("mse", {"n_threads": 0}, ValueError, "n_threads=0 is invalid"),
    ("mse", {"n_threads": 1.5}, TypeError, "n_threads must be None or an int"),
])
def test_invalid_parameters(name, params, error, match):
    with pytest.raises(error, match=match):
        losses.get(name, **params)


def test_fortran_ordered_out():
    rng = np.random.default_rng(16)
    yt, yp = gen_regression(rng, (50, 4), {})
    loss = losses.get("huber")
    v, g = loss.value_and_gradient(yt, yp)
    out = np.empty((50, 4), order="F")
    v2, g2 = loss.value_and_gradient(yt, yp, out=out)
    assert g2 is out and v2 == pytest.approx(v, rel=1e-14)
    np.testing.assert_array_equal(out, g)
    with pytest.raises(ValueError, match="out must be C-contiguous here"):
        loss.gradient(yt, yp, sample_weight=np.ones(50), out=out)  # weights need rows


def test_kernel_spec_for_the_network():
    kind, p0, p1, cw = losses.get("focal", alpha=None, gamma=3.0).kernel_spec(4, np.float32)
    assert kind == losses._Kind.FOCAL and p0 < 0 and p1 == 3.0 and cw is None
    kind, _, _, cw = losses.get("sigmoid_crossentropy", pos_weight=2.0).kernel_spec(
        3, np.float32)
    assert kind == losses._Kind.SIGMOID_CE and cw.dtype == np.float32
    assert np.array_equal(cw, [2, 2, 2])
    softmax = losses.get("softmax_crossentropy", weight=[1, 2])
    assert softmax.kernel_spec(2, np.float64)[0] == losses._Kind.SOFTMAX_CE
    assert softmax.kernel_spec(2, np.float64, labels=True)[0] == losses._Kind.SOFTMAX_CE_LABELS
    with pytest.raises(ValueError, match="does not take dense targets"):
        losses.get("sparse_categorical_crossentropy").kernel_spec(2, np.float64)
    with pytest.raises(ValueError, match="does not take integer labels"):
        losses.get("mse").kernel_spec(2, np.float64, labels=True)
