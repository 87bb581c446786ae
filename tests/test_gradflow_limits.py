"""``gradflow`` at the edges of float64: gradients that underflow to exactly 0 or overflow to inf/NaN.

Every text (table, chart, summary) and the PNG must say what happened instead of
dividing by 0 or taking log10(0); and a print to a closed pipe must not be taken for
a failed PNG write.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from minirnn.gradflow import FlowRun, GradientFlow, compare_gradient_flow
from minirnn.viz import matplotlib_available
from minirnn.viz.gradflow import gradflow_chart, gradflow_summary, gradflow_table, save_gradflow_png

SMALL = dict(batch=2, input_size=3, hidden_size=4)


def _run(cell, norms, scale=1.0, factor=0.9):
    """A FlowRun with hand-made norms (the texts only read norms, factors and the radius)."""
    norms = np.asarray(norms, dtype=np.float64)
    steps = len(norms)
    flow = GradientFlow(np.zeros((steps, 1, 1)), norms, np.zeros((1, 1)), np.full(steps, factor), "factor")
    return FlowRun(cell, scale, flow, 0.5 if cell.startswith("rnn") else None)


def _texts(runs):
    """Everything the command prints, with warnings turned into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chart = "\n".join(gradflow_chart(runs, scale) for scale in dict.fromkeys(run.scale for run in runs))
        return gradflow_table(runs), chart, gradflow_summary(runs, gate_bias=1.0)


# ============================================================================ FlowRun's numbers


def test_ratio_measured_from_and_per_step_say_where_float64_lost_the_gradient():
    healthy = _run("gru", [1e-6, 1e-4, 1e-2, 1.0])
    assert healthy.measured_from == 0
    assert healthy.ratio == pytest.approx(1e-6) and healthy.per_step == pytest.approx(1e-2)
    underflow = _run("rnn_tanh", [0.0, 0.0, 1e-2, 1.0])
    assert underflow.ratio == 0 and underflow.measured_from == 2
    assert underflow.per_step == pytest.approx(1e-2)  # measured over t = 2..3 only
    overflow = _run("rnn_tanh", [np.nan, np.inf, 1e300, 1.0])
    assert math.isnan(overflow.ratio) and overflow.measured_from == 2
    assert overflow.per_step == pytest.approx(1e300)
    lost_at_once = _run("rnn_tanh", [0.0, 0.0, 1.0])
    assert lost_at_once.measured_from == 2 and math.isnan(lost_at_once.per_step)
    nothing = _run("rnn_tanh", [0.0, 0.0, 0.0])  # dh_n = 0
    assert nothing.measured_from == 3 and math.isnan(nothing.ratio)
    assert _run("lstm", [2.0]).per_step == 1.0  # T = 1: no step back


def test_per_step_of_extreme_but_finite_norms_does_not_overflow():
    run = _run("rnn_tanh", [1e300, 1.0, 1e-300])  # the ratio 1e600 is past float64; its square root is not
    assert math.isinf(run.ratio) and run.per_step == pytest.approx(1e300)


def test_norms_of_huge_gradients_do_not_overflow_in_the_squares():
    from minirnn.gradflow import _frobenius_norms

    grads = np.full((3, 2, 4), 1e200)
    grads[1] = 3.0
    grads[2, 0, 0] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norms = _frobenius_norms(grads)
    assert norms[0] == pytest.approx(1e200 * np.sqrt(8), rel=1e-14)
    assert norms[1] == pytest.approx(np.linalg.norm(grads[1]), rel=1e-14)
    assert norms[2] == np.inf
    assert _frobenius_norms(np.zeros((2, 1, 3))).tolist() == [0.0, 0.0]


# ============================================================================ the texts


def test_texts_say_underflow_instead_of_dividing_by_zero():
    runs = [_run("rnn_tanh", [0.0, 0.0, 0.0, 1e-200, 1.0]), _run("gru", [1e-3, 1e-2, 1e-1, 0.5, 1.0]),
            _run("lstm", [0.0, 1e-20, 0.0, 1e-3, 1.0])]
    table, chart, summary = _texts(runs)
    assert "underflowed" in table
    assert "RNN: it underflowed to exactly 0 at t = 2" in chart
    assert "LSTM: it underflowed to exactly 0 at t = 2" in chart
    assert "2e-200" not in chart.splitlines()[1] and "1e+00" in chart  # the axis spans what is drawn
    flat = " ".join(summary.split())
    assert "the gradient vanishes: ||dL/dh_0|| = 0 x ||dL/dh_4|| (it underflowed to exactly 0 at t = 2)" in flat
    assert "the RNN's gradient is exactly 0; the GRU 1.0e-03 x, the LSTM 0 x its ||dL/dh_4||" in flat
    for text in (table, chart, summary):
        assert max(len(line) for line in text.splitlines()) <= 80


def test_texts_say_overflow_instead_of_nan_arithmetic():
    runs = [_run("rnn_tanh", [np.nan, np.inf, 1e250, 1.0]), _run("gru", [1e10, 1e5, 10.0, 1.0]),
            _run("lstm", [np.inf, 1e300, 1e100, 1.0])]
    table, chart, summary = _texts(runs)
    assert "inf" in table and "nan" in table
    assert "RNN: it overflowed to inf at t = 1" in chart and "LSTM: it overflowed to inf at t = 0" in chart
    assert "3e+300" not in chart and "1e+300" in chart  # the top label, written without 10 ** 300.x
    flat = " ".join(summary.split())
    assert "the gradient explodes: ||dL/dh_0|| = NaN x ||dL/dh_3|| (it overflowed to inf at t = 1)" in flat
    assert "||dL/dh_0|| = inf x ||dL/dh_3|| (explodes); it overflowed to inf at t = 0." in flat
    assert "no ||dL/dh_t|| exceeds 1.0e+10 x" in flat  # the GRU: a large peak in e-notation
    assert "At scale" not in summary  # nothing vanished, nothing to compare


