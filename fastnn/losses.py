"""Loss functions: value and gradient in one fused pass, with PyTorch's conventions.

``get(name, **params)`` returns a loss object::

    >>> import numpy as np
    >>> from fastnn import losses
    >>> loss = losses.get("huber", delta=1.0)
    >>> y_true, y_pred = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 5.0])
    >>> loss.value(y_true, y_pred)                     # mean of 0.125, 0, 2.5
    0.875
    >>> loss.gradient(y_true, y_pred)                  # d value / d y_pred
    array([0.16666667, 0.        , 0.33333333])
    >>> value, grad = loss.value_and_gradient(y_true, y_pred, sample_weight=[1, 1, 2])

Every loss has ``value(y_true, y_pred, sample_weight=None)`` -> float,
``gradient(y_true, y_pred, sample_weight=None, out=None)`` -> array of y_pred's shape, and
``value_and_gradient(...)`` -> (float, array), all three served by the same compiled kernel,
which computes value and gradient in one pass over the data (``value`` alone writes no
gradient). ``out`` is a preallocated gradient array (y_pred's shape and dtype, contiguous,
not overlapping the inputs).

Arrays. y_pred is float32 or float64 and the computation stays in its dtype (y_true and
sample_weight are converted to it; the value is a Python float summed in double, with
float32 terms added in fours before the double sum).
y_true / y_pred are 1-D (n_samples,) or 2-D (n_samples, n_outputs); (n,) and (n, 1) are
treated alike (no broadcasting) and the gradient has y_pred's shape. The distribution losses
need 2-D y_pred (n_samples, n_classes); integer labels are 1-D (n_samples,). C- and
F-ordered, read-only and memory-mapped arrays are used as they are where the loss is
element-wise and unweighted; other layouts are copied once. Each object takes ``n_threads``
(None = what OpenMP allows, -1 = all CPUs); results do not depend on it, bitwise.

Reductions (PyTorch's ``reduction="mean"``):

- element-wise losses (mse, mae, huber, pseudo_huber, log_cosh, poisson,
  binary_crossentropy, sigmoid_crossentropy, hinge, focal): the mean over all elements,
  ``sum_ij l_ij / (n_samples n_outputs)``;
- distribution losses (categorical_crossentropy, sparse_categorical_crossentropy,
  softmax_crossentropy, kl_divergence): the sum over classes, averaged over samples,
  ``sum_i l_i / n_samples`` (torch CrossEntropyLoss; KLDivLoss with "batchmean").

``sample_weight`` (n_samples,), non-negative, gives the weighted mean normalised by the
weights, so that a weight of 2 equals a duplicated row and a weight of 0 ignores the row:
``sum_i w_i sum_j l_ij / (sum_i w_i n_outputs)`` for element-wise losses and
``sum_i w_i l_i / sum_i w_i`` for distribution losses. softmax_crossentropy with a class
``weight`` divides by the total weight of the targets, as torch:
``sum_i s_i w[y_i] l_i / sum_i s_i w[y_i]`` (s = sample_weight), where l_i already contains
the factor w[y_i].

Bad input raises TypeError (dtypes) or ValueError (shapes, values), naming the argument and
the problem. Shapes and dtypes are checked before the kernel runs; values (NaN or inf,
probabilities outside [0, 1], negative counts or weights, labels out of range, hinge labels)
are checked by the kernel in the same pass as the loss, at no extra memory traffic, and
explained here when it reports a problem: in that case ``out`` may have been written. A
value that is inf or NaN for valid input is a genuine overflow (e.g. poisson with
y_pred > 88.7 in float32, where exp(y_pred) exceeds the float range, as in torch).

Catalog (name, aliases, parameters with their defaults):

===================================  ===============  ============================================
``mse``                              squared_error    (y_pred - y)^2 (torch MSELoss)
``mae``                              absolute_error   |y_pred - y| (torch L1Loss)
``huber``                                             delta=1.0 (torch HuberLoss)
``pseudo_huber``                                      delta=1.0: d^2 (sqrt(1 + (r/d)^2) - 1)
``log_cosh``                                          log(cosh(y_pred - y))
``poisson``                                           exp(y_pred) - y y_pred: y_pred is the log of
                                                      the mean (torch PoissonNLLLoss,
                                                      log_input=True, full=False); y >= 0
``binary_crossentropy``                               probabilities (torch BCELoss)
``sigmoid_crossentropy``                              logits, pos_weight=None (torch
                                                      BCEWithLogitsLoss)
``categorical_crossentropy``                          one-hot or soft targets, probabilities
``sparse_categorical_crossentropy``                   integer labels, probabilities
``softmax_crossentropy``                              logits; integer labels or one-hot / soft
                                                      targets; weight=None (torch
                                                      CrossEntropyLoss)
``hinge``                                             raw scores; labels {0, 1} or {-1, 1}
                                                      (Keras hinge)
``kl_divergence``                                     both probabilities: sum p log(p / q)
``focal``                                             logits, alpha=0.25, gamma=2.0 (torchvision
                                                      sigmoid_focal_loss)
===================================  ===============  ============================================
"""
import inspect
import math
import numbers

