"""Tests of fastnn.activations (and through it fastnn._core._activations).

Every reference below is plain NumPy (scipy.special.erf for GELU) written from the maths,
with torch.nn.functional's definitions and defaults; fastnn is never used to compute an
expected value. References are evaluated in float64 at the (possibly float32-rounded) inputs.

Tolerances: a kernel evaluates each output with a handful of floating-point operations
(libm/libmvec functions are within 4 ulp) on intermediates whose size is at most about
1 + |x| (times |grad_output| for a gradient), so its rounding error is bounded by a few eps of
the output's dtype times (|reference| + that scale); ``assert_close`` checks
|actual - reference| <= K_EPS * eps * (|reference| + scale) element-wise. The worst measured
is about 3 eps (gelu tanh backward, where 1 - tanh^2 cancels), so K_EPS = 8 leaves margin
without hiding a real error (a wrong constant or formula is off by >> 1e-6 relative, that is
> 8 float32 eps and > 1e9 float64 eps).
"""
import re
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import erf

from fastnn import activations
from fastnn._core._openmp import effective_n_threads, openmp_enabled
from fastnn.activations import Activation

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_2_OVER_PI = np.sqrt(2 / np.pi)
GELU_CUBIC = 0.044715

DTYPES = [np.float32, np.float64]
K_EPS = 8

# Big enough to run in parallel (> 32768 elements), not a multiple of the 4096-element chunk;
# 210 columns are divisible by maxout's 2 and 3 pieces.
BIG_SHAPE = (349, 210)
N_FEATURES = 24  # divisible by 2, 3, 4

ALL_NAMES = ["binary_step", "identity", "linear", "sigmoid", "logistic", "tanh", "relu",
             "leaky_relu", "prelu", "elu", "selu", "softplus", "gelu", "swish", "silu",
             "softmax", "maxout"]


# ---------------------------------------------------------------------------------------------
# NumPy references, written from the definitions. Overflow to inf inside np.where branches
# that are not selected is expected at extreme inputs, hence np.errstate(over="ignore").

def np_sigmoid(z):
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def np_dsigmoid(z):
    """sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = e / (1 + e)^2 with e = exp(-|z|)."""
    e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


def np_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def np_delu(x, alpha):
    # torch's convention at 0: alpha (the x <= 0 branch)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))


def np_softplus(x, beta, threshold):
    z = beta * x
    return np.where(z > threshold, x, np.logaddexp(0, z) / beta)


def np_dsoftplus(x, beta, threshold):
    z = beta * x
    return np.where(z > threshold, 1.0, np_sigmoid(z))


def np_gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def np_dgelu(x):
    phi = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    return 0.5 * (1 + erf(x / np.sqrt(2))) + x * phi


def np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3)))


def np_dgelu_tanh(x):
    t = np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x ** 3))
    du = SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * x ** 2)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du


def np_swish(x, beta):
    return x * np_sigmoid(beta * x)


def np_dswish(x, beta):
    return np_sigmoid(beta * x) + beta * x * np_dsigmoid(beta * x)


def np_dswish_dbeta(x, beta):
    return x * x * np_dsigmoid(beta * x)


def np_softmax(x):
    if x.shape[1] == 0:
        return x.copy()
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_softmax_vjp(x, g):
    y = np_softmax(x)
    return y * (g - (g * y).sum(axis=1, keepdims=True))


