"""Learning-rate schedules: the learning rate of each epoch, as torch.optim.lr_scheduler and
scikit-learn's MLP compute it.

``get(name, lr, **params)`` returns a schedule; ``lr_at(epoch)`` is the learning rate of
epoch ``epoch`` (counted from 0, the first epoch runs at ``lr_at(0)``)::

    >>> from fastnn import optimizers, schedules
    >>> sched = schedules.get("step", 0.1, step_size=10, gamma=0.5)
    >>> [sched.lr_at(e) for e in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.025]
    >>> opt = optimizers.get("sgd", lr=sched.lr_at(0))
    >>> # each epoch: opt.lr = sched.lr_at(epoch), then the epoch's steps

==================  ========================================================================
``constant``        lr
``step``            step_size, gamma=0.1: lr * gamma ** (epoch // step_size) (StepLR)
``multistep``       milestones, gamma=0.1: lr * gamma ** (number of milestones <= epoch)
                    (MultiStepLR; a repeated milestone counts twice)
``exponential``     gamma: lr * gamma ** epoch (ExponentialLR)
``cosine``          T_max, eta_min=0: eta_min + (lr - eta_min) (1 + cos(pi epoch / T_max)) / 2
                    (CosineAnnealingLR's closed form; not clamped after T_max, so the lr
                    rises again: a period of 2 T_max, as in torch)
``cosine_restarts`` T_0, T_mult=1, eta_min=0: the cosine from lr down towards eta_min over
                    T_0 epochs, restarted at lr, each period T_mult times the previous
                    (CosineAnnealingWarmRestarts)
``invscaling``      power_t=0.5, samples_per_epoch=1: lr / (t + 1) ** power_t where t is the
                    number of training samples seen before the epoch (scikit-learn's
                    ``learning_rate="invscaling"``)
``adaptive``        n_iter_no_change=10, tol=1e-4, factor=5, min_lr=1e-6: lr divided by
                    factor each time the training loss fails to improve by tol for more than
                    n_iter_no_change consecutive epochs; ``update(loss)`` after each epoch
                    says when to stop (scikit-learn's ``learning_rate="adaptive"``)
==================  ========================================================================

The epoch-based schedules are pure functions of the epoch (torch's closed forms, computed
the same way, so the sequences equal torch's for the same arguments up to the rounding of
its chained updates). ``invscaling`` depends on the samples seen; ``adaptive`` on the losses
it is given, so it keeps a history.
"""
import bisect
import math

from fastnn._registry import Registry
from fastnn._validation import check_int, check_real

__all__ = ["Schedule", "Constant", "Step", "MultiStep", "Exponential", "Cosine",
           "CosineRestarts", "InvScaling", "Adaptive", "available", "get"]


# ---------------------------------------------------------------------------------------------
# Checks: every error names the parameter and the value.

# ---------------------------------------------------------------------------------------------
# The schedules.

class Schedule:
    """Base class: ``lr_at(epoch)`` is the learning rate of epoch ``epoch`` (from 0)."""

    name = None

    def __init__(self, lr):
        self.lr = check_real(lr, "learning rate lr", low=0.0)

    def lr_at(self, epoch):
        """The learning rate of epoch ``epoch`` (an int >= 0; the first epoch is 0)."""
        return self._lr_at(check_int(epoch, "epoch", minimum=0))

    def _lr_at(self, epoch):
        raise NotImplementedError

    def sequence(self, n_epochs):
        """[lr_at(0), ..., lr_at(n_epochs - 1)]."""
        return [self.lr_at(e) for e in range(check_int(n_epochs, "n_epochs", minimum=0))]

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self):
        return {"lr": self.lr}


class Constant(Schedule):
    """lr at every epoch."""

    name = "constant"

    def _lr_at(self, epoch):
        return self.lr


