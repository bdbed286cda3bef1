"""The network: backpropagation against finite differences, train/predict behaviour of batch
norm and dropout, the flat buffer, initialisation, allocation-free steps, pickling."""
import pickle
import tracemalloc

import numpy as np
import pytest

from fastnn import activations
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
