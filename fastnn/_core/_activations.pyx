"""Forward and backward kernels of every activation function.

Three tiers, forward next to backward:

1. point functions ``_<name>(x)`` and ``_<name>_grad(x, g)`` = g * f'(x), inline and nogil;
2. array loops on raw C-contiguous buffers (declared in _activations.pxd for the network's
   compiled plan): element-wise activations go through one chunked, OpenMP-parallel driver
   (``_elementwise_forward``/``_elementwise_backward``) that dispatches on ``kind`` once per
   chunk, so every inner loop is a plain pointer loop gcc vectorises (with the vector
   exp/tanh/erfc of _simd_math.h); row-wise activations (softmax, maxout, PReLU) run one row
   per iteration. Below PARALLEL_MIN_SIZE elements a driver runs the same chunks or rows in
   a plain loop, outside any OpenMP region: entering one costs about half a microsecond even
   on one thread (libgomp sets up a team), more than a minibatch-sized array's arithmetic.
   Either way every element is computed by the same call, so the bits do not depend on the
   thread count;
3. ``def`` entry points taking validated, contiguous arrays (``fastnn.activations`` validates,
   allocates and calls them). Kernels never raise.

Formulas and defaults are PyTorch's (torch.nn.functional). Every kernel is finite for finite
inputs up to the float's range: the comment at each function says how.
"""
from cython.parallel cimport prange, threadid

from libc.math cimport NAN

from fastnn._core._math cimport (_clamp, _erfc, _exp, _exp_nonpositive, _expm1_nonpositive,
                                 _fabs, _log1p_unit, _tanh)
from fastnn._core._openmp cimport CHUNK_SIZE, PARALLEL_MIN_SIZE
from fastnn._core._pointers cimport _in1, _in2, _out1, _out2
from fastnn._core._reductions cimport dot_values, max_value, sum_partials, sum_values
from fastnn._core._typedefs cimport floating

# Kind (the element-wise activations) is declared in _activations.pxd.

# SELU's constants (Klambauer et al. 2017), as in torch.
cdef double SELU_ALPHA = 1.6732632423543772848170429916717
cdef double SELU_SCALE = 1.0507009873554804934193349852946
cdef double SQRT_1_2 = 0.70710678118654752440084436210485      # 1/sqrt(2)
cdef double INV_SQRT_2PI = 0.39894228040143267793994605993438  # 1/sqrt(2*pi)
cdef double SQRT_2_PI = 0.79788456080286535587989211986876     # sqrt(2/pi)
cdef double GELU_CUBIC = 0.044715


# ---------------------------------------------------------------------------------------------
# Tier 1: point functions, forward next to backward. _f_grad(x, g) returns g * f'(x).

cdef inline floating _binary_step(floating x) noexcept nogil:
    # 1 for x >= 0, 0 for x < 0; NaN stays NaN.
    return <floating> 1 if x >= 0 else (<floating> 0 if x < 0 else x)


cdef inline floating _binary_step_grad(floating x, floating g) noexcept nogil:
    # Zero almost everywhere (undefined at 0): no gradient flows through a step.
    return 0


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # Stable without a branch: e = exp(-|x|) is in [0, 1] and never overflows; sigmoid is
    # 1 / (1 + e) for x >= 0 and e / (1 + e) below (no 1 - s cancellation for x << 0, and
    # exp's argument stays in the domain of _exp_nonpositive, whose float32 version is
    # inline, without a slow path for saturated inputs). NaN gives NaN, +-inf give 1 and 0.
    cdef floating e = _exp_nonpositive(-_fabs(x))
    cdef floating inv = <floating> 1 / (<floating> 1 + e)
    return inv if x >= 0 else e * inv


cdef inline floating _sigmoid_grad(floating x, floating g) noexcept nogil:
    cdef floating s = _sigmoid(x)
    return g * s * (<floating> 1 - s)


cdef inline floating _tanh_grad(floating x, floating g) noexcept nogil:
    cdef floating t = _tanh(x)
    return g * (<floating> 1 - t * t)


