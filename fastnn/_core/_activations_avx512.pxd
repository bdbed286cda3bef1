# Declarations of the AVX-512 variant of the activation kernels: the same as _activations.pxd.
include "_activations.pxd"
