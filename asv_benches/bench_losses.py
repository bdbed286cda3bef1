"""asv: every loss's value, gradient and value_and_gradient at 1e3, 1e5 and 1e7 elements,
float32 and float64, 1 and 2 threads. Arrays are (n_elements / 10, 10): ten outputs or
classes per sample (integer labels for the sparse / softmax cross-entropies). Their floor is
bench_activations.MemoryCopy: reading y_true and y_pred and writing the gradient moves 1.5
times the bytes of one copy."""
import numpy as np

from fastnn import losses
from fastnn._bench.losses import CASES, make_inputs

NAMES = [name for name, _, _ in CASES]
KINDS = {name: kind for name, _, kind in CASES}


class Losses:
    params = (NAMES, [10**3, 10**5, 10**7], ["float32", "float64"], [1, 2])
    param_names = ["loss", "n_elements", "dtype", "n_threads"]
    timeout = 120

    def setup(self, name, n_elements, dtype, n_threads):
        self.loss = losses.get(name, n_threads=n_threads)
        self.y_true, self.y_pred = make_inputs(KINDS[name], n_elements, dtype,
                                               np.random.default_rng(0))
        self.grad = np.empty_like(self.y_pred)

    def time_value(self, name, n_elements, dtype, n_threads):
        self.loss.value(self.y_true, self.y_pred)

    def time_gradient(self, name, n_elements, dtype, n_threads):
        self.loss.gradient(self.y_true, self.y_pred, out=self.grad)

    def time_value_and_gradient(self, name, n_elements, dtype, n_threads):
        self.loss.value_and_gradient(self.y_true, self.y_pred, out=self.grad)
