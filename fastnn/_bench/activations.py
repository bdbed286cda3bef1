"""Activations side by side: fastnn vs the memory-copy floor vs PyTorch.

Forward reads x and writes y (floor: one copy); backward reads x and grad_output and writes
dL/dx (floor: 1.5 copies); the copies are numpy's, on the same number of threads, timed in
rounds alternating with each activation's forward and backward (as in the losses bench), so
that a shared machine's changing memory bandwidth moves kernel and floor alike. PyTorch is
timed on its own forward functions and on its aten backward kernels (what autograd calls,
without autograd's bookkeeping). Note that torch's sigmoid/tanh backward kernels take the
saved output y instead of x, so they skip the exp that fastnn's backward(x, grad_output)
recomputes.
"""
import warnings
from contextlib import ExitStack

import numpy as np

from fastnn import activations
from fastnn._bench._timing import (best_time, floor_scale, fmt_ms, fmt_ratio, import_torch,
                                   interleaved_best, parallel_copies, print_table)

# (fastnn name, params, torch forward, torch backward(grad, x, y) or None)
def _torch_cases(torch):
    F = torch.nn.functional
    aten = torch.ops.aten
    return {
        "relu": (torch.relu, lambda g, x, y: aten.threshold_backward(g, x, 0)),
        "leaky_relu": (F.leaky_relu,
                       lambda g, x, y: aten.leaky_relu_backward(g, x, 0.01, False)),
        "sigmoid": (torch.sigmoid, lambda g, x, y: aten.sigmoid_backward(g, y)),
        "tanh": (torch.tanh, lambda g, x, y: aten.tanh_backward(g, y)),
        "elu": (F.elu, lambda g, x, y: aten.elu_backward(g, 1.0, 1.0, 1.0, False, x)),
        "selu": (F.selu, lambda g, x, y: aten.elu_backward(
            g, 1.6732632423543772, 1.0507009873554805, 1.0, False, x)),
        "softplus": (F.softplus, lambda g, x, y: aten.softplus_backward(g, x, 1.0, 20.0)),
        "gelu": (F.gelu, lambda g, x, y: aten.gelu_backward(g, x, approximate="none")),
        "swish": (F.silu, lambda g, x, y: aten.silu_backward(g, x)),
        "softmax": (lambda x: torch.softmax(x, dim=1),
                    lambda g, x, y: aten._softmax_backward_data(g, y, 1, y.dtype)),
    }


CASES = [
    ("identity", {}), ("binary_step", {}), ("relu", {}), ("leaky_relu", {}),
    ("sigmoid", {}), ("tanh", {}), ("elu", {}), ("selu", {}), ("softplus", {}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("swish", {}), ("prelu", {}),
    ("softmax", {}), ("maxout", {"pieces": 2}),
]


def run(out, sizes=(10**7,), dtypes=("float32",), threads=(1, 2), n_features=1000):
    """Print forward and backward times for every activation on (n / n_features,
    n_features) arrays."""
    torch = import_torch()
    torch_cases = _torch_cases(torch) if torch is not None else {}
    rng = np.random.default_rng(0)
    header = ["activation", "dtype", "n", "thr", "fwd ms", "floor", "fwd/floor", "torch",
              "torch/fwd", "bwd ms", "floor", "bwd/floor", "torch", "torch/bwd"]
    for n in sizes:
        for dtype in dtypes:
            x = rng.standard_normal((n // n_features, n_features)).astype(dtype) * 3
            g = rng.standard_normal(x.shape).astype(dtype)
            rows = []
            for n_threads in threads:
                # fastnn (alternating with its floor) first, then torch: interleaving fastnn
                # and torch lets one library's spinning worker threads slow the other down
                # on a small machine
                timings = {}
                with ExitStack() as stack, warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # binary_step's "cannot train" warning
                    copies = parallel_copies(x.size, dtype, n_threads, stack)
                    for name, params in CASES:
                        act = activations.get(name, n_threads=n_threads, **params)
                        y = act.forward(x)
                        g_y = (g if y.shape == x.shape
                               else np.ascontiguousarray(g[:, :y.shape[1]]))
                        dx = np.empty_like(x)
                        t_fwd, t_bwd, *t_copies = interleaved_best(
                            [lambda: act.forward(x, out=y),
                             lambda: act.backward(x, g_y, out=dx)] + copies)
                        copy = min(t_copies)
                        timings[name, tuple(params.items())] = [
                            t_fwd, t_bwd, None, None,
                            copy * floor_scale(1, 1), copy * floor_scale(2, 1)]
                if torch is not None:
                    torch.set_num_threads(n_threads)
                    tx, tg = torch.from_numpy(x), torch.from_numpy(g)
                    for name, params in CASES:
                        if name in torch_cases and not params:
                            forward, backward = torch_cases[name]
                            ty = forward(tx)
                            timings[name, ()][2] = best_time(lambda: forward(tx))
                            timings[name, ()][3] = best_time(lambda: backward(tg, tx, ty))
                for name, params in CASES:
                    (t_fwd, t_bwd, t_torch_fwd, t_torch_bwd,
                     floor_fwd, floor_bwd) = timings[name, tuple(params.items())]
                    label = name + "".join(f" {k}={v}" for k, v in params.items())
                    rows.append([label, dtype, f"{x.size:.0e}", n_threads,
                                 fmt_ms(t_fwd), fmt_ms(floor_fwd), fmt_ratio(t_fwd, floor_fwd),
                                 fmt_ms(t_torch_fwd), fmt_ratio(t_torch_fwd, t_fwd),
                                 fmt_ms(t_bwd), fmt_ms(floor_bwd), fmt_ratio(t_bwd, floor_bwd),
                                 fmt_ms(t_torch_bwd), fmt_ratio(t_torch_bwd, t_bwd)])
            print_table(rows, header, out)
    if torch is None:
        print("(PyTorch not installed: no torch columns. pip install torch==2.13.0 for the "
              "CPU build.)", file=out)
