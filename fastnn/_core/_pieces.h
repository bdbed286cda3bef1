/* Element-wise loss pieces in vector registers (AVX-512 builds): binary cross-entropy of
 * float32 probabilities (fastnn_bce_piece_f32) and focal loss (gamma = 2) of float32 logits
 * with hard labels (fastnn_focal_hard_piece_f32, at the end).
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
 * FASTNN_PIECES_IN_REGISTERS is 1 where these pieces are available, 0 elsewhere.
 */
#ifndef FASTNN_PIECES_H
#define FASTNN_PIECES_H
#include <math.h>
#include <stddef.h>
#include "_inline_math.h"

/* Elements per piece; _losses.pyx declares PIECE from here. */
#define FASTNN_PIECE 1024

/* Elements per chunk of fastnn_focal_hard_piece_f32's two passes (a multiple of 16). */
#define FASTNN_FOCAL_CHUNK 256

/* torch's BCELoss: log terms clamped at >= -100, gradient denominator max(p (1 - p), 1e-12)
 * (float(1e-12)); _losses.pyx declares both from here. */
#define FASTNN_BCE_LOG_MIN (-100.0)
#define FASTNN_BCE_GRAD_EPS 9.999999960041972e-13

#if defined(__AVX512F__)
#define FASTNN_PIECES_IN_REGISTERS 1

/* Binary cross-entropy of elements 0 ... n - 1 (n <= FASTNN_PIECE): terms[i] = w[i] times
 * the loss of (yt[i], yp[i]), NaN where yp[i] or yt[i] is outside [0, 1];
 * g[i] = gs w[i] (p - y) / max(p (1 - p), 1e-12). The steps of _elementwise_piece's
 * BINARY_CE, 16 elements at a time. */
