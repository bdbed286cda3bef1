"""Timing helpers shared by the side-by-side benchmarks."""
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np

from fastnn._core._openmp import core_probe, probe_chains


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


class ParallelCopy:
    """np.copyto(dst, src) of n elements on n_threads threads: each thread copies its own
    contiguous slice (np.copyto releases the GIL), as a parallel kernel streams its share.
    One core does not reach the memory bandwidth of several (measured on a 2-core machine:
    2 threads copy about twice as fast as one), so a kernel on n threads is held to the copy
    on n threads. Call close() (or use it as a context manager) to stop the threads."""

    def __init__(self, n, dtype, n_threads=1):
        self.src = np.ones(n, dtype=dtype)
        self.dst = np.empty(n, dtype=dtype)
        bounds = np.linspace(0, n, max(n_threads, 1) + 1).astype(int)
        self.slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.pool = ThreadPoolExecutor(n_threads - 1) if n_threads > 1 else None

    def __call__(self):
        futures = [self.pool.submit(np.copyto, self.dst[s], self.src[s])
                   for s in self.slices[1:]]
        np.copyto(self.dst[self.slices[0]], self.src[self.slices[0]])
        for f in futures:
            f.result()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def interleaved_best(steps, rounds=3, repeat=3):
    """Best time of each callable (None stays None), measured in alternating rounds so that
    a load change on a shared machine hits every contender alike."""
    best = [None if s is None else float("inf") for s in steps]
    for _ in range(rounds):
        for i, step in enumerate(steps):
            if step is not None:
                best[i] = min(best[i], best_time(step, repeat=repeat))
    return best


def parallel_copies(n, dtype, n_threads, stack):
    """The copies a floor takes the faster of: np.copyto on one thread and ParallelCopy on
    n_threads (for small arrays, handing slices to threads costs more than the copy). Their
    threads stop when the contextlib.ExitStack `stack` closes."""
    return [stack.enter_context(ParallelCopy(n, dtype, threads))
            for threads in sorted({1, max(n_threads, 1)})]


def floor_scale(n_read_arrays, n_write_arrays):
    """np.copyto of n elements reads one array and writes one; a kernel reading r arrays and
    writing w arrays moves r + w arrays, so its floor is the copy time times (r + w) / 2."""
    return (n_read_arrays + n_write_arrays) / 2


def copy_floor(n_read_arrays, n_write_arrays, n, dtype, n_threads=1):
    """Seconds to stream the same bytes with numpy on up to n_threads threads (the faster of
    parallel_copies), scaled by floor_scale."""
    with ExitStack() as stack:
        copies = parallel_copies(n, dtype, n_threads, stack)
        t = min(best_time(copy) for copy in copies)
    return t * floor_scale(n_read_arrays, n_write_arrays)


class CoreMeter:
    """How many cores' worth of arithmetic n_threads threads get at the moment.

    sample() times core_probe (fastnn._core._openmp: the same multiply-adds on every thread)
    on one thread and on n_threads, the best of `repeat` each, and returns the n-thread time;
    cores(t) is n_threads times the fastest one-thread time seen so far over t. Two threads
    with a core each give 2.0; 1.0 means they shared one core (two hyperthreads of a core,
    or one core in turns, as a virtual machine's CPUs can), and below 1.0 the machine gave
    less than a core. Memory-bound work hardly notices; work bound by its arithmetic, as
    the transcendental losses are, slows down with it."""

    ITERATIONS = 300_000  # about 0.6 ms of one core's multiply-adds

    def __init__(self, n_threads, repeat=3):
        self.n_threads = max(int(n_threads), 1)
        self.repeat = repeat
        self.one_thread = float("inf")

    def sample(self):
        self.one_thread = min(self.one_thread, *(core_probe(self.ITERATIONS, 1)
                                                 for _ in range(self.repeat)))
        return min(core_probe(self.ITERATIONS, self.n_threads) for _ in range(self.repeat))

    def cores(self, n_thread_time):
        return self.n_threads * self.one_thread / n_thread_time

    @classmethod
    def speed(cls, one_thread_time):
        """Multiply-adds per nanosecond of one thread that took one_thread_time."""
        return cls.ITERATIONS * probe_chains / one_thread_time / 1e9


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
