# Declarations of the AVX2 variant of the activation kernels: the same as _activations.pxd.
include "_activations.pxd"
