"""Kernels of the layer stack that are not an activation, a loss or a matrix product.

Bias add and bias gradient, batch normalisation (training and inference), inverted dropout,
and the L1/L2 penalty over the weights. The network (fastnn/network.py) calls them between
the BLAS products of fastnn._core._blas.

All are memory-bound simple arithmetic: one pass each, OpenMP over rows (or chunks) above
PARALLEL_MIN_SIZE elements. Reductions over rows (bias gradient, batch statistics) go through
fixed row blocks whose column sums are added in block order, so results are bitwise identical
for any thread count.
"""
from cython.parallel cimport prange

from fastnn._core._math cimport _fabs, _sqrt
from fastnn._core._openmp cimport CHUNK_SIZE, PARALLEL_MIN_SIZE
from fastnn._core._reductions cimport sum_partials
from fastnn._core._typedefs cimport floating


cdef inline bint _use_threads(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads > 1 and n_elements >= PARALLEL_MIN_SIZE


cpdef Py_ssize_t rows_per_block(Py_ssize_t n_cols) noexcept nogil:
    """Rows per block of a column reduction: about CHUNK_SIZE elements, at least 1."""
    return max(CHUNK_SIZE // max(n_cols, 1), 1)


# ---------------------------------------------------------------------------------------------
# Bias.

cdef void _bias_add(floating[:, ::1] z, const floating[::1] bias, int n_threads) noexcept nogil:
    """z[i, :] += bias."""
    cdef Py_ssize_t i, j, n_rows = z.shape[0], n_cols = z.shape[1]
    if n_cols == 0:
        return
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n_rows * n_cols, n_threads)):
        for j in range(n_cols):
            z[i, j] += bias[j]


cdef void _column_block_sums(const floating* a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                             double* out) noexcept nogil:
    """out[j] = sum of a[i, j] over n_rows rows, in row order, in double."""
    cdef Py_ssize_t i, j
    for j in range(n_cols):
        out[j] = 0
    for i in range(n_rows):
        for j in range(n_cols):
            out[j] += a[i * n_cols + j]


cdef void _column_sums(const floating[:, ::1] a, double[:, ::1] partials, floating[::1] out,
                       double scale, int n_threads) noexcept nogil:
    """out[j] = scale * sum_i a[i, j]: blocks of rows_per_block rows in parallel, then the
    block sums in block order (partials has one row per block)."""
    cdef Py_ssize_t b, j, n_rows = a.shape[0], n_cols = a.shape[1]
    cdef Py_ssize_t block = rows_per_block(n_cols), n_blocks = partials.shape[0]
    cdef double total
    if n_cols == 0:
        return
    for b in prange(n_blocks, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n_rows * n_cols, n_threads)):
        _column_block_sums(&a[b * block, 0], min(block, n_rows - b * block), n_cols,
                           &partials[b, 0])
    for j in range(n_cols):
        total = 0
        for b in range(n_blocks):
            total += partials[b, j]
        out[j] = <floating> (scale * total)


# ---------------------------------------------------------------------------------------------
# Batch normalisation over the rows of z (n_samples, n_features), torch's BatchNorm1d.

cdef void _batchnorm_train(const floating[:, ::1] z, const floating[::1] gamma,
                           const floating[::1] beta, floating[:, ::1] out,
                           floating[:, ::1] z_hat, floating[::1] mean, floating[::1] inv_std,
                           floating[::1] running_mean, floating[::1] running_var,
                           double momentum, double eps, double[:, ::1] partials,
                           int n_threads) noexcept nogil:
    """Training mode: normalise with the batch mean and biased variance, keep z_hat and
    1/sqrt(var + eps) for the backward pass, and update the running statistics with torch's
    convention (running = (1 - momentum) running + momentum batch, unbiased variance).

    The variance is the mean of squared deviations from the mean, computed in a second pass
    (not E[z^2] - E[z]^2, which cancels catastrophically when |mean| >> std)."""
    cdef Py_ssize_t i, j, n = z.shape[0], n_cols = z.shape[1]
    cdef double var, d
    if n_cols == 0 or n == 0:
        return
    _column_sums(z, partials, mean, 1.0 / n, n_threads)
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n * n_cols, n_threads)):
        for j in range(n_cols):
            z_hat[i, j] = (z[i, j] - mean[j]) * (z[i, j] - mean[j])
    _column_sums(z_hat, partials, inv_std, 1.0, n_threads)  # sum of squared deviations
    for j in range(n_cols):
        var = inv_std[j] / n
        running_mean[j] = <floating> ((1 - momentum) * running_mean[j] + momentum * mean[j])
        # unbiased variance for the running estimate; a batch of 1 has none, keep the old
        d = inv_std[j] / (n - 1) if n > 1 else running_var[j]
        running_var[j] = <floating> ((1 - momentum) * running_var[j] + momentum * d)
        inv_std[j] = <floating> (1.0 / _sqrt(var + eps))
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n * n_cols, n_threads)):
        for j in range(n_cols):
            z_hat[i, j] = (z[i, j] - mean[j]) * inv_std[j]
            out[i, j] = gamma[j] * z_hat[i, j] + beta[j]


