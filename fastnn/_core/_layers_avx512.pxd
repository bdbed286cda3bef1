# Declarations of the AVX-512 variant of the layer kernels: the same as _layers.pxd.
include "_layers.pxd"
