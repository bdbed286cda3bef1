"""Timing helpers shared by the side-by-side benchmarks."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def best_time(fn, repeat=7, min_seconds=0.05):
    """Best wall time of fn() in seconds: each sample repeats fn enough to last
    min_seconds / repeat, so microsecond calls are measured as well as slow ones."""
    fn()  # warm up: page faults, thread pool start, lazy imports
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_seconds / repeat / once))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def copy_floor(n_read_arrays, n_write_arrays, n, dtype, n_threads=1):
    """Seconds to stream the same bytes with numpy on n_threads threads: np.copyto of n
    elements reads one array and writes one; a kernel reading r arrays and writing w arrays
    moves r + w arrays, so its floor is the copy time scaled by (r + w) / 2.

    With n_threads > 1 each thread copies its own contiguous slice (np.copyto releases the
    GIL), as a parallel kernel streams its share: one core does not reach the memory
    bandwidth of several (measured on a 2-core machine: 2 threads copy about twice as fast
    as one), so a kernel on n threads is held to the copy on n threads."""
    src = np.ones(n, dtype=dtype)
    dst = np.empty(n, dtype=dtype)
    if n_threads <= 1:
        t = best_time(lambda: np.copyto(dst, src))
    else:
        bounds = np.linspace(0, n, n_threads + 1).astype(int)
        slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(n_threads - 1) as pool:
            def parallel_copy():
                futures = [pool.submit(np.copyto, dst[s], src[s]) for s in slices[1:]]
                np.copyto(dst[slices[0]], src[slices[0]])
                for f in futures:
                    f.result()
            t = best_time(parallel_copy)
    return t * (n_read_arrays + n_write_arrays) / 2


def import_torch():
    """torch, or None when it is not installed (it is a benchmark comparison only)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def print_table(rows, header, out):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join(f"{h:>{w}}" for h, w in zip(header, widths))
    print(line, file=out)
    print("-" * len(line), file=out)
    for r in rows:
        print("  ".join(f"{str(c):>{w}}" for c, w in zip(r, widths)), file=out)
    out.flush()


def fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"
