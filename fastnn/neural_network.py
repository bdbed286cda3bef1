"""MLPClassifier and MLPRegressor: scikit-learn's multilayer perceptrons, on fastnn's kernels.

Drop-in: every parameter of scikit-learn's ``sklearn.neural_network.MLPClassifier`` /
``MLPRegressor`` (1.9) has the same name, default and meaning, and a fitted estimator has the
same attributes (coefs_, intercepts_, loss_, best_loss_, loss_curve_, validation_scores_,
best_validation_score_, t_, n_iter_, n_layers_, n_outputs_, out_activation_, classes_,
n_features_in_, feature_names_in_). With the defaults (``init="sklearn"``) the weights are
drawn exactly as scikit-learn draws them and the rows are shuffled from the same random
stream, so float64 training with solver="sgd" follows scikit-learn's trajectory.

The toolbox on top (all keyword-only, all off by default):

- ``activation``: any fastnn activation (relu, tanh, logistic, identity, leaky_relu, prelu,
  elu, selu, softplus, gelu, swish, maxout, ...), with ``activation_params``;
- ``solver``: sgd, adam, lbfgs as scikit-learn, plus momentum, nesterov, adagrad, rmsprop,
  adadelta, adamw, nadam, amsgrad (torch.optim's equations), with ``solver_params`` for
  hyper-parameters beyond scikit-learn's (weight_decay, rho, ...);
- ``batch_size``: an int, "auto" (min(200, n_samples)) or "full" (batch gradient descent);
- ``loss``: the regressor's squared_error, absolute_error, huber, pseudo_huber, log_cosh,
  poisson; the classifier's log_loss, hinge, focal; ``loss_params`` (delta, alpha, gamma);
- ``l1``, ``dropout``, ``batch_norm``, ``residual``, ``init``, ``clip_norm``, ``clip_value``;
- ``lr_schedule`` (step, exponential, cosine, cosine_restarts) with ``lr_schedule_params``;
- ``augment``: Gaussian input noise (a standard deviation) or a callable(X_batch, rng);
- ``class_weight`` (classifier), ``sample_weight`` in fit and partial_fit;
- ``n_threads``, ``callbacks`` (called after each epoch with the history; a truthy return
  stops training), ``history_``, ``verbose=2`` (a progress bar on a terminal).

Where fastnn and scikit-learn differ on purpose:

- Adam uses torch's epsilon placement (sqrt(v / bc2) + eps) where scikit-learn uses the
  paper's "epsilon hat"; SGD momentum uses torch's form, identical for a constant learning
  rate. Both are documented in fastnn.optimizers.
- warm_start keeps the optimizer's state (moments, step count) and its random stream;
  partial_fit called n times equals fit with max_iter=n (scikit-learn restarts its random
  stream at each call). A warm start or partial_fit follows a new alpha (or l1) but refuses
  a changed activation, loss, dropout, batch_norm or residual, which the fitted network is
  built with (scikit-learn would apply a new activation to the old weights).
- The training loss is consistent with its gradient: for several outputs, scikit-learn
  reports the mean over outputs of its loss while it descends the sum; fastnn reports the
  sum it descends (for one output the two agree).
- The Poisson loss leaves out the constant y log y - y of the deviance.
- L-BFGS with several outputs: scikit-learn hands scipy the mean loss with the gradient of
  the sum, so its line search differs from fastnn's (consistent) one; one output agrees.
- An ``lr_schedule`` given as a fastnn.schedules.Schedule instance carries its own initial
  learning rate (learning_rate_init is used for names).
- A run that diverges stops at once with a ValueError naming remedies and leaves the
  estimator as it was before the call (unfitted, or the previous model), as fastnn's
  delta-rule estimators do; a Ctrl-C stops at the next minibatch with a warning, keeping
  the best model so far.
"""
import copy
import math
import numbers
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, shuffle as _sk_shuffle
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from fastnn import activations as _activations
from fastnn import initializers as _initializers
from fastnn import losses as _losses
from fastnn import optimizers as _optimizers
from fastnn import schedules as _schedules
from fastnn._core._openmp import effective_n_threads
from fastnn.network import Network
from fastnn.training import (InterruptFlag, Minibatches, loss_and_gradient,
                             resolve_batch_size, run_epoch)

__all__ = ["MLPClassifier", "MLPRegressor"]

_DTYPES = (np.float64, np.float32)
_STOCHASTIC = ("sgd", "adam", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta",
               "adamw", "nadam", "amsgrad")
_SGD_FAMILY = ("sgd", "momentum", "nesterov")   # where learning_rate= applies, as sklearn
_EPOCH_SCHEDULES = ("step", "exponential", "cosine", "cosine_restarts")
# Rows per forward call at predict time: bounds the network's workspace.
_PREDICT_CHUNK = 4096
_DIVERGED = ("Solver produced non-finite parameter weights. The input data may contain "
             "large values and need to be preprocessed.")


