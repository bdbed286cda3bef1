# Deterministic sums shared by the kernel modules.
#
# A parallel reduction is split into fixed chunks (CHUNK_SIZE elements, see _openmp.pxd);
# each chunk's sum goes into its own slot of a partial-sums buffer and the slots are added in
# chunk order afterwards, so the result does not depend on the number of threads.

from fastnn._core._typedefs cimport floating


cdef inline double sum_values(const floating* v, Py_ssize_t n) noexcept nogil:
    """Sum of v[0:n] in double, in a fixed order.

    Four interleaved accumulators break the add-latency chain (a single accumulator runs at
    one add per 4 cycles); the order is still fixed, so the result is reproducible.
    """
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t i, n4 = n - n % 4
    for i in range(0, n4, 4):
        s0 += v[i]
        s1 += v[i + 1]
        s2 += v[i + 2]
        s3 += v[i + 3]
    for i in range(n4, n):
        s0 += v[i]
    return (s0 + s1) + (s2 + s3)


cdef inline double sum_partials(const double* partials, Py_ssize_t n_chunks) noexcept nogil:
    """Add per-chunk partial sums in chunk order."""
    cdef double total = 0
    cdef Py_ssize_t c
    for c in range(n_chunks):
        total += partials[c]
    return total
