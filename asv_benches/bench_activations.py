"""asv: every activation's forward and backward at 1e3, 1e5 and 1e7 elements, float32 and
float64, 1 and 2 threads. Arrays are (n_elements / 100, 100): a hidden layer of 100 units."""
import warnings

import numpy as np

from fastnn import activations
from fastnn._bench._timing import ParallelCopy

CASES = ["identity", "binary_step", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu",
         "selu", "softplus", "gelu", "gelu_tanh", "swish", "softmax", "maxout"]
N_FEATURES = 100


def _make(name, n_threads):
    if name == "gelu_tanh":
        return activations.get("gelu", approximate="tanh", n_threads=n_threads)
    return activations.get(name, n_threads=n_threads)


class Activations:
    params = (CASES, [10**3, 10**5, 10**7], ["float32", "float64"], [1, 2])
    param_names = ["activation", "n_elements", "dtype", "n_threads"]
    timeout = 120

    def setup(self, name, n_elements, dtype, n_threads):
        rng = np.random.default_rng(0)
        shape = (n_elements // N_FEATURES, N_FEATURES)
        self.act = _make(name, n_threads)
        self.x = rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False) * 3
        self.y = self.act.forward(self.x)
        self.grad_output = np.ones_like(self.y)
        self.dx = np.empty_like(self.x)
        warnings.simplefilter("ignore")  # binary_step warns that it cannot be trained

    def time_forward(self, name, n_elements, dtype, n_threads):
        self.act.forward(self.x, out=self.y)

    def time_backward(self, name, n_elements, dtype, n_threads):
        self.act.backward(self.x, self.grad_output, out=self.dx)


class MemoryCopy:
    """The floor the activations are measured against: np.copyto of the same bytes on the
    same number of threads."""
    params = ([10**3, 10**5, 10**7], ["float32", "float64"], [1, 2])
    param_names = ["n_elements", "dtype", "n_threads"]

    def setup(self, n_elements, dtype, n_threads):
        self.copy = ParallelCopy(n_elements, dtype, n_threads)

    def teardown(self, n_elements, dtype, n_threads):
        self.copy.close()

    def time_copyto(self, n_elements, dtype, n_threads):
        self.copy()
