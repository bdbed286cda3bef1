"""Side-by-side benchmarks printed by ``python -m fastnn bench`` (never run by the tests).

Each module (activations, losses, optimizers, ...) has ``run(out, sizes, dtypes, threads)``
that prints a table: fastnn's time, the memory-copy floor measured in the same run, the ratio,
and PyTorch's time where torch is importable.
"""
