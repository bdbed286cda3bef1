# Type-generic scalar maths for the kernels: _exp(x) calls expf for float and exp for double,
# and so on. The C functions come from _simd_math.h, which gives the transcendental ones the
# "simd" attribute: in a loop gcc can vectorise, each call becomes a call of glibc's vector
# variant (libmvec), 4/8/16 elements at a time depending on the instruction set the module is
# compiled for. Keep loops that call these branch-free (selects are fine) so that they
# vectorise; -fno-math-errno (setup.py) lets gcc inline sqrt and fabs as instructions.

from fastnn._core._typedefs cimport floating

cdef extern from "_simd_math.h" nogil:
    float expf(float)
    double exp(double)
    float expm1f(float)
    double expm1(double)
    float log1pf(float)
    double log1p(double)
    float logf(float)
    double log(double)
    float tanhf(float)
    double tanh(double)
    float erfcf(float)
    double erfc(double)
    float fabsf(float)
    double fabs(double)
    float sqrtf(float)
    double sqrt(double)


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _erfc(floating x) noexcept nogil:
    if floating is float:
        return erfcf(x)
    else:
        return erfc(x)


cdef inline floating _fabs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline floating _clamp(floating x, floating bound) noexcept nogil:
    """x limited to [-bound, bound]; NaN stays NaN (both comparisons are false)."""
    return bound if x > bound else (-bound if x < -bound else x)
