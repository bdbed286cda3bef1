/* exp(x) and expm1(x) for x <= 0 in float32, inline: fastnn's own point functions for loops
 * that take exp(-|z|) or exp(x - max) (the logistic losses, softplus, softmax) or
 * expm1(-2|r|) (log cosh). Declared in _math.pxd as _exp_nonpositive and _expm1_nonpositive,
 * which take glibc's vector exp and expm1 for float64 instead.
 *
 * Why: a libmvec call costs the call and the spills of every vector register around it (see
 * _losses.pyx); libmvec's expf also leaves its vector path for large negative arguments,
 * such as the saturated logits of a confident model (measured at -200: about 7x slower). This
 * version is a few vector instructions with no special path, and always_inline: a Cython
 * inline function of this size is one gcc may decline to inline, which would leave a scalar
 * call in the loop. (In float64 the same method needs a degree-13 polynomial and ran 15%
 * slower than libmvec's exp in a loop of its own, so _math.pxd keeps libmvec there.)
 *
 * The method: x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2, exp(x) = 2^k exp(r).
 * - x is clamped at -104, where exp(x) already rounds to 0; the comparison leaves NaN as it
 *   is (NaN < -104 is false).
 * - k is rounded by adding and subtracting 1.5 2^23 (plus 151, below), which leaves the
 *   integer part in the mantissa (round to nearest; fastnn is not built with -ffast-math,
 *   so the compiler keeps the two operations).
 * - r = x - k ln2 in two steps (Cody and Waite): ln2_hi has trailing zero bits, so k ln2_hi
 *   is exact for these k, and ln2_lo carries the rest of ln2.
 * - exp(r) is its Taylor polynomial, sum of r^j / j! to degree 7, whose truncation error
 *   |r|^8 / 8! is below 0.05 ulp (fastnn_exp_taylor_tail_f32, shared with expm1).
 * - 2^k is applied as (p 2^(k + 24)) 2^-24: exp's results go down into the subnormals (k to
 *   -150), where 2^k itself is not a normal float; 2^(k + 24) is, so the first
 *   multiplication is exact and the second rounds once, to the subnormal result. 2^(k + 24)
 *   comes from the bits of the rounded sum itself (one shift per lane, where ldexpf would be
 *   a libm call per element; see fastnn_reduce_ln2_f32).
 * Measured against a long double exp over [-110, 0]: at most 0.93 ulp with FMA, 1.21 ulp
 * without; tests/test_math.py holds it to 2.
 *
 * Speed note: results below the smallest normal (-103.3 < x < -87.3) go through the CPU's
 * slow subnormal path, as in any IEEE multiplication.
 */
#ifndef FASTNN_INLINE_MATH_H
#define FASTNN_INLINE_MATH_H
#include <stdint.h>
#include <string.h>

#define FASTNN_ALWAYS_INLINE static inline __attribute__((always_inline))

/* x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2, for -150.5 ln2 < x <= 0 (see
 * above); returns r, and 2^(k + 24) in *scale (a normal number for every such k). */
FASTNN_ALWAYS_INLINE float fastnn_reduce_ln2_f32(float x, float *scale)
{
    /* 1.5 2^23 + 151: x / ln2 + shift rounds to an integer z, whose low mantissa bits are
     * k + 151 (the 1.5 2^23 keeps z in [2^23, 2^24), where the float spacing is 1), so
     * shifting z's bits left by 23 leaves (k + 24 + 127) << 23, the bits of 2^(k + 24); the
     * rest of z's bits shift out. */
    const float shift = 12583063.0f;
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-06f;
    float z = x * 1.44269504f + shift;
    float kf = z - shift;
    uint32_t bits;
    memcpy(&bits, &z, sizeof bits);
    bits <<= 23;
    memcpy(scale, &bits, sizeof bits);
    return (x - kf * ln2_hi) - kf * ln2_lo;
}

/* The Taylor polynomials of exp(r) and expm1(r) to degree 7 for |r| <= ln2 / 2, whose
 * truncation error |r|^8 / 8! is below 0.05 ulp of exp(r) and 0.2 ulp of expm1(r), share
 * this part: (exp(r) - 1 - r) / r^2 = 1/2 + r/6 + r^2/24 + ... + r^5/7!, by Horner's rule. */
FASTNN_ALWAYS_INLINE float fastnn_exp_taylor_tail_f32(float r)
{
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    return p * r + 0.5f;
}

FASTNN_ALWAYS_INLINE float fastnn_exp_nonpositive_f32(float x)
{
    float r, p, scale;
    x = x < -104.0f ? -104.0f : x;
    r = fastnn_reduce_ln2_f32(x, &scale);
    p = fastnn_exp_taylor_tail_f32(r);
    p = p * r + 1.0f;
    p = p * r + 1.0f;  /* exp(r) */
    /* p 2^(k + 24) is exact; the product with 2^-24 rounds once, into the subnormals too */
    return (p * scale) * 5.9604644775390625e-08f;
}

/* expm1(x) = exp(x) - 1 for x <= 0 in float32, inline, with a relative error of about an
 * ulp everywhere, also near 0 where exp(x) - 1 cancels (fdlibm's method):
 * expm1(x) = 2^k (expm1(r) + 1) - 1 = 2^k expm1(r) + (2^k - 1), with the reduction of exp.
 * - For k = 0 (|x| <= ln2 / 2) r = x exactly and the result is expm1(r) itself, no
 *   cancellation; for k <= -1 the result is <= -0.29 and the sum rounds once (2^k - 1 is
 *   exact, 2^k expm1(r) too without FMA).
 * - expm1(r) is its Taylor polynomial to degree 7 (see fastnn_exp_taylor_tail_f32).
 * - x is clamped at -30: expm1(x) rounds to -1 below -17.4 already, and 2^k stays normal;
 *   NaN passes (NaN < -30 is false), and -inf gives -1. expm1(-0) is +0.
 * Measured against a long double expm1 over [-40, 0]: at most 0.87 ulp with FMA, 0.90 ulp
 * without; tests/test_math.py holds it to 2.
 */
FASTNN_ALWAYS_INLINE float fastnn_expm1_nonpositive_f32(float x)
{
    float r, p, scale;
    x = x < -30.0f ? -30.0f : x;
    r = fastnn_reduce_ln2_f32(x, &scale);
    p = r + (r * r) * fastnn_exp_taylor_tail_f32(r);  /* expm1(r) */
    scale *= 5.9604644775390625e-08f;  /* 2^k, exactly (k >= -44) */
    return scale * p + (scale - 1.0f);
}

#endif
