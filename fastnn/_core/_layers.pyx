"""Kernels of the layer stack that are not an activation, a loss or a matrix product.

Bias add and bias gradient, batch normalisation (training and inference), inverted dropout,
and the L1/L2 penalty over the weights. The network (fastnn/network.py) calls them between
the BLAS products of fastnn._core._blas.

All are memory-bound simple arithmetic: one pass each, OpenMP over rows (or chunks) above
PARALLEL_MIN_SIZE elements. Below it a kernel runs the same loop outside any OpenMP region
(`if _use_threads(...): prange ... else: range ...` over the same per-row function):
entering a region costs about half a microsecond even on one thread (libgomp sets up a team),
more than the arithmetic of a minibatch-sized array. Every row is computed by the same call
either way, and reductions over rows (bias gradient, batch statistics) go through fixed row
blocks whose column sums are added in block order, so results are bitwise identical for any
thread count.

The tier-2 loops take raw C-contiguous buffers (declared in _layers.pxd, so that the
network's compiled plan, fastnn/_core/_network*.pyx, calls them directly); the def entry
points below pass them the data of validated arrays.

Like the activation kernels, the module is also built for AVX2 (_layers_avx2) and AVX-512
(_layers_avx512): at minibatch sizes the loops run from L1 and vector width sets their speed
(the baseline SSE2 build converts two floats to double per instruction in the column sums).
Multiply-adds are not contracted into FMAs in any build (below), so every variant gives the
baseline's bits.
"""
from cython.parallel cimport prange

cdef extern from *:
    """
    /* No contraction of a * b + c into a fused multiply-add, whatever the flags (the
       AVX2/AVX-512 variants are built with -mfma): every build of these kernels gives the
       same bits. They are bound by memory and loop overhead, not by the multiply-adds. */
    #if defined(__clang__)
    #pragma STDC FP_CONTRACT OFF
    #elif defined(__GNUC__)
    #pragma GCC optimize ("fp-contract=off")
    #elif defined(_MSC_VER)
    #pragma fp_contract (off)
    #endif
    """

from fastnn._core._math cimport _sqrt
from fastnn._core._openmp cimport CHUNK_SIZE, PARALLEL_MIN_SIZE
from fastnn._core._pointers cimport _in1, _in2, _out1, _out2, _work2
from fastnn._core._reductions cimport abs_sum_values, dot_values, sum_partials
from fastnn._core._typedefs cimport floating