class Step(Schedule):
    """lr * gamma ** (epoch // step_size): torch.optim.lr_scheduler.StepLR."""

    name = "step"

    def __init__(self, lr, step_size, gamma=0.1):
        super().__init__(lr)
        self.step_size = check_int(step_size, "step_size", minimum=1)
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)

    def _lr_at(self, epoch):
        return self.lr * self.gamma ** (epoch // self.step_size)

    def _params(self):
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class MultiStep(Schedule):
    """lr * gamma ** (number of milestones <= epoch): MultiStepLR (milestones are epochs,
    in any order; a repeated milestone multiplies by gamma once per occurrence)."""

    name = "multistep"

    def __init__(self, lr, milestones, gamma=0.1):
        super().__init__(lr)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"milestones must be a sequence of epochs, got {milestones!r}")
        self.milestones = sorted(check_int(m, "milestone", minimum=0) for m in milestones)
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)

    def _lr_at(self, epoch):
        return self.lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)

    def _params(self):
        return {"lr": self.lr, "milestones": self.milestones, "gamma": self.gamma}


class Exponential(Schedule):
    """lr * gamma ** epoch: ExponentialLR."""

    name = "exponential"

    def __init__(self, lr, gamma):
        super().__init__(lr)
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)

    def _lr_at(self, epoch):
        return self.lr * self.gamma ** epoch

    def _params(self):
        return {"lr": self.lr, "gamma": self.gamma}


def _cosine(lr, eta_min, t_cur, t_period):
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_period)) / 2


class Cosine(Schedule):
    """eta_min + (lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2: CosineAnnealingLR's
    closed form. Not clamped after T_max: the lr climbs back to lr at 2 T_max (torch's
    behaviour); stop at T_max, or use cosine_restarts, for a single decay."""

    name = "cosine"

    def __init__(self, lr, T_max, eta_min=0.0):
        super().__init__(lr)
        self.T_max = check_int(T_max, "T_max", minimum=1)
        self.eta_min = check_real(eta_min, "eta_min", low=0.0)

    def _lr_at(self, epoch):
        return _cosine(self.lr, self.eta_min, epoch, self.T_max)

    def _params(self):
        return {"lr": self.lr, "T_max": self.T_max, "eta_min": self.eta_min}


class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR): CosineAnnealingWarmRestarts.

    The first period lasts T_0 epochs, each following one T_mult times longer; within a
    period of length T_i, at its T_cur-th epoch, the lr is
    eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2. T_cur and T_i are computed
    in integers, as torch's epoch-by-epoch ``step()`` does."""

    name = "cosine_restarts"

    def __init__(self, lr, T_0, T_mult=1, eta_min=0.0):
        super().__init__(lr)
        self.T_0 = check_int(T_0, "T_0", minimum=1)
        self.T_mult = check_int(T_mult, "T_mult", minimum=1)
        self.eta_min = check_real(eta_min, "eta_min", low=0.0)

    def _lr_at(self, epoch):
        t_cur, t_i = epoch, self.T_0
        if self.T_mult == 1:
            t_cur = epoch % self.T_0
        else:
            while t_cur >= t_i:  # O(log epoch) periods
                t_cur -= t_i
                t_i *= self.T_mult
        return _cosine(self.lr, self.eta_min, t_cur, t_i)

    def _params(self):
        return {"lr": self.lr, "T_0": self.T_0, "T_mult": self.T_mult, "eta_min": self.eta_min}


class InvScaling(Schedule):
    """lr / (t + 1) ** power_t, t = the number of training samples seen before the epoch:
    scikit-learn's ``learning_rate="invscaling"`` (updated once per epoch).

    ``lr_at(epoch)`` takes t = epoch * samples_per_epoch; with the default
    samples_per_epoch=1 that is lr / (epoch + 1) ** power_t. ``lr_at(epoch,
    n_samples_seen=t)`` uses the given count instead (an estimator passes its ``t_``, which
    also counts the samples of earlier partial_fit calls). scikit-learn's MLP uses
    samples_per_epoch = n_samples, so its lr falls steeply after the first epoch.
    """

    name = "invscaling"

    def __init__(self, lr, power_t=0.5, samples_per_epoch=1):
        super().__init__(lr)
        self.power_t = check_real(power_t, "power_t", low=0.0)
        self.samples_per_epoch = check_int(samples_per_epoch, "samples_per_epoch",
                                            minimum=1)

    def lr_at(self, epoch, n_samples_seen=None):
        epoch = check_int(epoch, "epoch", minimum=0)
        if n_samples_seen is None:
            t = epoch * self.samples_per_epoch
        else:
            t = check_int(n_samples_seen, "n_samples_seen", minimum=0)
        return self.lr / (t + 1) ** self.power_t

    def _params(self):
        return {"lr": self.lr, "power_t": self.power_t,
                "samples_per_epoch": self.samples_per_epoch}


