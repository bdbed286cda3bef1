"""Tests of the thread policy (fastnn._core._openmp) and fastnn.show_config."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastnn
from fastnn._core._openmp import cpu_count, effective_n_threads, openmp_enabled

needs_openmp = pytest.mark.skipif(not openmp_enabled(), reason="serial build (no OpenMP)")


def test_openmp_enabled_is_bool():
    assert isinstance(openmp_enabled(), bool)


def test_cpu_count():
    n = cpu_count()
    assert isinstance(n, int) and 1 <= n <= (os.cpu_count() or n)


def test_none_is_a_positive_int():
    n = effective_n_threads(None)
    assert type(n) is int and n >= 1
    assert effective_n_threads() == n


def expected(n):
    """What the kernels get: n itself, or 1 from a serial build (which has no threads)."""
    return n if openmp_enabled() else 1


def test_negative_counts_from_cpu_count():
    assert effective_n_threads(-1) == expected(cpu_count())
    assert effective_n_threads(-2) == expected(max(cpu_count() - 1, 1))
    assert effective_n_threads(-cpu_count()) == 1
    assert effective_n_threads(-1000) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 64])
def test_positive_ints_as_given(n):
    assert effective_n_threads(n) == expected(n)
    assert effective_n_threads(np.int64(n)) == expected(n)
    assert type(effective_n_threads(np.int32(n))) is int


def test_zero_raises():
    with pytest.raises(ValueError, match="n_threads=0 is invalid"):
        effective_n_threads(0)
    with pytest.raises(ValueError, match="n_threads=0 is invalid"):
        effective_n_threads(np.int64(0))


@pytest.mark.parametrize("bad", ["2", 2.0, 2.5, True, False, [2], np.float64(2.0)],
                         ids=repr)
def test_non_int_raises(bad):
    with pytest.raises(TypeError, match=r"n_threads must be None or an int, got .* of type "
                                        + type(bad).__name__):
        effective_n_threads(bad)


@needs_openmp
def test_threadpoolctl_limit_applies_to_none():
    before = effective_n_threads(None)
    with threadpool_limits(1, user_api="openmp"):
        assert effective_n_threads(None) == 1
        assert effective_n_threads(2) == 2  # an explicit count wins
    assert effective_n_threads(None) == before


@needs_openmp
def test_omp_num_threads_applies_to_none():
    """None follows OMP_NUM_THREADS (Dask workers set it to 1); an explicit count wins."""
    code = ("from fastnn._core._openmp import effective_n_threads as e; "
            "print(e(None), e(3))")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastnn.__file__)), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.split() == ["1", "3"]


def _check_config_text(text):
    lines = text.splitlines()
    assert lines[0] == f"fastnn {fastnn.__version__}"
    stripped = [line.strip() for line in lines]
    openmp = [s for s in stripped if s.startswith("openmp:")]
    assert len(openmp) == 1
    assert openmp[0].endswith("yes" if openmp_enabled() else "NO (serial build)")
    threads = [s for s in stripped if s.startswith("threads:")]
    assert threads == [f"threads:        {effective_n_threads(None)} of {cpu_count()} CPUs "
                       f"(n_threads=None)"]
    assert any(s.startswith("blas:") for s in stripped)


def test_show_config_prints_to_stdout(capsys):
    fastnn.show_config()
    _check_config_text(capsys.readouterr().out)


def test_show_config_file(capsys):
    buf = io.StringIO()
    fastnn.show_config(file=buf)
    assert capsys.readouterr().out == ""
    _check_config_text(buf.getvalue())
