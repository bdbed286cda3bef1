# Type-generic scalar maths for the kernels: _tanh(x) calls tanhf for float and tanh for
# double, and so on. The C functions come from _simd_math.h, which gives the transcendental
# ones the "simd" attribute: in a loop gcc can vectorise, each call becomes a call of glibc's
# vector variant (libmvec), 4/8/16 elements at a time depending on the instruction set the
# module is compiled for. Keep loops that call these branch-free (selects are fine) so that they
# vectorise; -fno-math-errno (setup.py) lets gcc inline sqrt and fabs as instructions.
# _log1p_unit, _exp_nonpositive and _expm1_nonpositive (float32) are fastnn's own: polynomials
# for a bounded argument, inlined in the loop (in C, _inline_math.h; _log1p_unit's float64
# polynomial is here); so are _exp and _log in float32 (_inline_math.h), for every argument,
# and _log_positive and _log_positive_normal, the same log for narrower arguments.

from fastnn._core._typedefs cimport floating

cdef extern from "_simd_math.h" nogil:
    double exp(double)
    float expm1f(float)
    double expm1(double)
    double log(double)
    float tanhf(float)
    double tanh(double)
    float erfcf(float)
    double erfc(double)
    float fabsf(float)
    double fabs(double)
    float sqrtf(float)
    double sqrt(double)

cdef extern from "_inline_math.h" nogil:
    float _exp_nonpositive_f32 "fastnn_exp_nonpositive_f32"(float x)
    float _expm1_nonpositive_f32 "fastnn_expm1_nonpositive_f32"(float x)
    float _log_f32 "fastnn_log_f32"(float x)
    float _log_positive_f32 "fastnn_log_positive_f32"(float x)
    float _log_positive_normal_f32 "fastnn_log_positive_normal_f32"(float x)
    float _exp_f32 "fastnn_exp_f32"(float x)
    float _log1p_unit_f32 "fastnn_log1p_unit_f32"(float e)


cdef inline floating _exp(floating x) noexcept nogil:
    """exp(x): inline C for float32 (_inline_math.h: gcc vectorises it in the loop, where
    expf would be a libmvec call), glibc's exp in float64."""
    if floating is float:
        return _exp_f32(x)
    else:
        return exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log(floating x) noexcept nogil:
    """log(x): inline C for float32 (_inline_math.h: gcc vectorises it in the loop, where
    logf would be a libmvec call), glibc's log in float64."""
    if floating is float:
        return _log_f32(x)
    else:
        return log(x)


cdef inline floating _log_positive(floating x) noexcept nogil:
    """log(x) for 0 < x < inf (subnormals too); meaningless elsewhere (a finite value or NaN),
    so the caller must flag such inputs itself. In float32 the same bits as _log with fewer
    operations (_inline_math.h); glibc's log in float64."""
    if floating is float:
        return _log_positive_f32(x)
    else:
        return log(x)


cdef inline floating _log_positive_normal(floating x) noexcept nogil:
    """_log_positive for positive, normal, finite x, such as a probability clipped to
    [eps, 1]: one step fewer in float32."""
    if floating is float:
        return _log_positive_normal_f32(x)
    else:
        return log(x)


cdef inline floating _log1p_unit(floating e) noexcept nogil:
    """log(1 + e) for 0 <= e <= 1 (NaN gives NaN), as e Q(2e - 1).

    A plain polynomial vectorises inline, where a libmvec log1p call costs a call, its
    register spills and a range reduction that this bounded argument does not need. The
    callers' e is exp(-|z|), in [0, 1] by construction (softplus, log1p(exp(-|x|)) in the
    logistic losses, log cosh).

    Q(t) interpolates log1p(e) / e, analytic on [0, 1] (its singularity is at e = -1), at
    the Chebyshev points in t = 2e - 1 in [-1, 1]: degree 9 for float, 20 for double, where
    the truncation error is below 0.1 ulp. The coefficients decay as 5.8^-k, so Horner's rule
    in t is stable, and factoring out e keeps the relative error uniform as e -> 0, where
    log1p(e) ~ e. Measured against a long double log1p: 1.84 ulp (float) and 1.27 ulp
    (double; 1.44 without FMA) at most; tests/test_math.py holds them to 2. The coefficients
    are the Chebyshev interpolant, converted to powers of t, computed with mpmath at 50
    digits and rounded once:
    numpy.polynomial.chebyshev.chebinterpolate + cheb2poly reproduce the float ones. The
    float polynomial is fastnn_log1p_unit_f32 in _inline_math.h, which evaluates it in
    u = t / 2 with those coefficients times 2^k: the same bits, and one FMA fewer (the
    AVX-512 pieces of _pieces.h share it as fastnn_log1p_unit_ps16).
    """
    cdef floating one = 1, two = 2
    cdef floating t, q
    if floating is float:
        return _log1p_unit_f32(e)
    else:
        t = two * e - one
        q = <double> 2.3305868099766681e-11
        q = q * t + <double> -7.3170422461702817e-11
        q = q * t + <double> 1.0787232813120478e-10
        q = q * t + <double> -3.4201387979303409e-10
        q = q * t + <double> 1.3631139231596789e-09
        q = q * t + <double> -4.3365485504147428e-09
        q = q * t + <double> 1.3500470517435648e-08
        q = q * t + <double> -4.3313047830935527e-08
        q = q * t + <double> 1.3990346886420576e-07
        q = q * t + <double> -4.5354366598033807e-07
        q = q * t + <double> 1.4798682669311618e-06
        q = q * t + <double> -4.8668773335915286e-06
        q = q * t + <double> 1.6156949099580387e-05
        q = q * t + <double> -5.4260898242074321e-05
        q = q * t + <double> 0.00018490300180466052
        q = q * t + <double> -0.0006421503724725223
        q = q * t + <double> 0.0022882409076902767
        q = q * t + <double> -0.0084610804138705361
        q = q * t + <double> 0.033152438438550938
        q = q * t + <double> -0.14426354954966195
        q = q * t + <double> 0.81093021621632877
        return e * q


cdef inline floating _exp_nonpositive(floating x) noexcept nogil:
    """exp(x) for x <= 0 (NaN gives NaN), down into the subnormals and to 0: inline C for
    float32 (_inline_math.h: the method, its accuracy and why), glibc's exp for float64."""
    if floating is float:
        return _exp_nonpositive_f32(x)
    else:
        return exp(x)


cdef inline floating _expm1_nonpositive(floating x) noexcept nogil:
    """expm1(x) for x <= 0 (NaN gives NaN, -inf gives -1), accurate near 0: inline C for
    float32 (_inline_math.h), glibc's expm1 for float64."""
    if floating is float:
        return _expm1_nonpositive_f32(x)
    else:
        return expm1(x)


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
