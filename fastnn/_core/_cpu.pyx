"""Which instruction-set extensions this CPU (and OS) supports, for kernel dispatch."""

cdef extern from *:
    """
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 registers. */
    static int fastnn_has_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    static int fastnn_has_avx512(void) {
        __builtin_cpu_init();
        return fastnn_has_avx2() && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    }
    #else
    static int fastnn_has_avx2(void) { return 0; }
    static int fastnn_has_avx512(void) { return 0; }
    #endif
    """
    int fastnn_has_avx2() noexcept nogil
    int fastnn_has_avx512() noexcept nogil


def supported_isas():
    """Kernel variants this CPU can run, best first; "baseline" is always last."""
    isas = []
    if fastnn_has_avx512():
        isas.append("avx512")
    if fastnn_has_avx2():
        isas.append("avx2")
    isas.append("baseline")
    return isas
