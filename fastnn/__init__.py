"""fastnn: fast CPU neural networks with scikit-learn estimators.

The compiled kernels live in ``fastnn._core``; ``fastnn.activations`` (and later losses,
optimizers, ...) wrap them in thin Python classes.
"""
__version__ = "0.1.0.dev0"

from fastnn import activations, initializers, losses, network, optimizers, schedules
from fastnn.linear import DeltaRuleClassifier, DeltaRuleRegressor
from fastnn._config import show_config

__all__ = ["__version__", "DeltaRuleClassifier", "DeltaRuleRegressor", "activations",
           "initializers", "losses", "network", "optimizers", "schedules", "show_config"]