import numpy as np

from fastnn._core import _dispatch
from fastnn._core._openmp import effective_n_threads
from fastnn._validation import check_out, check_real, flat, order_of

__all__ = ["Loss", "available", "get"]

# The kernels compiled for the widest vector instructions this CPU has (see _core/_dispatch).
_kernels = _dispatch.load("_losses")
_Kind = _kernels.LossKind

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_KIND_NAMES = {"c": "complex", "i": "integer", "u": "unsigned integer", "b": "boolean",
               "O": "object", "U": "string", "S": "bytes", "M": "datetime", "m": "timedelta",
               "V": "void"}


# ---------------------------------------------------------------------------------------------
# Checks at the boundary: every error names the argument and what is wrong with it.

def _dtype_name(a):
    return f"{_KIND_NAMES.get(a.dtype.kind, 'unsupported')} dtype {a.dtype}"


def _check_pred(y_pred, *, two_d=False):
    """y_pred as a float32/float64 ndarray of 1 or 2 dimensions (2 if two_d), non-empty."""
    if not isinstance(y_pred, np.ndarray):
        y_pred = np.asarray(y_pred)
    if y_pred.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"y_pred has {_dtype_name(y_pred)}; losses take float32 or float64 predictions "
            f"(convert with y_pred.astype(np.float32))")
    if two_d and y_pred.ndim != 2:
        raise ValueError(
            f"y_pred must be a 2-D array (n_samples, n_classes) for this loss, got a "
            f"{y_pred.ndim}-D array of shape {y_pred.shape}")
    if y_pred.ndim not in (1, 2):
        raise ValueError(
            f"y_pred must be a 1-D (n_samples,) or 2-D (n_samples, n_outputs) array, got a "
            f"{y_pred.ndim}-D array of shape {y_pred.shape}")
    if y_pred.size == 0:
        raise ValueError(f"y_pred is empty (shape {y_pred.shape}); losses need at least one "
                         f"sample and one output")
    return y_pred


def _check_numeric(a, name):
    """a as an ndarray of a real numeric dtype (bool, integer or float)."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} has {_dtype_name(a)}; it must hold real numbers")
    return a


def _check_true_like(y_true, y_pred):
    """y_true with y_pred's shape and dtype ((n,) and (n, 1) are interchangeable)."""
    y_true = _check_numeric(y_true, "y_true")
    if y_true.shape != y_pred.shape:
        if (y_true.ndim + y_pred.ndim == 3 and y_true.size == y_pred.size
                and y_true.shape[0] == y_pred.shape[0]):
            y_true = y_true.reshape(y_pred.shape)
        else:
            raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape "
                             f"{y_pred.shape}; they must match")
    return y_true


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return None
    sample_weight = _check_numeric(sample_weight, "sample_weight")
    if sample_weight.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},) (one weight per "
                         f"sample), got shape {sample_weight.shape}")
    return sample_weight


