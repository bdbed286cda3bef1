"""_reductions.sum_values, the fixed-order sum behind every loss value, in every compiled
variant: in double for float64 values; float32 values are added in fours in float32 before
the double lanes, which its docstring bounds by 2 float32 ulps of each four's magnitude."""
import math

import numpy as np
import pytest

from fastnn._core import _dispatch

VARIANTS = _dispatch.available_variants("_elementary")
# around the lane count (32), the four-lane block (128) and a loss piece (1024)
SIZES = [0, 1, 31, 32, 33, 127, 128, 129, 1000, 1024, 4099]


@pytest.fixture(params=VARIANTS)
def elementary(request):
    return _dispatch.load("_elementary", isa=request.param)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_sum_of_small_integers_is_exact(elementary, dtype, n):
    # every partial sum is an integer below 2^24: exact in float32 and float64, so any
    # element skipped or added twice shows
    v = ((np.arange(n) * 7919) % 13 - 6).astype(dtype)
    v.setflags(write=False)  # read-only input is fine
    assert elementary.sum_values(v) == float(v.astype(np.int64).sum())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_sum_is_within_its_error_bound(elementary, dtype, n):
    # values of mixed sign over 12 decades, against an exact sum. The bound, in units of the
    # sum of magnitudes: float32 fours, 2 float32 ulps (two roundings in float32); then
    # each double lane adds one value per step (n / 32 of them, a quarter as many for
    # float32) and the 32 lanes are added pairwise (5 levels), each rounding at most 2^-53
    rng = np.random.default_rng(n)
    v = (rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-6, 6, n)).astype(dtype)
    exact = math.fsum(v.astype(np.float64))
    magnitude = math.fsum(np.abs(v.astype(np.float64)))
    steps = n / 32 / (4 if dtype == np.float32 else 1) + 5
    fours = 2 * float(np.finfo(np.float32).eps) if dtype == np.float32 else 0.0
    bound = fours + steps * 2.0**-53
    assert abs(elementary.sum_values(v) - exact) <= bound * magnitude


@pytest.mark.parametrize("n", [1024, 4099])
def test_float32_sum_keeps_values_below_the_rounding_of_a_large_one(elementary, n):
    # lane 0 holds 1 and then 2^-25, below half an ulp of 1, again and again: a float32
    # accumulator would drop every 2^-25 (1 + 2^-25 rounds to 1); the fours reach double
    # after two float32 additions, so only those in the first four with the 1 are lost
    v = np.zeros(n, dtype=np.float32)
    v[::32] = 2.0**-25
    v[0] = 1.0
    exact = math.fsum(v.astype(np.float64))
    assert abs(elementary.sum_values(v) - exact) <= 3 * 2.0**-25
