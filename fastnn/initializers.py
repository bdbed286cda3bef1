"""Weight initialisation: Xavier/Glorot, He/Kaiming, LeCun, zeros, and scikit-learn's scheme.

``get(name, **params)`` returns an initializer; calling it as ``init(fan_in, fan_out, rng,
dtype)`` returns a (fan_in, fan_out) weight matrix (fastnn stores a layer's weights as
``coefs_[i]`` of shape (fan_in, fan_out), as scikit-learn does; torch's Linear weight is its
transpose). ``rng`` is a ``numpy.random.RandomState`` or ``Generator``.

Formulas are torch.nn.init's, with gains from ``calculate_gain`` (torch's table):

==================  ===============  ==================================================
name                aliases          distribution
==================  ===============  ==================================================
``glorot_uniform``  xavier_uniform   U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
``glorot_normal``   xavier_normal    N(0, std), std = gain * sqrt(2 / (fan_in + fan_out))
``he_uniform``      kaiming_uniform  U(-a, a), a = gain * sqrt(3 / fan)
``he_normal``       kaiming_normal   N(0, std), std = gain / sqrt(fan)
``lecun_normal``                     N(0, 1 / sqrt(fan_in)) (torch's advice for SELU:
                                     kaiming_normal with nonlinearity="linear";
                                     untruncated, unlike Keras' LecunNormal)
``zeros``                            0
==================  ===============  ==================================================

He/Kaiming take ``nonlinearity="leaky_relu"`` and ``a=0`` (torch's defaults, so gain
sqrt(2)) and ``mode="fan_in"`` or ``"fan_out"``; Glorot takes ``gain=1.0``.

``sklearn_uniform(fan_in, fan_out, rng, activation)`` reproduces scikit-learn's MLP
initialisation draw for draw: U(-a, a) with a = sqrt(f / (fan_in + fan_out)), f = 2 for the
logistic activation and 6 otherwise, for the weights and then the biases of each layer,
from the same RandomState.
"""
import math
import numbers

import numpy as np

from fastnn._registry import Registry

__all__ = ["Initializer", "available", "calculate_gain", "get", "sklearn_uniform"]


def calculate_gain(nonlinearity, param=None):
    """torch.nn.init.calculate_gain: the recommended gain for an activation."""
    if nonlinearity in ("linear", "identity", "sigmoid", "logistic", "conv1d", "conv2d",
                        "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r} for calculate_gain")


def _check_fans(fan_in, fan_out):
    for name, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, numbers.Integral) or fan < 1:
            raise ValueError(f"{name} must be a positive int, got {fan!r}")


class Initializer:
    """Base class: ``init(fan_in, fan_out, rng, dtype=np.float64)`` -> (fan_in, fan_out)."""

    name = None

    def __call__(self, fan_in, fan_out, rng, dtype=np.float64):
        _check_fans(fan_in, fan_out)
        return np.asarray(self._draw(fan_in, fan_out, rng), dtype=dtype)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Zeros(Initializer):
    name = "zeros"

    def _draw(self, fan_in, fan_out, rng):
        return np.zeros((fan_in, fan_out))


class GlorotUniform(Initializer):
    name = "glorot_uniform"

    def __init__(self, gain=1.0):
        self.gain = _check_gain(gain)

    def _draw(self, fan_in, fan_out, rng):
        bound = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, (fan_in, fan_out))


class GlorotNormal(Initializer):
    name = "glorot_normal"

    def __init__(self, gain=1.0):
        self.gain = _check_gain(gain)

    def _draw(self, fan_in, fan_out, rng):
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / (fan_in + fan_out)),
                          (fan_in, fan_out))


class _Kaiming(Initializer):
    def __init__(self, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
        if mode not in ("fan_in", "fan_out"):
            raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
        self.a, self.mode, self.nonlinearity = a, mode, nonlinearity
        self.gain = calculate_gain(nonlinearity, a)

    def _std(self, fan_in, fan_out):
        return self.gain / math.sqrt(fan_in if self.mode == "fan_in" else fan_out)


class HeUniform(_Kaiming):
    name = "he_uniform"

    def _draw(self, fan_in, fan_out, rng):
        bound = math.sqrt(3.0) * self._std(fan_in, fan_out)
        return rng.uniform(-bound, bound, (fan_in, fan_out))


class HeNormal(_Kaiming):
    name = "he_normal"

    def _draw(self, fan_in, fan_out, rng):
        return rng.normal(0.0, self._std(fan_in, fan_out), (fan_in, fan_out))


class LecunNormal(Initializer):
    name = "lecun_normal"

    def _draw(self, fan_in, fan_out, rng):
        return rng.normal(0.0, 1.0 / math.sqrt(fan_in), (fan_in, fan_out))


def _check_gain(gain):
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not gain > 0:
        raise ValueError(f"gain must be a positive number, got {gain!r}")
    return float(gain)


def sklearn_uniform(fan_in, fan_out, rng, activation, dtype=np.float64):
    """scikit-learn's MLP initialisation of one layer: (coef, intercept), drawn in that order
    from rng (a RandomState) as sklearn's ``_init_coef`` does."""
    _check_fans(fan_in, fan_out)
    factor = 2.0 if activation == "logistic" else 6.0
    bound = math.sqrt(factor / (fan_in + fan_out))
    coef = rng.uniform(-bound, bound, (fan_in, fan_out))
    intercept = rng.uniform(-bound, bound, fan_out)
    return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)


_REGISTRY = Registry("initializer", Initializer)
for _cls, _aliases in [(Zeros, ()), (GlorotUniform, ("xavier_uniform",)),
                       (GlorotNormal, ("xavier_normal",)), (HeUniform, ("kaiming_uniform",)),
                       (HeNormal, ("kaiming_normal",)), (LecunNormal, ())]:
    _REGISTRY.add(_cls, *_aliases)
del _cls, _aliases


def available():
    """Names (with aliases) accepted by ``get``."""
    return _REGISTRY.available()


def get(name, **params):
    """The initializer called ``name`` (see the module docstring); an Initializer instance
    is returned as it is."""
    return _REGISTRY.get(name, **params)
