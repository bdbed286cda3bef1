from fastnn._core._typedefs cimport floating

# Row-major matrix product C = alpha * op(A) @ op(B) + beta * C, where op(A) is (m, k),
# op(B) is (k, n) and C is (m, n); lda/ldb/ldc are the row strides (in elements) of A, B, C
# as stored. Never called from inside a prange: BLAS threads on its own.
cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil
