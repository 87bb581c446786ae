"""The argument parser of every command: options anywhere, numbers checked at parse time, defaults in --help.

* ``Parser`` ends a bad command line with one line on stderr and exit status 2 (through
  ``UserError``), never a traceback. A sub-command parses its arguments *intermixed*
  (``argparse``'s ``parse_intermixed_args``), so options may come before, between or
  after the positional ones: ``translate best.npz --attention "i am not happy"``.
* The ``type=`` functions below check every numeric option as it is parsed
  (``--lr -1`` is "argument --lr: must be a number > 0, got '-1'").
* ``HelpFormatter`` keeps the hand-written line breaks of descriptions and epilogs and
  adds "(default: ...)" to every option that has a meaningful default.
"""

from __future__ import annotations

import argparse
import math

from ..data.columns import parses_as_number


class UserError(Exception):
    """A mistake in the command line or its files: reported in one line, exit status 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and "(default: X)" after each option's help (not for None/False/[])."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        meaningless = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if "%(default)" in text or "default" in text or meaningless:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one clear line, naming the bad option.

    Sub-command parsers (``intermixed=True``) accept options between positional arguments.
    """

    def __init__(self, *args, intermixed: bool = False, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # "--epoch" must be an error, not a silent "--epochs"
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.intermixed = intermixed
        self._parsing = False

    def parse_known_args(self, args=None, namespace=None):
        # parse_known_intermixed_args calls parse_known_args itself (twice): only the outer call redirects.
        if not self.intermixed or self._parsing:
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False

    def parse_args(self, args=None, namespace=None):
        """Like argparse's, but an unknown option is named by the command it was given to, alone.

        argparse would report it from the top-level parser with every leftover word, the
        sentence to translate included ("unrecognized arguments: --top-k 3 Rossini").
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = getattr(self, "command_parsers", {}).get(getattr(parsed, "command", None), self)
            options = [t for t in extras if t.startswith("-") and len(t) > 1 and not parses_as_number(t)] or extras
            parser.error(f"unrecognized option{'s' if len(options) > 1 else ''} {' '.join(options)}")
        return parsed

    def error(self, message):
        # One line, no usage block: the usage of `train` alone is 18 lines, and it buried the error.
        raise UserError(f"{self.prog}: {message} (see: {self.prog} --help)")


# =========================================================================== numbers checked at parse time


def _number(text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, epochs, beam width)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (seeds, thread counts where 0 means "the library's default")."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, clipping norms)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1] (dropout, label smoothing)."""
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def bounded_int(low: int, high: int):
    """The type function of an integer in [low, high]: a size capped at the work it may ask for."""

    def parse(text: str) -> int:
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text!r}")
        return value

    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


# Shown in the error message instead of the function's name.
for _check, _name in ((positive_int, "positive integer"), (non_negative_int, "non-negative integer"),
                      (positive_float, "positive number"), (probability, "probability")):
    _check.__name__ = _name


def add_common_options(parser, device: bool = True, seed: bool = True) -> None:
    """``--device``/``--threads`` (when the command computes) and ``--seed`` (when it draws anything random).

    The checkpoint commands (translate, predict, trace, evaluate) take no ``--seed``:
    greedy and beam decoding of a model in eval mode are deterministic, so it would seed nothing.
    """
    if device:
        parser.add_argument("--device", default="cpu", help="cpu (NumPy) or cuda (CuPy on a GPU)")
        parser.add_argument("--threads", type=non_negative_int, default=1,
                            help="BLAS threads on the CPU (1 is fastest for these small matrices; 0 = BLAS's own "
                            "choice)")
    if seed:
        parser.add_argument("--seed", type=non_negative_int, default=0,
                            help="seed for data splits, weights and shuffling")
