# The floating-point types every kernel is compiled for: float32 and float64 only.
ctypedef fused floating:
    float
    double