cdef void _batchnorm_eval(const floating[:, ::1] z, const floating[::1] gamma,
                          const floating[::1] beta, const floating[::1] running_mean,
                          const floating[::1] running_var, floating[:, ::1] out, double eps,
                          int n_threads) noexcept nogil:
    """Inference mode: normalise with the running statistics."""
    cdef Py_ssize_t i, j, n = z.shape[0], n_cols = z.shape[1]
    if n_cols == 0:
        return
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n * n_cols, n_threads)):
        for j in range(n_cols):
            out[i, j] = (gamma[j] * (z[i, j] - running_mean[j])
                         / _sqrt(running_var[j] + <floating> eps) + beta[j])


cdef void _batchnorm_backward(const floating[:, ::1] grad_out, const floating[:, ::1] z_hat,
                              const floating[::1] gamma, const floating[::1] inv_std,
                              floating[:, ::1] grad_z, floating[::1] grad_gamma,
                              floating[::1] grad_beta, floating[:, ::1] scratch,
                              double[:, ::1] partials, int n_threads) noexcept nogil:
    """Gradients of training-mode batch norm:
    grad_beta = sum_i g, grad_gamma = sum_i g z_hat,
    grad_z = gamma inv_std / n (n g - grad_beta - z_hat grad_gamma).
    grad_z may be grad_out (in place); scratch is (n, n_features)."""
    cdef Py_ssize_t i, j, n = grad_out.shape[0], n_cols = grad_out.shape[1]
    if n_cols == 0 or n == 0:
        return
    _column_sums(grad_out, partials, grad_beta, 1.0, n_threads)
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n * n_cols, n_threads)):
        for j in range(n_cols):
            scratch[i, j] = grad_out[i, j] * z_hat[i, j]
    _column_sums(scratch, partials, grad_gamma, 1.0, n_threads)
    for i in prange(n, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n * n_cols, n_threads)):
        for j in range(n_cols):
            grad_z[i, j] = (gamma[j] * inv_std[j] / n
                            * (n * grad_out[i, j] - grad_beta[j] - z_hat[i, j] * grad_gamma[j]))


# ---------------------------------------------------------------------------------------------
# Inverted dropout: units are kept with probability 1 - rate and scaled by 1 / (1 - rate), so
# the expected activation is unchanged and nothing is rescaled at inference.

cdef void _dropout_forward(floating[:, ::1] a, floating[:, ::1] mask, double rate,
                           int n_threads) noexcept nogil:
    """mask holds uniform [0, 1) draws on entry and the kept-unit scale (0 or 1/(1-rate)) on
    exit; a *= mask."""
    cdef Py_ssize_t i, j, n_rows = a.shape[0], n_cols = a.shape[1]
    cdef floating scale = <floating> (1.0 / (1.0 - rate))
    cdef floating r = <floating> rate
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n_rows * n_cols, n_threads)):
        for j in range(n_cols):
            mask[i, j] = scale if mask[i, j] >= r else 0
            a[i, j] = a[i, j] * mask[i, j]


cdef void _multiply(floating[:, ::1] a, const floating[:, ::1] b, int n_threads) noexcept nogil:
    """a *= b (the dropout backward: the gradient flows through kept units only)."""
    cdef Py_ssize_t i, j, n_rows = a.shape[0], n_cols = a.shape[1]
    for i in prange(n_rows, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n_rows * n_cols, n_threads)):
        for j in range(n_cols):
            a[i, j] = a[i, j] * b[i, j]


