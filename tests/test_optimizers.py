"""Tests of fastnn.optimizers: update kernels, clipping, L-BFGS.

The trajectories are checked against a NumPy transcription of torch.optim's single-tensor
equations written below (torch itself is never imported by the tests). The transcription
performs the same IEEE operations in the same order and rounds the hyper-parameters to the
array's dtype where torch does, so in float32 and float64 fastnn agrees with it to the last
bit, in every CPU variant of the kernels (_optim turns FMA contraction off); the comparisons
allow a few units in the last place (TOL_ULPS) for a compiler that would not honour that.
"""
import math
import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize  # noqa: F401 (imported here, outside the tests' warning filters)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from fastnn import optimizers
from fastnn.optimizers import LBFGS, clip_grad_norm, clip_grad_value

ALL_NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam",
             "amsgrad", "adamw", "nadam"]
DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------------------------
# NumPy transcription of torch.optim (2.x, _single_tensor_* functions).
#
# Arrays are of the parameter dtype; Python floats combined with them are rounded to that
# dtype by NumPy (NEP 50), which is what torch does with its Python-float hyper-parameters.
# Step-dependent scalars (bias corrections, NAdam's mu) are Python floats as in torch.

def _lerp(start, end, weight):
    """torch.lerp(start, end, weight) with a Python-float weight (rounded to the dtype)."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * (start.dtype.type(1) - w)


def _decay(g, p, wd):
    return g + wd * p if wd != 0 else g


class Reference:
    """torch.optim's update, one step at a time, on NumPy arrays."""

    def __init__(self, name, **hyper):
        self.algorithm, self.h = name, hyper
        self.t = 0
        self.state = {}
        self.mu_product = 1.0

    def step(self, p, g):
        self.t += 1
        getattr(self, "_" + self.algorithm)(p, g, self.t, self.state, **self.h)

    def _sgd(self, p, g, t, s, lr=1e-3, momentum=0, dampening=0, nesterov=False,
             weight_decay=0):
        d = _decay(g, p, weight_decay)
        if momentum != 0:
            if "buf" not in s:
                s["buf"] = d.copy()
            else:
                s["buf"] = s["buf"] * momentum + (1 - dampening) * d
            d = d + momentum * s["buf"] if nesterov else s["buf"]
        p[...] = p + (-lr) * d

    def _momentum(self, p, g, t, s, momentum=0.9, **h):
        self._sgd(p, g, t, s, momentum=momentum, **h)

    def _nesterov(self, p, g, t, s, momentum=0.9, nesterov=True, **h):
        self._sgd(p, g, t, s, momentum=momentum, nesterov=nesterov, **h)

    def _adagrad(self, p, g, t, s, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10):
        if "sum" not in s:
            s["sum"] = np.full_like(p, initial_accumulator_value)
        d = _decay(g, p, weight_decay)
        clr = lr / (1 + (t - 1) * lr_decay)
        s["sum"] = s["sum"] + d * d
        p[...] = p + (-clr * d) / (np.sqrt(s["sum"]) + eps)

    def _rmsprop(self, p, g, t, s, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0,
                 momentum=0, centered=False):
        if "v" not in s:
            s["v"], s["ga"], s["buf"] = (np.zeros_like(p) for _ in range(3))
        d = _decay(g, p, weight_decay)
        s["v"] = s["v"] * alpha + ((1 - alpha) * d) * d
        if centered:
            s["ga"] = _lerp(s["ga"], d, 1 - alpha)
            # v - ga^2 >= 0 in exact arithmetic; fastnn takes 0 where rounding makes it
            # negative (torch: NaN). Never reached in these trajectories.
            avg = np.sqrt(np.maximum(s["v"] - s["ga"] * s["ga"], 0))
        else:
            avg = np.sqrt(s["v"])
        avg = avg + eps
        if momentum > 0:
            s["buf"] = s["buf"] * momentum + d / avg
            p[...] = p + (-lr) * s["buf"]
        else:
            p[...] = p + (-lr * d) / avg

    def _adadelta(self, p, g, t, s, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0):
        if "v" not in s:
            s["v"], s["u"] = np.zeros_like(p), np.zeros_like(p)
        d = _decay(g, p, weight_decay)
        s["v"] = s["v"] * rho + ((1 - rho) * d) * d
        std = np.sqrt(s["v"] + eps)
        delta = np.sqrt(s["u"] + eps) / std * d
        s["u"] = s["u"] * rho + ((1 - rho) * delta) * delta
        p[...] = p + (-lr) * delta

    def _adam(self, p, g, t, s, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
              amsgrad=False, decoupled=False):
        beta1, beta2 = betas
        if "m" not in s:
            s["m"], s["v"], s["vmax"] = (np.zeros_like(p) for _ in range(3))
        if weight_decay != 0 and decoupled:
            p[...] = p * (1 - lr * weight_decay)
        d = _decay(g, p, 0 if decoupled else weight_decay)
        s["m"] = _lerp(s["m"], d, 1 - beta1)
        s["v"] = s["v"] * beta2 + ((1 - beta2) * d) * d
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        if amsgrad:
            s["vmax"] = np.maximum(s["vmax"], s["v"])
            denom = np.sqrt(s["vmax"]) / bias_correction2_sqrt + eps
        else:
            denom = np.sqrt(s["v"]) / bias_correction2_sqrt + eps
        p[...] = p + (-step_size * s["m"]) / denom

    def _amsgrad(self, p, g, t, s, amsgrad=True, **h):
        self._adam(p, g, t, s, amsgrad=amsgrad, **h)

    def _adamw(self, p, g, t, s, weight_decay=1e-2, **h):
        self._adam(p, g, t, s, weight_decay=weight_decay, decoupled=True, **h)

    def _nadam(self, p, g, t, s, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
               momentum_decay=4e-3):
        beta1, beta2 = betas
        if "m" not in s:
            s["m"], s["v"] = np.zeros_like(p), np.zeros_like(p)
        bias_correction2 = 1 - beta2 ** t
        d = _decay(g, p, weight_decay)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
        self.mu_product *= mu
        s["m"] = _lerp(s["m"], d, 1 - beta1)
        s["v"] = s["v"] * beta2 + ((1 - beta2) * d) * d
        denom = np.sqrt(s["v"] / bias_correction2) + eps
        mu_product_next = self.mu_product * mu_next
        p[...] = p + (-lr * (1.0 - mu) / (1.0 - self.mu_product) * d) / denom
        p[...] = p + ((-lr * mu_next) / (1.0 - mu_product_next) * s["m"]) / denom


