# Memoryview -> raw pointer for the def entry points of the kernel modules, which hand their
# validated arrays to the pointer-based loops. Empty arrays reach the loops as NULL pointers
# with a zero size (&a[0] of an empty memoryview is out of bounds).

from fastnn._core._typedefs cimport floating


cdef inline const floating* _in1(const floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline floating* _out1(floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline const floating* _in2(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline floating* _out2(floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline double* _work2(double[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL
