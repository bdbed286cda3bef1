# Declarations of the AVX2 variant of the loss kernels: the same as _losses.pxd.
include "_losses.pxd"
