"""Tests of fastnn._core._blas.gemm_arrays against numpy.matmul.

Tolerance: the standard error bound of a length-k dot product in floating point is
|fl(a.b) - a.b| <= k eps |a|.|b| (Higham, Accuracy and Stability, 3.1), and the alpha/beta
update adds a couple of roundings, so each element is checked against
(k + 2) eps (|alpha| |op(A)| |op(B)| + |beta| |C0|), computed in float64.
"""
import numpy as np
import pytest

from fastnn._core._blas import gemm_arrays

DTYPES = [np.float32, np.float64]
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
trans = pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False),
                                                     (False, True), (True, True)],
                                ids=["NN", "TN", "NT", "TT"])


def operand(rng, shape, transposed, layout, dtype):
    """A matrix whose op() has `shape`, stored with the given memory layout."""
    stored = shape[::-1] if transposed else shape
    a = rng.standard_normal(stored).astype(dtype)
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided":
        base = np.full((2 * stored[0], 3 * stored[1]), np.nan, dtype=dtype)
        base[::2, ::3] = a
        a = base[::2, ::3]
    elif layout == "readonly":
        a.setflags(write=False)
    return a


def op(a, transposed):
    return a.T if transposed else a


def expected_and_bound(a, b, trans_a, trans_b, alpha, beta, c0, dtype):
    a64 = op(np.asarray(a, dtype=np.float64), trans_a)
    b64 = op(np.asarray(b, dtype=np.float64), trans_b)
    c64 = np.zeros((a64.shape[0], b64.shape[1])) if c0 is None else c0.astype(np.float64)
    expected = alpha * np.matmul(a64, b64) + beta * c64
    k = a64.shape[1]
    eps = np.finfo(dtype).eps
    bound = (k + 2) * eps * (abs(alpha) * np.matmul(np.abs(a64), np.abs(b64))
                             + abs(beta) * np.abs(c64))
    return expected, bound


def assert_within(actual, expected, bound):
    assert actual.shape == expected.shape
    err = np.abs(actual.astype(np.float64) - expected)
    assert np.all(err <= bound), (err - bound).max()


@dtypes
@trans
@pytest.mark.parametrize("layout", ["C", "F", "strided", "readonly"])
@pytest.mark.parametrize("m, n, k", [(7, 5, 3), (1, 9, 4), (6, 1, 1), (65, 33, 47)], ids=str)
def test_gemm_matches_matmul(dtype, trans_a, trans_b, layout, m, n, k):
    rng = np.random.default_rng(0)
    a = operand(rng, (m, k), trans_a, layout, dtype)
    b = operand(rng, (k, n), trans_b, layout, dtype)
    a_copy, b_copy = a.copy(), b.copy()
    c = gemm_arrays(a, b, trans_a=trans_a, trans_b=trans_b)
    assert c.dtype == dtype and c.shape == (m, n) and c.flags.c_contiguous
    expected, bound = expected_and_bound(a, b, trans_a, trans_b, 1.0, 0.0, None, dtype)
    assert_within(c, expected, bound)
    np.testing.assert_array_equal(a, a_copy)  # operands untouched
    np.testing.assert_array_equal(b, b_copy)
    # the plain numpy product, as the caller sees it
    np.testing.assert_allclose(c, np.matmul(op(a, trans_a), op(b, trans_b)),
                               rtol=(k + 2) * 4 * np.finfo(dtype).eps,
                               atol=(k + 2) * 4 * np.finfo(dtype).eps * np.sqrt(k))


@dtypes
@trans
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25), (0.0, 3.0),
                                         (2.0, 0.0)])
