# The loss kernels compiled for AVX512 (setup.py sets the flags from the file name;
# fastnn._core._dispatch loads this variant when the CPU supports it).
include "_losses.pyx"
