"""Which loops of a kernel module gcc vectorised, and which libmvec functions it calls.

    python -m fastnn._bench._vecreport _activations [_losses ...]

Needs the generated C file (fastnn/_core/<module>.c, present after an in-place or editable
build). It recompiles that file with the build's flags plus -fopt-info-vec-optimized and maps
each vectorised loop back to its .pyx line (Cython marks the C with "file.pyx":line
comments). Pass --isa avx2 or avx512 to compile with those flags instead of the baseline.
"""
import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tempfile

import numpy

CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_core")
ISA_FLAGS = {"baseline": [], "avx2": ["-mavx2", "-mfma"],
             "avx512": ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw",
                        "-mavx2", "-mfma", "-mprefer-vector-width=512"]}


def report(module, isa="baseline", out=sys.stdout):
    c_file = os.path.join(CORE, module + ".c")
    pyx_file = os.path.join(CORE, module + ".pyx")
    if not os.path.exists(c_file):
        raise SystemExit(f"{c_file} not found: build in place first (pip install -e .)")
    obj = os.path.join(tempfile.mkdtemp(), module + ".o")
    cmd = (["gcc", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fPIC",
            "-DNPY_NO_DEPRECATED_API=NPY_1_9_API_VERSION", "-I" + CORE,
            "-I" + numpy.get_include(), "-I" + sysconfig.get_paths()["include"]]
           + ISA_FLAGS[isa] + ["-c", c_file, "-o", obj, "-fopt-info-vec-optimized"])
    result = subprocess.run(cmd, capture_output=True, text=True)
    c_lines = open(c_file).read().split("\n")
    pyx_lines = open(pyx_file).read().split("\n")
    marker = re.compile(r'"fastnn/_core/%s\.pyx":(\d+)' % re.escape(module))
    hits = set()
    for match in re.finditer(r":(\d+):\d+: optimized: loop vectorized", result.stderr):
        for k in range(int(match.group(1)) - 1, max(int(match.group(1)) - 400, 0), -1):
            found = marker.search(c_lines[k])
            if found:
                hits.add(int(found.group(1)))
                break
    print(f"{module} ({isa}): vectorised loops at these .pyx lines", file=out)
    for line in sorted(hits):
        print(f"{line:6d}  {pyx_lines[line - 1].strip()[:100]}", file=out)
    symbols = subprocess.run(["nm", obj], capture_output=True, text=True).stdout
    print("libmvec calls:", " ".join(sorted(set(re.findall(r"_ZGV\w+", symbols)))) or "none",
          file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--isa", choices=sorted(ISA_FLAGS), default="baseline")
    args = parser.parse_args(argv)
    for module in args.modules:
        report(module, args.isa)


if __name__ == "__main__":
    main()
