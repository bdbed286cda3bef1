# The elementary-function entry points compiled for AVX2 (see _activations_avx2.pyx).
include "_elementary.pyx"
