"""Value and gradient of every loss, computed together in one pass over the data.

Three tiers, as in _activations.pyx:

1. per-loss loops over a piece of at most PIECE elements (``_elementwise_piece``) or a group
   of rows (``_softmax_tiles``, ``_softmax_group``, ``_sparse_group``): plain pointer loops,
   branch-free (selects only), so that gcc vectorises them, calling the vector exp/log/expm1
   of _simd_math.h. Each loop writes the gradient and a buffer of per-element loss terms,
   which sum_values adds in a fixed order. Softmax cross-entropy of short rows (few classes)
   is vectorised across rows, one row per vector lane, in transposed tiles
   (``_softmax_tile``). On AVX-512 builds three float32 cases are written in vector
   registers instead, in C: the softmax tile with integer labels (_tiles.h), and the pieces
   of binary cross-entropy and of focal loss with hard labels (_pieces.h);
2. the block driver ``_run``: the rows are cut into blocks of about CHUNK_SIZE elements that
   are shared out statically among the threads; each block writes its part of the gradient
   and its partial sums into its own slot, and the slots are added in block order. Block
   boundaries do not depend on the thread count, so value and gradient are bitwise
   identical for 1, 2 or more threads;
3. the cdef entry points ``loss_dense`` / ``loss_labels`` (declared in _losses.pxd, for the
   network) and the def entry points ``dense`` / ``labels`` (for fastnn.losses).

Reduction: the value is (sum of weighted loss terms) / normaliser, and the gradient is
d value / d y_pred, i.e. each element's derivative times weight / normaliser. The
normaliser is n_samples (or the sum of the sample weights) for the distribution losses
(categorical, sparse, softmax cross-entropy, KL), times n_outputs for the element-wise ones;
with a class weight, softmax cross-entropy divides by the sum over samples of sample weight
times the class weight of the target (torch's CrossEntropyLoss). Everything is summed in
double (float32 terms in fours first, see sum_values in _reductions.pxd).

float32 stays float32: every constant in a float expression is typed (Cython writes a
literal 1 as the double 1.0, and C would then compute the whole expression in double, at
half the vector width and with conversions).

Invalid input values never raise here: each loop folds a check of its inputs into its loss
terms (a term that is 0 for a valid element and NaN otherwise, or NaN propagation where that
is guaranteed), so that invalid input makes the returned value NaN; fastnn.losses then
finds and names the problem.
"""
from cython.parallel cimport prange
from libc.float cimport DBL_EPSILON, FLT_EPSILON
from libc.math cimport INFINITY, NAN
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from fastnn._core._math cimport (_exp, _exp_nonpositive, _expm1_nonpositive, _fabs, _log,
                                 _log1p_unit, _log_positive, _log_positive_normal, _sqrt)
from fastnn._core._openmp cimport CHUNK_SIZE, PARALLEL_MIN_SIZE
from fastnn._core._reductions cimport max_value, sum_values
from fastnn._core._typedefs cimport floating

# (range() needs a literal step to become a C loop: the loops over pieces and groups write
# 1024, with a comment.)
cdef extern from "_pieces.h" nogil:
    # Elements per call of an element-wise loop (PIECE): its loss terms, its intermediates
    # and, for the value alone, its gradient go to stack buffers of this size, which stay in
    # L1 (at most about 72 kB of stack per thread, in float64). Binary cross-entropy of
    # float32 in vector registers, on AVX-512 builds: see _pieces.h.
    enum: PIECE "FASTNN_PIECE"
    # BCELoss: log terms are clamped at -100 (torch), and the gradient's denominator
    # p (1 - p) at 1e-12 (torch's EPSILON in binary_cross_entropy_backward, as a float).
    double BCE_LOG_MIN "FASTNN_BCE_LOG_MIN"
    double BCE_GRAD_EPS "FASTNN_BCE_GRAD_EPS"
    bint PIECES_IN_REGISTERS "FASTNN_PIECES_IN_REGISTERS"
    void _bce_piece_f32 "fastnn_bce_piece_f32"(const float* yt, const float* yp, float* g,
                                               const float* w, float* terms, Py_ssize_t n,
                                               float gs)
    bint _focal_hard_piece_f32 "fastnn_focal_hard_piece_f32"(
        const float* yt, const float* yp, float* g, const float* w, float* e, float* terms,
        Py_ssize_t n, float gs, float at0, float at1)

cdef enum:
    # Rows per call of a row-wise loop (as PIECE).
    GROUP = 1024
    # Rows shorter than this many bytes (one cache line, one AVX-512 vector: 15 float32 or
    # 7 float64 classes) go in tiles; longer rows fill whole vectors and are cheaper row by
    # row (_softmax_group). Measured: the tiles are 1.5-3x faster for 2-12 float32 classes,
    # about even at 14, slower from 16 on.
    TILE_ROW_BYTES = 64
    TILE_CLASSES = 15  # the most classes a tile takes (buffer size)

cdef extern from "_tiles.h" nogil:
    # Softmax cross-entropy with few classes works on tiles of TILE (32) rows, transposed so
    # that one vector lane holds one row (see _softmax_tile). 32 float32 rows are two AVX-512
    # vectors; a literal trip count above 16 is also one gcc does not unroll completely
    # before vectorising (which would leave scalar calls of exp). The tile's transpositions
    # in vector registers, on AVX-512 builds: see _tiles.h.
    enum: TILE "FASTNN_TILE"
    bint TILES_IN_REGISTERS "FASTNN_TILES_IN_REGISTERS"
    void _tile_in_f32 "fastnn_tile_in_f32"(const float* src, float* tile, Py_ssize_t n,
                                           Py_ssize_t K)
    void _tile_out_f32 "fastnn_tile_out_f32"(const float* tile, float* dst, Py_ssize_t n,
                                             Py_ssize_t K)
    void _tile_in_f64 "fastnn_tile_in_f64"(const double* src, double* tile, Py_ssize_t n,
                                           Py_ssize_t K)
    void _tile_out_f64 "fastnn_tile_out_f64"(const double* tile, double* dst, Py_ssize_t n,
                                             Py_ssize_t K)
    int _softmax_labels_tile_f32 "fastnn_softmax_labels_tile_f32"(
        const float* x, const int64_t* labels, float* g, Py_ssize_t n, Py_ssize_t K,
        const float* sw, const float* cw, float gs, double* terms)


cdef double LOG2 = 0.69314718055994530941723212145818
# Pseudo-Huber: beyond a = |r| / delta = 1e15, sqrt(1 + a^2) == a to within 1e-30 relative,
# so it is taken as a; below, a^2 <= 1e30 does not overflow even in float32.
cdef double PSEUDO_HUBER_BIG = 1e15

# Weights of 1, used where no sample weight (or class weight) is given, so that weighted
# and unweighted inputs go through the same loops (x * 1 == x exactly).
cdef float ONES_F[CHUNK_SIZE]
cdef double ONES_D[CHUNK_SIZE]
cdef Py_ssize_t _i
for _i in range(CHUNK_SIZE):
    ONES_F[_i] = 1
    ONES_D[_i] = 1


cdef inline const floating* _ones(const floating* like) noexcept nogil:
    if floating is float:
        return ONES_F
    else:
        return ONES_D


cdef inline floating _eps(floating x) noexcept nogil:
    """Machine epsilon of x's type: the lower clip of probabilities that are logged."""
    if floating is float:
        return FLT_EPSILON
    else:
        return DBL_EPSILON


cdef inline double _unit_check(floating v) noexcept nogil:
    """0 for 0 <= v <= 1, NaN otherwise (NaN fails both comparisons, inf the second)."""
    return 0.0 if (v >= <floating> 0) & (v <= <floating> 1) else NAN


