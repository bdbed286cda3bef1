"""The layer stack: dense layers on one flat parameter buffer, forward and backward.

A ``Network`` maps X (n_samples, n_features) through hidden layers to n_outputs. Each layer
is a matrix product through BLAS (X W, delta W^T, X^T delta), a bias, optionally batch
normalisation, an activation, optionally a residual connection and dropout::

    z = a_prev @ W + b          (BLAS gemm + bias kernel)
    z = batchnorm(z)            (batch_norm=True, hidden layers)
    a = activation(z)           (any fastnn activation; maxout has pieces * units inputs)
    a = a + skip(a_prev)        (residual=True, hidden layers after the first: identity
                                 when the widths are equal, a learned projection otherwise)
    a = dropout(a)              (dropout > 0, training only; inverted)

All learned numbers live in ONE flat buffer ``params`` (and their gradient in ``grads``):
first every weight matrix (``coefs_[i]``, shape (fan_in, fan_out), then the residual
projections): the region L1/L2 penalise; then the intercepts (``intercepts_[i]``); then the
extras (PReLU slopes, learned swish betas, batch-norm gamma and beta). ``coefs_``,
``intercepts_`` and the activations' ``params`` are views into it. An optimizer step is one
kernel over ``params``; L-BFGS receives it as it is.

The output layer and the loss are fused where the gradient simplifies: softmax with
categorical cross-entropy trains on the logits with ``softmax_crossentropy`` (gradient
softmax - target), sigmoid with binary cross-entropy on the logits with
``sigmoid_crossentropy`` (gradient sigmoid - target), and an identity output needs no
activation at all. Any other pair goes through the loss gradient and the activation's
backward.

Regularisation follows scikit-learn: the loss is the mean data loss plus
(0.5 * alpha * ||W||^2 + l1 * ||W||_1) / n, with n the number of samples of the batch (the sum
of their sample weights), on the weights only, never the biases.

Buffers for the activations and deltas are allocated for the largest batch seen and reused,
so a training step allocates no arrays after the first one.

Compiled plan. ``loss_and_gradient`` and ``forward`` check their input, draw the dropout
masks and then make ONE nogil call into a plan (fastnn/_core/_network*.pyx) that runs every
layer's kernels in sequence on raw pointers to the network's buffers: for small batches the
Python overhead of calling ~30 kernels one by one would cost more than their arithmetic. The
plan is built when the workspace is (re)allocated and when the parameter views are rebound
(after unpickling); it snapshots the activations' and the loss's fixed hyper-parameters,
while learned ones (PReLU slopes, swish beta) and the network's alpha, l1, loss_scale and
batch-norm settings are read at each call. The Python sequence below (``_forward``,
``_backward``) computes the same thing with the same kernels; it remains the path for what
the plan does not run: activation or loss objects of other classes than fastnn's own (a
subclass may change forward/backward), ``binary_step`` (its backward warns), output
activations other than element-wise ones and softmax (maxout, PReLU, learned swish: their
parameters are not in the flat buffer), activation parameters that do not fit the dtype and
PReLU slope counts that do not match the width (the Python path raises at the call), empty
batches, and training calls on a model whose gradient or running statistics are read-only
(loaded with joblib's mmap_mode: the Python path says so; predicting stays compiled).
"""
import copy
import numbers

import numpy as np
from sklearn.utils import check_random_state

from fastnn import activations as _activations
from fastnn import initializers as _initializers
from fastnn import losses as _losses
from fastnn._core import _blas, _dispatch
from fastnn._core._openmp import effective_n_threads

