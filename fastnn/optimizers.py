"""Gradient-descent optimizers, gradient clipping and L-BFGS over one flat parameter buffer.

``get(name, **hyper)`` returns an optimizer whose ``step(params, grads)`` updates the 1-D
float array ``params`` in place from the gradient ``grads`` and keeps its own state::

    >>> import numpy as np
    >>> from fastnn import optimizers
    >>> opt = optimizers.get("adam", lr=0.1)
    >>> w = np.array([1.0, -2.0])
    >>> for _ in range(200):
    ...     opt.step(w, 2 * w)          # gradient of ||w||^2
    >>> bool(np.abs(w).max() < 1e-2)
    True

The update equations, hyper-parameter names and defaults are torch.optim's (2.x), following
its single-tensor code path operation by operation, so a trajectory ported from PyTorch agrees
to rounding (see ``fastnn/_core/_optim.pyx``):

==============  ===========================================================================
``sgd``         lr=1e-3, momentum=0, dampening=0, nesterov=False, weight_decay=0
``momentum``    sgd with momentum=0.9
``nesterov``    sgd with momentum=0.9, nesterov=True
``adagrad``     lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10
``rmsprop``     lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False
``adadelta``    lr=1.0, rho=0.9, eps=1e-6, weight_decay=0
``adam``        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False
``amsgrad``     adam with amsgrad=True
``adamw``       adam with decoupled weight decay, weight_decay=1e-2
``nadam``       lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3
==============  ===========================================================================

``weight_decay`` is torch's: added to the gradient (``g + wd * p``, i.e. L2 regularisation)
except in ``adamw``, which shrinks the parameters (``p *= 1 - lr * wd``) before the update.
Every optimizer also takes ``n_threads`` (None = what OpenMP allows, -1 = all CPUs); buffers
below ~32k elements are updated on one thread, and results are bitwise identical for any
thread count.

Batch, stochastic and mini-batch gradient descent
-------------------------------------------------
They are not separate algorithms: they are any of these optimizers fed a different gradient.
Fed the gradient of the loss over the whole training set at each step, an optimizer does
(full-)batch gradient descent; fed the gradient on one sample at a time, stochastic gradient
descent; fed the gradient on a mini-batch of, say, 32 samples, mini-batch gradient descent,
the usual compromise between the exact but expensive full gradient and the cheap but noisy
one-sample gradient. ``fastnn``'s estimators pick it with ``batch_size`` (``batch_size=1``
is SGD, ``batch_size=n_samples`` is batch GD); with this module, call ``step`` with the
gradient of the batch you choose.

Learning rate
-------------
``opt.lr`` may be changed between steps, e.g. once per epoch from a ``fastnn.schedules``
schedule: ``opt.lr = schedule.lr_at(epoch)``.

State
-----
An optimizer creates its state buffers (momentum, moment estimates, ...) at its first step,
with the dtype and size of ``params``; afterwards a buffer of another size or dtype is a
ValueError (use a new optimizer, or ``reset()``). ``state_dict()`` returns a snapshot
(hyper-parameters, step count, copies of the buffers) and ``load_state_dict(state)``
restores it, so that a fit can stop and resume with identical results.

Buffers
-------
``params``: 1-D, writable, float32 or float64. A non-contiguous ``params`` (e.g. a strided
view) is updated through a contiguous copy that is written back, so the result is the same
as for a contiguous buffer at the cost of two copies; the network's flat buffer is
contiguous and takes the direct path. ``grads``: the same shape and dtype (any strides,
read-only allowed); ``grads=None`` makes the step a no-op, as does an empty ``params``.

Gradient clipping
-----------------
``clip_grad_norm(grads, max_norm)`` scales the flat gradient in place when its global norm
exceeds max_norm (torch.nn.utils.clip_grad_norm_) and returns the norm before clipping;
``clip_grad_value(grads, clip_value)`` clamps every component to [-clip_value, clip_value]
(torch.nn.utils.clip_grad_value_).

L-BFGS
------
``LBFGS(max_iter=200, max_fun=15000, tol=1e-4).minimize(fun, x0)`` minimises a function
returning ``(value, gradient)`` with scipy's L-BFGS-B, with scikit-learn's MLP semantics
(maxiter, maxfun, gtol=tol; full batch).
"""
import inspect
import math
import warnings

