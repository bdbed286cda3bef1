# The elementary-function entry points compiled for AVX512 (see _activations_avx512.pyx).
include "_elementary.pyx"
