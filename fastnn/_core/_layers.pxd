# Kernels of the layer stack that are not an activation, a loss or a matrix product (see
# _layers.pyx for what each computes).
#
# For other Cython modules (the network's compiled plan, fastnn/_core/_network*.pyx): the
# tier-2 loops on raw C-contiguous buffers, the same loops the def entry points run. Matrices
# are (n_rows, n_cols) row-major, vectors have n_cols entries. They never raise and allocate
# nothing. Reductions over rows write one row of n_cols doubles per block of
# rows_per_block(n_cols) rows into `partials` (n_row_blocks(n_rows, n_cols) rows) and add the
# blocks in order: the same bits for any n_threads. _layers_avx2.pxd / _layers_avx512.pxd
# declare the same for the AVX2 / AVX-512 builds of the module.

from fastnn._core._typedefs cimport floating

cpdef Py_ssize_t rows_per_block(Py_ssize_t n_cols) noexcept nogil
cpdef Py_ssize_t n_row_blocks(Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil

# z[i, :] += bias
cdef void _bias_add(floating* z, const floating* bias, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    int n_threads) noexcept nogil

# out[j] = scale * sum_i a[i, j]
cdef void _column_sums(const floating* a, floating* out, Py_ssize_t n_rows, Py_ssize_t n_cols,
                       double scale, double* partials, int n_threads) noexcept nogil

# Batch normalisation (torch's BatchNorm1d), training mode: out = gamma z_hat + beta with the
# batch statistics; keeps z_hat, the batch mean and 1/sqrt(var + eps) for the backward pass
# and updates the running statistics.
cdef void _batchnorm_train(const floating* z, const floating* gamma, const floating* beta,
                           floating* out, floating* z_hat, floating* mean, floating* inv_std,
                           floating* running_mean, floating* running_var, Py_ssize_t n,
                           Py_ssize_t n_cols, double momentum, double eps, double* partials,
                           int n_threads) noexcept nogil

# Inference mode, with the running statistics.
cdef void _batchnorm_eval(const floating* z, const floating* gamma, const floating* beta,
                          const floating* running_mean, const floating* running_var,
                          floating* out, Py_ssize_t n, Py_ssize_t n_cols, double eps,
                          int n_threads) noexcept nogil

# Backward of training mode; grad_z may be grad_out (in place); scratch is (n, n_cols).
cdef void _batchnorm_backward(const floating* grad_out, const floating* z_hat,
                              const floating* gamma, const floating* inv_std, floating* grad_z,
                              floating* grad_gamma, floating* grad_beta, floating* scratch,
                              Py_ssize_t n, Py_ssize_t n_cols, double* partials,
                              int n_threads) noexcept nogil

# Inverted dropout: mask holds uniform [0, 1) draws on entry, the kept-unit scale on exit;
# a *= mask.
cdef void _dropout_forward(floating* a, floating* mask, Py_ssize_t n_rows, Py_ssize_t n_cols,
                           double rate, int n_threads) noexcept nogil

# a *= b and a += b, element-wise.
cdef void _multiply(floating* a, const floating* b, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    int n_threads) noexcept nogil
cdef void _add(floating* a, const floating* b, Py_ssize_t n_rows, Py_ssize_t n_cols,
               int n_threads) noexcept nogil

# L2 / L1 penalty over the n weights: grads += l2 w + l1 sign(w); returns
# sum(0.5 l2 w^2 + l1 |w|). partials has one slot per chunk of CHUNK_SIZE weights.
cdef double _penalty(const floating* weights, floating* grads, Py_ssize_t n, double l2,
                     double l1, double* partials, int n_threads) noexcept nogil
