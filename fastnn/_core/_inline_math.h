/* exp(x) for x <= 0, inline: fastnn's own point function for loops that take exp(-|z|)
 * (the logistic losses). Declared in _math.pxd as _exp_nonpositive.
 *
 * Why in C: a libmvec call costs the call and the spills of every vector register around it
 * (see _losses.pyx), and a Cython inline function of this size is one gcc may decline to
 * inline, which leaves a scalar call in the loop; always_inline here keeps the whole loop
 * one vectorised pass.
 *
 * The method: x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2, exp(x) = 2^k exp(r).
 * - x is clamped at -104 (float) / -746 (double), where exp(x) already rounds to 0; the
 *   comparison leaves NaN as it is (NaN < bound is false).
 * - k is rounded by adding and subtracting 1.5 2^23 / 1.5 2^52, which leaves the integer
 *   part in the mantissa (round to nearest; fastnn is not built with -ffast-math, so the
 *   compiler keeps the two operations).
 * - r = x - k ln2 in two steps (Cody and Waite): LN2_HI has trailing zero bits, so k LN2_HI
 *   is exact for these k, and LN2_LO carries the rest of ln2.
 * - exp(r) is its Taylor polynomial, sum of r^j / j!, to degree 7 (float) / 13 (double),
 *   where the truncation error |r|^(d+1) / (d+1)! is below 0.05 / 0.01 ulp.
 * - 2^k is built from its bits, (k + bias) << mantissa bits (a shift and an add per lane,
 *   where ldexp would be a libm call per element). One such factor is normal only for
 *   k >= -126 / -1022, and exp's results go down into the subnormals (k to -150 / -1075),
 *   so the product is (p 2^k1) 2^k2 with k1 = floor(k / 2), k2 = k - k1: the first
 *   multiplication is exact and the second rounds once, to the subnormal result.
 * Measured against a long double exp over [-110, 0] / [-750, 0]: at most 0.93 / 0.87 ulp with
 * FMA, 1.21 / 1.14 ulp without; tests/test_math.py holds them to 2.
 *
 * Speed note: results below the smallest normal (x < -87.3 / -708.4) go through the CPU's
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

FASTNN_ALWAYS_INLINE double fastnn_pow2_f64(int32_t k)
{
    uint64_t bits = (uint64_t) (int64_t) (k + 1023) << 52;
    double f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

FASTNN_ALWAYS_INLINE float fastnn_exp_nonpositive_f32(float x)
{
    const float shift = 12582912.0f;  /* 1.5 2^23 */
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-06f;
    float kf, r, p;
    int32_t k, k1;
    x = x < -104.0f ? -104.0f : x;
    kf = (x * 1.44269504f + shift) - shift;
    r = (x - kf * ln2_hi) - kf * ln2_lo;
    p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    k = (int32_t) kf;
    k1 = k >> 1;  /* arithmetic shift: floor(k / 2) */
    return p * fastnn_pow2_f32(k1) * fastnn_pow2_f32(k - k1);
}

FASTNN_ALWAYS_INLINE double fastnn_exp_nonpositive_f64(double x)
{
    const double shift = 6755399441055744.0;  /* 1.5 2^52 */
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double kf, r, p;
    int32_t k, k1;
    x = x < -746.0 ? -746.0 : x;
    kf = (x * 1.4426950408889634 + shift) - shift;
    r = (x - kf * ln2_hi) - kf * ln2_lo;
    p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    k = (int32_t) kf;
    k1 = k >> 1;
    return p * fastnn_pow2_f64(k1) * fastnn_pow2_f64(k - k1);
}

#endif