cdef inline Py_ssize_t _rows_per_block(Py_ssize_t n_cols) noexcept nogil:
    """Rows per block: about CHUNK_SIZE elements, at least one row."""
    return max(CHUNK_SIZE // max(n_cols, 1), 1)


cdef extern from "_prefetch.h" nogil:
    # _prefetch(p, offset, rw): the cache line at byte offset `offset` from p, to read (rw 0)
    # or to write (1); _prefetch_bytes(x, g, yt, offset, end): the lines of bytes offset ...
    # end - 1 of x and, unless NULL, of g (for writing) and yt. Both allow addresses beyond
    # the arrays' ends.
    void _prefetch "FASTNN_PREFETCH"(const void* p, Py_ssize_t offset, int rw)
    void _prefetch_bytes "fastnn_prefetch_lines"(const void* x, const void* g, const void* yt,
                                                 Py_ssize_t offset, Py_ssize_t end)


cdef inline void _prefetch_lines(const floating* x, floating* g, const floating* yt,
                                 Py_ssize_t start, Py_ssize_t count) noexcept nogil:
    """Ask for the cache lines of elements start ... start + count - 1 of x and, unless
    NULL, of g (for writing) and yt. They may lie beyond the arrays' ends, which a prefetch
    allows."""
    _prefetch_bytes(x, g, yt, start * <Py_ssize_t> sizeof(floating),
                    (start + count) * <Py_ssize_t> sizeof(floating))


# ---------------------------------------------------------------------------------------------
# Tier 1: element-wise losses. Loops over one piece of n <= PIECE elements:
#   terms[i] = w[i] * loss(y_true[i], y_pred[i])   (+ 0, or NaN for an invalid element)
#   g[i]     = gs * w[i] * d loss / d y_pred[i]
# w holds the per-element weights (ONES without sample weights), gs = 1 / normaliser, cp the
# per-element pos_weight of sigmoid cross-entropy (NULL: none). Returns the sum of the terms;
# hinge also counts its 0 and -1 labels into counts[0] and counts[1].
#
# Speed: each call of a vector math function (libmvec) clobbers every vector register, so a
# loop with two or three calls spends much of its time spilling and reloading its live
# values (gcc keeps the loop's constants in registers and saves and restores all of them
# around each call). The transcendental losses are therefore split into one loop per call,
# passing intermediates through L1-resident piece buffers (t1, t2, ...), then one loop that
# combines them. In float32 no call is left: the logistic and softmax losses take exp of a
# non-positive argument inline (_exp_nonpositive), poisson its exp (_exp) and every loss its
# log (_log). Within a thread, the time of a piece is close to its arithmetic plus its memory
# stalls, which come in the loops that first touch each new page of an input or of g: a loop
# that only reads (a count, say) adds its stalls to the arithmetic, so every first touch
# belongs in a loop that also computes (binary cross-entropy: 1.7-1.9x the time of a copy at
# 1e7 elements with a separate count of its soft labels, 1.4-1.5x without).
# No loop asks for memory ahead (software prefetch): the hardware prefetchers keep each
# array's stream ahead of the loops. An earlier version ran the loop that writes g in steps
# of 64 elements, each asking for the same step of the next piece; that paid on the host of
# the time (0.83-0.94x at 1e7 float32 elements on 2 threads) but on a later one (AMD EPYC
# with AVX-512, numpy's arrays on 2 MB pages) it cost up to a quarter: without it, medians
# of 8-10 paired rounds of fresh processes gave pseudo_huber 0.75-0.85x, hinge 0.79-0.90x,
# binary cross-entropy 0.90-0.96x and the rest even (0.9-1.15x, within this host's spread
# between runs). Losses with one transcendental function (poisson's exp, categorical
# cross-entropy's and KL's log) keep it in the loop that writes g: split into two loops as
# above, when their float32 exp and log were still libmvec's, poisson took 1.22x,
# categorical 1.09x and KL 1.16x.
# Where float32 has no call left, log cosh takes its inline expm1 in the loop that writes g,
# without t1: 0.88-0.92x the time of two loops at 1e7 float32 elements on 2 threads (paired
# A/B, 8-12 rounds of fresh processes, three runs). The logistic losses keep two loops, their
# exp in the first: in one loop sigmoid cross-entropy took 0.92x, 1.12x and 0.98x in three
# runs, focal 1.00x, and earlier, in cache on another host, sigmoid cross-entropy 1.2x
# (likely the long dependency chains of exp, division and the log1p polynomial filling the
# out-of-order window).
#
# Terms are kept in the dtype (a float32 term is rounded to float32, its own precision; the
# sum is in double, after adding float32 terms in fours: sum_values) except where a square
# could overflow float32 (mse, mae, huber, pseudo_huber: double terms).

cdef inline floating _valid(bint ok, floating like) noexcept nogil:
    """0 for a valid element, NaN otherwise (added to its loss term), in like's type."""
    return <floating> 0 if ok else <floating> NAN


cdef inline floating _valid_finite(bint ok, floating x) noexcept nogil:
    """0 for a valid element whose x is finite, NaN otherwise (added to its loss term):
    x - x is 0 for finite x and NaN for inf or NaN."""
    return (x - x) if ok else <floating> NAN


cdef inline bint _in_unit(floating v) noexcept nogil:
    """0 <= v <= 1 (false for NaN)."""
    return (v >= <floating> 0) & (v <= <floating> 1)


cdef inline floating _log_complement(floating p, floating log_u, floating inv_hu,
                                     bint exact_inv) noexcept nogil:
    """log(1 - p) for 0 <= p <= 1 with log1p's precision, from log_u = log(u), u = fl(1 - p).

    u is off by d = (u - 1) + p, computed exactly (for p <= 1/2, u - 1 is exact by Sterbenz
    and so is the error of the sum; for p >= 1/2, 1 - p is exact and d = 0), and
    log(1 - p) = log(u - d) = log(u) - d / u to first order in d / u <= eps. 1 / u comes from
    BCE's gradient division, inv_hu = 1 / max(p u, 1e-12), as p inv_hu where p u >= 1e-12
    (exact_inv); elsewhere p < 1e-12 and u = 1, or p > 1/2 and d = 0, and 1 stands in.
    """
    cdef floating one = 1
    return log_u - (((one - p) - one) + p) * (p * inv_hu if exact_inv else one)


cdef inline bint _bce_exact(floating p) noexcept nogil:
    """p (1 - p) >= 1e-12: where torch's BCELoss gradient is the exact derivative."""
    cdef floating one = 1
    return p * (one - p) >= <floating> BCE_GRAD_EPS


cdef inline floating _bce_inverse(floating p) noexcept nogil:
    """1 / max(p (1 - p), 1e-12), the denominator of torch's BCELoss gradient."""
    cdef floating one = 1, h = p * (one - p)
    return one / (h if h >= <floating> BCE_GRAD_EPS else <floating> BCE_GRAD_EPS)


cdef inline floating _bce_log(floating log_value) noexcept nogil:
    """A log of BCELoss clamped at >= -100, as torch does; NaN passes (NaN < -100 is false)."""
    return <floating> BCE_LOG_MIN if log_value < <floating> BCE_LOG_MIN else log_value


cdef inline floating _log_cosh(floating r, floating em) noexcept nogil:
    """log cosh r given em = expm1(-2|r|): |r| + log1p(1 + em) - log 2 (see LOG_COSH)."""
    cdef floating one = 1
    return (_fabs(r) + _log1p_unit(one + em)) - <floating> LOG2


cdef inline floating _tanh_from_expm1(floating r, floating em) noexcept nogil:
    """tanh r given em = expm1(-2|r|): sign(r) (-em / (2 + em))."""
    cdef floating zero = 0, two = 2
    cdef floating s = -em / (two + em)
    return s if r >= zero else -s


cdef inline floating _logistic_ce(floating x, floating y, floating e) noexcept nogil:
    """BCE-with-logits of logit x and target y without pos_weight, given e = exp(-|x|):
    (1 - y) x + max(-x, 0) + log1p(e), written max(x, 0) - y x + log1p(e): fewer operations,
    and no x + (log1p(e) - x), which loses log1p(e) for large -x."""
    cdef floating zero = 0
    return ((zero if x < zero else x) - y * x) + _log1p_unit(e)


cdef double _elementwise_piece(LossKind kind, const floating* yt, const floating* yp,
                               floating* g, const floating* w, const floating* cp,
                               Py_ssize_t n, double gs, double p0, double p1,
                               double* counts) noexcept nogil:
    cdef floating terms[PIECE]
    cdef double dterms[PIECE]
    cdef floating t1[PIECE]
    cdef floating t2[PIECE]
    cdef floating t3[PIECE]
    cdef floating t4[PIECE]
    cdef Py_ssize_t i, i0
    cdef int n_zero = 0, n_minus = 0, n_soft = 0
    cdef bint have_e = False  # t1 already holds exp(-|x|) (focal's piece in registers)
    # No sample weights (w is ONES): the losses bound by their arithmetic (log cosh, focal's
    # piece in registers) then skip their two multiplications by w, with the same bits, as
    # w = 1 is exact. Measured with both builds in one process (12-16 rounds): log cosh
    # 0.90-0.96x the time at 1e5 float32 elements on 1 thread (two runs) and 0.947x at 1e7
    # on 2, focal's piece 0.948x and 0.940x.
    cdef bint unweighted = w == _ones(yp)
    cdef const floating* piece_w = (<const floating*> NULL) if unweighted else w  # focal's piece
    cdef double dr, ad, dd = p0
    cdef floating gsf = <floating> gs, eps = _eps(<floating> 0)
    cdef floating y, x, r, a, h, e, ei, em, s, sc, inv, c, pw, q, qg, qg1, ce, at, aq, m
    cdef floating lp, lq, sp
    cdef floating delta = <floating> p0, inv_delta = <floating> (1.0 / p0) if p0 > 0 else 0
    cdef floating gamma = <floating> p1
    # Focal's alpha_t = alpha y + (1 - alpha) (1 - y) = at0 + at1 y; alpha = None (p0 < 0)
    # turns the balancing off: alpha_t = 1.
    cdef floating at0 = <floating> (1 - p0) if p0 >= 0 else 1
    cdef floating at1 = <floating> (2 * p0 - 1) if p0 >= 0 else 0
    # Constants of the dtype: Cython writes a literal 1 as the double 1.0, which would turn
    # float32 arithmetic into double arithmetic (half the vector width, plus conversions).
    cdef floating zero = 0, one = 1, two = 2, four = 4

    if kind == MSE:
        # r and r^2 in double: a float32 residual of 1e30 has a finite square (1e60).
        for i in range(n):
            dr = <double> yp[i] - <double> yt[i]
            dterms[i] = w[i] * (dr * dr)
            g[i] = <floating> ((2 * gs * w[i]) * dr)
        return sum_values(dterms, n)
    if kind == MAE:
        # d|r|/dr = sign(r), 0 at r = 0 (torch's L1Loss).
        for i in range(n):
            dr = <double> yp[i] - <double> yt[i]
            dterms[i] = w[i] * _fabs(dr)
            g[i] = (gsf * w[i]) * (one if dr > 0 else (-one if dr < 0 else zero))
        return sum_values(dterms, n)
    if kind == HUBER:
        # torch HuberLoss: r^2 / 2 for |r| < delta, delta (|r| - delta / 2) beyond; the
        # gradient is r clipped to [-delta, delta]. In double, like MSE.
        for i in range(n):
            dr = <double> yp[i] - <double> yt[i]
            ad = _fabs(dr)
            dterms[i] = w[i] * (0.5 * dr * dr if ad < dd else dd * (ad - 0.5 * dd))
            g[i] = <floating> ((gs * w[i]) * (dd if dr > dd else (-dd if dr < -dd else dr)))
        return sum_values(dterms, n)
    if kind == PSEUDO_HUBER:
        # delta^2 (sqrt(1 + a^2) - 1) with a = |r| / delta, written as
        # delta |r| a / (h + 1), h = sqrt(1 + a^2): no cancellation for small a (it is
        # r^2 / 2 there) and no overflow for large a, where h is taken as a (hypot-style:
        # a^2 is only formed below PSEUDO_HUBER_BIG). Gradient r / h, which tends to
        # +-delta. The last product is in double so that delta |r| may exceed float32.
        for i in range(n):
            r = yp[i] - yt[i]
            a = _fabs(r) * inv_delta
            h = a if a > <floating> PSEUDO_HUBER_BIG else _sqrt(one + a * a)
            dterms[i] = w[i] * (<double> delta * <double> (_fabs(r) * (a / (h + one))))
            g[i] = (gsf * w[i]) * (r / h)
        return sum_values(dterms, n)

    if kind == LOG_COSH:
        # log cosh r = |r| + log1p(exp(-2|r|)) - log 2, which never overflows (the naive
        # log(cosh r) does beyond |r| ~ 89 in float32). With em = expm1(-2|r|) in (-1, 0],
        # log1p(exp(-2|r|)) = log1p(1 + em) (a polynomial on [0, 1]), and the gradient
        # tanh(r) = sign(r) (-em / (2 + em)) comes from the same expm1 (no cancellation for
        # small r). Each term has an absolute error of a few eps (relative error grows as
        # |r| -> 0, where the value is r^2 / 2).
        if floating is double:
            for i in range(n):  # expm1 is a libmvec call: a loop of its own (see Speed)
                t1[i] = _expm1_nonpositive(-two * _fabs(yp[i] - yt[i]))
        if unweighted:
            for i in range(n):
                r = yp[i] - yt[i]
                em = _expm1_nonpositive(-two * _fabs(r)) if floating is float else t1[i]
                terms[i] = _log_cosh(r, em)
                g[i] = gsf * _tanh_from_expm1(r, em)
        else:
            for i in range(n):
                r = yp[i] - yt[i]
                em = _expm1_nonpositive(-two * _fabs(r)) if floating is float else t1[i]
                terms[i] = w[i] * _log_cosh(r, em)
                g[i] = (gsf * w[i]) * _tanh_from_expm1(r, em)
    elif kind == POISSON:
        # torch PoissonNLLLoss(log_input=True, full=False): exp(x) - y x, gradient
        # exp(x) - y. exp(x) overflows beyond x = 88.7 (float32) / 709.8 (float64): the
        # value is then genuinely +inf, as in torch. Counts y must be >= 0.
        for i in range(n):
            x = yp[i]
            y = yt[i]
            e = _exp(x)
            terms[i] = w[i] * (e - y * x) + _valid(y >= zero, y)
            g[i] = (gsf * w[i]) * (e - y)
    elif kind == BINARY_CE:
        if floating is float:
            if PIECES_IN_REGISTERS:
                # The steps below in one pass, in vector registers, with an inline log
                # (_pieces.h).
                _bce_piece_f32(yt, yp, g, w, terms, n, gsf)
                return sum_values(terms, n)
        # torch BCELoss: -(y log p + (1 - y) log(1 - p)) with both logs clamped at >= -100,
        # so p = 0 or 1 gives a finite value (100 per wrong certain prediction). The
        # gradient is torch's (p - y) / max(p (1 - p), 1e-12): exact wherever
        # p (1 - p) >= 1e-12, bounded elsewhere. log(1 - p) is log(fl(1 - p)) corrected to
        # log1p's precision (_log_complement). The term is NaN for a p or y outside [0, 1].
        # Hard labels (every y of the piece 0 or 1, the usual case) need one log per
        # element, of p where y = 1 and of 1 - p where y = 0: the same terms as the general
        # two-log path gives them (0 * a finite log is 0), at half the logs. The first loop
        # takes that log for every label, into g, and counts the soft labels (see Speed);
        # soft labels also need log p, where y != 1 (g holds log(1 - p) there).
        for i in range(n):
            y = yt[i]
            n_soft += (y != zero) & (y != one)
            g[i] = _log(yp[i] if y == one else one - yp[i])
        if n_soft == 0:
            for i in range(n):
                x = yp[i]
                y = yt[i]
                inv = _bce_inverse(x)
                lp = _bce_log(g[i] if y == one
                              else _log_complement(x, g[i], inv, _bce_exact(x)))
                terms[i] = w[i] * -lp + _valid(_in_unit(x), x)
                g[i] = (gsf * w[i]) * ((x - y) * inv)
        else:
            for i in range(n):
                t1[i] = _log(yp[i])
            for i in range(n):
                x = yp[i]
                y = yt[i]
                inv = _bce_inverse(x)
                lp = _bce_log(t1[i])
                lq = (zero if y == one
                      else _bce_log(_log_complement(x, g[i], inv, _bce_exact(x))))
                terms[i] = (w[i] * (-(y * lp + (one - y) * lq))
                            + _valid(_in_unit(x) & _in_unit(y), y))
                g[i] = (gsf * w[i]) * ((x - y) * inv)
    elif kind == SIGMOID_CE or kind == FOCAL:
        # e = exp(-|x|) <= 1 never overflows, so logits of +-1e4 give finite values, and
        # softplus(-|x|) = log1p(e) is a polynomial on [0, 1] (_log1p_unit). The sigmoid
        # and its complement come from the same e without cancellation:
        # s = 1 / (1 + e), 1 - s = e / (1 + e) for x >= 0, and the other way round below.
        if floating is float:
            if PIECES_IN_REGISTERS and kind == FOCAL and gamma == 2:
                # Focal's hard-label path below, in vector registers (_pieces.h); w is
                # NULL there without weights. With a soft label in the piece it writes e to
                # t1 (the bits of the loop below) and the general path takes the piece,
                # writing every term and gradient.
                if _focal_hard_piece_f32(yt, yp, g, piece_w, t1, terms, n, gsf, at0, at1):
                    return sum_values(terms, n)
                n_soft = 1
                have_e = True
        if have_e:
            pass
        elif kind == FOCAL and gamma == 2:
            # ... and the soft labels counted, in the loop that first reads y (see Speed)
            for i in range(n):
                y = yt[i]
                n_soft += (y != zero) & (y != one)
                t1[i] = _exp_nonpositive(-_fabs(yp[i]))
        else:
            for i in range(n):
                t1[i] = _exp_nonpositive(-_fabs(yp[i]))
        if kind == SIGMOID_CE:
            # torch BCEWithLogitsLoss: (1 - y) x + c (log1p(exp(-|x|)) + max(-x, 0)) with
            # c = 1 + (pos_weight - 1) y; gradient c sigmoid(x) - pos_weight y. Without
            # pos_weight (c = 1) the term is _logistic_ce.
            if cp == NULL:
                for i in range(n):
                    x = yp[i]
                    y = yt[i]
                    e = t1[i]
                    inv = one / (one + e)
                    terms[i] = (w[i] * _logistic_ce(x, y, e)
                                + _valid_finite(_in_unit(y), x))
                    s = (one if x >= zero else e) * inv
                    g[i] = (gsf * w[i]) * (s - y)
            else:
                for i in range(n):
                    x = yp[i]
                    y = yt[i]
                    pw = cp[i]
                    c = one + (pw - one) * y
                    e = t1[i]
                    inv = one / (one + e)
                    sp = _log1p_unit(e)
                    terms[i] = (w[i] * ((one - y) * x + c * (sp + (zero if x > zero else -x)))
                                + _valid_finite(_in_unit(y), x))
                    s = (one if x >= zero else e) * inv
                    g[i] = (gsf * w[i]) * (c * s - pw * y)
        elif gamma == 2 and n_soft == 0:
            # Hard labels (every y of the piece 0 or 1, the usual case): q = 1 - p_t is the
            # sigmoid of the wrong side's margin, e / (1 + e) where x is on the label's side
            # (x >= 0 for y = 1, x < 0 for y = 0) and 1 / (1 + e) elsewhere, and
            # 1 - q is the other of the two. With s - y = (1 - 2y) q and
            # s (1 - s) = q (1 - q) for y in {0, 1}, the general path's derivative (below)
            # factors into (1 - 2y) alpha_t q q (q + 2 (1 - q) ce): the same derivative in
            # fewer operations. The term is the general one, alpha_t q q ce, in the same
            # operations.
            for i in range(n):
                x = yp[i]
                y = yt[i]
                e = t1[i]
                inv = one / (one + e)
                ei = e * inv
                q = ei if (x >= zero) == (y == one) else inv
                sc = inv if (x >= zero) == (y == one) else ei  # 1 - q
                ce = _logistic_ce(x, y, e)
                aq = (at0 + at1 * y) * q
                terms[i] = w[i] * (aq * q * ce) + (x - x)  # NaN for x inf or NaN
                h = aq * (q + (sc + sc) * ce)
                g[i] = (gsf * w[i]) * (q * (-h if y == one else h))
        elif gamma == 2:
            # torchvision sigmoid_focal_loss: alpha_t ce (1 - p_t)^gamma with ce the
            # BCE-with-logits term (_logistic_ce) and q = 1 - p_t = s (1 - y) + (1 - s) y (no
            # cancellation).
            # d/dx = alpha_t ((s - y) q^gamma + ce gamma q^(gamma-1) s (1 - s) (1 - 2y)),
            # here with gamma = 2: alpha_t q ((s - y) q + ce s (1 - s) (2 - 4y)), and the
            # term alpha_t q q ce shares alpha_t q. s (1 - s) = e / (1 + e)^2 for either sign,
            # and alpha_t = (1 - alpha) + (2 alpha - 1) y: one operation each.
            # s - y is taken as s (1 - y) - (1 - s) y, which shares q's products: s - 1 would
            # cancel where x >> 0 and y = 1 (there q ~ e, and the gradient, O(e^2), lost its
            # relative precision: 2.5e-5 at x = 7, measured), while this is -(1 - s) exactly.
            for i in range(n):
                x = yp[i]
                y = yt[i]
                e = t1[i]
                inv = one / (one + e)
                ei = e * inv
                s = inv if x >= zero else ei
                sc = ei if x >= zero else inv
                ce = _logistic_ce(x, y, e)
                a = s * (one - y)
                c = sc * y
                q = a + c
                aq = (at0 + at1 * y) * q
                terms[i] = w[i] * (aq * q * ce) + _valid_finite(_in_unit(y), x)
                g[i] = (gsf * w[i]) * (aq * ((a - c) * q
                                             + ce * ((ei * inv) * (two - four * y))))
        else:
            # Any gamma >= 0: q^gamma = exp(gamma log q) for q > 0; 0^gamma is 1 for
            # gamma = 0, else 0. q^(gamma-1) s (1 - s) is bounded (q = 0 only where
            # s (1 - s) = 0) and taken as 0 at q = 0. ce goes to t2, q to t3, q^gamma to t4;
            # s - y is s (1 - y) - (1 - s) y, as for gamma = 2.
            for i in range(n):
                x = yp[i]
                y = yt[i]
                e = t1[i]
                inv = one / (one + e)
                t2[i] = _logistic_ce(x, y, e)
                t3[i] = (((one if x >= zero else e) * inv) * (one - y)
                         + ((e if x >= zero else one) * inv) * y)
            for i in range(n):
                t4[i] = _log(t3[i])
            for i in range(n):
                t4[i] = _exp_nonpositive(gamma * t4[i])  # gamma >= 0, log q <= 0
            for i in range(n):
                x = yp[i]
                y = yt[i]
                e = t1[i]
                inv = one / (one + e)
                s = (one if x >= zero else e) * inv
                sc = (e if x >= zero else one) * inv
                q = t3[i]
                ce = t2[i]
                qg = t4[i] if q > zero else (one if gamma == zero else zero)
                qg1 = qg / q if q > zero else zero
                at = at0 + at1 * y
                terms[i] = (w[i] * (at * ce * qg)
                            + _valid_finite(_in_unit(y), x))
                g[i] = (gsf * w[i]) * (at * ((s * (one - y) - sc * y) * qg
                                             + ce * gamma * qg1 * s * sc * (one - two * y)))
    elif kind == HINGE:
        # Keras hinge: max(1 - y s, 0) with labels 0 mapped to -1 (labels in {0, 1} or
        # {-1, 1}; the caller makes the value NaN when a call mixes 0 and -1, from the
        # counts). Gradient -y where the margin is positive, 0 elsewhere (and at the kink).
        # Written with 0/1 factors rather than selects, which gcc vectorises here.
        for i in range(n):
            x = yp[i]
            y = yt[i]
            c = y - <floating> (y == zero)
            m = one - c * x
            h = <floating> (m > zero)
            terms[i] = (w[i] * (m * h)
                        + _valid((y == one) | (y == -one) | (y == zero), y) + (x - x))
            g[i] = -(gsf * w[i]) * c * h
        for i in range(n):
            n_zero += yt[i] == zero
            n_minus += yt[i] == -one
        counts[0] += n_zero
        counts[1] += n_minus
    elif kind == CATEGORICAL_CE:
        # -y log p with p clipped to [eps, 1] (eps = the dtype's machine epsilon) so that
        # p = 0 gives a finite term; gradient -y / max(p, eps), i.e. the unclipped
        # derivative with a bounded denominator (as torch's BCELoss gradient).
        for i in range(n):
            x = yp[i]
            y = yt[i]
            # q is positive and normal for x in [0, 1]; x outside (NaN gives eps, inf gives
            # inf) is flagged by _valid, so the narrow log's value there does not matter
            q = x if x > eps else eps
            terms[i] = (w[i] * (-y * _log_positive_normal(q))
                        + _valid(_in_unit(y) & _in_unit(x), y))
            g[i] = (gsf * w[i]) * (-y / q)
    elif kind == KL_DIVERGENCE:
        # p log(p / q) with q clipped to [eps, 1] and 0 log 0 = 0 (torch's convention
        # for the target); log of the ratio (<= 1 / eps) rather than a difference of logs:
        # one log per element, and exact 0 for p == q. Gradient -p / max(q, eps).
        for i in range(n):
            x = yp[i]
            y = yt[i]
            inv = one / (x if x > eps else eps)
            # the ratio is positive where it is used (y > 0), subnormal for subnormal y, and
            # inf only for y = inf (flagged)
            terms[i] = (w[i] * (y * _log_positive(y * inv) if y > zero else zero)
                        + _valid(_in_unit(y) & _in_unit(x), y))
            g[i] = (gsf * w[i]) * (-y * inv)
    return sum_values(terms, n)


# ---------------------------------------------------------------------------------------------
# Tier 1: row-wise losses over a group of nr <= GROUP rows starting at row r0.

cdef inline floating _row_max(const floating* x, Py_ssize_t K) noexcept nogil:
    """max(x[0:K]) for K >= 1: max_value's eight lanes for long rows; for short rows two
    interleaved compare chains (the latency of one chain per row, not the compares, is
    what a short row costs)."""
    cdef floating h0 = x[0], h1 = x[K - 1]
    cdef Py_ssize_t j = 1
    if K >= 16:
        return max_value(x, K)
    while j + 1 < K:
        h0 = x[j] if x[j] > h0 else h0
        h1 = x[j + 1] if x[j + 1] > h1 else h1
        j += 2
    if j < K:
        h0 = x[j] if x[j] > h0 else h0
    return h1 if h1 > h0 else h0


cdef double _softmax_group(const int64_t* labels, const floating* yt, const floating* yp,
                           floating* g, Py_ssize_t r0, Py_ssize_t nr, Py_ssize_t K,
                           const floating* sw, const floating* cw, double gs) noexcept nogil:
    """Softmax cross-entropy of rows r0 ... r0 + nr - 1, K <= CHUNK_SIZE classes (rows of
    at least TILE_ROW_BYTES; shorter ones go to _softmax_tiles).

    labels (n_samples) or yt (dense targets, one-hot or probabilities) is NULL. sw points at
    the group's first sample weight, cw at the class weights; both are ONES when not given.
    With gradient (g not NULL) the exponentials are computed in place in g; for the value
    alone, in a stack buffer (nr * K <= CHUNK_SIZE).

    Stability: z = x - max(x) <= 0 per row, so exp(z) <= 1 never overflows and the row
    sum S is >= 1 (the maximum contributes exactly 1): log S never sees 0, and
    -log softmax_j = (max - x_j) + log S is a sum of two non-negative numbers, without
    cancellation. Logits of +-1e4 give finite values.
    """
    cdef floating stack_buffer[CHUNK_SIZE]
    cdef floating row_max[GROUP]
    cdef floating log_sum[GROUP]
    cdef floating inv_sum[GROUP]
    cdef double terms[GROUP]
    cdef const floating* x = yp + r0 * K
    cdef const floating* xr
    cdef const floating* tr
    cdef floating* buf = (g + r0 * K) if g != NULL else stack_buffer
    cdef floating* br
    cdef floating hi, v, f, gw, cj
    cdef double total, dsum
    cdef Py_ssize_t r, j, idx, n_elements = nr * K
    cdef int64_t lab
    cdef bint ok
    cdef int n_bad = 0

    # 1. Row maxima; z = x - max into the buffer. The input check is a separate count of
    # the non-finite logits (x - x is NaN for inf and NaN), vectorised over the group.
    for j in range(n_elements):
        n_bad += not (x[j] - x[j] == <floating> 0)
    for r in range(nr):
        row_max[r] = _row_max(x + r * K, K)
        terms[r] = 0
    for r in range(nr):
        xr = x + r * K
        br = buf + r * K
        hi = row_max[r]
        for j in range(K):
            br[j] = xr[j] - hi
    # 2. All the exponentials of the group in one vectorised loop (short rows would
    # otherwise run mostly in the scalar remainder of a per-row loop).
    for j in range(n_elements):
        buf[j] = _exp_nonpositive(buf[j])
    # 3. Row sums (in double), their logs and inverses, vectorised over the rows.
    for r in range(nr):
        log_sum[r] = <floating> sum_values(buf + r * K, K)
    for r in range(nr):
        inv_sum[r] = <floating> 1 / log_sum[r]
        log_sum[r] = _log(log_sum[r])
    # 4. Loss and gradient of each row: gs c (softmax - target).
    if labels != NULL:
        for r in range(nr):
            lab = labels[r0 + r]
            ok = (lab >= 0) & (lab < K)
            idx = lab if ok else 0
            gw = sw[r] * cw[idx]
            terms[r] += (<double> gw * <double> ((row_max[r] - x[r * K + idx]) + log_sum[r])
                         + (0.0 if ok else NAN))
            if g != NULL:
                br = buf + r * K
                f = <floating> gs * gw
                v = f * inv_sum[r]
                for j in range(K):
                    br[j] = br[j] * v
                br[idx] -= f
    else:
        for r in range(nr):
            xr = x + r * K
            tr = yt + (r0 + r) * K
            # sum_j c_j (-log softmax_j) = sum_j c_j (max - x_j) + C log S, c_j = w_j t_j;
            # the target check (t in [0, 1]) rides on the same sum.
            total = 0
            dsum = 0
            for j in range(K):
                cj = tr[j] * cw[j]
                total += cj
                dsum += cj * (row_max[r] - xr[j]) + _unit_check(tr[j])
            terms[r] += sw[r] * (dsum + total * <double> log_sum[r])
            if g != NULL:
                br = buf + r * K
                f = <floating> gs * sw[r]
                v = f * <floating> total * inv_sum[r]
                for j in range(K):
                    br[j] = br[j] * v - f * (tr[j] * cw[j])
    return sum_values(terms, nr) + (NAN if n_bad > 0 else 0.0)


cdef inline void _prefetch_part(const floating* x, floating* g, const floating* yt,
                                Py_ssize_t K, Py_ssize_t j) noexcept nogil:
    """Ask for part j of K of the next tile's memory (the TILE * K elements after x, g and
    yt; g and yt may be NULL): TILE elements' worth of cache lines of each. A tile reads
    and writes memory only at its start and end, so without this the core would wait for
    memory there instead of computing meanwhile (measured: 20-30% of the time on 10^7
    elements); spread over the columns, the requests do not queue up behind each other.
    The lines of g are asked for writing, for the transposed stores."""
    _prefetch_lines(x, g, yt, TILE * K + TILE * j, TILE)


cdef inline void _gather_columns(const floating* src, floating* dst, Py_ssize_t n,
                                 Py_ssize_t K) noexcept nogil:
    """dst[j * TILE + r] = src[r * K + j] for r < n, j < K (_tile_in without vector
    registers). Two neighbouring columns and four rows per iteration:
    gcc reads and writes each pair of neighbours as one 8-byte access, and the loop
    overhead does not cost as much as the loads and stores (a plain loop is about twice
    as slow)."""
    cdef Py_ssize_t r, j = 0
    cdef const floating* s
    cdef floating* d0
    cdef floating* d1
    cdef floating a0, a1, a2, a3, b0, b1, b2, b3
    while j < K:
        s = src + j
        d0 = dst + j * TILE
        d1 = d0 + TILE
        r = 0
        if j + 1 < K:
            while r + 4 <= n:
                a0 = s[r * K]
                b0 = s[r * K + 1]
                a1 = s[(r + 1) * K]
                b1 = s[(r + 1) * K + 1]
                a2 = s[(r + 2) * K]
                b2 = s[(r + 2) * K + 1]
                a3 = s[(r + 3) * K]
                b3 = s[(r + 3) * K + 1]
                d0[r] = a0
                d0[r + 1] = a1
                d0[r + 2] = a2
                d0[r + 3] = a3
                d1[r] = b0
                d1[r + 1] = b1
                d1[r + 2] = b2
                d1[r + 3] = b3
                r += 4
            while r < n:
                d0[r] = s[r * K]
                d1[r] = s[r * K + 1]
                r += 1
            j += 2
        else:  # the last column of an odd K
            while r < n:
                d0[r] = s[r * K]
                r += 1
            j += 1


cdef inline void _scatter_columns(const floating* src, floating* dst, Py_ssize_t n,
                                  Py_ssize_t K) noexcept nogil:
    """dst[r * K + j] = src[j * TILE + r] for r < n, j < K: the inverse of
    _gather_columns, the same way."""
    cdef Py_ssize_t r, j = 0
    cdef const floating* s0
    cdef const floating* s1
    cdef floating* d
    cdef floating a0, a1, a2, a3, b0, b1, b2, b3
    while j < K:
        s0 = src + j * TILE
        s1 = s0 + TILE
        d = dst + j
        r = 0
        if j + 1 < K:
            while r + 4 <= n:
                a0 = s0[r]
                a1 = s0[r + 1]
                a2 = s0[r + 2]
                a3 = s0[r + 3]
                b0 = s1[r]
                b1 = s1[r + 1]
                b2 = s1[r + 2]
                b3 = s1[r + 3]
                d[r * K] = a0
                d[r * K + 1] = b0
                d[(r + 1) * K] = a1
                d[(r + 1) * K + 1] = b1
                d[(r + 2) * K] = a2
                d[(r + 2) * K + 1] = b2
                d[(r + 3) * K] = a3
                d[(r + 3) * K + 1] = b3
                r += 4
            while r < n:
                d[r * K] = s0[r]
                d[r * K + 1] = s1[r]
                r += 1
            j += 2
        else:
            while r < n:
                d[r * K] = s0[r]
                r += 1
            j += 1


cdef inline void _tile_in(const floating* src, floating* dst, Py_ssize_t n,
                          Py_ssize_t K) noexcept nogil:
    """dst[j * TILE + r] = src[r * K + j] for r < n, j < K, and 0 for n <= r < TILE: n rows
    of K values transposed into a tile, padded with zero rows."""
    cdef Py_ssize_t j
    if TILES_IN_REGISTERS:
        if floating is float:
            _tile_in_f32(src, dst, n, K)
        else:
            _tile_in_f64(src, dst, n, K)
    else:
        if n < TILE:
            for j in range(TILE * K):
                dst[j] = 0
        _gather_columns(src, dst, n, K)


cdef inline void _tile_out(const floating* src, floating* dst, Py_ssize_t n,
                           Py_ssize_t K) noexcept nogil:
    """dst[r * K + j] = src[j * TILE + r] for r < n, j < K: the inverse of _tile_in."""
    if TILES_IN_REGISTERS:
        if floating is float:
            _tile_out_f32(src, dst, n, K)
        else:
            _tile_out_f64(src, dst, n, K)
    else:
        _scatter_columns(src, dst, n, K)


cdef int _softmax_tile(const int64_t* labels, const floating* yt, const floating* x,
                       floating* g, Py_ssize_t nr, Py_ssize_t K, const floating* sw,
                       const floating* cw, double gs, double* terms) noexcept nogil:
    """Softmax cross-entropy of nr <= TILE rows with K <= TILE_CLASSES classes, vectorised
    across the rows: the tile is transposed into z[j * TILE + r] (class j of row r), so that
    the max, exp and sum of each row run down a column with one row per vector lane, in
    loops over the TILE rows that gcc turns into whole vectors (rows nr ... TILE - 1 are
    padding: zero logits, weight 0, computed and discarded). A short row costs no per-row
    loop, remainder or horizontal reduction this way; what it costs is the transposition
    in and out. Float32 logits with integer labels on AVX-512 builds take the same steps in
    vector registers instead (fastnn_softmax_labels_tile_f32 in _tiles.h, called from
    _softmax_tiles), with the same results.

    x, yt (dense targets, or NULL), labels (or NULL), g (or NULL for the value alone) and sw
    point at the tile's first row (sw at ONES when not given); cw at the class weights, or
    NULL. Writes each row's weighted loss into terms[0:nr] and returns the number of
    invalid inputs (a non-finite logit, a target outside [0, 1]); an invalid label makes
    its term NaN.

    Stability: as in _softmax_group, z = x - max(x) <= 0 per row, so exp(z) <= 1 never
    overflows and the row sum S >= 1 (the maximum contributes exactly 1): log S never sees
    0, and -log softmax_j = (max - x_j) + log S is a sum of two non-negative numbers,
    without cancellation. Logits of +-1e4 give finite values.
    """
    cdef floating z[TILE * TILE_CLASSES]
    cdef floating c[TILE * TILE_CLASSES]
    cdef floating hi[TILE]
    cdef floating picked[TILE]
    cdef floating check[TILE]
    cdef floating col[TILE]
    cdef floating wt[TILE]
    cdef floating log_s[TILE]
    cdef floating inv_s[TILE]
    cdef floating f[TILE]
    cdef floating v[TILE]
    cdef double s[TILE]
    cdef double total[TILE]
    cdef double dsum[TILE]
    cdef floating bad[TILE]
    cdef floating label_weight[TILE]
    cdef double tile_terms[TILE]
    cdef floating zj, tj, wj
    cdef floating zero = 0
    cdef Py_ssize_t r, j
    cdef bint ok
    cdef int n_bad = 0

    # 1. The tile transposed into z (and the dense targets into c); the sample weights and
    # labels into per-tile arrays. Padding rows get 0 everywhere.
    _tile_in(x, z, nr, K)
    for r in range(TILE):
        wt[r] = 0
        col[r] = 0
    for r in range(nr):
        wt[r] = sw[r]
    if labels != NULL:
        # The label's column as a float, to compare with j in the loops below: exact for
        # labels in [0, K) (K <= TILE_CLASSES), and a label outside stays outside. An invalid
        # label reads column 0 and makes its term NaN.
        for r in range(nr):
            col[r] = <floating> labels[r]
        for r in range(TILE):
            ok = (col[r] >= zero) & (col[r] < <floating> K)
            bad[r] = zero if ok else <floating> NAN
            col[r] = col[r] if ok else zero
    else:
        _tile_in(yt, c, nr, K)
        for r in range(TILE):
            col[r] = -1  # no column is the label's

    # 2. Row maxima; the label's logit; the input check: check = the sum of x - x, which is
    # NaN when a logit is inf or NaN, 0 otherwise.
    for r in range(TILE):
        hi[r] = z[r]
        picked[r] = z[r]
        check[r] = z[r] - z[r]
    for j in range(1, K):
        for r in range(TILE):
            zj = z[j * TILE + r]
            hi[r] = zj if zj > hi[r] else hi[r]
            picked[r] = zj if col[r] == <floating> j else picked[r]
            check[r] += zj - zj
    for r in range(TILE):
        n_bad += not (check[r] == zero)
    if labels == NULL:
        # sum_j c_j (-log softmax_j) = sum_j c_j (max - x_j) + C log S with c_j = w_j t_j and
        # C = sum_j c_j: the first sum and C, while z still holds x; c_j replaces t_j in c.
        # The targets are checked here too: check = the sum of 0 for t in [0, 1], NaN
        # otherwise.
        for r in range(TILE):
            total[r] = 0
            dsum[r] = 0
            check[r] = 0
        for j in range(K):
            wj = cw[j] if cw != NULL else <floating> 1
            for r in range(TILE):
                tj = c[j * TILE + r]
                check[r] += zero if _in_unit(tj) else <floating> NAN
                tj = tj * wj
                c[j * TILE + r] = tj
                total[r] += tj
                dsum[r] += tj * (hi[r] - z[j * TILE + r])
        for r in range(TILE):
            n_bad += not (check[r] == zero)

    # 3. One exp per element, of x - max <= 0, kept in z (meanwhile the next tile's memory
    # is fetched, a part per column: see _prefetch_part); the row sums S in double (below),
    # in a loop of their own (in float64 exp is a libmvec call, which clobbers every vector
    # register, so whatever a loop that calls it keeps live is spilled and reloaded around
    # each call).
    for j in range(K):
        _prefetch_part(x, g, yt, K, j)
        for r in range(TILE):
            z[j * TILE + r] = _exp_nonpositive(z[j * TILE + r] - hi[r])
    # The columns are added in fours in the dtype before going into the double sums, as in
    # sum_values: a quarter of the conversions, and each four is off by at most 2 ulps.
    for r in range(TILE):
        s[r] = 0
    j = 0
    while j + 4 <= K:
        for r in range(TILE):
            s[r] += <double> ((z[j * TILE + r] + z[(j + 1) * TILE + r])
                              + (z[(j + 2) * TILE + r] + z[(j + 3) * TILE + r]))
        j += 4
    while j < K:
        for r in range(TILE):
            s[r] += z[j * TILE + r]
        j += 1
    for r in range(TILE):
        inv_s[r] = <floating> 1 / <floating> s[r]
        log_s[r] = <floating> s[r]
    for r in range(TILE):
        log_s[r] = _log(log_s[r])

    # 4. Each row's loss, and its gradient gs c (softmax - target) in z: with labels,
    # f = gs w, v = f / S and the label's column gets -f; with dense targets, f = gs sw,
    # v = f C / S and every column gets -f c_j.
    if labels != NULL:
        if cw != NULL:
            for r in range(TILE):
                label_weight[r] = cw[<Py_ssize_t> col[r]]  # a gather: its own loop
            for r in range(TILE):
                wt[r] = wt[r] * label_weight[r]
        for r in range(TILE):
            tile_terms[r] = (<double> wt[r] * <double> ((hi[r] - picked[r]) + log_s[r])
                             + <double> bad[r])
            f[r] = <floating> gs * wt[r]
            v[r] = f[r] * inv_s[r]
        if g != NULL:
            for j in range(K):
                for r in range(TILE):
                    z[j * TILE + r] = (z[j * TILE + r] * v[r]
                                       - (f[r] if col[r] == <floating> j else zero))
    else:
        for r in range(TILE):
            tile_terms[r] = wt[r] * (dsum[r] + total[r] * <double> log_s[r])
            f[r] = <floating> gs * wt[r]
            v[r] = f[r] * <floating> total[r] * inv_s[r]
        if g != NULL:
            for j in range(K):
                for r in range(TILE):
                    z[j * TILE + r] = z[j * TILE + r] * v[r] - f[r] * c[j * TILE + r]
    for r in range(nr):
        terms[r] = tile_terms[r]

    # 5. The gradient back in row order.
    if g != NULL:
        _tile_out(z, g, nr, K)
    return n_bad


cdef double _softmax_tiles(const int64_t* labels, const floating* yt, const floating* yp,
                           floating* g, Py_ssize_t r0, Py_ssize_t nr, Py_ssize_t K,
                           const floating* sw, const floating* cw, double gs) noexcept nogil:
    """Softmax cross-entropy of rows r0 ... r0 + nr - 1, K <= TILE_CLASSES, in tiles of
    TILE rows (the last one partial); arguments as _softmax_group's, except that cw is
    NULL without class weights. The tiles start at fixed rows of the group, so the sum does
    not depend on the thread count."""
    cdef double terms[GROUP]
    cdef const floating* x
    cdef const floating* tt
    cdef floating* gt
    cdef Py_ssize_t t, m
    cdef int n_bad = 0
    for t in range(0, nr, 32):  # TILE
        m = min(<Py_ssize_t> TILE, nr - t)
        x = yp + (r0 + t) * K
        gt = (g + (r0 + t) * K) if g != NULL else NULL
        tt = (yt + (r0 + t) * K) if yt != NULL else NULL
        if floating is float and TILES_IN_REGISTERS and labels != NULL:
            n_bad += _softmax_labels_tile_f32(x, labels + r0 + t, gt, m, K, sw + t, cw,
                                              <float> gs, terms + t)
        else:
            n_bad += _softmax_tile((labels + r0 + t) if labels != NULL else NULL, tt, x, gt,
                                   m, K, sw + t, cw, gs, terms + t)
    return sum_values(terms, nr) + (NAN if n_bad > 0 else 0.0)


cdef double _softmax_row_large(const int64_t* labels, const floating* yt, const floating* yp,
                               floating* g, Py_ssize_t row, Py_ssize_t K,
                               const floating* sw, const floating* cw,
                               double gs) noexcept nogil:
    """Softmax cross-entropy of one row with K > CHUNK_SIZE classes, in pieces of PIECE
    elements (the value alone needs no buffer of K elements). Same maths as
    _softmax_group; sw and cw may be NULL here."""
    cdef floating piece[PIECE]
    cdef const floating* x = yp + row * K
    cdef const floating* t = (yt + row * K) if yt != NULL else NULL
    cdef floating* gr = (g + row * K) if g != NULL else NULL
    cdef floating hi = max_value(x, K), log_s, inv_s, f, v, cj
    cdef double s = 0, total = 0, dsum = 0, term, wr = 1.0 if sw == NULL else sw[row]
    cdef Py_ssize_t j, start, m, idx = 0
    cdef int64_t lab
    cdef bint ok = True
    cdef int n_bad = 0
    for j in range(K):  # the input check, as in _softmax_group
        n_bad += not (x[j] - x[j] == <floating> 0)
    term = NAN if n_bad > 0 else 0.0
    for start in range(0, K, 1024):  # PIECE
        m = min(<Py_ssize_t> PIECE, K - start)
        if gr != NULL:
            for j in range(m):
                gr[start + j] = _exp_nonpositive(x[start + j] - hi)
            s += sum_values(gr + start, m)
        else:
            for j in range(m):
                piece[j] = _exp_nonpositive(x[start + j] - hi)
            s += sum_values(piece, m)
    log_s = _log(<floating> s)
    inv_s = <floating> 1 / <floating> s
    if labels != NULL:
        lab = labels[row]
        ok = (lab >= 0) & (lab < K)
        idx = lab if ok else 0
        wr *= 1.0 if cw == NULL else cw[idx]
        term += wr * <double> ((hi - x[idx]) + log_s) + (0.0 if ok else NAN)
        if gr != NULL:
            f = <floating> (gs * wr)
            v = f * inv_s
            for j in range(K):
                gr[j] = gr[j] * v
            gr[idx] -= f
    else:
        for j in range(K):
            cj = t[j] * (<floating> 1 if cw == NULL else cw[j])
            total += cj
            dsum += cj * (hi - x[j]) + _unit_check(t[j])
        term += wr * (dsum + total * <double> log_s)
        if gr != NULL:
            f = <floating> (gs * wr)
            v = f * <floating> total * inv_s
            for j in range(K):
                gr[j] = gr[j] * v - f * (t[j] * (<floating> 1 if cw == NULL else cw[j]))
    return term


cdef double _sparse_group(const int64_t* labels, const floating* yp, floating* g,
                          Py_ssize_t r0, Py_ssize_t nr, Py_ssize_t K, const floating* sw,
                          double gs) noexcept nogil:
    """Sparse categorical cross-entropy of rows r0 ... r0 + nr - 1: -log p[label] with p
    clipped to [eps, 1] (eps = the dtype's machine epsilon), gradient -1 / max(p, eps) at
    the label and 0 elsewhere. Every probability of the rows is checked to be in [0, 1].
    sw points at the group's first sample weight (ONES when not given)."""
    cdef floating picked[GROUP]
    cdef double terms[GROUP]
    cdef const floating* p = yp + r0 * K
    cdef floating* gr = (g + r0 * K) if g != NULL else NULL
    cdef floating eps = _eps(<floating> 0), v
    cdef Py_ssize_t r, j, idx, n_elements = nr * K
    cdef int64_t lab
    cdef bint ok
    cdef int n_bad = 0
    # Check every probability and zero the gradient rows first: this vector loop touches
    # the group's memory first, with the hardware prefetchers streaming ahead of it, and the
    # scalar loops below find the rows in cache. (Gather first and check last took 1.08x at
    # 1e7 float32 elements on 2 threads.)
    if gr != NULL:
        for j in range(n_elements):
            v = p[j]
            n_bad += not _in_unit(v)
            gr[j] = 0
    else:
        for j in range(n_elements):
            v = p[j]
            n_bad += not _in_unit(v)
    # The label's probability of each row (a gather; invalid labels read column 0). Meanwhile
    # the next group's rows are asked for, a row at a time: the prefetchers have stopped
    # with the vector loop, and the scalar loops leave the memory idle otherwise (without
    # this, 1.08x).
    for r in range(nr):
        lab = labels[r0 + r]
        ok = (lab >= 0) & (lab < K)
        picked[r] = p[r * K + (lab if ok else 0)]
        terms[r] = 0.0 if ok else NAN
        _prefetch(p, (n_elements + r * K) * <Py_ssize_t> sizeof(floating), 0)
        if gr != NULL:
            _prefetch(gr, (n_elements + r * K) * <Py_ssize_t> sizeof(floating), 1)
    # Loss and gradient value of each row, vectorised over the rows.
    for r in range(nr):
        v = picked[r] if picked[r] > eps else eps
        terms[r] += sw[r] * <double> (-_log_positive_normal(v))
        picked[r] = -(<floating> gs * sw[r]) / v
    # Each row's gradient value at its label.
    if gr != NULL:
        for r in range(nr):
            lab = labels[r0 + r]
            idx = lab if (lab >= 0) & (lab < K) else 0
            gr[r * K + idx] = picked[r]
    return sum_values(terms, nr) + (NAN if n_bad > 0 else 0.0)


# ---------------------------------------------------------------------------------------------
# Tier 2: blocks of rows and the parallel driver.

cdef inline bint _in_tiles(LossKind kind, Py_ssize_t K, const floating* like) noexcept nogil:
    """Softmax cross-entropy with rows short enough for _softmax_tiles."""
    return ((kind == SOFTMAX_CE or kind == SOFTMAX_CE_LABELS)
            and K * <Py_ssize_t> sizeof(floating) < TILE_ROW_BYTES)


cdef void _elementwise_block(LossKind kind, const floating* yt, const floating* yp,
                             floating* g, Py_ssize_t K, const floating* sw,
                             const floating* cw, Py_ssize_t r0, Py_ssize_t r1, double gs,
                             double p0, double p1, double* out) noexcept nogil:
    """Rows r0 ... r1 - 1 of an element-wise loss, in pieces of PIECE elements. Sample
    weights (one per row) and column parameters (one per column) are expanded to one per
    element in stack buffers, so every loss has one loop for all cases.
    out[0] = sum of the terms; out[1], out[2] = hinge's counts."""
    cdef floating weights[PIECE]
    cdef floating columns[PIECE]
    cdef floating grad_buffer[PIECE]
    cdef const floating* w
    cdef const floating* cp
    cdef floating v
    cdef double total = 0
    cdef double counts[2]
    cdef Py_ssize_t start, n, e, m, j, row, col
    cdef Py_ssize_t e0 = r0 * K, e1 = r1 * K
    counts[0] = 0
    counts[1] = 0
    for start in range(e0, e1, 1024):  # PIECE
        n = min(<Py_ssize_t> PIECE, e1 - start)
        if sw == NULL:
            w = _ones(yp)
        elif K == 1:
            w = sw + start
        else:
            row = start // K
            col = start % K
            e = 0
            while e < n:
                m = min(K - col, n - e)
                v = sw[row]
                for j in range(m):
                    weights[e + j] = v
                e += m
                row += 1
                col = 0
            w = weights
        cp = NULL
        if cw != NULL:
            col = start % K
            e = 0
            while e < n:
                m = min(K - col, n - e)
                for j in range(m):
                    columns[e + j] = cw[col + j]
                e += m
                col = 0
            cp = columns
        total += _elementwise_piece(kind, yt + start, yp + start,
                                    (g + start) if g != NULL else grad_buffer, w, cp, n, gs,
                                    p0, p1, counts)
    out[0] = total
    out[1] = counts[0]
    out[2] = counts[1]


cdef void _block(LossKind kind, const int64_t* labels, const floating* yt,
                 const floating* yp, floating* g, Py_ssize_t K, const floating* sw,
                 const floating* cw, Py_ssize_t r0, Py_ssize_t r1, double gs, double p0,
                 double p1, double* out) noexcept nogil:
    """One block of rows of any loss; writes its partial sums into out[0:3]."""
    cdef double total = 0
    cdef Py_ssize_t r
    if kind <= KL_DIVERGENCE:
        _elementwise_block(kind, yt, yp, g, K, sw, cw, r0, r1, gs, p0, p1, out)
        return
    if kind == SPARSE_CE:
        for r in range(r0, r1, 1024):  # GROUP
            total += _sparse_group(labels, yp, g, r, min(<Py_ssize_t> GROUP, r1 - r), K,
                                   (sw + r) if sw != NULL else _ones(yp), gs)
    elif _in_tiles(kind, K, yp):
        for r in range(r0, r1, 1024):  # GROUP
            total += _softmax_tiles(labels if kind == SOFTMAX_CE_LABELS else NULL,
                                    yt if kind == SOFTMAX_CE else NULL, yp, g, r,
                                    min(<Py_ssize_t> GROUP, r1 - r), K,
                                    (sw + r) if sw != NULL else _ones(yp), cw, gs)
    elif K <= CHUNK_SIZE:
        for r in range(r0, r1, 1024):  # GROUP
            total += _softmax_group(labels if kind == SOFTMAX_CE_LABELS else NULL,
                                    yt if kind == SOFTMAX_CE else NULL, yp, g, r,
                                    min(<Py_ssize_t> GROUP, r1 - r), K,
                                    (sw + r) if sw != NULL else _ones(yp),
                                    cw if cw != NULL else _ones(yp), gs)
    else:
        for r in range(r0, r1):
            total += _softmax_row_large(labels if kind == SOFTMAX_CE_LABELS else NULL,
                                        yt if kind == SOFTMAX_CE else NULL, yp, g, r, K, sw,
                                        cw, gs)
    out[0] = total
    out[1] = 0
    out[2] = 0


cdef double _normaliser_block(LossKind kind, const int64_t* labels, const floating* yt,
                              Py_ssize_t K, const floating* sw, const floating* cw,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Sum over rows r0 ... r1 - 1 of sample weight (1 without) times, for class-weighted
    softmax cross-entropy, the class weight of the target (sum_j w_j t_j for dense
    targets). NaN for a negative or non-finite sample weight or an invalid label."""
    cdef double terms[GROUP]
    cdef double total = 0, c
    cdef floating v
    cdef Py_ssize_t r, j, g0, nr
    cdef int64_t lab
    for g0 in range(r0, r1, 1024):  # GROUP
        nr = min(<Py_ssize_t> GROUP, r1 - g0)
        if sw != NULL:
            for r in range(nr):
                v = sw[g0 + r]
                terms[r] = <double> v + (<double> (v - v) if v >= <floating> 0 else NAN)
        else:
            for r in range(nr):
                terms[r] = 1
        if cw != NULL and kind == SOFTMAX_CE_LABELS:
            for r in range(nr):
                lab = labels[g0 + r]
                terms[r] *= cw[lab] if (lab >= 0) & (lab < K) else NAN
        elif cw != NULL and kind == SOFTMAX_CE:
            for r in range(nr):
                c = 0
                for j in range(K):
                    c += yt[(g0 + r) * K + j] * cw[j]
                terms[r] *= c
        total += sum_values(terms, nr)
    return total


cdef double _run(LossKind kind, const int64_t* labels, const floating* yt,
                 const floating* yp, floating* g, Py_ssize_t N, Py_ssize_t K,
                 const floating* sw, const floating* cw, double p0, double p1,
                 int n_threads) noexcept nogil:
    """Value of the loss (NaN for invalid input), and its gradient into g if not NULL."""
    cdef Py_ssize_t R = _rows_per_block(K)
    cdef Py_ssize_t n_blocks
    cdef Py_ssize_t b
    cdef bint parallel = n_threads > 1 and N * K >= PARALLEL_MIN_SIZE
    cdef bint class_weighted = cw != NULL and (kind == SOFTMAX_CE or kind == SOFTMAX_CE_LABELS)
    cdef double norm = 0, total = 0, n_zero = 0, n_minus = 0, gs
    cdef double one_block[3]
    cdef double* partials
    if N <= 0 or K <= 0:
        return NAN
    if _in_tiles(kind, K, yp) and R > TILE:
        R -= R % TILE  # whole tiles: no padded tile at the end of every block
    n_blocks = (N + R - 1) // R
    # One slot of three sums per block, added in block order after the parallel loop. If
    # the allocation fails, the blocks run in order on this thread and are added as they
    # come: the same sums in the same order, so the same result.
    partials = <double*> malloc(3 * n_blocks * sizeof(double))

    # The normaliser: n_samples, or the total (sample x class) weight.
    if sw == NULL and not class_weighted:
        norm = <double> N
    elif partials != NULL:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=parallel):
            partials[b] = _normaliser_block(kind, labels, yt, K, sw, cw, b * R,
                                            min(N, (b + 1) * R))
        for b in range(n_blocks):
            norm += partials[b]
    else:
        for b in range(n_blocks):
            norm += _normaliser_block(kind, labels, yt, K, sw, cw, b * R, min(N, (b + 1) * R))
    if kind <= FOCAL:
        norm *= K  # element-wise: the mean over outputs too
    if not (norm > 0 and norm < INFINITY):  # NaN (invalid weight or label), 0, or inf
        free(partials)
        return NAN
    gs = 1.0 / norm

    if partials != NULL:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=parallel):
            _block(kind, labels, yt, yp, g, K, sw, cw, b * R, min(N, (b + 1) * R), gs, p0,
                   p1, &partials[3 * b])
        for b in range(n_blocks):
            total += partials[3 * b]
            n_zero += partials[3 * b + 1]
            n_minus += partials[3 * b + 2]
        free(partials)
    else:
        for b in range(n_blocks):
            _block(kind, labels, yt, yp, g, K, sw, cw, b * R, min(N, (b + 1) * R), gs, p0,
                   p1, one_block)
            total += one_block[0]
            n_zero += one_block[1]
            n_minus += one_block[2]
    if kind == HINGE and n_zero > 0 and n_minus > 0:
        return NAN  # labels mix the {0, 1} and {-1, 1} conventions
    return total / norm


# ---------------------------------------------------------------------------------------------
# Tier 3: entry points.

cdef double loss_dense(LossKind kind, const floating* y_true, const floating* y_pred,
                       floating* grad, Py_ssize_t n_samples, Py_ssize_t n_outputs,
                       const floating* sample_weight, const floating* column_weight,
                       double p0, double p1, int n_threads) noexcept nogil:
    if kind == SPARSE_CE or kind == SOFTMAX_CE_LABELS:
        return NAN
    return _run(kind, NULL, y_true, y_pred, grad, n_samples, n_outputs, sample_weight,
                column_weight, p0, p1, n_threads)


cdef double loss_labels(LossKind kind, const int64_t* labels, const floating* y_pred,
                        floating* grad, Py_ssize_t n_samples, Py_ssize_t n_classes,
                        const floating* sample_weight, const floating* column_weight,
                        int n_threads) noexcept nogil:
    if kind != SPARSE_CE and kind != SOFTMAX_CE_LABELS:
        return NAN
    return _run(kind, labels, NULL, y_pred, grad, n_samples, n_classes, sample_weight,
                column_weight if kind == SOFTMAX_CE_LABELS else NULL, 0, 0, n_threads)


def dense(LossKind kind, const floating[::1] y_true, const floating[::1] y_pred,
          floating[::1] grad, Py_ssize_t n_samples, Py_ssize_t n_outputs,
          const floating[::1] sample_weight, const floating[::1] column_weight, double p0,
          double p1, int n_threads):
    """Loss value; the gradient goes into grad unless grad is empty. The arrays are flat
    views of validated buffers (see loss_dense); empty sample_weight / column_weight mean
    none. Returns NaN for invalid input values."""
    cdef double value
    cdef floating* g = &grad[0] if grad.shape[0] > 0 else NULL
    cdef const floating* sw = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef const floating* cw = &column_weight[0] if column_weight.shape[0] > 0 else NULL
    if y_true.shape[0] != n_samples * n_outputs or y_pred.shape[0] != n_samples * n_outputs \
            or (g != NULL and grad.shape[0] != n_samples * n_outputs) \
            or (sw != NULL and sample_weight.shape[0] != n_samples) \
            or (cw != NULL and column_weight.shape[0] != n_outputs) or n_samples * n_outputs == 0:
        raise ValueError("inconsistent buffer sizes")  # fastnn.losses never gets here
    with nogil:
        value = loss_dense(kind, &y_true[0], &y_pred[0], g, n_samples, n_outputs, sw, cw,
                           p0, p1, n_threads)
    return value


def labels(LossKind kind, const int64_t[::1] labels, const floating[::1] y_pred,
           floating[::1] grad, Py_ssize_t n_samples, Py_ssize_t n_classes,
           const floating[::1] sample_weight, const floating[::1] column_weight,
           int n_threads):
    """As dense, for integer labels (SPARSE_CE, SOFTMAX_CE_LABELS)."""
    cdef double value
    cdef floating* g = &grad[0] if grad.shape[0] > 0 else NULL
    cdef const floating* sw = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef const floating* cw = &column_weight[0] if column_weight.shape[0] > 0 else NULL
    if labels.shape[0] != n_samples or y_pred.shape[0] != n_samples * n_classes \
            or (g != NULL and grad.shape[0] != n_samples * n_classes) \
            or (sw != NULL and sample_weight.shape[0] != n_samples) \
            or (cw != NULL and column_weight.shape[0] != n_classes) or n_samples * n_classes == 0:
        raise ValueError("inconsistent buffer sizes")  # fastnn.losses never gets here
    with nogil:
        value = loss_labels(kind, &labels[0], &y_pred[0], g, n_samples, n_classes, sw, cw,
                            n_threads)
    return value


# Sizes the Python layer and the tests need.
chunk_size = CHUNK_SIZE
piece_size = PIECE
