"""Tests of fastnn.schedules against the closed forms of torch.optim.lr_scheduler and the
rules of scikit-learn's MLP (written out here; neither library is imported)."""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastnn import optimizers, schedules

EPOCHS = range(30)


def _closed_form_cosine(lr, eta_min, t_cur, t_i):
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def _warm_restarts(lr, T_0, T_mult, eta_min, n):
    """torch's CosineAnnealingWarmRestarts.step() called once per epoch."""
    out, t_cur, t_i = [], 0, T_0
    for _ in range(n):
        out.append(_closed_form_cosine(lr, eta_min, t_cur, t_i))
        t_cur += 1
        if t_cur >= t_i:
            t_cur -= t_i
            t_i *= T_mult
    return out


@pytest.mark.parametrize("name, params, closed_form", [
    ("constant", {}, lambda e: 0.1),
    ("step", dict(step_size=4), lambda e: 0.1 * 0.1 ** (e // 4)),
    ("step", dict(step_size=3, gamma=0.5), lambda e: 0.1 * 0.5 ** (e // 3)),
    ("multistep", dict(milestones=[20, 5, 12]), lambda e: 0.1 * 0.1 ** sum(
        m <= e for m in (5, 12, 20))),
    ("multistep", dict(milestones=[3, 7, 7], gamma=0.3), lambda e: 0.1 * 0.3 ** sum(
        m <= e for m in (3, 7, 7))),
    ("exponential", dict(gamma=0.9), lambda e: 0.1 * 0.9 ** e),
    ("cosine", dict(T_max=10), lambda e: _closed_form_cosine(0.1, 0.0, e, 10)),
    ("cosine", dict(T_max=7, eta_min=0.01), lambda e: _closed_form_cosine(0.1, 0.01, e, 7)),
    ("invscaling", {}, lambda e: 0.1 / (e + 1) ** 0.5),
    ("invscaling", dict(power_t=0.25, samples_per_epoch=100),
     lambda e: 0.1 / (100 * e + 1) ** 0.25),
])
def test_sequences_match_closed_forms(name, params, closed_form):
    sched = schedules.get(name, 0.1, **params)
    got = [sched.lr_at(e) for e in EPOCHS]
    want = [closed_form(e) for e in EPOCHS]
    assert_allclose(got, want, rtol=1e-15, atol=0)
    assert sched.sequence(30) == got


@pytest.mark.parametrize("T_0, T_mult, eta_min", [(3, 2, 0.0), (5, 1, 0.001), (2, 3, 0.02),
                                                  (1, 2, 0.0)])
def test_cosine_restarts_matches_torch_step_by_step(T_0, T_mult, eta_min):
    sched = schedules.get("cosine_restarts", 0.1, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
    assert_allclose(sched.sequence(30), _warm_restarts(0.1, T_0, T_mult, eta_min, 30),
                    rtol=1e-15, atol=0)


def test_sequences_checked_against_torch_in_reference():
    # REFERENCE.md section 7 (values printed by torch, 3 decimals).
    cosine = schedules.get("cosine", 1.0, T_max=4).sequence(9)
    assert_allclose(cosine, [1, .854, .5, .146, 0, .146, .5, .854, 1], atol=5e-4)
    restarts = schedules.get("cosine_restarts", 1.0, T_0=3, T_mult=2).sequence(10)
    assert_allclose(restarts, [1, .75, .25, 1, .933, .75, .5, .25, .067, 1], atol=5e-4)
    step = schedules.get("step", 1.0, step_size=2, gamma=0.5).sequence(5)
    assert step == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_invscaling_counts_samples_seen():
    # scikit-learn: learning_rate_init / (t + 1) ** power_t with t = samples seen, updated
    # after each epoch; n_samples=50 per epoch.
    sched = schedules.get("invscaling", 0.01, power_t=0.5, samples_per_epoch=50)
    assert sched.lr_at(0) == 0.01
    assert sched.lr_at(1) == 0.01 / 51 ** 0.5
    assert sched.lr_at(3) == sched.lr_at(0, n_samples_seen=150) == 0.01 / 151 ** 0.5
    assert sched.lr_at(0, n_samples_seen=1000) == 0.01 / 1001 ** 0.5
    assert schedules.get("invscaling", 0.3, power_t=0.0).lr_at(99) == 0.3


def _sklearn_adaptive(losses, lr=0.1, n_iter_no_change=10, tol=1e-4):
    """The lrs of the epochs and the stopping epoch under scikit-learn's rule."""
    best, count, lrs = math.inf, 0, [lr]
    for epoch, loss in enumerate(losses):
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            if lr <= 1e-6:
                return lrs, epoch
            lr /= 5.0
            count = 0
        lrs.append(lr)
    return lrs, None


def test_adaptive_reacts_to_the_loss_like_sklearn():
    rng = np.random.default_rng(0)
    # Improves for 15 epochs, then plateaus (changes below tol).
    losses = list(np.linspace(1.0, 0.5, 15)) + list(0.5 + 1e-5 * rng.standard_normal(200))
    want_lrs, want_stop = _sklearn_adaptive(losses)
    sched = schedules.get("adaptive", 0.1)
    stop = None
    for epoch, loss in enumerate(losses):
        if sched.update(loss):
            stop = epoch
            break
    assert stop == want_stop is not None
    assert sched.should_stop
    assert sched.history[:len(want_lrs)] == want_lrs
    # The first division comes after 11 epochs without improvement (epochs 15..25): epoch
    # 26 runs at lr / 5.
    assert sched.lr_at(25) == 0.1 and sched.lr_at(26) == 0.02
    assert sched.lr_at(10_000) == sched.current_lr <= 1e-6
    sched.reset()
    assert sched.lr_at(26) == 0.1 and not sched.should_stop and sched.history == [0.1]


def test_adaptive_keeps_lr_while_improving():
    sched = schedules.get("adaptive", 0.5, n_iter_no_change=2, tol=0.0)
    for loss in np.linspace(10, 1, 50):
        assert not sched.update(loss)
    assert sched.sequence(51) == [0.5] * 51
    # An equal loss counts as an improvement when tol=0 (sklearn: loss > best - tol).
    sched.update(1.0)
    # Three epochs without improvement (> n_iter_no_change=2), epochs 51..53: lr / 5 from
    # epoch 54.
    for _ in range(3):
        sched.update(2.0)
    assert sched.lr_at(53) == 0.5 and sched.lr_at(54) == 0.1
    with pytest.raises(ValueError, match="loss: nan"):
        sched.update(float("nan"))


def test_schedule_drives_an_optimizer():
    sched = schedules.get("step", 0.2, step_size=2, gamma=0.5)
    opt = optimizers.get("sgd", lr=sched.lr_at(0))
    w = np.zeros(1)
    for epoch in range(5):
        opt.lr = sched.lr_at(epoch)
        opt.step(w, np.ones(1))  # one step per epoch of gradient 1: w -= lr
    assert_allclose(w, -(0.2 + 0.2 + 0.1 + 0.1 + 0.05), rtol=1e-15)


@pytest.mark.parametrize("name, params, error, message", [
    ("step", dict(step_size=0), ValueError, "step_size: 0"),
    ("step", dict(step_size=2, gamma=0.0), ValueError, "gamma: 0.0"),
    ("step", dict(step_size=2.5), TypeError, "step_size must be an int"),
    ("exponential", dict(gamma=-0.5), ValueError, "gamma: -0.5"),
    ("multistep", dict(milestones=[3, -1]), ValueError, "milestone: -1"),
    ("multistep", dict(milestones=5), TypeError, "milestones must be a sequence"),
    ("cosine", dict(T_max=0), ValueError, "T_max: 0"),
    ("cosine", dict(T_max=10, eta_min=-0.1), ValueError, "eta_min: -0.1"),
    ("cosine_restarts", dict(T_0=0), ValueError, "T_0: 0"),
    ("cosine_restarts", dict(T_0=3, T_mult=0), ValueError, "T_mult: 0"),
    ("invscaling", dict(power_t=-1.0), ValueError, "power_t: -1.0"),
    ("adaptive", dict(n_iter_no_change=0), ValueError, "n_iter_no_change: 0"),
    ("adaptive", dict(factor=1.0), ValueError, "factor: 1.0"),
    ("cosine", {}, TypeError, "needs T_max"),
    ("cosine", dict(T_max=3, T_min=0), TypeError, "no parameter 'T_min'"),
    ("cosine_annealing", {}, ValueError, "unknown schedule 'cosine_annealing'.*cosine, "),
])
def test_invalid_parameters(name, params, error, message):
    with pytest.raises(error, match=message):
        schedules.get(name, 0.1, **params)


def test_invalid_lr_and_epoch():
    with pytest.raises(ValueError, match="learning rate lr: -0.1"):
        schedules.get("constant", -0.1)
    with pytest.raises(TypeError, match="needs the initial learning rate"):
        schedules.get("constant")
    sched = schedules.get("exponential", 0.1, gamma=0.5)
    with pytest.raises(ValueError, match="epoch: -1"):
        sched.lr_at(-1)
    with pytest.raises(TypeError, match="epoch must be an int"):
        sched.lr_at(1.5)
    assert schedules.get(sched) is sched
    assert repr(sched) == "Exponential(lr=0.1, gamma=0.5)"
    assert set(schedules.available()) == {"constant", "step", "multistep", "exponential",
                                          "cosine", "cosine_restarts", "invscaling",
                                          "adaptive"}