def _check_labels(labels, n_samples):
    """Integer class labels as a C-contiguous int64 array of shape (n_samples,)."""
    labels = _check_numeric(labels, "y_true")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(f"y_true must hold one integer label per sample, shape "
                         f"({n_samples},), got shape {labels.shape}")
    if labels.dtype.kind == "f":
        finite = np.isfinite(labels)
        if not finite.all():
            raise ValueError("y_true (labels) contains NaN or inf")
        if not (labels == np.round(labels)).all():
            bad = labels[labels != np.round(labels)][0].item()
            raise ValueError(f"y_true must hold integer class labels, got the non-integer "
                             f"value {bad!r}")
    if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
        raise ValueError(f"y_true has label {labels.max()}, beyond the int64 range")
    return np.ascontiguousarray(labels, dtype=np.int64)


def _check_weight_vector(value, name):
    """A scalar or 1-D array of finite non-negative weights, as a float64 array."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.array([check_real(value, name, low=0)])
    array = _check_numeric(value, name)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D array, got shape "
                         f"{array.shape}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    if (array < 0).any():
        raise ValueError(f"{name} must be >= 0, got {array[array < 0][0].item()!r}")
    return array


_EMPTY = {dtype: np.empty(0, dtype=dtype) for dtype in _FLOAT_DTYPES}


def _finite_problem(a, name):
    """A message if a holds NaN or inf, else None."""
    if np.isnan(a).any():
        return f"{name} contains NaN"
    if np.isinf(a).any():
        return f"{name} contains inf"
    return None


def _range_problem(a, name, low, high, what):
    """A message if a has values outside [low, high] (high None: no upper bound)."""
    bad = (a < low) if high is None else ((a < low) | (a > high))
    if bad.any():
        return f"{name} must hold {what}, got {a[bad].flat[0].item()!r}"
    return None


# ---------------------------------------------------------------------------------------------
# The classes.

class Loss:
    """Base class. A loss maps (y_true, y_pred) to a float; see the module docstring for
    shapes, reductions and sample weights.

    Subclasses set ``name`` and ``_kind`` (the kernel's LossKind) and may override
    ``_params()`` (the kernel's two scalar parameters), ``_column_weight()`` and
    ``_value_problems()`` (the value checks that explain an invalid-input report).
    """

    name = None
    _kind = None
    # Reduction: "elementwise" (mean over all elements) or "distribution" (sum over
    # classes, mean over samples).
    reduction = "elementwise"
    _needs_2d = False
    _rowwise = False  # the kernel reads whole rows (C order) even without weights

    def __init__(self, *, n_threads=None):
        effective_n_threads(n_threads)  # raises now on a bad value
        self.n_threads = n_threads

    # -- public API ---------------------------------------------------------------------------

    def value(self, y_true, y_pred, sample_weight=None):
        """The loss (a float), averaged as described in the module docstring."""
        return self._compute(y_true, y_pred, sample_weight, want_gradient=False)[0]

    def gradient(self, y_true, y_pred, sample_weight=None, out=None):
        """d value / d y_pred, an array of y_pred's shape and dtype (written into out if
        given)."""
        return self._compute(y_true, y_pred, sample_weight, want_gradient=True, out=out)[1]

    def value_and_gradient(self, y_true, y_pred, sample_weight=None, out=None):
        """(value, gradient), computed together in one pass."""
        return self._compute(y_true, y_pred, sample_weight, want_gradient=True, out=out)

    # -- for the network: what the cdef kernels (fastnn._core._losses) need ------------------

    def kernel_spec(self, n_outputs, dtype, labels=False):
        """(kind, p0, p1, column_weight) for fastnn._core._losses.loss_dense (or, with
        labels=True, loss_labels): column_weight is an array of n_outputs values of `dtype`,
        or None. The kernels return the value and write the gradient exactly as
        value_and_gradient does, without the checks of this module."""
        kind = getattr(self, "_labels_kind", None) if labels else self._kind
        if kind is None:
            raise ValueError(f"{self.name} does not take "
                             f"{'integer labels' if labels else 'dense targets'}")
        p0, p1 = self._params()
        return kind, p0, p1, self._column_weight(n_outputs, np.dtype(dtype))

    # -- to override --------------------------------------------------------------------------

    def _params(self):
        return 0.0, 0.0

    def _column_weight(self, n_outputs, dtype):
        return None

    def _value_problems(self, y_true, y_pred):
        """Messages about invalid y_true / y_pred values (beyond NaN and inf)."""
        return []

    # -- machinery ----------------------------------------------------------------------------

    def _threads(self):
        return effective_n_threads(self.n_threads)

    def _compute(self, y_true, y_pred, sample_weight, want_gradient, out=None):
        y_pred = _check_pred(y_pred, two_d=self._needs_2d)
        y_true = _check_true_like(y_true, y_pred)
        n_samples = y_pred.shape[0]
        n_outputs = y_pred.size // n_samples
        sample_weight = _check_sample_weight(sample_weight, n_samples)
        column_weight = self._column_weight(n_outputs, y_pred.dtype)
        # The kernels walk element-wise unweighted losses as flat arrays, in any common memory
        # order; per-row weights and per-column parameters need rows: C order.
        flat_ok = ((sample_weight is None or n_outputs == 1) and column_weight is None
                   and not self._rowwise)
        order = order_of(out if out is not None else y_pred) if flat_ok else "C"
        if out is not None and want_gradient:
            check_out(out, y_pred.shape, y_pred.dtype, order,
                      overlaps=[("y_true", y_true), ("y_pred", y_pred)])
        dtype = y_pred.dtype
        yp = np.asarray(y_pred, order=order)  # a copy only when not contiguous in `order`
        yt = np.asarray(y_true, dtype=dtype, order=order)
        sw = None if sample_weight is None else np.ascontiguousarray(sample_weight,
                                                                     dtype=dtype)
        grad = None
        if want_gradient:
            grad = out if out is not None else np.empty(y_pred.shape, dtype=dtype, order=order)
        p0, p1 = self._params()
        value = _kernels.dense(
            self._kind, flat(yt, order), flat(yp, order),
            flat(grad, order) if grad is not None else _EMPTY[dtype], n_samples, n_outputs,
            sw if sw is not None else _EMPTY[dtype],
            column_weight if column_weight is not None else _EMPTY[dtype], p0, p1,
            self._threads())
        if not math.isfinite(value):
            self._explain(yt, yp, sw, y_true)
        return value, grad

    def _explain(self, yt, yp, sw, y_true_original=None, labels=None):
        """The kernel returned NaN or inf: raise ValueError naming the invalid input, if
        there is one (otherwise the value is a genuine overflow and is returned)."""
        problems = []
        if labels is None:
            message = _finite_problem(yt, "y_true")
            if (message is not None and y_true_original is not None
                    and y_true_original.dtype.itemsize > yt.dtype.itemsize
                    and _finite_problem(y_true_original, "y_true") is None):
                message = (f"y_true has values beyond the range of y_pred's dtype "
                           f"{yt.dtype} (they become inf)")
            problems.append(message)
        problems.append(_finite_problem(yp, "y_pred"))
        if not any(problems):
            problems += self._value_problems(labels if labels is not None else yt, yp)
        if sw is not None and not any(problems):
            problems.append(_finite_problem(sw, "sample_weight"))
            problems.append(_range_problem(sw, "sample_weight", 0, None,
                                           "non-negative weights"))
            if not any(problems) and not sw.sum(dtype=np.float64) > 0:
                problems.append("sample_weight sums to 0: at least one sample needs a "
                                "positive weight")
        for message in problems:
            if message:
                raise ValueError(message)

    def __repr__(self):
        signature = inspect.signature(type(self))
        shown = []
        for p in signature.parameters:
            if p == "n_threads":
                continue
            value = getattr(self, p)
            default = signature.parameters[p].default
            if isinstance(value, np.ndarray) or isinstance(default, np.ndarray) \
                    or value != default:
                shown.append(f"{p}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


# Element-wise regression losses -------------------------------------------------------------

class MeanSquaredError(Loss):
    """(y_pred - y)^2, averaged over all elements (torch MSELoss). Gradient 2 (y_pred - y)
    / n. The residual and its square are formed in double, so float32 residuals up to the
    float32 range give a finite value."""

    name = "mse"
    _kind = _Kind.MSE


class MeanAbsoluteError(Loss):
    """|y_pred - y|, averaged over all elements (torch L1Loss). Gradient sign(y_pred - y) / n
    (0 where y_pred == y)."""

    name = "mae"
    _kind = _Kind.MAE


class Huber(Loss):
    """torch HuberLoss(delta): r^2 / 2 for |r| < delta, delta (|r| - delta / 2) otherwise,
    r = y_pred - y, averaged over all elements. Gradient: r clipped to [-delta, delta], / n.
    (SmoothL1Loss(beta) is Huber(delta=beta) / beta.)"""

    name = "huber"
    _kind = _Kind.HUBER

    def __init__(self, delta=1.0, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.delta = check_real(delta, "delta", low=0, low_open=True)

    def _params(self):
        return self.delta, 0.0


class PseudoHuber(Loss):
    """delta^2 (sqrt(1 + (r / delta)^2) - 1), r = y_pred - y, averaged over all elements:
    quadratic (r^2 / 2) near 0, linear (delta |r|) far away, smooth everywhere. Gradient
    r / sqrt(1 + (r / delta)^2), / n. Computed hypot-style, so residuals of 1e30 give finite
    values and gradients (+-delta)."""

    name = "pseudo_huber"
    _kind = _Kind.PSEUDO_HUBER

    def __init__(self, delta=1.0, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.delta = check_real(delta, "delta", low=0, low_open=True)

    def _params(self):
        return self.delta, 0.0


class LogCosh(Loss):
    """log(cosh(y_pred - y)), averaged over all elements; gradient tanh(y_pred - y) / n.

    Computed as |r| + log1p(exp(-2|r|)) - log 2, which never overflows (Keras' form). Each
    term has an absolute error of a few machine epsilons; its relative error is larger for
    |r| << 1, where the value itself is r^2 / 2."""

    name = "log_cosh"
    _kind = _Kind.LOG_COSH


class Poisson(Loss):
    """Poisson negative log-likelihood with a log link (torch PoissonNLLLoss with
    log_input=True, full=False): exp(y_pred) - y y_pred, averaged over all elements; y_pred
    is the log of the predicted mean, y >= 0 the observed counts (or rates). Gradient
    (exp(y_pred) - y) / n. exp(y_pred) exceeds the float range beyond y_pred = 88.7
    (float32) or 709.8 (float64): the value and gradient are then +inf, as in torch."""

    name = "poisson"
    _kind = _Kind.POISSON

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_true, "y_true", 0, None, "non-negative counts")]


# Element-wise classification losses ---------------------------------------------------------

class BinaryCrossentropy(Loss):
    """torch BCELoss on probabilities: -(y log p + (1 - y) log(1 - p)), both logs clamped at
    >= -100 (so p = 0 or 1 gives a finite loss), averaged over all elements; y and p in
    [0, 1] (soft targets allowed). Gradient torch's (p - y) / max(p (1 - p), 1e-12) / n."""

    name = "binary_crossentropy"
    _kind = _Kind.BINARY_CE

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_pred, "y_pred", 0, 1, "probabilities in [0, 1]"),
                _range_problem(y_true, "y_true", 0, 1, "targets in [0, 1]")]