def np_maxout(x, pieces):
    n, m = x.shape
    return x.reshape(n, m // pieces, pieces).max(axis=2)


def np_maxout_vjp(x, g, pieces):
    """The gradient goes to the first maximal piece of each group (np.argmax's choice)."""
    n, m = x.shape
    groups = x.reshape(n, m // pieces, pieces)
    idx = groups.argmax(axis=2)[..., None]
    dx = np.zeros_like(groups)
    np.put_along_axis(dx, idx, g[..., None], axis=2)
    return dx.reshape(n, m)


def prelu_slopes(act, n_features):
    return np.broadcast_to(np.asarray(act.params, dtype=np.float64), (n_features,))


def np_prelu(x, act):
    a = prelu_slopes(act, x.shape[1])
    return np.where(x > 0, x, a * x)


def np_prelu_vjp(x, g, act):
    a = prelu_slopes(act, x.shape[1])
    return np.where(x > 0, g, a * g)


def np_prelu_slope_grad(x, g, act):
    per_feature = np.where(x > 0, 0.0, x * g).sum(axis=0)
    return per_feature if act.num_parameters != 1 else np.array([per_feature.sum()])


# ---------------------------------------------------------------------------------------------
# The table of cases.

def _elementwise_scale(x):
    return 1 + np.abs(x)


def _row_scale(x):
    return 1 + np.abs(x).max(axis=1, keepdims=True, initial=0)


@dataclass
class Case:
    id: str
    name: str
    params: dict
    forward: Callable  # (x, act) -> y
    vjp: Callable  # (x, g, act) -> dL/dx
    kind: str = "elementwise"  # or "softmax", "maxout", "prelu"
    kinks: tuple = ()  # x values where f is not differentiable (avoided by finite differences)
    param_grad: Optional[Callable] = None  # (x, g, act) -> dL/dparams
    param_scale: Optional[Callable] = None  # (x, g) -> the scale of the parameter gradient
    setup: Optional[Callable] = None  # (act, n_features, rng): set learned parameters

    def __str__(self):
        return self.id

    @property
    def same_shape(self):
        return self.kind != "maxout"

    def fwd_scale(self, x):
        if self.kind == "softmax":
            return _row_scale(x)
        if self.kind == "maxout":
            return 0.0  # a selection: exact
        return _elementwise_scale(x)

    def bwd_scale(self, x, g):
        if self.kind == "softmax":
            return np.abs(g).max(axis=1, keepdims=True, initial=0) * _row_scale(x)
        if self.kind == "maxout":
            return 0.0
        return np.abs(g) * _elementwise_scale(x)


def ew(id, name, params, f, df, kinks=(), **kw):
    return Case(id, name, params, lambda x, act: f(x), lambda x, g, act: g * df(x),
                kinks=kinks, **kw)


def _prelu_per_feature_setup(act, n_features, rng):
    act.forward(np.zeros((1, n_features)))  # creates one slope per feature, all = init
    assert act.params.shape == (n_features,) and np.all(act.params == 0.25)
    act.params[...] = rng.uniform(-0.5, 0.9, n_features)  # distinct slopes


def _swish_param_scale(x, g):
    return np.sum(np.abs(g) * x * x)


def _prelu_param_scale(x, g):
    return np.abs(x * g).sum(axis=0)


CASES = [
    ew("binary_step", "binary_step", {}, lambda x: np.where(x >= 0, 1.0, 0.0),
       lambda x: np.zeros_like(x), kinks=(0.0,)),
    ew("identity", "identity", {}, lambda x: x, lambda x: np.ones_like(x)),
    ew("linear", "linear", {}, lambda x: x, lambda x: np.ones_like(x)),
    ew("sigmoid", "sigmoid", {}, np_sigmoid, np_dsigmoid),
    ew("logistic", "logistic", {}, np_sigmoid, np_dsigmoid),
    ew("tanh", "tanh", {}, np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    ew("relu", "relu", {}, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float),
       kinks=(0.0,)),
    ew("leaky_relu", "leaky_relu", {}, lambda x: np.where(x > 0, x, 0.01 * x),
       lambda x: np.where(x > 0, 1.0, 0.01), kinks=(0.0,)),
    ew("leaky_relu-0.2", "leaky_relu", {"negative_slope": 0.2},
       lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2),
       kinks=(0.0,)),
    ew("elu", "elu", {}, lambda x: np_elu(x, 1.0), lambda x: np_delu(x, 1.0), kinks=(0.0,)),
    ew("elu-0.5", "elu", {"alpha": 0.5}, lambda x: np_elu(x, 0.5),
       lambda x: np_delu(x, 0.5), kinks=(0.0,)),
    ew("selu", "selu", {}, lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA),
       lambda x: SELU_SCALE * np_delu(x, SELU_ALPHA), kinks=(0.0,)),
    ew("softplus", "softplus", {}, lambda x: np_softplus(x, 1.0, 20.0),
       lambda x: np_dsoftplus(x, 1.0, 20.0), kinks=(20.0,)),
    ew("softplus-b2-t5", "softplus", {"beta": 2.0, "threshold": 5.0},
       lambda x: np_softplus(x, 2.0, 5.0), lambda x: np_dsoftplus(x, 2.0, 5.0),
       kinks=(2.5,)),
    ew("softplus-b0.5-tinf", "softplus", {"beta": 0.5, "threshold": float("inf")},
       lambda x: np_softplus(x, 0.5, np.inf), lambda x: np_dsoftplus(x, 0.5, np.inf)),
    ew("gelu", "gelu", {}, np_gelu, np_dgelu),
    ew("gelu-none", "gelu", {"approximate": "none"}, np_gelu, np_dgelu),
    ew("gelu-tanh", "gelu", {"approximate": "tanh"}, np_gelu_tanh, np_dgelu_tanh),
    ew("swish", "swish", {}, lambda x: np_swish(x, 1.0), lambda x: np_dswish(x, 1.0)),
    ew("silu", "silu", {}, lambda x: np_swish(x, 1.0), lambda x: np_dswish(x, 1.0)),
    ew("swish-1.5", "swish", {"beta": 1.5}, lambda x: np_swish(x, 1.5),
       lambda x: np_dswish(x, 1.5)),
    Case("swish-learn", "swish", {"beta": 0.7, "learn_beta": True},
         lambda x, act: np_swish(x, act.params[0]),
         lambda x, g, act: g * np_dswish(x, act.params[0]),
         param_grad=lambda x, g, act: np.array([np.sum(g * np_dswish_dbeta(x, act.params[0]))]),
         param_scale=_swish_param_scale),
    Case("softmax", "softmax", {}, lambda x, act: np_softmax(x),
         lambda x, g, act: np_softmax_vjp(x, g), kind="softmax"),
    Case("maxout", "maxout", {}, lambda x, act: np_maxout(x, 2),
         lambda x, g, act: np_maxout_vjp(x, g, 2), kind="maxout"),
    Case("maxout-3", "maxout", {"pieces": 3}, lambda x, act: np_maxout(x, 3),
         lambda x, g, act: np_maxout_vjp(x, g, 3), kind="maxout"),
    Case("prelu", "prelu", {}, np_prelu, np_prelu_vjp, kind="prelu", kinks=(0.0,),
         param_grad=np_prelu_slope_grad, param_scale=_prelu_param_scale,
         setup=_prelu_per_feature_setup),
    Case("prelu-shared", "prelu", {"init": 0.1, "num_parameters": 1}, np_prelu, np_prelu_vjp,
         kind="prelu", kinks=(0.0,), param_grad=np_prelu_slope_grad,
         param_scale=lambda x, g: np.abs(x * g).sum(keepdims=True).ravel()),
]
ELEMENTWISE = [c for c in CASES if c.kind == "elementwise"]
SAME_SHAPE = [c for c in CASES if c.same_shape]


def cases(selection=CASES):
    return pytest.mark.parametrize("case", selection, ids=str)


dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)


# ---------------------------------------------------------------------------------------------
# Helpers.

def make(case, n_features, rng, **kw):
    act = activations.get(case.name, **case.params, **kw)
    if case.setup is not None:
        case.setup(act, n_features, rng)
    return act


def width(case, n_features):
    return n_features // case.params.get("pieces", 2) if case.kind == "maxout" else n_features


def backward(act, x, g, **kw):
    """act.backward, checking binary_step's warning each time it is called."""
    ctx = (pytest.warns(UserWarning, match="gradient descent")
           if isinstance(act, activations.BinaryStep) else nullcontext())
    with ctx:
        return act.backward(x, g, **kw)


