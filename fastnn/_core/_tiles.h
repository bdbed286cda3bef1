/* Softmax cross-entropy's tiles in vector registers (AVX-512 builds): their transpositions,
 * and the whole tile for float32 logits with integer labels (fastnn_softmax_labels_tile_f32,
 * below the transpositions).
 *
 * _softmax_tile in _losses.pyx works on a tile of FASTNN_TILE = 32 short rows of K classes
 * (K <= 15 float32 or 7 float64), C-contiguous, transposed into columns: tile[j * 32 + r]
 * holds class j of row r. Moving the data in and out one element at a time costs about as much
 * as the loss itself; here each row is one masked vector load (or store) and the
 * transposition is a butterfly of shuffles inside the registers: 16 x 16 floats in
 * 64 shuffles, 8 x 8 doubles in 24.
 *
 * fastnn_tile_in_*(src, tile, n, K):  tile[j * 32 + r] = src[r * K + j] for r < n, j < K,
 *     and 0 for n <= r < 32 (padding rows).
 * fastnn_tile_out_*(tile, dst, n, K): dst[r * K + j] = tile[j * 32 + r] for r < n, j < K;
 *     nothing else of dst is touched (masked stores).
 *
 * FASTNN_TILES_IN_REGISTERS is 1 where these are available (AVX-512F builds), 0 elsewhere,
 * where _losses.pyx moves the elements with plain loops instead.
 */
#ifndef FASTNN_TILES_H
#define FASTNN_TILES_H
#include <stddef.h>
#include <stdint.h>
#include "_inline_math.h"
#include "_prefetch.h"
#include "_simd_math.h"

/* Rows per tile (_losses.pyx declares TILE from here). */
#define FASTNN_TILE 32

#if defined(__AVX512F__)
#include <immintrin.h>
#define FASTNN_TILES_IN_REGISTERS 1

/* r[i] lane j <-> r[j] lane i for 16 vectors of 16 floats: pairs of rows interleaved
   (unpack ps), then pairs of pairs (unpack pd), then the 128-bit lanes exchanged twice. */
static inline void fastnn_transpose16_ps(__m512 r[16]) {
    __m512 t[16];
    int i, c;
    for (i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c2 = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c2));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c2));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* r[4 i + c], 128-bit lane l, now holds column 4 l + c of rows 4 i ... 4 i + 3. */
    for (c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);       /* lanes 0, 2 */
        __m512 b = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);       /* lanes 1, 3 */
        __m512 e = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        __m512 f = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(a, e, 0x88);
        t[8 + c] = _mm512_shuffle_f32x4(a, e, 0xDD);
        t[4 + c] = _mm512_shuffle_f32x4(b, f, 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(b, f, 0xDD);
    }
    for (i = 0; i < 16; i++)
        r[i] = t[i];
}

