"""The one module that touches OpenMP: was fastnn built with it, and how many threads to use."""
import numbers
import os

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