def sample_x(shape, rng, dtype=np.float64, lo=-6.0, hi=6.0):
    """Uniform values plus the special points 0, -0 and tiny ones (kinks, sign of zero)."""
    x = rng.uniform(lo, hi, shape)
    special = [0.0, -0.0, 1e-3, -1e-3, 1e-7, -1e-7, 1e-30, -1e-30]
    flat = x.reshape(-1)
    k = min(len(special), flat.size)
    flat[rng.choice(flat.size, k, replace=False)] = special[:k]
    return x.astype(dtype)


def reference(case, act, x, g):
    """(y, dx, dparams) of the NumPy reference at the float64 values of x and g."""
    x64 = np.asarray(x, dtype=np.float64)
    g64 = np.asarray(g, dtype=np.float64)
    with np.errstate(over="ignore"):
        y = case.forward(x64, act)
        dx = case.vjp(x64, g64, act)
        dp = case.param_grad(x64, g64, act) if case.param_grad else None
    return y, dx, dp


def assert_close(actual, expected, scale, dtype, k=K_EPS, what=""):
    """|actual - expected| <= k * eps(dtype) * (|expected| + scale), element-wise."""
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), (what, actual.shape, np.shape(expected))
    eps = np.finfo(dtype).eps
    err = np.abs(actual.astype(np.float64) - expected)
    bound = k * eps * (np.abs(expected) + scale)
    bad = ~(err <= bound)  # NaN counts as bad
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err / np.maximum(bound, 1e-300), 0)),
                             bad.shape) if bad.ndim else ()
        pytest.fail(f"{what}: {bad.sum()} of {bad.size} elements off; worst at {i}: "
                    f"got {actual[i]!r}, expected {np.asarray(expected)[i]!r}, "
                    f"bound {np.broadcast_to(bound, bad.shape)[i]:.3g}")


def check_against_reference(case, act, x, g, y, dx, dtype, what=""):
    ry, rdx, rdp = reference(case, act, x, g)
    x64 = np.asarray(x, dtype=np.float64)
    g64 = np.asarray(g, dtype=np.float64)
    assert y.dtype == dtype and dx.dtype == dtype
    assert_close(y, ry, case.fwd_scale(x64), dtype, what=f"{what} forward")
    assert_close(dx, rdx, case.bwd_scale(x64, g64), dtype, what=f"{what} backward")
    if case.param_grad is not None:
        assert_close(act.grads, rdp, case.param_scale(x64, g64), dtype,
                     what=f"{what} parameter gradient")


def run(case, act, x, g, **kw):
    y = act.forward(x, **kw)
    dx = backward(act, x, g, **kw)
    return y, dx


# ---------------------------------------------------------------------------------------------
# Values: forward, backward (analytic and finite differences), parameter gradients.

@cases()
@dtypes
def test_forward_backward_match_reference(case, dtype):
    rng = np.random.default_rng(0)
    x = sample_x((37, N_FEATURES), rng, dtype)
    x[-1, :len(case.kinks)] = case.kinks  # the conventions at the kinks, e.g. relu'(0) = 0
    g = rng.standard_normal((37, width(case, N_FEATURES))).astype(dtype)
    act = make(case, N_FEATURES, rng)
    y, dx = run(case, act, x, g)
    assert y.shape == (37, width(case, N_FEATURES)) and dx.shape == x.shape
    check_against_reference(case, act, x, g, y, dx, dtype)


def _away_from_kinks(case, shape, rng):
    """Distinct values (0.07 apart, so maxout has no near-ties) at least 1e-3 from any kink."""
    x = rng.permutation(np.linspace(-4, 4, shape[0] * shape[1])).reshape(shape)
    for k in case.kinks:
        near = np.abs(x - k) < 1e-3
        x[near] = k + 2e-3
    return x


def _loss_rows(case, act, x, g):
    """Per-row L = sum_j g_ij f(x)_ij with the NumPy reference forward."""
    with np.errstate(over="ignore"):
        return (g * case.forward(x, act)).sum(axis=1)


@cases()
def test_backward_matches_finite_differences(case):
    """Central differences of the reference forward in float64 (h = 1e-6: truncation error
    ~h^2 f''' ~ 1e-12, rounding ~eps |f| / h ~ 1e-9), away from kinks. Rows are independent,
    so perturbing one column of every row at once gives that column of dL/dx."""
    rng = np.random.default_rng(1)
    h = 1e-6
    x = _away_from_kinks(case, (5, N_FEATURES), rng)
    g = rng.standard_normal((5, width(case, N_FEATURES)))
    act = make(case, N_FEATURES, rng)
    dx = backward(act, x, g)
    numeric = np.empty_like(x)
    for j in range(x.shape[1]):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        numeric[:, j] = (_loss_rows(case, act, xp, g) - _loss_rows(case, act, xm, g)) / (2 * h)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-7 * np.abs(g).max())
    if case.param_grad is not None:
        grads = act.grads.copy()
        numeric = np.empty(act.params.size)
        for i in range(act.params.size):
            p0 = act.params[i]
            act.params[i] = p0 + h
            lp = _loss_rows(case, act, x, g).sum()
            act.params[i] = p0 - h
            lm = _loss_rows(case, act, x, g).sum()
            act.params[i] = p0
            numeric[i] = (lp - lm) / (2 * h)
        np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Threads: 1 and 2 threads give bitwise identical results.

@cases()
@dtypes
def test_one_and_two_threads_bitwise_identical(case, dtype):
    if openmp_enabled():  # the kernels really get 2 threads (BIG_SHAPE is above the threshold)
        assert effective_n_threads(2) == 2
    results = []
    for n_threads in (1, 2):
        rng = np.random.default_rng(2)
        x = sample_x(BIG_SHAPE, rng, dtype)
        g = rng.standard_normal((BIG_SHAPE[0], width(case, BIG_SHAPE[1]))).astype(dtype)
        act = make(case, BIG_SHAPE[1], rng, n_threads=n_threads)
        y, dx = run(case, act, x, g)
        results.append((y, dx, act.grads.copy()))
    (y1, dx1, p1), (y2, dx2, p2) = results
    assert y1.tobytes() == y2.tobytes()
    assert dx1.tobytes() == dx2.tobytes()
    assert p1.dtype == p2.dtype and p1.tobytes() == p2.tobytes()
    # and the parallel run is right
    check_against_reference(case, act, x, g, y2, dx2, dtype, what="n_threads=2")