# Several hyper-parameter settings per optimizer: momentum with dampening, Nesterov,
# centered RMSprop with momentum, AMSGrad, weight decay, lr_decay, betas with
# 1 - beta1 >= 0.5 (the other branch of torch's lerp).
CASES = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.03, momentum=0.8, nesterov=True, weight_decay=0.02)),
    ("momentum", dict(lr=0.02)),
    ("nesterov", dict(lr=0.02, weight_decay=0.05)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.2, lr_decay=0.05, weight_decay=0.01,
                     initial_accumulator_value=0.2, eps=1e-8)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("rmsprop", dict(lr=0.005, alpha=0.3, centered=True)),
    ("rmsprop", dict(lr=0.005, momentum=0.7, eps=1e-6)),
    ("adadelta", dict()),
    ("adadelta", dict(lr=0.5, rho=0.7, eps=1e-5, weight_decay=0.01)),
    ("adam", dict(lr=0.05)),
    ("adam", dict(lr=0.05, betas=(0.3, 0.9), weight_decay=0.05, amsgrad=True)),
    ("amsgrad", dict(lr=0.02, eps=1e-6)),
    ("adamw", dict(lr=0.05)),
    ("adamw", dict(lr=0.05, amsgrad=True, weight_decay=0.1, betas=(0.8, 0.99))),
    ("nadam", dict(lr=0.05)),
    ("nadam", dict(lr=0.05, betas=(0.4, 0.95), weight_decay=0.01, momentum_decay=0.01)),
]

N_STEPS = 60
TOL_ULPS = 4


