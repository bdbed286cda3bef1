"""One training step (forward + backward) of the network vs its GEMMs alone vs PyTorch.

Two shapes, float32, ReLU, softmax cross-entropy:

- DESIGN.md's W1: a batch of 128 through 784 -> 256 -> 128 -> 10, where the matrix products
  dominate; "in GEMM" is the share of the step they account for;
- DESIGN.md's W2: a batch of 32 through 20 -> 64 -> 64 -> 2, where the rest (kernel calls,
  Python) dominates unless it is compiled away. "python" times the same step through the
  network's Python path (one Python call per kernel, what the compiled plan replaced).

The GEMM floor is the step's matrix products (three forward, three weight gradients, two
input gradients) on operands of the same shapes, timed from C
(fastnn._core._network.gemm_seconds): timed from Python, each call would add about a
microsecond, more than a W2-sized product takes. BLAS runs on as many threads as the row.
"""
import numpy as np
from threadpoolctl import threadpool_limits

from fastnn._bench._timing import best_time, fmt_ms, fmt_ratio, import_torch, print_table
from fastnn.network import Network, _plans

W1 = ([784, 256, 128, 10], 128)
W2 = ([20, 64, 64, 2], 32)


def _products(sizes, batch):
    """(trans_a, trans_b, m, n, k) of one step's matrix products, row-major."""
    products = []
    for i in range(len(sizes) - 1):
        products.append((False, False, batch, sizes[i + 1], sizes[i]))       # a W
        products.append((True, False, sizes[i], sizes[i + 1], batch))        # a^T delta
        if i > 0:
            products.append((False, True, batch, sizes[i], sizes[i + 1]))    # delta W^T
    return products


def _gemm_floor(sizes, batch, dtype):
    """(seconds, flops) of the step's products alone, from C."""
    products = _products(sizes, batch)
    once = _plans.gemm_seconds(products, dtype, 1, repeat=2)
    rounds = max(1, int(0.005 / max(once, 1e-7)))  # about 5 ms per timing
    flops = sum(2 * m * n * k for _, _, m, n, k in products)
    return _plans.gemm_seconds(products, dtype, rounds), flops


def _network(sizes, dtype, n_threads, compiled=True):
    net = Network(sizes[0], sizes[1:-1], sizes[-1], activation="relu",
                  output_activation="softmax", loss="sparse_categorical_crossentropy",
                  dtype=dtype, random_state=0, n_threads=n_threads)
    if not compiled:
        net._build_plan = lambda: None  # the Python path: one call per kernel
    return net


def _torch_step(torch, sizes, dtype, X, y, n_threads):
    """Seconds of one forward + backward of the same model in PyTorch."""
    torch.set_num_threads(n_threads)
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(getattr(torch, dtype))
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=True)
        loss_fn(model(tX), ty).backward()
    return best_time(step)


def run(out, sizes=None, dtypes=("float32",), threads=(1, 2), batch=None):
    torch = import_torch()
    rng = np.random.default_rng(0)
    for name, (shape, n) in (("W1", W1), ("W2", W2)):
        n = batch or n
        header = ["dtype", "thr", "step ms", "python ms", "GEMMs ms", "in GEMM", "GFLOP/s",
                  "torch ms", "torch/step"]
        rows = []
        for dtype in dtypes:
            X = rng.standard_normal((n, shape[0])).astype(dtype)
            y = rng.integers(0, shape[-1], n)
            for n_threads in threads:
                with threadpool_limits(n_threads, user_api="blas"):
                    net = _network(shape, dtype, n_threads)
                    t_step = best_time(lambda: net.loss_and_gradient(X, y))
                    slow = _network(shape, dtype, n_threads, compiled=False)
                    t_python = best_time(lambda: slow.loss_and_gradient(X, y))
                    t_gemm, flops = _gemm_floor(shape, n, dtype)
                t_torch = None if torch is None else _torch_step(torch, shape, dtype, X, y,
                                                                 n_threads)
                rows.append([dtype, n_threads, fmt_ms(t_step), fmt_ms(t_python),
                             fmt_ms(t_gemm), f"{t_gemm / t_step:.0%}",
                             f"{flops / t_gemm / 1e9:.0f}", fmt_ms(t_torch),
                             fmt_ratio(t_torch, t_step)])
        print(f"{name}: batch {n} through {' -> '.join(map(str, shape))}, ReLU, softmax "
              f"cross-entropy: forward + backward", file=out)
        print_table(rows, header, out)
