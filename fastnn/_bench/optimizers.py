"""Optimizer steps and gradient clipping side by side: fastnn vs the memory-copy floor vs
torch.optim (foreach=True and fused=True) on buffers of the same size.

An update streams its buffers once: Adam reads p, g, m, v and writes p, m, v, so its floor
is 3.5 copies of the buffer (copy_floor(4, 3, ...)), measured with np.copyto on the same
number of threads in the same run.
torch is timed on one flat parameter tensor of the same size with torch.set_num_threads at
the same count; "fused" is torch's single-kernel CPU implementation where it exists (SGD,
Adam, AdamW, Adagrad in torch 2.x); elsewhere the column shows "-".
"""
import numpy as np

from fastnn import optimizers
from fastnn._bench._timing import (copy_floor, floor_scale, fmt_ms, fmt_ratio, import_torch,
                                   interleaved_best, print_table)

# (label, fastnn name, fastnn hyper, torch class name, torch kwargs, arrays read, written)
CASES = [
    ("sgd", "sgd", dict(lr=1e-3), "SGD", dict(lr=1e-3), 2, 1),
    ("momentum", "momentum", {}, "SGD", dict(lr=1e-3, momentum=0.9), 3, 2),
    ("nesterov", "nesterov", {}, "SGD", dict(lr=1e-3, momentum=0.9, nesterov=True), 3, 2),
    ("adagrad", "adagrad", {}, "Adagrad", {}, 3, 2),
    ("rmsprop", "rmsprop", {}, "RMSprop", {}, 3, 2),
    ("rmsprop centered mom", "rmsprop", dict(centered=True, momentum=0.9), "RMSprop",
     dict(centered=True, momentum=0.9), 5, 4),
    ("adadelta", "adadelta", {}, "Adadelta", {}, 4, 3),
    ("adam", "adam", {}, "Adam", {}, 4, 3),
    ("amsgrad", "amsgrad", {}, "Adam", dict(amsgrad=True), 5, 4),
    ("adamw", "adamw", {}, "AdamW", {}, 4, 3),
    ("nadam", "nadam", {}, "NAdam", {}, 4, 3),
]


def _torch_step(torch, cls_name, kwargs, p, g, mode):
    """A zero-argument callable doing one torch optimizer step, or None if torch has no
    such implementation (e.g. no fused CPU kernel)."""
    param = torch.nn.Parameter(torch.from_numpy(p.copy()))
    param.grad = torch.from_numpy(g.copy())
    try:
        opt = getattr(torch.optim, cls_name)([param], **kwargs, **{mode: True})
        opt.step()
    except (RuntimeError, TypeError, ValueError):
        return None
    return opt.step


def run(out, sizes=(10**7,), dtypes=("float32",), threads=(1, 2)):
    """Print the step time of every optimizer (and of gradient clipping) on flat buffers of
    each size, dtype and thread count."""
    torch = import_torch()
    rng = np.random.default_rng(0)
    header = ["optimizer", "dtype", "n", "thr", "fastnn ms", "floor", "/floor",
              "foreach", "foreach/fastnn", "fused", "fused/fastnn"]
    for n in sizes:
        for dtype in dtypes:
            p0 = rng.standard_normal(n).astype(dtype)
            g = (1e-3 * rng.standard_normal(n)).astype(dtype)
            rows = []
            for n_threads in threads:
                copy = copy_floor(1, 1, n, dtype, n_threads)  # one read + one write
                if torch is not None:
                    torch.set_num_threads(n_threads)
                for label, name, hyper, torch_name, torch_kwargs, reads, writes in CASES:
                    opt = optimizers.get(name, **hyper, n_threads=n_threads)
                    p = p0.copy()
                    contenders = [lambda: opt.step(p, g)]
                    if torch is not None:
                        contenders += [_torch_step(torch, torch_name, torch_kwargs, p0, g, mode)
                                       for mode in ("foreach", "fused")]
                    t, t_foreach, t_fused = (interleaved_best(contenders) + [None, None])[:3]
                    floor = copy * floor_scale(reads, writes)
                    rows.append([label, dtype, f"{n:.0e}", n_threads, fmt_ms(t),
                                 fmt_ms(floor), fmt_ratio(t, floor), fmt_ms(t_foreach),
                                 fmt_ratio(t_foreach, t), fmt_ms(t_fused),
                                 fmt_ratio(t_fused, t)])
                    del opt, p
                rows.extend(_clipping_rows(torch, p0, g, copy, dtype, n, n_threads))
            print_table(rows, header, out)
    if torch is None:
        print("(PyTorch not installed: no torch columns. pip install torch==2.13.0 for the "
              "CPU build.)", file=out)


def _clipping_rows(torch, p0, g, copy, dtype, n, n_threads):
    """clip_grad_norm (norm only: max_norm above the norm; and norm + scaling) and
    clip_grad_value; torch's clip_grad_norm_/clip_grad_value_ in the foreach column."""
    rows = []
    work = g.copy()
    norm = float(np.linalg.norm(g.astype(np.float64)))
    tg = None
    if torch is not None:
        tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        tp.grad = torch.from_numpy(work.copy())
        tg = tp
    clip_norm = torch.nn.utils.clip_grad_norm_ if torch is not None else None
    clip_value = torch.nn.utils.clip_grad_value_ if torch is not None else None
    cases = [
        ("clip_norm (no scale)", lambda: optimizers.clip_grad_norm(work, 10 * norm + 1,
                                                                    n_threads=n_threads),
         (lambda: clip_norm([tg], 10 * norm + 1, foreach=True)) if tg is not None else None,
         1, 0),
        # max_norm = norm: coef = norm / (norm + 1e-6) < 1, the buffer is scaled every time
        # by a factor within 1e-6 of 1 (no drift to 0 over the repeats).
        ("clip_norm (scale)", lambda: optimizers.clip_grad_norm(work, norm,
                                                                n_threads=n_threads),
         (lambda: clip_norm([tg], norm, foreach=True)) if tg is not None else None, 2, 1),
        ("clip_value", lambda: optimizers.clip_grad_value(work, 1e-3, n_threads=n_threads),
         (lambda: clip_value([tg], 1e-3, foreach=True)) if tg is not None else None, 1, 1),
    ]
    for label, ours, theirs, reads, writes in cases:
        t, t_torch = interleaved_best([ours, theirs])
        floor = copy * floor_scale(reads, writes)
        rows.append([label, dtype, f"{n:.0e}", n_threads, fmt_ms(t), fmt_ms(floor),
                     fmt_ratio(t, floor), fmt_ms(t_torch), fmt_ratio(t_torch, t), "-", "-"])
    return rows