cdef inline floating _relu(floating x) noexcept nogil:
    return <floating> 0 if x < 0 else x  # NaN stays NaN


cdef inline floating _relu_grad(floating x, floating g) noexcept nogil:
    # torch's threshold_backward: 0 where x <= 0 (so relu'(0) = 0), g elsewhere (also at NaN).
    return <floating> 0 if x <= 0 else g


cdef inline floating _leaky_relu(floating x, floating slope) noexcept nogil:
    return x if x > 0 else slope * x


cdef inline floating _leaky_relu_grad(floating x, floating g, floating slope) noexcept nogil:
    return g if x > 0 else slope * g


cdef inline floating _elu(floating x, floating alpha) noexcept nogil:
    # expm1 keeps precision near 0. A vectorised loop evaluates both branches, so expm1 gets
    # min(x, 0) (NaN stays NaN): in float32 that is the inline _expm1_nonpositive, without
    # a call.
    cdef floating zero = 0
    return x if x > zero else alpha * _expm1_nonpositive(zero if x > zero else x)


cdef inline floating _elu_grad(floating x, floating g, floating alpha) noexcept nogil:
    # torch's elu_backward: the x <= 0 branch holds at 0 (derivative alpha); g elsewhere,
    # also at NaN. exp gets min(x, 0), as expm1 in _elu.
    cdef floating zero = 0
    return g * alpha * _exp_nonpositive(zero if x > zero else x) if x <= zero else g


cdef inline floating _softplus(floating x, floating beta, floating threshold) noexcept nogil:
    # torch: x when beta * x > threshold, else log(1 + exp(beta * x)) / beta, computed as
    # max(z, 0) + log1p(exp(-|z|)) so that exp never overflows whatever the threshold
    # (exp(-|z|) is in [0, 1], where log1p is a polynomial: _log1p_unit). In float32 both
    # are inline (_exp_nonpositive), so the loop has no call and no register spills.
    cdef floating z = beta * x
    cdef floating zpos = z if z > 0 else <floating> 0
    return x if z > threshold else (zpos + _log1p_unit(_exp_nonpositive(-_fabs(z)))) / beta


cdef inline floating _softplus_grad(floating x, floating g, floating beta,
                                    floating threshold) noexcept nogil:
    cdef floating z = beta * x
    return g if z > threshold else g * _sigmoid(z)


cdef inline floating _gelu(floating x) noexcept nogil:
    # x * Phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2. erfc rather than 1 + erf keeps the
    # relative precision of the left tail, where 1 + erf(x / sqrt 2) cancels to 0.
    return <floating> 0.5 * x * _erfc(-x * <floating> SQRT_1_2)


cdef inline floating _gelu_grad(floating x, floating g) noexcept nogil:
    # Phi(x) + x phi(x). For |x| beyond sqrt(2 * float max), x * x overflows to inf and
    # exp(-inf) = 0, so x * phi(x) is 0, never NaN.
    cdef floating cdf = <floating> 0.5 * _erfc(-x * <floating> SQRT_1_2)
    cdef floating pdf = <floating> INV_SQRT_2PI * _exp(<floating> -0.5 * x * x)
    return g * (cdf + x * pdf)


cdef inline floating _gelu_tanh(floating x) noexcept nogil:
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). tanh is exactly +-1 for |x| >= 10 in
    # both precisions, so the cubic is evaluated on x clamped to [-10, 10]: same value,
    # and x^3 never overflows.
    cdef floating xc = _clamp(x, <floating> 10)
    cdef floating t = _tanh(<floating> SQRT_2_PI * (xc + <floating> GELU_CUBIC * xc * xc * xc))
    return <floating> 0.5 * x * (<floating> 1 + t)