# ---------------------------------------------------------------------------------------------
# Layouts: read-only, memmap, Fortran, strided, empty.

def to_layout(a, layout, path):
    if layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
        return a
    if layout == "memmap":
        mm = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
        mm[...] = a
        mm.flush()
        del mm
        return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":  # a view a[::2, ::3] of a NaN-filled base
        base = np.full((2 * a.shape[0], 3 * a.shape[1]), np.nan, dtype=a.dtype)
        base[::2, ::3] = a
        return base[::2, ::3]
    raise AssertionError(layout)


@cases()
@dtypes
@pytest.mark.parametrize("layout", ["readonly", "memmap", "fortran", "strided"])
def test_layouts(case, dtype, layout, tmp_path):
    rng = np.random.default_rng(3)
    x0 = sample_x((9, N_FEATURES), rng, dtype)
    g0 = rng.standard_normal((9, width(case, N_FEATURES))).astype(dtype)
    x = to_layout(x0, layout, tmp_path / "x.dat")
    g = to_layout(g0, layout, tmp_path / "g.dat")
    if layout == "readonly" or layout == "memmap":
        assert not x.flags.writeable
    act = make(case, N_FEATURES, rng)
    y, dx = run(case, act, x, g)
    check_against_reference(case, act, x0, g0, y, dx, dtype, what=layout)
    np.testing.assert_array_equal(x, x0)  # inputs untouched
    np.testing.assert_array_equal(g, g0)


@cases()
@dtypes
@pytest.mark.parametrize("shape", [(0, N_FEATURES), (7, 0), (0, 0)], ids=str)
def test_empty(case, dtype, shape):
    rng = np.random.default_rng(4)
    x = np.empty(shape, dtype=dtype)
    g = np.empty((shape[0], width(case, shape[1])), dtype=dtype)
    act = make(case, shape[1], rng)
    y, dx = run(case, act, x, g)
    assert y.shape == g.shape and y.dtype == dtype
    assert dx.shape == x.shape and dx.dtype == dtype
    if case.param_grad is not None:
        ry, rdx, rdp = reference(case, act, x, g)
        np.testing.assert_array_equal(act.grads, rdp)  # zeros


# ---------------------------------------------------------------------------------------------
# out=

@cases()
@dtypes
@pytest.mark.parametrize("order", ["C", "F"])
def test_out(case, dtype, order):
    rng = np.random.default_rng(5)
    x = sample_x((11, N_FEATURES), rng, dtype)
    g = rng.standard_normal((11, width(case, N_FEATURES))).astype(dtype)
    act = make(case, N_FEATURES, rng)
    out_y = np.full(g.shape, np.nan, dtype=dtype, order=order)
    out_dx = np.full(x.shape, np.nan, dtype=dtype, order=order)
    if order == "F" and case.kind != "elementwise":
        # the row-wise kernels (softmax, maxout, prelu) write C-contiguous rows only
        with pytest.raises(ValueError, match="out must be C-contiguous"):
            act.forward(x, out=out_y)
        with pytest.raises(ValueError, match="out must be C-contiguous"):
            act.backward(x, g, out=out_dx)
        return
    y = act.forward(x, out=out_y)
    dx = backward(act, x, g, out=out_dx)
    assert y is out_y and dx is out_dx
    check_against_reference(case, act, x, g, y, dx, dtype, what=f"out {order}")


@cases(SAME_SHAPE)
@dtypes
def test_forward_in_place(case, dtype):
    rng = np.random.default_rng(6)
    x0 = sample_x((11, N_FEATURES), rng, dtype)
    x = x0.copy()
    act = make(case, N_FEATURES, rng)
    y = act.forward(x, out=x)
    assert y is x
    ry, _, _ = reference(case, act, x0, np.zeros_like(x0))
    assert_close(y, ry, case.fwd_scale(x0.astype(np.float64)), dtype)


@cases()
@dtypes
@pytest.mark.parametrize("target", ["x", "grad_output"])
def test_backward_in_place(case, dtype, target):
    """Element-wise activations may write dL/dx over x or over grad_output. Softmax and maxout
    may write it over x; softmax refuses grad_output (it reads it after writing a row) and
    maxout's grad_output has another shape. PReLU may write over either (its kernel reads
    x and grad_output before writing dL/dx)."""
    rng = np.random.default_rng(7)
    x0 = sample_x((11, N_FEATURES), rng, dtype)
    g0 = rng.standard_normal((11, width(case, N_FEATURES))).astype(dtype)
    x, g = x0.copy(), g0.copy()
    act = make(case, N_FEATURES, rng)
    out = x if target == "x" else g
    if case.kind == "softmax" and target == "grad_output":
        with pytest.raises(ValueError, match="cannot write out over grad_output"):
            act.backward(x, g, out=out)
        return
    if case.kind == "maxout" and target == "grad_output":
        with pytest.raises(ValueError, match="out has shape"):
            act.backward(x, g, out=out)
        return
    dx = backward(act, x, g, out=out)
    assert dx is out
    _, rdx, rdp = reference(case, act, x0, g0)
    assert_close(dx, rdx, case.bwd_scale(x0.astype(np.float64), g0.astype(np.float64)), dtype)
    if case.param_grad is not None:  # computed from x and grad_output before they are overwritten
        assert_close(act.grads, rdp, case.param_scale(x0.astype(np.float64),
                                                      g0.astype(np.float64)), dtype)


