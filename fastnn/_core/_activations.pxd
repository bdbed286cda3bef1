# Forward and backward kernels of every activation (see _activations.pyx for the formulas).
#
# For other Cython modules (the network's compiled plan, fastnn/_core/_network*.pyx): the
# Kind enum and the tier-2 array loops on raw C-contiguous buffers, the same loops the def
# entry points of fastnn.activations run. They never raise and allocate nothing: the caller
# has checked shapes and dtypes and passes n_threads resolved. Loops over zero rows or
# elements do nothing (their pointers may then be NULL). _activations_avx2.pxd /
# _activations_avx512.pxd declare the same for the AVX2 / AVX-512 builds of the module.

from fastnn._core._typedefs cimport floating

cpdef enum Kind:
    BINARY_STEP = 0
    IDENTITY = 1
    SIGMOID = 2
    TANH = 3
    RELU = 4
    LEAKY_RELU = 5
    ELU = 6
    SELU = 7
    SOFTPLUS = 8
    GELU = 9
    GELU_TANH = 10
    SWISH = 11


# Element-wise, over n elements: y = f(x) and dx = g * f'(x); a and b are the activation's
# parameters (negative_slope, alpha, beta, threshold, ...). dx may be x or g (in place).
cdef void _elementwise_forward(Kind kind, const floating* x, floating* y, Py_ssize_t n,
                               floating a, floating b, int n_threads) noexcept nogil
cdef void _elementwise_backward(Kind kind, const floating* x, const floating* g,
                                floating* dx, Py_ssize_t n, floating a, floating b,
                                int n_threads) noexcept nogil

# Swish's learned beta: the sum over n elements of g * d swish / d beta. scratch holds
# n_threads * CHUNK_SIZE values (a chunk buffer per thread), partials one per chunk.
cdef double _swish_beta_grad_total(const floating* x, const floating* g, Py_ssize_t n,
                                   floating beta, floating* scratch, double* partials,
                                   int n_threads) noexcept nogil

# Row-wise over (n_rows, n_cols) buffers. softmax backward: dx must not overlap g.
cdef void _softmax_forward(const floating* x, floating* y, Py_ssize_t n_rows,
                           Py_ssize_t n_cols, int n_threads) noexcept nogil
cdef void _softmax_backward(const floating* x, const floating* g, floating* dx,
                            Py_ssize_t n_rows, Py_ssize_t n_cols, int n_threads) noexcept nogil

# Maxout: x and dx are (n_rows, n_out * pieces), y and g (n_rows, n_out).
cdef void _maxout_forward(const floating* x, floating* y, Py_ssize_t n_rows, Py_ssize_t n_out,
                          Py_ssize_t pieces, int n_threads) noexcept nogil
cdef void _maxout_backward(const floating* x, const floating* g, floating* dx,
                           Py_ssize_t n_rows, Py_ssize_t n_out, Py_ssize_t pieces,
                           int n_threads) noexcept nogil

# PReLU with one slope per column (weight, n_cols values). The backward writes dL/dx into dx
# (which may be x or g) and dL/dweight into weight_grad; partials holds one row of n_cols
# doubles per block of rows_per_block(n_cols) rows.
cdef void _prelu_forward(const floating* x, const floating* weight, floating* y,
                         Py_ssize_t n_rows, Py_ssize_t n_cols, int n_threads) noexcept nogil
cdef void _prelu_backward(const floating* x, const floating* g, const floating* weight,
                          floating* dx, floating* weight_grad, Py_ssize_t n_rows,
                          Py_ssize_t n_cols, double* partials, int n_threads) noexcept nogil

cpdef Py_ssize_t rows_per_block(Py_ssize_t n_cols) noexcept nogil
