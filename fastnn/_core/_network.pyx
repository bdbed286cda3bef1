# The network's compiled plan: one nogil call per minibatch runs the whole forward pass, the
# loss and the backward pass of fastnn.network.Network (the plan itself is in
# _network_body.pxi).
#
# Why three builds of the same body. The plan calls the activation, loss and layer kernels,
# whose speed depends on the vector instructions they were compiled for; a cimport binds to
# one module at compile time. So the plan is built once per instruction set, like the
# kernels: this file binds the baseline kernels, _network_avx2.pyx and _network_avx512.pyx
# bind their variants with the same body, and fastnn._core._dispatch loads the variant the
# CPU runs (FASTNN_ISA forces one), exactly as for the kernel modules and with the same
# choice as fastnn.activations and fastnn.losses make, so that the plan and the Python path
# run the same kernels. The alternative, one plan module reading tables of function pointers
# that each kernel variant exports, would save two small builds at the cost of a second
# dispatch mechanism; the per-ISA build reuses the one the project has. BLAS (_blas) and the
# loss-scale multiply (_optim.scale, one memory-bound pass) have one build, shared by all
# three.
from fastnn._core cimport _activations as _act
from fastnn._core cimport _layers
from fastnn._core cimport _losses as _loss

include "_network_body.pxi"
