# The body of the network's compiled plan, included by _network.pyx, _network_avx2.pyx and
# _network_avx512.pyx after each has cimported its activation, loss and layer kernels as
# `_act`, `_loss` and `_layers` (see the comment in _network.pyx for why there are three
# builds).
#
# A Plan is built by fastnn.network.Network from its layers: every buffer the forward and
# backward passes touch (weights, gradients, workspace) becomes a raw pointer in a C struct,
# and one nogil call runs a whole minibatch through the same kernels the Python path of
# network.py calls one by one:
#
#     forward:   z = a_prev W (gemm), z += b, [batch norm], a = f(z), [a += skip], [dropout]
#     head:      loss value and d loss / d logits (fused) or through the output activation
#     backward:  dW = a_prev^T delta (gemm), db = column sums, delta_prev = delta W^T (gemm),
#                [skip], [dropout mask], f'(z), [batch norm]
#     penalty:   L1/L2 on the weights.
#
# The plan allocates nothing per call and holds a reference to every array behind its
# pointers (Plan._keep), so they stay alive as long as it does. The network rebuilds it when
# it reallocates its workspace or rebinds its parameter views.

cimport numpy as cnp
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastnn._core._blas cimport gemm
from fastnn._core._openmp cimport CHUNK_SIZE
from fastnn._core._optim cimport scale
from fastnn._core._reductions cimport sum_values
from fastnn._core._typedefs cimport floating

import numpy as np

cnp.import_array()


cpdef enum ActivationOp:
    OP_ELEMENTWISE = 0  # an _act.Kind with its parameters a, b (swish: beta may be learned)
    OP_SOFTMAX = 1
    OP_MAXOUT = 2
    OP_PRELU = 3        # one learned slope per column, or one shared by all columns

cpdef enum Skip:
    SKIP_NONE = 0
    SKIP_IDENTITY = 1    # a += a_prev (equal widths)
    SKIP_PROJECTION = 2  # a += a_prev P (a learned projection)


cdef struct Activation:
    ActivationOp op
    int kind              # OP_ELEMENTWISE: the _act.Kind
    double a, b           # OP_ELEMENTWISE: its parameters (when not learned)
    Py_ssize_t pieces     # OP_MAXOUT
    void* param           # learned parameters in the flat buffer (PReLU slopes, swish
    void* param_grad      # beta) and their gradient; NULL when there are none
    bint shared_slope     # OP_PRELU: param is one slope for every column
    void* slopes          # shared_slope: 2 * width workspace (slopes, then their gradients)


cdef struct Layer:
    Py_ssize_t fan_in, n_linear, units
    bint hidden
    Activation act
    Skip skip
    bint batch_norm
    double dropout
    # parameters and their gradients (views into the flat buffers)
    void* coef
    void* coef_grad
    void* intercept
    void* intercept_grad
    void* projection
    void* projection_grad
    void* gamma
    void* gamma_grad
    void* beta
    void* beta_grad
    void* running_mean
    void* running_var
    # workspace, capacity rows
    void* z               # pre-activation (n, n_linear)
    void* z_bn            # batch-normalised z (n, n_linear)
    void* z_hat
    void* bn_mean
    void* bn_inv_std
    void* a               # output (n, units)
    void* delta_a         # d loss / d output (n, units)
    void* delta_z         # d loss / d pre-activation (n, n_linear)
    void* mask            # dropout scales (n, units)
    double* partials      # column-reduction blocks (n_row_blocks(capacity, n_linear) rows)


cdef struct Net:
    Py_ssize_t n_layers
    Layer* layers
    Py_ssize_t n_outputs, n_weights
    bint single           # float32 (else float64)
    bint fused            # the loss takes the logits
    Activation output     # the output activation (Network.forward; the unfused head)
    void* out             # output activation of the logits (unfused head), (n, n_outputs)
    void* delta_out       # d loss / d out
    int dense_kind        # _loss.LossKind for targets of the outputs' shape, or -1
    int labels_kind       # _loss.LossKind for integer labels, or -1
    double loss_p0, loss_p1
    void* column_weight   # class weight / pos_weight, or NULL
    void* params          # the flat buffers: weights first (n_weights), for the penalty
    void* grads
    double* penalty_partials
    void* swish_scratch   # learned swish beta: a CHUNK_SIZE buffer per thread ...
    int swish_threads     # ... for this many threads
    double* chunk_partials  # ... and one slot per chunk of the widest layer


