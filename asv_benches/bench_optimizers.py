"""asv: every optimizer's step, and gradient clipping, on flat float32 buffers of 1e4, 1e6
and 1e7 parameters, 1 and 2 threads. At most five buffers of n floats are alive (AMSGrad:
params, grads and three state buffers): 200 MB at 1e7."""
import numpy as np

from fastnn import optimizers

CASES = {
    "sgd": ("sgd", {}),
    "momentum": ("momentum", {}),
    "nesterov": ("nesterov", {}),
    "adagrad": ("adagrad", {}),
    "rmsprop": ("rmsprop", {}),
    "rmsprop_centered_momentum": ("rmsprop", dict(centered=True, momentum=0.9)),
    "adadelta": ("adadelta", {}),
    "adam": ("adam", {}),
    "amsgrad": ("amsgrad", {}),
    "adamw": ("adamw", {}),
    "nadam": ("nadam", {}),
}
SIZES = [10**4, 10**6, 10**7]


def _buffers(n_params, dtype):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(n_params, dtype=np.float32).astype(dtype, copy=False)
    grads = 1e-3 * rng.standard_normal(n_params, dtype=np.float32).astype(dtype, copy=False)
    return params, grads


class OptimizerStep:
    params = (list(CASES), SIZES, ["float32"], [1, 2])
    param_names = ["optimizer", "n_params", "dtype", "n_threads"]
    timeout = 120

    def setup(self, case, n_params, dtype, n_threads):
        name, hyper = CASES[case]
        self.params_, self.grads = _buffers(n_params, dtype)
        self.opt = optimizers.get(name, **hyper, n_threads=n_threads)
        self.opt.step(self.params_, self.grads)  # allocates the state (first touch)

    def time_step(self, case, n_params, dtype, n_threads):
        self.opt.step(self.params_, self.grads)


class GradientClipping:
    params = (SIZES, ["float32"], [1, 2])
    param_names = ["n_params", "dtype", "n_threads"]

    def setup(self, n_params, dtype, n_threads):
        _, self.grads = _buffers(n_params, dtype)
        self.norm = float(np.linalg.norm(self.grads.astype(np.float64)))

    def time_clip_grad_norm_no_scaling(self, n_params, dtype, n_threads):
        optimizers.clip_grad_norm(self.grads, 2 * self.norm, n_threads=n_threads)

    def time_clip_grad_norm_scaling(self, n_params, dtype, n_threads):
        # coef = norm / (norm + 1e-6): a scaling pass every time, no drift over repeats.
        optimizers.clip_grad_norm(self.grads, self.norm, n_threads=n_threads)

    def time_clip_grad_value(self, n_params, dtype, n_threads):
        optimizers.clip_grad_value(self.grads, 1e-3, n_threads=n_threads)


class MemoryCopy:
    """The floor the steps are measured against: np.copyto of one buffer (an update that
    reads r buffers and writes w moves (r + w) / 2 times these bytes)."""
    params = (SIZES, ["float32"])
    param_names = ["n_params", "dtype"]

    def setup(self, n_params, dtype):
        self.src = np.ones(n_params, dtype=dtype)
        self.dst = np.empty_like(self.src)

    def time_copyto(self, n_params, dtype):
        np.copyto(self.dst, self.src)
