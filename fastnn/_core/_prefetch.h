/* Prefetching for the loss kernels: the one loop over cache lines that the softmax tiles of
 * _losses.pyx and the register tile of _tiles.h both use (the element-wise pieces leave it to
 * the hardware; see Speed in _losses.pyx's tier 1).
 *
 * FASTNN_PREFETCH(p, offset, rw) asks for the cache line at byte offset `offset` from p (to
 * read: rw 0, to write: 1). The address is formed as an integer: it may lie beyond the end
 * of the array, which a prefetch allows (it never faults) and C pointer arithmetic does not.
 */
#ifndef FASTNN_PREFETCH_H
#define FASTNN_PREFETCH_H
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define FASTNN_PREFETCH(p, offset, rw) \
    __builtin_prefetch((const void*) ((uintptr_t) (p) + (uintptr_t) (offset)), (rw), 3)
#else
#define FASTNN_PREFETCH(p, offset, rw) ((void) (p))
#endif

/* The lines of bytes offset ... end - 1 of x and, unless NULL, of g (for writing) and yt. */
static inline void fastnn_prefetch_lines(const void* x, const void* g, const void* yt,
                                         ptrdiff_t offset, ptrdiff_t end) {
    for (; offset < end; offset += 64) {  /* one cache line */
        FASTNN_PREFETCH(x, offset, 0);
        if (g != NULL)
            FASTNN_PREFETCH(g, offset, 1);
        if (yt != NULL)
            FASTNN_PREFETCH(yt, offset, 0);
    }
}

#endif
