"""Initializers: torch's formulas and gains, scikit-learn's draw, bad input."""
import math

import numpy as np
import pytest

from fastnn import initializers


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("selu", None, 0.75),
])
def test_calculate_gain_is_torchs_table(nonlinearity, param, gain):
    assert initializers.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'softsign'"):
        initializers.calculate_gain("softsign")


FAN_IN, FAN_OUT = 300, 500   # 150000 draws: sample moments within a few 1e-3


@pytest.mark.parametrize("name, params, kind, scale", [
    ("glorot_uniform", {}, "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("xavier_uniform", {"gain": 5 / 3}, "uniform", 5 / 3 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("glorot_normal", {}, "normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_uniform", {}, "uniform", math.sqrt(2) * math.sqrt(3 / FAN_IN)),
    ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "relu"}, "uniform",
     math.sqrt(2) * math.sqrt(3 / FAN_OUT)),
    ("he_normal", {}, "normal", math.sqrt(2) / math.sqrt(FAN_IN)),
    ("kaiming_normal", {"nonlinearity": "selu"}, "normal", 0.75 / math.sqrt(FAN_IN)),
    ("lecun_normal", {}, "normal", 1 / math.sqrt(FAN_IN)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distribution(name, params, kind, scale, dtype):
    """uniform: every draw inside (-bound, bound) and the extremes near the bound, variance
    bound^2 / 3; normal: mean 0 and standard deviation std (5 standard errors)."""
    w = initializers.get(name, **params)(FAN_IN, FAN_OUT, np.random.RandomState(0), dtype)
    assert w.shape == (FAN_IN, FAN_OUT) and w.dtype == dtype
    n = w.size
    w = w.astype(np.float64)
    if kind == "uniform":
        assert np.abs(w).max() <= scale * (1 + 1e-6)
        assert np.abs(w).max() > scale * (1 - 1e-3)
        sd = scale / math.sqrt(3)
    else:
        sd = scale
    assert abs(w.mean()) < 5 * sd / math.sqrt(n)
    # the sample variance's standard error is about sd^2 * sqrt(2 / n) (sqrt(4/5 / n) for
    # the uniform): 5 of them
    assert abs(w.var() - sd ** 2) < 5 * sd ** 2 * math.sqrt(2 / n)


def test_zeros_and_generator_rng():
    assert not initializers.get("zeros")(3, 4, np.random.default_rng(0)).any()
    w = initializers.get("he_normal")(3, 4, np.random.default_rng(0))
    assert w.shape == (3, 4) and np.all(np.isfinite(w))


def test_same_rng_state_same_weights():
    a = initializers.get("glorot_normal")(7, 5, np.random.RandomState(42))
    b = initializers.get("glorot_normal")(7, 5, np.random.RandomState(42))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
def test_sklearn_uniform_reproduces_sklearns_draw(activation):
    from sklearn.neural_network import MLPClassifier
    mlp = MLPClassifier(activation=activation)
    if not hasattr(mlp, "_init_coef"):
        pytest.skip("this scikit-learn has no _init_coef")
    mlp._random_state = np.random.RandomState(3)
    ours_rng = np.random.RandomState(3)
    for fan_in, fan_out in [(64, 100), (100, 10)]:  # consecutive layers share the stream
        coef, intercept = mlp._init_coef(fan_in, fan_out, np.float64)
        ours = initializers.sklearn_uniform(fan_in, fan_out, ours_rng, activation)
        np.testing.assert_array_equal(ours[0], coef)
        np.testing.assert_array_equal(ours[1], intercept)


@pytest.mark.parametrize("call, error, message", [
    (lambda: initializers.get("orthogonal"), ValueError, "unknown initializer 'orthogonal'"),
    (lambda: initializers.get("glorot_uniform", mode="fan_in"), TypeError,
     "initializer 'glorot_uniform'.*mode"),
    (lambda: initializers.get("glorot_uniform", gain=0), ValueError, "gain must be a positive"),
    (lambda: initializers.get("he_normal", mode="fan_avg"), ValueError, "mode must be"),
    (lambda: initializers.get("he_normal")(0, 3, np.random.RandomState(0)), ValueError,
     "fan_in must be a positive int"),
    (lambda: initializers.get("zeros")(3, 2.5, np.random.RandomState(0)), ValueError,
     "fan_out must be a positive int"),
    (lambda: initializers.calculate_gain("leaky_relu", "x"), ValueError,
     "negative_slope 'x' is not a valid number"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_registry():
    names = initializers.available()
    for name in ["glorot_uniform", "xavier_uniform", "glorot_normal", "xavier_normal",
                 "he_uniform", "kaiming_uniform", "he_normal", "kaiming_normal",
                 "lecun_normal", "zeros"]:
        assert name in names
    init = initializers.get("he_normal")
    assert initializers.get(init) is init
