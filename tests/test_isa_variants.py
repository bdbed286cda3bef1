"""Every kernel variant the build made and this CPU runs passes the activation tests.

The default test run exercises the variant loaded by default (the widest); this reruns
tests/test_activations.py with FASTNN_ISA forcing each other variant, in a subprocess
because the choice is made at import."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn import activations
from fastnn._core import _dispatch

HERE = Path(__file__).resolve().parent
DEFAULT = _dispatch.isa_of(activations._kernels)
OTHERS = [isa for isa in _dispatch.available_variants("_activations") if isa != DEFAULT]


def test_default_is_the_widest_available():
    assert DEFAULT == _dispatch.available_variants("_activations")[0]


def test_unknown_or_unsupported_variant_is_refused():
    with pytest.raises(ValueError, match="FASTNN_ISA='sse9' is not one of"):
        _dispatch.load("_activations", isa="sse9")


@pytest.mark.skipif(not OTHERS, reason="only one kernel variant on this machine")
@pytest.mark.parametrize("isa", OTHERS)
def test_activation_suite_passes_with_variant(isa):
    env = dict(os.environ, FASTNN_ISA=isa)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "test_activations.py"), "-q", "-x",
         "-p", "no:cacheprovider"],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
