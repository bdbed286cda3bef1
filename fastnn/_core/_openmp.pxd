# Parallel policy shared by every kernel module.
#
# Element-wise loops are split into chunks of CHUNK_SIZE elements and the chunks are shared
# out statically among the threads. Because the chunk boundaries do not depend on the thread
# count, every element is computed by the same instructions (vector body or scalar remainder)
# whatever n_threads is, and per-chunk partial sums are added in chunk order: results are
# bitwise identical for 1, 2 or more threads.
cdef enum:
    CHUNK_SIZE = 4096
    # Below this many elements a loop runs on the calling thread: waking threads costs a few
    # microseconds, more than the work itself.
    PARALLEL_MIN_SIZE = 32768