import numpy as np

from fastnn._core import _dispatch
from fastnn._core._openmp import effective_n_threads
from fastnn._registry import Registry
from fastnn._validation import check_int, check_real

__all__ = [
    "Optimizer", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam",
    "AMSGrad", "AdamW", "NAdam", "LBFGS", "LBFGSResult", "available", "get",
    "clip_grad_norm", "clip_grad_value",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# The kernels compiled for the widest vector instructions this CPU has (see _core/_dispatch);
# every variant gives the same bits (no FMA contraction, see _core/_optim.pyx).
_kernels = _dispatch.load("_optim")


# ---------------------------------------------------------------------------------------------
# Checks at the boundary: every error names the argument and the value.

def _check_finite(value, name):
    if math.isinf(value):
        raise ValueError(f"Invalid {name}: {value!r}; it must be finite")
    return value


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_lr(lr):
    return _check_finite(check_real(lr, "learning rate lr", low=0.0), "learning rate lr")


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return (check_real(betas[0], "beta1 (betas[0])", low=0.0, high=1.0, high_open=True),
            check_real(betas[1], "beta2 (betas[1])", low=0.0, high=1.0, high_open=True))


def _check_eps(eps):
    return _check_finite(check_real(eps, "epsilon eps", low=0.0, low_open=True),
                         "epsilon eps")


def _check_weight_decay(weight_decay):
    return _check_finite(check_real(weight_decay, "weight_decay", low=0.0), "weight_decay")


def _kind_of(dtype):
    return {"c": "complex", "i": "integer", "u": "unsigned integer", "b": "boolean",
            "O": "object", "U": "string", "S": "bytes"}.get(dtype.kind, "unsupported")


def _check_params(params, name="params"):
    """params as (contiguous working array, array to copy back into or None)."""
    if not isinstance(params, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (it is updated in place), got "
                        f"{type(params).__name__}")
    if params.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} has {_kind_of(params.dtype)} dtype {params.dtype}; "
                        f"optimizers take float32 or float64 buffers")
    if params.ndim != 1:
        raise ValueError(f"{name} must be a 1-D (flat) array, got a {params.ndim}-D array "
                         f"of shape {params.shape}")
    if not params.flags.writeable:
        raise ValueError(f"{name} is read-only; it must be writable (it is updated in "
                         f"place)")
    if params.flags.c_contiguous:
        return params, None
    return np.ascontiguousarray(params), params


def _check_grads(grads, params, name="grads"):
    """grads as a contiguous array of params' dtype and shape."""
    grads = np.asarray(grads)
    if grads.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} has {_kind_of(grads.dtype)} dtype {grads.dtype}; expected "
                        f"{params.dtype} like params")
    if grads.dtype != params.dtype:
        raise TypeError(f"{name} has dtype {grads.dtype} but params has dtype "
                        f"{params.dtype}; they must match")
    if grads.shape != params.shape:
        raise ValueError(f"{name} has shape {grads.shape} but params has shape "
                         f"{params.shape}; they must match")
    return np.ascontiguousarray(grads)


# ---------------------------------------------------------------------------------------------
# The optimizers.

_EMPTY = {np.dtype(np.float32): np.empty(0, dtype=np.float32),
          np.dtype(np.float64): np.empty(0, dtype=np.float64)}


