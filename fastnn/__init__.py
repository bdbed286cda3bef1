"""fastnn: fast CPU neural networks with scikit-learn estimators.

``fastnn.MLPClassifier`` and ``fastnn.MLPRegressor`` are drop-in replacements for
scikit-learn's multilayer perceptrons; ``DeltaRuleRegressor``/``DeltaRuleClassifier`` train a
single linear unit by the delta rule. The compiled kernels live in ``fastnn._core``;
``fastnn.activations``, ``losses``, ``optimizers``, ``schedules`` and ``initializers`` wrap
them in thin Python classes, and ``fastnn.network`` stacks them into a network.
"""
__version__ = "0.1.0.dev0"

from fastnn import activations, initializers, losses, network, optimizers, schedules
from fastnn.linear import DeltaRuleClassifier, DeltaRuleRegressor
from fastnn.neural_network import MLPClassifier, MLPRegressor
from fastnn._config import show_config

__all__ = ["__version__", "DeltaRuleClassifier", "DeltaRuleRegressor", "MLPClassifier",
           "MLPRegressor", "activations",
           "initializers", "losses", "network", "optimizers", "schedules", "show_config"]
