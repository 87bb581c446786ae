"""Argument checks shared by the models' constructors and the decoders.

Like ``minirnn.checks`` (which looks at arrays), every error names the argument, what
it expects and what came.
"""

from __future__ import annotations

import numbers


def check_choice(value, choices, where: str, what: str):
    """Raise ValueError naming the valid ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{where} expects {what} to be one of {valid}, got {value!r}")
    return value


def check_positive_int(value, where: str, what: str) -> int:
    """``value`` as an int; raise unless it is a whole number >= 1 (``2.0`` counts, ``True`` does not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} expects {what} to be a positive integer, got {value!r}")
    if not float(value).is_integer() or value < 1:
        raise ValueError(f"{where} expects {what} to be a positive integer, got {value!r}")
    return int(value)


def check_positive_ints(where: str, **sizes) -> dict:
    """``check_positive_int`` on each keyword argument, named by its keyword."""
    return {what: check_positive_int(value, where, what) for what, value in sizes.items()}


def check_probability(value, where: str, what: str) -> float:
    """``value`` as a float; raise unless it is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where} expects {what} to be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{where} expects {what} in [0, 1], got {value}")
    return float(value)
