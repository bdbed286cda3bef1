"""Checks of scalar hyper-parameters, shared by every module: one message form,

    Invalid <name>: <value>; <name> must be <rule>, got <value>

which names the parameter and the value (torch's "Invalid learning rate: -0.1" and
scikit-learn's "must be > 0, got" in one)."""
import math
import numbers

import numpy as np

__all__ = ["check_int", "check_real"]


def _invalid(name, value, rule):
    return ValueError(f"Invalid {name}: {value!r}; {name} must be {rule}, got {value!r}")


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False,
               allow_inf=False):
    """value as a float, finite (or +-inf with allow_inf) and within the bounds (None =
    unbounded; *_open excludes the bound), else TypeError/ValueError naming it and the
    bound it breaks."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise _invalid(name, value, "finite")
    if low is not None and (value <= low if low_open else value < low):
        raise _invalid(name, value, f"{'>' if low_open else '>='} {low!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise _invalid(name, value, f"{'<' if high_open else '<='} {high!r}")
    return value


def check_int(value, name, *, minimum):
    """value as an int >= minimum (bools refused), else TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise _invalid(name, value, f">= {minimum}")
    return int(value)
