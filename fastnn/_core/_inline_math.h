/* exp(x) and expm1(x) for x <= 0, exp(x) and log(x) for every x, and log(1 + e) for e in
 * [0, 1], in float32, inline: fastnn's own point functions for loops that take exp(-|z|) or
 * exp(x - max) (the logistic losses, softplus, softmax), expm1(-2|r|) (log cosh), the exp of
 * a log-mean (poisson), the log of anything (the losses) or log1p(exp(-|z|)). Declared in
 * _math.pxd as _exp_nonpositive, _expm1_nonpositive, and (in _exp, _log, _log_positive,
 * _log_positive_normal and _log1p_unit) fastnn_exp_f32, the three logs fastnn_log_f32,
 * fastnn_log_positive_f32 and fastnn_log_positive_normal_f32, and fastnn_log1p_unit_f32,
 * which take glibc's vector exp, expm1 and log, and a polynomial of their own, for float64
 * instead. At the end of this file:
 * log, exp of x <= 0 and log1p of e in [0, 1] of 16 floats in an AVX-512 register
 * (fastnn_log_ps16, fastnn_exp_nonpositive_ps16, fastnn_log1p_unit_ps16), for code written
 * in intrinsics.
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
 * - exp(r) = 1 + r + r^2 P(r), a polynomial of degree 6 whose approximation error is below
 *   0.1 ulp (P: fastnn_exp_tail_f32, shared with expm1).
 * - 2^k is applied as (p 2^(k + 24)) 2^-24: exp's results go down into the subnormals (k to
 *   -150), where 2^k itself is not a normal float; 2^(k + 24) is, so the first
 *   multiplication is exact and the second rounds once, to the subnormal result. 2^(k + 24)
 *   comes from the bits of the rounded sum itself (one shift per lane, where ldexpf would be
 *   a libm call per element; see fastnn_reduce_ln2_f32).
 * Measured against a long double exp on every float in [-110, 0]: at most 0.92 ulp with FMA,
 * 1.22 ulp without; tests/test_math.py holds it to 2.
 *
 * Speed note: results below the smallest normal (-103.3 < x < -87.3) go through the CPU's
 * slow subnormal path, as in any IEEE multiplication.
 */
#ifndef FASTNN_INLINE_MATH_H
#define FASTNN_INLINE_MATH_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FASTNN_ALWAYS_INLINE static inline __attribute__((always_inline))

/* ln2 in two parts (Cody and Waite): LN2_HI has trailing zero bits, so k LN2_HI is exact for
 * |k| <= 152, and LN2_LO carries the rest of ln2. Used by the exps' reduction and the logs. */
#define FASTNN_LN2_HI 0.693145751953125f
#define FASTNN_LN2_LO 1.42860682030941723212e-06f

/* 1 / ln2, and the shift that rounds x / ln2 to an integer k in the exps' reduction (below),
 * leaving k + 151 in the low mantissa bits (shared by the scalar exps and
 * fastnn_exp_nonpositive_ps16); FASTNN_TWO_M24 = 2^-24 undoes the 24 of the scalar exps'
 * scale 2^(k + 24). */
#define FASTNN_LOG2E 1.44269504f
#define FASTNN_EXP_SHIFT 12583063.0f
#define FASTNN_TWO_M24 5.9604644775390625e-08f

/* x = k ln2 + r with k = round(x / ln2), |r| <= ln2 / 2, for |x| <= 150.5 ln2; returns r,
 * and in *z_bits the bits of z = 1.5 2^23 + 151 + k, which carry k (see below). */
FASTNN_ALWAYS_INLINE float fastnn_reduce_ln2_bits_f32(float x, uint32_t *z_bits)
{
    /* 1.5 2^23 + 151: x / ln2 + shift rounds to an integer z (the 1.5 2^23 keeps z in
     * [2^23, 2^24), where the float spacing is 1) whose low mantissa bits are k + 151. */
    const float shift = FASTNN_EXP_SHIFT;
    float z = x * FASTNN_LOG2E + shift;
    float kf = z - shift;
    memcpy(z_bits, &z, sizeof *z_bits);
    return (x - kf * FASTNN_LN2_HI) - kf * FASTNN_LN2_LO;
}

/* The reduction for -150.5 ln2 < x <= 0 (see above); returns r, and 2^(k + 24) in *scale (a
 * normal number for every such k): shifting z's bits left by 23 leaves (k + 24 + 127) << 23,
 * the bits of 2^(k + 24); the rest of z's bits shift out. */
