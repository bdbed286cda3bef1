"""The delta rule (LMS / Widrow-Hoff, Adaline) as scikit-learn estimators.

``DeltaRuleRegressor`` fits a linear unit y = X w + b by the least-mean-squares rule::

    w += learning_rate * (t - y) * x,    b += learning_rate * (t - y)

one sample at a time (``batch_size=1``, online LMS), or averaging the update over mini-batches
(``batch_size=k``) or the whole set (``batch_size="full"``: batch gradient descent on
0.5 * mean (t - y)^2). ``DeltaRuleClassifier`` is Adaline: the same rule on targets +1/-1,
predicting the sign; several classes are handled one-vs-rest (one unit per class, argmax of
the decision function).

    >>> import numpy as np
    >>> from fastnn.linear import DeltaRuleRegressor
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> reg = DeltaRuleRegressor(learning_rate=0.05, max_iter=2000, tol=0).fit(X, 2 * X[:, 0] + 1)
    >>> np.round(reg.coef_, 3), round(float(reg.intercept_), 3)
    (array([2.]), 1.0)

The loss reported per epoch (``loss_curve_``) is the mean over samples and outputs of
0.5 (t - y)^2, each term computed with the weights before the update it leads to (as online
algorithms report). Training stops when that loss has improved by less than ``tol`` for
``n_iter_no_change`` consecutive epochs, or after ``max_iter`` epochs (ConvergenceWarning).

float32 input is kept float32 (the weights too); anything else is converted to float64. The
epoch loop is a serial nogil Cython kernel (fastnn._core._linear.lms_epoch).
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastnn._core._linear import lms_epoch
from fastnn.schedules import NoImprovementCounter
from fastnn.training import InterruptFlag

__all__ = ["DeltaRuleRegressor", "DeltaRuleClassifier"]

_DTYPES = [np.float64, np.float32]


class _DeltaRuleBase(BaseEstimator):
    """Shared parameters, epoch loop and atomic commit of the two delta-rule estimators."""

    _parameter_constraints = {
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"),
                       StrOptions({"full"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
    }

    def __init__(self, *, learning_rate=0.01, max_iter=200, tol=1e-6, n_iter_no_change=5,
                 shuffle=True, batch_size=1, random_state=None, warm_start=False):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.batch_size = batch_size
        self.random_state = random_state
        self.warm_start = warm_start

    # -- hooks of the subclasses ---------------------------------------------------------
    # _get_weights() -> (coef (n_features, n_outputs), intercept (n_outputs,)) C-contiguous
    # copies of the fitted weights; _set_weights(coef, intercept) publishes them.

    # -- the epoch loop --------------------------------------------------------------------
    def _batch(self, n_samples):
        if isinstance(self.batch_size, str):  # "full", validated
            return n_samples
        return min(int(self.batch_size), n_samples)

    def _run_epochs(self, X, T, coef, intercept, n_epochs, rng, early_stop):
        """Run up to n_epochs epochs on copies; returns (coef, intercept, losses, stopped).

        Raises ValueError, without touching the estimator, when the weights or the loss become
        non-finite. Ctrl-C stops at the end of the running epoch (the epoch is one nogil
        kernel call) with a warning, keeping the weights trained so far."""
        n_samples, n_features = X.shape
        scratch = np.zeros((n_features + 2, T.shape[1]), dtype=np.float64)
        batch = self._batch(n_samples)
        lr = float(self.learning_rate)
        losses = []
        counter = NoImprovementCounter(self.tol if self.tol is not None else 0.0)
        stopped = False
        order = np.arange(n_samples, dtype=np.intp)
        with InterruptFlag() as interrupt:
            for _ in range(n_epochs):
                if self.shuffle:
                    rng.shuffle(order)
                loss = lms_epoch(X, T, order, coef, intercept, lr, batch, scratch)
                if not (np.isfinite(loss) and np.isfinite(coef).all()
                        and np.isfinite(intercept).all()):
                    raise ValueError(
                        f"The weights became non-finite (diverged) during epoch "
                        f"{len(losses) + 1} with learning_rate={self.learning_rate!r}: use a "
                        f"smaller learning_rate (or standardize the features). The previous "
                        f"model was kept.")
                losses.append(float(loss))
                if interrupt.interrupted:
                    warnings.warn(f"Training interrupted by user after {len(losses)} epochs; "
                                  f"the weights trained so far are kept.", UserWarning)
                    stopped = True
                    break
                if early_stop and self.tol is not None \
                        and counter.update(loss) >= self.n_iter_no_change:
                    stopped = True
                    break
        return coef, intercept, losses, stopped

    def _atomic(self, func):
        """Call func(); if it raises, restore every attribute as it was before."""
        saved = dict(self.__dict__)
        try:
            return func()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _check_X_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        return X

    def _start_weights(self, n_features, n_outputs, dtype, keep):
        if keep and hasattr(self, "coef_"):
            coef, intercept = self._get_weights()
            if coef.shape == (n_features, n_outputs):
                return (np.ascontiguousarray(coef, dtype=dtype),
                        np.ascontiguousarray(intercept, dtype=dtype))
        return (np.zeros((n_features, n_outputs), dtype=dtype),
                np.zeros(n_outputs, dtype=dtype))

    def _train(self, X, T, *, partial):
        """Common body of fit (partial=False) and partial_fit (one epoch)."""
        n_samples, n_features = X.shape
        keep = partial or self.warm_start
        if partial and hasattr(self, "coef_"):
            dtype = self._get_weights()[0].dtype
        else:
            dtype = X.dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        T = np.ascontiguousarray(T, dtype=dtype)
        coef, intercept = self._start_weights(n_features, T.shape[1], dtype, keep)
        if partial:
            if not hasattr(self, "_rng"):
                self._rng = check_random_state(self.random_state)
            rng = self._rng
        else:
            rng = check_random_state(self.random_state)
        coef, intercept, losses, stopped = self._run_epochs(
            X, T, coef, intercept, 1 if partial else self.max_iter, rng,
            early_stop=not partial)
        # Commit: only reached after every epoch of this call stayed finite.
        self._set_weights(coef, intercept)
        previous = list(getattr(self, "loss_curve_", [])) if keep else []
        self.loss_curve_ = previous + losses
        self.loss_ = self.loss_curve_[-1]
        if partial:
            self.n_iter_ = getattr(self, "n_iter_", 0) + 1 if keep else 1
            self.t_ = getattr(self, "t_", 0) + n_samples
        else:
            self.n_iter_ = len(losses)
            self.t_ = (getattr(self, "t_", 0) if keep else 0) + n_samples * len(losses)
            if not stopped and self.tol is not None:
                warnings.warn(
                    f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet; increase max_iter or "
                    "learning_rate, or set a larger tol.", ConvergenceWarning)
        return self


class DeltaRuleRegressor(RegressorMixin, _DeltaRuleBase):
    """Linear regression trained by the delta rule (LMS, Widrow-Hoff).

    Parameters
    ----------
    learning_rate : float > 0, default=0.01
        Step size of w += learning_rate * (t - y) * x (averaged over a mini-batch).
    max_iter : int >= 1, default=200
        Maximum number of epochs of fit.
    tol : float >= 0 or None, default=1e-6
        Stop when the epoch loss improves by less than tol for n_iter_no_change consecutive
        epochs. None: run max_iter epochs, no ConvergenceWarning.
    n_iter_no_change : int >= 1, default=5
    shuffle : bool, default=True
        Shuffle the sample order each epoch (with random_state).
    batch_size : int >= 1 or "full", default=1
        1: online LMS; k: update averaged over k samples; "full": batch gradient descent.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start fit from the current coef_ and intercept_.

    Attributes
    ----------
    coef_ : ndarray (n_features,) for 1-D y, (n_features, n_outputs) for 2-D y
    intercept_ : float for 1-D y, ndarray (n_outputs,) for 2-D y
    loss_curve_ : list of per-epoch losses (mean 0.5 (t - y)^2)
    loss_ : last epoch loss
    n_iter_ : epochs run by the last fit (partial_fit: epochs so far)
    t_ : samples seen
    n_features_in_, feature_names_in_
    """

    def _get_weights(self):
        coef = np.asarray(self.coef_)
        coef = coef.reshape(coef.shape[0], -1)
        return np.ascontiguousarray(coef), np.atleast_1d(np.asarray(self.intercept_)).copy()

    def _set_weights(self, coef, intercept):
        if self._y_1d:
            self.coef_ = coef[:, 0].copy()
            self.intercept_ = intercept[0]
        else:
            self.coef_ = coef
            self.intercept_ = intercept
        self.n_outputs_ = coef.shape[1]

    def _validate_xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=_DTYPES, multi_output=True,
                             y_numeric=True)
        y = np.asarray(y)
        y_1d = y.ndim == 1
        T = y.reshape(y.shape[0], -1).astype(X.dtype, copy=False)
        return X, T, y_1d

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by up to max_iter epochs of the delta rule. X (n_samples, n_features), y
        (n_samples,) or (n_samples, n_outputs)."""
        def body():
            X_, T, y_1d = self._validate_xy(X, y, reset=True)
            if self.warm_start and hasattr(self, "coef_") and y_1d != self._y_1d:
                del self.coef_
            self._y_1d = y_1d
            return self._train(X_, T, partial=False)
        return self._atomic(body)

    def partial_fit(self, X, y):
        """One epoch of the delta rule on (X, y), starting from the current weights."""
        self._validate_params()

        def body():
            first = not hasattr(self, "coef_")
            X_, T, y_1d = self._validate_xy(X, y, reset=first)
            if not first:
                n_out = self._get_weights()[0].shape[1]
                if T.shape[1] != n_out:
                    raise ValueError(
                        f"y has {T.shape[1]} outputs but {type(self).__name__} was fitted "
                        f"with {n_out}.")
            else:
                self._y_1d = y_1d
            return self._train(X_, T, partial=True)
        return self._atomic(body)

    def predict(self, X):
        """X @ coef_ + intercept_: (n_samples,) or (n_samples, n_outputs)."""
        X = self._check_X_predict(X)
        coef, intercept = self._get_weights()
        X = X.astype(coef.dtype, copy=False)
        out = X @ coef + intercept
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class DeltaRuleClassifier(ClassifierMixin, _DeltaRuleBase):
    """Adaline: the delta rule on targets +1/-1, predicting the sign; one-vs-rest for more
    than two classes.

    Parameters are those of DeltaRuleRegressor.

    Attributes
    ----------
    classes_ : ndarray (n_classes,), the sorted labels
    coef_ : ndarray (1, n_features) for two classes (unit for classes_[1]), (n_classes,
        n_features) otherwise (one unit per class)
    intercept_ : ndarray (1,) or (n_classes,)
    loss_curve_, loss_, n_iter_, t_, n_features_in_, feature_names_in_ : as the regressor
    """

    def _get_weights(self):
        return (np.ascontiguousarray(np.asarray(self.coef_).T),
                np.asarray(self.intercept_).copy())

    def _set_weights(self, coef, intercept):
        self.coef_ = np.ascontiguousarray(coef.T)
        self.intercept_ = intercept

    def _targets(self, y, dtype):
        classes = self.classes_
        if len(classes) == 2:
            return np.where(y == classes[1], 1, -1).astype(dtype).reshape(-1, 1)
        return np.where(y[:, None] == classes[None, :], 1, -1).astype(dtype)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit by up to max_iter epochs of the delta rule on +1/-1 targets."""
        def body():
            X_, y_ = validate_data(self, X, y, reset=True, dtype=_DTYPES)
            check_classification_targets(y_)
            classes = np.unique(y_)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                    f"but the data contains only one class: {classes[0]!r}.")
            if (self.warm_start and hasattr(self, "classes_")
                    and not np.array_equal(classes, self.classes_)):
                del self.coef_
            self.classes_ = classes
            return self._train(X_, self._targets(y_, X_.dtype), partial=False)
        return self._atomic(body)

    def partial_fit(self, X, y, classes=None):
        """One epoch of the delta rule; classes (all the labels) is required on the first
        call."""
        self._validate_params()

        def body():
            first = not hasattr(self, "classes_")
            if first and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            X_, y_ = validate_data(self, X, y, reset=first, dtype=_DTYPES)
            check_classification_targets(y_)
            if classes is not None:
                new_classes = np.unique(np.asarray(classes))
                if first:
                    if len(new_classes) < 2:
                        raise ValueError(
                            f"classes must hold at least 2 labels, got {list(new_classes)!r}.")
                elif not np.array_equal(new_classes, self.classes_):
                    raise ValueError(
                        f"classes={list(new_classes)!r} is not the same as on the first call "
                        f"to partial_fit: {list(self.classes_)!r}.")
            else:
                new_classes = self.classes_
            unknown = np.setdiff1d(np.unique(y_), new_classes)
            if unknown.size:
                raise ValueError(
                    f"y contains labels not in classes: {list(unknown)!r} "
                    f"(classes: {list(new_classes)!r}).")
            self.classes_ = new_classes
            return self._train(X_, self._targets(y_, X_.dtype), partial=True)
        return self._atomic(body)

    def decision_function(self, X):
        """Signed distances: (n_samples,) for two classes (positive: classes_[1]),
        (n_samples, n_classes) otherwise."""
        X = self._check_X_predict(X)
        coef = np.asarray(self.coef_)
        X = X.astype(coef.dtype, copy=False)
        scores = X @ coef.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Class labels: sign of the decision function (>= 0 → classes_[1]) for two classes,
        its argmax otherwise."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores >= 0).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]