class SigmoidCrossentropy(Loss):
    """torch BCEWithLogitsLoss: binary cross-entropy of sigmoid(y_pred), y_pred the logits,
    computed as (1 - y) x + c (log1p(exp(-|x|)) + max(-x, 0)), c = 1 + (pos_weight - 1) y,
    so logits of +-1e4 give finite values. Averaged over all elements; y in [0, 1].
    pos_weight: None, a number, or one weight per output (column), multiplying the positive
    term as in torch. Gradient (c sigmoid(x) - pos_weight y) / n."""

    name = "sigmoid_crossentropy"
    _kind = _Kind.SIGMOID_CE

    def __init__(self, pos_weight=None, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.pos_weight = pos_weight
        self._pos_weight = None if pos_weight is None else _check_weight_vector(
            pos_weight, "pos_weight")

    def _column_weight(self, n_outputs, dtype):
        if self._pos_weight is None:
            return None
        if self._pos_weight.size == 1:
            return np.full(n_outputs, self._pos_weight[0], dtype=dtype)
        if self._pos_weight.size != n_outputs:
            raise ValueError(f"pos_weight has {self._pos_weight.size} values but y_pred has "
                             f"{n_outputs} outputs")
        return self._pos_weight.astype(dtype)

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_true, "y_true", 0, 1, "targets in [0, 1]")]