cdef inline floating _gelu_tanh_grad(floating x, floating g) noexcept nogil:
    # Same clamp: beyond |x| = 10, 1 - t^2 is exactly 0 and the clamp turns inf * 0 (NaN)
    # into 0 * finite.
    cdef floating xc = _clamp(x, <floating> 10)
    cdef floating xc2 = xc * xc
    cdef floating t = _tanh(<floating> SQRT_2_PI * xc
                            * (<floating> 1 + <floating> GELU_CUBIC * xc2))
    cdef floating du = <floating> SQRT_2_PI * (<floating> 1
                                               + <floating> 3 * <floating> GELU_CUBIC * xc2)
    return g * (<floating> 0.5 * (<floating> 1 + t)
                + <floating> 0.5 * xc * (<floating> 1 - t * t) * du)


cdef inline floating _swish(floating x, floating beta) noexcept nogil:
    # x * sigmoid(beta x); sigmoid is branch-free stable (see _sigmoid).
    return x * _sigmoid(beta * x)


cdef inline floating _swish_grad(floating x, floating g, floating beta) noexcept nogil:
    # d/dx = s (1 + z (1 - s)) with z = beta x, s = sigmoid(z). z is clamped to +-1e4:
    # s is exactly 0 or 1 beyond |z| = 746 in both precisions, so the value is unchanged,
    # but z * (1 - s) can no longer be inf * 0.
    cdef floating z = _clamp(beta * x, <floating> 1e4)
    cdef floating s = _sigmoid(z)
    return g * s * (<floating> 1 + z * (<floating> 1 - s))


cdef inline floating _swish_beta_grad(floating x, floating g, floating beta) noexcept nogil:
    # d/dbeta [x sigmoid(beta x)] = x^2 s (1 - s), as (x s) (x (1 - s)) so that no factor is
    # inf when the other is 0.
    cdef floating s = _sigmoid(_clamp(beta * x, <floating> 1e4))
    return g * (x * s) * (x * (<floating> 1 - s))


# ---------------------------------------------------------------------------------------------
# Tier 2: element-wise array loops over 1-D contiguous buffers.

cdef void _forward_chunk(Kind kind, const floating* x, floating* y, Py_ssize_t n,
                         floating a, floating b) noexcept nogil:
    """y[i] = f(x[i]) for one chunk; a and b are the activation's parameters."""
    cdef Py_ssize_t i
    if kind == BINARY_STEP:
        for i in range(n):
            y[i] = _binary_step(x[i])
    elif kind == IDENTITY:
        for i in range(n):
            y[i] = x[i]
    elif kind == SIGMOID:
        for i in range(n):
            y[i] = _sigmoid(x[i])
    elif kind == TANH:
        for i in range(n):
            y[i] = _tanh(x[i])
    elif kind == RELU:
        for i in range(n):
            y[i] = _relu(x[i])
    elif kind == LEAKY_RELU:
        for i in range(n):
            y[i] = _leaky_relu(x[i], a)
    elif kind == ELU:
        for i in range(n):
            y[i] = _elu(x[i], a)
    elif kind == SELU:
        for i in range(n):
            y[i] = <floating> SELU_SCALE * _elu(x[i], <floating> SELU_ALPHA)
    elif kind == SOFTPLUS:
        for i in range(n):
            y[i] = _softplus(x[i], a, b)
    elif kind == GELU:
        for i in range(n):
            y[i] = _gelu(x[i])
    elif kind == GELU_TANH:
        for i in range(n):
            y[i] = _gelu_tanh(x[i])
    elif kind == SWISH:
        for i in range(n):
            y[i] = _swish(x[i], a)