/* The same for 8 vectors of 8 doubles. */
static inline void fastnn_transpose8_pd(__m512d r[8]) {
    __m512d t[8];
    int i;
    for (i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    /* t[2 i + c], 128-bit lane l, holds column 2 l + c of rows 2 i, 2 i + 1. */
    for (i = 0; i < 2; i++) {
        r[i] = _mm512_shuffle_f64x2(t[i], t[2 + i], 0x88);          /* lanes 0, 2 */
        r[2 + i] = _mm512_shuffle_f64x2(t[i], t[2 + i], 0xDD);      /* lanes 1, 3 */
        r[4 + i] = _mm512_shuffle_f64x2(t[4 + i], t[6 + i], 0x88);
        r[6 + i] = _mm512_shuffle_f64x2(t[4 + i], t[6 + i], 0xDD);
    }
    /* r[m] (r[4 + m]) now holds columns m (128-bit lanes 0, 2) and 4 + m (lanes 1, 3) of
       rows 0 ... 3 (4 ... 7), two rows per lane. */
    for (i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f64x2(r[i], r[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f64x2(r[i], r[4 + i], 0xDD);
    }
    for (i = 0; i < 8; i++)
        r[i] = t[i];
}

static inline void fastnn_tile_in_f32(const float* src, float* tile, ptrdiff_t n,
                                      ptrdiff_t K) {
    const __mmask16 k_mask = (__mmask16) ((1u << K) - 1);
    __m512 v[16];
    ptrdiff_t h, i, j;
    for (h = 0; h < FASTNN_TILE; h += 16) {
        for (i = 0; i < 16; i++)
            v[i] = h + i < n ? _mm512_maskz_loadu_ps(k_mask, src + (h + i) * K)
                             : _mm512_setzero_ps();
        fastnn_transpose16_ps(v);
        for (j = 0; j < K; j++)
            _mm512_storeu_ps(tile + j * FASTNN_TILE + h, v[j]);
    }
}

static inline void fastnn_tile_out_f32(const float* tile, float* dst, ptrdiff_t n,
                                       ptrdiff_t K) {
    /* (K <= 15 always; saying so tells gcc that the tile is not read past its end) */
    const ptrdiff_t n_columns = K < 15 ? K : 15;
    const __mmask16 k_mask = (__mmask16) ((1u << K) - 1);
    __m512 v[16];
    ptrdiff_t h, i, j;
    for (h = 0; h < n; h += 16) {
        for (j = 0; j < 16; j++)  /* columns K ... 15 are masked off at the store */
            v[j] = j < n_columns ? _mm512_loadu_ps(tile + j * FASTNN_TILE + h)
                                 : _mm512_setzero_ps();
        fastnn_transpose16_ps(v);
        for (i = 0; i < 16 && h + i < n; i++)
            _mm512_mask_storeu_ps(dst + (h + i) * K, k_mask, v[i]);
    }
}

static inline void fastnn_tile_in_f64(const double* src, double* tile, ptrdiff_t n,
                                      ptrdiff_t K) {
    const __mmask8 k_mask = (__mmask8) ((1u << K) - 1);
    __m512d v[8];
    ptrdiff_t h, i, j;
    for (h = 0; h < FASTNN_TILE; h += 8) {
        for (i = 0; i < 8; i++)
            v[i] = h + i < n ? _mm512_maskz_loadu_pd(k_mask, src + (h + i) * K)
                             : _mm512_setzero_pd();
        fastnn_transpose8_pd(v);
        for (j = 0; j < K; j++)
            _mm512_storeu_pd(tile + j * FASTNN_TILE + h, v[j]);
    }
}

static inline void fastnn_tile_out_f64(const double* tile, double* dst, ptrdiff_t n,
                                       ptrdiff_t K) {
    const __mmask8 k_mask = (__mmask8) ((1u << K) - 1);
    __m512d v[8];
    ptrdiff_t h, i, j;
    for (h = 0; h < n; h += 8) {
        for (j = 0; j < 8; j++)
            v[j] = j < K ? _mm512_loadu_pd(tile + j * FASTNN_TILE + h) : _mm512_setzero_pd();
        fastnn_transpose8_pd(v);
        for (i = 0; i < 8 && h + i < n; i++)
            _mm512_mask_storeu_pd(dst + (h + i) * K, k_mask, v[i]);
    }
}

/* Lanes 0-7 and 8-15 of a float vector, converted to double. */
static inline __m512d fastnn_low8_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

static inline __m512d fastnn_high8_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

/* Softmax cross-entropy with integer labels of one tile of n <= 32 float32 rows of K <= 15
 * classes, in vector registers: the same computation, step for step and rounding for
 * rounding, as _softmax_tile in _losses.pyx (which keeps it for float64, dense targets and
 * builds without AVX-512; see there for the method and its stability). There, each step is
 * a loop over arrays of the tile's 32 rows; here each half tile of 16 rows stays in
 * registers from its masked row loads to its masked row stores, except for the exp, which
 * runs over the whole tile in a loop of its own (exp within the steps, on each column as it
 * is made, was 1.03-1.07x slower). The exp is fastnn_exp_nonpositive_ps16, whose vscalefps
 * leaves two of its operations off the FMA pipes: 0.86-0.91x the time of the loop gcc
 * vectorises from the scalar function (a C harness, 1 thread, in L2, mins and medians of 9
 * runs). The logs of the row sums are fastnn_log_ps16 on each half tile's sums, taken as
 * soon as the sums are made: 0.93x the time of a loop over the tile's 32 sums after the
 * gradient, which gcc vectorised from the scalar log (same harness, 9 runs). Measured
 * against the loops, float32, 10 classes, before these two: 0.87-0.94x the time.
 *
 * x, labels, g (NULL for the value alone) and sw point at the tile's first row (sw at ones
 * when not given); cw at the class weights, or NULL. Writes each row's weighted loss into
 * terms[0:n] (NaN for an invalid label) and returns the number of rows with a non-finite
 * logit. K is a constant in each copy of the body (fastnn_softmax_labels_tile_f32 below),
 * so that the loops over the classes unroll and the columns stay in registers. */
FASTNN_ALWAYS_INLINE int fastnn_softmax_labels_tile_f32_body(
    const float* x, const int64_t* labels, float* g, ptrdiff_t n, const ptrdiff_t K,
    const float* sw, const float* cw, float gs, double* terms)
{
    float z[FASTNN_TILE * 15] __attribute__((aligned(64)));
    const __mmask16 k_mask = (__mmask16) ((1u << K) - 1);
    const __m512 zero = _mm512_setzero_ps();
    const __m512 class_weights = cw != NULL ? _mm512_maskz_loadu_ps(k_mask, cw) : zero;
    __m512 hi[2], picked[2], weight[2], inv_sums[2], log_sums[2];
    __m512 col[2];
    __mmask16 rows[2], invalid[2];
    int n_bad = 0;
    ptrdiff_t h, i, j, r;

    /* 1. Per half tile: the rows transposed into columns (one row per lane); the labels
     *    (an invalid one reads column 0 and makes its term NaN) and weights; row maxima,
     *    the label's logit and the input check (the sum of x 0: NaN for inf and NaN);
     *    z = x - max into the tile, for the exp loop. */
    for (h = 0; h < 2; h++) {
        const ptrdiff_t m = n - 16 * h < 0 ? 0 : (n - 16 * h > 16 ? 16 : n - 16 * h);
        const int64_t* lab = labels + 16 * h;
        __m512 v[16], check;
        __m512i lab_lo, lab_hi, label;
        __mmask16 ok;
        rows[h] = (__mmask16) ((1u << m) - 1);
        for (i = 0; i < 16; i++)
            v[i] = i < m ? _mm512_maskz_loadu_ps(k_mask, x + (16 * h + i) * K) : zero;
        fastnn_transpose16_ps(v);
        lab_lo = _mm512_maskz_loadu_epi64((__mmask8) rows[h], lab);
        lab_hi = _mm512_maskz_loadu_epi64((__mmask8) (rows[h] >> 8), lab + 8);
        ok = (__mmask16) (_mm512_cmpge_epi64_mask(lab_lo, _mm512_setzero_si512())
                          & _mm512_cmplt_epi64_mask(lab_lo, _mm512_set1_epi64(K)))
             | (__mmask16) ((_mm512_cmpge_epi64_mask(lab_hi, _mm512_setzero_si512())
                             & _mm512_cmplt_epi64_mask(lab_hi, _mm512_set1_epi64(K))) << 8);
        invalid[h] = (__mmask16) ~ok;  /* padding rows read label 0: valid */
        label = _mm512_maskz_mov_epi32(
            ok, _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lab_lo)),
                                   _mm512_cvtepi64_epi32(lab_hi), 1));
        /* the label as a float, compared with j below as the loops compare it */
        col[h] = _mm512_cvtepi32_ps(label);
        weight[h] = _mm512_maskz_loadu_ps(rows[h], sw + 16 * h);  /* padding rows: 0 */
        if (cw != NULL)
            weight[h] = _mm512_mul_ps(weight[h], _mm512_permutexvar_ps(label, class_weights));
        hi[h] = v[0];
        picked[h] = v[0];
        check = _mm512_mul_ps(v[0], zero);  /* x 0 is 0 for finite x, NaN for inf and NaN */
        for (j = 1; j < K; j++) {
            /* vmaxps a, b is a > b ? a : b: the same as the loops' select */
            hi[h] = _mm512_max_ps(v[j], hi[h]);
            picked[h] = _mm512_mask_mov_ps(
                picked[h], _mm512_cmp_ps_mask(col[h], _mm512_set1_ps((float) j), _CMP_EQ_OQ),
                v[j]);
            check = _mm512_fmadd_ps(v[j], zero, check);
        }
        n_bad += __builtin_popcount(_mm512_cmpneq_ps_mask(check, zero));
        for (j = 0; j < K; j++)
            _mm512_store_ps(z + j * FASTNN_TILE + 16 * h, _mm512_sub_ps(v[j], hi[h]));
    }

    /* 2. One exp per element, of x - max <= 0; meanwhile the next tile's lines of x and g are
     *    asked for, a part per column (_prefetch_part in _losses.pyx says why). */
    for (j = 0; j < K; j++) {
        const ptrdiff_t start = (FASTNN_TILE * K + FASTNN_TILE * j) * (ptrdiff_t) sizeof(float);
        fastnn_prefetch_lines(x, g, NULL, start, start + FASTNN_TILE * (ptrdiff_t) sizeof(float));
        for (r = 0; r < FASTNN_TILE; r += 16)
            _mm512_store_ps(z + j * FASTNN_TILE + r,
                            fastnn_exp_nonpositive_ps16(_mm512_load_ps(z + j * FASTNN_TILE + r)));
    }

    /* 3. Row sums S in double, the columns added in fours in float32 first (as in
     *    sum_values), their inverses and their logs (fastnn_log_ps16: the bits of the Cython
     *    tile's _log). */
    for (h = 0; h < 2; h++) {
        const float* e = z + 16 * h;
        __m512d s_lo = _mm512_setzero_pd(), s_hi = _mm512_setzero_pd();
        __m512 part, sum;
        for (j = 0; j < K; j += (j + 4 <= K ? 4 : 1)) {
            part = _mm512_load_ps(e + j * FASTNN_TILE);
            if (j + 4 <= K)
                part = _mm512_add_ps(
                    _mm512_add_ps(part, _mm512_load_ps(e + (j + 1) * FASTNN_TILE)),
                    _mm512_add_ps(_mm512_load_ps(e + (j + 2) * FASTNN_TILE),
                                  _mm512_load_ps(e + (j + 3) * FASTNN_TILE)));
            s_lo = _mm512_add_pd(s_lo, fastnn_low8_pd(part));
            s_hi = _mm512_add_pd(s_hi, fastnn_high8_pd(part));
        }
        sum = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(s_lo)),
                                 _mm512_cvtpd_ps(s_hi), 1);
        inv_sums[h] = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
        log_sums[h] = fastnn_log_ps16(sum);
    }
    /* 4. The gradient gs w (softmax - one-hot) = e v - [j == label] f with f = gs w and
     *    v = f / S, back in row order. */
    for (h = 0; h < 2; h++) {
        if (g != NULL && rows[h] != 0) {
            const __m512 f = _mm512_mul_ps(_mm512_set1_ps(gs), weight[h]);
            const __m512 v_scale = _mm512_mul_ps(f, inv_sums[h]);
            __m512 v[16];
            for (j = 0; j < 16; j++)
                v[j] = j < K ? _mm512_fmsub_ps(
                                   _mm512_load_ps(z + j * FASTNN_TILE + 16 * h), v_scale,
                                   _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(
                                       col[h], _mm512_set1_ps((float) j), _CMP_EQ_OQ), f))
                             : zero;
            fastnn_transpose16_ps(v);
            for (i = 0; i < 16; i++)
                if (i < n - 16 * h)
                    _mm512_mask_storeu_ps(g + (16 * h + i) * K, k_mask, v[i]);
        }
    }
    /* 5. Each row's loss w ((max - x_label) + log S), in double. */
    for (h = 0; h < 2; h++) {
        const __m512 loss = _mm512_add_ps(_mm512_sub_ps(hi[h], picked[h]), log_sums[h]);
        const __m512d nan = _mm512_set1_pd(NAN);
        __m512d t_lo = _mm512_mul_pd(fastnn_low8_pd(weight[h]), fastnn_low8_pd(loss));
        __m512d t_hi = _mm512_mul_pd(fastnn_high8_pd(weight[h]), fastnn_high8_pd(loss));
        t_lo = _mm512_mask_mov_pd(t_lo, (__mmask8) invalid[h], nan);
        t_hi = _mm512_mask_mov_pd(t_hi, (__mmask8) (invalid[h] >> 8), nan);
        _mm512_mask_storeu_pd(terms + 16 * h, (__mmask8) rows[h], t_lo);
        _mm512_mask_storeu_pd(terms + 16 * h + 8, (__mmask8) (rows[h] >> 8), t_hi);
    }
    return n_bad;
}