class Optimizer:
    """Base class: ``step(params, grads)`` updates params in place and keeps the state.

    Subclasses take their hyper-parameters as constructor arguments stored under the same
    names (``_hyper`` reads them back for state_dict and repr), list the state buffers of
    their configuration in ``_buffers()`` (allocated as zeros at the first step) and
    implement ``_update(params, grads, n_threads)``, which computes the step-dependent
    scalars in double and calls the kernel.
    """

    name = None          # registry name
    _algorithm = None    # state_dict compatibility: presets share their base's algorithm
    _scalars = ()        # scalar state besides the step count (NAdam's mu_product)

    def __init__(self, lr, *, n_threads=None):
        effective_n_threads(n_threads)  # raises now on a bad value
        self.n_threads = n_threads
        self.lr = lr
        self.reset()

    # -- hyper-parameters --------------------------------------------------------------------

    @property
    def lr(self):
        """The learning rate; may be set between steps (validated: finite, >= 0)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_lr(value)

    def _hyper(self):
        """The hyper-parameters, by constructor argument name."""
        return {p: getattr(self, p) for p in inspect.signature(type(self)).parameters
                if p != "n_threads"}

    # -- state -------------------------------------------------------------------------------

    def reset(self):
        """Forget the state (step count and buffers): the next step is a first step."""
        self.n_steps = 0
        self._state = {}
        self._size = None
        self._dtype = None
        self._reset_scalars()

    def _reset_scalars(self):
        pass

    def _buffers(self):
        """Names of the state buffers this configuration uses."""
        return ()

    def _allocate(self, n, dtype):
        for name in self._buffers():
            self._state[name] = np.zeros(n, dtype=dtype)

    def _check_state(self, params):
        if self._size is not None and (params.size != self._size
                                       or params.dtype != self._dtype):
            raise ValueError(
                f"this {self.name} optimizer's state was created for {self._size} "
                f"{self._dtype} parameters, got {params.size} {params.dtype}; use a new "
                f"optimizer (or reset()) for another buffer")

    def state_dict(self):
        """A snapshot to resume from: {"name", "hyper", "n_steps", "buffers", "scalars"},
        with copies of the state buffers."""
        return {
            "name": self.name,
            "hyper": self._hyper(),
            "n_steps": self.n_steps,
            "buffers": {k: v.copy() for k, v in self._state.items()},
            "scalars": {k: getattr(self, k) for k in self._scalars},
        }

    def load_state_dict(self, state):
        """Restore a snapshot taken by state_dict() (hyper-parameters, learning rate, step
        count and buffers, copied). ValueError before any change if it does not fit."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got "
                            f"{type(state).__name__}")
        missing = {"name", "hyper", "n_steps", "buffers", "scalars"} - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}; pass a state_dict()")
        source = _REGISTRY[state["name"]] if state["name"] in _REGISTRY else None
        if source is None or source._algorithm != self._algorithm:
            raise ValueError(f"state of optimizer {state['name']!r} cannot be loaded into "
                             f"a {self.name!r} optimizer")
        # Validates the hyper-parameters (raises before any change).
        template = type(self)(**state["hyper"], n_threads=self.n_threads)
        n_steps = check_int(state["n_steps"], "n_steps", minimum=0)
        buffers = dict(state["buffers"])
        size = dtype = None
        if n_steps > 0:
            expected = set(template._buffers())
            if set(buffers) != expected:
                raise ValueError(f"state buffers {sorted(buffers)} do not match the "
                                 f"{sorted(expected)} this configuration uses")
            for key, value in buffers.items():
                if not isinstance(value, np.ndarray) or value.ndim != 1 \
                        or value.dtype not in _FLOAT_DTYPES:
                    raise ValueError(f"state buffer {key!r} must be a 1-D float32/float64 "
                                     f"array")
                if size is None:
                    size, dtype = value.size, value.dtype
                elif (value.size, value.dtype) != (size, dtype):
                    raise ValueError(f"state buffer {key!r} has {value.size} {value.dtype} "
                                     f"elements, the others {size} {dtype}")
        elif buffers:
            raise ValueError("state has buffers but n_steps=0")
        scalars = {k: check_real(state["scalars"][k], k) for k in self._scalars}
        # Everything checked: apply.
        for key, value in template._hyper().items():
            setattr(self, key, value)
        self.n_steps = n_steps
        self._state = {k: np.array(v, copy=True, order="C") for k, v in buffers.items()}
        self._size, self._dtype = size, dtype
        for k, v in scalars.items():
            setattr(self, k, v)

    # -- the step ----------------------------------------------------------------------------

    def step(self, params, grads):
        """One update of params (in place) from grads. grads=None or an empty params: no-op.

        All checks run before any change: a ValueError/TypeError leaves params and the
        optimizer's state as they were."""
        if grads is None:
            return
        work, write_back = _check_params(params)
        grads = _check_grads(grads, work)
        if work.size == 0:
            return
        self._check_state(work)
        self._step_checked(work, grads, effective_n_threads(self.n_threads))
        if write_back is not None:
            write_back[...] = work

    def _step_checked(self, params, grads, n_threads):
        """The step on arguments already checked: params and grads 1-D C-contiguous arrays
        of one float dtype and size matching the state. The estimators' training loop calls
        it once per minibatch on the network's own buffers (checked once per fit)."""
        if self._size is None:
            self._allocate(params.size, params.dtype)
            self._size, self._dtype = params.size, params.dtype
        self.n_steps += 1
        self._update(params, grads, n_threads)

    def _update(self, params, grads, n_threads):
        raise NotImplementedError

    def _empty(self):
        """A 0-size array of the state's dtype: the kernels' "no buffer" argument (shared,
        so that a step allocates nothing)."""
        return _EMPTY[self._dtype]

    def __repr__(self):
        signature = inspect.signature(type(self))
        shown = [f"{p}={getattr(self, p)!r}" for p in signature.parameters
                 if p != "n_threads" and getattr(self, p) != signature.parameters[p].default]
        return f"{type(self).__name__}({', '.join(shown)})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and Nesterov momentum
    (torch.optim.SGD).

    d = g + weight_decay * p; with momentum: buf = d at the first step, afterwards
    buf = momentum * buf + (1 - dampening) * d, and d = buf (or d + momentum * buf with
    nesterov=True); p -= lr * d.
    """

    name = "sgd"
    _algorithm = "sgd"

    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, *, n_threads=None):
        self.momentum = _check_finite(check_real(momentum, "momentum", low=0.0),
                                      "momentum")
        self.dampening = check_real(dampening, "dampening", low=0.0, high=1.0)
        self.nesterov = _check_bool(nesterov, "nesterov")
        self.weight_decay = _check_weight_decay(weight_decay)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(f"Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={self.momentum!r}, dampening={self.dampening!r}")
        super().__init__(lr, n_threads=n_threads)

    def _buffers(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(self, params, grads, n_threads):
        first = self.n_steps == 1
        buf = self._state.get("momentum_buffer")
        if buf is None and self.momentum != 0:
            # momentum switched on after steps without it (torch: buffer created now)
            buf = self._state["momentum_buffer"] = np.zeros_like(params)
            first = True
        _kernels.sgd_step(params, grads, buf if buf is not None else self._empty(), self.lr,
                          self.momentum, self.dampening, self.weight_decay, self.nesterov,
                          first, n_threads)


class Momentum(SGD):
    """SGD with momentum=0.9 (torch.optim.SGD(momentum=0.9))."""

    name = "momentum"

    def __init__(self, lr=1e-3, momentum=0.9, dampening=0.0, nesterov=False,
                 weight_decay=0.0, *, n_threads=None):
        super().__init__(lr, momentum, dampening, nesterov, weight_decay, n_threads=n_threads)


class Nesterov(SGD):
    """SGD with Nesterov momentum 0.9 (torch.optim.SGD(momentum=0.9, nesterov=True))."""

    name = "nesterov"

    def __init__(self, lr=1e-3, momentum=0.9, dampening=0.0, nesterov=True,
                 weight_decay=0.0, *, n_threads=None):
        super().__init__(lr, momentum, dampening, nesterov, weight_decay, n_threads=n_threads)


class Adagrad(Optimizer):
    """AdaGrad (torch.optim.Adagrad): d = g + weight_decay * p; sum += d^2;
    p -= clr * d / (sqrt(sum) + eps) with clr = lr / (1 + (t - 1) * lr_decay)."""

    name = "adagrad"
    _algorithm = "adagrad"

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, n_threads=None):
        self.lr_decay = _check_finite(check_real(lr_decay, "lr_decay", low=0.0), "lr_decay")
        self.weight_decay = _check_weight_decay(weight_decay)
        self.initial_accumulator_value = _check_finite(
            check_real(initial_accumulator_value, "initial_accumulator_value", low=0.0),
            "initial_accumulator_value")
        self.eps = _check_eps(eps)
        super().__init__(lr, n_threads=n_threads)

    def _buffers(self):
        return ("sum",)

    def _allocate(self, n, dtype):
        self._state["sum"] = np.full(n, self.initial_accumulator_value, dtype=dtype)

    def _update(self, params, grads, n_threads):
        clr = self.lr / (1 + (self.n_steps - 1) * self.lr_decay)
        _kernels.adagrad_step(params, grads, self._state["sum"], clr, self.weight_decay,
                              self.eps, n_threads)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop): d = g + weight_decay * p;
    v = alpha v + (1 - alpha) d^2; avg = sqrt(v) + eps, or with centered=True
    sqrt(v - gbar^2) + eps where gbar = alpha gbar + (1 - alpha) d; with momentum:
    buf = momentum buf + d / avg, p -= lr buf; else p -= lr d / avg.

    centered: v - gbar^2 is a variance, >= 0 in exact arithmetic; where rounding makes it
    negative (a nearly constant gradient) torch gives NaN and fastnn takes 0.
    """

    name = "rmsprop"
    _algorithm = "rmsprop"

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, n_threads=None):
        self.alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.momentum = _check_finite(check_real(momentum, "momentum", low=0.0), "momentum")
        self.centered = _check_bool(centered, "centered")
        super().__init__(lr, n_threads=n_threads)

    def _buffers(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0 else ()))

    def _update(self, params, grads, n_threads):
        s = self._state
        empty = self._empty()
        _kernels.rmsprop_step(params, grads, s["square_avg"], s.get("grad_avg", empty),
                              s.get("momentum_buffer", empty), self.lr, self.alpha, self.eps,
                              self.weight_decay, self.momentum, self.centered, n_threads)


