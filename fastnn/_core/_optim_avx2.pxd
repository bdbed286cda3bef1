# Declarations of the AVX2 variant of the optimizer kernels: the same as _optim.pxd.
include "_optim.pxd"