cdef inline bint _use_threads(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads > 1 and n_elements >= PARALLEL_MIN_SIZE


cpdef Py_ssize_t rows_per_block(Py_ssize_t n_cols) noexcept nogil:
    """Rows per block of a column reduction: about CHUNK_SIZE elements, at least 1."""
    return max(CHUNK_SIZE // max(n_cols, 1), 1)


cpdef Py_ssize_t n_row_blocks(Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil:
    """Blocks of a column reduction over n_rows rows (rows of its partial sums)."""
    cdef Py_ssize_t block = rows_per_block(n_cols)
    return (n_rows + block - 1) // block


# ---------------------------------------------------------------------------------------------
# Bias.

cdef inline void _bias_add_row(floating* z, const floating* bias,
                               Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        z[j] += bias[j]


cdef void _bias_add(floating* z, const floating* bias, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    int n_threads) noexcept nogil:
    """z[i, :] += bias."""
    cdef Py_ssize_t i
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _bias_add_row(&z[i * n_cols], bias, n_cols)
    else:
        for i in range(n_rows):
            _bias_add_row(&z[i * n_cols], bias, n_cols)


cdef void _column_block_sums(const floating* a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                             double* out) noexcept nogil:
    """out[j] = sum of a[i, j] over n_rows rows, in row order, in double."""
    cdef Py_ssize_t i, j
    for j in range(n_cols):
        out[j] = 0
    for i in range(n_rows):
        for j in range(n_cols):
            out[j] += a[i * n_cols + j]


cdef void _column_sums(const floating* a, floating* out, Py_ssize_t n_rows, Py_ssize_t n_cols,
                       double scale, double* partials, int n_threads) noexcept nogil:
    """out[j] = scale * sum_i a[i, j]: blocks of rows_per_block rows (in parallel), then the
    block sums in block order (partials has n_row_blocks rows of n_cols)."""
    cdef Py_ssize_t b, j, block = rows_per_block(n_cols)
    cdef Py_ssize_t n_blocks = n_row_blocks(n_rows, n_cols)
    cdef double total
    if n_cols == 0:
        return
    if _use_threads(n_rows * n_cols, n_threads):
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            _column_block_sums(&a[b * block * n_cols], min(block, n_rows - b * block), n_cols,
                               &partials[b * n_cols])
    else:
        for b in range(n_blocks):
            _column_block_sums(&a[b * block * n_cols], min(block, n_rows - b * block), n_cols,
                               &partials[b * n_cols])
    for j in range(n_cols):
        total = 0
        for b in range(n_blocks):
            total += partials[b * n_cols + j]
        out[j] = <floating> (scale * total)


# ---------------------------------------------------------------------------------------------
# Batch normalisation over the rows of z (n_samples, n_features), torch's BatchNorm1d.

cdef inline void _squared_deviations_row(const floating* z, const floating* mean,
                                         floating* out, Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        out[j] = (z[j] - mean[j]) * (z[j] - mean[j])


cdef inline void _normalise_row(const floating* z, const floating* mean,
                                const floating* inv_std, const floating* gamma,
                                const floating* beta, floating* z_hat, floating* out,
                                Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        z_hat[j] = (z[j] - mean[j]) * inv_std[j]
        out[j] = gamma[j] * z_hat[j] + beta[j]


cdef void _batchnorm_train(const floating* z, const floating* gamma, const floating* beta,
                           floating* out, floating* z_hat, floating* mean, floating* inv_std,
                           floating* running_mean, floating* running_var, Py_ssize_t n,
                           Py_ssize_t n_cols, double momentum, double eps, double* partials,
                           int n_threads) noexcept nogil:
    """Training mode: normalise with the batch mean and biased variance, keep z_hat and
    1/sqrt(var + eps) for the backward pass, and update the running statistics with torch's
    convention (running = (1 - momentum) running + momentum batch, unbiased variance).

    The variance is the mean of squared deviations from the mean, computed in a second pass
    (not E[z^2] - E[z]^2, which cancels catastrophically when |mean| >> std)."""
    cdef Py_ssize_t i, j
    cdef double var, d
    cdef bint threads = _use_threads(n * n_cols, n_threads)
    if n_cols == 0 or n == 0:
        return
    _column_sums(z, mean, n, n_cols, 1.0 / n, partials, n_threads)
    if threads:
        for i in prange(n, schedule="static", num_threads=n_threads):
            _squared_deviations_row(&z[i * n_cols], mean, &z_hat[i * n_cols], n_cols)
    else:
        for i in range(n):
            _squared_deviations_row(&z[i * n_cols], mean, &z_hat[i * n_cols], n_cols)
    _column_sums(z_hat, inv_std, n, n_cols, 1.0, partials, n_threads)  # sum of sq. deviations
    for j in range(n_cols):
        var = inv_std[j] / n
        running_mean[j] = <floating> ((1 - momentum) * running_mean[j] + momentum * mean[j])
        # unbiased variance for the running estimate; a batch of 1 has none, keep the old
        d = inv_std[j] / (n - 1) if n > 1 else running_var[j]
        running_var[j] = <floating> ((1 - momentum) * running_var[j] + momentum * d)
        inv_std[j] = <floating> (1.0 / _sqrt(var + eps))
    if threads:
        for i in prange(n, schedule="static", num_threads=n_threads):
            _normalise_row(&z[i * n_cols], mean, inv_std, gamma, beta, &z_hat[i * n_cols],
                           &out[i * n_cols], n_cols)
    else:
        for i in range(n):
            _normalise_row(&z[i * n_cols], mean, inv_std, gamma, beta, &z_hat[i * n_cols],
                           &out[i * n_cols], n_cols)


cdef inline void _batchnorm_eval_row(const floating* z, const floating* gamma,
                                     const floating* beta, const floating* running_mean,
                                     const floating* running_var, floating* out,
                                     Py_ssize_t n_cols, floating eps) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        out[j] = gamma[j] * (z[j] - running_mean[j]) / _sqrt(running_var[j] + eps) + beta[j]


cdef void _batchnorm_eval(const floating* z, const floating* gamma, const floating* beta,
                          const floating* running_mean, const floating* running_var,
                          floating* out, Py_ssize_t n, Py_ssize_t n_cols, double eps,
                          int n_threads) noexcept nogil:
    """Inference mode: normalise with the running statistics."""
    cdef Py_ssize_t i
    if _use_threads(n * n_cols, n_threads):
        for i in prange(n, schedule="static", num_threads=n_threads):
            _batchnorm_eval_row(&z[i * n_cols], gamma, beta, running_mean, running_var,
                                &out[i * n_cols], n_cols, <floating> eps)
    else:
        for i in range(n):
            _batchnorm_eval_row(&z[i * n_cols], gamma, beta, running_mean, running_var,
                                &out[i * n_cols], n_cols, <floating> eps)


cdef inline void _batchnorm_grad_row(const floating* grad_out, const floating* z_hat,
                                     const floating* gamma, const floating* inv_std,
                                     const floating* grad_gamma, const floating* grad_beta,
                                     floating* grad_z, Py_ssize_t n,
                                     Py_ssize_t n_cols) noexcept nogil:
    # grad_z = gamma inv_std / n (n g - grad_beta - z_hat grad_gamma), n the batch size
    cdef Py_ssize_t j
    for j in range(n_cols):
        grad_z[j] = (gamma[j] * inv_std[j] / n
                     * (n * grad_out[j] - grad_beta[j] - z_hat[j] * grad_gamma[j]))


cdef void _batchnorm_backward(const floating* grad_out, const floating* z_hat,
                              const floating* gamma, const floating* inv_std, floating* grad_z,
                              floating* grad_gamma, floating* grad_beta, floating* scratch,
                              Py_ssize_t n, Py_ssize_t n_cols, double* partials,
                              int n_threads) noexcept nogil:
    """Gradients of training-mode batch norm:
    grad_beta = sum_i g, grad_gamma = sum_i g z_hat,
    grad_z = gamma inv_std / n (n g - grad_beta - z_hat grad_gamma).
    grad_z may be grad_out (in place); scratch is (n, n_features)."""
    cdef Py_ssize_t i
    cdef bint threads = _use_threads(n * n_cols, n_threads)
    if n_cols == 0 or n == 0:
        return
    _column_sums(grad_out, grad_beta, n, n_cols, 1.0, partials, n_threads)
    if threads:
        for i in prange(n, schedule="static", num_threads=n_threads):
            _product_row(&grad_out[i * n_cols], &z_hat[i * n_cols], &scratch[i * n_cols],
                         n_cols)
    else:
        for i in range(n):
            _product_row(&grad_out[i * n_cols], &z_hat[i * n_cols], &scratch[i * n_cols],
                         n_cols)
    _column_sums(scratch, grad_gamma, n, n_cols, 1.0, partials, n_threads)
    if threads:
        for i in prange(n, schedule="static", num_threads=n_threads):
            _batchnorm_grad_row(&grad_out[i * n_cols], &z_hat[i * n_cols], gamma, inv_std,
                                grad_gamma, grad_beta, &grad_z[i * n_cols], n, n_cols)
    else:
        for i in range(n):
            _batchnorm_grad_row(&grad_out[i * n_cols], &z_hat[i * n_cols], gamma, inv_std,
                                grad_gamma, grad_beta, &grad_z[i * n_cols], n, n_cols)


# ---------------------------------------------------------------------------------------------
# Element-wise passes over (n_rows, n_cols): dropout, its backward, the identity skip.
# Inverted dropout: units are kept with probability 1 - rate and scaled by 1 / (1 - rate), so
# the expected activation is unchanged and nothing is rescaled at inference.

cdef inline void _dropout_row(floating* a, floating* mask, Py_ssize_t n_cols, floating rate,
                              floating scale) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        mask[j] = scale if mask[j] >= rate else 0
        a[j] = a[j] * mask[j]


cdef void _dropout_forward(floating* a, floating* mask, Py_ssize_t n_rows, Py_ssize_t n_cols,
                           double rate, int n_threads) noexcept nogil:
    """mask holds uniform [0, 1) draws on entry and the kept-unit scale (0 or 1/(1-rate)) on
    exit; a *= mask."""
    cdef Py_ssize_t i
    cdef floating scale = <floating> (1.0 / (1.0 - rate))
    cdef floating r = <floating> rate
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _dropout_row(&a[i * n_cols], &mask[i * n_cols], n_cols, r, scale)
    else:
        for i in range(n_rows):
            _dropout_row(&a[i * n_cols], &mask[i * n_cols], n_cols, r, scale)


cdef inline void _product_row(const floating* a, const floating* b, floating* out,
                              Py_ssize_t n_cols) noexcept nogil:
    """out = a * b (out may be a)."""
    cdef Py_ssize_t j
    for j in range(n_cols):
        out[j] = a[j] * b[j]


cdef void _multiply(floating* a, const floating* b, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    int n_threads) noexcept nogil:
    """a *= b (the dropout backward: the gradient flows through kept units only)."""
    cdef Py_ssize_t i
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _product_row(&a[i * n_cols], &b[i * n_cols], &a[i * n_cols], n_cols)
    else:
        for i in range(n_rows):
            _product_row(&a[i * n_cols], &b[i * n_cols], &a[i * n_cols], n_cols)


cdef inline void _sum_row(floating* a, const floating* b, Py_ssize_t n_cols) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n_cols):
        a[j] = a[j] + b[j]


cdef void _add(floating* a, const floating* b, Py_ssize_t n_rows, Py_ssize_t n_cols,
               int n_threads) noexcept nogil:
    """a += b (the identity residual connection: a += a_prev forward, delta_prev += delta
    backward)."""
    cdef Py_ssize_t i
    if _use_threads(n_rows * n_cols, n_threads):
        for i in prange(n_rows, schedule="static", num_threads=n_threads):
            _sum_row(&a[i * n_cols], &b[i * n_cols], n_cols)
    else:
        for i in range(n_rows):
            _sum_row(&a[i * n_cols], &b[i * n_cols], n_cols)


# ---------------------------------------------------------------------------------------------
# Penalties on the weights: the weights are one contiguous region of the flat parameter
# buffer, so L2 and L1 are one pass over it.

cdef double _penalty_chunk(const floating* w, floating* g, Py_ssize_t n, floating l2,
                           floating l1) noexcept nogil:
    """g += l2 * w + l1 * sign(w) over one chunk; returns sum(0.5 l2 w^2 + l1 |w|).

    The gradient is one branch-free vectorised pass (sign as selects); the value comes from
    the 8-lane reductions of _reductions (a single double accumulator would chain the
    adds: 4 cycles per weight)."""
    cdef Py_ssize_t i
    cdef floating wi, sign
    cdef double total = 0
    for i in range(n):
        wi = w[i]
        sign = <floating> 1 if wi > 0 else (<floating> -1 if wi < 0 else <floating> 0)
        g[i] += l2 * wi + l1 * sign
    if l2 != 0:
        total += 0.5 * l2 * dot_values(w, w, n)
    if l1 != 0:
        total += l1 * abs_sum_values(w, n)
    return total


cdef double _penalty(const floating* weights, floating* grads, Py_ssize_t n, double l2,
                     double l1, double* partials, int n_threads) noexcept nogil:
    """grads += l2 * weights + l1 * sign(weights) over n weights; returns
    sum(0.5 l2 w^2 + l1 |w|). partials has one slot per chunk of CHUNK_SIZE."""
    cdef Py_ssize_t n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    cdef Py_ssize_t c, start
    if _use_threads(n, n_threads):
        for c in prange(n_chunks, schedule="static", num_threads=n_threads):
            start = c * CHUNK_SIZE
            partials[c] = _penalty_chunk(&weights[start], &grads[start],
                                         min(<Py_ssize_t> CHUNK_SIZE, n - start),
                                         <floating> l2, <floating> l1)
    else:
        for c in range(n_chunks):
            start = c * CHUNK_SIZE
            partials[c] = _penalty_chunk(&weights[start], &grads[start],
                                         min(<Py_ssize_t> CHUNK_SIZE, n - start),
                                         <floating> l2, <floating> l1)
    return sum_partials(partials, n_chunks) if n_chunks > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Entry points for fastnn.network (arrays validated and allocated there; partials sized by
# n_row_blocks, or one slot per chunk for the penalty). Empty arrays reach the kernels as NULL
# pointers with a zero size (fastnn._core._pointers).

def bias_add(floating[:, ::1] z, const floating[::1] bias, int n_threads):
    with nogil:
        _bias_add(_out2(z), _in1(bias), z.shape[0], z.shape[1], n_threads)


def column_sums(const floating[:, ::1] a, double[:, ::1] partials, floating[::1] out,
                double scale, int n_threads):
    with nogil:
        _column_sums(_in2(a), _out1(out), a.shape[0], a.shape[1], scale, _work2(partials),
                     n_threads)


def batchnorm_train(const floating[:, ::1] z, const floating[::1] gamma,
                    const floating[::1] beta, floating[:, ::1] out, floating[:, ::1] z_hat,
                    floating[::1] mean, floating[::1] inv_std, floating[::1] running_mean,
                    floating[::1] running_var, double momentum, double eps,
                    double[:, ::1] partials, int n_threads):
    with nogil:
        _batchnorm_train(_in2(z), _in1(gamma), _in1(beta), _out2(out), _out2(z_hat),
                         _out1(mean), _out1(inv_std), _out1(running_mean), _out1(running_var),
                         z.shape[0], z.shape[1], momentum, eps, _work2(partials), n_threads)


def batchnorm_eval(const floating[:, ::1] z, const floating[::1] gamma,
                   const floating[::1] beta, const floating[::1] running_mean,
                   const floating[::1] running_var, floating[:, ::1] out, double eps,
                   int n_threads):
    with nogil:
        _batchnorm_eval(_in2(z), _in1(gamma), _in1(beta), _in1(running_mean),
                        _in1(running_var), _out2(out), z.shape[0], z.shape[1], eps,
                        n_threads)


def batchnorm_backward(const floating[:, ::1] grad_out, const floating[:, ::1] z_hat,
                       const floating[::1] gamma, const floating[::1] inv_std,
                       floating[:, ::1] grad_z, floating[::1] grad_gamma,
                       floating[::1] grad_beta, floating[:, ::1] scratch,
                       double[:, ::1] partials, int n_threads):
    with nogil:
        _batchnorm_backward(_in2(grad_out), _in2(z_hat), _in1(gamma), _in1(inv_std),
                            _out2(grad_z), _out1(grad_gamma), _out1(grad_beta),
                            _out2(scratch), grad_out.shape[0], grad_out.shape[1],
                            _work2(partials), n_threads)


def dropout_forward(floating[:, ::1] a, floating[:, ::1] mask, double rate, int n_threads):
    with nogil:
        _dropout_forward(_out2(a), _out2(mask), a.shape[0], a.shape[1], rate, n_threads)


def multiply(floating[:, ::1] a, const floating[:, ::1] b, int n_threads):
    with nogil:
        _multiply(_out2(a), _in2(b), a.shape[0], a.shape[1], n_threads)


def add(floating[:, ::1] a, const floating[:, ::1] b, int n_threads):
    with nogil:
        _add(_out2(a), _in2(b), a.shape[0], a.shape[1], n_threads)


def penalty(const floating[::1] weights, floating[::1] grads, double l2, double l1,
            double[::1] partials, int n_threads):
    """grads += l2 * weights + l1 * sign(weights); returns sum(0.5 l2 w^2 + l1 |w|)."""
    cdef double total
    with nogil:
        total = _penalty(_in1(weights), _out1(grads), weights.shape[0], l2, l1,
                         &partials[0] if partials.shape[0] > 0 else NULL, n_threads)
    return total


chunk_size = CHUNK_SIZE