FASTNN_ALWAYS_INLINE float fastnn_reduce_ln2_f32(float x, float *scale)
{
    uint32_t bits;
    float r = fastnn_reduce_ln2_bits_f32(x, &bits);
    bits <<= 23;
    memcpy(scale, &bits, sizeof bits);
    return r;
}

/* P(r) ~ (exp(r) - 1 - r) / r^2 for |r| <= ln2 / 2, of degree 4, by Horner's rule: exp(r) =
 * 1 + r + r^2 P(r) and expm1(r) = r + r^2 P(r) share it. P is the float32 minimax polynomial
 * in the relative error of expm1 (the larger of the two; computed by linear programming on
 * 3000 Chebyshev points of [-0.3466, 0.3466], the coefficients rounded to float32 from the
 * highest down, the rest fitted again after each): its error is below 0.29 2^-24 of
 * expm1(r) and 0.1 2^-24 of exp(r). The Taylor polynomial it replaces had degree 7 (about
 * the same error), one FMA more per exp: the softmax tile (_tiles.h) took 0.96x the time
 * with this one. */
#define FASTNN_EXP_P2 0.4999999701976776f
#define FASTNN_EXP_P3 0.1666654348373413f
#define FASTNN_EXP_P4 0.04166720062494278f
#define FASTNN_EXP_P5 0.008366519585251808f
#define FASTNN_EXP_P6 0.0013882543426007032f

FASTNN_ALWAYS_INLINE float fastnn_exp_tail_f32(float r)
{
    float p = FASTNN_EXP_P6;
    p = p * r + FASTNN_EXP_P5;
    p = p * r + FASTNN_EXP_P4;
    p = p * r + FASTNN_EXP_P3;
    return p * r + FASTNN_EXP_P2;
}