cdef struct Call:
    # The arguments of the minibatch in flight (kept for resume()).
    const void* X
    Py_ssize_t n
    const void* y         # targets (n, n_outputs) of the network's dtype, or int64 labels
    bint labels
    const void* sample_weight
    double n_eff          # sum of the sample weights (n without), for the penalty
    bint training
    double alpha, l1, loss_scale, bn_momentum, bn_eps
    int n_threads


# ---------------------------------------------------------------------------------------------
# The passes, one specialisation per float type (chosen by the type of the X pointer).

cdef void _activation_forward(const Activation* act, const floating* x, floating* y,
                              Py_ssize_t n, Py_ssize_t width, int n_threads) noexcept nogil:
    """y = f(x) for x of shape (n, width) (maxout: y has width / pieces columns)."""
    if act.op == OP_ELEMENTWISE:
        _act._elementwise_forward(<_act.Kind> act.kind, x, y, n * width, _param_a(act, x),
                                  <floating> act.b, n_threads)
    elif act.op == OP_SOFTMAX:
        _act._softmax_forward(x, y, n, width, n_threads)
    elif act.op == OP_MAXOUT:
        _act._maxout_forward(x, y, n, width // act.pieces, act.pieces, n_threads)
    elif act.op == OP_PRELU:
        _act._prelu_forward(x, _prelu_slopes(act, x, width), y, n, width, n_threads)


cdef void _activation_backward(const Net* net, const Activation* act, const floating* x,
                               const floating* g, floating* dx, Py_ssize_t n,
                               Py_ssize_t width, double* partials,
                               int n_threads) noexcept nogil:
    """dx = d loss / d x from g = d loss / d y, and the gradient of learned parameters."""
    cdef floating* slopes
    cdef floating* slope_grads
    cdef floating a
    if act.op == OP_ELEMENTWISE:
        a = _param_a(act, x)
        if act.param != NULL:  # learned swish beta, first: dx may overwrite g
            (<floating*> act.param_grad)[0] = <floating> _act._swish_beta_grad_total(
                x, g, n * width, a, <floating*> net.swish_scratch, net.chunk_partials,
                n_threads)
        _act._elementwise_backward(<_act.Kind> act.kind, x, g, dx, n * width, a,
                                   <floating> act.b, n_threads)
    elif act.op == OP_SOFTMAX:
        _act._softmax_backward(x, g, dx, n, width, n_threads)
    elif act.op == OP_MAXOUT:
        _act._maxout_backward(x, g, dx, n, width // act.pieces, act.pieces, n_threads)
    elif act.op == OP_PRELU:
        if not act.shared_slope:
            _act._prelu_backward(x, g, <const floating*> act.param, dx,
                                 <floating*> act.param_grad, n, width, partials, n_threads)
        else:
            # Per-column gradients of the repeated slope, then their sum (in double, in
            # sum_values' lane order; fastnn.activations sums them with numpy's pairwise
            # sum, which may round the float64 result differently in the last bit).
            slopes = _prelu_slopes(act, x, width)
            slope_grads = slopes + width
            _act._prelu_backward(x, g, slopes, dx, slope_grads, n, width, partials,
                                 n_threads)
            (<floating*> act.param_grad)[0] = <floating> sum_values(slope_grads, width)


cdef inline floating _param_a(const Activation* act, const floating* like) noexcept nogil:
    """The element-wise activation's first parameter: swish's learned beta read from the
    flat buffer at each call (the optimizer moves it), else the fixed one. (`like` only
    selects the float type.)"""
    if act.param != NULL:
        return (<const floating*> act.param)[0]
    return <floating> act.a


cdef floating* _prelu_slopes(const Activation* act, const floating* like,
                             Py_ssize_t width) noexcept nogil:
    """One slope per column: the learned ones, or the shared slope repeated into the
    workspace (as fastnn.activations repeats it). (`like` only selects the float type.)"""
    cdef floating* slopes = <floating*> act.slopes
    cdef Py_ssize_t j
    if not act.shared_slope:
        return <floating*> act.param
    for j in range(width):
        slopes[j] = (<const floating*> act.param)[0]
    return slopes


cdef floating* _forward(Net* net, const Call* call, const floating* X) noexcept nogil:
    """Run the layers on X (n rows); returns the logits (the output layer's z)."""
    cdef Py_ssize_t i, n = call.n
    cdef int nt = call.n_threads
    cdef const floating* a_prev = X
    cdef Layer* L
    cdef floating* z
    cdef floating* pre
    cdef floating* a
    for i in range(net.n_layers):
        L = &net.layers[i]
        z = <floating*> L.z
        gemm(False, False, <int> n, <int> L.n_linear, <int> L.fan_in, 1, a_prev,
             <int> L.fan_in, <const floating*> L.coef, <int> L.n_linear, 0, z,
             <int> L.n_linear)
        _layers._bias_add(z, <const floating*> L.intercept, n, L.n_linear, nt)
        if not L.hidden:
            return z
        pre = z
        if L.batch_norm:
            pre = <floating*> L.z_bn
            if call.training:
                _layers._batchnorm_train(
                    z, <const floating*> L.gamma, <const floating*> L.beta, pre,
                    <floating*> L.z_hat, <floating*> L.bn_mean, <floating*> L.bn_inv_std,
                    <floating*> L.running_mean, <floating*> L.running_var, n, L.n_linear,
                    call.bn_momentum, call.bn_eps, L.partials, nt)
            else:
                _layers._batchnorm_eval(
                    z, <const floating*> L.gamma, <const floating*> L.beta,
                    <const floating*> L.running_mean, <const floating*> L.running_var, pre,
                    n, L.n_linear, call.bn_eps, nt)
        a = <floating*> L.a
        _activation_forward(&L.act, pre, a, n, L.n_linear, nt)
        if L.skip == SKIP_IDENTITY:
            _layers._add(a, a_prev, n, L.units, nt)
        elif L.skip == SKIP_PROJECTION:
            gemm(False, False, <int> n, <int> L.units, <int> L.fan_in, 1, a_prev,
                 <int> L.fan_in, <const floating*> L.projection, <int> L.units, 1, a,
                 <int> L.units)
        if call.training and L.dropout > 0:
            _layers._dropout_forward(a, <floating*> L.mask, n, L.units, L.dropout, nt)
        a_prev = a
    return NULL  # not reached: the last layer is the output layer


cdef double _forward_loss(Net* net, const Call* call, const floating* X) noexcept nogil:
    """Forward pass and the loss value; the loss gradient goes to the output layer's delta_z
    (fused) or to delta_out (unfused)."""
    cdef floating* logits = _forward(net, call, X)
    cdef Layer* last = &net.layers[net.n_layers - 1]
    cdef const floating* pred = logits
    cdef floating* grad = <floating*> last.delta_z
    if not net.fused:
        pred = <floating*> net.out
        grad = <floating*> net.delta_out
        _activation_forward(&net.output, logits, <floating*> net.out, call.n, net.n_outputs,
                            call.n_threads)
    if call.labels:
        return _loss.loss_labels(<_loss.LossKind> net.labels_kind, <const int64_t*> call.y,
                                 pred, grad, call.n, net.n_outputs,
                                 <const floating*> call.sample_weight,
                                 <const floating*> net.column_weight, call.n_threads)
    return _loss.loss_dense(<_loss.LossKind> net.dense_kind, <const floating*> call.y, pred,
                            grad, call.n, net.n_outputs, <const floating*> call.sample_weight,
                            <const floating*> net.column_weight, net.loss_p0, net.loss_p1,
                            call.n_threads)


cdef double _backward(Net* net, const Call* call, const floating* X,
                      double value) noexcept nogil:
    """From the loss gradient to every parameter's gradient; returns the training loss
    (value times loss_scale, plus the penalty)."""
    cdef Py_ssize_t i, n = call.n
    cdef int nt = call.n_threads
    cdef Layer* L
    cdef Layer* below
    cdef const floating* a_prev
    cdef floating* delta_z = <floating*> net.layers[net.n_layers - 1].delta_z
    cdef floating* delta_a
    if not net.fused:
        _activation_backward(net, &net.output, <const floating*> net.layers[net.n_layers - 1].z,
                             <const floating*> net.delta_out, delta_z, n, net.n_outputs,
                             NULL, nt)
    if call.loss_scale != 1.0:
        value *= call.loss_scale
        scale(delta_z, n * net.n_outputs, call.loss_scale, nt)
    for i in range(net.n_layers - 1, -1, -1):
        L = &net.layers[i]
        a_prev = X if i == 0 else <const floating*> net.layers[i - 1].a
        gemm(True, False, <int> L.fan_in, <int> L.n_linear, <int> n, 1, a_prev,
             <int> L.fan_in, delta_z, <int> L.n_linear, 0, <floating*> L.coef_grad,
             <int> L.n_linear)
        _layers._column_sums(delta_z, <floating*> L.intercept_grad, n, L.n_linear, 1.0,
                             L.partials, nt)
        if i == 0:
            break
        below = &net.layers[i - 1]
        delta_a = <floating*> below.delta_a
        gemm(False, True, <int> n, <int> L.fan_in, <int> L.n_linear, 1, delta_z,
             <int> L.n_linear, <const floating*> L.coef, <int> L.n_linear, 0, delta_a,
             <int> L.fan_in)
        # the skip carries this layer's output gradient (delta_a) to the layer below
        if L.skip == SKIP_IDENTITY:
            _layers._add(delta_a, <const floating*> L.delta_a, n, L.fan_in, nt)
        elif L.skip == SKIP_PROJECTION:
            gemm(True, False, <int> L.fan_in, <int> L.units, <int> n, 1, a_prev,
                 <int> L.fan_in, <const floating*> L.delta_a, <int> L.units, 0,
                 <floating*> L.projection_grad, <int> L.units)
            gemm(False, True, <int> n, <int> L.fan_in, <int> L.units, 1,
                 <const floating*> L.delta_a, <int> L.units,
                 <const floating*> L.projection, <int> L.units, 1, delta_a, <int> L.fan_in)
        delta_z = _hidden_backward(net, below, delta_a, n, nt)
    if call.alpha != 0 or call.l1 != 0:
        value += _layers._penalty(<const floating*> net.params, <floating*> net.grads,
                                  net.n_weights, call.alpha / call.n_eff,
                                  call.l1 / call.n_eff, net.penalty_partials, nt)
    return value


cdef floating* _hidden_backward(const Net* net, Layer* L, floating* delta_a, Py_ssize_t n,
                                int nt) noexcept nogil:
    """From d loss / d output of hidden layer L to d loss / d its pre-activation z."""
    cdef floating* pre = <floating*> (L.z_bn if L.batch_norm else L.z)
    cdef floating* delta_z = <floating*> L.delta_z
    if L.dropout > 0:
        _layers._multiply(delta_a, <const floating*> L.mask, n, L.units, nt)
    _activation_backward(net, &L.act, pre, delta_a, delta_z, n, L.n_linear, L.partials, nt)
    if L.batch_norm:
        # z_bn is free again: it is the scratch of the batch-norm backward
        _layers._batchnorm_backward(
            delta_z, <const floating*> L.z_hat, <const floating*> L.gamma,
            <const floating*> L.bn_inv_std, delta_z, <floating*> L.gamma_grad,
            <floating*> L.beta_grad, <floating*> L.z_bn, n, L.n_linear, L.partials, nt)
    return delta_z


# ---------------------------------------------------------------------------------------------
# The plan: built once per workspace, called once per minibatch.

cdef class Plan:
    """The compiled forward/backward of one Network (see the comment at the top).

    Plan(network, hidden_ops, output_op, loss_spec), where hidden_ops and output_op are
    (op, kind, a, b, pieces, shared_slope) tuples of the hidden layers' and the output
    activation, and loss_spec is (dense_kind, labels_kind, p0, p1, column_weight), kinds -1
    when the loss does not take that target form. fastnn.network decides these (and which
    networks get a plan at all); every array comes from the network, already allocated
    for its batch capacity.
    """
    cdef Net net
    cdef Call call
    cdef list _keep          # every array a pointer points into
    cdef readonly object dtype
    cdef readonly Py_ssize_t capacity, n_features
    cdef readonly bint stopped  # the last call stopped after a non-finite loss value
    cdef readonly bint trains   # grads and running statistics are writable: the plan may
                                # train (a model loaded read-only only predicts)

    def __cinit__(self):
        self.net.layers = NULL

    def __dealloc__(self):
        free(self.net.layers)

    def __init__(self, network, hidden_ops, output_op, loss_spec):
        cdef Layer* L
        cdef Py_ssize_t i
        self._keep = []
        self.dtype = np.dtype(network.dtype)
        self.capacity = network._batch_capacity
        layers = network.layers
        self.n_features = layers[0].fan_in
        self.net.n_layers = len(layers)
        self.net.layers = <Layer*> malloc(self.net.n_layers * sizeof(Layer))
        if self.net.layers == NULL:
            raise MemoryError()
        widest = 0
        for i, layer in enumerate(layers):
            L = &self.net.layers[i]
            L.fan_in, L.n_linear, L.units = layer.fan_in, layer.n_linear, layer.units
            L.hidden = layer.hidden
            L.skip = {None: SKIP_NONE, "identity": SKIP_IDENTITY,
                      "projection": SKIP_PROJECTION}[layer.residual]
            L.batch_norm = layer.batch_norm
            L.dropout = layer.dropout
            L.coef, L.coef_grad = self._data(layer.coef), self._data(layer.coef_grad)
            L.intercept = self._data(layer.intercept)
            L.intercept_grad = self._data(layer.intercept_grad)
            L.projection = self._data(getattr(layer, "projection", None))
            L.projection_grad = self._data(getattr(layer, "projection_grad", None))
            L.z, L.a = self._data(layer.z), self._data(layer.a)
            L.delta_a, L.delta_z = self._data(layer.delta_a), self._data(layer.delta_z)
            L.partials = <double*> self._data(layer.partials, np.float64)
            L.mask = self._data(layer.mask) if layer.dropout else NULL
            L.gamma = L.gamma_grad = L.beta = L.beta_grad = NULL
            L.running_mean = L.running_var = L.z_bn = L.z_hat = NULL
            L.bn_mean = L.bn_inv_std = NULL
            if layer.batch_norm:
                L.gamma, L.gamma_grad = self._data(layer.gamma), self._data(layer.gamma_grad)
                L.beta, L.beta_grad = self._data(layer.beta), self._data(layer.beta_grad)
                running_mean, running_var = network._running[i]
                L.running_mean, L.running_var = self._data(running_mean), self._data(running_var)
                L.z_bn, L.z_hat = self._data(layer.z_bn), self._data(layer.z_hat)
                L.bn_mean, L.bn_inv_std = self._data(layer.bn_mean), self._data(layer.bn_inv_std)
            if layer.hidden:
                self._set_activation(&L.act, hidden_ops[i], layer.n_linear,
                                     getattr(layer, "act", None),
                                     getattr(layer, "act_grad", None))
                widest = max(widest, layer.n_linear)
        last = layers[len(layers) - 1]
        self.net.n_outputs = last.units
        self._set_activation(&self.net.output, output_op, last.units, None, None)
        self.net.out, self.net.delta_out = self._data(last.out), self._data(last.delta_out)
        self.net.fused = network._fused
        dense_kind, labels_kind, p0, p1, column_weight = loss_spec
        self.net.dense_kind, self.net.labels_kind = dense_kind, labels_kind
        self.net.loss_p0, self.net.loss_p1 = p0, p1
        self.net.column_weight = self._data(column_weight)
        self.net.single = self.dtype == np.float32
        self.net.n_weights = network.n_weights
        self.net.params, self.net.grads = self._data(network.params), self._data(network.grads)
        self.trains = network.grads.flags.writeable and all(
            array.flags.writeable for stats in network._running if stats is not None
            for array in stats)
        self.net.penalty_partials = <double*> self._data(network._penalty_partials,
                                                         np.float64)
        chunk_partials = np.empty(-(-self.capacity * widest // CHUNK_SIZE) + 1)
        self.net.chunk_partials = <double*> self._data(chunk_partials, np.float64)
        self.net.swish_scratch = NULL
        self.net.swish_threads = 0

    cdef void* _data(self, array, dtype=None) except? NULL:
        """The data pointer of an aligned C-contiguous array of the network's dtype (or
        `dtype`), kept alive by the plan; NULL for None. (Only the grads and running
        statistics may be read-only: see `trains`.)"""
        if array is None:
            return NULL
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if (not isinstance(array, np.ndarray) or array.dtype != dtype
                or not array.flags.c_contiguous or not array.flags.aligned):
            raise TypeError(f"plan: expected an aligned C-contiguous {dtype} array, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}")
        self._keep.append(array)
        return cnp.PyArray_DATA(<cnp.ndarray> array)

    cdef _set_activation(self, Activation* act, spec, Py_ssize_t width, param, param_grad):
        op, kind, a, b, pieces, shared_slope = spec
        act.op, act.kind, act.a, act.b, act.pieces = op, kind, a, b, pieces
        act.param, act.param_grad = self._data(param), self._data(param_grad)
        act.shared_slope = shared_slope
        act.slopes = self._data(np.empty(2 * width, self.dtype)) if shared_slope else NULL

    cdef _ensure_swish_scratch(self, int n_threads):
        """A CHUNK_SIZE buffer per thread for the learned swish beta's reduction."""
        if n_threads > self.net.swish_threads:
            self.net.swish_scratch = self._data(np.empty((n_threads, CHUNK_SIZE), self.dtype))
            self.net.swish_threads = n_threads

    cdef _check_batch(self, cnp.ndarray X):
        """The batch fits the workspace (the network has checked the rest)."""
        if X.ndim != 2 or X.shape[1] != self.n_features or X.shape[0] > self.capacity:
            raise ValueError(f"plan: X of shape {(<object> X).shape} does not fit (capacity "
                             f"{self.capacity}, {self.n_features} features)")

    def loss_and_gradient(self, cnp.ndarray X not None, cnp.ndarray y not None, bint labels,
                          sample_weight, double n_eff, bint training, int n_threads,
                          double alpha, double l1, double loss_scale, double bn_momentum,
                          double bn_eps):
        """One minibatch: forward, loss, backward (gradients into the network's grads).

        X: C-contiguous (n, n_features), n <= capacity; y: C-contiguous targets (n,
        n_outputs) of the network's dtype, or int64 labels (n,) when `labels`;
        sample_weight: None or C-contiguous (n,) of the network's dtype. Returns the
        training loss. When the loss value is not finite the call stops before the backward
        pass (self.stopped): the caller looks for invalid input, then calls resume().
        """
        cdef double value
        self._check_batch(X)
        self.call.X = cnp.PyArray_DATA(X)
        self.call.n = X.shape[0]
        self.call.y = cnp.PyArray_DATA(y)
        self.call.labels = labels
        self.call.sample_weight = (NULL if sample_weight is None
                                   else cnp.PyArray_DATA(<cnp.ndarray> sample_weight))
        self.call.n_eff = n_eff
        self.call.training = training
        self.call.n_threads = n_threads
        self.call.alpha, self.call.l1, self.call.loss_scale = alpha, l1, loss_scale
        self.call.bn_momentum, self.call.bn_eps = bn_momentum, bn_eps
        self._ensure_swish_scratch(n_threads)
        with nogil:
            if self.net.single:
                value = _forward_loss(&self.net, &self.call, <const float*> self.call.X)
            else:
                value = _forward_loss(&self.net, &self.call, <const double*> self.call.X)
            self.stopped = not isfinite(value)
            if not self.stopped:
                value = self._run_backward(value)
        return value

    def resume(self, double value):
        """The backward pass of a call that stopped at a non-finite loss value."""
        self.stopped = False
        with nogil:
            value = self._run_backward(value)
        return value

    cdef double _run_backward(self, double value) noexcept nogil:
        if self.net.single:
            return _backward(&self.net, &self.call, <const float*> self.call.X, value)
        return _backward(&self.net, &self.call, <const double*> self.call.X, value)

    def forward(self, cnp.ndarray X not None, cnp.ndarray out not None, bint training,
                int n_threads, double bn_momentum, double bn_eps):
        """out = the network's output for X (after the output activation); out is a
        C-contiguous (n, n_outputs) array of the network's dtype."""
        cdef void* out_data = cnp.PyArray_DATA(out)
        self._check_batch(X)
        self.call.X = cnp.PyArray_DATA(X)
        self.call.n = X.shape[0]
        self.call.training = training
        self.call.n_threads = n_threads
        self.call.bn_momentum, self.call.bn_eps = bn_momentum, bn_eps
        with nogil:
            if self.net.single:
                _predict(&self.net, &self.call, <const float*> self.call.X,
                         <float*> out_data)
            else:
                _predict(&self.net, &self.call, <const double*> self.call.X,
                         <double*> out_data)


cdef void _predict(Net* net, const Call* call, const floating* X, floating* out) noexcept nogil:
    _activation_forward(&net.output, _forward(net, call, X), out, call.n, net.n_outputs,
                        call.n_threads)


def readable(array, int typenum, Py_ssize_t n_rows, Py_ssize_t n_cols):
    """True if `array` is an ndarray the plan can read as it is: numpy type number typenum in
    native byte order, aligned and C-contiguous, of shape (n_rows, n_cols), or (n_rows,) when
    n_cols is -1; n_rows -1 accepts any number of rows. (The network's fast path: anything
    else goes through the Python checks and conversions.)"""
    cdef cnp.ndarray a
    if not cnp.PyArray_Check(array):
        return False
    a = <cnp.ndarray> array
    if (cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_ISCARRAY_RO(a)
            or not cnp.PyArray_ISNOTSWAPPED(a)):
        return False
    if n_cols == -1:
        return cnp.PyArray_NDIM(a) == 1 and (n_rows == -1 or cnp.PyArray_DIM(a, 0) == n_rows)
    return (cnp.PyArray_NDIM(a) == 2 and cnp.PyArray_DIM(a, 1) == n_cols
            and (n_rows == -1 or cnp.PyArray_DIM(a, 0) == n_rows))



# ---------------------------------------------------------------------------------------------
# The GEMM floor, for the benchmarks (fastnn/_bench/network.py).

cdef struct Product:
    bint trans_a, trans_b
    int m, n, k
    void* a
    void* b
    void* c


cdef void _run_products(const Product* products, Py_ssize_t count, int rounds,
                        const floating* like) noexcept nogil:
    cdef Py_ssize_t i
    cdef int r
    cdef const Product* p
    for r in range(rounds):
        for i in range(count):
            p = &products[i]
            gemm(p.trans_a, p.trans_b, p.m, p.n, p.k, 1, <const floating*> p.a,
                 p.m if p.trans_a else p.k, <const floating*> p.b, p.k if p.trans_b else p.n,
                 0, <floating*> p.c, p.n)


def gemm_seconds(products, dtype, int rounds, int repeat=7):
    """Best time per round, in seconds, of the row-major products (trans_a, trans_b, m, n,
    k) run one after the other from C, `rounds` rounds per timing: the GEMM floor of a
    training step without Python's call overhead (which for minibatch-sized products is
    larger than the products themselves). Operands are random; benchmarks only."""
    import time
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(0)
    cdef Py_ssize_t i, count = len(products)
    cdef Product* table = <Product*> malloc(max(count, 1) * sizeof(Product))
    cdef double best = float("inf")
    cdef bint single = dtype == np.float32
    if table == NULL:
        raise MemoryError()
    keep = []
    try:
        for i, (trans_a, trans_b, m, n, k) in enumerate(products):
            a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
            c = np.zeros((m, n), dtype)
            keep += [a, b, c]
            table[i].trans_a, table[i].trans_b = trans_a, trans_b
            table[i].m, table[i].n, table[i].k = m, n, k
            table[i].a = cnp.PyArray_DATA(<cnp.ndarray> a)
            table[i].b = cnp.PyArray_DATA(<cnp.ndarray> b)
            table[i].c = cnp.PyArray_DATA(<cnp.ndarray> c)
        for _ in range(repeat + 1):  # (the first timing warms up)
            t0 = time.perf_counter()
            with nogil:
                if single:
                    _run_products(table, count, rounds, <const float*> NULL)
                else:
                    _run_products(table, count, rounds, <const double*> NULL)
            best = min(best, (time.perf_counter() - t0) / rounds)
    finally:
        free(table)
    return best
