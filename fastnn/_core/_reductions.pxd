# Deterministic sums shared by the kernel modules.
#
# A parallel reduction is split into fixed chunks (CHUNK_SIZE elements, see _openmp.pxd);
# each chunk's sum goes into its own slot of a partial-sums buffer and the slots are added in
# chunk order afterwards, so the result does not depend on the number of threads.

from fastnn._core._typedefs cimport floating

cdef enum:
    LANES = 32  # accumulators of the sums below


cdef inline double _sum_lanes(double* acc) noexcept nogil:
    """acc[0] + ... + acc[LANES - 1], neighbours pairwise (a fixed tree); acc is overwritten."""
    cdef Py_ssize_t j, m = LANES
    while m > 1:
        m //= 2
        for j in range(m):
            acc[j] = acc[2 * j] + acc[2 * j + 1]
    return acc[0]


cdef inline double sum_values(const floating* v, Py_ssize_t n) noexcept nogil:
    """Sum of v[0:n] in double, in a fixed order: LANES lane accumulators (lane j takes the
    elements i with i % LANES == j), then the lanes pairwise. gcc keeps the lanes in vector
    registers: four AVX-512 registers of eight doubles, so four independent chains of adds
    (one chain would wait for each add's latency, about 4 cycles per 8 elements); the
    order does not depend on the thread count or the vector width.

    float32 values go to the lanes in fours, added in float32 first: lane j takes
    (v[i + j] + v[i + LANES + j]) + (v[i + 2 LANES + j] + v[i + 3 LANES + j]). Each four is
    off by at most 2 float32 ulps of its magnitude, the precision the values themselves
    carry, and the conversions to double, which cost more than the additions, are a quarter
    as many: measured on a float32 loss's piece of terms (1024 values), the sum went from
    about 15% of binary cross-entropy's time to 5%."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, start = 0, n_lanes = n - n % LANES
    for j in range(LANES):
        acc[j] = 0
    if floating is float:
        start = n - n % (4 * LANES)
        for i in range(0, start, 128):  # 4 * LANES
            for j in range(LANES):
                acc[j] += <double> ((v[i + j] + v[i + LANES + j])
                                    + (v[i + 2 * LANES + j] + v[i + 3 * LANES + j]))
    for i in range(start, n_lanes, 32):  # LANES
        for j in range(LANES):
            acc[j] += v[i + j]
    for i in range(n_lanes, n):
        acc[0] += v[i]
    return _sum_lanes(acc)


cdef inline double dot_values(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """Sum of a[i] * b[i] over [0, n) in double, in sum_values' fixed lane order."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, n_lanes = n - n % LANES
    for j in range(LANES):
        acc[j] = 0
    for i in range(0, n_lanes, 32):  # LANES
        for j in range(LANES):
            acc[j] += <double> a[i + j] * b[i + j]
    for i in range(n_lanes, n):
        acc[0] += <double> a[i] * b[i]
    return _sum_lanes(acc)


cdef inline double abs_sum_values(const floating* v, Py_ssize_t n) noexcept nogil:
    """Sum of |v[i]| over [0, n) in double, in sum_values' fixed lane order."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, j, n_lanes = n - n % LANES
    for j in range(LANES):
        acc[j] = 0
    for i in range(0, n_lanes, 32):  # LANES
        for j in range(LANES):
            acc[j] += v[i + j] if v[i + j] >= 0 else -v[i + j]
    for i in range(n_lanes, n):
        acc[0] += v[i] if v[i] >= 0 else -v[i]
    return _sum_lanes(acc)


cdef inline floating max_value(const floating* v, Py_ssize_t n) noexcept nogil:
    """max(v[0:n]) for n >= 1, over eight lanes (maximum is exact, so the order only matters
    for speed: one compare chain per lane instead of one for the whole row)."""
    cdef floating acc[8]
    cdef Py_ssize_t i, j, n8 = n - n % 8
    for j in range(8):
        acc[j] = v[0]
    for i in range(0, n8, 8):
        for j in range(8):
            acc[j] = v[i + j] if v[i + j] > acc[j] else acc[j]
    for i in range(n8, n):
        acc[0] = v[i] if v[i] > acc[0] else acc[0]
    for j in range(1, 8):
        acc[0] = acc[j] if acc[j] > acc[0] else acc[0]
    return acc[0]


cdef inline double sum_partials(const double* partials, Py_ssize_t n_chunks) noexcept nogil:
    """Add per-chunk partial sums in chunk order."""
    cdef double total = 0
    cdef Py_ssize_t c
    for c in range(n_chunks):
        total += partials[c]
    return total