class Hinge(Loss):
    """Keras hinge: max(1 - y y_pred, 0), averaged over all elements; y_pred raw scores.
    Labels are in {0, 1} (mapped to -1, +1) or in {-1, 1} (used as they are); a call that
    mixes 0 and -1 is an error. Gradient -y / n where the margin 1 - y y_pred is positive,
    else 0."""

    name = "hinge"
    _kind = _Kind.HINGE

    def _value_problems(self, y_true, y_pred):
        valid = (y_true == 0) | (y_true == 1) | (y_true == -1)
        if not valid.all():
            return [f"hinge labels must be in {{0, 1}} or {{-1, 1}}, got "
                    f"{y_true[~valid].flat[0].item()!r}"]
        if (y_true == 0).any() and (y_true == -1).any():
            return ["hinge labels mix 0 and -1: use {0, 1} or {-1, 1}, not both"]
        return []


class Focal(Loss):
    """Binary focal loss on logits (Lin et al. 2017), = torchvision sigmoid_focal_loss with
    reduction="mean": alpha_t (1 - p_t)^gamma ce, where ce is the BCE-with-logits term,
    p = sigmoid(y_pred), p_t = p y + (1 - p)(1 - y), alpha_t = alpha y + (1 - alpha)(1 - y).
    Averaged over all elements; y in [0, 1]. alpha=None turns the class balancing off
    (alpha_t = 1, torchvision's alpha < 0); gamma >= 0 (gamma = 0 is weighted BCE)."""

    name = "focal"
    _kind = _Kind.FOCAL

    def __init__(self, alpha=0.25, gamma=2.0, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        if alpha is not None:
            alpha = check_real(alpha, "alpha", low=0, high=1.0)
        self.alpha = alpha
        self.gamma = check_real(gamma, "gamma", low=0)

    def _params(self):
        return (-1.0 if self.alpha is None else self.alpha), self.gamma

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_true, "y_true", 0, 1, "targets in [0, 1]")]


