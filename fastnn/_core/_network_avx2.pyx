# The network's compiled plan bound to the AVX2 kernels (see _network.pyx).
from fastnn._core cimport _activations_avx2 as _act
from fastnn._core cimport _layers_avx2 as _layers
from fastnn._core cimport _losses_avx2 as _loss

include "_network_body.pxi"