class Adadelta(Optimizer):
    """Adadelta (torch.optim.Adadelta): d = g + weight_decay * p;
    v = rho v + (1 - rho) d^2; delta = sqrt(u + eps) / sqrt(v + eps) * d;
    u = rho u + (1 - rho) delta^2; p -= lr * delta."""

    name = "adadelta"
    _algorithm = "adadelta"

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, n_threads=None):
        self.rho = check_real(rho, "rho", low=0.0, high=1.0)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_weight_decay(weight_decay)
        super().__init__(lr, n_threads=n_threads)

    def _buffers(self):
        return ("square_avg", "acc_delta")

    def _update(self, params, grads, n_threads):
        _kernels.adadelta_step(params, grads, self._state["square_avg"],
                               self._state["acc_delta"], self.lr, self.rho, self.eps,
                               self.weight_decay, n_threads)


class Adam(Optimizer):
    """Adam (torch.optim.Adam): d = g + weight_decay * p; m = beta1 m + (1 - beta1) d;
    v = beta2 v + (1 - beta2) d^2 (AMSGrad: vmax = max(vmax, v) is used for v);
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)."""

    name = "adam"
    _algorithm = "adam"
    _decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, n_threads=None):
        self.betas = _check_betas(betas)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.amsgrad = _check_bool(amsgrad, "amsgrad")
        super().__init__(lr, n_threads=n_threads)

    def _buffers(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def _update(self, params, grads, n_threads):
        beta1, beta2 = self.betas
        t = self.n_steps
        # As torch: bias corrections and step size in Python double at each step.
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        step_size = self.lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        s = self._state
        _kernels.adam_step(params, grads, s["exp_avg"], s["exp_avg_sq"],
                           s.get("max_exp_avg_sq", self._empty()), self.lr, beta1, beta2,
                           self.eps, self.weight_decay, self._decoupled, step_size,
                           bias_correction2_sqrt, n_threads)


class AMSGrad(Adam):
    """Adam with amsgrad=True (torch.optim.Adam(amsgrad=True))."""

    name = "amsgrad"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=True, *, n_threads=None):
        super().__init__(lr, betas, eps, weight_decay, amsgrad, n_threads=n_threads)


