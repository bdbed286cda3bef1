# Declarations of the AVX-512 variant of the optimizer kernels: the same as _optim.pxd.
include "_optim.pxd"
