"""Fit time of the estimators on DESIGN.md's workloads, against scikit-learn and PyTorch.

- W1 "mnist-shape": 60000 x 784 float32, 10 classes, MLP 784-256-128-10 ReLU, Adam lr 1e-3,
  batch 128, one epoch;
- W2 "tabular-small": 100000 x 20 float32, 2 classes, MLP 20-64-64-2 ReLU, Adam, batch 32,
  one epoch.

The data are synthetic (MNIST is not shipped): Gaussian features and labels from a random
two-layer teacher network, so that one epoch learns something and the printed accuracies
(on a held-out set drawn the same way) can be compared. Each contender runs one epoch of
``fit`` (fastnn, scikit-learn: ``max_iter=1``; PyTorch: a plain loop over shuffled index
batches with ``torch.optim.Adam``); the best of ``repeat`` runs is shown.

The GEMM floor: the epoch's matrix products (per batch: three forward products, three weight
gradients and two input gradients) timed alone through fastnn's BLAS wrapper on buffers of
the same shapes, in the same run; "GEMM share" is floor / fastnn's epoch time. Its GFLOP/s
is the FLOP count of those products divided by the floor.

The peak memory fit allocates (tracemalloc, which sees numpy's allocations) is printed for
each workload: data + model + O(batch) buffers, no copy of X.

scikit-learn trains two classes with one logistic output (20-64-64-1), as fastnn does in
drop-in mode; PyTorch gets the 20-64-64-2 softmax network of the workload.
"""
import time
import warnings

import numpy as np

from fastnn._bench._timing import fmt_ratio, import_torch, print_table
from fastnn._core import _blas

WORKLOADS = {
    "W1": {"n_samples": 60000, "n_features": 784, "hidden": (256, 128), "n_classes": 10,
           "batch_size": 128},
    "W2": {"n_samples": 100000, "n_features": 20, "hidden": (64, 64), "n_classes": 2,
           "batch_size": 32},
}


def make_data(spec, dtype, seed=0):
    """(X_train, y_train, X_test, y_test): Gaussian X, labels = argmax of a random teacher."""
    rng = np.random.default_rng(seed)
    n, d, k = spec["n_samples"], spec["n_features"], spec["n_classes"]
    n_test = n // 10
    X = rng.standard_normal((n + n_test, d), dtype=np.float32).astype(dtype)
    W1 = rng.standard_normal((d, 32)) / np.sqrt(d)
    W2 = rng.standard_normal((32, k))
    y = np.argmax(np.tanh(X @ W1) @ W2, axis=1)
    return X[:n], y[:n], X[n:], y[n:]


def gemm_floor(sizes, batch_size, n_samples, dtype, repeat=3):
    """(seconds, flops) of one epoch's matrix products alone, on preallocated buffers."""
    rng = np.random.default_rng(1)

    def calls_for(batch):
        a = [rng.standard_normal((batch, s)).astype(dtype) for s in sizes]
        w = [rng.standard_normal((i, o)).astype(dtype) for i, o in zip(sizes, sizes[1:])]
        calls, flops = [], 0
        for i in range(len(w)):
            fan_in, fan_out = w[i].shape
            calls.append((a[i], w[i], np.empty((batch, fan_out), dtype), {}))     # a W
            calls.append((a[i], a[i + 1], np.empty_like(w[i]), {"trans_a": True}))  # a^T d
            flops += 2 * 2 * batch * fan_in * fan_out
            if i > 0:                                                                # d W^T
                calls.append((a[i + 1], w[i], np.empty((batch, fan_in), dtype),
                              {"trans_b": True}))
                flops += 2 * batch * fan_in * fan_out
        return calls, flops

    n_full, tail = divmod(n_samples, batch_size)
    full_calls, full_flops = calls_for(batch_size)
    tail_calls, tail_flops = calls_for(tail) if tail else ([], 0)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n_full):
            for x, y, out, kw in full_calls:
                _blas.gemm_arrays(x, y, out, **kw)
        for x, y, out, kw in tail_calls:
            _blas.gemm_arrays(x, y, out, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, n_full * full_flops + tail_flops


def _best_of(fn, repeat):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _fit_fastnn(spec, X, y, n_threads):
    from fastnn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=spec["hidden"], solver="adam",
                        learning_rate_init=1e-3, batch_size=spec["batch_size"], max_iter=1,
                        random_state=0, n_threads=n_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch
        return clf.fit(X, y)


def _fit_sklearn(spec, X, y):
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=spec["hidden"], solver="adam",
                        learning_rate_init=1e-3, batch_size=spec["batch_size"], max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def _fit_torch(torch, spec, X, y, dtype):
    torch.manual_seed(0)
    sizes = [spec["n_features"], *spec["hidden"], spec["n_classes"]]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(getattr(torch, dtype))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    batch = spec["batch_size"]
    order = torch.randperm(X.shape[0])
    for start in range(0, X.shape[0], batch):
        idx = order[start:start + batch]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(tX[idx]), ty[idx]).backward()
        optimizer.step()

    def predict(Xt):
        with torch.no_grad():
            return model(torch.from_numpy(Xt)).argmax(1).numpy()
    return predict


