"""Activation functions: forward and backward over 2-D float arrays, with PyTorch's formulas.

``get(name, **params)`` returns an activation object::

    >>> import numpy as np
    >>> from fastnn import activations
    >>> act = activations.get("leaky_relu", negative_slope=0.1)
    >>> x = np.array([[-2.0, 3.0]])
    >>> act.forward(x)
    array([[-0.2,  3. ]])
    >>> act.backward(x, np.ones_like(x))   # dL/dx for dL/dy = 1
    array([[0.1, 1. ]])

Inputs are 2-D arrays (n_samples, n_features) of float32 or float64; outputs keep the dtype.
``forward(x, out=None)`` and ``backward(x, grad_output, out=None)`` write into ``out`` when it
is given (for the element-wise activations ``out`` may be ``x`` itself: in place). C- and
F-contiguous inputs are used as they are, read-only and memory-mapped ones too; other
strides are copied once. Each object takes ``n_threads`` (None = what OpenMP allows, -1 = all
CPUs); arrays below ~32k elements run on one thread.

Activations with learned parameters (``prelu``; ``swish`` with ``learn_beta=True``) keep them
in ``params`` (a 1-D array); ``backward`` also writes d loss / d params into ``grads``.

Catalog (name, aliases, parameters with their defaults):

=================  =========  ======================================================
``binary_step``               1 for x >= 0, else 0. Its derivative is zero almost
                              everywhere: it cannot be trained by gradient descent.
``identity``       linear     x
``sigmoid``        logistic   1 / (1 + exp(-x))
``tanh``                      tanh(x)
``relu``                      max(x, 0)
``leaky_relu``                negative_slope=0.01
``prelu``                     init=0.25, num_parameters=None (one slope per feature;
                              1 = one shared slope, as torch's default)
``elu``                       alpha=1.0
``selu``                      scale * elu(x, alpha), torch's constants
``softplus``                  beta=1.0, threshold=20.0 (linear above threshold/beta)
``gelu``                      approximate="none" (x Phi(x)) or "tanh"
``swish``          silu       beta=1.0, learn_beta=False: x * sigmoid(beta x)
``softmax``                   over each row
``maxout``                    pieces=2: output column j = max of input columns
                              j*pieces ... j*pieces + pieces - 1
=================  =========  ======================================================
"""
import inspect
import warnings

import numpy as np

from fastnn._core import _dispatch
from fastnn._registry import Registry
from fastnn._core._openmp import effective_n_threads
from fastnn._validation import check_int, check_out, check_real, flat, order_of

