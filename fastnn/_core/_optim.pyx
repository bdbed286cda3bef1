"""In-place optimizer updates and gradient clipping over flat parameter buffers.

Three tiers, as in _activations.pyx:

1. point helpers (``_decayed``, ``_lerp``, ``_sqrt``), inline and nogil;
2. the update kernels declared in _optim.pxd: one chunked, OpenMP-parallel pass over params,
   grads and the optimizer's state, nothing allocated. Each chunk function picks one plain
   pointer loop per variant (momentum or not, AMSGrad or not, ...) so that gcc vectorises
   every loop; loop-invariant choices (weight decay on/off, Nesterov) are selects. Element
   i is always computed by the same instructions, so results are bitwise identical for any
   number of threads;
3. ``def`` entry points for fastnn.optimizers, which validates the arrays, allocates the
   state and computes the step-dependent scalars.

The order of operations is torch.optim's single-tensor code path (torch 2.x,
``_single_tensor_adam`` etc.), operation by operation: hyper-parameters are rounded to the
buffer's type exactly where torch rounds its Python-float scalars, ``a.addcdiv_(b, c,
value=s)`` is ``a + (s * b) / c``, ``a.addcmul_(b, c, value=s)`` is ``a + (s * b) * c``,
``a.lerp_(b, w)`` is ``a + w * (b - a)`` for |w| < 0.5 and ``b - (b - a) * (1 - w)``
otherwise. torch's vectorised CPU kernels contract some of these into fused multiply-adds
and no build of this module does (contraction is turned off below, also in the AVX2 and
AVX-512 variants _optim_avx2/_optim_avx512, which give the same bits as the baseline), so
fastnn and torch agree to rounding (about 1e-16 relative per step in float64), not bitwise;
where an update cancels (centered RMSprop's v - gbar^2) the difference grows with the
cancellation factor v / (v - gbar^2).

Speed: an update streams its buffers once. Adam and the other adaptive methods also take a
sqrt and one or two divisions per element, and the divider, not memory, bounds them on one
core at small sizes; wider vectors (the AVX-512 variant) and threads help there.
"""
from cython.parallel cimport prange

cdef extern from *:
    """
    /* No contraction of a * b + c into a fused multiply-add in this module, whatever the
       flags (the AVX2/AVX-512 variants are built with -mfma, and setup.py suggests
       CFLAGS=-march=native): the updates round each operation as torch's equations do, so
       every build gives the same bits as the baseline one and as fastnn's NumPy
       transcription of the equations in the tests. The kernels are bound by the divider
       (sqrt and two divisions per element for Adam), not by the multiply-adds. */
    #if defined(__clang__)
    #pragma STDC FP_CONTRACT OFF
    #elif defined(__GNUC__)
    #pragma GCC optimize ("fp-contract=off")
    #elif defined(_MSC_VER)
    #pragma fp_contract (off)
    #endif
    """

from libc.math cimport sqrt

from fastnn._core._openmp cimport CHUNK_SIZE, PARALLEL_MIN_SIZE
from fastnn._core._math cimport _fabs, _sqrt
from fastnn._core._reductions cimport abs_sum_values, dot_values, sum_partials
from fastnn._core._typedefs cimport floating


cdef enum SgdMode:
    SGD_PLAIN = 0            # no momentum
    SGD_MOMENTUM_FIRST = 1   # first step with momentum: buf = g
    SGD_MOMENTUM = 2         # buf = momentum * buf + (1 - dampening) * g


# ---------------------------------------------------------------------------------------------
# Tier 1: point helpers.

cdef inline floating _decayed(floating g, floating p, floating weight_decay,
                              bint has_weight_decay) noexcept nogil:
    # torch: grad = grad.add(param, alpha=weight_decay), skipped when weight_decay == 0 (so
    # that g = -0.0 stays -0.0 and an infinite parameter does not give 0 * inf = NaN).
    return g + weight_decay * p if has_weight_decay else g


cdef inline floating _lerp(floating start, floating end, floating coeff,
                           bint small_weight) noexcept nogil:
    # torch's lerp(start, end, w): start + w * (end - start) when |w| < 0.5, else
    # end - (end - start) * (1 - w). The caller passes coeff = w or w - 1 (= -(1 - w)
    # exactly), so both branches are base + coeff * (end - start), bitwise as torch's
    # unfused formula.
    return (start if small_weight else end) + coeff * (end - start)


