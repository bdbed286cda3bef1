"""One training step (forward + backward) of the network vs its GEMMs alone vs PyTorch.

The workload of DESIGN.md's W1 shape: a batch of 128 through 784 -> 256 -> 128 -> 10 with
ReLU and softmax cross-entropy, float32. The GEMM floor is the same eight matrix products
(three forward, three weight gradients, two input gradients) timed alone in the same run;
"in GEMM" is the share of the step they account for.
"""
import numpy as np

from fastnn._bench._timing import best_time, fmt_ms, fmt_ratio, import_torch, print_table
from fastnn._core import _blas
from fastnn.network import Network

SIZES = [784, 256, 128, 10]


def _gemm_calls(batch, dtype, rng):
    """The step's matrix products on preallocated arrays, as closures."""
    a = [rng.standard_normal((batch, s)).astype(dtype) for s in SIZES]
    w = [rng.standard_normal((i, o)).astype(dtype) for i, o in zip(SIZES, SIZES[1:])]
    calls = []
    for i in range(3):
        calls.append((a[i], w[i], np.empty((batch, SIZES[i + 1]), dtype), {}))         # a W
        calls.append((a[i], a[i + 1], np.empty_like(w[i]), {"trans_a": True}))         # a^T d
        if i > 0:
            calls.append((a[i + 1], w[i], np.empty((batch, SIZES[i]), dtype),
                          {"trans_b": True}))                                           # d W^T
    flops = sum(2 * x.shape[0] * x.shape[1] * (y.shape[0] if kw.get("trans_b") else
                                               y.shape[1]) if not kw.get("trans_a") else
                2 * x.shape[1] * x.shape[0] * y.shape[1] for x, y, _, kw in calls)

    def run():
        for x, y, out, kw in calls:
            _blas.gemm_arrays(x, y, out, **kw)
    return run, flops


def run(out, sizes=None, dtypes=("float32",), threads=(1, 2), batch=128):
    torch = import_torch()
    rng = np.random.default_rng(0)
    header = ["dtype", "thr", "step ms", "GEMMs ms", "in GEMM", "GFLOP/s", "torch ms",
              "torch/step"]
    rows = []
    for dtype in dtypes:
        X = rng.standard_normal((batch, SIZES[0])).astype(dtype)
        y = rng.integers(0, 10, batch)
        for n_threads in threads:
            net = Network(SIZES[0], SIZES[1:-1], SIZES[-1], activation="relu",
                          output_activation="softmax",
                          loss="sparse_categorical_crossentropy", dtype=dtype,
                          random_state=0, n_threads=n_threads)
            from threadpoolctl import threadpool_limits
            with threadpool_limits(n_threads, user_api="blas"):
                t_step = best_time(lambda: net.loss_and_gradient(X, y))
                gemms, flops = _gemm_calls(batch, dtype, rng)
                t_gemm = best_time(gemms)
            t_torch = None
            if torch is not None:
                torch.set_num_threads(n_threads)
                model = torch.nn.Sequential(
                    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                    torch.nn.ReLU(), torch.nn.Linear(128, 10)).to(getattr(torch, dtype))
                tX, ty = torch.from_numpy(X), torch.from_numpy(y)
                loss_fn = torch.nn.CrossEntropyLoss()

                def torch_step():
                    model.zero_grad(set_to_none=True)
                    loss_fn(model(tX), ty).backward()
                t_torch = best_time(torch_step)
            rows.append([dtype, n_threads, fmt_ms(t_step), fmt_ms(t_gemm),
                         f"{t_gemm / t_step:.0%}", f"{flops / t_gemm / 1e9:.0f}",
                         fmt_ms(t_torch), fmt_ratio(t_torch, t_step)])
    print(f"batch {batch} through {' -> '.join(map(str, SIZES))}, ReLU, softmax "
          f"cross-entropy: forward + backward", file=out)
    print_table(rows, header, out)