class NoImprovementCounter:
    """scikit-learn's count of epochs without improvement (MLP._update_no_improvement_count).

    ``update(loss)`` counts one more epoch without improvement when loss > best - tol and
    restarts the count otherwise, then keeps the lowest loss as ``best``; it returns the
    count. For a score where higher is better (a validation accuracy), pass -score.
    """

    def __init__(self, tol):
        self.tol = tol
        self.best = math.inf
        self.count = 0

    def update(self, loss):
        if loss > self.best - self.tol:  # a NaN loss compares False: the count restarts
            self.count += 1
        else:
            self.count = 0
        if loss < self.best:
            self.best = loss
        return self.count


class Adaptive(Schedule):
    """scikit-learn's ``learning_rate="adaptive"``: keep lr while the training loss keeps
    decreasing; when it has failed to decrease by at least tol for more than
    n_iter_no_change consecutive epochs, divide lr by factor (5) and start counting again;
    when that happens with lr already <= min_lr (1e-6), it is time to stop.

    After each epoch call ``update(loss)`` with the epoch's training loss: it returns True
    when training should stop (also in ``should_stop``). ``lr_at(epoch)`` is the lr in force
    at that epoch: for epochs already reported through update it is the historical value,
    for later ones the current lr. To react to a validation score instead (higher is
    better), pass ``-score``. ``reset()`` starts over.
    """

    name = "adaptive"

    def __init__(self, lr, n_iter_no_change=10, tol=1e-4, factor=5.0, min_lr=1e-6):
        super().__init__(lr)
        self.n_iter_no_change = check_int(n_iter_no_change, "n_iter_no_change", minimum=1)
        self.tol = check_real(tol, "tol", low=0.0)
        self.factor = check_real(factor, "factor", low=1.0, low_open=True)
        self.min_lr = check_real(min_lr, "min_lr", low=0.0)
        self.reset()

    def reset(self):
        """Forget the losses seen: back to lr at epoch 0."""
        self.current_lr = self.lr
        self.counter = NoImprovementCounter(self.tol)
        self.should_stop = False
        self.history = [self.lr]   # history[e] = lr of epoch e

    def update(self, loss):
        """Report the training loss of the epoch just finished; True means stop.

        Exactly scikit-learn's rule (MLP._update_no_improvement_count and
        SGDOptimizer.trigger_stopping)."""
        if self.counter.update(check_real(loss, "loss")) > self.n_iter_no_change:
            if self.current_lr <= self.min_lr:
                self.should_stop = True
            else:
                self.current_lr /= self.factor
                self.counter.count = 0
        self.history.append(self.current_lr)
        return self.should_stop

    def _lr_at(self, epoch):
        return self.history[epoch] if epoch < len(self.history) else self.current_lr

    def _params(self):
        return {"lr": self.lr, "n_iter_no_change": self.n_iter_no_change, "tol": self.tol,
                "factor": self.factor, "min_lr": self.min_lr}


# ---------------------------------------------------------------------------------------------
# The registry.

_REGISTRY = Registry("schedule", Schedule)
for _cls in (Constant, Step, MultiStep, Exponential, Cosine,
                                       CosineRestarts, InvScaling, Adaptive):
    _REGISTRY.add(_cls)
del _cls


def available():
    """Names accepted by ``get``."""
    return _REGISTRY.available()


def get(name, lr=None, **params):
    """The schedule called ``name`` starting from learning rate ``lr``, with ``params``.

    ``get("cosine", 0.1, T_max=50)``; a Schedule instance is returned as it is. Unknown
    names raise ValueError (listing the available ones), unknown parameters TypeError,
    missing or invalid values TypeError/ValueError naming them.
    """
    if isinstance(name, Schedule):
        if lr is not None or params:
            raise TypeError("lr and parameters cannot be given with a Schedule instance")
        return name
    if isinstance(name, str) and name in _REGISTRY and lr is None:
        raise TypeError(f"schedule {name!r} needs the initial learning rate lr")
    return _REGISTRY.get(name, lr=lr, **params)
