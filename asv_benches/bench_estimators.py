"""asv: fit and predict of MLPClassifier / MLPRegressor.

- digits: the shipped 1797 x 64 digits, MLPClassifier (100,), 20 epochs, per solver family;
- W1 and W2 of DESIGN.md, one epoch of fit, scaled down to a tenth of their rows so that a
  quick asv run stays short (``python -m fastnn bench fit`` runs them at full size against
  scikit-learn and PyTorch);
- predict_proba on W1-shaped data.
"""
import warnings

import numpy as np

from fastnn import MLPClassifier, MLPRegressor
from fastnn._bench.fit import WORKLOADS, make_data
from fastnn.datasets import load_digits


def _quiet_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after few epochs
        return model.fit(X, y)


class Digits:
    params = (["adam", "sgd", "lbfgs", "rmsprop"], ["float32", "float64"])
    param_names = ["solver", "dtype"]
    timeout = 120

    def setup(self, solver, dtype):
        X, self.y = load_digits(return_X_y=True)
        self.X = (X / 16).astype(dtype)

    def time_fit(self, solver, dtype):
        _quiet_fit(MLPClassifier(solver=solver, max_iter=20, random_state=0, n_threads=1),
                   self.X, self.y)


class Workload:
    params = (["W1", "W2"], [1, 2])
    param_names = ["workload", "n_threads"]
    timeout = 300

    def setup(self, workload, n_threads):
        spec = dict(WORKLOADS[workload])
        spec["n_samples"] //= 10
        self.spec = spec
        self.X, self.y, self.X_test, _ = make_data(spec, "float32")

    def time_fit_one_epoch(self, workload, n_threads):
        _quiet_fit(MLPClassifier(hidden_layer_sizes=self.spec["hidden"],
                                 batch_size=self.spec["batch_size"], max_iter=1,
                                 random_state=0, n_threads=n_threads), self.X, self.y)

    def peakmem_fit_one_epoch(self, workload, n_threads):
        self.time_fit_one_epoch(workload, n_threads)


class Predict:
    params = ([1, 2],)
    param_names = ["n_threads"]
    timeout = 120

    def setup(self, n_threads):
        spec = dict(WORKLOADS["W1"])
        spec["n_samples"] = 6000
        X, y, self.X_test, _ = make_data(spec, "float32")
        self.model = _quiet_fit(MLPClassifier(hidden_layer_sizes=spec["hidden"], max_iter=1,
                                              random_state=0, n_threads=n_threads), X, y)

    def time_predict_proba(self, n_threads):
        self.model.predict_proba(self.X_test)


class Regressor:
    params = (["squared_error", "huber", "poisson"],)
    param_names = ["loss"]
    timeout = 120

    def setup(self, loss):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((5000, 20)).astype(np.float32)
        y = np.exp(0.3 * self.X[:, 0]) + 0.1 * rng.standard_normal(5000)
        self.y = np.abs(y) if loss == "poisson" else y

    def time_fit(self, loss):
        _quiet_fit(MLPRegressor(loss=loss, hidden_layer_sizes=(64,), max_iter=5,
                                random_state=0, n_threads=1), self.X, self.y)