class NoisyQuadratic:
    """f(w) = 0.5 w'Hw - b'w with H positive definite; the gradient at step k carries a
    fixed noise vector noise[k] (a stochastic gradient)."""

    def __init__(self, n=37, seed=0, noise=0.1):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((n, n))
        self.H = a @ a.T / n + 0.5 * np.eye(n)
        self.b = rng.standard_normal(n)
        self.noise = noise * rng.standard_normal((N_STEPS + 60, n))
        self.w0 = rng.standard_normal(n)
        self.minimum = np.linalg.solve(self.H, self.b)

    def grad(self, w, k=None):
        g = self.H @ w.astype(np.float64) - self.b
        if k is not None:
            g = g + self.noise[k]
        return g.astype(w.dtype)


def _trajectory(step, w, problem, n_steps, lrs=None, set_lr=None):
    out = []
    for k in range(n_steps):
        if lrs is not None:
            set_lr(lrs[k])
        step(w, problem.grad(w, k))
        out.append(w.copy())
    return np.array(out)


def _assert_ulps(actual, desired, dtype, ulps=TOL_ULPS):
    """Equal up to `ulps` units in the last place of the largest element (float rounding)."""
    scale = np.abs(desired).max()
    assert_allclose(actual, desired, rtol=0, atol=ulps * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, hyper", CASES)
def test_trajectory_matches_torch_equations(name, hyper, dtype):
    problem = NoisyQuadratic()
    opt = optimizers.get(name, **hyper)
    ref = Reference(name, **hyper)
    got = _trajectory(opt.step, problem.w0.astype(dtype), problem, N_STEPS)
    want = _trajectory(ref.step, problem.w0.astype(dtype), problem, N_STEPS)
    assert got.dtype == dtype
    assert np.all(np.isfinite(want))
    assert not np.array_equal(got[-1], got[0])  # it moved
    _assert_ulps(got, want, dtype)
    assert opt.n_steps == N_STEPS


@pytest.mark.parametrize("name, hyper", [CASES[1], CASES[8], CASES[14], CASES[19]])
def test_learning_rate_changed_between_steps(name, hyper):
    # A schedule sets opt.lr every epoch; the equations use the current lr at each step.
    problem = NoisyQuadratic(seed=1)
    lrs = hyper.get("lr", 0.01) * 0.97 ** np.arange(N_STEPS)
    opt = optimizers.get(name, **hyper)
    ref = Reference(name, **hyper)
    got = _trajectory(opt.step, problem.w0.copy(), problem, N_STEPS, lrs,
                      lambda lr: setattr(opt, "lr", lr))
    want = _trajectory(ref.step, problem.w0.copy(), problem, N_STEPS, lrs,
                       lambda lr: ref.h.__setitem__("lr", lr))
    _assert_ulps(got, want, np.float64)
    with pytest.raises(ValueError, match="-0.5"):
        opt.lr = -0.5


# Hyper-parameters, and a per-step exponential decay of the lr, with which each optimizer
# reaches the minimum of a well-conditioned quadratic without noise (weight_decay=0: decay
# moves the minimum). RMSprop and NAdam need the decay: with a constant lr their normalised
# step g / sqrt(v) does not vanish with g, and they hover at a distance ~lr around the
# minimum; a decaying lr (what a schedule provides) makes them converge.
CONVERGENCE = {
    "sgd": (dict(lr=0.3), 1.0),
    "momentum": (dict(lr=0.1), 1.0),
    "nesterov": (dict(lr=0.1), 1.0),
    "adagrad": (dict(lr=0.5), 1.0),
    "rmsprop": (dict(lr=0.05), 0.993),
    "adadelta": (dict(lr=1.0), 1.0),
    "adam": (dict(lr=0.05), 1.0),
    "amsgrad": (dict(lr=0.05), 1.0),
    "adamw": (dict(lr=0.05, weight_decay=0.0), 1.0),
    "nadam": (dict(lr=0.05), 0.999),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_converges_to_minimum_of_convex_quadratic(name, dtype):
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    H = q @ np.diag(np.linspace(0.5, 2.0, 10)) @ q.T
    minimum = rng.standard_normal(10)
    hyper, gamma = CONVERGENCE[name]
    w = np.zeros(10, dtype=dtype)
    opt = optimizers.get(name, **hyper)
    for k in range(3000):
        opt.lr = hyper["lr"] * gamma ** k
        opt.step(w, (H @ (w - minimum)).astype(dtype))
    # float32 stalls a few ulps (|w| <= 2.6, ulp 2.4e-7) from the minimum: once a step is
    # below half an ulp of the parameter, rounding discards it.
    tol = 1e-5 if dtype == np.float32 else 1e-9
    assert_allclose(w, minimum, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_zero_gradient_from_fresh_state_changes_nothing(name, dtype):
    # With weight_decay=0 and no history, every update is 0 * something: params stay put.
    hyper = dict(weight_decay=0.0)
    opt = optimizers.get(name, **hyper)
    w = np.random.default_rng(0).standard_normal(50).astype(dtype)
    w0 = w.copy()
    for _ in range(5):
        opt.step(w, np.zeros_like(w))
    assert_array_equal(w, w0)
    assert opt.n_steps == 5


def test_zero_gradient_still_moves_where_the_equations_say_so():
    w0 = np.linspace(-1, 1, 11)
    # Momentum keeps moving after a nonzero gradient: p -= lr * momentum * buf.
    opt = optimizers.get("momentum", lr=0.1)
    w = w0.copy()
    opt.step(w, np.ones_like(w))
    before = w.copy()
    opt.step(w, np.zeros_like(w))
    assert_array_equal(w, before + (-0.1) * (np.zeros_like(w) * 0.9 + 0.9 * 1.0))
    # AdamW's decoupled decay shrinks the weights even for a zero gradient.
    opt = optimizers.get("adamw", lr=0.1, weight_decay=0.5)
    w = w0.copy()
    opt.step(w, np.zeros_like(w))
    assert_array_equal(w, w0 * (1 - 0.1 * 0.5))
    # Coupled weight decay: the gradient becomes wd * p.
    opt = optimizers.get("sgd", lr=0.1, weight_decay=0.5)
    w = w0.copy()
    opt.step(w, np.zeros_like(w))
    assert_array_equal(w, w0 + (-0.1) * (0.5 * w0))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_none_gradient_and_empty_buffer_are_noops(name):
    opt = optimizers.get(name)
    w = np.arange(5.0)
    opt.step(w, None)
    assert_array_equal(w, np.arange(5.0))
    assert opt.n_steps == 0
    empty = np.empty(0)
    opt.step(empty, np.empty(0))
    assert opt.n_steps == 0 and opt.state_dict()["buffers"] == {}
    opt.step(w, np.ones(5))  # the state is created by the first real step
    assert opt.n_steps == 1


@pytest.mark.parametrize("name, hyper", CASES)
def test_state_dict_round_trip_reproduces_the_trajectory(name, hyper):
    problem = NoisyQuadratic(seed=2)
    opt = optimizers.get(name, **hyper)
    w = problem.w0.copy()
    for k in range(20):
        opt.step(w, problem.grad(w, k))
    snapshot = opt.state_dict()
    w_snapshot = w.copy()
    opt.lr = opt.lr * 0.5  # the snapshot keeps the lr of the time it was taken
    lr_at_snapshot = snapshot["hyper"]["lr"]
    continued = []
    for k in range(20, 50):
        opt.step(w, problem.grad(w, k))
        continued.append(w.copy())
    # A new optimizer (other hyper-parameters) resumes exactly from the snapshot, also after
    # a pickle round trip of the snapshot; the snapshot was not changed by later steps.
    resumed = optimizers.get(name, lr=0.123)
    resumed.load_state_dict(pickle.loads(pickle.dumps(snapshot)))
    assert resumed.lr == lr_at_snapshot and resumed.n_steps == 20
    resumed.lr = opt.lr
    w2 = w_snapshot.copy()
    again = []
    for k in range(20, 50):
        resumed.step(w2, problem.grad(w2, k))
        again.append(w2.copy())
    assert_array_equal(np.array(again), np.array(continued))


def test_pickled_optimizer_continues_identically():
    problem = NoisyQuadratic(seed=10)
    opt = optimizers.get("nadam", lr=0.05, weight_decay=0.01)
    w = problem.w0.copy()
    for k in range(10):
        opt.step(w, problem.grad(w, k))
    clone, w2 = pickle.loads(pickle.dumps(opt)), w.copy()
    for k in range(10, 30):
        opt.step(w, problem.grad(w, k))
        clone.step(w2, problem.grad(w2, k))
    assert_array_equal(w, w2)


def test_load_state_dict_checks_before_changing_anything():
    opt = optimizers.get("adam", lr=0.1)
    w = np.ones(4)
    opt.step(w, np.ones(4))
    good = opt.state_dict()
    other = optimizers.get("sgd", momentum=0.9)
    other.step(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="'sgd'"):
        opt.load_state_dict(other.state_dict())
    bad = opt.state_dict()
    bad["buffers"]["exp_avg"] = np.zeros(3)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["hyper"]["betas"] = (0.9, 1.0)
    with pytest.raises(ValueError, match="beta2"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["n_steps"] == good["n_steps"] and after["hyper"] == good["hyper"]
    for key in good["buffers"]:
        assert_array_equal(after["buffers"][key], good["buffers"][key])
    # A preset loads its base algorithm's state.
    ams = optimizers.get("amsgrad")
    ams.load_state_dict(optimizers.get("adam", amsgrad=True).state_dict())
    assert ams.amsgrad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, hyper", CASES)
def test_one_and_two_threads_give_identical_results(name, hyper, dtype):
    # 200_003 elements: above the parallel threshold, and a ragged last chunk.
    rng = np.random.default_rng(4)
    n = 200_003
    w0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    results = []
    for n_threads in (1, 2):
        opt = optimizers.get(name, **hyper, n_threads=n_threads)
        w = w0.copy()
        for g in grads:
            opt.step(w, g)
        results.append(w)
    assert_array_equal(results[0], results[1])
    ref = Reference(name, **hyper)
    w = w0.copy()
    for g in grads:
        ref.step(w, g)
    _assert_ulps(results[0], w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_cpu_variant_gives_the_same_bits(dtype, monkeypatch):
    # The kernels are built for the baseline ISA and for AVX2/AVX-512 (see _core/_dispatch)
    # with FMA contraction off: every variant must round exactly like the baseline one.
    from fastnn._core import _dispatch
    variants = _dispatch.available_variants("_optim")
    rng = np.random.default_rng(11)
    n = 10_007  # vector bodies of every width and scalar remainders
    w0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    for name, hyper in CASES:
        results = []
        for isa in variants:
            monkeypatch.setattr(optimizers, "_kernels", _dispatch.load("_optim", isa))
            opt = optimizers.get(name, **hyper)
            w = w0.copy()
            for g in grads:
                opt.step(w, g)
            results.append(w)
        for isa, w in zip(variants[1:], results[1:]):
            assert_array_equal(w, results[0], err_msg=f"{name} {hyper} {isa}")
    g = grads[0].copy()
    norms = []
    for isa in variants:
        monkeypatch.setattr(optimizers, "_kernels", _dispatch.load("_optim", isa))
        norms.append(clip_grad_norm(g.copy(), 1.0))
    assert len(set(norms)) == 1


def test_non_contiguous_params_are_updated_through_a_copy():
    problem = NoisyQuadratic(n=20, seed=5)
    base = np.zeros(40)
    strided = base[::2]
    strided[...] = problem.w0
    contiguous = problem.w0.copy()
    a, b = optimizers.get("adam", lr=0.1), optimizers.get("adam", lr=0.1)
    for k in range(10):
        g = problem.grad(contiguous, k)
        a.step(contiguous, g)
        grid = np.zeros(40)
        grid[1::2] = problem.grad(strided.copy(), k)
        b.step(strided, grid[1::2])  # strided grads too
    assert_array_equal(strided, contiguous)
    assert_array_equal(base[1::2], 0)  # the other elements are untouched


def test_invalid_buffers_raise_before_any_change():
    opt = optimizers.get("adam", lr=0.1)
    w = np.ones(5)
    opt.step(w, np.ones(5))
    w_before, state_before = w.copy(), opt.state_dict()
    cases = [
        (TypeError, "float32", lambda: opt.step(w, np.ones(5, dtype=np.float32))),
        (ValueError, r"shape \(4,\)", lambda: opt.step(w, np.ones(4))),
        (TypeError, "integer", lambda: opt.step(np.ones(5, dtype=int), np.ones(5))),
        (TypeError, "numpy array", lambda: opt.step([1.0] * 5, np.ones(5))),
        (ValueError, "1-D", lambda: opt.step(np.ones((5, 1)), np.ones((5, 1)))),
        (ValueError, "6 float64", lambda: opt.step(np.ones(6), np.ones(6))),
        (ValueError, "float32", lambda: opt.step(np.ones(5, np.float32),
                                                 np.ones(5, np.float32))),
    ]
    readonly = np.ones(5)
    readonly.flags.writeable = False
    cases.append((ValueError, "read-only", lambda: opt.step(readonly, np.ones(5))))
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
    assert_array_equal(w, w_before)
    after = opt.state_dict()
    assert after["n_steps"] == state_before["n_steps"]
    for key in after["buffers"]:
        assert_array_equal(after["buffers"][key], state_before["buffers"][key])
    opt.reset()  # a new buffer after reset() is fine
    opt.step(np.ones(6, np.float32), np.ones(6, np.float32))
    assert opt.n_steps == 1


def test_readonly_grads_are_accepted():
    g = np.ones(5)
    g.flags.writeable = False
    w = np.zeros(5)
    optimizers.get("sgd", lr=0.5).step(w, g)
    assert_array_equal(w, -0.5)


@pytest.mark.parametrize("name, hyper, message", [
    ("sgd", dict(lr=-0.1), "learning rate lr: -0.1"),
    ("adam", dict(lr=-1e-3), "learning rate lr: -0.001"),
    ("sgd", dict(lr=float("nan")), "learning rate lr"),
    ("adam", dict(betas=(1.0, 0.999)), "beta1 .*1.0"),
    ("adam", dict(betas=(0.9, 1.5)), "beta2 .*1.5"),
    ("nadam", dict(betas=(-0.1, 0.999)), "beta1 .*-0.1"),
    ("adamw", dict(betas=(0.9, 1.0)), "beta2 .*1.0"),
    ("adam", dict(eps=0.0), "epsilon eps: 0.0"),
    ("rmsprop", dict(eps=-1e-8), "epsilon eps: -1e-08"),
    ("adagrad", dict(eps=0), "epsilon eps: 0.0"),
    ("adadelta", dict(eps=-1.0), "epsilon eps: -1.0"),
    ("sgd", dict(momentum=-0.5), "momentum: -0.5"),
    ("rmsprop", dict(momentum=-0.1), "momentum: -0.1"),
    ("sgd", dict(momentum=0.9, dampening=1.5), "dampening: 1.5"),
    ("sgd", dict(nesterov=True), "Nesterov .*momentum=0.0"),
    ("sgd", dict(momentum=0.9, nesterov=True, dampening=0.1), "Nesterov .*dampening=0.1"),
    ("nesterov", dict(momentum=0.0), "Nesterov .*momentum=0.0"),
    ("sgd", dict(weight_decay=-1e-4), "weight_decay: -0.0001"),
    ("adamw", dict(weight_decay=-0.01), "weight_decay: -0.01"),
    ("rmsprop", dict(alpha=1.5), "alpha: 1.5"),
    ("adadelta", dict(rho=-0.1), "rho: -0.1"),
    ("adagrad", dict(lr_decay=-1.0), "lr_decay: -1.0"),
    ("adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value: -1.0"),
    ("nadam", dict(momentum_decay=-4e-3), "momentum_decay: -0.004"),
])
def test_invalid_hyper_parameters_raise_value_error_naming_the_value(name, hyper, message):
    with pytest.raises(ValueError, match=message):
        optimizers.get(name, **hyper)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*adam, adamw"):
        optimizers.get("adamax")
    with pytest.raises(TypeError, match="no hyper-parameter 'beta1'"):
        optimizers.get("adam", beta1=0.9)
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        optimizers.get("sgd", momentum=0.9, nesterov="yes")
    with pytest.raises(TypeError, match="betas must be a pair"):
        optimizers.get("adam", betas=0.9)
    opt = optimizers.get("nadam")
    assert optimizers.get(opt) is opt
    assert set(optimizers.available()) == set(ALL_NAMES)
    assert repr(optimizers.get("adam", lr=0.1, amsgrad=True)) == "Adam(lr=0.1, amsgrad=True)"


def test_presets_and_defaults_are_torchs():
    m = optimizers.get("momentum")
    assert (m.lr, m.momentum, m.nesterov, m.dampening) == (1e-3, 0.9, False, 0.0)
    n = optimizers.get("nesterov")
    assert (n.momentum, n.nesterov) == (0.9, True)
    assert optimizers.get("amsgrad").amsgrad
    w = optimizers.get("adamw")
    assert (w.lr, w.betas, w.eps, w.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 1e-2)
    a = optimizers.get("adagrad")
    assert (a.lr, a.lr_decay, a.initial_accumulator_value, a.eps) == (1e-2, 0, 0, 1e-10)
    r = optimizers.get("rmsprop")
    assert (r.lr, r.alpha, r.eps, r.momentum, r.centered) == (1e-2, 0.99, 1e-8, 0, False)
    d = optimizers.get("adadelta")
    assert (d.lr, d.rho, d.eps) == (1.0, 0.9, 1e-6)
    na = optimizers.get("nadam")
    assert (na.lr, na.betas, na.momentum_decay) == (2e-3, (0.9, 0.999), 4e-3)
    assert optimizers.get("sgd").lr == 1e-3


# ---------------------------------------------------------------------------------------------
# Batch, stochastic and mini-batch gradient descent are the same optimizers fed different
# gradients.

def test_batch_stochastic_and_minibatch_gradient_descent_reach_lstsq():
    # A consistent least-squares problem (y = X w exactly): every sample's gradient vanishes
    # at the solution, so even one-sample SGD with a constant lr converges to it.
    rng = np.random.default_rng(6)
    X = rng.standard_normal((64, 5))
    y = X @ rng.standard_normal(5)
    solution = np.linalg.lstsq(X, y, rcond=None)[0]

    def fit(batch_size, lr, epochs):
        w = np.zeros(5)
        opt = optimizers.get("sgd", lr=lr)
        order = np.random.default_rng(7)
        for _ in range(epochs):
            idx = order.permutation(len(X))
            for start in range(0, len(X), batch_size):
                b = idx[start:start + batch_size]
                residual = X[b] @ w - y[b]
                opt.step(w, X[b].T @ residual / len(b))  # gradient of the batch's mean loss
        return w

    batch = fit(batch_size=64, lr=0.5, epochs=400)        # batch GD: one step per epoch
    stochastic = fit(batch_size=1, lr=0.05, epochs=100)   # SGD: one sample per step
    minibatch = fit(batch_size=8, lr=0.2, epochs=100)     # mini-batch GD
    for w in (batch, stochastic, minibatch):
        assert_allclose(w, solution, rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Gradient clipping.

@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_norm_matches_torch_semantics(dtype):
    rng = np.random.default_rng(8)
    g = rng.standard_normal(100_001).astype(dtype)
    total = np.sqrt(np.sum(g.astype(np.float64) ** 2))
    # Above max_norm: scaled by max_norm / (total + 1e-6), returns the norm before.
    clipped = g.copy()
    returned = clip_grad_norm(clipped, 10.0)
    assert isinstance(returned, float)
    assert_allclose(returned, total, rtol=1e-13)
    assert_array_equal(clipped, g * dtype(10.0 / (returned + 1e-6)))
    assert_allclose(np.linalg.norm(clipped.astype(np.float64)), 10.0, rtol=1e-6)
    # Below max_norm: untouched.
    same = g.copy()
    assert clip_grad_norm(same, 1e6) == returned
    assert_array_equal(same, g)
    # 1 and 2 threads: the same norm to the bit (chunked, ordered sum).
    a, b = g.copy(), g.copy()
    assert clip_grad_norm(a, 1.0, n_threads=1) == clip_grad_norm(b, 1.0, n_threads=2)
    assert_array_equal(a, b)


def test_clip_grad_norm_other_norms_and_nonfinite():
    g = np.array([3.0, -4.0, 1.0])
    assert clip_grad_norm(g.copy(), 100.0, norm_type=1) == 8.0
    c = g.copy()
    assert clip_grad_norm(c, 2.0, norm_type="inf") == 4.0
    assert_array_equal(c, g * (2.0 / (4.0 + 1e-6)))
    assert clip_grad_norm(g.copy(), 1.0, norm_type=float("inf")) == 4.0
    with pytest.raises(ValueError, match="norm_type: 3.0"):
        clip_grad_norm(g.copy(), 1.0, norm_type=3)
    with pytest.raises(ValueError, match="max_norm: 0.0"):
        clip_grad_norm(g.copy(), 0.0)
    bad = np.array([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        clip_grad_norm(bad, 1.0, error_if_nonfinite=True)
    assert_array_equal(bad, [1.0, np.nan, 2.0])  # unchanged
    assert math.isnan(clip_grad_norm(bad, 1.0))
    assert np.all(np.isnan(bad))  # as torch: a NaN coefficient
    assert math.isnan(clip_grad_norm(np.array([1.0, np.nan]), 1.0, norm_type="inf"))
    assert clip_grad_norm(np.empty(0), 1.0) == 0.0


def test_clip_grad_value():
    rng = np.random.default_rng(9)
    for dtype in DTYPES:
        g = (3 * rng.standard_normal(70_001)).astype(dtype)
        g[5] = np.nan
        want = np.clip(g, -1.5, 1.5)
        a, b = g.copy(), g.copy()
        assert clip_grad_value(a, 1.5, n_threads=1) is None
        clip_grad_value(b, 1.5, n_threads=2)
        assert_array_equal(a, want)
        assert_array_equal(b, want)
    with pytest.raises(ValueError, match="clip_value: -1.0"):
        clip_grad_value(np.ones(3), -1.0)
    strided = np.arange(10.0)[::3]
    clip_grad_value(strided, 4.0)
    assert_array_equal(strided, [0.0, 3.0, 4.0, 4.0])


# ---------------------------------------------------------------------------------------------
# L-BFGS.

def _rosenbrock(x):
    value = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return value, grad


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [-1.2, 1.0, -0.5, 0.8, 1.3]])
def test_lbfgs_finds_rosenbrock_minimum(x0):
    seen = []

    def fun(x):
        seen.append(x.dtype)
        return _rosenbrock(x)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no scipy DeprecationWarning
        # ftol=0: stop on the gradient test alone (scipy's default ftol stops at ~2e-6).
        result = LBFGS(max_iter=1000, tol=1e-8, ftol=0.0).minimize(fun,
                                                                   np.array(x0, np.float32))
    assert result.success and not result.stopped_by_callback
    assert_allclose(result.x, np.ones(len(x0)), rtol=0, atol=1e-6)
    assert result.fun < 1e-12 and 0 < result.nit <= 1000 and result.nfev >= result.nit
    assert result.x.dtype == np.float64 and set(seen) == {np.dtype(np.float64)}


def test_lbfgs_callback_stops_cleanly():
    calls = []

    def callback(info):
        calls.append((info.nit, info.fun, info.x.copy()))
        return info.nit == 3

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = LBFGS().minimize(_rosenbrock, [-1.2, 1.0], callback=callback)
    assert result.stopped_by_callback and not result.success
    assert result.nit == 3 and [c[0] for c in calls] == [1, 2, 3]
    assert_array_equal(result.x, calls[-1][2])
    assert result.fun == calls[-1][1]

    def raising(info):
        if info.nit == 2:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = LBFGS().minimize(_rosenbrock, [-1.2, 1.0], callback=raising)
    assert result.stopped_by_callback and result.nit == 2


def test_lbfgs_warns_when_it_does_not_converge():
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        result = LBFGS(max_iter=5).minimize(_rosenbrock, [-1.2, 1.0])
    assert not result.success and result.nit == 5
    with pytest.warns(ConvergenceWarning):
        LBFGS(max_fun=3).minimize(_rosenbrock, [-1.2, 1.0])


def test_lbfgs_validation():
    with pytest.raises(ValueError, match="max_iter: 0"):
        LBFGS(max_iter=0)
    with pytest.raises(ValueError, match="tol: -1.0"):
        LBFGS(tol=-1.0)
    with pytest.raises(ValueError, match="1-D"):
        LBFGS().minimize(_rosenbrock, np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        LBFGS().minimize(_rosenbrock, [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\)"):
        LBFGS().minimize(lambda x: (0.0, np.zeros(3)), [1.0, 2.0])


def test_module_docstring_examples():
    import doctest

    from fastnn import schedules
    for module in (optimizers, schedules):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
