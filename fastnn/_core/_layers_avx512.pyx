# The layer kernels compiled for AVX-512 (setup.py sets the flags from the file name;
# fastnn._core._dispatch loads this variant when the CPU supports it). _layers.pyx turns off
# FMA contraction, so this variant gives the same bits as the baseline module.
include "_layers.pyx"