class AdamW(Adam):
    """AdamW (torch.optim.AdamW): Adam with decoupled weight decay, p *= 1 - lr *
    weight_decay before the moment updates, and weight_decay=1e-2 by default."""

    name = "adamw"
    _algorithm = "adamw"
    _decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, n_threads=None):
        super().__init__(lr, betas, eps, weight_decay, amsgrad, n_threads=n_threads)


class NAdam(Optimizer):
    """NAdam (torch.optim.NAdam), Dozat's momentum schedule
    mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)):
    p -= lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * d / denom
       + lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / denom,
    denom = sqrt(v / (1 - beta2^t)) + eps.

    The product of the mu_t is kept in double (torch keeps it in a tensor of the default
    dtype, float32 unless torch.set_default_dtype(torch.float64)).
    """

    name = "nadam"
    _algorithm = "nadam"
    _scalars = ("mu_product",)

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, *, n_threads=None):
        self.betas = _check_betas(betas)
        self.eps = _check_eps(eps)
        self.weight_decay = _check_weight_decay(weight_decay)
        self.momentum_decay = _check_finite(
            check_real(momentum_decay, "momentum_decay", low=0.0), "momentum_decay")
        super().__init__(lr, n_threads=n_threads)

    def _reset_scalars(self):
        self.mu_product = 1.0

    def _buffers(self):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, params, grads, n_threads):
        beta1, beta2 = self.betas
        t = self.n_steps
        bias_correction2 = 1 - beta2 ** t
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * self.momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * self.momentum_decay)))
        self.mu_product *= mu
        mu_product_next = self.mu_product * mu_next
        grad_coef = -self.lr * (1.0 - mu) / (1.0 - self.mu_product)
        exp_avg_coef = (-self.lr * mu_next) / (1.0 - mu_product_next)
        _kernels.nadam_step(params, grads, self._state["exp_avg"], self._state["exp_avg_sq"],
                            beta1, beta2, self.eps, self.weight_decay, grad_coef,
                            exp_avg_coef, bias_correction2, n_threads)


