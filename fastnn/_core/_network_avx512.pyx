# The network's compiled plan bound to the AVX-512 kernels (see _network.pyx).
from fastnn._core cimport _activations_avx512 as _act
from fastnn._core cimport _layers_avx512 as _layers
from fastnn._core cimport _losses_avx512 as _loss

include "_network_body.pxi"
