/* exp(x) for x <= 0 in float32, inline: fastnn's own point function for loops that take
 * exp(-|z|) or exp(x - max) (the logistic losses, softplus, softmax). Declared in _math.pxd
 * as _exp_nonpositive, which takes glibc's vector exp for float64 instead.
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
 * - k is rounded by adding and subtracting 1.5 2^23, which leaves the integer part in the
 *   mantissa (round to nearest; fastnn is not built with -ffast-math, so the compiler keeps
 *   the two operations).
 * - r = x - k ln2 in two steps (Cody and Waite): ln2_hi has trailing zero bits, so k ln2_hi
 *   is exact for these k, and ln2_lo carries the rest of ln2.
 * - exp(r) is its Taylor polynomial, sum of r^j / j! to degree 7, whose truncation error
 *   |r|^8 / 8! is below 0.05 ulp.
 * - 2^k is built from its bits, (k + 127) << 23 (a shift and an add per lane, where ldexpf
 *   would be a libm call per element). One such factor is normal only for k >= -126, and
 *   exp's results go down into the subnormals (k to -150), so the product is
 *   (p 2^k1) 2^k2 with k1 = floor(k / 2), k2 = k - k1: the first multiplication is exact
 *   and the second rounds once, to the subnormal result.
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

FASTNN_ALWAYS_INLINE float fastnn_pow2_f32(int32_t k)
{
    uint32_t bits = (uint32_t) (k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2 (see above); returns r and k. */
FASTNN_ALWAYS_INLINE float fastnn_reduce_ln2_f32(float x, int32_t *k)
{
    const float shift = 12582912.0f;  /* 1.5 2^23 */
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-06f;
    float kf = (x * 1.44269504f + shift) - shift;
    *k = (int32_t) kf;
    return (x - kf * ln2_hi) - kf * ln2_lo;
}

FASTNN_ALWAYS_INLINE float fastnn_exp_nonpositive_f32(float x)
{
    float r, p;
    int32_t k, k1;
    x = x < -104.0f ? -104.0f : x;
    r = fastnn_reduce_ln2_f32(x, &k);
    p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    k1 = k >> 1;  /* arithmetic shift: floor(k / 2) */
    return p * fastnn_pow2_f32(k1) * fastnn_pow2_f32(k - k1);
}

/* expm1(x) = exp(x) - 1 for x <= 0 in float32, inline, with a relative error of about an
 * ulp everywhere, also near 0 where exp(x) - 1 cancels (fdlibm's method):
 * expm1(x) = 2^k (expm1(r) + 1) - 1 = 2^k expm1(r) + (2^k - 1), with the reduction of exp.
 * - For k = 0 (|x| <= ln2 / 2) r = x exactly and the result is expm1(r) itself, no
 *   cancellation; for k <= -1 the result is <= -0.29 and the sum rounds once (2^k - 1 is
 *   exact, 2^k expm1(r) too without FMA).
 * - expm1(r) = r + r^2 (1/2 + r/6 + ... + r^5/7!), the Taylor polynomial to degree 7: its
 *   truncation error r^8 / 8! is below 0.2 ulp.
 * - x is clamped at -30: expm1(x) rounds to -1 below -17.4 already, and 2^k stays normal;
 *   NaN passes (NaN < -30 is false), and -inf gives -1. expm1(-0) is +0.
 * Measured against a long double expm1 over [-40, 0]: tests/test_math.py holds it to 2 ulp.
 */
FASTNN_ALWAYS_INLINE float fastnn_expm1_nonpositive_f32(float x)
{
    float r, p, scale;
    int32_t k;
    x = x < -30.0f ? -30.0f : x;
    r = fastnn_reduce_ln2_f32(x, &k);
    p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = r + (r * r) * p;  /* expm1(r) */
    scale = fastnn_pow2_f32(k);
    return scale * p + (scale - 1.0f);
}

#endif