def _bad_outs(shape, dtype):
    other = np.float64 if dtype == np.float32 else np.float32
    readonly = np.empty(shape, dtype=dtype)
    readonly.setflags(write=False)
    return {
        "shape": (np.empty((shape[0] + 1, shape[1]), dtype=dtype), ValueError, "out has shape"),
        "dtype": (np.empty(shape, dtype=other), TypeError, "out has dtype"),
        "readonly": (readonly, ValueError, "out is read-only"),
        "strided": (np.empty((shape[0], 2 * shape[1]), dtype=dtype)[:, ::2], ValueError,
                    "out must be C.*-contiguous"),
        "list": (np.empty(shape, dtype=dtype).tolist(), TypeError, "out must be a numpy array"),
    }


@cases()
@dtypes
@pytest.mark.parametrize("bad", ["shape", "dtype", "readonly", "strided", "list"])
def test_bad_out_raises(case, dtype, bad):
    rng = np.random.default_rng(8)
    x = sample_x((6, N_FEATURES), rng, dtype)
    g = rng.standard_normal((6, width(case, N_FEATURES))).astype(dtype)
    act = make(case, N_FEATURES, rng)
    out, exc, msg = _bad_outs(g.shape, dtype)[bad]
    with pytest.raises(exc, match=msg):
        act.forward(x, out=out)
    out, exc, msg = _bad_outs(x.shape, dtype)[bad]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # binary_step warns before the check
        with pytest.raises(exc, match=msg):
            act.backward(x, g, out=out)


# ---------------------------------------------------------------------------------------------
# Extreme values and NaN.

EXTREMES = [1e30, -1e30, 1e4, -1e4, 100.0, -100.0, 1e-30, -1e-30, 0.0, 0.5, -2.0, 3.0]


def extreme_x(dtype, rng):
    """Each row a permutation of EXTREMES (12 columns: maxout groups and softmax rows mix
    them), plus rows of all +1e30 and all -1e30."""
    rows = [rng.permutation(EXTREMES) for _ in range(6)]
    rows += [np.full(12, 1e30), np.full(12, -1e30)]
    return np.array(rows, dtype=dtype)


@cases()
@dtypes
def test_extreme_values_finite_and_right(case, dtype):
    rng = np.random.default_rng(9)
    x = extreme_x(dtype, rng)
    g = rng.standard_normal((x.shape[0], width(case, x.shape[1]))).astype(dtype)
    act = make(case, x.shape[1], rng)
    y, dx = run(case, act, x, g)
    assert np.all(np.isfinite(y)), y
    assert np.all(np.isfinite(dx)), dx
    assert np.all(np.isfinite(act.grads)), act.grads
    ry, rdx, rdp = reference(case, act, x, g)
    assert np.all(np.isfinite(ry)) and np.all(np.isfinite(rdx))
    # Relative to the value, with an absolute floor of the dtype's smallest normal number for
    # the forward (e.g. sigmoid(-100) = 3.7e-44 is subnormal in float32) and of eps |g| for
    # gradients (sigmoid'(100) = 3.7e-44 comes out as 0 from s (1 - s)).
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(y, ry, rtol=K_EPS * eps, atol=np.finfo(dtype).tiny)
    g64 = g.astype(np.float64)
    gscale = (np.abs(g64).max(axis=1, keepdims=True) if case.kind == "softmax" else
              0.0 if case.kind == "maxout" else np.abs(g64))
    assert np.all(np.abs(dx - rdx) <= K_EPS * eps * (np.abs(rdx) + gscale))
    if case.param_grad is not None:
        assert np.all(np.isfinite(rdp))
        # PReLU's slope gradient sums x * g over rows, where +-1e30 terms may cancel: bound by
        # the sum of |x g|. Swish's d/dbeta terms saturate to exactly 0 beyond |x| ~ 100, so
        # the sum is checked relative to itself.
        scale = case.param_scale(x.astype(np.float64), g64) if case.kind == "prelu" else 0.0
        assert np.all(np.abs(act.grads - rdp) <= K_EPS * eps * (np.abs(rdp) + scale)
                      + np.finfo(dtype).tiny)


LIMITS = [  # (name, params, x, f(x), f'(x)) at x = +-1e30
    ("sigmoid", {}, -1e30, 0.0, 0.0), ("sigmoid", {}, 1e30, 1.0, 0.0),
    ("tanh", {}, -1e30, -1.0, 0.0), ("tanh", {}, 1e30, 1.0, 0.0),
    ("softplus", {}, 1e30, 1e30, 1.0), ("softplus", {}, -1e30, 0.0, 0.0),
    ("softplus", {"beta": 2.0, "threshold": float("inf")}, 1e30, 1e30, 1.0),
    ("gelu", {}, -1e30, 0.0, 0.0), ("gelu", {}, 1e30, 1e30, 1.0),
    ("gelu", {"approximate": "tanh"}, -1e30, 0.0, 0.0),
    ("gelu", {"approximate": "tanh"}, 1e30, 1e30, 1.0),
    ("elu", {"alpha": 0.5}, -1e30, -0.5, 0.0), ("selu", {}, -1e30, -SELU_SCALE * SELU_ALPHA, 0.0),
    ("selu", {}, 1e30, SELU_SCALE * 1e30, SELU_SCALE),
    ("swish", {}, -1e30, 0.0, 0.0), ("swish", {}, 1e30, 1e30, 1.0),
    ("relu", {}, -1e30, 0.0, 0.0), ("leaky_relu", {}, -1e30, -1e28, 0.01),
    ("binary_step", {}, -1e30, 0.0, 0.0), ("binary_step", {}, 1e30, 1.0, 0.0),
]


@pytest.mark.parametrize("name, params, x, fx, dfx", LIMITS,
                         ids=[f"{n}{p or ''}({x:g})" for n, p, x, _, _ in LIMITS])
@dtypes
def test_limits(name, params, x, fx, dfx, dtype):
    act = activations.get(name, **params)
    xa = np.array([[x]], dtype=dtype)
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(act.forward(xa), [[fx]], rtol=rtol, atol=0)
    np.testing.assert_allclose(backward(act, xa, np.ones_like(xa)), [[dfx]], rtol=rtol, atol=0)


