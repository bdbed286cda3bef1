/* Let gcc vectorise the transcendental functions of the kernels.
 *
 * glibc (>= 2.35 on x86_64) ships vector variants of expf, logf, tanhf, erfcf ... in
 * libmvec, but <math.h> declares them only under -ffast-math, which fastnn does not use (it
 * would break NaN and inf handling). Declaring the same "simd" attribute here, without
 * -ffast-math, lets gcc call e.g. _ZGVbN4v_expf on 4 floats at once while keeping IEEE
 * semantics for everything else. setup.py probes that this links and runs; if not, it
 * defines FASTNN_NO_SIMD_MATH and the loops stay scalar.
 */
#ifndef FASTNN_SIMD_MATH_H
#define FASTNN_SIMD_MATH_H
#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) \
    && !defined(__FAST_MATH__) && !defined(FASTNN_NO_SIMD_MATH)
#if __GLIBC_PREREQ(2, 35)
#define FASTNN_SIMD_DECL __attribute__((__simd__("notinbranch")))
FASTNN_SIMD_DECL double exp(double);
FASTNN_SIMD_DECL float expm1f(float);
FASTNN_SIMD_DECL double expm1(double);
FASTNN_SIMD_DECL double log(double);
FASTNN_SIMD_DECL float tanhf(float);
FASTNN_SIMD_DECL double tanh(double);
FASTNN_SIMD_DECL float erfcf(float);
FASTNN_SIMD_DECL double erfc(double);
#endif
#endif

#endif