/* exp(r) = 1 + r (1 + r P(r)), for |r| <= ln2 / 2. */
FASTNN_ALWAYS_INLINE float fastnn_exp_poly_f32(float r)
{
    float p = fastnn_exp_tail_f32(r);
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

FASTNN_ALWAYS_INLINE float fastnn_exp_nonpositive_f32(float x)
{
    float r, p, scale;
    x = x < -104.0f ? -104.0f : x;
    r = fastnn_reduce_ln2_f32(x, &scale);
    p = fastnn_exp_poly_f32(r);
    /* p 2^(k + 24) is exact; the product with 2^-24 rounds once, into the subnormals too */
    return (p * scale) * FASTNN_TWO_M24;
}

/* expm1(x) = exp(x) - 1 for x <= 0 in float32, inline, with a relative error of about an
 * ulp everywhere, also near 0 where exp(x) - 1 cancels (fdlibm's method):
 * expm1(x) = 2^k (expm1(r) + 1) - 1 = 2^k expm1(r) + (2^k - 1), with the reduction of exp.
 * - For k = 0 (|x| <= ln2 / 2) r = x exactly and the result is expm1(r) itself, no
 *   cancellation; for k <= -1 the result is <= -0.29 and the sum rounds once (2^k - 1 is
 *   exact, 2^k expm1(r) too without FMA).
 * - expm1(r) = r + r^2 P(r), with exp's polynomial (see fastnn_exp_tail_f32).
 * - x is clamped at -30: expm1(x) rounds to -1 below -17.4 already, and 2^k stays normal;
 *   NaN passes (NaN < -30 is false), and -inf gives -1. expm1(-0) is +0.
 * Measured against a long double expm1 on every float in [-40, 0]: at most 0.95 ulp with
 * FMA, 1.07 ulp without; tests/test_math.py holds it to 2.
 */
FASTNN_ALWAYS_INLINE float fastnn_expm1_nonpositive_f32(float x)
{
    float r, p, scale;
    x = x < -30.0f ? -30.0f : x;
    r = fastnn_reduce_ln2_f32(x, &scale);
    p = r + (r * r) * fastnn_exp_tail_f32(r);  /* expm1(r) */
    scale *= FASTNN_TWO_M24;  /* 2^k, exactly (k >= -44) */
    return scale * p + (scale - 1.0f);
}

/* exp(x) for every x in float32, inline (poisson's exp of a log-mean, of either sign): the
 * method of fastnn_exp_nonpositive_f32, with x clamped to [-104, 89] (exp(89) overflows to
 * inf, as exp(x) does beyond 88.73; NaN passes) and 2^k applied as two factors 2^k1 2^k2,
 * k1 = floor(k / 2), k2 = k - k1, each a normal number for k in [-151, 129]: p 2^k1 is exact
 * and the second product rounds once, into the subnormals below and to inf above. Measured
 * against a long double exp: tests/test_math.py holds it to 2 ulp over [-105, 89]. */
FASTNN_ALWAYS_INLINE float fastnn_exp_f32(float x)
{
    float r, p, scale1, scale2;
    uint32_t z_bits, bits1, bits2;
    int32_t k, k1;
    x = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
    r = fastnn_reduce_ln2_bits_f32(x, &z_bits);
    k = (int32_t) (z_bits - 0x4b400097u);  /* the bits of 1.5 2^23 + 151 */
    k1 = k >> 1;  /* an arithmetic shift: floor(k / 2) */
    bits1 = (uint32_t) (k1 + 127) << 23;
    bits2 = (uint32_t) (k - k1 + 127) << 23;
    memcpy(&scale1, &bits1, sizeof bits1);
    memcpy(&scale2, &bits2, sizeof bits2);
    p = fastnn_exp_poly_f32(r);
    return (p * scale1) * scale2;
}

/* log(1 + e) for 0 <= e <= 1 in float32 (NaN gives NaN), inline: _log1p_unit of _math.pxd in
 * float32 (see there for the polynomial, its fit and its accuracy), e Q(t) with t = 2e - 1 in
 * [-1, 1], written in u = e - 1/2 = t / 2 with the coefficients of t^k times 2^k (the D_k
 * below). Scaling by powers of 2 is exact, so each step of Horner's rule in u is 2^k times
 * the one in t and the result has the same bits; u takes a subtraction where t takes an FMA
 * (on AVX-512 hosts, the FMA units are what the logistic losses wait for). */
#define FASTNN_LOG1P_UNIT_D0 0.8109301924705505f
#define FASTNN_LOG1P_UNIT_D1 (-0.28852710127830505f)
#define FASTNN_LOG1P_UNIT_D2 0.13260900974273682f
#define FASTNN_LOG1P_UNIT_D3 (-0.06768818944692612f)
#define FASTNN_LOG1P_UNIT_D4 0.03663523495197296f
#define FASTNN_LOG1P_UNIT_D5 (-0.02056318335235119f)
#define FASTNN_LOG1P_UNIT_D6 0.011577685363590717f
#define FASTNN_LOG1P_UNIT_D7 (-0.006788016762584448f)
#define FASTNN_LOG1P_UNIT_D8 0.00525027047842741f
#define FASTNN_LOG1P_UNIT_D9 (-0.0031760570127516985f)

FASTNN_ALWAYS_INLINE float fastnn_log1p_unit_f32(float e)
{
    float u = e - 0.5f;
    float q = FASTNN_LOG1P_UNIT_D9;
    q = q * u + FASTNN_LOG1P_UNIT_D8;
    q = q * u + FASTNN_LOG1P_UNIT_D7;
    q = q * u + FASTNN_LOG1P_UNIT_D6;
    q = q * u + FASTNN_LOG1P_UNIT_D5;
    q = q * u + FASTNN_LOG1P_UNIT_D4;
    q = q * u + FASTNN_LOG1P_UNIT_D3;
    q = q * u + FASTNN_LOG1P_UNIT_D2;
    q = q * u + FASTNN_LOG1P_UNIT_D1;
    q = q * u + FASTNN_LOG1P_UNIT_D0;
    return e * q;
}

/* The coefficients of Q, log(m) = f + f^2 Q(f) for f = m - 1 in [-0.25, 0.5): both logs below
 * use them (see fastnn_log_ps16 for the fit). */
#define FASTNN_LOG_Q0 (-0.5000006f)
#define FASTNN_LOG_Q1 0.3333355f
#define FASTNN_LOG_Q2 (-0.24993442f)
#define FASTNN_LOG_Q3 0.19977078f
#define FASTNN_LOG_Q4 (-0.16822822f)
#define FASTNN_LOG_Q5 0.14983922f
#define FASTNN_LOG_Q6 (-0.12067307f)
#define FASTNN_LOG_Q7 0.054131635f

/* log(x) in float32, inline: the method of fastnn_log_ps16 below (see there), written with
 * the bits of x so that gcc vectorises it in any instruction set, where glibc's logf would
 * be a libmvec call (a call clobbers every vector register: see _losses.pyx). Three entry
 * points, from the narrowest domain to every x, each the one before plus one step:
 * - fastnn_log_positive_normal_f32: x positive, normal and finite (such as max(p, eps)).
 *   x = m 2^e with m in [0.75, 1.5): subtracting the bits of 0.75 from those of x leaves e
 *   in the exponent field (an arithmetic shift takes it out, negative e included) and m's
 *   mantissa below it, to which the bits of 0.75 are added back. log(m) = f + f^2 Q(f),
 *   f = m - 1 (exact), and e ln2 added in two parts, in the same operations as
 *   fastnn_log_ps16, which gives bitwise the same results where both exist
 *   (tests/test_math.py checks it; with FMA, as gcc contracts a * b + c).
 * - fastnn_log_positive_f32: 0 < x < inf, subnormals too. Subnormal x are scaled by 2^23
 *   first (exact), and 23 taken off e. The scale (1 or 2^23) and the 23 are made from the
 *   comparison by integer arithmetic, not selected: gcc threaded a select on it through a
 *   caller's clamp such as max(p, eps) and vectorised both paths, two whole logs per
 *   element (categorical cross-entropy's loop had 21 FMAs per vector instead of 11).
 * - fastnn_log_f32: every x. The special inputs are selected at the end: +-0 gives -inf,
 *   x < 0 NaN, +inf +inf, NaN NaN (x > 0 and x == 0 are both false for NaN).
 * The narrower ones give the same bits on their domain and skip operations that each
 * vector of 16 pays on AVX-512's multiply pipes (a comparison, a multiplication, selects);
 * outside it their results are meaningless (finite or NaN), so a caller that may see such
 * inputs must flag them itself. Measured against a long double log over every float32 in
 * (0, inf): tests/test_math.py holds each to 2 ulp, in every variant (about 1.1 with FMA).
 */
FASTNN_ALWAYS_INLINE float fastnn_log_scaled_f32(float xs, int32_t e_offset)
{
    /* log(xs) - e_offset ln2, for positive, normal, finite xs (the two logs below) */
    float m, e, f, q, log_m;
    uint32_t bits, m_bits;
    int32_t shifted;
    memcpy(&bits, &xs, sizeof bits);
    shifted = (int32_t) (bits - 0x3f400000u);  /* 0x3f400000: the bits of 0.75 */
    m_bits = ((uint32_t) shifted & 0x007fffffu) + 0x3f400000u;
    memcpy(&m, &m_bits, sizeof m);
    e = (float) ((shifted >> 23) - e_offset);
    f = m - 1.0f;
    q = FASTNN_LOG_Q7;
    q = q * f + FASTNN_LOG_Q6;
    q = q * f + FASTNN_LOG_Q5;
    q = q * f + FASTNN_LOG_Q4;
    q = q * f + FASTNN_LOG_Q3;
    q = q * f + FASTNN_LOG_Q2;
    q = q * f + FASTNN_LOG_Q1;
    q = q * f + FASTNN_LOG_Q0;
    log_m = (f * f) * q + f;
    return e * FASTNN_LN2_HI + (e * FASTNN_LN2_LO + log_m);
}

FASTNN_ALWAYS_INLINE float fastnn_log_positive_normal_f32(float x)
{
    return fastnn_log_scaled_f32(x, 0);
}

FASTNN_ALWAYS_INLINE float fastnn_log_positive_f32(float x)
{
    const int32_t tiny = x < 1.17549435e-38f;  /* below the smallest normal float */
    /* the bits of 1, or of 2^23 (23 more in the exponent field) */
    const uint32_t scale_bits = 0x3f800000u + (uint32_t) tiny * (23u << 23);
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return fastnn_log_scaled_f32(x * scale, tiny * 23);
}

FASTNN_ALWAYS_INLINE float fastnn_log_f32(float x)
{
    float result = fastnn_log_positive_f32(x);
    result = x > 0.0f ? result : (x == 0.0f ? -INFINITY : NAN);
    return x == INFINITY ? x : result;
}

/* log(x) of 16 floats in an AVX-512 register (AVX-512 builds): for loops written in vector
 * registers, such as binary cross-entropy's piece in _pieces.h, where a libmvec call would
 * clobber every vector register and a loop of its own would pass the logs through memory.
 *
 * The method: x = m 2^e with m in [0.75, 1.5) (vgetmantps), e = exponent of x minus exponent
 * of m (vgetexpps of each: exact for every finite x > 0, subnormals included), and
 * log(x) = e ln2 + log(m), log(m) = f + f^2 Q(f) with f = m - 1 in [-0.25, 0.5), exact.
 * - Q is a degree-7 near-minimax fit of (log1p(f) - f) / f^2 on that interval, for the
 *   relative error of the result (0.47 ulp of the fit, 2^-24 units); the f + f^2 Q form
 *   keeps the relative precision near f = 0, where log(x) is small.
 * - e ln2 is added as e ln2_lo, then e ln2_hi (Cody and Waite, as in the exp above: e ln2_hi
 *   is exact for |e| <= 152).
 * - Special inputs need no branch: x = +-0 has exponent -inf and gives -inf; x < 0 (and -inf)
 *   has a NaN mantissa (_MM_MANT_SIGN_nan) and gives NaN; +inf gives +inf, NaN gives NaN.
 * Measured against a long double log over every float32 in (0, inf): see
 * tests/test_math.py, which holds it to 2 ulp (at most about 1.05 with the FMA).
 */
#if defined(__AVX512F__)
#include <immintrin.h>
#define FASTNN_HAS_PS16 1

FASTNN_ALWAYS_INLINE __m512 fastnn_log_ps16(__m512 x)
{
    const __m512 ln2_hi = _mm512_set1_ps(FASTNN_LN2_HI);
    const __m512 ln2_lo = _mm512_set1_ps(FASTNN_LN2_LO);
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
    __m512 e = _mm512_sub_ps(_mm512_getexp_ps(x), _mm512_getexp_ps(m));
    __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    __m512 q = _mm512_set1_ps(FASTNN_LOG_Q7);
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q6));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q5));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q4));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q3));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q2));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q1));
    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(FASTNN_LOG_Q0));
    __m512 log_m = _mm512_fmadd_ps(_mm512_mul_ps(f, f), q, f);
    return _mm512_fmadd_ps(e, ln2_hi, _mm512_fmadd_ps(e, ln2_lo, log_m));
}