@cases(ELEMENTWISE + [c for c in CASES if c.kind == "prelu"])
@dtypes
def test_nan_propagates_elementwise(case, dtype):
    rng = np.random.default_rng(10)
    x = sample_x((5, N_FEATURES), rng, dtype)
    nan = np.zeros(x.shape, dtype=bool)
    nan[[0, 2, 4], [3, 0, N_FEATURES - 1]] = True
    x[nan] = np.nan
    act = make(case, N_FEATURES, rng)
    y = act.forward(x)
    assert np.all(np.isnan(y[nan]))
    assert np.all(np.isfinite(y[~nan]))


@dtypes
def test_nan_propagates_softmax_row(dtype):
    x = np.array([[0.0, np.nan, 1.0], [0.5, 1.0, -1.0], [np.nan, 2.0, 1.0]], dtype=dtype)
    y = activations.get("softmax").forward(x)
    assert np.all(np.isnan(y[[0, 2]]))
    assert_close(y[1], np_softmax(x[1:2].astype(np.float64))[0], 2.0, dtype)


@dtypes
def test_nan_propagates_maxout(dtype):
    """A NaN anywhere in a group makes the group's maximum NaN (as torch.max), and the
    gradient goes to the NaN piece."""
    x = np.array([[np.nan, 1.0, 1.0, np.nan, 2.0, 3.0]], dtype=dtype)
    act = activations.get("maxout", pieces=2)
    y = act.forward(x)
    assert np.isnan(y[0, 0]) and np.isnan(y[0, 1]) and y[0, 2] == 3.0
    dx = act.backward(x, np.array([[5.0, 7.0, 11.0]], dtype=dtype))
    np.testing.assert_array_equal(dx, np.array([[5.0, 0.0, 0.0, 7.0, 0.0, 11.0]], dtype=dtype))


@dtypes
@pytest.mark.parametrize("name", ["relu", "elu", "selu"])
def test_backward_at_nan_passes_the_gradient_as_torch(name, dtype):
    """torch's threshold_backward / elu_backward take the x <= 0 branch as the exception, so
    at x = NaN the gradient passes through unchanged (times SELU's scale)."""
    x = np.array([[np.nan, -1.0, 2.0]], dtype=dtype)
    g = np.array([[3.0, 5.0, 7.0]], dtype=dtype)
    dx = activations.get(name).backward(x, g)
    scale = SELU_SCALE if name == "selu" else 1.0
    assert dx[0, 0] == pytest.approx(3.0 * scale, rel=1e-6)
    assert dx[0, 2] == pytest.approx(7.0 * scale, rel=1e-6)


@pytest.mark.parametrize("name, params, message", [
    ("softplus", {"beta": 1e-50}, "beta=1e-50 does not fit in float32"),
    ("leaky_relu", {"negative_slope": 1e300}, r"negative_slope=1e\+300 does not fit in float32"),
    ("elu", {"alpha": 1e-60}, "alpha=1e-60 does not fit in float32"),
    ("swish", {"beta": -1e40}, r"beta=-1e\+40 does not fit in float32"),
])
def test_parameters_that_do_not_fit_float32_are_refused(name, params, message):
    act = activations.get(name, **params)
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        act.forward(x)
    with pytest.raises(ValueError, match=message):
        act.backward(x, x)
    assert np.all(np.isfinite(act.forward(x.astype(np.float64))))  # float64 takes them


# ---------------------------------------------------------------------------------------------
# Bad input.