cdef void _backward_chunk(Kind kind, const floating* x, const floating* g, floating* dx,
                          Py_ssize_t n, floating a, floating b) noexcept nogil:
    """dx[i] = g[i] * f'(x[i]) for one chunk."""
    cdef Py_ssize_t i
    if kind == BINARY_STEP:
        for i in range(n):
            dx[i] = _binary_step_grad(x[i], g[i])
    elif kind == IDENTITY:
        for i in range(n):
            dx[i] = g[i]
    elif kind == SIGMOID:
        for i in range(n):
            dx[i] = _sigmoid_grad(x[i], g[i])
    elif kind == TANH:
        for i in range(n):
            dx[i] = _tanh_grad(x[i], g[i])
    elif kind == RELU:
        for i in range(n):
            dx[i] = _relu_grad(x[i], g[i])
    elif kind == LEAKY_RELU:
        for i in range(n):
            dx[i] = _leaky_relu_grad(x[i], g[i], a)
    elif kind == ELU:
        for i in range(n):
            dx[i] = _elu_grad(x[i], g[i], a)
    elif kind == SELU:
        for i in range(n):
            dx[i] = <floating> SELU_SCALE * _elu_grad(x[i], g[i], <floating> SELU_ALPHA)
    elif kind == SOFTPLUS:
        for i in range(n):
            dx[i] = _softplus_grad(x[i], g[i], a, b)
    elif kind == GELU:
        for i in range(n):
            dx[i] = _gelu_grad(x[i], g[i])
    elif kind == GELU_TANH:
        for i in range(n):
            dx[i] = _gelu_tanh_grad(x[i], g[i])
    elif kind == SWISH:
        for i in range(n):
            dx[i] = _swish_grad(x[i], g[i], a)


cdef double _swish_beta_grad_chunk(const floating* x, const floating* g, Py_ssize_t n,
                                   floating beta, floating* scratch) noexcept nogil:
    """Sum over one chunk of g * d swish / d beta; scratch holds the chunk's terms so that
    the sum runs through sum_values (fixed order, several accumulators)."""
    cdef Py_ssize_t i
    for i in range(n):
        scratch[i] = _swish_beta_grad(x[i], g[i], beta)
    return sum_values(scratch, n)


