"""The one module that touches OpenMP: was fastnn built with it, how many threads to use, and
how many cores' worth of arithmetic those threads get (core_probe, for the benchmarks)."""
import numbers
import os
import time

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTNN_OPENMP_BUILT 1
    #else
    #define FASTNN_OPENMP_BUILT 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    int FASTNN_OPENMP_BUILT
    int omp_get_max_threads() noexcept nogil

cdef extern from *:
    """
    /* One thread's share of core_probe: FASTNN_PROBE_CHAINS (12) independent chains of
     * multiply-adds, enough to keep both floating-point multiply pipes of a core busy
     * whether they run as FMAs (latency 4) or as a multiply and an add (latency 3 + 3).
     * Scalar, not vectorised, so that no build turns them into fewer, longer chains. Each
     * chain converges to 1, so the sum is positive (core_probe checks it, which keeps the
     * compiler from dropping the work). */
    #define FASTNN_PROBE_CHAINS 12
    #if defined(__GNUC__) && !defined(__clang__)
    __attribute__((optimize("no-tree-vectorize")))
    #endif
    static double fastnn_probe_chains(long n_iterations) {
        double a[FASTNN_PROBE_CHAINS];
        double total = 0;
        long i;
        int k;
        for (k = 0; k < FASTNN_PROBE_CHAINS; k++)
            a[k] = 1.0 + 0.01 * k;
    #if defined(__clang__)
        #pragma clang loop vectorize(disable)
    #endif
        for (i = 0; i < n_iterations; i++)
            for (k = 0; k < FASTNN_PROBE_CHAINS; k++)
                a[k] = a[k] * 0.9999999 + 1e-7;
        for (k = 0; k < FASTNN_PROBE_CHAINS; k++)
            total += a[k];
        return total;
    }

    static double fastnn_core_probe(long n_iterations, int n_threads) {
        double total = 0;
    #ifdef _OPENMP
        #pragma omp parallel num_threads(n_threads) reduction(+: total)
    #endif
        total += fastnn_probe_chains(n_iterations);
        return total;
    }
    """
    int FASTNN_PROBE_CHAINS
    double fastnn_core_probe(long n_iterations, int n_threads) noexcept nogil

# Multiply-adds per iteration of core_probe, on each thread.
probe_chains = FASTNN_PROBE_CHAINS


def openmp_enabled():
    """True if the compiled core was built with OpenMP (otherwise every kernel is serial)."""
    return bool(FASTNN_OPENMP_BUILT)


def cpu_count():
    """Number of CPUs this process may run on (affinity mask, not the machine's total)."""
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(n or 1, 1)


def effective_n_threads(n_threads=None):
    """Resolve a user's ``n_threads`` to the positive thread count the kernels get.

    - None: the threads OpenMP allows now, i.e. OMP_NUM_THREADS or a threadpoolctl limit on
      the OpenMP runtime, else all CPUs;
    - a positive int: that many threads;
    - a negative int: scikit-learn's convention, cpu_count() + 1 + n_threads (-1 = all CPUs,
      -2 = all but one), at least 1;
    - 0: ValueError.

    Without OpenMP the answer is always 1.
    """
    if n_threads is not None and (isinstance(n_threads, bool)
                                  or not isinstance(n_threads, numbers.Integral)):
        raise TypeError(
            f"n_threads must be None or an int, got {n_threads!r} of type "
            f"{type(n_threads).__name__}")
    if n_threads == 0:
        raise ValueError("n_threads=0 is invalid: use None (default), a positive number of "
                         "threads, or a negative number (-1 = all CPUs)")
    if not FASTNN_OPENMP_BUILT:
        return 1
    if n_threads is None:
        return max(omp_get_max_threads(), 1)
    if n_threads < 0:
        return max(cpu_count() + 1 + int(n_threads), 1)
    return int(n_threads)


def core_probe(long n_iterations, int n_threads):
    """Seconds for each of n_threads threads to run the same n_iterations of multiply-adds,
    which keep a core's floating-point pipes busy. Where every thread has a core of its own
    this takes as long on n threads as on one; where virtual CPUs share a physical core
    (two hyperthreads of one core, or one core in turns) it takes up to n times as long.
    The benchmarks use it to tell how many cores' worth of arithmetic a run had."""
    cdef double t0, sink
    if n_iterations < 1 or n_threads < 1:
        raise ValueError(f"core_probe needs n_iterations >= 1 and n_threads >= 1, got "
                         f"{n_iterations} and {n_threads}")
    t0 = time.perf_counter()
    with nogil:
        sink = fastnn_core_probe(n_iterations, n_threads)
    if not sink > 0:  # never true (see fastnn_probe_chains)
        raise RuntimeError("core_probe: the multiply-add chains did not run")
    return time.perf_counter() - t0
