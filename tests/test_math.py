"""fastnn's own point functions (_math.pxd) against NumPy, in every compiled variant.

_log1p_unit (float32 and float64), _exp_nonpositive, _expm1_nonpositive, _exp and _log
(float32; in float64 they are glibc's exp, expm1 and log) are polynomials, not libm calls:
their accuracy is the polynomials', so it is measured here in ulps over their whole domains
([0, 1], x <= 0, every x and x > 0), in the baseline (no FMA), AVX2 and AVX-512 builds (the
loop is vectorised differently in each).
The special points are checked in both dtypes."""
import numpy as np
import pytest

from fastnn._core import _dispatch

VARIANTS = _dispatch.available_variants("_elementary")
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=VARIANTS)
def elementary(request):
    return _dispatch.load("_elementary", isa=request.param)


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the spacing of dtype at exact (exact in long double)."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - exact) / spacing


def assert_within_ulp(bound, x, got, exact, dtype):
    """Every got[i] within `bound` ulp of exact[i]; a failure names the worst input."""
    errors = ulp_error(got, exact, dtype)
    worst = errors.argmax()
    assert errors[worst] <= bound, (x[worst], got[worst], exact[worst], errors[worst])


def log1p_unit(elementary, e):
    out = np.empty_like(e)
    elementary.log1p_unit(e, out)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_unit_is_within_2_ulp_on_0_1(elementary, dtype):
    if np.finfo(np.longdouble).eps >= np.finfo(dtype).eps / 2**8:
        pytest.skip("the reference needs a long double well beyond this dtype (x86: 80-bit)")
    tiny = np.finfo(dtype).smallest_subnormal
    e = np.concatenate([
        np.linspace(0, 1, 1 << 20),            # the whole interval, evenly
        np.geomspace(tiny, 1e-3, 1 << 14),     # down to the subnormals, where log1p(e) ~ e
        np.nextafter(1.0, 0.0) - np.arange(64) * np.finfo(dtype).epsneg,  # just below 1
    ]).astype(dtype)
    e.setflags(write=False)  # read-only input is fine
    got = log1p_unit(elementary, e)
    assert_within_ulp(2.0, e, got, np.log1p(e.astype(np.longdouble)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_unit_exact_points(elementary, dtype):
    e = np.array([0.0, 1.0, np.nan, np.finfo(dtype).smallest_subnormal], dtype=dtype)
    got = log1p_unit(elementary, e)
    assert got[0] == 0.0 and not np.signbit(got[0])
    assert got[1] == pytest.approx(np.log(2.0), rel=2 * float(np.finfo(dtype).eps))
    assert np.isnan(got[2])
    assert got[3] == e[3]  # log1p(e) = e to within rounding for the smallest subnormal


def exp_nonpositive(elementary, x):
    out = np.empty_like(x)
    elementary.exp_nonpositive(x, out)
    return out


def expm1_nonpositive(elementary, x):
    out = np.empty_like(x)
    elementary.expm1_nonpositive(x, out)
    return out


# The float32 polynomials of _inline_math.h, each with the reference and the lower end of its
# sweep. exp(x) rounds to 0 below about -103.97: its sweep goes a little beyond, through the
# subnormal results. expm1(x) rounds to -1 below about -17.3. (In float64 these functions are
# glibc's, not fastnn's: glibc's vector exp is off by 2.88 ulp at most on this sweep, near
# x = -71.4.)
NONPOSITIVE_FUNCTIONS = [(exp_nonpositive, np.exp, -105.0), (expm1_nonpositive, np.expm1, -20.0)]


@pytest.mark.parametrize("function, reference, lowest", NONPOSITIVE_FUNCTIONS,
                         ids=["exp", "expm1"])
def test_nonpositive_exp_is_within_2_ulp(elementary, function, reference, lowest):
    dtype = np.float32
    tiny = np.finfo(dtype).smallest_subnormal
    k = np.arange(np.floor(lowest / np.log(2.0)), 1)
    x = np.concatenate([
        np.linspace(lowest, 0, 1 << 21),   # the whole domain, evenly
        -np.geomspace(tiny, 1, 1 << 14),   # near 0, where exp(x) - 1 would cancel in expm1
        k * np.log(2.0),                   # the points where k changes, and ...
        (k + 0.5) * np.log(2.0),           # ... halfway between
    ]).astype(dtype)
    x = x[x <= 0]
    x.setflags(write=False)
    got = function(elementary, x)
    # in the subnormals the spacing is the smallest subnormal (np.spacing of a value that
    # rounds to 0 is the smallest subnormal as well)
    assert_within_ulp(2.0, x, got, reference(x.astype(np.longdouble)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_nonpositive_exact_points(elementary, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([0.0, -0.0, -np.inf, np.nan, -1e4, -tiny, np.log(tiny)], dtype=dtype)
    got = exp_nonpositive(elementary, x)
    assert got[0] == 1.0 and got[1] == 1.0 and got[5] == 1.0
    assert got[2] == 0.0 and got[4] == 0.0
    assert np.isnan(got[3])
    assert got[6] == tiny  # exp(log(smallest subnormal)) is the smallest subnormal


@pytest.mark.parametrize("dtype", DTYPES)
def test_expm1_nonpositive_exact_points(elementary, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([0.0, -0.0, -np.inf, np.nan, -1e4, -tiny, -40.0], dtype=dtype)
    got = expm1_nonpositive(elementary, x)
    assert got[0] == 0.0 and got[1] == 0.0
    assert got[2] == -1.0 and got[4] == -1.0 and got[6] == -1.0
    assert np.isnan(got[3])
    assert got[5] == -tiny  # expm1(x) = x to within rounding for the smallest subnormal


# _exp: fastnn's inline exp in float32 (fastnn_exp_f32, for arguments of either sign; poisson),
# glibc's in float64.
def test_exp_is_within_2_ulp(elementary):
    """Over [-105, 89], evenly, through the subnormal results and up to the overflow at
    88.72, and at the points where k changes and halfway between."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float32).eps / 2**8:
        pytest.skip("the reference needs a long double well beyond float32 (x86: 80-bit)")
    k = np.arange(-151, 129)
    x = np.concatenate([
        np.linspace(-105, 89, 1 << 21),
        np.geomspace(np.finfo(np.float32).smallest_subnormal, 1, 1 << 14),  # near 0, positive
        k * np.log(2.0), (k + 0.5) * np.log(2.0),
    ]).astype(np.float32)
    x.setflags(write=False)
    got = np.empty_like(x)
    elementary.exp(x, got)
    exact = np.exp(x.astype(np.longdouble))
    finite = exact <= np.finfo(np.float32).max
    assert np.all(np.isinf(got[~finite]))  # beyond log(largest float32) = 88.72
    assert_within_ulp(2.0, x[finite], got[finite], exact[finite], np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_exact_points(elementary, dtype):
    big = 1e4  # beyond both dtypes' overflow
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, 1.0, -1.0], dtype=dtype)
    got = np.empty_like(x)
    elementary.exp(x, got)
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == np.inf and got[3] == 0.0 and np.isnan(got[4])
    assert got[5] == np.inf and got[6] == 0.0
    eps = float(np.finfo(dtype).eps)
    assert got[7] == pytest.approx(np.e, rel=eps) and got[8] == pytest.approx(1 / np.e, rel=eps)


def log_sweep():
    """Every 97th float32 from the smallest subnormal to the largest finite, every float32
    near 1 (where log(x) is small and the f + f^2 Q(f) form must keep its relative
    precision) and at the ends of the mantissa interval [0.75, 1.5), without 1 (log(1) = 0
    exactly, checked with the special points: its ulp spacing is a subnormal)."""
    one = int(np.float32(1).view(np.uint32))
    ends = np.float32([0.75, 1.5, 3.0, 0.375]).view(np.uint32).astype(np.int64)
    bits = np.concatenate([
        np.arange(1, 0x7F800000, 97, dtype=np.int64),
        np.arange(one - 4096, one + 4096, dtype=np.int64),
        (ends[:, None] + np.arange(-64, 64)).ravel(),
    ]).astype(np.uint32)
    x = bits.view(np.float32)
    return x[x != 1]


def log_points(dtype):
    """The special points of log and its exact values, 17 of them: a full vector of 16 and a
    masked one (for fastnn_log_ps16)."""
    return np.array([1.0, 0.0, -0.0, np.inf, np.nan, -1.0, -np.inf, 2.0, 0.5,
                     np.finfo(dtype).smallest_subnormal] + [1.0] * 7, dtype=dtype)


def assert_log_points(got, dtype):
    assert got[0] == 0.0 and got[10:].tolist() == [0.0] * 7
    assert got[1] == -np.inf and got[2] == -np.inf and got[3] == np.inf
    assert np.isnan(got[4]) and np.isnan(got[5]) and np.isnan(got[6])
    assert got[7] == dtype(np.log(2.0)) and got[8] == dtype(-np.log(2.0))
    lowest_exponent = np.log2(float(np.finfo(dtype).smallest_subnormal))
    assert got[9] == pytest.approx(lowest_exponent * np.log(2.0),
                                   rel=float(np.finfo(dtype).eps))


# _log: fastnn's inline log in float32 (fastnn_log_f32 of _inline_math.h), glibc's in float64.
def test_log_is_within_2_ulp(elementary):
    if np.finfo(np.longdouble).eps >= np.finfo(np.float32).eps / 2**8:
        pytest.skip("the reference needs a long double well beyond float32 (x86: 80-bit)")
    x = log_sweep()
    x.setflags(write=False)
    got = np.empty_like(x)
    elementary.log(x, got)
    assert_within_ulp(2.0, x, got, np.log(x.astype(np.longdouble)), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_exact_points(elementary, dtype):
    x = log_points(dtype)
    got = np.empty_like(x)
    elementary.log(x, got)
    assert_log_points(got, dtype)


# _log_positive and _log_positive_normal: the same log for narrower arguments (0 < x < inf;
# positive normal finite x), without the steps those arguments do not need. On their domains
# they are held to the same 2 ulp, and to _log's bits.
NARROW_LOGS = {"log_positive": np.finfo(np.float32).smallest_subnormal,
               "log_positive_normal": np.finfo(np.float32).tiny}


@pytest.mark.parametrize("name", sorted(NARROW_LOGS))
def test_narrow_logs_are_within_2_ulp(elementary, name):
    if np.finfo(np.longdouble).eps >= np.finfo(np.float32).eps / 2**8:
        pytest.skip("the reference needs a long double well beyond float32 (x86: 80-bit)")
    x = log_sweep()
    x = x[x >= NARROW_LOGS[name]]
    got = np.empty_like(x)
    getattr(elementary, name)(x, got)
    assert_within_ulp(2.0, x, got, np.log(x.astype(np.longdouble)), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NARROW_LOGS))
def test_narrow_logs_give_the_bits_of_log_on_their_domain(elementary, name, dtype):
    lowest = NARROW_LOGS[name] if dtype == np.float32 else np.finfo(dtype).smallest_subnormal
    x = np.concatenate([log_sweep().astype(dtype), log_points(dtype)])
    x = x[(x >= lowest) & (x < np.inf)]
    x = np.concatenate([x, np.array([lowest, np.finfo(dtype).max], dtype=dtype)])
    narrow, full = np.empty_like(x), np.empty_like(x)
    getattr(elementary, name)(x, narrow)
    elementary.log(x, full)
    bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(narrow.view(bits), full.view(bits))


# The AVX-512 functions of 16 floats of _inline_math.h: fastnn_log_ps16, used by float32 binary
# cross-entropy's piece in vector registers (_pieces.h), and the exp and log1p of focal's.
# Only the AVX-512 variant has them.
PS16_VARIANTS = [isa for isa in VARIANTS
                 if _dispatch.load("_elementary", isa=isa).has_ps16]


@pytest.mark.skipif(not PS16_VARIANTS, reason="no AVX-512 variant on this machine")
@pytest.mark.parametrize("isa", PS16_VARIANTS)
def test_log_ps16_is_within_2_ulp(isa):
    if np.finfo(np.longdouble).eps >= np.finfo(np.float32).eps / 2**8:
        pytest.skip("the reference needs a long double well beyond float32 (x86: 80-bit)")
    elementary = _dispatch.load("_elementary", isa=isa)
    x = log_sweep()
    got = np.empty_like(x)
    elementary.ps16("log", x, got)
    assert_within_ulp(2.0, x, got, np.log(x.astype(np.longdouble)), np.float32)


@pytest.mark.skipif(not PS16_VARIANTS, reason="no AVX-512 variant on this machine")
@pytest.mark.parametrize("isa", PS16_VARIANTS)
def test_log_ps16_exact_points(isa):
    elementary = _dispatch.load("_elementary", isa=isa)
    x = log_points(np.float32)
    got = np.empty_like(x)
    elementary.ps16("log", x, got)
    assert_log_points(got, np.float32)


@pytest.mark.skipif(not PS16_VARIANTS, reason="no AVX-512 variant on this machine")
@pytest.mark.parametrize("isa", PS16_VARIANTS)
def test_log_ps16_and_the_inline_log_agree_bit_for_bit(isa):
    """The two codings of one method (intrinsics for _pieces.h, bits of a float for the
    loops) give the same float32 everywhere, so binary cross-entropy's register piece and
    the loops differ in nothing."""
    elementary = _dispatch.load("_elementary", isa=isa)
    x = np.concatenate([log_sweep(), log_points(np.float32)])
    in_registers, inline = np.empty_like(x), np.empty_like(x)
    elementary.ps16("log", x, in_registers)
    elementary.log(x, inline)
    nan = np.isnan(in_registers)  # NaN for x < 0, of either sign: the sign does not matter
    np.testing.assert_array_equal(np.isnan(inline), nan)
    np.testing.assert_array_equal(in_registers[~nan].view(np.uint32),
                                  inline[~nan].view(np.uint32))


@pytest.mark.skipif(not PS16_VARIANTS, reason="no AVX-512 variant on this machine")
@pytest.mark.parametrize("isa", PS16_VARIANTS)
def test_exp_and_log1p_ps16_agree_with_the_inline_ones_bit_for_bit(isa):
    """Focal's piece in registers (_pieces.h) takes exp(-|x|) and log1p(e) from
    fastnn_exp_nonpositive_ps16 and fastnn_log1p_unit_ps16: the same operations as the
    loops' inline functions, so the same float32 (on the whole range of each, its ends and
    subnormals, and NaN); the piece leaves its exps for the loops when it meets a soft label.
    """
    elementary = _dispatch.load("_elementary", isa=isa)
    rng = np.random.default_rng(5)
    for name, x in [
            ("exp_nonpositive", np.concatenate([
                -np.geomspace(1e-30, 120, 200001), rng.uniform(-110, 0, 100000),
                [0.0, -0.0, -87.33, -103.9, -104.0, -104.5, -1e30, -np.inf, np.nan]])),
            ("log1p_unit", np.concatenate([
                np.geomspace(1e-45, 1, 200001), rng.uniform(0, 1, 100000),
                [0.0, -0.0, 0.5, 1.0, 1e-38, np.nan]]))]:
        x = x.astype(np.float32)
        in_registers, inline = np.empty_like(x), np.empty_like(x)
        elementary.ps16(name, x, in_registers)
        getattr(elementary, name)(x, inline)
        nan = np.isnan(inline)
        np.testing.assert_array_equal(np.isnan(in_registers), nan, err_msg=name)
        np.testing.assert_array_equal(in_registers[~nan].view(np.uint32),
                                      inline[~nan].view(np.uint32), err_msg=name)


def test_ps16_is_refused_without_avx512():
    for isa in VARIANTS:
        elementary = _dispatch.load("_elementary", isa=isa)
        if not elementary.has_ps16:
            with pytest.raises(NotImplementedError, match="AVX-512"):
                elementary.ps16("log", np.ones(3, np.float32), np.empty(3, np.float32))
