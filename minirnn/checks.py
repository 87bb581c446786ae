"""Input validation for the public entry points: every check of minirnn lives here.

Every error names what was expected and what came, so a user sees
"Linear expects 20 input features, got 10" instead of a broadcasting error three
frames deep. These helpers do no math; they only look at shapes, dtypes and values.

Two families:

* **Scalar arguments** of constructors and functions (sizes, probabilities, rates,
  option names): ``check_positive_int``, ``check_nonnegative_int``, ``check_int``,
  ``check_probability``, ``check_positive_float``, ``check_number``, ``check_real``,
  ``check_choice``. Each returns the value in its canonical type (``int``, ``float``).
  One rule for everyone: a bool is never a number (``Dropout(True)`` is a TypeError,
  not p = 1.0); a float counts as an integer only when it is whole (``2.0`` is 2,
  ``2.5`` is an error); NaN is never valid, infinity only where a function says so
  (``check_number`` without an upper bound). A wrong type raises TypeError, a wrong
  value ValueError.
* **Arrays** at the public entry points: ``check_array``, ``check_float``,
  ``check_rank``, ``check_last_dim``, ``check_shape``, ``check_finite``,
  ``check_ids``, ``check_lengths``.
"""

from __future__ import annotations

import math
import numbers

from .backend import get_array_module, is_array, np, to_numpy

# --------------------------------------------------------------------------- scalar arguments


def _is_real(value) -> bool:
    """True for Python and NumPy reals; False for bools (``True`` is an int in Python)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _not_a_number(value, where: str, what: str, expected: str) -> TypeError:
    return TypeError(f"{where} expects {what} to be {expected}, got {value!r} ({type(value).__name__})")


def _whole(value, where: str, what: str, expected: str) -> int:
    """``value`` as an int, or TypeError/ValueError saying ``expected`` and what came."""
    if not _is_real(value):
        raise _not_a_number(value, where, what, expected)
    if not float(value).is_integer():  # 2.5, NaN and infinity all fail here
        raise ValueError(f"{where} expects {what} to be {expected}, got {value!r}")
    return int(value)


def check_int(value, where: str, what: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int; raise unless it is a whole number in [low, high] (either bound optional)."""
    if low is not None and high is not None:
        expected = f"an integer in [{low}, {high}]"
    elif low is not None:
        expected = f"an integer >= {low}"
    elif high is not None:
        expected = f"an integer <= {high}"
    else:
        expected = "an integer"
    number = _whole(value, where, what, expected)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{where} expects {what} to be {expected}, got {value!r}")
    return number


def check_positive_int(value, where: str, what: str) -> int:
    """``value`` as an int; raise unless it is a whole number >= 1 (``2.0`` counts, ``True`` does not)."""
    number = _whole(value, where, what, "a positive integer")
    if number < 1:
        raise ValueError(f"{where} expects {what} to be a positive integer, got {value!r}")
    return number


def check_positive_ints(where: str, **sizes) -> dict:
    """``check_positive_int`` on each keyword argument, named by its keyword."""
    return {what: check_positive_int(value, where, what) for what, value in sizes.items()}


def check_nonnegative_int(value, where: str, what: str) -> int:
    """``value`` as an int; raise unless it is a whole number >= 0."""
    number = _whole(value, where, what, "a non-negative integer")
    if number < 0:
        raise ValueError(f"{where} expects {what} to be a non-negative integer, got {value!r}")
    return number