def _same_option(name, value, fitted):
    """Whether a network option keeps its fitted value (None and {} are the same *_params)."""
    if name.endswith("_params"):
        return (value or {}) == (fitted or {})
    return bool(value == fitted)


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class _BaseMLP(BaseEstimator):
    """Parameters, training loop and prediction shared by the classifier and regressor."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "activation": [StrOptions(set(_activations.available()) - {"softmax"})],
        "solver": [StrOptions({"lbfgs", *_STOCHASTIC})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto", "full"}),
                       Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        # fastnn's additions
        "activation_params": [dict, None],
        "solver_params": [dict, None],
        "loss_params": [dict, None],
        "l1": [Interval(numbers.Real, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "residual": ["boolean"],
        "init": [StrOptions({"sklearn", "auto", *_initializers.available()})],
        "clip_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "clip_value": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "lr_schedule": [StrOptions(set(_EPOCH_SCHEDULES)), _schedules.Schedule, None],
        "lr_schedule_params": [dict, None],
        "augment": [Interval(numbers.Real, 0, None, closed="left"), callable, None],
        "n_threads": [Interval(numbers.Integral, None, -1, closed="right"),
                      Interval(numbers.Integral, 1, None, closed="left"), None],
        "callbacks": [list, tuple, callable, None],
    }

    # -- subclass hooks ------------------------------------------------------------------------
    # _validate_targets(y, incremental, classes) -> (targets, encoder state to commit)
    # _head(n_outputs) -> (output_activation, loss object, loss_scale, out_activation_)
    # _score_outputs(outputs, y, sample_weight) -> validation score
    # _y_for_score(targets) -> y in the form _score_outputs compares against

    # -- parameter checks beyond _parameter_constraints (run in fit, never in __init__) -------

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
        for h in sizes:
            if isinstance(h, bool) or not isinstance(h, numbers.Integral) or h <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(h) for h in sizes]

    def _check_options(self, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.solver == "lbfgs":
            if self.dropout:
                raise ValueError("dropout needs a stochastic solver: L-BFGS minimises one "
                                 "deterministic full-batch loss. Use solver='adam' (or "
                                 "another stochastic solver) with dropout, or dropout=0.")
            if self.augment is not None:
                raise ValueError("augment needs a stochastic solver (L-BFGS minimises one "
                                 "fixed full-batch loss)")
        if self.lr_schedule is not None and self.learning_rate != "constant" \
                and self.solver in _SGD_FAMILY:
            raise ValueError(f"learning_rate={self.learning_rate!r} and lr_schedule="
                             f"{self.lr_schedule!r} both set the learning rate: choose one "
                             f"(learning_rate='constant' with an lr_schedule)")
        if self.lr_schedule_params and self.lr_schedule is None:
            raise ValueError("lr_schedule_params given without an lr_schedule")
        if self.callbacks is not None:
            for cb in self._callback_list():
                if not callable(cb):
                    raise TypeError(f"callbacks must be callables, got {cb!r}")

    def _callback_list(self):
        if self.callbacks is None:
            return []
        return [self.callbacks] if callable(self.callbacks) else list(self.callbacks)

    def _make_optimizer(self, n_threads):
        """The optimizer the solver names, with scikit-learn's hyper-parameter names mapped
        to torch.optim's and solver_params added (validated here: fit raises on bad ones)."""
        hyper = {"lr": self.learning_rate_init}
        solver = self.solver
        if solver == "sgd":
            hyper.update(momentum=self.momentum,
                         nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        elif solver in ("momentum", "nesterov"):
            hyper.update(momentum=self.momentum)
        elif solver in ("adam", "adamw", "amsgrad", "nadam"):
            hyper.update(betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        elif solver == "rmsprop":
            hyper.update(eps=self.epsilon)
        hyper.update(self.solver_params or {})
        return _optimizers.get(solver, n_threads=n_threads, **hyper)

    def _make_schedule(self, n_samples):
        """(schedule or None, adaptive): the epoch learning-rate schedule of this fit."""
        lr = self.learning_rate_init
        if self.lr_schedule is not None:
            if isinstance(self.lr_schedule, _schedules.Schedule):
                return self.lr_schedule, False
            return _schedules.get(self.lr_schedule, lr, **(self.lr_schedule_params or {})), \
                False
        if self.solver in _SGD_FAMILY and self.learning_rate == "invscaling":
            return _schedules.get("invscaling", lr, power_t=self.power_t,
                                  samples_per_epoch=n_samples), False
        if self.solver in _SGD_FAMILY and self.learning_rate == "adaptive":
            return _schedules.get("adaptive", lr, n_iter_no_change=self.n_iter_no_change,
                                  tol=self.tol), True
        return None, False

    # -- data ----------------------------------------------------------------------------------

    def _validate_X_y(self, X, y, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=_DTYPES, reset=reset, y_numeric=not self._is_classifier)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _sample_weight(self, sample_weight, X, y):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                                 ensure_non_negative=True)
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            cw = compute_sample_weight(class_weight, y).astype(X.dtype)
            sample_weight = cw if sample_weight is None else sample_weight * cw
        if sample_weight is not None and not sample_weight.sum() > 0:
            raise ValueError("sample_weight (times class_weight) sums to zero: at least one "
                             "sample must have a positive weight")
        return sample_weight

    # -- training ------------------------------------------------------------------------------

    def _new_state(self, X, n_outputs, encoder, rng, n_threads):
        """A fresh network, optimizer and bookkeeping (the first fit, or fit without
        warm_start)."""
        output_activation, loss, loss_scale, out_name = self._head(n_outputs, encoder)
        network = Network(
            X.shape[1], self._hidden_sizes(), n_outputs, activation=self.activation,
            activation_params=self.activation_params, output_activation=output_activation,
            loss=loss, loss_scale=loss_scale, alpha=self.alpha, l1=self.l1,
            dropout=self.dropout, batch_norm=self.batch_norm, residual=self.residual,
            init=self.init, dtype=X.dtype, random_state=rng, n_threads=n_threads)
        state = {
            "network": network, "rng": rng, "out_activation": out_name,
            "optimizer": None, "optimizer_key": None,
            # a numpy Generator for dropout masks and augmentation noise, seeded from the
            # stream only when needed (so that the default draws match scikit-learn's)
            "generator": (np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
                          if self.dropout or self.augment is not None else None),
            "t": 0, "epoch": 0, "counter": _schedules.NoImprovementCounter(self.tol),
            "best_loss": np.inf, "best_validation_score": -np.inf, "best_params": None,
            "loss_curve": [], "validation_scores": [],
            "history": {"loss": [], "val_loss": [], "val_score": [], "learning_rate": [],
                        "time": []},
            "adaptive": None,
            "order": None,   # the last epoch's row order (shuffle=True), see _fit_stochastic
            # the options the network is built with (checked by continuing fits)
            "structure": {name: copy.deepcopy(getattr(self, name))
                          for name in ("activation", "activation_params", "loss",
                                       "loss_params", "dropout", "batch_norm", "residual")},
        }
        return state

    def _working_copy(self):
        """A deep copy of the committed training state, with writable buffers (the model may
        have been loaded read-only with joblib's mmap_mode)."""
        state = copy.deepcopy(self._state)
        network = state["network"]
        if not network.params.flags.writeable or not isinstance(network.params, np.ndarray) \
                or type(network.params) is not np.ndarray:
            network.params = np.array(network.params, copy=True)
            network.grads = np.zeros_like(network.params)
            network._bind_views()
        return state

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Validate, train a working copy, publish it; nothing changes on an error (a
        divergence included)."""
        saved = dict(self.__dict__)
        try:
            outcome = self._fit_and_commit(X, y, sample_weight, incremental, classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        if not outcome.get("committed"):
            # Nothing of this call was published (a divergence, or a Ctrl-C before the
            # first epoch ended): also undo what validation set on the way (n_features_in_,
            # feature_names_in_), else a fresh estimator would pass check_is_fitted.
            self.__dict__.clear()
            self.__dict__.update(saved)
        if outcome.get("error") is not None:
            raise outcome["error"]
        return self

    def _fit_and_commit(self, X, y, sample_weight, incremental, classes):
        self._check_options(incremental)
        continuing = hasattr(self, "_state") and (self.warm_start or incremental)
        X, y = self._validate_X_y(X, y, reset=not continuing)
        targets, encoder = self._validate_targets(y, continuing, classes)
        sample_weight = self._sample_weight(sample_weight, X, y)
        n_threads = effective_n_threads(self.n_threads)
        n_outputs = self._n_outputs_for(targets, encoder)

        if continuing:
            state = self._working_copy()
            network = state["network"]
            if network.layers[0].fan_in != X.shape[1] or network.layers[-1].units != n_outputs \
                    or [l.units for l in network.layers[:-1]] != self._hidden_sizes():
                raise ValueError("warm_start/partial_fit needs the same architecture: "
                                 f"hidden_layer_sizes={self.hidden_layer_sizes} and "
                                 f"{n_outputs} outputs do not match the fitted network")
            # The network is built with these options: a continuing fit cannot change them
            # (it would silently keep the fitted ones). alpha and l1 are read by the
            # network at each step: they follow set_params, as alpha does in scikit-learn.
            fitted = state.get("structure", {})
            changed = [f"{name}={getattr(self, name)!r} (fitted with {value!r})"
                       for name, value in fitted.items()
                       if _same_option(name, getattr(self, name), value) is False]
            if changed:
                raise ValueError(f"warm_start/partial_fit continues the fitted network, built "
                                 f"with other options: {', '.join(changed)}. Set them back, "
                                 f"or fit without warm_start for a new network.")
            network.alpha, network.l1 = float(self.alpha), float(self.l1)
            X = X.astype(network.dtype, copy=False)
        else:
            rng = check_random_state(self.random_state)
            state = self._new_state(X, n_outputs, encoder, rng, n_threads)
        state["encoder"] = encoder
        network = state["network"]
        network.n_threads = n_threads
        targets = self._targets_dtype(targets, network.dtype)
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(sample_weight, dtype=network.dtype)
        if not sp.issparse(X):
            X = np.ascontiguousarray(X)

        # The optimizer: kept across warm starts while its configuration stays the same.
        if self.solver != "lbfgs":
            key = (self.solver, repr(sorted((self.solver_params or {}).items())),
                   self.momentum, self.nesterovs_momentum, self.beta_1, self.beta_2,
                   self.epsilon)
            optimizer = self._make_optimizer(n_threads)  # validates the hyper-parameters
            if state["optimizer"] is None or state["optimizer_key"] != key:
                state["optimizer"], state["optimizer_key"] = optimizer, key
            state["optimizer"].n_threads = n_threads

        with threadpool_limits(n_threads, user_api="blas"):
            if self.solver == "lbfgs":
                outcome = self._fit_lbfgs(state, X, targets, sample_weight)
            else:
                outcome = self._fit_stochastic(state, X, targets, sample_weight, incremental,
                                               n_threads)
        self._commit(state, encoder, outcome)
        return outcome

    def _fit_stochastic(self, state, X, targets, sample_weight, incremental, n_threads):
        network, optimizer, rng = state["network"], state["optimizer"], state["rng"]
        early_stopping = self.early_stopping
        if early_stopping:
            # as scikit-learn: stratified for a single binary output only
            stratify = (targets[:, 0] if self._is_classifier and targets.ndim == 2
                        and targets.shape[1] == 1 else None)
            arrays = [X, targets] + ([sample_weight] if sample_weight is not None else [])
            split = train_test_split(*arrays, random_state=rng,
                                     test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = split[:4]
            sw_train, sw_val = (split[4], split[5]) if sample_weight is not None \
                else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            if not sp.issparse(X_train):
                X_train = np.ascontiguousarray(X_train)
        else:
            X_train, y_train, sw_train = X, targets, sample_weight
            X_val = y_val = sw_val = None

        n_samples = X_train.shape[0]
        batch_size = resolve_batch_size(self.batch_size, n_samples)
        batches = Minibatches(X_train, y_train, sw_train, batch_size, network.dtype)
        schedule, adaptive = self._make_schedule(n_samples)
        if adaptive:
            # the adaptive schedule's state lives with the training state (warm starts)
            if state["adaptive"] is None or state["adaptive"].lr != schedule.lr:
                state["adaptive"] = schedule
            schedule = state["adaptive"]
        order = None
        if self.shuffle:
            # Each epoch shuffles the previous epoch's order, as scikit-learn does within a
            # fit. The order is kept in the state so that partial_fit and warm starts carry
            # on the same sequence of permutations (n partial_fit calls == fit with
            # max_iter=n); it restarts from 0..n-1 when the number of rows changes.
            order = state.get("order")  # .get: states pickled before this key existed
            if order is None or order.shape[0] != n_samples:
                order = np.arange(n_samples)
        callbacks = self._callback_list()
        history = state["history"]
        progress = _Progress(self.verbose, n_samples)
        outcome = {"error": None, "n_iter": 0}
        best = state["best_params"]
        if early_stopping and best is None:
            best = state["best_params"] = (network.params.copy(), _copy_running(network))

        with InterruptFlag() as interrupt:
            try:
                for _ in range(self.max_iter):
                    started = time.perf_counter()
                    lr = self._epoch_lr(schedule, adaptive, state)
                    optimizer.lr = lr
                    if self.shuffle:
                        order = state["order"] = _sk_shuffle(order, random_state=rng)
                    result = run_epoch(
                        network, optimizer, batches, order, batch_size,
                        clip_norm=self.clip_norm, clip_value=self.clip_value,
                        augment=self.augment, rng=state["generator"], interrupt=interrupt,
                        n_threads=n_threads, on_batch=progress.update)
                    progress.done()
                    if result.stopped == "diverged" or not np.isfinite(network.params).all():
                        # the working copy is dropped: the estimator stays as it was
                        outcome["error"] = self._divergence_error(state, result, lr)
                        outcome["diverged"] = True
                        break
                    if result.stopped == "interrupted" and result.n_samples == 0:
                        outcome["interrupted"] = True
                        break
                    epoch_loss = result.loss_sum / result.n_samples
                    state["t"] += result.n_samples
                    state["epoch"] += 1
                    outcome["n_iter"] += 1
                    state["loss_curve"].append(epoch_loss)
                    val_loss = val_score = None
                    if early_stopping:
                        val_loss, val_score = self._validate(state, X_val, y_val, sw_val)
                        state["validation_scores"].append(val_score)
                        if val_score > state["best_validation_score"]:
                            state["best_validation_score"] = val_score
                            best[0][...] = network.params
                            _restore_running_into(best[1], network)
                    else:
                        state["best_loss"] = min(state["best_loss"], epoch_loss)
                    for key, value in (("loss", epoch_loss), ("val_loss", val_loss),
                                       ("val_score", val_score), ("learning_rate", lr),
                                       ("time", time.perf_counter() - started)):
                        history[key].append(value)
                    if self.verbose:
                        print(f"Iteration {state['epoch']}, loss = {epoch_loss:.8f}")
                        if early_stopping:
                            print(f"Validation score: {val_score:f}")
                    if result.stopped == "interrupted":
                        outcome["interrupted"] = True
                        break
                    # scikit-learn's stopping rule on the training loss or validation score
                    metric = -val_score if early_stopping else epoch_loss
                    if adaptive:
                        count_stop = schedule.update(metric)
                        if count_stop:
                            self._say_no_improvement()
                            break
                    elif state["counter"].update(metric) > self.n_iter_no_change:
                        self._say_no_improvement()
                        break
                    if any(bool(cb(history)) for cb in callbacks):
                        break
                    if incremental:
                        break
                    if interrupt.interrupted:
                        outcome["interrupted"] = True
                        break
                else:
                    if not incremental:
                        warnings.warn(
                            f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                            f"reached and the optimization hasn't converged yet.",
                            ConvergenceWarning)
            except KeyboardInterrupt:  # outside the main thread there is no InterruptFlag
                outcome["interrupted"] = True
        if outcome.get("interrupted"):
            warnings.warn(f"Training interrupted by user after {outcome['n_iter']} epochs "
                          f"of this fit; the best model so far is kept.", UserWarning)
        if early_stopping and not outcome.get("diverged"):
            network.params[...] = best[0]
            _restore_running(network, best[1])
        return outcome

    def _epoch_lr(self, schedule, adaptive, state):
        if schedule is None:
            return self.learning_rate_init
        if adaptive:
            return schedule.current_lr
        if isinstance(schedule, _schedules.InvScaling):
            return schedule.lr_at(state["epoch"], n_samples_seen=state["t"])
        return schedule.lr_at(state["epoch"])

    def _say_no_improvement(self):
        if self.verbose:
            what = "Validation score" if self.early_stopping else "Training loss"
            print(f"{what} did not improve more than tol={self.tol:f} for "
                  f"{self.n_iter_no_change} consecutive epochs. Stopping.")

    def _divergence_error(self, state, result, lr):
        where = f"epoch {state['epoch'] + 1}"
        if result.stopped == "diverged":
            where += f", minibatch {result.n_batches + 1} (loss {result.bad_loss})"
        return ValueError(
            f"{_DIVERGED} Training diverged at {where} with learning rate {lr:g}: lower "
            f"learning_rate_init, clip the gradients (clip_norm=1.0 or clip_value=...), or "
            f"standardize the features; the estimator keeps its previous state.")

    def _fit_lbfgs(self, state, X, targets, sample_weight):
        from fastnn.optimizers import LBFGS

        network = state["network"]
        if sp.issparse(X):
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=network.dtype)
        params = network.params
        history = state["history"]
        outcome = {"error": None}

        def fun(x):
            # An overflow (a trial point, predictions, loss or gradient not finite) gives an
            # infinite loss: the line search steps back; at the start it ends the run,
            # reported below as a divergence.
            if not np.isfinite(x).all():
                return math.inf, np.zeros_like(x)
            params[...] = x
            loss, grads = loss_and_gradient(network, X, targets, sample_weight)
            if grads is None or not math.isfinite(loss) or not np.isfinite(grads).all():
                return math.inf, np.zeros_like(x)
            return loss, grads

        with InterruptFlag() as interrupt:
            def callback(info):
                history["loss"].append(info.fun)
                for key in ("val_loss", "val_score", "learning_rate", "time"):
                    history[key].append(None)
                if self.verbose:
                    print(f"Iteration {info.nit}, loss = {info.fun:.8f}")
                if interrupt.interrupted:
                    outcome["interrupted"] = True
                    return True
                # the user's callbacks, after each L-BFGS iteration as after each epoch of
                # the stochastic solvers: a truthy return stops
                return any(bool(cb(history)) for cb in callbacks)

            callbacks = self._callback_list()
            x0 = params.astype(np.float64)
            try:
                result = LBFGS(max_iter=self.max_iter, max_fun=self.max_fun,
                               tol=self.tol).minimize(fun, x0, callback=callback)
            except KeyboardInterrupt:
                outcome["interrupted"] = True
                result = None
        if result is None or outcome.get("interrupted"):
            warnings.warn("Training interrupted by user; the current L-BFGS iterate is kept.",
                          UserWarning)
            if result is None:
                return outcome
        if not np.isfinite(result.x).all() or not math.isfinite(result.fun):
            outcome["error"] = ValueError(
                f"{_DIVERGED} L-BFGS ended on non-finite values: standardize the features "
                f"or raise alpha; the estimator keeps its previous state.")
            outcome["diverged_unrecoverable"] = True
            return outcome
        params[...] = result.x
        # scipy's last evaluation may not be at result.x: recompute the loss there, so that
        # loss_ and the batch-norm running statistics belong to the returned parameters
        state["lbfgs_loss"] = float(fun(result.x)[0])
        outcome["n_iter"] = result.nit
        return outcome

    def _validate(self, state, X_val, y_val, sw_val):
        """(validation loss, validation score) of the network in predict mode."""
        network = state["network"]
        out = self._forward(network, X_val)
        loss = network.loss.value(y_val, out, sw_val) * network.loss_scale
        outputs = self._outputs_from_forward(out)
        return float(loss), float(self._score_outputs(outputs, y_val, sw_val,
                                                      state["encoder"]))

    def _commit(self, state, encoder, outcome):
        """Publish the training state as the fitted model (after success or an interrupt).
        A divergence publishes nothing: the last finite epochs of a diverging run have
        exploded weights (finite, but their predictions overflow), so the estimator keeps
        what it had before the call."""
        if outcome.get("diverged_unrecoverable") or outcome.get("diverged"):
            return
        if outcome.get("interrupted") and outcome.get("n_iter", 0) == 0 \
                and self.solver != "lbfgs":
            return
        outcome["committed"] = True
        self._state = state
        self._set_encoder(encoder)
        network = state["network"]
        self.network_ = network
        self.n_outputs_ = network.layers[-1].units
        self.n_layers_ = len(network.layers) + 1
        self.out_activation_ = state["out_activation"]
        self._bind_public_views()
        self.history_ = state["history"]
        if self.solver == "lbfgs":
            self.n_iter_ = outcome.get("n_iter", 0)
            self.loss_ = state.get("lbfgs_loss", np.nan)
            self.t_ = 0
            return
        self.n_iter_ = outcome["n_iter"]
        self.t_ = state["t"]
        self.loss_curve_ = state["loss_curve"]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        if self.early_stopping:
            self.validation_scores_ = state["validation_scores"]
            self.best_validation_score_ = state["best_validation_score"]
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = state["best_loss"]

    def _bind_public_views(self):
        self.coefs_ = list(self.network_.coefs_)
        self.intercepts_ = list(self.network_.intercepts_)

    # -- prediction ----------------------------------------------------------------------------

    def _forward(self, network, X):
        """The network's output layer values (after its output activation) for X, in chunks
        of _PREDICT_CHUNK rows (sparse chunks densified)."""
        n = X.shape[0]
        out = np.empty((n, network.layers[-1].units), dtype=network.dtype)
        for start in range(0, n, _PREDICT_CHUNK):
            chunk = X[start:start + _PREDICT_CHUNK]
            if sp.issparse(chunk):
                chunk = chunk.toarray()
            out[start:start + chunk.shape[0]] = network.forward(
                np.ascontiguousarray(chunk, dtype=network.dtype))
        return out

    def _predict_outputs(self, X):
        """Validated X -> the model's outputs (probabilities, decisions or predictions)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=_DTYPES, reset=False)
        return self._outputs_from_forward(self._forward(self.network_, X))

    def __getstate__(self):
        # a copy: on Python >= 3.11 BaseEstimator.__getstate__ returns the instance's own
        # __dict__, and popping from it would strip coefs_ from the pickled estimator
        state = dict(super().__getstate__())
        state.pop("coefs_", None)        # views into network_.params, rebound on load
        state.pop("intercepts_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "network_" in self.__dict__:
            self.network_ = self._state["network"]
            self._bind_public_views()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class _Progress:
    """verbose=2 on a terminal: a progress bar over each epoch's rows."""

    def __init__(self, verbose, n_samples):
        self.active = verbose >= 2 and sys.stdout.isatty()
        self.n_samples = n_samples
        self.done_rows = 0
        self.update = self._update if self.active else None

    def _update(self, n_rows):
        self.done_rows += n_rows
        width = 30
        filled = int(width * self.done_rows / self.n_samples)
        sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done_rows}/{self.n_samples}")
        sys.stdout.flush()

    def done(self):
        if self.active:
            sys.stdout.write("\r" + " " * 60 + "\r")
            self.done_rows = 0


def _copy_running(network):
    return [None if r is None else (r[0].copy(), r[1].copy()) for r in network.running_stats()]


def _restore_running(network, saved):
    for running, copy_ in zip(network.running_stats(), saved):
        if running is not None:
            running[0][...], running[1][...] = copy_


def _restore_running_into(saved, network):
    for running, copy_ in zip(network.running_stats(), saved):
        if running is not None:
            copy_[0][...], copy_[1][...] = running


# ---------------------------------------------------------------------------------------------
# The classifier.

class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier on fastnn's kernels.

    Every parameter of ``sklearn.neural_network.MLPClassifier`` keeps its name, default and
    meaning (see scikit-learn's documentation); the module docstring of
    ``fastnn.neural_network`` lists where fastnn differs. The additions:

    loss : {"log_loss", "hinge", "focal"}, default="log_loss"
        log_loss: softmax cross-entropy for several classes, sigmoid cross-entropy for two
        classes and multilabel targets (as scikit-learn). hinge: raw scores, one-vs-rest
        (no predict_proba). focal: sigmoid focal loss per class (one-vs-rest), with
        loss_params alpha (0.25; None turns the balancing off) and gamma (2.0).
    activation_params, solver_params, loss_params, lr_schedule_params : dict or None
        Extra parameters of the activation (e.g. negative_slope, pieces for maxout), the
        solver (e.g. weight_decay), the loss and the lr_schedule (e.g. step_size, gamma,
        T_max, T_0).
    l1 : float >= 0, default=0
        L1 penalty on the weights, scaled as alpha: l1 * ||W||_1 / n_samples (per batch).
    dropout : float in [0, 1), default=0
        Drop probability after each hidden layer (inverted dropout, training only).
    batch_norm, residual : bool, default=False
    init : str, default="sklearn"
        "sklearn" (scikit-learn's draw), "auto" (He for ReLU-like, LeCun for SELU, Glorot
        otherwise) or a fastnn.initializers name.
    clip_norm, clip_value : float > 0 or None
        Clip each minibatch gradient by global norm, then by value.
    lr_schedule : {"step", "exponential", "cosine", "cosine_restarts"}, Schedule or None
        Learning rate per epoch, starting from learning_rate_init.
    augment : float >= 0, callable or None
        Gaussian noise of that standard deviation added to each training batch, or a
        callable(X_batch, rng) returning the augmented batch.
    class_weight : dict, "balanced" or None
        Multiplies the sample weights by the weight of each sample's class.
    n_threads : int or None
        Threads for fastnn's kernels and BLAS (None: all allowed).
    callbacks : callable or list of callables
        Each is called after every epoch with ``history_`` so far; a truthy return stops.

    Attributes (besides scikit-learn's)
    -----------------------------------
    network_ : fastnn.network.Network
        The trained network; coefs_ and intercepts_ are views into network_.params.
    history_ : dict of lists
        Per epoch: "loss", "val_loss", "val_score" (None without early_stopping),
        "learning_rate", "time" (seconds).
    """

    _parameter_constraints = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"log_loss", "hinge", "focal"})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _is_classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 loss="log_loss", activation_params=None, solver_params=None,
                 loss_params=None, l1=0.0, dropout=0.0, batch_norm=False, residual=False,
                 init="sklearn", clip_norm=None, clip_value=None, lr_schedule=None,
                 lr_schedule_params=None, augment=None, class_weight=None, n_threads=None,
                 callbacks=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.loss = loss
        self.activation_params = activation_params
        self.solver_params = solver_params
        self.loss_params = loss_params
        self.l1 = l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.residual = residual
        self.init = init
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.lr_schedule = lr_schedule
        self.lr_schedule_params = lr_schedule_params
        self.augment = augment
        self.class_weight = class_weight
        self.n_threads = n_threads
        self.callbacks = callbacks

    # -- targets -------------------------------------------------------------------------------

    def _validate_targets(self, y, continuing, classes):
        """(targets for the network, the label binarizer to commit)."""
        check_classification_targets(y)
        if y.ndim == 2:  # a multilabel indicator matrix
            binarizer = self._label_binarizer if continuing else LabelBinarizer().fit(y)
            return binarizer.transform(y), binarizer
        # 1-D labels: one np.unique gives the classes present and each row's class index
        # (LabelBinarizer.fit and transform would each search y again)
        seen, index = np.unique(y, return_inverse=True)
        if continuing:
            binarizer = self._label_binarizer
            if classes is not None and not np.array_equal(np.unique(classes),
                                                          self.classes_):
                raise ValueError(f"`classes={np.unique(classes)!r}` is not the same as on "
                                 f"last call to partial_fit, was: {self.classes_!r}")
            # as scikit-learn: with warm_start=True y needs exactly the fitted classes,
            # otherwise (partial_fit) any subset of them
            if self.warm_start and classes is None and not np.array_equal(seen,
                                                                          self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in "
                    f"the previous call to fit. Previously got {self.classes_}, `y` "
                    f"has {seen}")
            if len(np.setdiff1d(seen, self.classes_)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {seen}.")
        elif classes is not None:
            binarizer = LabelBinarizer().fit(classes)
            if len(np.setdiff1d(seen, binarizer.classes_)):
                raise ValueError(f"`y` has classes not in `classes`: {classes!r} vs "
                                 f"{seen!r}")
        else:
            binarizer = LabelBinarizer().fit(seen)
        if not np.array_equal(seen, binarizer.classes_):
            index = np.searchsorted(binarizer.classes_, seen)[index]
        return self._encode(index, binarizer), binarizer

    def _encode(self, index, binarizer):
        """The network's targets from class indices: int64 labels for softmax
        cross-entropy, otherwise LabelBinarizer.transform's indicator columns (one column for
        one or two classes)."""
        if self._uses_labels(binarizer):
            return index.astype(np.int64)
        n_classes = len(binarizer.classes_)
        if n_classes <= 2:
            return (index == 1).astype(np.int64).reshape(-1, 1)
        indicator = np.zeros((index.shape[0], n_classes), dtype=np.int64)
        indicator[np.arange(index.shape[0]), index] = 1
        return indicator

    def _uses_labels(self, binarizer):
        """Softmax cross-entropy trains on integer labels (the fused kernel reads them)."""
        return self.loss == "log_loss" and binarizer.y_type_ == "multiclass"

    def _n_outputs_for(self, targets, binarizer):
        return len(binarizer.classes_) if targets.ndim == 1 else targets.shape[1]

    @staticmethod
    def _targets_dtype(targets, dtype):
        """Integer labels (n,) stay int64; indicator targets (n, n_outputs), from the label
        binarizer as int64 in any memory order, become C-contiguous floats of the network's
        dtype, which the minibatch gather and the loss kernel read directly."""
        if targets.ndim == 1:
            return np.ascontiguousarray(targets, dtype=np.int64)
        return np.ascontiguousarray(targets, dtype=dtype)

    def _set_encoder(self, binarizer):
        self._label_binarizer = binarizer
        self.classes_ = binarizer.classes_

    def _head(self, n_outputs, binarizer):
        params = dict(self.loss_params or {})
        if self.loss == "log_loss":
            if params:
                raise ValueError(f"loss='log_loss' takes no loss_params, got {params}")
            if binarizer.y_type_ == "multiclass":
                return "softmax", "sparse_categorical_crossentropy", 1.0, "softmax"
            return "logistic", "binary_crossentropy", float(n_outputs), "logistic"
        if self.loss == "hinge":
            return "identity", _losses.get("hinge", **params), float(n_outputs), "identity"
        return "identity", _losses.get("focal", **params), float(n_outputs), "logistic"

    # -- outputs -------------------------------------------------------------------------------

    def _outputs_from_forward(self, out):
        """Probabilities (log_loss, focal) or decision values (hinge) per output."""
        if self.loss == "focal":
            out = _activations.get("sigmoid").forward(out, out=out)
        return out

    def _threshold(self):
        return 0.0 if self.loss == "hinge" else 0.5

    def _labels_from_outputs(self, outputs, binarizer):
        if binarizer.y_type_ == "multiclass":
            return binarizer.classes_[np.argmax(outputs, axis=1)]
        if outputs.shape[1] == 1:
            outputs = outputs.ravel()
        return binarizer.inverse_transform(outputs, threshold=self._threshold())

    def _score_outputs(self, outputs, y, sample_weight, binarizer):
        """Accuracy of the outputs against targets in training form."""
        if not np.isfinite(outputs).all():
            return np.nan
        predicted = self._labels_from_outputs(outputs, binarizer)
        if y.ndim == 1:  # integer labels
            truth = binarizer.classes_[y]
        else:
            truth = binarizer.inverse_transform(y if y.shape[1] > 1 else y.ravel(),
                                                threshold=0.5)
        return accuracy_score(truth, predicted, sample_weight=sample_weight)

    def predict(self, X):
        """The predicted classes (or label indicator matrix for multilabel targets)."""
        return self._labels_from_outputs(self._predict_outputs(X), self._label_binarizer)

    def _has_proba(self):
        return self.loss != "hinge"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities, columns in the order of classes_."""
        outputs = self._predict_outputs(X)
        if outputs.shape[1] == 1:
            p = outputs.ravel()
            return np.vstack([1 - p, p]).T
        if self.loss == "focal" and self._label_binarizer.y_type_ == "multiclass":
            # one-vs-rest sigmoids: normalise each row to a distribution
            outputs /= outputs.sum(axis=1, keepdims=True)
        return outputs

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """The log of predict_proba."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y (class labels, or a label indicator matrix)."""
        return self._fit(X, y, sample_weight)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over X, y. ``classes`` (every class of the whole data) is required on
        the first call."""
        if not hasattr(self, "_state") and classes is None \
                and not type_of_target(y).startswith("multilabel"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------------------------------------
# The regressor.

_REGRESSION_LOSSES = {
    # name: (fastnn loss, scale: the loss is scale * n_outputs * mean over elements, i.e.
    #        scale * the sum over outputs of the mean over samples)
    "squared_error": ("mse", 0.5),     # scikit-learn's half squared error
    "absolute_error": ("mae", 1.0),
    "huber": ("huber", 1.0),
    "pseudo_huber": ("pseudo_huber", 1.0),
    "log_cosh": ("log_cosh", 1.0),
    "poisson": ("poisson", 1.0),       # log link: the network outputs log(mean)
}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor on fastnn's kernels.

    Every parameter of ``sklearn.neural_network.MLPRegressor`` keeps its name, default and
    meaning; the additions are those of MLPClassifier (see its docstring) except
    class_weight, and:

    loss : {"squared_error", "absolute_error", "huber", "pseudo_huber", "log_cosh",
            "poisson"}, default="squared_error"
        squared_error is scikit-learn's half squared error; huber and pseudo_huber take
        loss_params={"delta": ...}; poisson uses a log link (out_activation_ "exp", y >= 0).
        For several outputs the loss is summed over outputs and averaged over samples.
    """

    _parameter_constraints = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(_REGRESSION_LOSSES))],
    }
    _is_classifier = False

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 activation_params=None, solver_params=None, loss_params=None, l1=0.0,
                 dropout=0.0, batch_norm=False, residual=False, init="sklearn",
                 clip_norm=None, clip_value=None, lr_schedule=None, lr_schedule_params=None,
                 augment=None, n_threads=None, callbacks=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.activation_params = activation_params
        self.solver_params = solver_params
        self.loss_params = loss_params
        self.l1 = l1
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.residual = residual
        self.init = init
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.lr_schedule = lr_schedule
        self.lr_schedule_params = lr_schedule_params
        self.augment = augment
        self.n_threads = n_threads
        self.callbacks = callbacks

    def _validate_targets(self, y, continuing, classes):
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y; got a minimum of "
                             f"{y.min()!r}")
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        return targets, None

    def _n_outputs_for(self, targets, encoder):
        return targets.shape[1]

    @staticmethod
    def _targets_dtype(targets, dtype):
        return np.ascontiguousarray(targets, dtype=dtype)

    def _set_encoder(self, encoder):
        pass

    def _head(self, n_outputs, encoder):
        name, scale = _REGRESSION_LOSSES[self.loss]
        loss = _losses.get(name, **(self.loss_params or {}))
        out_name = "exp" if self.loss == "poisson" else "identity"
        return "identity", loss, scale * n_outputs, out_name

    def _outputs_from_forward(self, out):
        if self.loss == "poisson":
            np.exp(out, out=out)
        return out

    def _score_outputs(self, outputs, y, sample_weight, encoder):
        if not np.isfinite(outputs).all():
            return np.nan
        return r2_score(y, outputs, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values, (n_samples,) for one output, else (n_samples, n_outputs)."""
        outputs = self._predict_outputs(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y."""
        return self._fit(X, y, sample_weight)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over X, y (continuing from the current model)."""
        return self._fit(X, y, sample_weight, incremental=True)