/* exp(x) for x <= 0 of 16 floats: fastnn_exp_nonpositive_f32's steps, which give the same
 * bits as gcc compiles that with FMA (tests/test_math.py checks it; a C harness found no
 * difference over all 2^31 floats with the sign bit set). The last step differs: p 2^k is
 * vscalefps(p, k), which rounds once, into the subnormals too, as (p 2^(k + 24)) 2^-24 does
 * there (the first product is exact), and it runs beside the FMAs instead of taking two of
 * their cycles: the softmax tile took 0.86-0.91x the time with it (_tiles.h), and softmax
 * cross-entropy 0.96x on 1e7 float32 elements on 2 threads. */
FASTNN_ALWAYS_INLINE __m512 fastnn_exp_nonpositive_ps16(__m512 x)
{
    const __m512 shift = _mm512_set1_ps(FASTNN_EXP_SHIFT);
    __m512 z, kf, r, p;
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  /* in this order NaN passes */
    z = _mm512_fmadd_ps(x, _mm512_set1_ps(FASTNN_LOG2E), shift);
    kf = _mm512_sub_ps(z, shift);
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(FASTNN_LN2_HI), x);
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(FASTNN_LN2_LO), r);
    p = _mm512_set1_ps(FASTNN_EXP_P6);  /* fastnn_exp_poly_f32 */
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FASTNN_EXP_P5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FASTNN_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FASTNN_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(FASTNN_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, kf);
}

