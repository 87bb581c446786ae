"""The tool commands (gradcheck, gradflow, explain) check every option as it is parsed.

A bad value is one line on stderr and exit status 2, never a traceback and never a
silent nonsense run; sizes that would ask a machine for more than it has are capped.
"""

from __future__ import annotations

import argparse
import re

import pytest

from minirnn.cli import build_parser, main
from minirnn.cli.options import bounded_int, non_negative_int, positive_float, positive_int


def _refused(argv, capsys) -> str:
    """Run the command, which must end with exit status 2; return its last stderr line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    return captured.err.strip().splitlines()[-1]


# ============================================================================ the type functions


def test_type_functions_accept_what_they_promise():
    assert positive_int("3") == 3 and non_negative_int("0") == 0
    assert positive_float("1e-3") == pytest.approx(1e-3)
    assert bounded_int(1, 4)("4") == 4


@pytest.mark.parametrize("check, text, message", [
    (positive_int, "0", "must be an integer >= 1, got '0'"),
    (positive_int, "2.5", "expected an integer, got '2.5'"),
    (non_negative_int, "-1", "must be an integer >= 0, got '-1'"),
    (non_negative_int, "seven", "expected an integer, got 'seven'"),
    (positive_float, "0", "must be a number > 0, got '0'"),
    (positive_float, "nan", "expected a finite number, got 'nan'"),
    (positive_float, "inf", "expected a finite number, got 'inf'"),
    (bounded_int(1, 4), "5", r"must be an integer in \[1, 4\], got '5'"),
    (bounded_int(1, 4), "0", r"must be an integer in \[1, 4\], got '0'"),
])
def test_type_functions_say_what_was_expected_and_what_came(check, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        check(text)


# ============================================================================ gradcheck


@pytest.mark.parametrize("option, value, message", [
    ("--hidden", "0", r"argument --hidden: must be an integer in \[1, 256\], got '0'"),
    ("--hidden", "100000", r"argument --hidden: must be an integer in \[1, 256\], got '100000'"),  # 298 GiB
    ("--layers", "0", r"argument --layers: must be an integer in \[1, 4\], got '0'"),
    ("--steps", "0", r"argument --steps: must be an integer in \[1, 100\], got '0'"),
    ("--batch", "0", r"argument --batch: must be an integer in \[1, 64\], got '0'"),
    ("--worst", "-1", "argument --worst: must be an integer >= 1, got '-1'"),
    ("--seed", "-1", "argument --seed: must be an integer >= 0, got '-1'"),
    ("--hidden", "four", "argument --hidden: expected an integer, got 'four'"),
])
def test_gradcheck_options_are_checked_as_they_are_parsed(option, value, message, capsys):
    assert re.search(message, _refused(["gradcheck", option, value], capsys))


def test_gradcheck_caps_the_work_and_needs_room_for_a_projection(capsys):
    line = _refused(["gradcheck", "--hidden", "256", "--steps", "100", "--batch", "64"], capsys)
    assert line == "error: --steps x --batch x --hidden = 1638400 is too large for a finite-difference check " \
                   "(at most 100,000)"
    line = _refused(["gradcheck", "--model", "lstm-proj", "--hidden", "1"], capsys)
    assert "needs --hidden 2 or more, got 1" in line


def test_gradcheck_at_the_smallest_sizes(capsys):
    for model in ("lstm-proj", "seq2seq", "attention"):
        hidden = "2" if model == "lstm-proj" else "1"
        assert main(["gradcheck", "--model", model, "--hidden", hidden, "--steps", "1", "--batch", "1",
                     "--worst", "1"]) == 0
        assert "PASSED" in capsys.readouterr().out


# ============================================================================ gradflow and explain


@pytest.mark.parametrize("argv, message", [
    (["gradflow", "--seed", "-1"], "argument --seed: must be an integer >= 0, got '-1'"),
    (["gradflow", "--batch", "0"], "argument --batch: must be an integer >= 1, got '0'"),
    (["gradflow", "--input-size", "-3"], "argument --input-size: must be an integer >= 1, got '-3'"),
    (["gradflow", "--steps", "2.5"], "argument --steps: expected an integer, got '2.5'"),
    (["gradflow", "--steps", "1"], "--steps must be at least 2, got 1"),
    (["explain", "lstm", "--seed", "-1"], "argument --seed: must be an integer >= 0, got '-1'"),
    (["explain", "lstm", "--proj-size", "-1"], "argument --proj-size: must be an integer >= 0, got '-1'"),
    (["explain", "lstm", "--proj-size", "2"], "--proj-size must be at least 1 and smaller than the hidden size 2"),
])
def test_gradflow_and_explain_options_are_checked(argv, message, capsys):
    assert message in _refused([*argv, *(["--no-png"] if argv[0] == "gradflow" else [])], capsys)


def test_explain_proj_size_help_states_its_default(capsys):
    parser = build_parser()
    explain = parser.command_parsers["explain"]
    action = next(a for a in explain._actions if "--proj-size" in a.option_strings)
    assert action.default == 0 and "default 0" in action.help and "(1)" not in action.help
    assert main(["explain", "lstm", "--proj-size", "1"]) == 0
    assert "h        = m W_hr^T" in capsys.readouterr().out  # the projection, worked by hand
