"""Losses side by side: fastnn value+gradient vs the memory-copy floor vs PyTorch.

fastnn's value_and_gradient reads y_true and y_pred once and writes the gradient once (value
and gradient come from one fused pass), into a preallocated ``out`` as a training loop does.
Its floor is the time numpy takes to stream the same bytes on the same number of threads
(parallel_copies: reading y_true and y_pred, writing the gradient; integer labels count for
their own bytes). The copy is timed for every loss, in rounds alternating with the loss, so
that a change in the machine's load (on a shared VM, memory bandwidth varies by tens of
percent from minute to minute) moves the loss and its floor together. PyTorch is timed on
the loss forward plus its backward through autograd (torch.autograd.grad on a leaf tensor
created once), with torch.set_num_threads set to the same thread count; losses torch does
not have as one function (pseudo_huber, log_cosh, categorical_crossentropy, hinge, focal)
are written from torch ops as a user would.

All arrays are (n / 10, 10): ten outputs or classes per sample.

With rounds > 1 (``python -m fastnn bench losses --rounds 7``), fastnn and its floor are timed
in that many fresh processes, one after another (``python -m fastnn._bench.losses N DTYPE
THREADS`` is one round), and the table gives the medians: of fastnn's times, of the floors
and of the per-round ratios. On a shared VM a process's timings carry a bias of their own,
up to 1.7x for the same build (most likely its memory as the host happens to back it),
which neither the alternation nor a best-of removes. Medians over 8-10 fresh processes
moved by up to about 15% between runs of the same build, where one process's ratio moved by
up to 1.5x.

Each loss's timing is bracketed by samples of CoreMeter (fastnn._bench._timing): how many
cores' worth of arithmetic the threads had. A virtual machine's CPUs can be one physical
core taken in turns at one moment and two cores at the next; a loss bound by its
arithmetic then takes up to twice as long, and its floor (a copy, bound by memory) hardly
moves. The table gives the median of those samples, and the median ratio over the rounds
that had their cores (FULL_CORES of n_threads).
"""
import json
import os
import statistics
import subprocess
import sys
from contextlib import ExitStack

import numpy as np

import fastnn
from fastnn import losses
from fastnn._bench._timing import (CoreMeter, best_time, floor_scale, fmt_ms, fmt_ratio,
                                   import_torch, interleaved_best, parallel_copies, print_table)

N_OUTPUTS = 10

CASES = [
    # (name, params, kind of inputs)
    ("mse", {}, "regression"),
    ("mae", {}, "regression"),
    ("huber", {}, "regression"),
    ("pseudo_huber", {}, "regression"),
    ("log_cosh", {}, "regression"),
    ("poisson", {}, "counts"),
    ("binary_crossentropy", {}, "binary_probabilities"),
    ("sigmoid_crossentropy", {}, "binary_logits"),
    ("hinge", {}, "binary_logits"),
    ("focal", {}, "binary_logits"),
    ("categorical_crossentropy", {}, "probabilities"),
    ("kl_divergence", {}, "probabilities"),
    ("sparse_categorical_crossentropy", {}, "labels_probabilities"),
    ("softmax_crossentropy", {}, "labels_logits"),
]


def make_inputs(kind, n, dtype, rng):
    """(y_true, y_pred) for a case, n elements of y_pred in (n / 10, 10)."""
    shape = (n // N_OUTPUTS, N_OUTPUTS)
    logits = (rng.standard_normal(shape, dtype=np.float32) * 2).astype(dtype)
    if kind == "regression":
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype), logits
    if kind == "counts":
        return rng.poisson(2.0, shape).astype(dtype), logits
    if kind == "binary_logits":
        return rng.integers(0, 2, shape).astype(dtype), logits
    if kind == "binary_probabilities":
        return (rng.integers(0, 2, shape).astype(dtype),
                rng.uniform(0.01, 0.99, shape).astype(dtype))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    if kind == "probabilities":
        targets = rng.uniform(0, 1, shape).astype(dtype)
        return targets / targets.sum(axis=1, keepdims=True), probabilities
    labels = rng.integers(0, N_OUTPUTS, shape[0])
    return labels, (probabilities if kind == "labels_probabilities" else logits)