static inline void fastnn_bce_piece_f32(const float *yt, const float *yp, float *g,
                                        const float *w, float *terms, ptrdiff_t n, float gs)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 eps = _mm512_set1_ps((float) FASTNN_BCE_GRAD_EPS);
    const __m512 log_min = _mm512_set1_ps((float) FASTNN_BCE_LOG_MIN);
    const __m512 nan = _mm512_set1_ps(NAN), vgs = _mm512_set1_ps(gs);
    ptrdiff_t i;
    for (i = 0; i < n; i += 16) {
        __mmask16 live = fastnn_live16(n - i);
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

/* Focal loss with gamma = 2 of float32 logits, hard labels: the steps of the hard-label path
 * of _elementwise_piece's FOCAL (which documents the formulas), 16 elements at a time, in
 * two passes as there (exp(-|x|) into e, then the rest: one pass, whose dependency chain of
 * exp, division and log1p fills the out-of-order window, was 1.2-1.3x slower in a C
 * harness), over chunks of FASTNN_FOCAL_CHUNK elements of the piece, so that the second
 * pass finds the first one's x, y and e in L1 (a whole piece of those, with w, terms and
 * g, is 24 kB). Against passes over the whole piece, both builds loaded in one process and
 * called alternately on the same arrays (medians of 12-20 rounds): 0.85x the time on 1e7
 * float32 elements on 2 threads, 0.87x on 1, 0.97x on 1e5 (in cache); chunks of 128 and
 * 512 were no faster in a C harness.
 * Returns 0 when some y of the piece is neither 0 nor 1, having written e[0:n] (the same
 * bits as the loops' exp) for the caller's general path, which also writes every term and
 * gradient again (the earlier chunks' may have been written); otherwise writes terms[0:n]
 * and g[0:n] and returns 1. at0 + at1 y is alpha_t (focal's alpha, or 1 without). w holds
 * the weights, or is NULL for none: a copy of the body without its two multiplications by
 * w then runs, with the same bits (w = 1 is exact), in 0.94-0.95x the time on 1e7 elements
 * on 2 threads and on 1e5 on 1 (measured as above). Measured in a C harness in L1 against
 * the same steps as gcc vectorises them from the Cython loops, before the chunks:
 * 0.87-0.91x the time. */
FASTNN_ALWAYS_INLINE int fastnn_focal_hard_piece_f32_body(
    const float *yt, const float *yp, float *g, const float *w, float *e_buffer, float *terms,
    ptrdiff_t n, float gs, float at0, float at1, const int weighted)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f), vgs = _mm512_set1_ps(gs);
    const __m512 alpha_0 = _mm512_set1_ps(at0), alpha_1 = _mm512_set1_ps(at0 + at1);
    __mmask16 hard = (__mmask16) 0xFFFF;
    ptrdiff_t i, chunk, chunk_end;
    for (chunk = 0; chunk < n; chunk = chunk_end) {
        chunk_end = n - chunk > FASTNN_FOCAL_CHUNK ? chunk + FASTNN_FOCAL_CHUNK : n;
        for (i = chunk; i < chunk_end; i += 16) {
            __mmask16 live = fastnn_live16(n - i);
            __m512 x = _mm512_maskz_loadu_ps(live, yp + i);
            __m512 y = _mm512_maskz_loadu_ps(live, yt + i);  /* padding lanes: y = 0, hard */
            hard &= _mm512_cmp_ps_mask(y, one, _CMP_EQ_OQ)
                    | _mm512_cmp_ps_mask(y, zero, _CMP_EQ_OQ);
            _mm512_mask_storeu_ps(e_buffer + i, live,
                                  fastnn_exp_nonpositive_ps16(_mm512_or_ps(x, sign)));
        }
        if (hard != (__mmask16) 0xFFFF) {
            /* a soft label: the rest of e for the general path */
            for (i = chunk_end; i < n; i += 16) {
                __mmask16 live = fastnn_live16(n - i);
                __m512 x = _mm512_maskz_loadu_ps(live, yp + i);
                _mm512_mask_storeu_ps(e_buffer + i, live,
                                      fastnn_exp_nonpositive_ps16(_mm512_or_ps(x, sign)));
            }
            return 0;
        }
        for (i = chunk; i < chunk_end; i += 16) {
            __mmask16 live = fastnn_live16(n - i);
            __m512 x = _mm512_maskz_loadu_ps(live, yp + i);
            __m512 y = _mm512_maskz_loadu_ps(live, yt + i);
            __m512 e = _mm512_maskz_loadu_ps(live, e_buffer + i);
            __mmask16 is_one = _mm512_cmp_ps_mask(y, one, _CMP_EQ_OQ);
            /* x on the label's side: x >= 0 for y = 1, x < 0 for y = 0 */
            __mmask16 right = _kxnor_mask16(_mm512_cmp_ps_mask(x, zero, _CMP_GE_OQ), is_one);
            __m512 inv = _mm512_div_ps(one, _mm512_add_ps(one, e));
            __m512 ei = _mm512_mul_ps(e, inv);
            __m512 q = _mm512_mask_blend_ps(right, inv, ei);   /* 1 - p_t */
            __m512 qc = _mm512_mask_blend_ps(right, ei, inv);  /* p_t */
            /* ce = log1p(e) + max(-x, 0) for y = 1, + max(x, 0) for y = 0: + |x| off side */
            __m512 lp = fastnn_log1p_unit_ps16(e);
            __m512 ce = _mm512_mask_add_ps(lp, (__mmask16) ~right, lp,
                                           _mm512_andnot_ps(sign, x));
            __m512 aq = _mm512_mul_ps(_mm512_mask_blend_ps(is_one, alpha_0, alpha_1), q);
            __m512 term = _mm512_mul_ps(_mm512_mul_ps(aq, q), ce);
            /* (1 - 2y) alpha_t q q (q + 2 (1 - q) ce): the sign flipped where y = 1 */
            __m512 h = _mm512_mul_ps(aq, _mm512_fmadd_ps(_mm512_add_ps(qc, qc), ce, q));
            h = _mm512_mask_xor_ps(h, is_one, h, sign);
            /* + (x - x): NaN for x inf or NaN, as the loops' _valid_finite */
            __m512 scale = vgs;
            if (weighted) {
                __m512 wi = _mm512_maskz_loadu_ps(live, w + i);
                term = _mm512_mul_ps(wi, term);
                scale = _mm512_mul_ps(vgs, wi);
            }
            _mm512_mask_storeu_ps(terms + i, live, _mm512_add_ps(term, _mm512_sub_ps(x, x)));
            _mm512_mask_storeu_ps(g + i, live, _mm512_mul_ps(scale, _mm512_mul_ps(q, h)));
        }
    }
    return 1;
}

/* The body above with `weighted` a constant. */
static inline int fastnn_focal_hard_piece_f32(const float *yt, const float *yp, float *g,
                                              const float *w, float *e_buffer, float *terms,
                                              ptrdiff_t n, float gs, float at0, float at1)
{
    return w != NULL
        ? fastnn_focal_hard_piece_f32_body(yt, yp, g, w, e_buffer, terms, n, gs, at0, at1, 1)
        : fastnn_focal_hard_piece_f32_body(yt, yp, g, w, e_buffer, terms, n, gs, at0, at1, 0);
}

#else
#define FASTNN_PIECES_IN_REGISTERS 0
/* Never called (the loops of _losses.pyx run instead); defined so that the code compiles. */
static inline void fastnn_bce_piece_f32(const float *yt, const float *yp, float *g,
                                        const float *w, float *terms, ptrdiff_t n, float gs) {}
static inline int fastnn_focal_hard_piece_f32(const float *yt, const float *yp, float *g,
                                              const float *w, float *e_buffer, float *terms,
                                              ptrdiff_t n, float gs, float at0, float at1) {
    return 0;
}
#endif

#endif
