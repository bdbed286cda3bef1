"""The command line: ``python -m fastnn [demo | activations | bench FAMILY... | config]``.

``demo`` (the default) trains an MLPClassifier on the digits data shipped in the package,
with progress, and compares its test accuracy and fit time with scikit-learn's
MLPClassifier on the same split; ``activations`` runs every activation kernel on a hidden
layer of the same data, with gradient checks; ``bench`` prints the side-by-side benchmarks of
fastnn._bench (fastnn vs the memory-copy or GEMM floor vs scikit-learn and PyTorch where
installed); ``config`` prints versions, OpenMP, BLAS and threads.
"""
import argparse
import importlib
import pkgutil
import sys
import time
import warnings

import numpy as np


def _bench_families():
    import fastnn._bench
    return sorted(m.name for m in pkgutil.iter_modules(fastnn._bench.__path__)
                  if not m.name.startswith("_"))


def _gradient_check(act, z, g, rng, n_checks=60, h=1e-6):
    """Relative error between act.backward and central differences of
    L(z) = sum(g * act.forward(z)), on n_checks random entries, in float64. Each difference
    only needs the row that holds the entry (activations act row by row)."""
    analytic = act.backward(z, g)
    errors = []
    for _ in range(n_checks):
        i, j = rng.integers(z.shape[0]), rng.integers(z.shape[1])
        row = z[i:i + 1].copy()
        row[0, j] += h
        plus = np.sum(g[i] * act.forward(row)[0])
        row[0, j] -= 2 * h
        minus = np.sum(g[i] * act.forward(row)[0])
        errors.append(((plus - minus) / (2 * h), analytic[i, j]))
    numeric, exact = np.array(errors).T
    return np.linalg.norm(numeric - exact) / max(np.linalg.norm(numeric) +
                                                 np.linalg.norm(exact), 1e-300)


