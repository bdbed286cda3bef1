"""Load the best compiled variant of a kernel module for this CPU.

Kernel modules whose speed depends on vector width are built several times by setup.py:
``_name`` (the architecture's baseline, e.g. SSE2 on x86-64), ``_name_avx2`` (AVX2 + FMA)
and ``_name_avx512`` (AVX-512), from the same source. ``load("_name")`` returns the best one
the CPU supports and the build produced. The environment variable FASTNN_ISA=baseline,
avx2 or avx512 asks for a given variant (tests and benchmarks use it); asking for one the
CPU cannot run raises.
"""
import importlib
import os

from fastnn._core._cpu import supported_isas

ISAS = ("avx512", "avx2", "baseline")


def _module_name(name, isa):
    return f"fastnn._core.{name}" + ("" if isa == "baseline" else f"_{isa}")


def available_variants(name):
    """The variants of kernel module `name` that this CPU supports and the build has."""
    found = []
    for isa in supported_isas():
        try:
            importlib.import_module(_module_name(name, isa))
        except ImportError:
            continue
        found.append(isa)
    return found


def load(name, isa=None):
    """The kernel module `name` compiled for `isa` (default: FASTNN_ISA, else the best)."""
    isa = isa or os.environ.get("FASTNN_ISA", "").strip().lower() or None
    if isa is not None:
        if isa not in ISAS:
            raise ValueError(f"FASTNN_ISA={isa!r} is not one of {', '.join(ISAS)}")
        if isa not in supported_isas():
            raise RuntimeError(f"FASTNN_ISA={isa!r}: this CPU does not support {isa}")
        return importlib.import_module(_module_name(name, isa))
    for candidate in supported_isas():
        try:
            return importlib.import_module(_module_name(name, candidate))
        except ImportError:  # variant not built (compiler without the flags)
            continue
    raise ImportError(f"no compiled variant of fastnn._core.{name} found")


def isa_of(module):
    """The variant name of a loaded kernel module."""
    last = module.__name__.rsplit("_", 1)[-1]
    return last if last in ISAS else "baseline"
