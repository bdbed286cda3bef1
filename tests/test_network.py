"""The network: backpropagation against finite differences, train/predict behaviour of batch
norm and dropout, the flat buffer, initialisation, allocation-free steps, pickling."""
import os
import pickle
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

from fastnn import activations
from fastnn import network as network_module
from fastnn._core import _dispatch
from fastnn.network import Network, check_gradient

RNG = np.random.default_rng(0)
X = RNG.standard_normal((30, 5))
Y_REG = RNG.standard_normal((30, 2))
LABELS = RNG.integers(0, 3, 30)
ONE_HOT = np.eye(3)[LABELS]

HIDDEN_ACTIVATIONS = [
    ("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.1}), ("prelu", {}), ("prelu", {"num_parameters": 1}),
    ("elu", {"alpha": 0.7}), ("selu", {}), ("softplus", {"beta": 2.0}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("swish", {}), ("swish", {"beta": 1.3,
                                                                 "learn_beta": True}),
    ("softmax", {}), ("maxout", {"pieces": 3}),
]


def _id(case):
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


@pytest.mark.parametrize("case", HIDDEN_ACTIVATIONS, ids=_id)
def test_backprop_every_hidden_activation(case):
    name, params = case
    net = Network(5, [6, 4], 2, activation=name, activation_params=params, random_state=0)
    assert check_gradient(net, X, Y_REG) < 1e-6


# (output activation, loss, targets, n_outputs): every loss, fused and unfused heads.
POSITIVE = np.abs(Y_REG) + 0.1
HEADS = [
    ("identity", "mse", Y_REG, 2), ("identity", "mse", Y_REG[:, 0], 1),
    ("identity", "mae", Y_REG, 2), ("identity", "huber", Y_REG * 3, 2),
    ("identity", "pseudo_huber", Y_REG, 2), ("identity", "log_cosh", Y_REG[:, :1], 1),
    ("identity", "poisson", np.floor(POSITIVE * 3), 2),
    ("sigmoid", "binary_crossentropy", (Y_REG > 0).astype(float), 2),
    ("sigmoid", "binary_crossentropy", (Y_REG[:, 0] > 0).astype(float), 1),
    ("identity", "sigmoid_crossentropy", (Y_REG > 0).astype(float), 2),
    ("softmax", "categorical_crossentropy", ONE_HOT, 3),
    ("softmax", "sparse_categorical_crossentropy", LABELS, 3),
    ("identity", "softmax_crossentropy", LABELS, 3),
    ("identity", "hinge", np.where(Y_REG > 0, 1.0, -1.0), 2),
    ("softmax", "kl_divergence", np.abs(ONE_HOT + 0.2) / 1.6, 3),   # unfused: general path
    ("identity", "focal", (Y_REG[:, :1] > 0).astype(float), 1),
    ("tanh", "mse", np.tanh(Y_REG), 2),                               # unfused
]


@pytest.mark.parametrize("output, loss, y, n_outputs", HEADS,
                         ids=[f"{h[0]}+{h[1]}-{h[3]}" for h in HEADS])
def test_backprop_every_head_and_loss(output, loss, y, n_outputs):
    net = Network(5, [6], n_outputs, activation="tanh", output_activation=output, loss=loss,
                  random_state=1)
    assert check_gradient(net, X, y) < 1e-6


@pytest.mark.parametrize("options", [
    {"batch_norm": True}, {"residual": True}, {"residual": True, "batch_norm": True},
    {"alpha": 0.5}, {"l1": 0.3}, {"alpha": 0.2, "l1": 0.1, "batch_norm": True,
                                  "residual": True},
], ids=str)
@pytest.mark.parametrize("sizes", [[6, 6, 4], [4, 7, 7]])
def test_backprop_with_options(options, sizes):
    """Batch norm in training mode, residual connections (identity between equal widths,
    projections otherwise), L1 and L2, together and apart."""
    net = Network(5, sizes, 3, activation="elu", output_activation="softmax",
                  loss="sparse_categorical_crossentropy", random_state=2, **options)
    if options.get("residual"):
        kinds = [layer.residual for layer in net.layers]
        assert "identity" in kinds or "projection" in kinds
    assert check_gradient(net, X, LABELS) < 1e-6


def test_backprop_with_sample_weight():
    weights = RNG.uniform(0, 2, 30)
    net = Network(5, [6], 2, activation="tanh", alpha=0.4, random_state=3)
    assert check_gradient(net, X, Y_REG, weights) < 1e-6


def test_sample_weight_two_equals_duplicated_row():
    net = Network(5, [6], 2, activation="tanh", alpha=0.4, random_state=3)
    w = np.ones(30)
    w[4] = 2
    value_w, grad_w = net.loss_and_gradient(X, Y_REG, w)
    grad_w = grad_w.copy()
    Xd, Yd = np.vstack([X, X[4:5]]), np.vstack([Y_REG, Y_REG[4:5]])
    value_d, grad_d = net.loss_and_gradient(Xd, Yd)
    assert value_w == pytest.approx(value_d, rel=1e-12)
    np.testing.assert_allclose(grad_w, grad_d, rtol=1e-10, atol=1e-14)


def test_l2_and_l1_follow_sklearn_convention():
    """loss = data loss + (0.5 alpha ||W||^2 + l1 ||W||_1) / n on weights, not biases."""
    base = Network(5, [6], 2, random_state=4)
    reg = Network(5, [6], 2, alpha=0.7, l1=0.3, random_state=4)
    v0, _ = base.loss_and_gradient(X, Y_REG)
    v1, _ = reg.loss_and_gradient(X, Y_REG)
    w = np.concatenate([c.ravel() for c in reg.coefs_])
    expected = (0.5 * 0.7 * np.dot(w, w) + 0.3 * np.abs(w).sum()) / 30
    assert v1 - v0 == pytest.approx(expected, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# Train / predict behaviour.

def test_dropout_only_in_training_and_deterministic_given_seed():
    net = Network(5, [50, 50], 2, dropout=0.5, random_state=0)
    p1, p2 = net.forward(X), net.forward(X)
    np.testing.assert_array_equal(p1, p2)                  # predict: no dropout
    t1 = net.forward(X, training=True, random_state=7)
    t2 = net.forward(X, training=True, random_state=7)
    t3 = net.forward(X, training=True, random_state=8)
    np.testing.assert_array_equal(t1, t2)                  # same seed, same masks
    assert not np.allclose(t1, p1) and not np.allclose(t1, t3)


def test_dropout_is_inverted_and_drops_the_rate():
    net = Network(5, [2000], 1, activation="identity", dropout=0.3, random_state=0)
    net.forward(X[:1], training=True, random_state=0)
    mask = net.layers[0].mask[:1]
    kept = mask != 0
    assert abs(1 - kept.mean() - 0.3) < 0.05               # about 30% dropped
    np.testing.assert_allclose(mask[kept], 1 / 0.7)        # kept units scaled by 1/(1-p)


def test_batch_norm_train_uses_batch_stats_and_predict_running_stats():
    net = Network(5, [4], 1, activation="identity", batch_norm=True, random_state=0)
    layer = net.layers[0]
    trained = net.forward(X, training=True)                # batch statistics
    z = X @ layer.coef + layer.intercept
    batch = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)     # gamma 1, beta 0
    np.testing.assert_allclose(trained, batch @ net.coefs_[1] + net.intercepts_[1],
                               rtol=1e-10, atol=1e-12)
    running_mean, running_var = net.running_stats()[0]
    np.testing.assert_allclose(running_mean, 0.1 * z.mean(0), rtol=1e-12)     # torch momentum
    np.testing.assert_allclose(running_var, 0.9 + 0.1 * z.var(0, ddof=1), rtol=1e-12)
    predicted = net.forward(X)
    h = (z - running_mean) / np.sqrt(running_var + 1e-5)
    np.testing.assert_allclose(predicted, h @ net.coefs_[1] + net.intercepts_[1], rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# The flat buffer and initialisation.

def test_coefs_and_intercepts_are_views_of_one_buffer():
    net = Network(5, [6, 4], 3, activation="prelu", batch_norm=True, residual=True,
                  random_state=0)
    for arr in net.coefs_ + net.intercepts_:
        assert np.shares_memory(arr, net.params)
    assert [c.shape for c in net.coefs_] == [(5, 6), (6, 4), (4, 3)]
    assert [b.shape for b in net.intercepts_] == [(6,), (4,), (3,)]
    assert np.shares_memory(net.layers[0].activation.params, net.params)
    net.params[...] = 0
    assert not any(c.any() for c in net.coefs_)


def test_sklearn_init_reproduces_sklearn_draw():
    from fastnn.initializers import sklearn_uniform
    net = Network(5, [6, 4], 3, activation="logistic", random_state=42)
    rng = np.random.RandomState(42)
    for coef, intercept, (fan_in, fan_out) in zip(net.coefs_, net.intercepts_,
                                                  [(5, 6), (6, 4), (4, 3)]):
        w, b = sklearn_uniform(fan_in, fan_out, rng, "logistic")
        np.testing.assert_array_equal(coef, w)
        np.testing.assert_array_equal(intercept, b)


@pytest.mark.parametrize("activation, std", [("relu", np.sqrt(2 / 300)),
                                             ("selu", np.sqrt(1 / 300)),
                                             ("tanh", np.sqrt(2 / 600))])
def test_init_auto(activation, std):
    """auto: He for the ReLU family, LeCun for SELU, Glorot otherwise; biases 0."""
    net = Network(300, [300], 1, activation=activation, init="auto", random_state=0)
    assert not net.intercepts_[0].any()
    assert net.coefs_[0].std() == pytest.approx(std, rel=0.02)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_end_to_end(dtype):
    net = Network(5, [6], 2, dtype=dtype, random_state=0)
    assert net.params.dtype == dtype
    value, grad = net.loss_and_gradient(X.astype(dtype), Y_REG.astype(dtype))
    assert grad.dtype == dtype and np.isfinite(value)
    assert net.forward(X.astype(dtype)).dtype == dtype


def test_float32_matches_float64():
    n32 = Network(5, [6], 2, dtype=np.float32, random_state=0)
    n64 = Network(5, [6], 2, dtype=np.float64, random_state=0)
    v32, g32 = n32.loss_and_gradient(X.astype(np.float32), Y_REG.astype(np.float32))
    v64, g64 = n64.loss_and_gradient(X, Y_REG)
    assert v32 == pytest.approx(v64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


def test_one_and_two_threads_identical():
    """Large enough (17000 x 64 per layer) for the network's own kernels to use threads."""
    from fastnn.network import _KERNEL_THREADS_MIN_ELEMENTS
    assert 17000 * 64 >= _KERNEL_THREADS_MIN_ELEMENTS
    Xb = RNG.standard_normal((17000, 20))
    yb = RNG.integers(0, 4, 17000)
    grads = []
    for n_threads in (1, 2):
        net = Network(20, [64, 64], 4, activation="gelu", output_activation="softmax",
                      loss="sparse_categorical_crossentropy", batch_norm=True,
                      random_state=0, n_threads=n_threads)
        grads.append(net.loss_and_gradient(Xb, yb)[1].copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_no_allocation_in_a_warm_training_step():
    """After the first step, a step allocates no arrays: the buffers are reused. (Python
    still creates small view objects, hence the 64 KiB allowance against a batch whose
    activations take 2.5 MB.)"""
    Xb = RNG.standard_normal((512, 100))
    yb = RNG.integers(0, 10, 512)
    net = Network(100, [256, 256], 10, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", batch_norm=True, dropout=0.2,
                  random_state=0)
    gen = np.random.default_rng(0)
    net.loss_and_gradient(Xb, yb, rng=gen)
    tracemalloc.start()
    net.loss_and_gradient(Xb, yb, rng=gen)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    activations_bytes = 512 * (256 + 256) * 8
    assert peak < 64 * 1024 < activations_bytes


def test_pickle_round_trip_keeps_views_and_outputs():
    net = Network(5, [6], 3, activation="prelu", batch_norm=True, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", random_state=0)
    net.loss_and_gradient(X, LABELS)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    assert np.shares_memory(clone.coefs_[0], clone.params)
    assert np.shares_memory(clone.layers[0].activation.params, clone.params)
    clone.params[...] = 0
    assert net.params.any()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"alpha": -1}, ValueError, "alpha must be a number >= 0"),
    ({"dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\)"),
    ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
    ({"activation": ["relu"] * 3}, ValueError, "3 activations given for 1 hidden layers"),
    ({"activation": "swoosh"}, ValueError, "unknown activation 'swoosh'"),
])
def test_bad_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        Network(5, [6], 2, **kwargs)


def test_bad_input():
    net = Network(5, [6], 2)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 5\)"):
        net.forward(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="X has dtype float32; this network computes in"):
        net.forward(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="check_gradient needs dropout=0"):
        check_gradient(Network(5, [6], 2, dropout=0.1), X, Y_REG)


def test_check_gradient_detects_a_wrong_gradient():
    """The checker can fail: corrupt the backward pass and it reports a large error."""
    net = Network(5, [6], 2, activation="tanh", random_state=0)
    real = net.loss_and_gradient

    def corrupted(*args, **kwargs):
        value, grad = real(*args, **kwargs)
        grad[0] *= 1.5
        return value, grad

    net.loss_and_gradient = corrupted
    assert check_gradient(net, X, Y_REG) > 1e-3


# ---------------------------------------------------------------------------------------------
# The compiled plan (one nogil call per minibatch) against the Python sequence of kernel
# calls it replaces: the same kernels in the same order, so the same bits. The one exception
# is PReLU with one shared slope, whose gradient sums the per-column gradients in a
# different order than numpy's pairwise sum (last-bit differences in that one entry).

def _twins(*args, **kwargs):
    """A network on the compiled plan and an identical one on the Python path."""
    compiled = Network(*args, **kwargs)
    python = Network(*args, **kwargs)
    python._build_plan = lambda: None  # the Python path is the fallback when there is no plan
    return compiled, python


def _shared_slope_entries(net):
    """Indices in params of PReLU slopes shared by all columns (see the comment above)."""
    entries, offset = [], 0
    for kind, i, shape in net._layout:
        size = int(np.prod(shape))
        act = net.layers[i].activation
        if (kind == "act" and isinstance(act, activations.PReLU) and act.num_parameters == 1
                and net.layers[i].n_linear > 1):
            entries.append(offset)
        offset += size
    return entries


def _assert_same_step(compiled, python, X, y, sample_weight=None, training=True, seed=0):
    v1, g1 = compiled.loss_and_gradient(X, y, sample_weight, training=training,
                                        rng=np.random.default_rng(seed))
    v2, g2 = python.loss_and_gradient(X, y, sample_weight, training=training,
                                      rng=np.random.default_rng(seed))
    assert compiled._plan is not None and python._plan is None
    assert isinstance(v1, float) and (v1 == v2 or (np.isnan(v1) and np.isnan(v2)))
    shared = _shared_slope_entries(compiled)
    exact = np.setdiff1d(np.arange(g1.size), shared)
    np.testing.assert_array_equal(g1[exact], g2[exact])
    np.testing.assert_allclose(g1[shared], g2[shared], rtol=1e-12)
    for r1, r2 in zip(compiled.running_stats(), python.running_stats()):
        if r1 is not None:
            np.testing.assert_array_equal(r1[0], r2[0])
            np.testing.assert_array_equal(r1[1], r2[1])
    for l1, l2 in zip(compiled.layers, python.layers):
        if l1.dropout:
            np.testing.assert_array_equal(l1.mask[:X.shape[0]], l2.mask[:X.shape[0]])


def _assert_same_forward(compiled, python, X):
    np.testing.assert_array_equal(compiled.forward(X), python.forward(X))
    np.testing.assert_array_equal(compiled.forward(X, training=True, random_state=3),
                                  python.forward(X, training=True, random_state=3))


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", HIDDEN_ACTIVATIONS, ids=_id)
def test_plan_matches_python_every_hidden_activation(case, dtype):
    name, params = case
    compiled, python = _twins(5, [6, 4], 2, activation=name, activation_params=params,
                              dtype=dtype, random_state=0)
    Xd = X.astype(dtype)
    for _ in range(2):  # the second step runs on updated parameters
        _assert_same_step(compiled, python, Xd, Y_REG)
        compiled.params -= 0.1 * compiled.grads
        python.params -= 0.1 * python.grads
    _assert_same_forward(compiled, python, Xd)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("output, loss, y, n_outputs", HEADS,
                         ids=[f"{h[0]}+{h[1]}-{h[3]}" for h in HEADS])
def test_plan_matches_python_every_head_and_loss(output, loss, y, n_outputs, dtype):
    compiled, python = _twins(5, [6], n_outputs, activation="tanh", output_activation=output,
                              loss=loss, dtype=dtype, random_state=1)
    Xd = X.astype(dtype)
    _assert_same_step(compiled, python, Xd, y)
    if y.dtype.kind == "f":  # targets already in the network's dtype: read as they are
        _assert_same_step(compiled, python, Xd, y.astype(dtype))
    _assert_same_forward(compiled, python, Xd)


OPTIONS = [
    {}, {"batch_norm": True}, {"dropout": 0.3}, {"residual": True},
    {"residual": True, "batch_norm": True, "dropout": 0.2}, {"alpha": 0.5}, {"l1": 0.3},
    {"alpha": 0.2, "l1": 0.1}, {"loss_scale": 0.5}, {"activation": "prelu"},
    {"activation": "swish", "activation_params": {"learn_beta": True}, "batch_norm": True},
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("sizes", [[6, 6, 4], [4, 7, 7]])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_plan_matches_python_with_options(options, sizes, dtype):
    """Batch norm (train, then eval), dropout, identity and projection skips, L1/L2 with and
    without sample weights, loss_scale, learned activation parameters."""
    options = {"activation": "elu", **options}
    compiled, python = _twins(5, sizes, 3, output_activation="softmax",
                              loss="sparse_categorical_crossentropy", dtype=dtype,
                              random_state=2, **options)
    Xd = X.astype(dtype)
    weights = RNG.uniform(0, 2, 30)
    _assert_same_step(compiled, python, Xd, LABELS)
    _assert_same_step(compiled, python, Xd, LABELS, weights, seed=1)  # converted weights
    _assert_same_step(compiled, python, Xd, LABELS.astype(np.int32),  # converted labels
                      weights.astype(dtype), seed=2)
    _assert_same_step(compiled, python, Xd, ONE_HOT, training=False)  # eval mode, one-hot
    _assert_same_forward(compiled, python, Xd)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_plan_matches_python_on_two_threads(monkeypatch, dtype):
    """With the network's thread threshold lowered, a batch of 600 x 64 is large enough for
    the kernels to use both threads: the plan gives the Python path's bits, and the same
    bits as on one thread."""
    monkeypatch.setattr(network_module, "_KERNEL_THREADS_MIN_ELEMENTS", 0)
    Xb = RNG.standard_normal((600, 20)).astype(dtype)
    yb = RNG.integers(0, 4, 600)
    weights = RNG.uniform(0, 2, 600).astype(dtype)
    options = dict(activation="swish", activation_params={"learn_beta": True},
                   output_activation="softmax", loss="sparse_categorical_crossentropy",
                   batch_norm=True, residual=True, dropout=0.1, alpha=0.1, dtype=dtype,
                   random_state=0)
    grads = []
    for n_threads in (1, 2):
        compiled, python = _twins(20, [64, 64, 64], 4, n_threads=n_threads, **options)
        _assert_same_step(compiled, python, Xb, yb, weights)
        grads.append(compiled.grads.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_plan_reads_any_layout_of_X(dtype):
    """Read-only, Fortran-ordered and strided X give the results of a contiguous copy."""
    net = Network(5, [6], 3, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", dtype=dtype, random_state=0)
    Xd = X.astype(dtype)
    expected_value, expected = net.loss_and_gradient(Xd, LABELS)
    expected, expected_out = expected.copy(), net.forward(Xd)
    readonly = Xd.copy()
    readonly.flags.writeable = False
    wide = np.zeros((30, 10), dtype)
    wide[:, ::2] = Xd
    for layout in (readonly, np.asfortranarray(Xd), wide[:, ::2]):
        value, grads = net.loss_and_gradient(layout, LABELS)
        assert value == expected_value
        np.testing.assert_array_equal(grads, expected)
        np.testing.assert_array_equal(net.forward(layout), expected_out)


class _MyTanh(activations.Tanh):
    """A user's activation: a subclass may change forward/backward, so the plan skips it."""


@pytest.mark.parametrize("kwargs", [
    {"activation": _MyTanh()},
    {"activation": "binary_step"},                              # its backward warns
    {"output_activation": "prelu", "loss": "mse"},              # parameters outside params
    {"activation": "leaky_relu", "activation_params": {"negative_slope": 1e300},
     "dtype": np.float32},                                      # does not fit float32
], ids=["subclass", "binary_step", "prelu-output", "param-overflow"])
def test_python_path_for_what_the_plan_does_not_run(kwargs):
    kwargs = {"dtype": np.float64, **kwargs}
    net = Network(5, [6], 2, random_state=0, **kwargs)
    Xd = X.astype(kwargs["dtype"])
    if "negative_slope" in str(kwargs):
        with pytest.raises(ValueError, match="does not fit in float32"):
            net.loss_and_gradient(Xd, Y_REG)
        assert net._plan is None
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # binary_step's warning
        value, grads = net.loss_and_gradient(Xd, Y_REG)
        assert net._plan is None and np.isfinite(value) and grads.shape == net.params.shape
        assert net.forward(Xd).shape == (30, 2)


def test_python_path_gives_the_plans_results_for_a_subclass():
    ours = Network(5, [6], 2, activation="tanh", random_state=0)
    theirs = Network(5, [6], 2, activation=_MyTanh(), random_state=0)
    v1, g1 = ours.loss_and_gradient(X, Y_REG)
    v2, g2 = theirs.loss_and_gradient(X, Y_REG)
    assert ours._plan is not None and theirs._plan is None
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("loss, y, message", [
    ("sparse_categorical_crossentropy", np.where(LABELS == 2, 3, LABELS),
     r"y_true has label 3, outside \[0, 2\]"),
    ("categorical_crossentropy", ONE_HOT * np.nan, "y_true contains NaN"),
    ("categorical_crossentropy", np.zeros((30, 2)), "one integer label per sample"),
    ("kl_divergence", ONE_HOT * 2, r"y_true must hold probabilities in \[0, 1\]"),
    ("kl_divergence", np.zeros((30, 2)), r"y_true has shape \(30, 2\) but y_pred has"),
    ("sparse_categorical_crossentropy", LABELS + 0.5, "non-integer value 0.5"),
], ids=["label-range", "nan", "labels-shape", "probabilities", "shape", "non-integer"])
def test_plan_reports_invalid_targets_as_the_python_path(loss, y, message):
    """Checks before the plan's call and values the loss kernel reports (NaN) end in the
    loss module's error, as on the Python path."""
    for net in _twins(5, [6], 3, output_activation="softmax", loss=loss, random_state=0):
        with pytest.raises(ValueError, match=message):
            net.loss_and_gradient(X, y)


def test_plan_goes_on_after_a_genuine_overflow():
    """A non-finite loss from valid input (Poisson's exp beyond float32) is no error: the
    step completes, as on the Python path."""
    compiled, python = _twins(5, [6], 2, activation="identity", loss="poisson",
                              dtype=np.float32, random_state=0)
    for net in (compiled, python):
        net.intercepts_[1][...] = 100  # exp(100) > float32 max
    _assert_same_step(compiled, python, X.astype(np.float32), np.ones((30, 2)))
    assert compiled.loss_and_gradient(X.astype(np.float32), np.ones((30, 2)))[0] == np.inf


def test_plan_is_rebuilt_when_the_workspace_grows_and_after_pickling():
    net = Network(5, [6], 3, activation="prelu", batch_norm=True, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", random_state=0)
    net.loss_and_gradient(X[:10], LABELS[:10])
    small_plan = net._plan
    value, grads = net.loss_and_gradient(X, LABELS)
    assert net._plan is not small_plan and net._plan.capacity == 30
    fresh = Network(5, [6], 3, activation="prelu", batch_norm=True,
                    output_activation="softmax", loss="sparse_categorical_crossentropy",
                    random_state=0)
    fresh.loss_and_gradient(X[:10], LABELS[:10])  # same running statistics
    assert fresh.loss_and_gradient(X, LABELS)[0] == value
    clone = pickle.loads(pickle.dumps(net))
    assert clone._plan is None  # built with the clone's workspace, at its first call
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    assert clone._plan is not None
    assert clone.loss_and_gradient(X, LABELS)[0] == net.loss_and_gradient(X, LABELS)[0]


def test_plan_uses_the_activations_kernel_variant():
    """The plan, the layer kernels and fastnn.activations load the same variant: the one
    FASTNN_ISA asks for, if set."""
    isa = _dispatch.isa_of(network_module._plans)
    assert isa == _dispatch.isa_of(activations._kernels)
    assert isa == _dispatch.isa_of(network_module._layers)
    assert isa == os.environ.get("FASTNN_ISA", isa)


OTHER_PLAN_VARIANTS = [isa for isa in _dispatch.available_variants("_network")
                       if isa != _dispatch.isa_of(network_module._plans)]


@pytest.mark.skipif(not OTHER_PLAN_VARIANTS, reason="only one plan variant on this machine")
@pytest.mark.parametrize("isa", OTHER_PLAN_VARIANTS)
def test_plan_matches_python_with_every_variant(isa):
    """FASTNN_ISA forces the plan's variant (with the kernels'): rerun the comparisons in a
    subprocess, since the choice is made at import."""
    env = dict(os.environ, FASTNN_ISA=isa)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-x", "-p", "no:cacheprovider",
         "-k", "(plan_matches_python or kernel_variant) and not every_variant "
               "and not two_threads"],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_read_only_model_predicts_compiled_and_refuses_to_train_as_before():
    """A model whose buffers are read-only (joblib's mmap_mode) predicts through the plan;
    a training call takes the Python path, which reports the read-only buffer."""
    net = Network(5, [6], 3, batch_norm=True, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", random_state=0)
    net.loss_and_gradient(X, LABELS)
    expected = net.forward(X)
    for array in [net.params, net.grads] + [a for stats in net._running if stats
                                            for a in stats]:
        array.flags.writeable = False
    net._bind_views()
    np.testing.assert_array_equal(net.forward(X), expected)
    assert net._plan is not None and not net._plan.trains
    with pytest.raises(ValueError, match="read-only|writable"):
        net.loss_and_gradient(X, LABELS)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_layer_kernels_give_the_same_bits_in_every_variant(dtype):
    """_layers is built per ISA with FMA contraction off: every variant, the same bits."""
    rng = np.random.default_rng(0)
    n, m = 300, 130  # vector bodies and remainders, several reduction blocks
    z, g, z_hat = (rng.standard_normal((n, m)).astype(dtype) for _ in range(3))
    gamma, beta, bias = (rng.standard_normal(m).astype(dtype) for _ in range(3))
    results = {}
    for isa in _dispatch.available_variants("_layers"):
        k = _dispatch.load("_layers", isa)
        partials = np.empty((k.n_row_blocks(n, m), m))
        out = z.copy()
        k.bias_add(out, bias, 1)
        sums = np.empty(m, dtype)
        k.column_sums(g, partials, sums, 0.5, 1)
        bn = [np.empty((n, m), dtype) for _ in range(2)] + [np.empty(m, dtype) for _ in range(2)]
        running = [np.zeros(m, dtype), np.ones(m, dtype)]
        k.batchnorm_train(z, gamma, beta, bn[0], bn[1], bn[2], bn[3], *running, 0.1, 1e-5,
                          partials, 1)
        grad_z, grads = np.empty((n, m), dtype), [np.empty(m, dtype) for _ in range(2)]
        k.batchnorm_backward(g, z_hat, gamma, np.abs(beta), grad_z, *grads,
                             np.empty((n, m), dtype), partials, 1)
        weights, penalty_grads = z.ravel().copy(), g.ravel().copy()
        value = k.penalty(weights, penalty_grads, 0.3, 0.2, np.empty(-(-n * m // 4096)), 1)
        results[isa] = [out, sums, *bn, *running, grad_z, *grads, penalty_grads,
                        np.array(value)]
    baseline = results.pop("baseline")
    for arrays in results.values():
        for a, b in zip(arrays, baseline):
            np.testing.assert_array_equal(a, b)


def test_plan_refuses_a_batch_its_workspace_cannot_hold():
    net = Network(5, [6], 3, output_activation="softmax",
                  loss="sparse_categorical_crossentropy", random_state=0)
    net.loss_and_gradient(X[:10], LABELS[:10])
    for bad in (X, X[:10, :4].copy()):
        with pytest.raises(ValueError, match="does not fit"):
            net._plan.forward(bad, np.empty((len(bad), 3)), False, 1, 0.1, 1e-5)