def _torch_losses(torch):
    F = torch.nn.functional

    def focal(x, y, alpha=0.25, gamma=2.0):  # torchvision.ops.sigmoid_focal_loss
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma)
        return ((alpha * y + (1 - alpha) * (1 - y)) * loss).mean()

    return {
        "mse": lambda x, y: F.mse_loss(x, y),
        "mae": lambda x, y: F.l1_loss(x, y),
        "huber": lambda x, y: F.huber_loss(x, y),
        "pseudo_huber": lambda x, y: (torch.sqrt(1 + (x - y) ** 2) - 1).mean(),
        "log_cosh": lambda x, y: torch.log(torch.cosh(x - y)).mean(),
        "poisson": lambda x, y: F.poisson_nll_loss(x, y, log_input=True, full=False),
        "binary_crossentropy": lambda x, y: F.binary_cross_entropy(x, y),
        "sigmoid_crossentropy": lambda x, y: F.binary_cross_entropy_with_logits(x, y),
        "hinge": lambda x, y: torch.clamp(1 - (2 * y - 1) * x, min=0).mean(),
        "focal": focal,
        "categorical_crossentropy": lambda x, y: -(y * torch.log(x)).sum(dim=1).mean(),
        "kl_divergence": lambda x, y: F.kl_div(torch.log(x), y, reduction="batchmean"),
        "sparse_categorical_crossentropy": lambda x, y: F.nll_loss(torch.log(x), y),
        "softmax_crossentropy": lambda x, y: F.cross_entropy(x, y),
    }


def time_fastnn(inputs, n_elements, dtype, n_threads):
    """({loss name: (seconds of value_and_gradient, seconds of its floor, cores)}, seconds
    of CoreMeter's fastest one-thread probe), each loss timed in rounds alternating with the
    copies of its floor; cores: how many cores' worth of arithmetic the threads had around
    that timing (CoreMeter, the lower of its samples just before and just after). The probe's
    time tells how fast a core computed in this run, to compare runs."""
    itemsize = np.dtype(dtype).itemsize
    meter = CoreMeter(n_threads)
    times = {}
    with ExitStack() as stack:
        copies = parallel_copies(n_elements, dtype, n_threads, stack)
        for name, params, kind in CASES:
            y_true, y_pred = inputs[kind]
            loss = losses.get(name, n_threads=n_threads, **params)
            grad = np.empty_like(y_pred)
            before = meter.sample()
            t_fastnn, *t_copies = interleaved_best(
                [lambda: loss.value_and_gradient(y_true, y_pred, out=grad)] + copies)
            after = meter.sample()
            n_read = 1 + y_true.nbytes / (y_pred.size * itemsize)
            times[name] = (t_fastnn, min(t_copies) * floor_scale(n_read, 1),
                           max(before, after))
    # the one-thread reference is the fastest seen in the whole round
    return ({name: (t, floor, meter.cores(probe)) for name, (t, floor, probe) in times.items()},
            meter.one_thread)


def time_fastnn_in_fresh_processes(n, dtype, n_threads, rounds):
    """({loss name: (median seconds of fastnn, median floor, median of the per-round ratios,
    median cores, the rounds' (ratio, cores) pairs)}, the rounds' one-thread probe times)
    over `rounds` fresh processes, each running time_fastnn on inputs of its own."""
    # The processes import this fastnn, wherever the parent found it.
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    per_round = []
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-m", "fastnn._bench.losses", str(n), dtype,
                               str(n_threads)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"a benchmark round failed:\n{done.stderr}")
        per_round.append(json.loads(done.stdout))
    probes = [r["one_thread_probe"] for r in per_round]
    per_round = [r["times"] for r in per_round]
    return {name: (statistics.median(r[name][0] for r in per_round),
                   statistics.median(r[name][1] for r in per_round),
                   statistics.median(r[name][0] / r[name][1] for r in per_round),
                   statistics.median(r[name][2] for r in per_round),
                   [(r[name][0] / r[name][1], r[name][2]) for r in per_round])
            for name, _, _ in CASES}, probes


# A round "had its cores" when CoreMeter found at least this share of n_threads whole cores.
FULL_CORES = 0.9


def full_core_ratio(pairs, n_threads):
    """The median ratio over the rounds that had their cores (see FULL_CORES), and how
    many rounds that was: (ratio or None, count)."""
    ratios = [ratio for ratio, cores in pairs if cores >= FULL_CORES * n_threads]
    return (statistics.median(ratios) if ratios else None), len(ratios)