def run(out, sizes=None, dtypes=("float32",), threads=(1, 2), workloads=("W1", "W2"),
        repeat=2):
    """Print one table per workload: fit time of fastnn, scikit-learn and PyTorch for one
    epoch, the ratios, test accuracies, and fastnn's GEMM share."""
    from threadpoolctl import threadpool_limits

    torch = import_torch()
    header = ["workload", "thr", "fastnn s", "GEMM floor s", "GEMM share", "GFLOP/s",
              "sklearn s", "sklearn/fastnn", "torch s", "torch/fastnn", "acc fastnn",
              "acc sklearn", "acc torch"]
    for dtype in dtypes:
        rows = []
        for name in workloads:
            spec = WORKLOADS[name]
            X, y, X_test, y_test = make_data(spec, dtype)
            sizes_ = [spec["n_features"], *spec["hidden"], spec["n_classes"]]
            for n_threads in threads:
                t_fast, clf = _best_of(lambda: _fit_fastnn(spec, X, y, n_threads), repeat)
                with threadpool_limits(n_threads, user_api="blas"):
                    t_floor, flops = gemm_floor(sizes_, spec["batch_size"], X.shape[0],
                                                dtype)
                    t_sk, sk = _best_of(lambda: _fit_sklearn(spec, X, y), 1)
                t_torch = acc_torch = None
                if torch is not None:
                    torch.set_num_threads(n_threads)
                    t_torch, predict = _best_of(lambda: _fit_torch(torch, spec, X, y, dtype),
                                                repeat)
                    acc_torch = np.mean(predict(X_test) == y_test)
                rows.append([
                    name, n_threads, f"{t_fast:.3f}", f"{t_floor:.3f}",
                    f"{t_floor / t_fast:.0%}", f"{flops / t_floor / 1e9:.0f}",
                    f"{t_sk:.3f}", fmt_ratio(t_sk, t_fast),
                    "-" if t_torch is None else f"{t_torch:.3f}", fmt_ratio(t_torch, t_fast),
                    f"{clf.score(X_test, y_test):.3f}", f"{sk.score(X_test, y_test):.3f}",
                    "-" if acc_torch is None else f"{acc_torch:.3f}"])
        print(f"one epoch of fit, {dtype}, Adam lr 1e-3 (best of {repeat}; scikit-learn "
              f"once)", file=out)
        print_table(rows, header, out)
        for name in workloads:
            X, y, _, _ = make_data(WORKLOADS[name], dtype)
            peak, model_bytes = _traced_peak(lambda: _fit_fastnn(WORKLOADS[name], X, y, 1))
            print(f"{name}: memory allocated by fit at its peak {peak / 1e6:.1f} MB (X is "
                  f"{X.nbytes / 1e6:.1f} MB, the parameters {model_bytes / 1e6:.2f} MB): no "
                  f"copy of X", file=out)


def _traced_peak(fit):
    """(peak bytes allocated during fit(), parameter bytes), from tracemalloc (numpy
    reports its allocations to it)."""
    import tracemalloc
    tracemalloc.start()
    try:
        model = fit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, model.network_.params.nbytes