BAD_X = {
    "1-D": (np.zeros(4), ValueError, r"x must be a 2-D array .* got a 1-D array of shape \(4,\)"),
    "3-D": (np.zeros((2, 2, 2)), ValueError, r"x must be a 2-D array .* got a 3-D array"),
    "int64": (np.zeros((2, 4), dtype=np.int64), TypeError, r"x has integer dtype int64"),
    "int32": (np.zeros((2, 4), dtype=np.int32), TypeError, r"x has integer dtype int32"),
    "uint8": (np.zeros((2, 4), dtype=np.uint8), TypeError, r"x has unsigned integer dtype uint8"),
    "bool": (np.zeros((2, 4), dtype=bool), TypeError, r"x has boolean dtype bool"),
    "complex": (np.zeros((2, 4), dtype=complex), TypeError, r"x has complex dtype complex128"),
    "object": (np.zeros((2, 4), dtype=object), TypeError, r"x has object dtype object"),
    "string": (np.full((2, 4), "a"), TypeError, r"x has string dtype <U1"),
    "bytes": (np.full((2, 4), b"a"), TypeError, r"x has bytes dtype \|S1"),
    "float16": (np.zeros((2, 4), dtype=np.float16), TypeError,
                r"x has unsupported dtype float16; activations take float32 or float64"),
}


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("bad", list(BAD_X))
def test_bad_x_raises(name, bad):
    x, exc, msg = BAD_X[bad]
    act = activations.get(name)
    with pytest.raises(exc, match=msg):
        act.forward(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(exc, match=msg):
            act.backward(x, x)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_bad_grad_output_raises(name):
    act = activations.get(name)
    x = np.zeros((3, 4))
    g_shape = (3, 2) if name == "maxout" else (3, 4)
    good = np.zeros(g_shape)
    bad_shape = (3, 3) if name == "maxout" else (3, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=re.escape(
                f"grad_output has shape {bad_shape}, expected {g_shape}")):
            act.backward(x, np.zeros(bad_shape))
        with pytest.raises(ValueError, match="grad_output has shape"):
            act.backward(x, good.T.copy() if name != "maxout" else np.zeros((2, 3)))
        with pytest.raises(TypeError, match="grad_output has dtype float32 but x has dtype "
                                            "float64"):
            act.backward(x, good.astype(np.float32))
        with pytest.raises(TypeError, match="grad_output has dtype float64 but x has dtype "
                                            "float32"):
            act.backward(x.astype(np.float32), good)
        with pytest.raises(TypeError, match="grad_output has integer dtype int64"):
            act.backward(x, good.astype(np.int64))
        with pytest.raises(ValueError, match="grad_output must be a 2-D array"):
            act.backward(x, good.ravel())


@pytest.mark.parametrize("pieces, n_features", [(2, 5), (3, 4), (4, 6)])
def test_maxout_width_not_divisible(pieces, n_features):
    act = activations.get("maxout", pieces=pieces)
    x = np.zeros((2, n_features))
    msg = f"pieces={pieces} needs a number of features divisible by {pieces}, got {n_features}"
    with pytest.raises(ValueError, match=msg):
        act.forward(x)
    with pytest.raises(ValueError, match=msg):
        act.backward(x, np.zeros((2, 1)))


def test_unknown_activation_name():
    with pytest.raises(ValueError, match="unknown activation 'relu6'; available: binary_step"):
        activations.get("relu6")
    with pytest.raises(ValueError, match="unknown activation 'ReLU'"):
        activations.get("ReLU")
    with pytest.raises(TypeError, match="activation name must be a str, got int"):
        activations.get(3)
    with pytest.raises(TypeError, match="activation name must be a str, got NoneType"):
        activations.get(None)


@pytest.mark.parametrize("name, params, bad", [
    ("relu", {"alpha": 1}, "alpha"),
    ("sigmoid", {"beta": 1.0}, "beta"),
    ("softplus", {"bta": 1.0}, "bta"),
    ("leaky_relu", {"slope": 0.1}, "slope"),
    ("gelu", {"approximation": "tanh"}, "approximation"),
    ("maxout", {"k": 2}, "k"),
    ("prelu", {"alpha": 0.1}, "alpha"),
    ("softmax", {"axis": 0}, "axis"),
])
def test_unknown_parameter(name, params, bad):
    with pytest.raises(TypeError, match=f"activation '{name}' has no parameter '{bad}'"):
        activations.get(name, **params)


INVALID_PARAMS = [
    ("softplus", {"beta": 0}, ValueError, r"beta must be > 0, got 0"),
    ("softplus", {"beta": -1.0}, ValueError, r"beta must be > 0, got -1"),
    ("softplus", {"beta": float("nan")}, ValueError, r"beta must be finite"),
    ("softplus", {"beta": float("inf")}, ValueError, r"beta must be finite"),
    ("softplus", {"beta": "1"}, TypeError, r"beta must be a real number, got '1'"),
    ("softplus", {"threshold": float("nan")}, ValueError, r"threshold must be finite"),
    ("softplus", {"threshold": None}, TypeError, r"threshold must be a real number"),
    ("maxout", {"pieces": 0}, ValueError, r"pieces must be >= 1, got 0"),
    ("maxout", {"pieces": -2}, ValueError, r"pieces must be >= 1, got -2"),
    ("maxout", {"pieces": 2.0}, TypeError, r"pieces must be an int, got 2\.0"),
    ("maxout", {"pieces": True}, TypeError, r"pieces must be an int, got True"),
    ("gelu", {"approximate": "foo"}, ValueError, r"approximate must be 'none' or 'tanh', "
                                                 r"got 'foo'"),
    ("gelu", {"approximate": None}, ValueError, r"approximate must be 'none' or 'tanh'"),
    ("leaky_relu", {"negative_slope": "0.1"}, TypeError, r"negative_slope must be a real"),
    ("leaky_relu", {"negative_slope": float("inf")}, ValueError, r"negative_slope must be "
                                                                 r"finite"),
    ("elu", {"alpha": None}, TypeError, r"alpha must be a real number"),
    ("elu", {"alpha": float("nan")}, ValueError, r"alpha must be finite"),
    ("prelu", {"init": "0.25"}, TypeError, r"init must be a real number"),
    ("prelu", {"num_parameters": 0}, ValueError, r"num_parameters must be >= 1, got 0"),
    ("prelu", {"num_parameters": 1.5}, TypeError, r"num_parameters must be an int"),
    ("swish", {"beta": float("nan")}, ValueError, r"beta must be finite"),
    ("swish", {"beta": [1.0]}, TypeError, r"beta must be a real number"),
    ("swish", {"learn_beta": "yes"}, TypeError, r"learn_beta must be True or False, "
                                                r"got 'yes'"),
    ("swish", {"learn_beta": 1}, TypeError, r"learn_beta must be True or False, got 1"),
]


@pytest.mark.parametrize("name, params, exc, msg", INVALID_PARAMS,
                         ids=[f"{n}-{p}" for n, p, _, _ in INVALID_PARAMS])
def test_invalid_parameter_values(name, params, exc, msg):
    with pytest.raises(exc, match=msg):
        activations.get(name, **params)


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("n_threads, exc, msg", [
    (0, ValueError, r"n_threads=0 is invalid"),
    ("2", TypeError, r"n_threads must be None or an int, got '2' of type str"),
    (2.0, TypeError, r"n_threads must be None or an int, got 2\.0 of type float"),
    (True, TypeError, r"n_threads must be None or an int, got True of type bool"),
], ids=["0", "str", "float", "bool"])
def test_invalid_n_threads(name, n_threads, exc, msg):
    with pytest.raises(exc, match=msg):
        activations.get(name, n_threads=n_threads)


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("n_threads", [None, 1, 2, -1, 64])
def test_valid_n_threads(name, n_threads):
    act = activations.get(name, n_threads=n_threads)
    x = np.linspace(-1, 1, 24).reshape(3, 8)
    assert act.forward(x).shape[0] == 3


# ---------------------------------------------------------------------------------------------
# binary_step, the registry, and the activations with learned parameters.

@dtypes
def test_binary_step_backward_is_zero_and_warns(dtype):
    act = activations.get("binary_step")
    x = np.array([[-1.0, 0.0, 2.0]], dtype=dtype)
    with pytest.warns(UserWarning, match="cannot train"):
        dx = act.backward(x, np.ones_like(x))
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, 0)
    with pytest.warns(UserWarning, match="binary_step has zero derivative almost everywhere"):
        act.backward(x, np.ones_like(x))
    np.testing.assert_array_equal(act.forward(x), [[0.0, 1.0, 1.0]])  # 1 for x >= 0


