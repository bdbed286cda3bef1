/* Element-wise loss pieces in vector registers (AVX-512 builds): binary cross-entropy of
 * float32 probabilities (fastnn_bce_piece_f32).
 *
 * _elementwise_piece in _losses.pyx computes a piece of n <= FASTNN_PIECE elements in plain
 * loops that gcc vectorises. Binary cross-entropy there takes two: one for the log into the
 * gradient's memory (in float64 a libmvec call, which clobbers every vector register), and
 * one that combines it. Here the log is fastnn_log_ps16 (_inline_math.h), so the piece is one
 * pass over its elements with everything in registers. Measured in a C harness against a
 * replica of the two loops with libmvec's logf: 0.72x in L1, 0.75-0.79x on 1e7 elements on
 * 2 threads.
 *
 * The Cython loops stay for float64 and for builds without AVX-512, with the same steps
 * (see BINARY_CE in _elementwise_piece, which documents the formulas). Their float32 log,
 * fastnn_log_f32, is fastnn_log_ps16's method in scalar code and gives the same bits
 * (tests/test_math.py), so with FMA the two give the same terms; the gradients are the same
 * in every build.
 *
 * FASTNN_PIECES_IN_REGISTERS is 1 where fastnn_bce_piece_f32 is available, 0 elsewhere.
 */
#ifndef FASTNN_PIECES_H
#define FASTNN_PIECES_H
#include <math.h>
#include <stddef.h>
#include "_inline_math.h"

/* Elements per piece; _losses.pyx declares PIECE from here. */
#define FASTNN_PIECE 1024

/* torch's BCELoss: log terms clamped at >= -100, gradient denominator max(p (1 - p), 1e-12)
 * (float(1e-12)); _losses.pyx declares both from here. */
#define FASTNN_BCE_LOG_MIN (-100.0)
#define FASTNN_BCE_GRAD_EPS 9.999999960041972e-13

#if defined(__AVX512F__)
#define FASTNN_PIECES_IN_REGISTERS 1

/* Binary cross-entropy of elements 0 ... n - 1 (n <= FASTNN_PIECE): terms[i] = w[i] times
 * the loss of (yt[i], yp[i]), NaN where yp[i] or yt[i] is outside [0, 1];
 * g[i] = gs w[i] (p - y) / max(p (1 - p), 1e-12). The steps of _elementwise_piece's
 * BINARY_CE, 16 elements at a time (_elementwise_piece has asked for the memory ahead). */
static inline void fastnn_bce_piece_f32(const float *yt, const float *yp, float *g,
                                        const float *w, float *terms, ptrdiff_t n, float gs)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 eps = _mm512_set1_ps((float) FASTNN_BCE_GRAD_EPS);
    const __m512 log_min = _mm512_set1_ps((float) FASTNN_BCE_LOG_MIN);
    const __m512 nan = _mm512_set1_ps(NAN), vgs = _mm512_set1_ps(gs);
    ptrdiff_t i;
    for (i = 0; i < n; i += 16) {
        __mmask16 live = n - i >= 16 ? (__mmask16) 0xFFFF
                                     : (__mmask16) ((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(live, yp + i);
        __m512 y = _mm512_maskz_loadu_ps(live, yt + i);
        __m512 wi = _mm512_maskz_loadu_ps(live, w + i);
        __mmask16 is_one = _mm512_cmp_ps_mask(y, one, _CMP_EQ_OQ);
        __mmask16 hard = is_one | _mm512_cmp_ps_mask(y, zero, _CMP_EQ_OQ);
        __mmask16 x_ok = _mm512_cmp_ps_mask(x, zero, _CMP_GE_OQ)
                         & _mm512_cmp_ps_mask(x, one, _CMP_LE_OQ);
        __m512 u = _mm512_sub_ps(one, x);
        __m512 h = _mm512_mul_ps(x, u);
        /* inv = 1 / max(p u, 1e-12); where p u >= 1e-12 (exact), p inv = 1 / u */
        __mmask16 exact = _mm512_cmp_ps_mask(h, eps, _CMP_GE_OQ);
        __m512 inv = _mm512_div_ps(one, _mm512_mask_blend_ps(exact, eps, h));
        __m512 inv_u = _mm512_mask_mul_ps(one, exact, x, inv);
        /* u = fl(1 - p) is off by d = (u - 1) + p, exactly; log(1 - p) = log(u) - d / u
           to first order (_log_complement in _losses.pyx) */
        __m512 d = _mm512_add_ps(_mm512_sub_ps(u, one), x);
        __m512 loss, ok_term;
        if ((hard & live) == live) {
            /* hard labels: one log, of p where y = 1 and of 1 - p where y = 0 */
            __m512 log_q = fastnn_log_ps16(_mm512_mask_blend_ps(is_one, u, x));
            __m512 log_p = _mm512_mask_blend_ps(is_one, _mm512_fnmadd_ps(d, inv_u, log_q),
                                                log_q);
            /* max(-100, log) in this order keeps NaN (vmaxps returns its second
               operand when either is NaN) */
            loss = _mm512_sub_ps(zero, _mm512_max_ps(log_min, log_p));
            ok_term = _mm512_mul_ps(wi, loss);
        } else {
            /* soft labels: -(y log p + (1 - y) log(1 - p)), log(1 - p) taken as 0
               where y = 1 (0 times a finite log); y must lie in [0, 1] too */
            __m512 log_p = _mm512_max_ps(log_min, fastnn_log_ps16(x));
            __m512 log_c = _mm512_max_ps(log_min,
                                         _mm512_fnmadd_ps(d, inv_u, fastnn_log_ps16(u)));
            log_c = _mm512_mask_blend_ps(is_one, log_c, zero);
            loss = _mm512_fmadd_ps(y, log_p, _mm512_mul_ps(_mm512_sub_ps(one, y), log_c));
            ok_term = _mm512_mul_ps(wi, _mm512_sub_ps(zero, loss));
            x_ok &= _mm512_cmp_ps_mask(y, zero, _CMP_GE_OQ)
                    & _mm512_cmp_ps_mask(y, one, _CMP_LE_OQ);
        }
        /* term + 0 where valid (as the loops add _valid: +0, never -0), NaN elsewhere */
        _mm512_mask_storeu_ps(terms + i, live, _mm512_mask_add_ps(nan, x_ok, ok_term, zero));
        _mm512_mask_storeu_ps(g + i, live,
                              _mm512_mul_ps(_mm512_mul_ps(vgs, wi),
                                            _mm512_mul_ps(_mm512_sub_ps(x, y), inv)));
    }
}

#else
#define FASTNN_PIECES_IN_REGISTERS 0
/* Never called (the loops of _losses.pyx run instead); defined so that the code compiles. */
static inline void fastnn_bce_piece_f32(const float *yt, const float *yp, float *g,
                                        const float *w, float *terms, ptrdiff_t n, float gs) {}
#endif

#endif
