# Declarations of the AVX512 variant of the loss kernels: the same as _losses.pxd.
include "_losses.pxd"