def test_available_lists_every_name_and_alias():
    assert activations.available() == sorted(ALL_NAMES)


@pytest.mark.parametrize("alias, name", [("linear", "identity"), ("logistic", "sigmoid"),
                                         ("silu", "swish")])
def test_aliases(alias, name):
    a, b = activations.get(alias), activations.get(name)
    assert type(a) is type(b)
    x = np.linspace(-3, 3, 12).reshape(2, 6)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_get_returns_activation_and_instance_is_returned(name):
    act = activations.get(name)
    assert isinstance(act, Activation)
    assert activations.get(act) is act
    assert isinstance(repr(act), str)
    with pytest.raises(TypeError, match="parameters cannot be given with an Activation"):
        activations.get(act, n_threads=1)


@dtypes
def test_prelu_slopes_created_per_feature_at_first_forward(dtype):
    act = activations.get("prelu")
    assert act.params.size == 0
    x = np.array([[-1.0, 2.0, -3.0, 0.5, -0.5]], dtype=dtype)
    y = act.forward(x)
    assert act.params.shape == (5,) and np.all(act.params == 0.25)
    np.testing.assert_array_equal(y, np.where(x > 0, x, np.asarray(0.25, dtype) * x))
    g = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=dtype)
    act.backward(x, g)
    assert act.grads.shape == (5,)
    np.testing.assert_allclose(act.grads, [-1.0, 0.0, -9.0, 0.0, -2.5])


def test_prelu_num_parameters():
    act = activations.get("prelu", num_parameters=5, init=0.1)
    assert act.params.shape == (5,) and np.all(act.params == 0.1)
    act.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="PReLU has 5 slopes but x has 4 features"):
        act.forward(np.ones((2, 4)))
    shared = activations.get("prelu", num_parameters=1)
    assert shared.params.shape == (1,) and shared.params[0] == 0.25
    for n_features in (1, 3, 7):  # one shared slope fits any width
        x = -np.ones((2, n_features))
        np.testing.assert_array_equal(shared.forward(x), -0.25)
        shared.backward(x, np.ones_like(x))
        np.testing.assert_array_equal(shared.grads, [-2.0 * n_features])


def test_prelu_per_feature_slopes_do_not_become_shared():
    """A per-feature PReLU first used on one feature has one slope; a later input with three
    features must be refused, not silently treated as a shared slope."""
    act = activations.get("prelu")
    act.forward(-np.ones((2, 1)))
    with pytest.raises(ValueError, match="PReLU has 1 slopes but x has 3 features"):
        act.forward(-np.ones((2, 3)))


def test_grads_buffer_is_kept():
    """backward writes the parameter gradient into the existing grads array (a network may
    point it at its flat gradient buffer)."""
    act = activations.get("prelu", num_parameters=3)
    buf = np.zeros(10)
    act.grads = buf[2:5]
    x = np.array([[-1.0, 2.0, -3.0]])
    act.backward(x, np.ones_like(x))
    np.testing.assert_array_equal(buf, [0, 0, -1, 0, -3, 0, 0, 0, 0, 0])
    act = activations.get("swish", learn_beta=True)
    act.grads = buf[7:8]
    act.backward(x, np.ones_like(x))
    assert buf[7] != 0


def test_swish_learned_beta():
    act = activations.get("swish", beta=0.5, learn_beta=True)
    assert act.params.shape == (1,) and act.params[0] == 0.5
    assert act.grads.shape == (1,)
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    act.params[0] = 2.0  # forward and backward use the learned value
    np.testing.assert_allclose(act.forward(x), np_swish(x, 2.0), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(act.backward(x, np.ones_like(x)), np_dswish(x, 2.0),
                               rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(act.grads, [np_dswish_dbeta(x, 2.0).sum()], rtol=1e-13)
    fixed = activations.get("swish", beta=0.5)
    assert fixed.params.size == 0 and fixed.n_params(4) == 0 and act.n_params(4) == 1


@dtypes
def test_maxout_ties_send_gradient_to_first_maximum(dtype):
    act = activations.get("maxout", pieces=2)
    x = np.array([[1.0, 1.0, 3.0, 3.0, -2.0, 5.0]], dtype=dtype)
    np.testing.assert_array_equal(act.forward(x), [[1.0, 3.0, 5.0]])
    g = np.array([[7.0, 8.0, 9.0]], dtype=dtype)
    np.testing.assert_array_equal(act.backward(x, g), [[7.0, 0.0, 8.0, 0.0, 0.0, 9.0]])


@dtypes
def test_softmax_rows_sum_to_one(dtype):
    rng = np.random.default_rng(11)
    x = rng.uniform(-30, 30, (50, 17)).astype(dtype)
    y = activations.get("softmax").forward(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=1, dtype=np.float64), 1.0,
                               rtol=0, atol=17 * 2 * np.finfo(dtype).eps)


# ---------------------------------------------------------------------------------------------
# A property over random shapes and memory orders.

HYPOTHESIS_CASES = [c for c in CASES if c.id in (
    "sigmoid", "tanh", "relu", "elu", "softplus-b2-t5", "gelu", "gelu-tanh", "swish-learn",
    "softmax", "maxout-3", "prelu", "prelu-shared")]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(HYPOTHESIS_CASES), n=st.integers(0, 40), m=st.integers(0, 8),
       dtype=st.sampled_from(DTYPES), order=st.sampled_from("CF"),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_shapes_match_reference(case, n, m, dtype, order, seed):
    rng = np.random.default_rng(seed)
    n_features = 6 * m
    x = np.asarray(sample_x((n, n_features), rng, dtype, lo=-10, hi=10), order=order)
    g = np.asarray(rng.standard_normal((n, width(case, n_features))).astype(dtype), order=order)
    act = make(case, n_features, rng)
    y, dx = run(case, act, x, g)
    check_against_reference(case, act, x, g, y, dx, dtype)
