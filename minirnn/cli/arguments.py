"""argparse ``type=`` functions: each numeric option is checked as it is parsed.

A bad value ends the command with one line and exit status 2, naming the option,
what it must be and what came (``--seed -1`` gives "argument --seed: must be an
integer >= 0, got '-1'"), instead of a traceback from deep inside NumPy later on.

    parser.add_argument("--hidden", type=bounded_int(1, 256), default=4)
    parser.add_argument("--seed", type=non_negative_int, default=0)
"""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind):
    """``text`` as an int or a finite float, or ArgumentTypeError saying what was expected."""
    try:
        value = kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, counts)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (rates, norms, scales)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def bounded_int(low: int, high: int):
    """A type function for an integer in [low, high]: a size with a cap on the work it asks for."""

    def parse(text: str) -> int:
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text!r}")
        return value

    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


# argparse names the function when it fails in an unexpected way: say what it checks.
for _check, _name in ((positive_int, "positive integer"), (non_negative_int, "non-negative integer"),
                      (positive_float, "positive number")):
    _check.__name__ = _name