def test_chart_labels_near_the_top_of_float64():
    runs = [_run("rnn_tanh", [np.finfo(np.float64).max, 1.0]), _run("gru", [1e-300, 1.0])]  # 10 ** log10(max) overflows
    chart = _texts(runs)[1]
    assert chart.splitlines()[1].lstrip().startswith("2e+308 |")


def test_a_run_with_nothing_to_draw():
    runs = [_run("rnn_tanh", [0.0, 0.0]), _run("lstm", [0.0, 0.0])]  # dh_n = 0
    table, chart, summary = _texts(runs)
    assert "RNN: ||dL/dh_1|| is 0: nothing flows back" in chart
    assert "the gradient has nothing to carry" in " ".join(summary.split())


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib (the plot extra) is not installed")
def test_png_of_runs_with_zero_inf_and_nan(tmp_path):
    runs = [_run("rnn_tanh", [0.0, 1e-300, 1.0]), _run("lstm", [np.nan, 1e300, 1.0]),
            _run("rnn_tanh", [0.0, 0.0, 0.0], scale=2.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = save_gradflow_png(tmp_path / "flow.png", runs)
    assert open(path, "rb").read(4) == b"\x89PNG"


# ============================================================================ real runs and the command


def test_experiment_whose_gradients_leave_float64():
    """Weights of 1e-300 make the RNN's gradient underflow; weights of 10 over 2000 steps make it overflow."""
    tiny = compare_gradient_flow(scales=(1e-300,), steps=6, **SMALL)
    assert tiny[0].ratio == 0 and 0 < tiny[0].measured_from < 6
    huge = compare_gradient_flow(cells=("rnn_tanh",), scales=(10.0,), steps=2000, batch=2, input_size=3,
                                 hidden_size=64)
    assert not math.isfinite(huge[0].ratio) and huge[0].measured_from > 0
    for runs in (tiny, huge):
        table, chart, summary = _texts(runs)
        assert "flowed" in chart  # underflowed / overflowed


def test_gradflow_command_with_steps_1500(capsys):
    """The reviewer's case: the RNN's gradient underflows to exactly 0 within 1500 steps."""
    from minirnn.cli import main

    assert main(["gradflow", "--steps", "1500", "--no-png"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the RNN's gradient is exactly 0" in out and "underflowed to exactly 0 at t = " in out


def test_gradflow_command_with_tiny_scale(capsys):
    from minirnn.cli import main

    assert main(["gradflow", "--scales", "1e-300", "--steps", "10", "--no-png"]) == 0
    assert "underflowed to exactly 0" in capsys.readouterr().out


def test_a_closed_pipe_while_printing_is_not_a_failed_write(tmp_path, monkeypatch):
    """``gradflow | head -3``: the PNG is written, then printing fails; that is no 'cannot write' error."""
    from minirnn.cli import build_parser, gradflow_command

    def closed_pipe(text=""):
        if "saved" in text:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(gradflow_command, "say", closed_pipe)
    args = build_parser().parse_args(["gradflow", "--steps", "3", "--hidden", "4", "--batch", "1",
                                      "--out", str(tmp_path)])
    if matplotlib_available():
        with pytest.raises(BrokenPipeError):
            args.func(args)
        assert (tmp_path / "gradflow.png").exists()
    else:
        assert args.func(args) == 0


# ============================================================================ the experiment's arguments


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(steps=True), TypeError, "compare_gradient_flow expects steps to be a positive integer, got True"),
    (dict(steps=2.5), ValueError, "expects steps to be a positive integer, got 2.5"),
    (dict(hidden_size=0), ValueError, "expects hidden_size to be a positive integer, got 0"),
    (dict(batch="8"), TypeError, "expects batch to be a positive integer, got '8'"),
    (dict(scales=(1.0, True)), TypeError, r"expects scales\[1\] to be a finite positive number, got True"),
    (dict(scales=(np.inf,)), ValueError, r"expects scales\[0\] to be a finite positive number, got inf"),
    (dict(scales=()), ValueError, "at least one cell and one scale"),
    (dict(scales=4.0), TypeError, "expects scales to be a list or tuple, got 4.0"),
    (dict(cells="lstm"), TypeError, "expects cells to be a list or tuple, got 'lstm'"),
    (dict(gate_bias=float("nan")), ValueError, "expects gate_bias to be a finite real number, got nan"),
    (dict(seed=-1), ValueError, "expects seed to be a non-negative integer, got -1"),
])
def test_experiment_arguments_are_checked_by_the_house_rules(kwargs, error, message):
    with pytest.raises(error, match=message):
        compare_gradient_flow(**{**dict(steps=3, **SMALL), **kwargs})


def test_whole_floats_count_as_sizes():
    runs = compare_gradient_flow(cells=("gru",), scales=(1,), steps=3.0, batch=2.0, input_size=3, hidden_size=4)
    assert len(runs[0].flow.norms) == 3 and runs[0].scale == 1.0