/* The body above with K a constant (1 <= K <= 15). */
static inline int fastnn_softmax_labels_tile_f32(const float* x, const int64_t* labels,
                                                 float* g, ptrdiff_t n, ptrdiff_t K,
                                                 const float* sw, const float* cw, float gs,
                                                 double* terms) {
    switch (K) {
#define FASTNN_TILE_CASE(k) \
    case k: return fastnn_softmax_labels_tile_f32_body(x, labels, g, n, k, sw, cw, gs, terms);
    FASTNN_TILE_CASE(1) FASTNN_TILE_CASE(2) FASTNN_TILE_CASE(3) FASTNN_TILE_CASE(4)
    FASTNN_TILE_CASE(5) FASTNN_TILE_CASE(6) FASTNN_TILE_CASE(7) FASTNN_TILE_CASE(8)
    FASTNN_TILE_CASE(9) FASTNN_TILE_CASE(10) FASTNN_TILE_CASE(11) FASTNN_TILE_CASE(12)
    FASTNN_TILE_CASE(13) FASTNN_TILE_CASE(14) FASTNN_TILE_CASE(15)
#undef FASTNN_TILE_CASE
    default: return -1;
    }
}

#else
#define FASTNN_TILES_IN_REGISTERS 0
/* Never called (the loops of _losses.pyx run instead); defined so that the code compiles. */
static inline void fastnn_tile_in_f32(const float* src, float* tile, ptrdiff_t n,
                                      ptrdiff_t K) {}
static inline void fastnn_tile_out_f32(const float* tile, float* dst, ptrdiff_t n,
                                       ptrdiff_t K) {}
static inline void fastnn_tile_in_f64(const double* src, double* tile, ptrdiff_t n,
                                      ptrdiff_t K) {}
static inline void fastnn_tile_out_f64(const double* tile, double* dst, ptrdiff_t n,
                                       ptrdiff_t K) {}
static inline int fastnn_softmax_labels_tile_f32(const float* x, const int64_t* labels,
                                                 float* g, ptrdiff_t n, ptrdiff_t K,
                                                 const float* sw, const float* cw, float gs,
                                                 double* terms) { return -1; }
#endif

#endif