# Distribution losses -------------------------------------------------------------------------

class CategoricalCrossentropy(Loss):
    """-sum_j y_j log p_j over the classes, averaged over samples; y one-hot or soft targets,
    p = y_pred probabilities (taken as given, not renormalised), both (n_samples,
    n_classes) in [0, 1]. p is clipped to [eps, 1], eps = the dtype's machine epsilon, so
    p = 0 gives a finite loss; the gradient is -y / max(p, eps) / n_samples."""

    name = "categorical_crossentropy"
    _kind = _Kind.CATEGORICAL_CE
    reduction = "distribution"
    _needs_2d = True

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_pred, "y_pred", 0, 1, "probabilities in [0, 1]"),
                _range_problem(y_true, "y_true", 0, 1, "targets in [0, 1]")]


class KLDivergence(Loss):
    """Kullback-Leibler divergence sum_j p_j log(p_j / q_j) with p = y_true and q = y_pred
    both probabilities (n_samples, n_classes), averaged over samples (torch KLDivLoss with
    reduction="batchmean" on log q). q is clipped to [eps, 1] (eps = the dtype's machine
    epsilon) and 0 log 0 = 0; rows are taken as given (not renormalised). Gradient
    -p / max(q, eps) / n_samples."""

    name = "kl_divergence"
    _kind = _Kind.KL_DIVERGENCE
    reduction = "distribution"
    _needs_2d = True

    def _value_problems(self, y_true, y_pred):
        return [_range_problem(y_pred, "y_pred", 0, 1, "probabilities in [0, 1]"),
                _range_problem(y_true, "y_true", 0, 1, "probabilities in [0, 1]")]