# ---------------------------------------------------------------------------------------------
# The registry.

_REGISTRY = Registry("optimizer", Optimizer, word="hyper-parameter")
for _cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AMSGrad, AdamW, NAdam):
    _REGISTRY.add(_cls)
del _cls


def available():
    """Names accepted by ``get``."""
    return _REGISTRY.available()


def get(name, **hyper):
    """The optimizer called ``name``, built with the hyper-parameters ``hyper``.

    ``get("adam", lr=1e-3, betas=(0.9, 0.99))``; an Optimizer instance is returned as it is.
    Unknown names raise ValueError (listing the available ones), unknown hyper-parameters
    TypeError, invalid values ValueError, each naming the problem.
    """
    return _REGISTRY.get(name, **hyper)


# ---------------------------------------------------------------------------------------------
# Gradient clipping.

_NORM_TYPES = {1.0: 1, 2.0: 2, math.inf: 3}


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False, *,
                   n_threads=None):
    """Scale the flat gradient in place so that its norm is at most max_norm, as
    torch.nn.utils.clip_grad_norm_; returns the norm before clipping (a float).

    The norm is global (one norm over the whole buffer): norm_type=2 (default, Euclidean),
    1 or inf (max |g|). With total = the norm, coef = max_norm / (total + 1e-6); if
    coef < 1, grads *= coef (a second pass), otherwise grads are untouched. The norm is
    accumulated in double, in fixed chunks added in order, so it does not depend on
    n_threads (torch accumulates float32 gradients in float32).

    A NaN or infinite norm (a NaN/inf gradient) gives NaN gradients as in torch, or a
    ValueError before any change with error_if_nonfinite=True. grads: 1-D writable
    float32/float64 (a non-contiguous view is processed through a copy that is written
    back).
    """
    work, write_back = _check_params(grads, "grads")
    max_norm = check_real(max_norm, "max_norm", low=0.0, low_open=True,
                          allow_inf=True)
    if isinstance(norm_type, str) and norm_type.lower() == "inf":
        norm_type = math.inf
    norm_type = check_real(norm_type, "norm_type", allow_inf=True)
    if norm_type not in _NORM_TYPES:
        raise ValueError(f"Invalid norm_type: {norm_type!r}; fastnn supports 1, 2 and inf")
    error_if_nonfinite = _check_bool(error_if_nonfinite, "error_if_nonfinite")
    n_threads = effective_n_threads(n_threads)
    if work.size == 0:
        return 0.0
    partials = np.empty(_kernels.chunk_count(work.size))
    total = _kernels.norm(work, _NORM_TYPES[norm_type], partials, n_threads)
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(
            f"the total norm of order {norm_type} of the gradients is {total}: the gradient "
            f"has NaN or inf values (lower the learning rate, or clip by value). Use "
            f"error_if_nonfinite=False to scale anyway.")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # also for a NaN coef, which makes the gradients NaN, as torch
        _kernels.scale_(work, coef, n_threads)
        if write_back is not None:
            write_back[...] = work
    return float(total)