def run(out, sizes=(10**7,), dtypes=("float32",), threads=(1, 2), rounds=1):
    """Print value+gradient times of every loss on (n / 10, 10) arrays; with rounds > 1,
    the medians of that many fresh processes (see the module's docstring)."""
    torch = import_torch()
    torch_losses = _torch_losses(torch) if torch is not None else {}
    rng = np.random.default_rng(0)
    header = ["loss", "dtype", "n", "thr", "v+g ms", "floor", "v+g/floor", "cores",
              "with cores", "torch", "torch/v+g"]
    for n in sizes:
        for dtype in dtypes:
            # With rounds > 1 each process makes its own inputs; these serve torch alone.
            inputs = ({kind: make_inputs(kind, n, dtype, rng) for _, _, kind in CASES}
                      if rounds == 1 or torch is not None else None)
            n_elements = (n // N_OUTPUTS) * N_OUTPUTS  # y_pred's size in every case
            rows = []
            probe_times = []
            for n_threads in threads:
                # fastnn (alternating with its floor) first, then torch: interleaving fastnn
                # and torch lets one library's spinning worker threads slow the other down
                # on a small machine.
                if rounds > 1:
                    per_loss, one_thread = time_fastnn_in_fresh_processes(n, dtype, n_threads,
                                                                          rounds)
                    times = {name: [t, floor, ratio, cores,
                                    full_core_ratio(pairs, n_threads), None]
                             for name, (t, floor, ratio, cores, pairs) in per_loss.items()}
                else:
                    per_loss, one_thread = time_fastnn(inputs, n_elements, dtype, n_threads)
                    one_thread = [one_thread]
                    times = {name: [t, floor, t / floor, cores,
                                    full_core_ratio([(t / floor, cores)], n_threads), None]
                             for name, (t, floor, cores) in per_loss.items()}
                probe_times.extend(one_thread)
                if torch is not None:
                    torch.set_num_threads(n_threads)
                    for name, params, kind in CASES:
                        if name not in torch_losses:
                            continue
                        y_true, y_pred = inputs[kind]
                        leaf = torch.from_numpy(y_pred.copy()).requires_grad_(True)
                        target = torch.from_numpy(y_true)

                        def torch_step():
                            value = torch_losses[name](leaf, target)
                            torch.autograd.grad(value, leaf)

                        times[name][5] = best_time(torch_step, repeat=5)
                for name, params, kind in CASES:
                    t_fastnn, floor, ratio, cores, (full_ratio, n_full), t_torch = times[name]
                    rows.append([name, dtype, f"{n_elements:.0e}", n_threads,
                                 fmt_ms(t_fastnn), fmt_ms(floor), f"{ratio:.2f}x",
                                 f"{cores:.2f}",
                                 ("-" if full_ratio is None else f"{full_ratio:.2f}x")
                                 + f" ({n_full}/{rounds})",
                                 fmt_ms(t_torch), fmt_ratio(t_torch, t_fastnn)])
            print_table(rows, header, out)
            if rounds > 1:
                print(f"(fastnn and floor: medians of {rounds} fresh processes; v+g/floor: "
                      f"the median of the {rounds} ratios)", file=out)
            print(f"(cores: the cores' worth of arithmetic fastnn's threads had, measured "
                  f"just before and after it was timed (CoreMeter; the median over the "
                  f"rounds);\n with cores: the median v+g/floor over the rounds that had at "
                  f"least {FULL_CORES:.0%} of their cores, and how many rounds those were)",
                  file=out)
            speeds = [CoreMeter.speed(t) for t in probe_times]
            print(f"(one core's speed, to compare runs: "
                  f"{statistics.median(speeds):.2f} multiply-adds per ns on CoreMeter's "
                  f"one-thread probe, the median over the rounds ({min(speeds):.2f}-"
                  f"{max(speeds):.2f}); two per cycle at 3.6 GHz would be 7.2)", file=out)
    if torch is None:
        print("(PyTorch not installed: no torch columns. pip install torch==2.13.0 for the "
              "CPU build.)", file=out)


def _one_round(argv):
    """One round of time_fastnn_in_fresh_processes: argv = N DTYPE THREADS; prints the times
    as JSON."""
    n, dtype, n_threads = int(float(argv[0])), argv[1], int(argv[2])
    rng = np.random.default_rng(0)
    inputs = {kind: make_inputs(kind, n, dtype, rng) for _, _, kind in CASES}
    times, one_thread = time_fastnn(inputs, (n // N_OUTPUTS) * N_OUTPUTS, dtype, n_threads)
    json.dump({"times": times, "one_thread_probe": one_thread}, sys.stdout)


if __name__ == "__main__":
    _one_round(sys.argv[1:])