# ---------------------------------------------------------------------------------------------
# Penalties on the weights: the weights are one contiguous region of the flat parameter
# buffer, so L2 and L1 are one pass over it.

cdef double _penalty_chunk(const floating* w, floating* g, Py_ssize_t n, floating l2,
                           floating l1) noexcept nogil:
    """g += l2 * w + l1 * sign(w) over one chunk; returns sum(0.5 l2 w^2 + l1 |w|)."""
    cdef Py_ssize_t i
    cdef double total = 0
    cdef floating wi
    for i in range(n):
        wi = w[i]
        total += 0.5 * l2 * wi * wi + l1 * _fabs(wi)
        g[i] += l2 * wi + l1 * (1 if wi > 0 else (-1 if wi < 0 else 0))
    return total


cdef double _penalty(const floating[::1] weights, floating[::1] grads, double l2, double l1,
                     double[::1] partials, int n_threads) noexcept nogil:
    cdef Py_ssize_t n = weights.shape[0]
    cdef Py_ssize_t n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    cdef Py_ssize_t c, start
    for c in prange(n_chunks, schedule="static", num_threads=n_threads,
                    use_threads_if=_use_threads(n, n_threads)):
        start = c * CHUNK_SIZE
        partials[c] = _penalty_chunk(&weights[start], &grads[start],
                                     min(<Py_ssize_t> CHUNK_SIZE, n - start),
                                     <floating> l2, <floating> l1)
    return sum_partials(&partials[0], n_chunks) if n_chunks > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Entry points for fastnn.network (arrays validated and allocated there).

def bias_add(floating[:, ::1] z, const floating[::1] bias, int n_threads):
    with nogil:
        _bias_add(z, bias, n_threads)


def column_sums(const floating[:, ::1] a, double[:, ::1] partials, floating[::1] out,
                double scale, int n_threads):
    with nogil:
        _column_sums(a, partials, out, scale, n_threads)


def batchnorm_train(const floating[:, ::1] z, const floating[::1] gamma,
                    const floating[::1] beta, floating[:, ::1] out, floating[:, ::1] z_hat,
                    floating[::1] mean, floating[::1] inv_std, floating[::1] running_mean,
                    floating[::1] running_var, double momentum, double eps,
                    double[:, ::1] partials, int n_threads):
    with nogil:
        _batchnorm_train(z, gamma, beta, out, z_hat, mean, inv_std, running_mean, running_var,
                         momentum, eps, partials, n_threads)


def batchnorm_eval(const floating[:, ::1] z, const floating[::1] gamma,
                   const floating[::1] beta, const floating[::1] running_mean,
                   const floating[::1] running_var, floating[:, ::1] out, double eps,
                   int n_threads):
    with nogil:
        _batchnorm_eval(z, gamma, beta, running_mean, running_var, out, eps, n_threads)


def batchnorm_backward(const floating[:, ::1] grad_out, const floating[:, ::1] z_hat,
                       const floating[::1] gamma, const floating[::1] inv_std,
                       floating[:, ::1] grad_z, floating[::1] grad_gamma,
                       floating[::1] grad_beta, floating[:, ::1] scratch,
                       double[:, ::1] partials, int n_threads):
    with nogil:
        _batchnorm_backward(grad_out, z_hat, gamma, inv_std, grad_z, grad_gamma, grad_beta,
                            scratch, partials, n_threads)


def dropout_forward(floating[:, ::1] a, floating[:, ::1] mask, double rate, int n_threads):
    with nogil:
        _dropout_forward(a, mask, rate, n_threads)


def multiply(floating[:, ::1] a, const floating[:, ::1] b, int n_threads):
    with nogil:
        _multiply(a, b, n_threads)


def penalty(const floating[::1] weights, floating[::1] grads, double l2, double l1,
            double[::1] partials, int n_threads):
    """grads += l2 * weights + l1 * sign(weights); returns sum(0.5 l2 w^2 + l1 |w|)."""
    cdef double total
    with nogil:
        total = _penalty(weights, grads, l2, l1, partials, n_threads)
    return total


chunk_size = CHUNK_SIZE
