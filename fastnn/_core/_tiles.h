/* Transposition of softmax cross-entropy's tiles in vector registers (AVX-512 builds).
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
#endif

#endif
