"""Compiled kernels of fastnn (private). See DESIGN.md, "Kernel conventions"."""