__all__ = ["Network", "check_gradient"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# (output activation, loss) pairs trained on the logits by a loss that includes the activation
_FUSED = {
    ("softmax", "categorical_crossentropy"): "softmax_crossentropy",
    ("softmax", "sparse_categorical_crossentropy"): "softmax_crossentropy",
    ("softmax", "softmax_crossentropy"): "softmax_crossentropy",
    ("sigmoid", "binary_crossentropy"): "sigmoid_crossentropy",
    ("sigmoid", "sigmoid_crossentropy"): "sigmoid_crossentropy",
    ("logistic", "binary_crossentropy"): "sigmoid_crossentropy",
}

# Below this many elements per layer and batch, the network's own kernels (bias, activation,
# loss, batch norm) run on one thread and only BLAS threads. Measured on 2 cores: a batch of
# 128 through 784-256-128-10 takes 1.2 ms so, but 24 ms when these kernels also use OpenMP
# threads, because OpenMP's and OpenBLAS's worker pools spin-wait in turn for the same cores
# between the interleaved calls. One pool for everything (GEMMs split over OpenMP threads
# with single-threaded BLAS) is the planned fix.
_KERNEL_THREADS_MIN_ELEMENTS = 1 << 20

_RELU_FAMILY = ("relu", "leaky_relu", "prelu", "elu", "gelu", "swish", "silu", "maxout")

# The layer kernels and the compiled plan (bound to the activation, loss and layer kernels)
# for the widest vector instructions this CPU has (see fastnn/_core/_network.pyx).
_layers = _dispatch.load("_layers")
_plans = _dispatch.load("_network")
_Op = _plans.ActivationOp

# Activation and loss classes the plan runs: exact types, because a subclass may change what
# forward and backward do. BinaryStep is left out: its backward warns at every call.
_PLAN_ELEMENTWISE = (_activations.Identity, _activations.Sigmoid, _activations.Tanh,
                     _activations.ReLU, _activations.LeakyReLU, _activations.ELU,
                     _activations.SELU, _activations.Softplus, _activations.GELU,
                     _activations.Swish)
_PLAN_LOSSES = frozenset(type(_losses.get(name)) for name in _losses.available())
_INT64 = np.dtype(np.int64).num  # numpy type number of integer labels


class _NotCompiled(Exception):
    """A part of the network that only the Python path runs."""


def _activation_op(act, width, dtype, in_buffer):
    """(op, kind, a, b, pieces, shared_slope) of an activation on `width` columns, for the
    plan. in_buffer: its learned parameters, if any, live in the flat buffer (hidden
    layers)."""
    cls = type(act)
    if cls in _PLAN_ELEMENTWISE and not (getattr(act, "learn_beta", False) and not in_buffer):
        try:
            a, b = act._params_for(dtype)
        except ValueError:  # a parameter that does not fit float32: the Python path raises
            raise _NotCompiled from None
        return _Op.OP_ELEMENTWISE, int(act._kind), a, b, 1, False
    if cls is _activations.Softmax:
        return _Op.OP_SOFTMAX, 0, 0.0, 0.0, 1, False
    if cls is _activations.Maxout and in_buffer:
        return _Op.OP_MAXOUT, 0, 0.0, 0.0, act.pieces, False
    if cls is _activations.PReLU and in_buffer:
        shared = act.num_parameters == 1 and width != 1
        if not shared and act.params.size != width:  # the Python path raises
            raise _NotCompiled
        return _Op.OP_PRELU, 0, 0.0, 0.0, 1, shared
    raise _NotCompiled


def _loss_spec(loss, n_outputs, dtype):
    """(dense_kind, labels_kind, p0, p1, column_weight) of the loss for the plan; a kind is
    -1 when the loss does not take targets in that form."""
    if type(loss) not in _PLAN_LOSSES:
        raise _NotCompiled
    specs = []
    for labels in (False, True):
        try:
            specs.append(loss.kernel_spec(n_outputs, dtype, labels=labels))
        except ValueError:  # no such form, or a class weight of the wrong length
            specs.append(None)
    dense, labels = specs
    if dense is None and labels is None:
        raise _NotCompiled
    _, p0, p1, column_weight = dense or labels
    return (-1 if dense is None else int(dense[0]), -1 if labels is None else int(labels[0]),
            p0, p1, column_weight)


def _activation_name(act):
    return act.name if isinstance(act, _activations.Activation) else act


class _Layer:
    """Sizes and views of one layer; filled by Network."""

    def __init__(self, fan_in, units, activation, *, hidden, batch_norm, residual, dropout):
        self.fan_in = fan_in
        self.units = units                      # width of the layer's output
        self.activation = activation            # an Activation (hidden) or None (output)
        self.n_linear = units if activation is None else units * (
            activation.pieces if isinstance(activation, _activations.Maxout) else 1)
        self.hidden = hidden
        self.batch_norm = batch_norm
        self.residual = residual                # None, "identity" or "projection"
        self.dropout = dropout


class Network:
    """A multilayer perceptron on one flat parameter buffer (see the module docstring).

    Parameters
    ----------
    n_features, n_outputs : int
    hidden_layer_sizes : sequence of int
        Units of each hidden layer.
    activation : str, Activation, or a list of them (one per hidden layer)
        Hidden activation(s); a name is built with ``activation_params``.
    output_activation : str
        Activation of the output layer (applied by ``forward``; fused with the loss where
        possible).
    loss : str or Loss
        A fastnn.losses name or object, applied to the output (or, fused, to the logits).
    loss_scale : float
        The training loss is loss_scale * loss (scikit-learn's squared error is 0.5 * mse).
    alpha, l1 : float
        L2 and L1 penalties (scikit-learn's convention, divided by the batch size).
    dropout : float in [0, 1)
        Drop probability after each hidden layer (inverted dropout; training only).
    batch_norm : bool
        Batch normalisation before each hidden activation (torch's BatchNorm1d).
    residual : bool
        Residual connections between consecutive hidden layers.
    init : "sklearn", "auto" or an initializer name
        "sklearn" reproduces scikit-learn's MLP draw (weights and biases from one uniform);
        "auto" is He uniform for the ReLU family, LeCun normal for SELU and Glorot uniform
        otherwise; other inits draw the weights and set the biases to 0.
    dtype : float32 or float64
    random_state : None, int or RandomState
    n_threads : None or int (see fastnn._core._openmp.effective_n_threads)
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, *, activation="relu",
                 activation_params=None, output_activation="identity", loss="mse",
                 loss_scale=1.0, alpha=0.0, l1=0.0, dropout=0.0, batch_norm=False,
                 residual=False, init="sklearn", dtype=np.float64, random_state=None,
                 n_threads=None, batchnorm_momentum=0.1, batchnorm_eps=1e-5):
        sizes = [_check_positive_int(n_features, "n_features")]
        sizes += [_check_positive_int(h, "hidden_layer_sizes entry")
                  for h in hidden_layer_sizes]
        n_outputs = _check_positive_int(n_outputs, "n_outputs")
        self.dtype = np.dtype(dtype)
        if self.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        for name, value, high in (("alpha", alpha, None), ("l1", l1, None),
                                  ("dropout", dropout, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                    value >= 0 and (high is None or value < high)):
                bound = f"in [0, {high})" if high else ">= 0"
                raise ValueError(f"{name} must be a number {bound}, got {value!r}")
        self.alpha, self.l1, self.dropout = float(alpha), float(l1), float(dropout)
        self.loss_scale = float(loss_scale)
        self.batch_norm, self.residual = bool(batch_norm), bool(residual)
        self.batchnorm_momentum, self.batchnorm_eps = batchnorm_momentum, batchnorm_eps
        self.n_threads = n_threads
        effective_n_threads(n_threads)

        hidden_acts = self._hidden_activations(activation, activation_params or {},
                                               len(sizes) - 1)
        self.output_activation = _activations.get(output_activation, n_threads=n_threads)
        out_name = _activation_name(output_activation)
        self.loss = _losses.get(loss, n_threads=n_threads) if isinstance(loss, str) else loss
        loss_name = self.loss.name
        fused = _FUSED.get((out_name, loss_name))
        if out_name in ("identity", "linear"):
            self._train_loss, self._fused = self.loss, True
        elif fused is not None:
            self._train_loss = _losses.get(fused, n_threads=n_threads)
            self._fused = True
        else:
            self._train_loss, self._fused = self.loss, False

        self.layers = []
        for i, (fan_in, units) in enumerate(zip(sizes, sizes[1:] + [n_outputs])):
            hidden = i < len(sizes) - 1
            residual = None
            if hidden and self.residual and i > 0:
                residual = "identity" if fan_in == units else "projection"
            self.layers.append(_Layer(
                fan_in, units, hidden_acts[i] if hidden else None, hidden=hidden,
                batch_norm=hidden and self.batch_norm, residual=residual,
                dropout=self.dropout if hidden else 0.0))
        self._widest = max(layer.n_linear for layer in self.layers)
        self._batch_capacity, self._plan = 0, None
        self._allocate()
        self._initialize(init, check_random_state(random_state), activation)

    # -----------------------------------------------------------------------------------------
    # Construction

    def _hidden_activations(self, activation, params, n_hidden):
        specs = list(activation) if isinstance(activation, (list, tuple)) else [activation]
        if len(specs) == 1:
            specs = specs * n_hidden
        if len(specs) != n_hidden:
            raise ValueError(f"{len(specs)} activations given for {n_hidden} hidden layers")
        acts = []
        for spec in specs:
            if isinstance(spec, _activations.Activation):
                act = copy.deepcopy(spec)  # each layer learns its own parameters
            else:
                act = _activations.get(spec, **params)
            act.n_threads = self.n_threads
            acts.append(act)
        return acts

    def _allocate(self):
        """Lay out the flat buffer: weights (+ projections), intercepts, extras."""
        layout = []  # (kind, layer index, shape)
        for i, layer in enumerate(self.layers):
            layout.append(("coef", i, (layer.fan_in, layer.n_linear)))
        for i, layer in enumerate(self.layers):
            if layer.residual == "projection":
                layout.append(("projection", i, (layer.fan_in, layer.units)))
        self.n_weights = sum(int(np.prod(shape)) for _, _, shape in layout)
        for i, layer in enumerate(self.layers):
            layout.append(("intercept", i, (layer.n_linear,)))
        for i, layer in enumerate(self.layers):
            if layer.activation is not None and layer.activation.n_params(layer.n_linear):
                layout.append(("act", i, (layer.activation.n_params(layer.n_linear),)))
            if layer.batch_norm:
                layout.append(("gamma", i, (layer.n_linear,)))
                layout.append(("beta", i, (layer.n_linear,)))
        self._layout = layout
        size = sum(int(np.prod(shape)) for _, _, shape in layout)
        self.params = np.zeros(size, dtype=self.dtype)
        self.grads = np.zeros(size, dtype=self.dtype)
        self._running = [(np.zeros(l.n_linear, self.dtype), np.ones(l.n_linear, self.dtype))
                         if l.batch_norm else None for l in self.layers]
        self._bind_views()

    def _bind_views(self):
        """Point coefs_, intercepts_ and the layers' parameter views into params/grads."""
        offset = 0
        for kind, i, shape in self._layout:
            n = int(np.prod(shape))
            p = self.params[offset:offset + n].reshape(shape)
            g = self.grads[offset:offset + n].reshape(shape)
            layer = self.layers[i]
            setattr(layer, kind, p)
            setattr(layer, kind + "_grad", g)
            if kind == "act":
                layer.activation.params, layer.activation.grads = p, g
            offset += n
        self.coefs_ = [layer.coef for layer in self.layers]
        self.intercepts_ = [layer.intercept for layer in self.layers]
        if self._batch_capacity:  # the plan points into the old views' buffers
            self._plan = self._build_plan()

    def _initialize(self, init, rng, activation):
        hidden_name = _activation_name(activation if not isinstance(activation, (list, tuple))
                                       else activation[0])
        for i, layer in enumerate(self.layers):
            if init == "sklearn":
                coef, intercept = _initializers.sklearn_uniform(
                    layer.fan_in, layer.n_linear, rng, hidden_name)
                layer.coef[...] = coef
                layer.intercept[...] = intercept
            else:
                name = init
                if init == "auto":
                    act = _activation_name(layer.activation) if layer.hidden else "identity"
                    name = ("he_uniform" if act in _RELU_FAMILY else
                            "lecun_normal" if act == "selu" else "glorot_uniform")
                layer.coef[...] = _initializers.get(name)(layer.fan_in, layer.n_linear, rng)
            if layer.residual == "projection":
                layer.projection[...] = _initializers.get("glorot_uniform")(
                    layer.fan_in, layer.units, rng)
            if hasattr(layer, "act"):
                act = layer.activation
                layer.act[...] = act.init if isinstance(act, _activations.PReLU) else act.beta
            if layer.batch_norm:
                layer.gamma[...] = 1
                layer.beta[...] = 0

    def _ensure_capacity(self, n_samples):
        """Workspace for batches of up to n_samples rows (allocated when it grows)."""
        if n_samples <= self._batch_capacity:
            return
        n, dt = n_samples, self.dtype
        for layer in self.layers:
            layer.z = np.empty((n, layer.n_linear), dt)        # pre-activation
            layer.a = np.empty((n, layer.units), dt)           # output
            layer.delta_a = np.empty((n, layer.units), dt)     # d loss / d output
            layer.delta_z = np.empty((n, layer.n_linear), dt)  # d loss / d pre-activation
            layer.partials = np.empty((_layers.n_row_blocks(n, layer.n_linear),
                                       layer.n_linear))
            if layer.batch_norm:
                layer.z_bn = np.empty((n, layer.n_linear), dt)
                layer.z_hat = np.empty((n, layer.n_linear), dt)
                layer.bn_mean = np.empty(layer.n_linear, dt)
                layer.bn_inv_std = np.empty(layer.n_linear, dt)
            if layer.dropout:
                layer.mask = np.empty((n, layer.units), dt)
        last = self.layers[-1]
        last.out = np.empty((n, last.units), dt)
        last.delta_out = np.empty((n, last.units), dt)
        self._penalty_partials = np.empty(-(-self.n_weights // _layers.chunk_size))
        self._batch_capacity = n_samples
        self._plan = self._build_plan()

    def _build_plan(self):
        """The compiled plan over the current buffers, or None when some layer, the output
        activation or the loss needs the Python path (see the module docstring)."""
        last = self.layers[-1]
        try:
            hidden = [_activation_op(layer.activation, layer.n_linear, self.dtype, True)
                      for layer in self.layers if layer.hidden]
            output = _activation_op(self.output_activation, last.units, self.dtype, False)
            loss = _loss_spec(self._train_loss, last.units, self.dtype)
        except _NotCompiled:
            return None
        dense_kind, labels_kind = loss[:2]
        # how the targets reach the loss kernel: as the outputs' shape, as integer labels, or
        # (softmax cross-entropy) labels unless y has the outputs' shape
        self._plan_targets = ("either" if dense_kind >= 0 and labels_kind >= 0 else
                              "dense" if dense_kind >= 0 else "labels")
        return _plans.Plan(self, hidden, output, loss)

    # -----------------------------------------------------------------------------------------
    # Forward and backward

    def _check_X(self, X):
        if _plans.readable(X, self.dtype.num, -1, self.layers[0].fan_in):
            return X  # the common case, checked at C speed
        X = np.asarray(X)
        if X.dtype != self.dtype:
            raise TypeError(f"X has dtype {X.dtype}; this network computes in {self.dtype}")
        if X.ndim != 2 or X.shape[1] != self.layers[0].fan_in:
            raise ValueError(f"X must have shape (n_samples, {self.layers[0].fan_in}), got "
                             f"{X.shape}")
        return np.ascontiguousarray(X)

    def _kernel_threads(self, n):
        """Threads for the network's own kernels on a batch of n rows (see
        _KERNEL_THREADS_MIN_ELEMENTS)."""
        if n * self._widest >= _KERNEL_THREADS_MIN_ELEMENTS:
            return effective_n_threads(self.n_threads)
        return 1

    def _python_threads(self, n):
        """_kernel_threads(n), also set on the activation and loss objects the Python path
        calls."""
        n_threads = self._kernel_threads(n)
        for obj in [layer.activation for layer in self.layers if layer.hidden] + [
                self.output_activation, self._train_loss]:
            obj.n_threads = n_threads
        return n_threads

    def _draw_masks(self, rng, n):
        """Uniform draws into the dropout masks of a batch of n rows, layer by layer (the
        stream the Python path draws in its forward pass)."""
        for layer in self.layers:
            if layer.dropout:
                rng.random(out=layer.mask[:n], dtype=self.dtype)

    def _forward(self, X, training, rng, n_threads):
        """Python path: run the layers on X (C-contiguous, n <= capacity rows); returns the
        logits view."""
        n = X.shape[0]
        a_prev = X
        for i, layer in enumerate(self.layers):
            z = layer.z[:n]
            _blas.gemm_arrays(a_prev, layer.coef, z)
            _layers.bias_add(z, layer.intercept, n_threads)
            if not layer.hidden:
                return z
            pre = z
            if layer.batch_norm:
                pre = layer.z_bn[:n]
                running_mean, running_var = self._running[i]
                if training:
                    _layers.batchnorm_train(
                        z, layer.gamma, layer.beta, pre, layer.z_hat[:n], layer.bn_mean,
                        layer.bn_inv_std, running_mean, running_var, self.batchnorm_momentum,
                        self.batchnorm_eps, layer.partials, n_threads)
                else:
                    _layers.batchnorm_eval(z, layer.gamma, layer.beta, running_mean,
                                           running_var, pre, self.batchnorm_eps, n_threads)
            a = layer.a[:n]
            layer.activation.forward(pre, out=a)
            if layer.residual == "identity":
                _layers.add(a, a_prev, n_threads)
            elif layer.residual == "projection":
                _blas.gemm_arrays(a_prev, layer.projection, a, beta=1.0)
            if training and layer.dropout:
                mask = layer.mask[:n]
                rng.random(out=mask, dtype=self.dtype)
                _layers.dropout_forward(a, mask, layer.dropout, n_threads)
            a_prev = a

    def _backward(self, X, delta_logits, n_threads):
        """Python path: backpropagate delta_logits (d loss / d logits) into self.grads."""
        n = X.shape[0]
        delta_z = delta_logits
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            a_prev = X if i == 0 else self.layers[i - 1].a[:n]
            _blas.gemm_arrays(a_prev, delta_z, layer.coef_grad, trans_a=True)
            _layers.column_sums(delta_z, layer.partials, layer.intercept_grad, 1.0, n_threads)
            if i == 0:
                break
            below = self.layers[i - 1]
            delta_a = below.delta_a[:n]
            _blas.gemm_arrays(delta_z, layer.coef, delta_a, trans_b=True)
            if layer.residual is not None:
                # the skip carries this layer's output gradient to the layer below
                delta_out = layer.delta_a[:n]
                if layer.residual == "identity":
                    _layers.add(delta_a, delta_out, n_threads)
                else:
                    _blas.gemm_arrays(a_prev, delta_out, layer.projection_grad, trans_a=True)
                    _blas.gemm_arrays(delta_out, layer.projection, delta_a, beta=1.0,
                                      trans_b=True)
            delta_z = self._hidden_backward(i - 1, delta_a, n, n_threads)

    def _hidden_backward(self, i, delta_a, n, n_threads):
        """From d loss / d output of hidden layer i to d loss / d its pre-activation z."""
        layer = self.layers[i]
        if layer.dropout:
            _layers.multiply(delta_a, layer.mask[:n], n_threads)
        pre = layer.z_bn[:n] if layer.batch_norm else layer.z[:n]
        delta_z = layer.delta_z[:n]
        layer.activation.backward(pre, delta_a, out=delta_z)
        if layer.batch_norm:
            _layers.batchnorm_backward(
                delta_z, layer.z_hat[:n], layer.gamma, layer.bn_inv_std, delta_z,
                layer.gamma_grad, layer.beta_grad, layer.z_bn[:n], layer.partials, n_threads)
        return delta_z

    # -----------------------------------------------------------------------------------------
    # Public API

    def forward(self, X, *, training=False, random_state=None):
        """The network's output for X (after the output activation): a new array."""
        X = self._check_X(X)
        n = X.shape[0]
        self._ensure_capacity(n)
        rng = np.random.default_rng(random_state) if training and self.dropout else None
        plan = self._plan
        if plan is None or n == 0 or (training and self.batch_norm and not plan.trains):
            return self._forward_python(X, training, rng)
        if rng is not None:
            self._draw_masks(rng, n)
        out = np.empty((n, self.layers[-1].units), self.dtype)
        plan.forward(X, out, training, self._kernel_threads(n), self.batchnorm_momentum,
                     self.batchnorm_eps)
        return out

    def loss_and_gradient(self, X, y, sample_weight=None, *, training=True, rng=None):
        """(loss, gradient) for the batch (X, y), regularisation included.

        The gradient is ``self.grads`` (shape of ``params``), overwritten by the next call:
        copy it to keep it. training=True uses the batch statistics for batch norm (and
        updates the running ones) and draws dropout masks from ``rng`` (a numpy Generator;
        one is created if None).
        """
        X = self._check_X(X)
        n = X.shape[0]
        self._ensure_capacity(n)
        if training and self.dropout and rng is None:
            rng = np.random.default_rng()
        plan = self._plan
        if plan is None or n == 0 or not plan.trains:
            return self._loss_and_gradient_python(X, y, sample_weight, training, rng)
        target, labels = self._plan_target(y, n)
        weights = self._plan_sample_weight(sample_weight, n)
        n_eff = (float(np.sum(sample_weight)) if sample_weight is not None
                 and (self.alpha or self.l1) else float(n))
        if training and self.dropout:
            self._draw_masks(rng, n)
        value = plan.loss_and_gradient(
            X, target, labels, weights, n_eff, training, self._kernel_threads(n), self.alpha,
            self.l1, self.loss_scale, self.batchnorm_momentum, self.batchnorm_eps)
        if plan.stopped:
            # The loss kernel returns NaN for invalid targets or weights (out of range,
            # NaN...): the loss object finds and names the problem, as on the Python path.
            # Otherwise the value is a genuine overflow and the step goes on.
            last = self.layers[-1]
            head_input = last.z[:n] if self._fused else last.out[:n]
            self._train_loss.value(y, head_input, sample_weight)
            value = plan.resume(value)
        return value, self.grads

    def _plan_target(self, y, n):
        """(y as the plan's loss kernel reads it, whether it holds labels): the targets
        (n, n_outputs) in the network's dtype, or int64 labels (n,). Arrays already in
        that form are used as they are; others go through the loss module's checks and
        are converted as the loss object converts them."""
        n_outputs = self.layers[-1].units
        form = self._plan_targets
        if form != "labels" and (
                _plans.readable(y, self.dtype.num, n, n_outputs)
                or (form == "dense" and n_outputs == 1
                    and _plans.readable(y, self.dtype.num, n, -1))):
            return y, False
        if form != "dense" and _plans.readable(y, _INT64, n, -1):
            return y, True
        if form == "either":  # softmax cross-entropy: labels unless y has the logits' shape
            y = _losses._check_numeric(y, "y_true")
            form = "dense" if y.shape == (n, n_outputs) else "labels"
        if form == "labels":
            return _losses._check_labels(y, n), True
        y = _losses._check_true_like(y, self.layers[-1].z[:n])
        return np.ascontiguousarray(y, dtype=self.dtype), False

    def _plan_sample_weight(self, sample_weight, n):
        """sample_weight as the plan reads it: None, or C-contiguous (n,) in the network's
        dtype (checked and converted as the loss object does)."""
        if sample_weight is None or _plans.readable(sample_weight, self.dtype.num, n, -1):
            return sample_weight
        return np.ascontiguousarray(_losses._check_sample_weight(sample_weight, n),
                                    dtype=self.dtype)

    def _forward_python(self, X, training, rng):
        """forward() through the Python path (X checked, workspace allocated)."""
        logits = self._forward(X, training, rng, self._python_threads(X.shape[0]))
        return self.output_activation.forward(logits)

    def _loss_and_gradient_python(self, X, y, sample_weight, training, rng):
        """loss_and_gradient() through the Python path (X checked, workspace allocated)."""
        n = X.shape[0]
        n_threads = self._python_threads(n)
        logits = self._forward(X, training, rng, n_threads)
        last = self.layers[-1]
        if self._fused:
            delta_logits = last.delta_z[:n]
            value, _ = self._train_loss.value_and_gradient(y, logits, sample_weight,
                                                           out=delta_logits)
        else:
            out = self.output_activation.forward(logits, out=last.out[:n])
            value, _ = self._train_loss.value_and_gradient(y, out, sample_weight,
                                                           out=last.delta_out[:n])
            delta_logits = self.output_activation.backward(logits, last.delta_out[:n],
                                                           out=last.delta_z[:n])
        if self.loss_scale != 1.0:
            value *= self.loss_scale
            np.multiply(delta_logits, self.loss_scale, out=delta_logits)
        self._backward(X, delta_logits, n_threads)
        if self.alpha or self.l1:
            n_eff = n if sample_weight is None else float(np.sum(sample_weight))
            value += _layers.penalty(self.params[:self.n_weights], self.grads[:self.n_weights],
                                     self.alpha / n_eff, self.l1 / n_eff,
                                     self._penalty_partials, n_threads)
        return float(value), self.grads

    def running_stats(self):
        """Batch-norm running (mean, variance) per hidden layer (None without batch norm)."""
        return self._running

    def __getstate__(self):
        state = self.__dict__.copy()
        state["layers"] = [{k: v for k, v in vars(layer).items()
                            if k in ("fan_in", "units", "activation", "n_linear", "hidden",
                                     "batch_norm", "residual", "dropout")}
                           for layer in self.layers]
        state["_batch_capacity"], state["_plan"] = 0, None  # the workspace is not pickled
        for key in ("coefs_", "intercepts_"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        layers = []
        for fields in state["layers"]:
            layer = _Layer.__new__(_Layer)
            layer.__dict__.update(fields)
            layers.append(layer)
        state["layers"] = layers
        state.setdefault("_widest", max(layer.n_linear for layer in layers))
        state.setdefault("_plan", None)
        self.__dict__.update(state)
        self._bind_views()


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_gradient(network, X, y, sample_weight=None, *, eps=1e-6, max_checks=None,
                   random_state=0):
    """Maximum relative error between backpropagation and central finite differences.

    For each checked parameter p_k (all of them, or ``max_checks`` drawn at random), the
    difference quotient (L(p + eps e_k) - L(p - eps e_k)) / (2 eps) of the training loss
    (regularisation included, batch norm in training mode, dropout off) is compared with the
    backpropagated gradient. Returns max_k |numeric_k - backprop_k| / max_k |backprop_k|:
    the error relative to the gradient's largest entry, so that entries near zero, whose
    difference quotients are all rounding, do not dominate. Use float64: in float32 the
    quotient carries errors of about 1e-7 / eps.
    """
    if network.dropout:
        raise ValueError("check_gradient needs dropout=0: dropout draws new masks each call")
    params = network.params
    _, grad = network.loss_and_gradient(X, y, sample_weight)
    backprop = grad.astype(np.float64, copy=True)
    indices = np.arange(params.size)
    if max_checks is not None and max_checks < params.size:
        indices = np.sort(np.random.default_rng(random_state).choice(
            params.size, max_checks, replace=False))
    numeric = np.empty(indices.size)
    saved_running = [None if r is None else (r[0].copy(), r[1].copy())
                     for r in network._running]
    for j, k in enumerate(indices):
        original = params[k]
        params[k] = original + eps
        plus, _ = network.loss_and_gradient(X, y, sample_weight)
        params[k] = original - eps
        minus, _ = network.loss_and_gradient(X, y, sample_weight)
        params[k] = original
        numeric[j] = (plus - minus) / (2 * eps)
    for running, saved in zip(network._running, saved_running):  # undo the stat updates
        if running is not None:
            running[0][...], running[1][...] = saved
    scale = np.abs(backprop).max()
    if scale == 0:
        return float(np.abs(numeric).max())
    return float(np.abs(numeric - backprop[indices]).max() / scale)