class _LabelLoss(Loss):
    """Losses taking integer labels (n_samples,) against y_pred (n_samples, n_classes)."""

    reduction = "distribution"
    _needs_2d = True
    _labels_kind = None

    def _compute_labels(self, labels, y_pred, sample_weight, want_gradient, out):
        n_samples, n_classes = y_pred.shape
        labels = _check_labels(labels, n_samples)
        sample_weight = _check_sample_weight(sample_weight, n_samples)
        if out is not None and want_gradient:
            check_out(out, y_pred.shape, y_pred.dtype, "C",
                      overlaps=[("y_true", labels), ("y_pred", y_pred)])
        dtype = y_pred.dtype
        yp = np.ascontiguousarray(y_pred)
        sw = None if sample_weight is None else np.ascontiguousarray(sample_weight,
                                                                     dtype=dtype)
        cw = self._column_weight(n_classes, dtype)
        grad = None
        if want_gradient:
            grad = out if out is not None else np.empty(y_pred.shape, dtype=dtype)
        value = _kernels.labels(
            self._labels_kind, labels, yp.ravel(),
            grad.ravel() if grad is not None else _EMPTY[dtype], n_samples, n_classes,
            sw if sw is not None else _EMPTY[dtype], cw if cw is not None else _EMPTY[dtype],
            self._threads())
        if not math.isfinite(value):
            self._explain(None, yp, sw, labels=labels)
        return value, grad

    def _label_problems(self, labels, n_classes):
        bad = (labels < 0) | (labels >= n_classes)
        if bad.any():
            return [f"y_true has label {labels[bad][0].item()}, outside [0, {n_classes - 1}] for "
                    f"y_pred with {n_classes} classes"]
        return []


class SparseCategoricalCrossentropy(_LabelLoss):
    """-log p[label] per sample, averaged over samples: integer labels y (n_samples,) in
    [0, n_classes), y_pred probabilities (n_samples, n_classes) in [0, 1], clipped to
    [eps, 1] (eps = the dtype's machine epsilon). Gradient -1 / max(p, eps) / n_samples at
    the label, 0 elsewhere. Labels may be integers or integer-valued floats."""

    name = "sparse_categorical_crossentropy"
    _labels_kind = _Kind.SPARSE_CE

    def _compute(self, y_true, y_pred, sample_weight, want_gradient, out=None):
        y_pred = _check_pred(y_pred, two_d=True)
        return self._compute_labels(y_true, y_pred, sample_weight, want_gradient, out)

    def _value_problems(self, labels, y_pred):
        return (self._label_problems(labels, y_pred.shape[1])
                + [_range_problem(y_pred, "y_pred", 0, 1, "probabilities in [0, 1]")])


