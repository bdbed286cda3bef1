"""Build the compiled core of fastnn (``fastnn/_core/*.pyx``).

Environment variables:

FASTNN_REQUIRE_OPENMP=1   fail the build when the compiler cannot build and run an OpenMP
                          program, instead of falling back to a serial build (CI sets it).
FASTNN_BOUNDSCHECK=1      debug build: Cython bounds and negative-index checks back on.
FASTNN_BUILD_ONLY=a,b     build only these extension modules of fastnn/_core (developers).
CFLAGS                    extra compiler flags, e.g. CFLAGS="-march=native" for a local build.
"""
import glob
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CORE_DIR = os.path.join("fastnn", "_core")

# Kernel modules built once per instruction set: fastnn/_core/_name_<isa>.pyx is a one-line
# `include "_name.pyx"` compiled with these flags, and fastnn._core._dispatch loads the best
# variant the CPU supports at run time. The baseline module (_name.pyx) has no such flags, so
# the package runs on any CPU of its architecture.
ISA_FLAGS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw",
               "-mavx2", "-mfma", "-mprefer-vector-width=512"],
}
X86_64 = platform.machine().lower() in ("x86_64", "amd64")

OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel num_threads(2) reduction(+:n)
    n += 1;
    printf("%d\n", n);
    return n == 2 ? 0 : 1;
}
"""

# A loop over expf that gcc turns into a call of glibc's vector variant (libmvec) when the
# declarations of _simd_math.h are in force; the probe checks that it compiles, links and runs.
SIMD_MATH_PROBE = r"""
#include "_simd_math.h"
#include <stdio.h>
float x[64], y[64];
int main(void) {
    for (int i = 0; i < 64; i++) x[i] = (float)i / 8.0f;
    for (int i = 0; i < 64; i++) y[i] = expf(x[i]) + tanhf(x[i]) + erfcf(x[i]) + logf(x[i] + 1.0f);
    printf("%f\n", y[7]);
    return 0;
}
"""


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _isa_of(ext):
    """'avx2' for fastnn._core._name_avx2, ..., None for a baseline module."""
    suffix = ext.name.rsplit("_", 1)[-1]
    return suffix if suffix in ISA_FLAGS else None


def _compiles(compiler, flags):
    """True if the compiler accepts these flags on a trivial C file."""
    tmp = tempfile.mkdtemp(prefix="fastnn-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compile_and_run(compiler, source, extra_compile_args, extra_link_args, include_dirs=()):
    """Compile, link and run a small C program; True if all three succeed."""
    tmp = tempfile.mkdtemp(prefix="fastnn-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        objects = compiler.compile([src], output_dir=tmp, include_dirs=list(include_dirs),
                                   extra_postargs=extra_compile_args)
        exe = os.path.join(tmp, "probe")
        compiler.link_executable(objects, exe, extra_postargs=extra_link_args)
        subprocess.run([exe], check=True, capture_output=True, timeout=60)
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that probes OpenMP and vector math before compiling."""

    def build_extensions(self):
        compiler = self.compiler
        unix = compiler.compiler_type == "unix"
        compile_args, link_args, macros = [], [], []
        if unix:
            # -O3 for the loops; no -march=native by default so that a build runs on any CPU
            # of its architecture. -fno-math-errno: the kernels never read errno, and without
            # it gcc will not vectorise calls to exp/log/tanh. -fno-trapping-math: fastnn
            # never enables floating-point traps, and with them assumed gcc will not turn
            # `x if x > 0 else a * x` into a vector select (it would evaluate a * x for every
            # element). IEEE results, NaN and inf are unchanged; this is not -ffast-math.
            compile_args += ["-O3", "-fno-math-errno", "-fno-trapping-math"]
            # gcc stops inlining once a translation unit has grown by 40% through inlining
            # (--param inline-unit-growth), and the loss module gets there: its point
            # functions (_math.pxd: _log1p_unit, _exp_nonpositive) then stay calls, and a
            # loop with a call in it runs scalar. Every kernel relies on their inlining.
            if _compiles(compiler, ["--param=inline-unit-growth=100"]):
                compile_args += ["--param=inline-unit-growth=100"]
            openmp_compile, openmp_link = ["-fopenmp"], ["-fopenmp"]
        else:  # MSVC
            compile_args += ["/O2"]
            openmp_compile, openmp_link = ["/openmp"], []

        with_openmp = _compile_and_run(compiler, OPENMP_PROBE, openmp_compile, openmp_link)
        if with_openmp:
            compile_args += openmp_compile
            link_args += openmp_link
        else:
            message = (
                "\n" + "*" * 78 + "\n"
                "fastnn: the C compiler could not build and run an OpenMP program.\n"
                "fastnn will be built WITHOUT OpenMP: every kernel runs on one thread.\n"
                "On macOS install libomp (brew install libomp); on Linux use gcc or clang\n"
                "with libgomp/libomp. Set FASTNN_REQUIRE_OPENMP=1 to make this an error.\n"
                + "*" * 78
            )
            if _env_flag("FASTNN_REQUIRE_OPENMP"):
                sys.exit("error: FASTNN_REQUIRE_OPENMP is set and " + message)
            warnings.warn(message)
            print(message, file=sys.stderr)

        with_simd_math = unix and _compile_and_run(
            compiler, SIMD_MATH_PROBE, compile_args, link_args + ["-lm"],
            include_dirs=[CORE_DIR])
        if not with_simd_math:
            macros.append(("FASTNN_NO_SIMD_MATH", "1"))
            print("fastnn: vector math (libmvec) unavailable; transcendental activations "
                  "run scalar", file=sys.stderr)

        kept = []
        for ext in self.extensions:
            isa = _isa_of(ext)
            if isa is not None:
                if not (unix and _compiles(compiler, ISA_FLAGS[isa])):
                    print(f"fastnn: the compiler does not take {isa} flags; skipping {ext.name} "
                          f"(the baseline kernels will be used)", file=sys.stderr)
                    continue
                ext.extra_compile_args = ext.extra_compile_args + ISA_FLAGS[isa]
            kept.append(ext)
        self.extensions = kept
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + ext.extra_compile_args
            ext.extra_link_args = link_args + ext.extra_link_args + (["-lm"] if unix else [])
            ext.define_macros = macros + ext.define_macros
        super().build_extensions()


def _extensions():
    import numpy
    from Cython.Build import cythonize

    only = [name.strip() for name in os.environ.get("FASTNN_BUILD_ONLY", "").split(",")
            if name.strip()]
    extensions = []
    for pyx in sorted(glob.glob(os.path.join(CORE_DIR, "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        base_name = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1] in ISA_FLAGS else name
        if only and name not in only and base_name not in only:
            continue
        if name != base_name and not X86_64:
            continue
        extensions.append(Extension(
            "fastnn._core." + name, [pyx],
            include_dirs=[CORE_DIR, numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        ))
    debug = _env_flag("FASTNN_BOUNDSCHECK")
    return cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": debug,
            "wraparound": debug,
            "initializedcheck": debug,
            "cdivision": True,
            "cpow": True,
        },
        nthreads=0,
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