def clip_grad_value(grads, clip_value, *, n_threads=None):
    """Clamp the flat gradient in place to [-clip_value, clip_value], as
    torch.nn.utils.clip_grad_value_ (NaN stays NaN). clip_value >= 0."""
    work, write_back = _check_params(grads, "grads")
    clip_value = check_real(clip_value, "clip_value", low=0.0, allow_inf=True)
    n_threads = effective_n_threads(n_threads)
    if work.size == 0:
        return
    _kernels.clip_value_(work, clip_value, n_threads)
    if write_back is not None:
        write_back[...] = work


# ---------------------------------------------------------------------------------------------
# L-BFGS, delegated to scipy.

class LBFGSResult:
    """What LBFGS.minimize returns: the solution ``x`` (float64), ``fun`` at x, ``jac``
    (gradient at x), ``nit`` iterations, ``nfev`` function evaluations, ``success``
    (converged: the projected gradient fell below tol, or the relative decrease of fun
    below scipy's ftol), ``status`` and ``message`` from scipy, and ``stopped_by_callback``."""

    def __init__(self, x, fun, jac, nit, nfev, success, status, message,
                 stopped_by_callback):
        self.x = x
        self.fun = fun
        self.jac = jac
        self.nit = nit
        self.nfev = nfev
        self.success = success
        self.status = status
        self.message = message
        self.stopped_by_callback = stopped_by_callback

    def __repr__(self):
        return (f"LBFGSResult(fun={self.fun!r}, nit={self.nit}, nfev={self.nfev}, "
                f"success={self.success}, stopped_by_callback={self.stopped_by_callback}, "
                f"message={self.message!r})")