cdef inline floating _max_nan(floating a, floating b) noexcept nogil:
    # max(a, b) propagating NaN from either side, as torch.maximum. `|`, not `or`: no
    # short-circuit branch, so gcc turns it into a vector select.
    return b if (b > a) | (b != b) else a


cdef inline floating _clamp(floating x, floating bound) noexcept nogil:
    # x limited to [-bound, bound]; NaN stays NaN (both comparisons are false). Two selects
    # in sequence, not nested: gcc turns each into one minps / maxps.
    x = bound if x > bound else x
    return -bound if x < -bound else x


cdef inline bint _use_threads(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads > 1 and n_elements >= PARALLEL_MIN_SIZE


cdef Py_ssize_t n_chunks(Py_ssize_t n) noexcept nogil:
    return (n + CHUNK_SIZE - 1) // CHUNK_SIZE


# ---------------------------------------------------------------------------------------------
# Tier 2: one chunk of each update, then the parallel driver over the chunks.

cdef void _sgd_chunk(floating* p, const floating* g, floating* buf, Py_ssize_t n,
                     floating neg_lr, floating weight_decay, bint has_weight_decay,
                     floating momentum, floating one_minus_dampening, bint nesterov,
                     SgdMode mode) noexcept nogil:
    # torch: d = g + wd p; buf = d (first step) or buf * momentum + (1 - dampening) * d;
    # d = d + momentum * buf (Nesterov) or buf; p = p + (-lr) * d.
    cdef Py_ssize_t i
    cdef floating d, b
    if mode == SGD_PLAIN:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            p[i] = p[i] + neg_lr * d
    elif mode == SGD_MOMENTUM_FIRST:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            buf[i] = d
            p[i] = p[i] + neg_lr * (d + momentum * d if nesterov else d)
    else:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            b = buf[i] * momentum + one_minus_dampening * d
            buf[i] = b
            p[i] = p[i] + neg_lr * (d + momentum * b if nesterov else b)


cdef void sgd_update(floating* params, const floating* grads, floating* momentum_buffer,
                     Py_ssize_t n, double lr, double momentum, double dampening,
                     double weight_decay, bint nesterov, bint first_step,
                     int n_threads) noexcept nogil:
    cdef SgdMode mode = (SGD_PLAIN if momentum == 0 else
                         (SGD_MOMENTUM_FIRST if first_step else SGD_MOMENTUM))
    cdef floating neg_lr = <floating> -lr
    cdef floating wd = <floating> weight_decay
    cdef floating mom = <floating> momentum
    cdef floating one_minus_dampening = <floating> (1 - dampening)
    cdef bint has_wd = weight_decay != 0
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _sgd_chunk(params + start, grads + start,
                   momentum_buffer + start if mode != SGD_PLAIN else momentum_buffer,
                   min(<Py_ssize_t> CHUNK_SIZE, n - start), neg_lr, wd, has_wd, mom,
                   one_minus_dampening, nesterov, mode)


cdef void _adagrad_chunk(floating* p, const floating* g, floating* s, Py_ssize_t n,
                         floating neg_clr, floating weight_decay, bint has_weight_decay,
                         floating eps) noexcept nogil:
    # torch: d = g + wd p; sum = sum + d * d; p = p + (-clr * d) / (sqrt(sum) + eps).
    cdef Py_ssize_t i
    cdef floating d, si
    for i in range(n):
        d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
        si = s[i] + d * d
        s[i] = si
        p[i] = p[i] + (neg_clr * d) / (_sqrt(si) + eps)


cdef void adagrad_update(floating* params, const floating* grads, floating* state_sum,
                         Py_ssize_t n, double clr, double weight_decay, double eps,
                         int n_threads) noexcept nogil:
    cdef floating neg_clr = <floating> -clr
    cdef floating wd = <floating> weight_decay
    cdef floating eps_ = <floating> eps
    cdef bint has_wd = weight_decay != 0
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _adagrad_chunk(params + start, grads + start, state_sum + start,
                       min(<Py_ssize_t> CHUNK_SIZE, n - start), neg_clr, wd, has_wd, eps_)


cdef inline floating _centered_sqrt(floating v, floating ga) noexcept nogil:
    # sqrt(v - ga^2): the running variance. It is >= 0 in exact arithmetic; rounding can make
    # it a hair negative when the gradient is nearly constant, and torch then returns NaN.
    # fastnn takes 0 there (identical to torch wherever torch is finite; NaN stays NaN).
    cdef floating var = v - ga * ga
    return _sqrt(0 if var < 0 else var)


cdef void _rmsprop_chunk(floating* p, const floating* g, floating* v, floating* ga,
                         floating* buf, Py_ssize_t n, floating neg_lr, floating alpha,
                         floating one_minus_alpha, floating lerp_coeff, bint lerp_small,
                         floating eps, floating weight_decay, bint has_weight_decay,
                         floating momentum, bint centered, bint with_momentum) noexcept nogil:
    # torch: d = g + wd p; v = v * alpha + ((1 - alpha) * d) * d;
    # centered: ga = lerp(ga, d, 1 - alpha), avg = sqrt(v - ga^2) + eps, else sqrt(v) + eps;
    # momentum: buf = buf * momentum + d / avg, p = p + (-lr) * buf;
    # else p = p + (-lr * d) / avg.
    cdef Py_ssize_t i
    cdef floating d, vi, gi, avg, b
    if centered and with_momentum:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            vi = v[i] * alpha + (one_minus_alpha * d) * d
            v[i] = vi
            gi = _lerp(ga[i], d, lerp_coeff, lerp_small)
            ga[i] = gi
            avg = _centered_sqrt(vi, gi) + eps
            b = buf[i] * momentum + d / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
    elif centered:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            vi = v[i] * alpha + (one_minus_alpha * d) * d
            v[i] = vi
            gi = _lerp(ga[i], d, lerp_coeff, lerp_small)
            ga[i] = gi
            avg = _centered_sqrt(vi, gi) + eps
            p[i] = p[i] + (neg_lr * d) / avg
    elif with_momentum:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            vi = v[i] * alpha + (one_minus_alpha * d) * d
            v[i] = vi
            avg = _sqrt(vi) + eps
            b = buf[i] * momentum + d / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
    else:
        for i in range(n):
            d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
            vi = v[i] * alpha + (one_minus_alpha * d) * d
            v[i] = vi
            p[i] = p[i] + (neg_lr * d) / (_sqrt(vi) + eps)


cdef void rmsprop_update(floating* params, const floating* grads, floating* square_avg,
                         floating* grad_avg, floating* momentum_buffer, Py_ssize_t n,
                         double lr, double alpha, double eps, double weight_decay,
                         double momentum, bint centered, int n_threads) noexcept nogil:
    cdef floating w = <floating> (1 - alpha)
    cdef bint lerp_small = _fabs(w) < <floating> 0.5
    cdef floating lerp_coeff = w if lerp_small else w - 1
    cdef bint with_momentum = momentum > 0
    cdef floating neg_lr = <floating> -lr
    cdef floating alpha_ = <floating> alpha
    cdef floating eps_ = <floating> eps
    cdef floating wd = <floating> weight_decay
    cdef floating mom = <floating> momentum
    cdef bint has_wd = weight_decay != 0
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _rmsprop_chunk(params + start, grads + start, square_avg + start,
                       grad_avg + start if centered else grad_avg,
                       momentum_buffer + start if with_momentum else momentum_buffer,
                       min(<Py_ssize_t> CHUNK_SIZE, n - start), neg_lr, alpha_, w,
                       lerp_coeff, lerp_small, eps_, wd, has_wd, mom, centered,
                       with_momentum)


cdef void _adadelta_chunk(floating* p, const floating* g, floating* v, floating* u,
                          Py_ssize_t n, floating neg_lr, floating rho, floating one_minus_rho,
                          floating eps, floating weight_decay,
                          bint has_weight_decay) noexcept nogil:
    # torch: d = g + wd p; v = v * rho + ((1 - rho) * d) * d;
    # delta = sqrt(u + eps) / sqrt(v + eps) * d; u = u * rho + ((1 - rho) * delta) * delta;
    # p = p + (-lr) * delta.
    cdef Py_ssize_t i
    cdef floating d, vi, delta
    for i in range(n):
        d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
        vi = v[i] * rho + (one_minus_rho * d) * d
        v[i] = vi
        delta = _sqrt(u[i] + eps) / _sqrt(vi + eps) * d
        u[i] = u[i] * rho + (one_minus_rho * delta) * delta
        p[i] = p[i] + neg_lr * delta


cdef void adadelta_update(floating* params, const floating* grads, floating* square_avg,
                          floating* acc_delta, Py_ssize_t n, double lr, double rho,
                          double eps, double weight_decay, int n_threads) noexcept nogil:
    cdef floating neg_lr = <floating> -lr
    cdef floating rho_ = <floating> rho
    cdef floating one_minus_rho = <floating> (1 - rho)
    cdef floating eps_ = <floating> eps
    cdef floating wd = <floating> weight_decay
    cdef bint has_wd = weight_decay != 0
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _adadelta_chunk(params + start, grads + start, square_avg + start, acc_delta + start,
                        min(<Py_ssize_t> CHUNK_SIZE, n - start), neg_lr, rho_,
                        one_minus_rho, eps_, wd, has_wd)


cdef void _adam_chunk(floating* p, const floating* g, floating* m, floating* v,
                      floating* vmax, Py_ssize_t n, floating decay, floating weight_decay,
                      bint has_weight_decay, floating lerp_coeff, bint lerp_small,
                      floating beta2, floating one_minus_beta2, floating neg_step_size,
                      floating bc2_sqrt, floating eps) noexcept nogil:
    # torch: p = p * (1 - lr wd) (AdamW; decay is exactly 1 otherwise, and x * 1 == x);
    # d = g + wd p (Adam's coupled weight decay); m = lerp(m, d, 1 - beta1);
    # v = v * beta2 + ((1 - beta2) * d) * d; AMSGrad: vmax = max(vmax, v), used for v;
    # p = p + (-step_size * m) / (sqrt(v) / sqrt(bc2) + eps).
    cdef Py_ssize_t i
    cdef floating pi, d, mi, vi
    if vmax == NULL:
        for i in range(n):
            pi = p[i] * decay
            d = _decayed(g[i], pi, weight_decay, has_weight_decay)
            mi = _lerp(m[i], d, lerp_coeff, lerp_small)
            vi = v[i] * beta2 + (one_minus_beta2 * d) * d
            m[i] = mi
            v[i] = vi
            p[i] = pi + (neg_step_size * mi) / (_sqrt(vi) / bc2_sqrt + eps)
    else:
        for i in range(n):
            pi = p[i] * decay
            d = _decayed(g[i], pi, weight_decay, has_weight_decay)
            mi = _lerp(m[i], d, lerp_coeff, lerp_small)
            vi = v[i] * beta2 + (one_minus_beta2 * d) * d
            m[i] = mi
            v[i] = vi
            vi = _max_nan(vmax[i], vi)
            vmax[i] = vi
            p[i] = pi + (neg_step_size * mi) / (_sqrt(vi) / bc2_sqrt + eps)


cdef void adam_update(floating* params, const floating* grads, floating* exp_avg,
                      floating* exp_avg_sq, floating* max_exp_avg_sq, Py_ssize_t n,
                      double lr, double beta1, double beta2, double eps,
                      double weight_decay, bint decoupled_weight_decay, double step_size,
                      double bias_correction2_sqrt, int n_threads) noexcept nogil:
    cdef floating w = <floating> (1 - beta1)
    cdef bint lerp_small = _fabs(w) < <floating> 0.5
    cdef floating lerp_coeff = w if lerp_small else w - 1
    cdef floating decay = <floating> (1 - lr * weight_decay) if decoupled_weight_decay else 1
    cdef floating wd = <floating> weight_decay
    cdef bint has_wd = weight_decay != 0 and not decoupled_weight_decay
    cdef floating beta2_ = <floating> beta2
    cdef floating one_minus_beta2 = <floating> (1 - beta2)
    cdef floating neg_step_size = <floating> -step_size
    cdef floating bc2_sqrt = <floating> bias_correction2_sqrt
    cdef floating eps_ = <floating> eps
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _adam_chunk(params + start, grads + start, exp_avg + start, exp_avg_sq + start,
                    max_exp_avg_sq + start if max_exp_avg_sq != NULL else NULL,
                    min(<Py_ssize_t> CHUNK_SIZE, n - start), decay, wd, has_wd, lerp_coeff,
                    lerp_small, beta2_, one_minus_beta2, neg_step_size, bc2_sqrt, eps_)


cdef void _nadam_chunk(floating* p, const floating* g, floating* m, floating* v,
                       Py_ssize_t n, floating weight_decay, bint has_weight_decay,
                       floating lerp_coeff, bint lerp_small, floating beta2,
                       floating one_minus_beta2, floating bc2, floating eps,
                       floating grad_coef, floating exp_avg_coef) noexcept nogil:
    # torch: d = g + wd p; m = lerp(m, d, 1 - beta1); v = v * beta2 + ((1 - beta2) * d) * d;
    # denom = sqrt(v / bc2) + eps; p = p + (c1 * d) / denom; p = p + (c2 * m) / denom.
    cdef Py_ssize_t i
    cdef floating d, mi, vi, denom
    for i in range(n):
        d = _decayed(g[i], p[i], weight_decay, has_weight_decay)
        mi = _lerp(m[i], d, lerp_coeff, lerp_small)
        vi = v[i] * beta2 + (one_minus_beta2 * d) * d
        m[i] = mi
        v[i] = vi
        denom = _sqrt(vi / bc2) + eps
        p[i] = (p[i] + (grad_coef * d) / denom) + (exp_avg_coef * mi) / denom


cdef void nadam_update(floating* params, const floating* grads, floating* exp_avg,
                       floating* exp_avg_sq, Py_ssize_t n, double beta1, double beta2,
                       double eps, double weight_decay, double grad_coef,
                       double exp_avg_coef, double bias_correction2,
                       int n_threads) noexcept nogil:
    cdef floating w = <floating> (1 - beta1)
    cdef bint lerp_small = _fabs(w) < <floating> 0.5
    cdef floating lerp_coeff = w if lerp_small else w - 1
    cdef floating wd = <floating> weight_decay
    cdef bint has_wd = weight_decay != 0
    cdef floating beta2_ = <floating> beta2
    cdef floating one_minus_beta2 = <floating> (1 - beta2)
    cdef floating bc2 = <floating> bias_correction2
    cdef floating eps_ = <floating> eps
    cdef floating c1 = <floating> grad_coef
    cdef floating c2 = <floating> exp_avg_coef
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _nadam_chunk(params + start, grads + start, exp_avg + start, exp_avg_sq + start,
                     min(<Py_ssize_t> CHUNK_SIZE, n - start), wd, has_wd, lerp_coeff,
                     lerp_small, beta2_, one_minus_beta2, bc2, eps_, c1, c2)


# ---------------------------------------------------------------------------------------------
# Gradient clipping.

cdef double _max_abs(const floating* v, Py_ssize_t n) noexcept nogil:
    # max |v[i]|, NaN if any element is NaN (as torch's inf-norm).
    cdef floating acc[8]
    cdef Py_ssize_t i, j, n8 = n - n % 8
    for j in range(8):
        acc[j] = 0
    for i in range(0, n8, 8):
        for j in range(8):
            acc[j] = _max_nan(acc[j], _fabs(v[i + j]))
    for i in range(n8, n):
        acc[0] = _max_nan(acc[0], _fabs(v[i]))
    for j in range(1, 8):
        acc[0] = _max_nan(acc[0], acc[j])
    return acc[0]


cdef double grad_norm(const floating* grads, Py_ssize_t n, NormType norm_type,
                      double* partials, int n_threads) noexcept nogil:
    cdef Py_ssize_t c, start, length, count = n_chunks(n)
    cdef double total = 0
    if n == 0:
        return 0.0
    for c in prange(count, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        length = min(<Py_ssize_t> CHUNK_SIZE, n - start)
        if norm_type == NORM_L2:
            partials[c] = dot_values(grads + start, grads + start, length)  # sum of squares
        elif norm_type == NORM_L1:
            partials[c] = abs_sum_values(grads + start, length)
        else:
            partials[c] = _max_abs(grads + start, length)
    if norm_type == NORM_INF:
        for c in range(count):
            total = _max_nan(total, partials[c])
        return total
    total = sum_partials(partials, count)
    return sqrt(total) if norm_type == NORM_L2 else total


cdef void _scale_chunk(floating* g, Py_ssize_t n, floating coef) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        g[i] = g[i] * coef


cdef void scale(floating* grads, Py_ssize_t n, double coef, int n_threads) noexcept nogil:
    cdef floating coef_ = <floating> coef
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _scale_chunk(grads + start, min(<Py_ssize_t> CHUNK_SIZE, n - start), coef_)


cdef void _clip_chunk(floating* g, Py_ssize_t n, floating bound) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        g[i] = _clamp(g[i], bound)


cdef void clip_by_value(floating* grads, Py_ssize_t n, double clip_value,
                        int n_threads) noexcept nogil:
    cdef floating bound = <floating> clip_value
    cdef Py_ssize_t c, start
    for c in prange(n_chunks(n), schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        _clip_chunk(grads + start, min(<Py_ssize_t> CHUNK_SIZE, n - start), bound)


# ---------------------------------------------------------------------------------------------
# Tier 3: entry points for fastnn.optimizers, which has validated the arrays (1-D,
# contiguous, same dtype, same length) and allocated the state. A state buffer the variant
# does not use is passed as an empty array and reaches the kernel as NULL.

cdef inline floating* _ptr(floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def sgd_step(floating[::1] params, const floating[::1] grads, floating[::1] momentum_buffer,
             double lr, double momentum, double dampening, double weight_decay,
             bint nesterov, bint first_step, int n_threads):
    with nogil:
        sgd_update(&params[0], &grads[0], _ptr(momentum_buffer), params.shape[0], lr,
                   momentum, dampening, weight_decay, nesterov, first_step, n_threads)


def adagrad_step(floating[::1] params, const floating[::1] grads, floating[::1] state_sum,
                 double clr, double weight_decay, double eps, int n_threads):
    with nogil:
        adagrad_update(&params[0], &grads[0], &state_sum[0], params.shape[0], clr,
                       weight_decay, eps, n_threads)


def rmsprop_step(floating[::1] params, const floating[::1] grads, floating[::1] square_avg,
                 floating[::1] grad_avg, floating[::1] momentum_buffer, double lr,
                 double alpha, double eps, double weight_decay, double momentum,
                 bint centered, int n_threads):
    with nogil:
        rmsprop_update(&params[0], &grads[0], &square_avg[0], _ptr(grad_avg),
                       _ptr(momentum_buffer), params.shape[0], lr, alpha, eps, weight_decay,
                       momentum, centered, n_threads)


def adadelta_step(floating[::1] params, const floating[::1] grads, floating[::1] square_avg,
                  floating[::1] acc_delta, double lr, double rho, double eps,
                  double weight_decay, int n_threads):
    with nogil:
        adadelta_update(&params[0], &grads[0], &square_avg[0], &acc_delta[0],
                        params.shape[0], lr, rho, eps, weight_decay, n_threads)


def adam_step(floating[::1] params, const floating[::1] grads, floating[::1] exp_avg,
              floating[::1] exp_avg_sq, floating[::1] max_exp_avg_sq, double lr,
              double beta1, double beta2, double eps, double weight_decay,
              bint decoupled_weight_decay, double step_size, double bias_correction2_sqrt,
              int n_threads):
    with nogil:
        adam_update(&params[0], &grads[0], &exp_avg[0], &exp_avg_sq[0],
                    _ptr(max_exp_avg_sq), params.shape[0], lr, beta1, beta2, eps,
                    weight_decay, decoupled_weight_decay, step_size, bias_correction2_sqrt,
                    n_threads)


def nadam_step(floating[::1] params, const floating[::1] grads, floating[::1] exp_avg,
               floating[::1] exp_avg_sq, double beta1, double beta2, double eps,
               double weight_decay, double grad_coef, double exp_avg_coef,
               double bias_correction2, int n_threads):
    with nogil:
        nadam_update(&params[0], &grads[0], &exp_avg[0], &exp_avg_sq[0], params.shape[0],
                     beta1, beta2, eps, weight_decay, grad_coef, exp_avg_coef,
                     bias_correction2, n_threads)


def norm(const floating[::1] grads, int norm_type, double[::1] partials, int n_threads):
    """The L1 (norm_type=1), L2 (2) or max (3) norm of grads, accumulated in double;
    partials has n_chunks(len(grads)) slots."""
    cdef double total
    with nogil:
        total = grad_norm(&grads[0], grads.shape[0], <NormType> norm_type, &partials[0],
                          n_threads)
    return total


def scale_(floating[::1] grads, double coef, int n_threads):
    with nogil:
        scale(&grads[0], grads.shape[0], coef, n_threads)


def clip_value_(floating[::1] grads, double clip_value, int n_threads):
    with nogil:
        clip_by_value(&grads[0], grads.shape[0], clip_value, n_threads)


def chunk_count(Py_ssize_t n):
    """Slots of the partial-sums buffer of norm() for n elements."""
    return n_chunks(n)
