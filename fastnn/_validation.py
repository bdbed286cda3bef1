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


# ---------------------------------------------------------------------------------------------
# Arrays handed to the kernels.

def order_of(a):
    """'F' for a Fortran-ordered array (and not C-ordered), else 'C' (also for a non-array,
    which check_out then refuses)."""
    if not isinstance(a, np.ndarray):
        return "C"
    return "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"


def flat(a, order):
    """The 1-D view of an array contiguous in `order` (no copy)."""
    return a.reshape(-1, order=order)


def check_out(out, shape, dtype, order, *, overlaps=()):
    """A caller's output array: an ndarray of this shape and dtype, writable, contiguous in
    `order`, and sharing no memory with the (name, array) pairs of `overlaps`."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous):
        raise ValueError(f"out must be {order}-contiguous here")
    for name, a in overlaps:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError(f"out overlaps {name}: the result needs a buffer of its own")
    return out
