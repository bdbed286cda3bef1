"""The one module that calls BLAS (through scipy.linalg.cython_blas).

BLAS is column-major; fastnn's arrays are row-major. A row-major (m, n) matrix is the
column-major (n, m) matrix of its transpose, so C = op(A) op(B) in row-major is computed as
C^T = op(B)^T op(A)^T in column-major: swap the operands and their transpose flags, and swap
m and n. No data is copied.
"""
import numpy as np

from scipy.linalg.cython_blas cimport dgemm, sgemm

from fastnn._core._typedefs cimport floating


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if m == 0 or n == 0:
        return
    # BLAS wants non-const pointers; it does not write to A or B.
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)


cdef void _gemm_arrays(bint trans_a, bint trans_b, floating alpha,
                       const floating[:, ::1] a, const floating[:, ::1] b,
                       floating beta, floating[:, ::1] c) noexcept nogil:
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    # A (m, 0) @ (0, n) product is all zeros; BLAS needs lda >= 1 even for empty operands.
    gemm(trans_a, trans_b, c.shape[0], c.shape[1], k, alpha,
         &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else <floating*> NULL,
         max(a.shape[1], 1),
         &b[0, 0] if b.shape[0] > 0 and b.shape[1] > 0 else <floating*> NULL,
         max(b.shape[1], 1),
         beta, &c[0, 0], max(c.shape[1], 1))


def _as_row_major(x, transposed):
    """A C-contiguous view of x or of x.T (flipping the transpose flag), copying only
    arrays that are neither C- nor F-contiguous."""
    if x.flags.c_contiguous:
        return x, transposed
    if x.flags.f_contiguous:
        return x.T, not transposed
    return np.ascontiguousarray(x), transposed


def gemm_arrays(a, b, out=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """out = alpha * op(a) @ op(b) + beta * out, through BLAS sgemm/dgemm.

    a, b: 2-D float32 or float64 arrays of one dtype, any memory layout (C- and
    F-contiguous arrays are used as they are, other strides are copied once). out, if given,
    must be C-contiguous, writable, of shape (m, n) and of the same dtype; with beta=0 its
    contents are ignored. Returns out.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"gemm: {name} must be float32 or float64, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"gemm: {name} must be 2-D, got {x.ndim}-D shape {x.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"gemm: a and b must have one dtype, got {a.dtype} and {b.dtype}")
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    k_b, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != k_b:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {(m, k)}, "
                         f"op(b) is {(k_b, n)}")
    if out is None:
        out = np.zeros((m, n), dtype=a.dtype)
        beta = 0.0
    else:
        if not isinstance(out, np.ndarray) or out.dtype != a.dtype:
            raise TypeError(f"gemm: out must be a {a.dtype} ndarray")
        if out.shape != (m, n):
            raise ValueError(f"gemm: out has shape {out.shape}, expected {(m, n)}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("gemm: out must be C-contiguous and writable")
    a, trans_a = _as_row_major(a, bool(trans_a))
    b, trans_b = _as_row_major(b, bool(trans_b))
    _gemm(trans_a, trans_b, alpha, a, b, beta, out)
    return out


def _gemm(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] a,
          const floating[:, ::1] b, double beta, floating[:, ::1] c):
    with nogil:
        _gemm_arrays(trans_a, trans_b, <floating> alpha, a, b, <floating> beta, c)