def check_probability(value, where: str, what: str) -> float:
    """``value`` as a float; raise unless it is a real number in [0, 1] (bools and NaN are not)."""
    if not _is_real(value):
        raise _not_a_number(value, where, what, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:  # NaN fails every comparison, so it lands here too
        raise ValueError(f"{where} expects {what} to be a number in [0, 1], got {value!r}")
    return float(value)


def check_positive_float(value, where: str, what: str) -> float:
    """``value`` as a float; raise unless it is a finite real number > 0."""
    if not _is_real(value):
        raise _not_a_number(value, where, what, "a finite positive number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{where} expects {what} to be a finite positive number, got {value!r}")
    return float(value)


def check_number(value, where: str, what: str, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = True) -> float:
    """``value`` as a float; raise unless it is a real number (not NaN) in [low, high] (or [low, high)).

    Infinity passes when no ``high`` bounds it (an infinite ``norm_type`` is meaningful).
    """
    if high is None:
        expected = f"a real number >= {low}"
    else:
        expected = f"a real number in [{low}, {high}{']' if high_inclusive else ')'}"
    if not _is_real(value):
        raise _not_a_number(value, where, what, expected)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if math.isnan(value) or value < low or too_high:
        raise ValueError(f"{where} expects {what} to be {expected}, got {value!r}")
    return float(value)


def check_real(value, where: str, what: str) -> float:
    """``value`` as a float; raise unless it is a finite real number."""
    if not _is_real(value):
        raise _not_a_number(value, where, what, "a finite real number")
    if not math.isfinite(value):
        raise ValueError(f"{where} expects {what} to be a finite real number, got {value!r}")
    return float(value)


def check_choice(value, choices, where: str, what: str):
    """Raise ValueError naming the valid ``choices`` unless ``value`` is one of them."""
    if not isinstance(value, (str, int, float, type(None))) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where} expects {what} to be one of {valid}, got {value!r}")
    return value


# --------------------------------------------------------------------------- arrays


def check_array(x, where: str, name: str = "input"):
    """Raise TypeError unless ``x`` is a NumPy or CuPy array."""
    if not is_array(x):
        raise TypeError(f"{where} expects {name} to be a numpy or cupy array, got {type(x).__name__}")
    return x


def check_float(x, dtype, where: str, name: str = "input", source: str = "the dtype of its parameters"):
    """Raise unless ``x`` is a floating array of exactly ``dtype`` (no silent upcasts).

    ``source`` says where ``dtype`` comes from, for the error message.
    """
    check_array(x, where, name)
    if x.dtype != dtype:
        raise TypeError(
            f"{where} expects {name} of dtype {np.dtype(dtype)} ({source}), "
            f"got {x.dtype}; convert it explicitly with .astype(...)"
        )
    return x


def check_rank(x, ranks, where: str, name: str = "input", layout: str = ""):
    """Raise ValueError unless ``x.ndim`` is one of ``ranks``."""
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if x.ndim not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{where} expects {name} to be {want}{hint}, got {x.ndim}-D with shape {tuple(x.shape)}")
    return x


def check_last_dim(x, size: int, where: str, what: str = "input features"):
    """Raise ValueError unless the last axis of ``x`` has ``size`` entries."""
    if x.ndim == 0:
        raise ValueError(f"{where} expects {size} {what} on the last axis, got a 0-D array (a scalar)")
    if x.shape[-1] != size:
        raise ValueError(f"{where} expects {size} {what}, got {x.shape[-1]} (shape {tuple(x.shape)})")
    return x


def check_shape(x, shape, where: str, name: str):
    """Raise ValueError unless ``x.shape == shape``."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{where} expects {name} of shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def check_finite(x, where: str, name: str = "input"):
    """Raise ValueError when ``x`` holds NaN or infinity."""
    xp = get_array_module(x)
    if not bool(xp.isfinite(x).all()):
        raise ValueError(f"{where} got NaN or infinity in {name}")
    return x


def check_ids(ids, num: int, where: str, name: str = "ids"):
    """Raise unless ``ids`` is an integer array with every value in [0, num)."""
    check_array(ids, where, name)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{where} expects integer {name}, got dtype {ids.dtype}")
    if ids.size:
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= num:
            bad = low if low < 0 else high
            raise IndexError(f"{where} expects {name} in [0, {num - 1}], got {bad}")
    return ids


def check_lengths(lengths, batch: int, steps: int, where: str):
    """Validate per-sequence lengths and return them as a host int64 NumPy array.

    Lengths live on the host: they steer the Python time loop, so reading them from
    the device inside the loop would cost a synchronisation per step.
    """
    if is_array(lengths):
        lengths = to_numpy(lengths)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"{where} expects lengths to hold one entry per sequence ({batch}), got shape {lengths.shape}"
        )
    if lengths.dtype.kind not in "iu":
        if lengths.dtype.kind == "f" and np.all(lengths == np.round(lengths)):
            lengths = lengths.astype(np.int64)
        else:
            raise TypeError(f"{where} expects integer lengths, got dtype {lengths.dtype}")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        bad = lengths.min() if lengths.min() < 1 else lengths.max()
        raise ValueError(f"{where} expects every length in [1, {steps}] (the number of time steps), got {bad}")
    return lengths.astype(np.int64)
