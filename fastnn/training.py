"""The training loop behind MLPClassifier and MLPRegressor: minibatches, one epoch at a time.

An epoch visits the training rows in the order of an index (shuffled each epoch by the
estimator, as scikit-learn does), cuts it into minibatches, gathers each minibatch's rows into
buffers allocated once per fit (``Minibatches``: no copy of X per epoch, float32 stays
float32), optionally augments them, and runs one optimizer step::

    loss, grads = network.loss_and_gradient(X_batch, y_batch, sample_weight_batch)
    clip grads (by global norm, then by value), optimizer step on network.params

``run_epoch`` returns the summed minibatch losses (each weighted by its number of rows, as
scikit-learn's ``loss_``) and stops early at a minibatch boundary when the loss turns
non-finite (divergence) or when Ctrl-C was pressed (``InterruptFlag``). What to do then is the
estimator's decision: it owns early stopping, schedules, history and callbacks.
"""
import math
import signal
import threading
import warnings

import numpy as np
import scipy.sparse as sp

from fastnn import optimizers as _optimizers

__all__ = ["resolve_batch_size", "InterruptFlag", "Minibatches", "EpochResult", "run_epoch",
           "loss_and_gradient"]


def resolve_batch_size(batch_size, n_samples):
    """scikit-learn's rule: "auto" is min(200, n_samples); an int larger than n_samples is
    clipped with a warning. fastnn adds "full" (batch gradient descent: every row)."""
    if batch_size == "auto":
        return min(200, n_samples)
    if batch_size == "full":
        return n_samples
    if batch_size > n_samples:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                      "to be clipped", stacklevel=3)
    return int(min(batch_size, n_samples))


def loss_and_gradient(network, X, y, sample_weight=None, rng=None):
    """``network.loss_and_gradient`` for a training loop: ``(nan, None)`` when the network's
    predictions are not finite.

    The loss objects refuse NaN/inf predictions with a ValueError naming y_pred (bad input,
    from their point of view). When X is finite (the estimators validate it), such
    predictions come from an overflow inside the network or from parameters a step made
    non-finite: the run diverged, which the caller reports with its remedies. Any other
    error propagates.
    """
    try:
        return network.loss_and_gradient(X, y, sample_weight, rng=rng)
    except ValueError as exc:
        if "y_pred" in str(exc) and (sp.issparse(X) or np.isfinite(X).all()):
            return math.nan, None
        raise