class LBFGS:
    """Full-batch L-BFGS through ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``,
    with scikit-learn's MLP semantics: ``maxiter=max_iter``, ``maxfun=max_fun``,
    ``gtol=tol``: the run stops when every component of the gradient is below tol in
    absolute value, or when the relative decrease of fun in an iteration,
    (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1), is below ``ftol`` (scipy's default 2.2e-9, which
    scikit-learn keeps; ftol=0 leaves only the gradient test, for a solution accurate to
    the last digits).

    ``minimize(fun, x0, callback=None)``: ``fun(x)`` returns ``(value, gradient)`` for a
    float64 1-D x; returns an LBFGSResult. ``callback(intermediate_result)`` is called after
    each iteration with an object holding ``x`` (a copy), ``fun`` and ``nit``; returning True
    or raising StopIteration stops the run cleanly (``stopped_by_callback=True``, no
    warning). A run that ends without converging (iteration or evaluation limit, line search
    failure) warns with sklearn's ConvergenceWarning.
    """

    def __init__(self, max_iter=200, max_fun=15000, tol=1e-4, *,
                 ftol=2.2204460492503131e-09):
        self.max_iter = check_int(max_iter, "max_iter", minimum=1)
        self.max_fun = check_int(max_fun, "max_fun", minimum=1)
        self.tol = _check_finite(check_real(tol, "tol", low=0.0), "tol")
        self.ftol = _check_finite(check_real(ftol, "ftol", low=0.0), "ftol")

    def __repr__(self):
        return (f"LBFGS(max_iter={self.max_iter}, max_fun={self.max_fun}, tol={self.tol}, "
                f"ftol={self.ftol})")

    def minimize(self, fun, x0, callback=None):
        import scipy.optimize
        from sklearn.exceptions import ConvergenceWarning

        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, got "
                            f"{type(callback).__name__}")
        x0 = np.asarray(x0)
        if x0.dtype.kind not in "fiu":
            raise TypeError(f"x0 has {_kind_of(x0.dtype)} dtype {x0.dtype}; expected a "
                            f"real array")
        if x0.ndim != 1:
            raise ValueError(f"x0 must be a 1-D array, got shape {x0.shape}")
        if x0.size == 0:
            raise ValueError("x0 is empty")
        x0 = np.array(x0, dtype=np.float64)  # a copy: float64 at the scipy boundary
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 contains NaN or inf")
        n = x0.size

        def value_and_grad(x):
            value, grad = fun(x)
            grad = np.asarray(grad, dtype=np.float64)
            if grad.shape != (n,):
                raise ValueError(f"fun returned a gradient of shape {grad.shape}, expected "
                                 f"({n},)")
            return float(value), grad

        run = {"nit": 0, "stopped": False}

        # scipy >= 1.11 (fastnn's minimum) passes an OptimizeResult to a callback whose only
        # parameter is named `intermediate_result`, and stops cleanly on StopIteration.
        def scipy_callback(intermediate_result):
            run["nit"] += 1
            info = scipy.optimize.OptimizeResult(
                x=np.array(intermediate_result.x, dtype=np.float64),
                fun=float(intermediate_result.fun), nit=run["nit"])
            try:
                stop = callback(info)
            except StopIteration:
                run["stopped"] = True
                raise
            if stop:
                run["stopped"] = True
                raise StopIteration

        result = scipy.optimize.minimize(
            value_and_grad, x0, method="L-BFGS-B", jac=True,
            callback=scipy_callback if callback is not None else None,
            options={"maxiter": self.max_iter, "maxfun": self.max_fun, "gtol": self.tol,
                     "ftol": self.ftol})
        success = bool(result.success) and not run["stopped"]
        message = result.message if isinstance(result.message, str) \
            else result.message.decode()
        if not success and not run["stopped"]:
            warnings.warn(
                f"L-BFGS failed to converge after {result.nit} iterations and {result.nfev} "
                f"function evaluations (status={result.status}): {message}. Increase "
                f"max_iter ({self.max_iter}) or max_fun ({self.max_fun}), or scale the data.",
                ConvergenceWarning, stacklevel=2)
        return LBFGSResult(x=np.asarray(result.x, dtype=np.float64), fun=float(result.fun),
                           jac=np.asarray(result.jac, dtype=np.float64), nit=int(result.nit),
                           nfev=int(result.nfev), success=success, status=int(result.status),
                           message=message, stopped_by_callback=run["stopped"])
