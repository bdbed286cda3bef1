"""Entry points to the point functions of _math.pxd that fastnn implements itself, and to the
fixed-order sum of _reductions.pxd, for the tests: each applies the function to an array in
a plain loop, which gcc vectorises as it does in the kernels (the same instruction set as
the variant's kernels). Not public API."""
from fastnn._core._math cimport (_exp, _exp_nonpositive, _expm1_nonpositive, _log, _log1p_unit,
                                 _log_positive, _log_positive_normal)
from fastnn._core._reductions cimport sum_values as _sum_values
from fastnn._core._typedefs cimport floating

cdef extern from "_inline_math.h" nogil:
    bint HAS_PS16 "FASTNN_HAS_PS16"
    void _ps16_array "fastnn_ps16_array"(int which, const float* x, float* out, Py_ssize_t n)

# Whether this variant has the functions of 16 floats in a register (AVX-512 builds):
# fastnn_log_ps16, fastnn_exp_nonpositive_ps16, fastnn_log1p_unit_ps16.
has_ps16 = HAS_PS16
PS16_FUNCTIONS = {"log": 0, "exp_nonpositive": 1, "log1p_unit": 2}


def log1p_unit(const floating[::1] e, floating[::1] out):
    """out[i] = log(1 + e[i]) for 0 <= e[i] <= 1 (the polynomial of _math._log1p_unit)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(e.shape[0]):
            out[i] = _log1p_unit(e[i])


def exp_nonpositive(const floating[::1] x, floating[::1] out):
    """out[i] = exp(x[i]) for x[i] <= 0 (_math._exp_nonpositive: fastnn's inline exp in
    float32, glibc's exp in float64)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _exp_nonpositive(x[i])


def expm1_nonpositive(const floating[::1] x, floating[::1] out):
    """out[i] = expm1(x[i]) for x[i] <= 0 (_math._expm1_nonpositive: fastnn's inline expm1
    in float32, glibc's expm1 in float64)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _expm1_nonpositive(x[i])


def exp(const floating[::1] x, floating[::1] out):
    """out[i] = exp(x[i]) (_math._exp: fastnn's inline exp in float32, glibc's exp in
    float64)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _exp(x[i])


def log(const floating[::1] x, floating[::1] out):
    """out[i] = log(x[i]) (_math._log: fastnn's inline log in float32, glibc's log in
    float64)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _log(x[i])


def log_positive(const floating[::1] x, floating[::1] out):
    """out[i] = log(x[i]) for 0 < x[i] < inf (_math._log_positive)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _log_positive(x[i])


def log_positive_normal(const floating[::1] x, floating[::1] out):
    """out[i] = log(x[i]) for positive, normal, finite x[i] (_math._log_positive_normal)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _log_positive_normal(x[i])


def ps16(name, const float[::1] x, float[::1] out):
    """out[i] = f(x[i]) by the AVX-512 function of 16 floats of _inline_math.h named
    fastnn_<name>_ps16 (name: log, exp_nonpositive, log1p_unit). The variants without
    AVX-512 do not have them (has_ps16)."""
    cdef int which = PS16_FUNCTIONS[name]
    if not HAS_PS16:
        raise NotImplementedError("fastnn's ps16 functions need an AVX-512 build")
    if x.shape[0] > 0:
        with nogil:
            _ps16_array(which, &x[0], &out[0], x.shape[0])


def sum_values(const floating[::1] v):
    """The sum of v in double, in _reductions.sum_values' fixed order (float32 in fours)."""
    cdef double total
    with nogil:
        total = _sum_values(&v[0], v.shape[0]) if v.shape[0] > 0 else 0.0
    return total