class SoftmaxCrossentropy(_LabelLoss):
    """torch CrossEntropyLoss on logits y_pred (n_samples, n_classes): -log softmax(x)[y]
    per sample, averaged over samples. y_true is integer labels (n_samples,) or targets of
    y_pred's shape (one-hot or class probabilities: sum_j -t_j log softmax(x)_j). Computed
    with a max-subtracted log-sum-exp, so logits of +-1e4 give finite values. Gradient
    (softmax(x) - target) / n_samples, fused.

    weight: None or one non-negative weight per class (torch's ``weight``). The loss of
    sample i is multiplied by w[y_i] and the mean is divided by sum_i s_i w[y_i] (torch's
    normalisation, s = sample_weight). For dense targets the factor is sum_j w_j t_ij and the
    divisor sum_i s_i sum_j w_j t_ij, so one-hot targets give exactly the labels' result
    (torch divides by n_samples instead for probability targets with a weight)."""

    name = "softmax_crossentropy"
    _labels_kind = _Kind.SOFTMAX_CE_LABELS
    _kind = _Kind.SOFTMAX_CE
    _rowwise = True

    def __init__(self, weight=None, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.weight = weight
        self._weight = None if weight is None else _check_weight_vector(weight, "weight")
        if self._weight is not None and not (self._weight > 0).any():
            raise ValueError("weight must have at least one positive class weight")

    def _column_weight(self, n_outputs, dtype):
        if self._weight is None:
            return None
        if self._weight.size != n_outputs:
            raise ValueError(f"weight has {self._weight.size} class weights but y_pred has "
                             f"{n_outputs} classes")
        return self._weight.astype(dtype)

    def _compute(self, y_true, y_pred, sample_weight, want_gradient, out=None):
        y_pred = _check_pred(y_pred, two_d=True)
        y_true = _check_numeric(y_true, "y_true")
        if y_true.shape == y_pred.shape:
            return super(_LabelLoss, self)._compute(y_true, y_pred, sample_weight,
                                                    want_gradient, out)
        return self._compute_labels(y_true, y_pred, sample_weight, want_gradient, out)

    def _explain(self, yt, yp, sw, y_true_original=None, labels=None):
        super()._explain(yt, yp, sw, y_true_original, labels)
        cw = self._column_weight(yp.shape[1], np.float64)
        if cw is not None:
            weights = np.ones(yp.shape[0]) if sw is None else sw.astype(np.float64)
            per_sample = cw[labels] if labels is not None else yt.astype(np.float64) @ cw
            if not (weights @ per_sample) > 0:
                raise ValueError("the total weight of the targets (sample_weight times the "
                                 "class weight of each sample's target) is 0")

    def _value_problems(self, y_true, y_pred):
        if y_true.dtype == np.int64 and y_true.ndim == 1:
            return self._label_problems(y_true, y_pred.shape[1])
        return [_range_problem(y_true, "y_true", 0, 1, "target probabilities in [0, 1]")]


# ---------------------------------------------------------------------------------------------
# The registry.

_REGISTRY = {}
for _cls, _aliases in [
    (MeanSquaredError, ("squared_error",)), (MeanAbsoluteError, ("absolute_error",)),
    (Huber, ()), (PseudoHuber, ()), (LogCosh, ()), (Poisson, ()), (BinaryCrossentropy, ()),
    (SigmoidCrossentropy, ()), (CategoricalCrossentropy, ()),
    (SparseCategoricalCrossentropy, ()), (SoftmaxCrossentropy, ()), (Hinge, ()),
    (KLDivergence, ()), (Focal, ()),
]:
    for _name in (_cls.name,) + _aliases:
        _REGISTRY[_name] = _cls
del _cls, _aliases, _name


def available():
    """Names (with aliases) accepted by ``get``."""
    return sorted(_REGISTRY)


def get(name, **params):
    """The loss called ``name``, built with ``params``.

    ``get("huber", delta=2.0)``; a Loss instance is returned as it is. Unknown names raise
    ValueError, unknown parameters TypeError, invalid values ValueError/TypeError, each
    naming the problem.
    """
    if isinstance(name, Loss):
        if params:
            raise TypeError("parameters cannot be given with a Loss instance")
        return name
    if not isinstance(name, str):
        raise TypeError(f"loss name must be a str, got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(available())}")
    cls = _REGISTRY[name]
    accepted = list(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"loss {name!r} has no parameter {unknown[0]!r}; it accepts: "
                        f"{', '.join(accepted)}")
    return cls(**params)