class InterruptFlag:
    """Context manager turning Ctrl-C into a flag checked at minibatch boundaries.

    Inside the block, SIGINT sets ``interrupted`` instead of raising KeyboardInterrupt in the
    middle of a step; a second Ctrl-C raises as usual. Outside the main thread (where signal
    handlers cannot be installed) Python's default behaviour stays, and the estimator catches
    KeyboardInterrupt itself. Where SIGINT is ignored (a job a shell started in the
    background, which Ctrl-C at the terminal must not stop), it stays ignored.
    """

    def __init__(self):
        self.interrupted = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.interrupted:  # the second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except ValueError:  # e.g. an embedded interpreter without signal support
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Minibatches:
    """Buffers for minibatches of X rows, targets and sample weights, allocated once.

    ``take(rows)`` copies the rows of X (dense, C-contiguous, or a scipy sparse matrix, whose
    rows are densified) and of the targets named by the index array ``rows`` into the
    buffers and returns views of len(rows) rows. ``view(start, stop)`` returns the rows
    start:stop without copying when X is dense (no shuffling).
    """

    def __init__(self, X, targets, sample_weight, batch_size, dtype):
        self.X, self.targets, self.sample_weight = X, targets, sample_weight
        self.dtype = np.dtype(dtype)
        self.X_buffer = np.empty((batch_size, X.shape[1]), dtype=self.dtype)
        self.y_buffer = np.empty((batch_size,) + targets.shape[1:], dtype=targets.dtype)
        self.sw_buffer = (None if sample_weight is None
                          else np.empty(batch_size, dtype=sample_weight.dtype))
        self.noise = None  # Gaussian-noise buffer, allocated on first use

    def take(self, rows):
        m = rows.shape[0]
        X_batch = self.X_buffer[:m]
        # mode="clip": the rows come from a permutation of range(n_samples), always valid;
        # the default mode="raise" would gather through a temporary copy of the output
        if sp.issparse(self.X):
            X_batch[...] = self.X[rows].toarray()
        else:
            self.X.take(rows, axis=0, out=X_batch, mode="clip")
        y_batch = self.targets.take(rows, axis=0, out=self.y_buffer[:m], mode="clip")
        sw_batch = None
        if self.sample_weight is not None:
            sw_batch = self.sample_weight.take(rows, out=self.sw_buffer[:m], mode="clip")
        return X_batch, y_batch, sw_batch

    def view(self, start, stop):
        if sp.issparse(self.X):
            return self.take(np.arange(start, stop))
        sw = None if self.sample_weight is None else self.sample_weight[start:stop]
        return self.X[start:stop], self.targets[start:stop], sw

    def augment(self, X_batch, augment, rng):
        """X_batch with the augmentation applied: a float adds Gaussian noise of that
        standard deviation (into the batch buffer; a view of X is copied there first), a
        callable is called as augment(X_batch, rng) and must return an array of the same
        shape (its result is copied into the buffer, in the network's dtype)."""
        m = X_batch.shape[0]
        out = self.X_buffer[:m]
        if callable(augment):
            result = np.asarray(augment(X_batch.copy() if X_batch is not out else X_batch,
                                        rng))
            if result.shape != X_batch.shape:
                raise ValueError(f"the augment callable returned shape {result.shape} for a "
                                 f"batch of shape {X_batch.shape}; it must keep the shape")
            if result.dtype.kind not in "fiub":
                raise TypeError(f"the augment callable returned dtype {result.dtype}; "
                                f"expected real numbers")
            out[...] = result
            return out
        if X_batch is not out:
            out[...] = X_batch
        if self.noise is None:
            self.noise = np.empty_like(self.X_buffer)
        noise = self.noise[:m]
        rng.standard_normal(out=noise, dtype=self.dtype)
        noise *= augment
        out += noise
        return out


class EpochResult:
    """What one epoch did: ``loss_sum`` (minibatch losses times their row counts),
    ``n_samples`` (rows processed), ``n_batches``, ``stopped`` (None, "interrupted" or
    "diverged") and, for a divergence, the ``bad_loss`` and the minibatch number."""

    def __init__(self):
        self.loss_sum = 0.0
        self.n_samples = 0
        self.n_batches = 0
        self.stopped = None
        self.bad_loss = None


def run_epoch(network, optimizer, batches, order, batch_size, *, clip_norm=None,
              clip_value=None, augment=None, rng=None, interrupt=None, n_threads=1,
              on_batch=None):
    """One pass over the rows in ``order`` (an index array, or None for 0..n-1 in place).

    The network and optimizer are updated in place. Clipping follows torch: the global norm
    first (clip_grad_norm), then the value (clip_grad_value). ``rng`` (a numpy Generator)
    draws dropout masks and augmentation noise. A minibatch whose sample weights are all
    zero carries no information and is skipped (its weighted mean is undefined).
    ``on_batch(n_rows)`` is called after each minibatch (a progress bar).
    """
    result = EpochResult()
    params = network.params
    n_samples = batches.X.shape[0]
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        if order is None:
            X_batch, y_batch, sw_batch = batches.view(start, stop)
        else:
            X_batch, y_batch, sw_batch = batches.take(order[start:stop])
        if sw_batch is not None and not sw_batch.any():
            continue
        if augment is not None:
            X_batch = batches.augment(X_batch, augment, rng)
        loss, grads = loss_and_gradient(network, X_batch, y_batch, sw_batch, rng=rng)
        if not math.isfinite(loss):
            result.stopped, result.bad_loss = "diverged", loss
            return result
        if clip_norm is not None:
            _optimizers.clip_grad_norm(grads, clip_norm, n_threads=n_threads)
        if clip_value is not None:
            _optimizers.clip_grad_value(grads, clip_value, n_threads=n_threads)
        optimizer._step_checked(params, grads, n_threads)
        result.loss_sum += loss * (stop - start)
        result.n_samples += stop - start
        result.n_batches += 1
        if on_batch is not None:
            on_batch(stop - start)
        if interrupt is not None and interrupt.interrupted:
            result.stopped = "interrupted"
            return result
    return result