def demo(out=sys.stdout):
    """Train fastnn's MLPClassifier on the shipped digits, next to scikit-learn's."""
    import sklearn
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    from fastnn import MLPClassifier, __version__
    from fastnn._core._openmp import effective_n_threads
    from fastnn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels 0..16 -> [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    print(f"fastnn {__version__} ({effective_n_threads(None)} threads) vs scikit-learn "
          f"{sklearn.__version__}", file=out)
    print(f"data: UCI digits shipped with fastnn (CC BY 4.0), {X.shape[0]} images of 8x8 "
          f"pixels, 10 classes; {X_train.shape[0]} to train, {X_test.shape[0]} to test",
          file=out)
    params = dict(hidden_layer_sizes=(100,), solver="adam", max_iter=200, random_state=0)

    def progress(history):
        epoch = len(history["loss"])
        if epoch % 20 == 0:
            print(f"  epoch {epoch:3d}  loss {history['loss'][-1]:.4f}", file=out, flush=True)

    rows = []
    print("\nfastnn.MLPClassifier(hidden_layer_sizes=(100,), solver='adam', max_iter=200), "
          "float64:", file=out)
    rows.append(("fastnn, float64",) + _timed_fit(MLPClassifier(**params, callbacks=progress),
                                                 X_train, y_train, X_test, y_test))
    rows.append(("fastnn, float32",) + _timed_fit(
        MLPClassifier(**params), X_train.astype(np.float32), y_train,
        X_test.astype(np.float32), y_test))
    rows.append(("scikit-learn, float64",) + _timed_fit(
        SklearnMLPClassifier(**params), X_train, y_train, X_test, y_test))
    extras = dict(hidden_layer_sizes=(128, 64), activation="gelu", solver="adamw",
                  batch_norm=True, dropout=0.1, early_stopping=True, max_iter=200,
                  lr_schedule="cosine", lr_schedule_params={"T_max": 200},
                  learning_rate_init=3e-3, random_state=0)
    rows.append(("fastnn toolbox, float32",) + _timed_fit(
        MLPClassifier(**extras), X_train.astype(np.float32), y_train,
        X_test.astype(np.float32), y_test))

    sk_time = rows[2][2]
    print(f"\n{'model':<26}{'test accuracy':>14}{'fit s':>9}{'epochs':>8}"
          f"{'vs scikit-learn':>17}", file=out)
    print("-" * 74, file=out)
    for name, accuracy, seconds, epochs in rows:
        print(f"{name:<26}{accuracy:>14.4f}{seconds:>9.3f}{epochs:>8}"
              f"{sk_time / seconds:>16.1f}x", file=out)
    print("\nThe same parameters give the same model family: scikit-learn's initialisation "
          "and shuffling are reproduced;\nAdam differs only in torch's epsilon placement. "
          "The last row adds GELU, AdamW, batch norm, dropout,\nearly stopping and a cosine "
          "schedule (parameters scikit-learn does not have).", file=out)
    return 0


def _timed_fit(model, X_train, y_train, X_test, y_test):
    """(test accuracy, fit seconds, epochs) of model on the split."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
    return model.score(X_test, y_test), seconds, model.n_iter_


def activations_tour(out=sys.stdout):
    """Every activation at work on a hidden layer of the digits data.

    BLAS runs on one thread throughout: the demo needs it for one small product, and
    OpenBLAS's (and numpy's OpenBLAS's) spinning worker threads would otherwise slow the
    OpenMP kernels timed after it (see fastnn/network.py)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        return _activations_tour(out)


def _activations_tour(out):
    from fastnn import activations
    from fastnn._bench._timing import best_time
    from fastnn._core import _blas, _dispatch
    from fastnn._core._openmp import effective_n_threads
    from fastnn.datasets import load_digits
    from fastnn import __version__

    n_threads = effective_n_threads(None)
    print(f"fastnn {__version__}: {n_threads} threads, "
          f"{_dispatch.isa_of(activations._kernels)} kernels", file=out)
    digits = load_digits()
    X = digits.data
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    print(f"data: digits, {X.shape[0]} images of 8x8 pixels (UCI, CC BY 4.0), standardised",
          file=out)

    rng = np.random.default_rng(0)
    n_hidden = 256
    bound = np.sqrt(6.0 / (X.shape[1] + n_hidden))  # Glorot uniform
    W = rng.uniform(-bound, bound, (X.shape[1], n_hidden))
    Z64 = _blas.gemm_arrays(X, W)                   # dgemm
    X32, W32 = X.astype(np.float32), W.astype(np.float32)
    Z = _blas.gemm_arrays(X32, W32)                 # sgemm
    print(f"hidden layer: Z = X W, {Z.shape[0]}x{X.shape[1]} @ {X.shape[1]}x{n_hidden} "
          f"through BLAS sgemm, max |sgemm - numpy| = {np.abs(Z - X @ W).max():.1e}",
          file=out)
    print("\nEach activation on Z (float32 timings; gradient check in float64: backward vs "
          "central differences)\n", file=out)
    header = (f"{'activation':<32}{'out shape':>12}{'mean':>9}{'std':>8}{'zeros':>7}"
              f"{'fwd ms':>9}{'bwd ms':>9}{'grad rel. err':>15}")
    print(header, file=out)
    print("-" * len(header), file=out)
    cases = [("identity", {}), ("binary_step", {}), ("sigmoid", {}), ("tanh", {}),
             ("relu", {}), ("leaky_relu", {}), ("prelu", {}), ("elu", {}), ("selu", {}),
             ("softplus", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
             ("swish", {}), ("swish", {"beta": 1.5, "learn_beta": True}), ("softmax", {}),
             ("maxout", {"pieces": 4})]
    for name, params in cases:
        act = activations.get(name, **params)
        y = act.forward(Z)
        g = rng.standard_normal(y.shape).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # binary_step warns that it cannot be trained
            t_fwd = best_time(lambda: act.forward(Z, out=y))
            t_bwd = best_time(lambda: act.backward(Z, g))
            if name == "binary_step":
                check = "(no gradient)"
            else:
                act64 = activations.get(name, **params)
                check = f"{_gradient_check(act64, Z64, g.astype(np.float64), rng):.1e}"
        label = name + "".join(f" {k}={v}" for k, v in params.items())
        print(f"{label:<32}{str(y.shape):>12}{y.mean():>9.3f}{y.std():>8.3f}"
              f"{np.mean(y == 0):>7.0%}{t_fwd * 1e3:>9.3f}{t_bwd * 1e3:>9.3f}{check:>15}",
              file=out)
    t_gemm = best_time(lambda: _blas.gemm_arrays(X32, W32, Z))
    print(f"\nsgemm of the hidden layer (1 BLAS thread): {t_gemm * 1e3:.3f} ms. binary_step "
          f"has zero derivative almost everywhere: it cannot be trained by gradient descent.",
          file=out)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("demo", help="train an MLPClassifier on the shipped digits data, "
                                     "next to scikit-learn's (default)")
    commands.add_parser("activations", help="every activation kernel on a hidden layer of "
                                            "the digits data, with gradient checks")
    commands.add_parser("config", help="print versions, OpenMP, BLAS and threads")
    bench = commands.add_parser("bench", help="side-by-side benchmarks")
    bench.add_argument("families", nargs="*", metavar="FAMILY",
                       help=f"what to benchmark (default: all): {', '.join(_bench_families())}")
    bench.add_argument("--size", type=float, action="append",
                       help="elements per array (repeatable; default 1e7)")
    bench.add_argument("--dtype", action="append", choices=["float32", "float64"],
                       help="repeatable; default float32")
    bench.add_argument("--threads", type=int, action="append",
                       help="thread counts (repeatable; default 1 and all CPUs)")
    bench.add_argument("--rounds", type=int, default=1,
                       help="losses: time fastnn and its floor in this many fresh processes "
                            "and print the medians (default 1: in this process)")
    args = parser.parse_args(argv)

    if args.command in (None, "demo"):
        return demo()
    if args.command == "activations":
        return activations_tour()
    if args.command == "config":
        from fastnn import show_config
        show_config()
        return 0
    from fastnn._core._openmp import effective_n_threads
    families = args.families or _bench_families()
    unknown = sorted(set(families) - set(_bench_families()))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from "
                     f"{', '.join(_bench_families())}")
    sizes = tuple(int(s) for s in (args.size or [1e7]))
    dtypes = tuple(args.dtype or ["float32"])
    threads = tuple(args.threads or sorted({1, effective_n_threads(-1)}))
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.rounds > 1 and set(families) - {"losses"}:
        parser.error("--rounds applies to the losses benchmark only")
    options = {"rounds": args.rounds} if args.rounds > 1 else {}
    for family in families:
        print(f"\n== {family}", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"fastnn._bench.{family}").run(
            sys.stdout, sizes=sizes, dtypes=dtypes, threads=threads, **options)
        print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0
