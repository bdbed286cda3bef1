"""fastnn's own point functions (_math.pxd) against NumPy, in every compiled variant.

_log1p_unit is a polynomial, not a libm call: its accuracy is the polynomial's, so it is
measured here in ulps over its whole domain [0, 1], for float32 and float64, in the baseline
(no FMA), AVX2 and AVX-512 builds (the loop is vectorised differently in each)."""
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
    exact = np.log1p(e.astype(np.longdouble))
    errors = ulp_error(got, exact, dtype)
    worst = errors.argmax()
    assert errors[worst] <= 2.0, (e[worst], got[worst], exact[worst], errors[worst])


@pytest.mark.parametrize("dtype", DTYPES)
def test_log1p_unit_exact_points(elementary, dtype):
    e = np.array([0.0, 1.0, np.nan, np.finfo(dtype).smallest_subnormal], dtype=dtype)
    got = log1p_unit(elementary, e)
    assert got[0] == 0.0 and not np.signbit(got[0])
    assert got[1] == pytest.approx(np.log(2.0), rel=2 * float(np.finfo(dtype).eps))
    assert np.isnan(got[2])
    assert got[3] == e[3]  # log1p(e) = e to within rounding for the smallest subnormal