cdef inline bint _use_threads(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads > 1 and n_elements >= PARALLEL_MIN_SIZE


cdef void _elementwise_forward(Kind kind, const floating* x, floating* y, Py_ssize_t n,
                               floating a, floating b, int n_threads) noexcept nogil:
    cdef Py_ssize_t n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    cdef Py_ssize_t c, start
    if _use_threads(n, n_threads):
        for c in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = c * CHUNK_SIZE
            _forward_chunk(kind, &x[start], &y[start],
                           min(<Py_ssize_t> CHUNK_SIZE, n - start), a, b)
    else:
        for c in range(n_chunks):
            start = c * CHUNK_SIZE
            _forward_chunk(kind, &x[start], &y[start],
                           min(<Py_ssize_t> CHUNK_SIZE, n - start), a, b)


cdef void _elementwise_backward(Kind kind, const floating* x, const floating* g,
                                floating* dx, Py_ssize_t n, floating a, floating b,
                                int n_threads) noexcept nogil:
    cdef Py_ssize_t n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    cdef Py_ssize_t c, start
    if _use_threads(n, n_threads):
        for c in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = c * CHUNK_SIZE
            _backward_chunk(kind, &x[start], &g[start], &dx[start],
                            min(<Py_ssize_t> CHUNK_SIZE, n - start), a, b)
    else:
        for c in range(n_chunks):
            start = c * CHUNK_SIZE
            _backward_chunk(kind, &x[start], &g[start], &dx[start],
                            min(<Py_ssize_t> CHUNK_SIZE, n - start), a, b)


cdef double _swish_beta_grad_total(const floating* x, const floating* g, Py_ssize_t n,
                                   floating beta, floating* scratch, double* partials,
                                   int n_threads) noexcept nogil:
    """Sum of g * d swish / d beta over all elements. scratch is (n_threads, CHUNK_SIZE), a
    chunk buffer per thread; partials has one slot per chunk."""
    cdef Py_ssize_t n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    cdef Py_ssize_t c, start
    if _use_threads(n, n_threads):
        for c in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = c * CHUNK_SIZE
            partials[c] = _swish_beta_grad_chunk(&x[start], &g[start],
                                                 min(<Py_ssize_t> CHUNK_SIZE, n - start),
                                                 beta, &scratch[threadid() * CHUNK_SIZE])
    else:
        for c in range(n_chunks):
            start = c * CHUNK_SIZE
            partials[c] = _swish_beta_grad_chunk(&x[start], &g[start],
                                                 min(<Py_ssize_t> CHUNK_SIZE, n - start),
                                                 beta, scratch)
    return sum_partials(partials, n_chunks) if n_chunks > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Tier 2: row-wise array loops over 2-D C-contiguous arrays, one row per iteration.

cdef inline void _softmax_row(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    # Subtracting the row maximum makes every exponent <= 0: no overflow, and the largest
    # term is exactly 1, so the sum is >= 1 and never 0.
    cdef Py_ssize_t j
    cdef floating m = max_value(x, n)
    cdef floating scale
    for j in range(n):
        y[j] = _exp_nonpositive(x[j] - m)
    scale = <floating> (1.0 / sum_values(y, n))
    for j in range(n):
        y[j] *= scale


cdef inline void _softmax_grad_row(const floating* x, const floating* g, floating* dx,
                                   Py_ssize_t n) noexcept nogil:
    # dx = y * (g - sum(g * y)), with y = softmax(x) written into dx first.
    cdef Py_ssize_t j
    cdef floating dot
    _softmax_row(x, dx, n)
    dot = <floating> dot_values(g, dx, n)
    for j in range(n):
        dx[j] = dx[j] * (g[j] - dot)


cdef void _softmax_forward(const floating* x, floating* y, Py_ssize_t n_rows,
                           Py_ssize_t n_cols, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if n_cols == 0:
        return
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _softmax_row(&x[i * n_cols], &y[i * n_cols], n_cols)
    else:
        for i in range(n_rows):
            _softmax_row(&x[i * n_cols], &y[i * n_cols], n_cols)


cdef void _softmax_backward(const floating* x, const floating* g, floating* dx,
                            Py_ssize_t n_rows, Py_ssize_t n_cols, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if n_cols == 0:
        return
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _softmax_grad_row(&x[i * n_cols], &g[i * n_cols], &dx[i * n_cols], n_cols)
    else:
        for i in range(n_rows):
            _softmax_grad_row(&x[i * n_cols], &g[i * n_cols], &dx[i * n_cols], n_cols)


cdef inline void _maxout_row(const floating* x, floating* y, Py_ssize_t n_out,
                             Py_ssize_t pieces) noexcept nogil:
    # y[j] = max(x[j*pieces : (j+1)*pieces]). Written so that gcc emits max/blend
    # instructions, not branches (which mispredict half the time on random data): the
    # running maximum is a plain `v if v > best else best`, and NaN, which that select would
    # skip, is tracked apart and propagated as in torch.max.
    cdef Py_ssize_t j, p
    cdef floating best, v
    cdef int has_nan
    for j in range(n_out):
        best = x[j * pieces]
        has_nan = best != best
        for p in range(1, pieces):
            v = x[j * pieces + p]
            best = v if v > best else best
            has_nan = has_nan | (v != v)
        y[j] = best if has_nan == 0 else <floating> NAN


cdef inline void _maxout_grad_row(const floating* x, const floating* g, floating* dx,
                                  Py_ssize_t n_out, Py_ssize_t pieces) noexcept nogil:
    # The gradient goes to the (first) maximal piece of each group, zero to the others; a
    # NaN piece counts as maximal (the first NaN, as in the forward pass). The argmax is a
    # select; the rare NaN case has its own loop behind a branch that normal data never
    # takes.
    cdef Py_ssize_t j, p, arg
    cdef floating best, v, gj, a0, a1
    cdef int has_nan, first
    if pieces == 2:
        # The common case in closed form, a loop gcc vectorises: the first piece takes the
        # gradient unless the second is larger, or the second is NaN and the first is not.
        for j in range(n_out):
            a0 = x[2 * j]
            a1 = x[2 * j + 1]
            first = not ((a1 > a0) | ((a1 != a1) & (a0 == a0)))
            dx[2 * j] = g[j] if first else <floating> 0
            dx[2 * j + 1] = <floating> 0 if first else g[j]
        return
    for j in range(n_out):
        arg = 0
        best = x[j * pieces]
        has_nan = best != best
        for p in range(1, pieces):
            v = x[j * pieces + p]
            arg = p if v > best else arg
            best = v if v > best else best
            has_nan = has_nan | (v != v)
        if has_nan:
            for p in range(pieces):
                if x[j * pieces + p] != x[j * pieces + p]:
                    arg = p
                    break
        gj = g[j]
        for p in range(pieces):
            dx[j * pieces + p] = gj if p == arg else <floating> 0


cdef void _maxout_forward(const floating* x, floating* y, Py_ssize_t n_rows, Py_ssize_t n_out,
                          Py_ssize_t pieces, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if n_out == 0:
        return
    if _use_threads(n_rows * n_out * pieces, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _maxout_row(&x[i * n_out * pieces], &y[i * n_out], n_out, pieces)
    else:
        for i in range(n_rows):
            _maxout_row(&x[i * n_out * pieces], &y[i * n_out], n_out, pieces)


cdef void _maxout_backward(const floating* x, const floating* g, floating* dx,
                           Py_ssize_t n_rows, Py_ssize_t n_out, Py_ssize_t pieces,
                           int n_threads) noexcept nogil:
    cdef Py_ssize_t i, width = n_out * pieces
    if n_out == 0:
        return
    if _use_threads(n_rows * width, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _maxout_grad_row(&x[i * width], &g[i * n_out], &dx[i * width], n_out, pieces)
    else:
        for i in range(n_rows):
            _maxout_grad_row(&x[i * width], &g[i * n_out], &dx[i * width], n_out, pieces)


cdef inline void _prelu_row(const floating* x, const floating* weight, floating* y,
                            Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = _leaky_relu(x[j], weight[j])


cdef inline void _prelu_grad_rows(const floating* x, const floating* g, const floating* weight,
                                  floating* dx, double* weight_grad, Py_ssize_t n_rows,
                                  Py_ssize_t n) noexcept nogil:
    # dx = g where x > 0 else weight * g; weight_grad[j] += sum over the rows of
    # (x > 0 ? 0 : x * g), accumulated in double. x and g are read before dx is written, so
    # dx may be x or g (in place).
    cdef Py_ssize_t i, j
    cdef floating xij, gij
    for j in range(n):
        weight_grad[j] = 0
    for i in range(n_rows):
        for j in range(n):
            xij = x[i * n + j]
            gij = g[i * n + j]
            weight_grad[j] += 0 if xij > 0 else xij * gij
            dx[i * n + j] = _leaky_relu_grad(xij, gij, weight[j])


cdef void _prelu_forward(const floating* x, const floating* weight, floating* y,
                         Py_ssize_t n_rows, Py_ssize_t n_cols, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    if n_cols == 0:
        return
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _prelu_row(&x[i * n_cols], weight, &y[i * n_cols], n_cols)
    else:
        for i in range(n_rows):
            _prelu_row(&x[i * n_cols], weight, &y[i * n_cols], n_cols)


cdef void _prelu_backward(const floating* x, const floating* g, const floating* weight,
                          floating* dx, floating* weight_grad, Py_ssize_t n_rows,
                          Py_ssize_t n_cols, double* partials, int n_threads) noexcept nogil:
    """partials has one row per block of rows_per_block(n_cols) rows: each block writes its
    column sums there, and the blocks are added in order, whatever the thread count."""
    cdef Py_ssize_t j, b, block = rows_per_block(n_cols)
    cdef Py_ssize_t n_blocks = (n_rows + block - 1) // block
    cdef double total
    if n_cols == 0:
        return
    if _use_threads(n_rows * n_cols, n_threads):
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            _prelu_grad_rows(&x[b * block * n_cols], &g[b * block * n_cols], weight,
                             &dx[b * block * n_cols], &partials[b * n_cols],
                             min(block, n_rows - b * block), n_cols)
    else:
        for b in range(n_blocks):
            _prelu_grad_rows(&x[b * block * n_cols], &g[b * block * n_cols], weight,
                             &dx[b * block * n_cols], &partials[b * n_cols],
                             min(block, n_rows - b * block), n_cols)
    for j in range(n_cols):
        total = 0
        for b in range(n_blocks):
            total += partials[b * n_cols + j]
        weight_grad[j] = <floating> total


cpdef Py_ssize_t rows_per_block(Py_ssize_t n_cols) noexcept nogil:
    """Rows per block of a row-blocked reduction: about CHUNK_SIZE elements, at least 1."""
    return max(CHUNK_SIZE // max(n_cols, 1), 1)


# ---------------------------------------------------------------------------------------------
# Tier 3: entry points for fastnn.activations, which has validated the arrays. The flat
# element-wise buffers are 1-D views of C- or F-contiguous 2-D arrays. Empty arrays reach the
# kernels as NULL pointers with a zero size (fastnn._core._pointers).

def elementwise_forward(Kind kind, const floating[::1] x, floating[::1] out, double a,
                        double b, int n_threads):
    with nogil:
        _elementwise_forward(kind, _in1(x), _out1(out), x.shape[0], <floating> a,
                             <floating> b, n_threads)


def elementwise_backward(Kind kind, const floating[::1] x, const floating[::1] grad_output,
                         floating[::1] out, double a, double b, int n_threads):
    with nogil:
        _elementwise_backward(kind, _in1(x), _in1(grad_output), _out1(out), x.shape[0],
                              <floating> a, <floating> b, n_threads)


def swish_beta_gradient(const floating[::1] x, const floating[::1] grad_output, double beta,
                        floating[:, ::1] scratch, double[::1] partials, int n_threads):
    """Sum of grad_output * d swish / d beta (a float). scratch is (n_threads, chunk_size)."""
    cdef double total
    with nogil:
        total = _swish_beta_grad_total(_in1(x), _in1(grad_output), x.shape[0],
                                       <floating> beta, _out2(scratch),
                                       &partials[0] if partials.shape[0] > 0 else NULL,
                                       n_threads)
    return total


def softmax_forward(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    with nogil:
        _softmax_forward(_in2(x), _out2(out), x.shape[0], x.shape[1], n_threads)


def softmax_backward(const floating[:, ::1] x, const floating[:, ::1] grad_output,
                     floating[:, ::1] out, int n_threads):
    with nogil:
        _softmax_backward(_in2(x), _in2(grad_output), _out2(out), x.shape[0], x.shape[1],
                          n_threads)


def maxout_forward(const floating[:, ::1] x, floating[:, ::1] out, Py_ssize_t pieces,
                   int n_threads):
    with nogil:
        _maxout_forward(_in2(x), _out2(out), x.shape[0], out.shape[1], pieces, n_threads)


def maxout_backward(const floating[:, ::1] x, const floating[:, ::1] grad_output,
                    floating[:, ::1] out, Py_ssize_t pieces, int n_threads):
    with nogil:
        _maxout_backward(_in2(x), _in2(grad_output), _out2(out), x.shape[0],
                         grad_output.shape[1], pieces, n_threads)


def prelu_forward(const floating[:, ::1] x, const floating[::1] weight, floating[:, ::1] out,
                  int n_threads):
    with nogil:
        _prelu_forward(_in2(x), _in1(weight), _out2(out), x.shape[0], x.shape[1], n_threads)


def prelu_backward(const floating[:, ::1] x, const floating[:, ::1] grad_output,
                   const floating[::1] weight, floating[:, ::1] out,
                   double[:, ::1] partials, floating[::1] weight_grad, int n_threads):
    """Writes dL/dx into out and dL/dweight (one per column) into weight_grad. partials has
    at least ceil(n_rows / rows_per_block(n_cols)) rows of n_cols."""
    with nogil:
        _prelu_backward(_in2(x), _in2(grad_output), _in1(weight), _out2(out),
                        _out1(weight_grad), x.shape[0], x.shape[1],
                        &partials[0, 0] if partials.shape[0] > 0 and partials.shape[1] > 0
                        else NULL, n_threads)


# Sizes the Python layer needs to allocate reduction buffers.
chunk_size = CHUNK_SIZE