def test_gemm_accumulates_into_out(dtype, trans_a, trans_b, alpha, beta):
    rng = np.random.default_rng(1)
    m, n, k = 13, 11, 17
    a = operand(rng, (m, k), trans_a, "C", dtype)
    b = operand(rng, (k, n), trans_b, "F", dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy()
    result = gemm_arrays(a, b, out, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    assert result is out
    expected, bound = expected_and_bound(a, b, trans_a, trans_b, alpha, beta, c0, dtype)
    assert_within(out, expected, bound)


@dtypes
def test_gemm_beta_zero_ignores_out_contents(dtype):
    """With beta = 0 the previous contents of out are not read (BLAS convention): NaN in out
    does not leak into the result."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 3)).astype(dtype)
    b = rng.standard_normal((3, 5)).astype(dtype)
    out = np.full((4, 5), np.nan, dtype=dtype)
    gemm_arrays(a, b, out, beta=0.0)
    expected, bound = expected_and_bound(a, b, False, False, 1.0, 0.0, None, dtype)
    assert_within(out, expected, bound)


@dtypes
def test_gemm_beta_ignored_without_out(dtype):
    a = np.eye(3, dtype=dtype)
    b = np.arange(9, dtype=dtype).reshape(3, 3)
    np.testing.assert_array_equal(gemm_arrays(a, b, alpha=2.0, beta=5.0), 2 * b)


@dtypes
@trans
@pytest.mark.parametrize("m, n, k", [(0, 4, 3), (4, 0, 3), (4, 3, 0), (0, 0, 0), (0, 3, 0),
                                     (3, 0, 0)], ids=str)
def test_gemm_empty_dimensions(dtype, trans_a, trans_b, m, n, k):
    rng = np.random.default_rng(3)
    a = operand(rng, (m, k), trans_a, "C", dtype)
    b = operand(rng, (k, n), trans_b, "C", dtype)
    c = gemm_arrays(a, b, trans_a=trans_a, trans_b=trans_b)
    assert c.shape == (m, n) and c.dtype == dtype
    np.testing.assert_array_equal(c, np.zeros((m, n)))  # k = 0: a sum of nothing
    # with out and beta: out = beta * out (+ alpha * 0 when k = 0)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy()
    gemm_arrays(a, b, out, alpha=3.0, beta=0.5, trans_a=trans_a, trans_b=trans_b)
    expected, bound = expected_and_bound(a, b, trans_a, trans_b, 3.0, 0.5, c0, dtype)
    assert_within(out, expected, bound)
    # k = 0 and beta = 0: zeros even over NaN
    out = np.full((m, n), np.nan, dtype=dtype)
    gemm_arrays(a, b, out, beta=0.0, trans_a=trans_a, trans_b=trans_b)
    if k == 0:
        np.testing.assert_array_equal(out, np.zeros((m, n)))
    else:
        assert np.all(np.isfinite(out))


def test_gemm_memmap_input(tmp_path):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 4))
    mm = np.memmap(tmp_path / "a.dat", dtype=np.float64, mode="w+", shape=a.shape)
    mm[...] = a
    mm.flush()
    ro = np.memmap(tmp_path / "a.dat", dtype=np.float64, mode="r", shape=a.shape)
    b = rng.standard_normal((4, 3))
    expected, bound = expected_and_bound(a, b, False, False, 1.0, 0.0, None, np.float64)
    assert_within(gemm_arrays(ro, b), expected, bound)


# ---------------------------------------------------------------------------------------------
# Errors.

def test_gemm_dtype_errors():
    a32 = np.ones((2, 3), dtype=np.float32)
    b64 = np.ones((3, 2))
    with pytest.raises(TypeError, match="a and b must have one dtype, got float32 and float64"):
        gemm_arrays(a32, b64)
    with pytest.raises(TypeError, match="a must be float32 or float64, got dtype int64"):
        gemm_arrays(np.ones((2, 3), dtype=np.int64), b64)
    with pytest.raises(TypeError, match="b must be float32 or float64, got dtype float16"):
        gemm_arrays(b64.T, np.ones((3, 2), dtype=np.float16))
    with pytest.raises(TypeError, match="a must be float32 or float64, got dtype complex128"):
        gemm_arrays(np.ones((2, 3), dtype=complex), b64)


def test_gemm_dimension_errors():
    with pytest.raises(ValueError, match=r"a must be 2-D, got 1-D shape \(3,\)"):
        gemm_arrays(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"b must be 2-D, got 3-D shape \(3, 2, 1\)"):
        gemm_arrays(np.ones((2, 3)), np.ones((3, 2, 1)))
    with pytest.raises(ValueError, match=r"inner dimensions differ: op\(a\) is \(2, 3\), "
                                         r"op\(b\) is \(4, 2\)"):
        gemm_arrays(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"inner dimensions differ: op\(a\) is \(3, 2\)"):
        gemm_arrays(np.ones((2, 3)), np.ones((3, 2)), trans_a=True)
    with pytest.raises(ValueError, match=r"inner dimensions differ"):
        gemm_arrays(np.ones((2, 3)), np.ones((3, 2)), trans_b=True)


@pytest.mark.parametrize("bad, exc, msg", [
    (np.zeros((2, 2), dtype=np.float32), TypeError, "out must be a float64 ndarray"),
    ([[0.0, 0.0], [0.0, 0.0]], TypeError, "out must be a float64 ndarray"),
    (np.zeros((2, 3)), ValueError, r"out has shape \(2, 3\), expected \(2, 2\)"),
    (np.zeros((2, 2), order="F"), ValueError, "out must be C-contiguous and writable"),
    (np.zeros((2, 4))[:, ::2], ValueError, "out must be C-contiguous and writable"),
    ("readonly", ValueError, "out must be C-contiguous and writable"),
], ids=["dtype", "list", "shape", "fortran", "strided", "readonly"])
def test_gemm_bad_out(bad, exc, msg):
    if isinstance(bad, str):
        bad = np.zeros((2, 2))
        bad.setflags(write=False)
    with pytest.raises(exc, match=msg):
        gemm_arrays(np.ones((2, 3)), np.ones((3, 2)), bad)