__all__ = ["Activation", "available", "get"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The kernels compiled for the widest vector instructions this CPU has (see _core/_dispatch).
_kernels = _dispatch.load("_activations")


# ---------------------------------------------------------------------------------------------
# Checks at the boundary: every error names the argument and what is wrong with it.

def _check_array(x, name):
    """x as a 2-D float32/float64 ndarray, or TypeError/ValueError naming the problem."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype not in _FLOAT_DTYPES:
        kind = {"c": "complex", "i": "integer", "u": "unsigned integer", "b": "boolean",
                "O": "object", "U": "string", "S": "bytes"}.get(x.dtype.kind, "unsupported")
        raise TypeError(
            f"{name} has {kind} dtype {x.dtype}; activations take float32 or float64 "
            f"arrays (convert with {name}.astype(np.float32))")
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got a {x.ndim}-D array of "
            f"shape {x.shape}")
    return x


def _check_like(g, x, g_name, shape):
    """grad_output g must have x's dtype and the given shape."""
    g = _check_array(g, g_name)
    if g.dtype != x.dtype:
        raise TypeError(f"{g_name} has dtype {g.dtype} but x has dtype {x.dtype}; "
                        f"they must match")
    if g.shape != shape:
        raise ValueError(f"{g_name} has shape {g.shape}, expected {shape}")
    return g


# ---------------------------------------------------------------------------------------------
# The classes.

class Activation:
    """Base class: an activation maps x (n_samples, n_features) to y of the same dtype.

    ``forward(x, out=None)`` returns y; ``backward(x, grad_output, out=None)`` returns
    dL/dx given dL/dy. Subclasses with learned parameters keep them in ``params`` and write
    their gradient into ``grads`` during ``backward``.
    """

    name = None

    def __init__(self, *, n_threads=None):
        effective_n_threads(n_threads)  # raises now on a bad value
        self.n_threads = n_threads
        self.params = np.empty(0)
        self.grads = np.empty(0)

    def output_width(self, n_features):
        """Number of output columns for n_features input columns."""
        return n_features

    def n_params(self, n_features):
        """Number of learned parameters for an input of n_features columns."""
        return 0

    def _threads(self):
        return effective_n_threads(self.n_threads)

    def _store_grads(self, values):
        """Write the parameter gradient into self.grads (keeping the array when its shape
        fits, so that a caller may point grads at a buffer of its own)."""
        if self.grads.shape == values.shape:
            self.grads[...] = values
        else:
            self.grads = values.astype(self.params.dtype)

    def __repr__(self):
        signature = inspect.signature(type(self))
        shown = [f"{p}={getattr(self, p)!r}" for p in signature.parameters
                 if p != "n_threads" and getattr(self, p) != signature.parameters[p].default]
        return f"{type(self).__name__}({', '.join(shown)})"


class _Elementwise(Activation):
    """y[i, j] = f(x[i, j]) with up to two scalar parameters (_a, _b) of the kernel, named
    _param_names for error messages."""

    _kind = None
    _a = 0.0
    _b = 0.0
    _param_names = ()

    def _kernel_params(self):
        return self._a, self._b

    def _params_for(self, dtype):
        """The kernel parameters, checked to survive the cast to x's dtype: a float32
        kernel gets float32 parameters, and e.g. beta=1e-50 would become 0 (a division by
        zero) or negative_slope=1e300 inf."""
        params = self._kernel_params()
        if dtype == np.float32:
            with np.errstate(over="ignore"):
                for name, value in zip(self._param_names, params):
                    cast = np.float32(value)
                    overflows = np.isfinite(value) and not np.isfinite(cast)
                    if overflows or (value != 0 and cast == 0):
                        raise ValueError(
                            f"{name}={value!r} does not fit in float32 (it becomes {cast}); "
                            f"use float64 input or a value within float32's range")
        return params

    def forward(self, x, out=None):
        x = _check_array(x, "x")
        order = order_of(out if out is not None else x)
        if out is not None:
            check_out(out, x.shape, x.dtype, order)
        x = np.asarray(x, order=order)  # a copy only for non-contiguous input
        a, b = self._params_for(x.dtype)
        if out is None:
            out = np.empty(x.shape, dtype=x.dtype, order=order)
        _kernels.elementwise_forward(self._kind, flat(x, order), flat(out, order), a, b,
                                     self._threads())
        return out

    def backward(self, x, grad_output, out=None):
        x = _check_array(x, "x")
        grad_output = _check_like(grad_output, x, "grad_output", x.shape)
        order = order_of(out if out is not None else x)
        if out is not None:
            check_out(out, x.shape, x.dtype, order)
        x = np.asarray(x, order=order)
        grad_output = np.asarray(grad_output, order=order)
        a, b = self._params_for(x.dtype)
        if out is None:
            out = np.empty(x.shape, dtype=x.dtype, order=order)
        _kernels.elementwise_backward(self._kind, flat(x, order), flat(grad_output, order),
                                      flat(out, order), a, b, self._threads())
        return out


class BinaryStep(_Elementwise):
    """Heaviside step: 1 for x >= 0, 0 for x < 0.

    Its derivative is zero almost everywhere (and undefined at 0), so no gradient flows
    through it: a network using it cannot be trained by gradient descent (backpropagation).
    It is here for perceptron-style models and teaching; ``backward`` returns zeros and
    warns.
    """

    name = "binary_step"
    _kind = _kernels.Kind.BINARY_STEP

    def backward(self, x, grad_output, out=None):
        warnings.warn(
            "binary_step has zero derivative almost everywhere: no gradient flows through "
            "it and gradient descent cannot train the layers before it. Use sigmoid or tanh "
            "for a smooth step.", UserWarning, stacklevel=2)
        return super().backward(x, grad_output, out)


class Identity(_Elementwise):
    """y = x."""

    name = "identity"
    _kind = _kernels.Kind.IDENTITY


class Sigmoid(_Elementwise):
    """y = 1 / (1 + exp(-x)) (the logistic function)."""

    name = "sigmoid"
    _kind = _kernels.Kind.SIGMOID


class Tanh(_Elementwise):
    """y = tanh(x)."""

    name = "tanh"
    _kind = _kernels.Kind.TANH


class ReLU(_Elementwise):
    """y = max(x, 0); derivative 0 at x = 0 (torch's convention)."""

    name = "relu"
    _kind = _kernels.Kind.RELU


class LeakyReLU(_Elementwise):
    """y = x for x > 0, negative_slope * x otherwise (torch: negative_slope=0.01)."""

    name = "leaky_relu"
    _kind = _kernels.Kind.LEAKY_RELU

    def __init__(self, negative_slope=0.01, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.negative_slope = check_real(negative_slope, "negative_slope")
        self._a = self.negative_slope
        self._param_names = ("negative_slope",)


class ELU(_Elementwise):
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name = "elu"
    _kind = _kernels.Kind.ELU

    def __init__(self, alpha=1.0, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.alpha = check_real(alpha, "alpha")
        self._a = self.alpha
        self._param_names = ("alpha",)


class SELU(_Elementwise):
    """y = scale * elu(x, alpha) with scale = 1.0507..., alpha = 1.6732... (Klambauer et al.)."""

    name = "selu"
    _kind = _kernels.Kind.SELU


class Softplus(_Elementwise):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta * x > threshold (torch)."""

    name = "softplus"
    _kind = _kernels.Kind.SOFTPLUS

    def __init__(self, beta=1.0, threshold=20.0, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.beta = check_real(beta, "beta", low=0, low_open=True)
        self.threshold = check_real(threshold, "threshold", allow_inf=True)
        self._a, self._b = self.beta, self.threshold
        self._param_names = ("beta", "threshold")


class GELU(_Elementwise):
    """y = x * Phi(x) (approximate="none"), or torch's tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (approximate="tanh")."""

    name = "gelu"

    def __init__(self, approximate="none", *, n_threads=None):
        super().__init__(n_threads=n_threads)
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._kind = (_kernels.Kind.GELU if approximate == "none"
                      else _kernels.Kind.GELU_TANH)


class Swish(_Elementwise):
    """y = x * sigmoid(beta x); beta = 1 is SiLU. With learn_beta=True, beta is a learned
    parameter: ``params`` holds it and ``backward`` writes d loss / d beta into ``grads``."""

    name = "swish"
    _kind = _kernels.Kind.SWISH

    def __init__(self, beta=1.0, learn_beta=False, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.beta = check_real(beta, "beta")
        self._param_names = ("beta",)
        if not isinstance(learn_beta, (bool, np.bool_)):
            raise TypeError(f"learn_beta must be True or False, got {learn_beta!r}")
        self.learn_beta = bool(learn_beta)
        if self.learn_beta:
            self.params = np.array([self.beta])
            self.grads = np.zeros(1)

    def n_params(self, n_features):
        return 1 if self.learn_beta else 0

    def _kernel_params(self):
        return (float(self.params[0]) if self.learn_beta else self.beta), 0.0

    def backward(self, x, grad_output, out=None):
        if not self.learn_beta:
            return super().backward(x, grad_output, out)
        x = _check_array(x, "x")
        grad_output = _check_like(grad_output, x, "grad_output", x.shape)
        if out is not None:
            check_out(out, x.shape, x.dtype, order_of(out))
        # d loss / d beta first: out may be x or grad_output (in place), and the
        # element-wise backward below overwrites it.
        order = order_of(x)
        x_flat = flat(np.asarray(x, order=order), order)
        g_flat = flat(np.asarray(grad_output, order=order), order)
        n_threads = self._threads()
        n_chunks = -(-x.size // _kernels.chunk_size)
        scratch = np.empty((n_threads, _kernels.chunk_size), dtype=x.dtype)
        partials = np.empty(n_chunks)
        total = _kernels.swish_beta_gradient(x_flat, g_flat, float(self.params[0]), scratch,
                                             partials, n_threads)
        out = super().backward(x, grad_output, out)
        self._store_grads(np.array([total]))
        return out


class _RowWise(Activation):
    """Activations that look at a whole row: the kernels take C-contiguous arrays."""

    def _prepare(self, x, out, width):
        shape = (x.shape[0], width)
        if out is not None:
            check_out(out, shape, x.dtype, "C")
        else:
            out = np.empty(shape, dtype=x.dtype)
        return np.ascontiguousarray(x), out


class Softmax(_RowWise):
    """y[i] = exp(x[i] - max x[i]) / sum(exp(x[i] - max x[i])), over each row."""

    name = "softmax"

    def forward(self, x, out=None):
        x = _check_array(x, "x")
        x, out = self._prepare(x, out, x.shape[1])
        _kernels.softmax_forward(x, out, self._threads())
        return out

    def backward(self, x, grad_output, out=None):
        x = _check_array(x, "x")
        grad_output = _check_like(grad_output, x, "grad_output", x.shape)
        if out is not None and np.may_share_memory(out, grad_output):
            raise ValueError("softmax backward cannot write out over grad_output: the "
                             "kernel reads each row of grad_output after writing out's row")
        x, out = self._prepare(x, out, x.shape[1])
        _kernels.softmax_backward(x, np.ascontiguousarray(grad_output), out, self._threads())
        return out


class Maxout(_RowWise):
    """y[:, j] = max(x[:, j*pieces : (j+1)*pieces]): n_features -> n_features / pieces.

    The gradient goes to the first maximal piece of each group."""

    name = "maxout"

    def __init__(self, pieces=2, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.pieces = check_int(pieces, "pieces", minimum=1)

    def output_width(self, n_features):
        if n_features % self.pieces:
            raise ValueError(
                f"maxout with pieces={self.pieces} needs a number of features divisible by "
                f"{self.pieces}, got {n_features}")
        return n_features // self.pieces

    def forward(self, x, out=None):
        x = _check_array(x, "x")
        x, out = self._prepare(x, out, self.output_width(x.shape[1]))
        _kernels.maxout_forward(x, out, self.pieces, self._threads())
        return out

    def backward(self, x, grad_output, out=None):
        x = _check_array(x, "x")
        width = self.output_width(x.shape[1])
        grad_output = _check_like(grad_output, x, "grad_output", (x.shape[0], width))
        x, out = self._prepare(x, out, x.shape[1])
        _kernels.maxout_backward(x, np.ascontiguousarray(grad_output), out, self.pieces,
                                 self._threads())
        return out


class PReLU(_RowWise):
    """y = x for x > 0, a * x otherwise, with a learned slope a.

    num_parameters=None (default) learns one slope per feature, created at the first
    forward (or by a network that sizes it); num_parameters=1 learns one shared slope
    (torch's PReLU default); all slopes start at ``init``. ``params`` holds the slopes and
    ``backward`` writes d loss / d slopes into ``grads``.
    """

    name = "prelu"

    def __init__(self, init=0.25, num_parameters=None, *, n_threads=None):
        super().__init__(n_threads=n_threads)
        self.init = check_real(init, "init")
        if num_parameters is not None:
            num_parameters = check_int(num_parameters, "num_parameters", minimum=1)
            self.params = np.full(num_parameters, self.init)
            self.grads = np.zeros(num_parameters)
        self.num_parameters = num_parameters

    def n_params(self, n_features):
        return n_features if self.num_parameters is None else self.num_parameters

    def _slopes(self, n_features, dtype):
        """One slope per column in x's dtype (a shared slope is repeated)."""
        if self.params.size == 0 and self.num_parameters is None:
            # float64 whatever x's dtype, so that later float64 gradients keep their precision
            self.params = np.full(n_features, self.init)
            self.grads = np.zeros(n_features)
        if self.num_parameters == 1 and self.params.size == 1:
            return np.full(n_features, self.params[0], dtype=dtype)
        if self.params.size != n_features:
            raise ValueError(f"PReLU has {self.params.size} slopes but x has {n_features} "
                             f"features")
        return np.ascontiguousarray(self.params, dtype=dtype)

    def forward(self, x, out=None):
        x = _check_array(x, "x")
        slopes = self._slopes(x.shape[1], x.dtype)
        x, out = self._prepare(x, out, x.shape[1])
        _kernels.prelu_forward(x, slopes, out, self._threads())
        return out

    def backward(self, x, grad_output, out=None):
        x = _check_array(x, "x")
        grad_output = _check_like(grad_output, x, "grad_output", x.shape)
        slopes = self._slopes(x.shape[1], x.dtype)
        x, out = self._prepare(x, out, x.shape[1])
        n_blocks = -(-x.shape[0] // _kernels.rows_per_block(x.shape[1]))
        partials = np.empty((n_blocks, x.shape[1]))
        slope_grads = np.zeros(x.shape[1], dtype=x.dtype)
        _kernels.prelu_backward(x, np.ascontiguousarray(grad_output), slopes, out, partials,
                                slope_grads, self._threads())
        if self.num_parameters == 1 and x.shape[1] != 1:
            slope_grads = np.array([slope_grads.sum(dtype=np.float64)])
        self._store_grads(slope_grads)
        return out


# ---------------------------------------------------------------------------------------------
# The registry.

_REGISTRY = Registry("activation", Activation)
for _cls, _aliases in [
    (BinaryStep, ()), (Identity, ("linear",)), (Sigmoid, ("logistic",)), (Tanh, ()),
    (ReLU, ()), (LeakyReLU, ()), (PReLU, ()), (ELU, ()), (SELU, ()), (Softplus, ()),
    (GELU, ()), (Swish, ("silu",)), (Softmax, ()), (Maxout, ()),
]:
    _REGISTRY.add(_cls, *_aliases)
del _cls, _aliases


def available():
    """Names (with aliases) accepted by ``get``."""
    return _REGISTRY.available()


def get(name, **params):
    """The activation called ``name``, built with ``params``.

    ``get("gelu", approximate="tanh")``; an Activation instance is returned as it is.
    Unknown names raise ValueError, unknown parameters TypeError, invalid values
    ValueError/TypeError, each naming the problem.
    """
    return _REGISTRY.get(name, **params)