/* log(1 + e) for 0 <= e <= 1 of 16 floats: fastnn_log1p_unit_f32 in the same operations. */
FASTNN_ALWAYS_INLINE __m512 fastnn_log1p_unit_ps16(__m512 e)
{
    const __m512 u = _mm512_sub_ps(e, _mm512_set1_ps(0.5f));
    __m512 q = _mm512_set1_ps(FASTNN_LOG1P_UNIT_D9);
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D8));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D7));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D6));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D5));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D4));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D3));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D2));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D1));
    q = _mm512_fmadd_ps(q, u, _mm512_set1_ps(FASTNN_LOG1P_UNIT_D0));
    return _mm512_mul_ps(e, q);
}

/* The lanes of a vector of 16 that hold elements when `left` of them remain. */
FASTNN_ALWAYS_INLINE __mmask16 fastnn_live16(ptrdiff_t left)
{
    return left >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << left) - 1);
}

/* out[i] = f(x[i]) for i < n by the functions above, which = 0, 1, 2: log, exp of x <= 0,
 * log1p of 0 <= x <= 1 (for the tests, _elementary.pyx). */
static inline void fastnn_ps16_array(int which, const float *x, float *out, ptrdiff_t n)
{
    ptrdiff_t i;
    for (i = 0; i < n; i += 16) {
        __mmask16 live = fastnn_live16(n - i);
        __m512 v = _mm512_maskz_loadu_ps(live, x + i);
        v = which == 0 ? fastnn_log_ps16(v)
            : (which == 1 ? fastnn_exp_nonpositive_ps16(v) : fastnn_log1p_unit_ps16(v));
        _mm512_mask_storeu_ps(out + i, live, v);
    }
}
#else
#define FASTNN_HAS_PS16 0
/* Never called without AVX-512 (the tests skip); defined so that the code compiles. */
static inline void fastnn_ps16_array(int which, const float *x, float *out, ptrdiff_t n) {}
#endif

#endif
