"""``mr.gradient_flow``: ||dL/dh_t|| through time, checked against torch autograd in float64.

The reference is an *unrolled* torch loop: the torch layer is called one step at a
time, each step's hidden state is kept with ``retain_grad()``, and after
``L = sum(h_n * dh_n)`` is backpropagated, ``h_t.grad`` is the total derivative of L
with respect to h_t through every later step, which is what minirnn must report.
Weights and biases are random and non-zero, the upstream dh_n is random.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_ref import assert_close, make_pair, worst_error_report  # noqa: F401  (autouse fixture)

import minirnn as mr

T, N, D, H, P = 7, 3, 4, 5, 3
CASES = {
    "rnn_tanh": ("rnn_tanh", {}),
    "rnn_relu": ("rnn_relu", {}),
    "gru": ("gru", {}),
    "lstm": ("lstm", {}),
    "lstm_proj": ("lstm", {"proj_size": P}),
}


def _torch_unrolled(ref, x, dh_n, hx):
    """h_t.grad for t = 0..T-1 from torch, calling the layer one step at a time: (T, N, P)."""
    is_lstm = isinstance(ref, torch.nn.LSTM)
    state = (torch.tensor(hx[0]), torch.tensor(hx[1])) if is_lstm else torch.tensor(hx)
    hidden = []
    for t in range(x.shape[0]):
        _, state = ref(torch.tensor(x[t : t + 1]), state)
        h = state[0] if is_lstm else state
        h.retain_grad()
        hidden.append(h)
    loss = (hidden[-1] * torch.tensor(dh_n)).sum()  # c_n is not in the loss
    loss.backward()
    return np.stack([h.grad.numpy()[0] for h in hidden])


def _case(name, rng, seed=0):
    mode, options = CASES[name]
    ref, mine = make_pair(mode, D, H, seed=seed, **options)
    width = options.get("proj_size") or H
    x = rng.standard_normal((T, N, D))
    dh_n = rng.standard_normal((1, N, width))
    hx = rng.standard_normal((1, N, width))
    if mode == "lstm":
        hx = (hx, rng.standard_normal((1, N, H)))
    return ref, mine, x, dh_n, hx


@pytest.mark.parametrize("name", list(CASES))
def test_every_dl_dh_t_equals_torch_autograd(name, rng):
    ref, mine, x, dh_n, hx = _case(name, rng)
    expected = _torch_unrolled(ref, x, dh_n, hx)
    flow = mr.trace_gradient_flow(mine, x, dh_n, hx)
    for t in range(T):
        assert_close(flow.grads[t], expected[t], f"{name} dL/dh_{t}", atol=1e-9)
    # The gradients really travel: no step is trivially zero or equal to dh_n.
    assert np.all(np.abs(expected[:-1]).sum(axis=(1, 2)) > 1e-6)
    assert not np.allclose(expected[-2], dh_n[0])


@pytest.mark.parametrize("name", list(CASES))
def test_norms_are_the_frobenius_norms_of_torch_grads(name, rng):
    ref, mine, x, dh_n, hx = _case(name, rng, seed=1)
    expected = np.linalg.norm(_torch_unrolled(ref, x, dh_n, hx).reshape(T, -1), axis=1)
    norms = mr.gradient_flow(mine, x, dh_n, hx)
    assert isinstance(norms, np.ndarray) and norms.shape == (T,)
    np.testing.assert_allclose(norms, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_one_more_step_back_is_the_layers_own_dh0(name, rng):
    """The walk's last step equals the layer's BPTT (its default fast path) with dc_n = 0."""
    _, mine, x, dh_n, hx = _case(name, rng, seed=2)
    flow = mr.trace_gradient_flow(mine, x, dh_n, hx)
    mine(x, hx)
    _, dstate0 = mine.backward(None, (dh_n, None) if mine.mode == "lstm" else dh_n)
    dh0 = dstate0[0] if mine.mode == "lstm" else dstate0
    np.testing.assert_allclose(flow.dh0, dh0[0], rtol=0, atol=1e-12)


def test_batch_first_and_unbatched_give_the_same_flow(rng):
    _, mine, x, dh_n, hx = _case("lstm", rng)
    norms = mr.gradient_flow(mine, x, dh_n)
    first = mr.LSTM(D, H, batch_first=True, dtype="float64")
    first.load_state_dict(mine.state_dict())
    np.testing.assert_allclose(mr.gradient_flow(first, x.transpose(1, 0, 2).copy(), dh_n), norms, atol=1e-14)
    single = mr.gradient_flow(mine, x[:, 1], dh_n[:, 1])
    expected = np.linalg.norm(mr.trace_gradient_flow(mine, x, dh_n).grads[:, 1], axis=1)
    np.testing.assert_allclose(single, expected, atol=1e-14)


def test_leaves_the_layer_untouched(rng):
    _, mine, x, dh_n, hx = _case("gru", rng)
    mr.gradient_flow(mine, x, dh_n, hx)
    assert not mine._caches
    assert all(p.grad is None for p in mine.parameters())


def test_last_entry_is_dh_n_and_float32_works(rng):
    layer = mr.RNN(D, H)  # float32, the default
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    dh_n = rng.standard_normal((1, N, H)).astype(np.float32)
    norms = mr.gradient_flow(layer, x, dh_n)
    assert norms.dtype == np.float64
    np.testing.assert_allclose(norms[-1], np.linalg.norm(dh_n), rtol=1e-6)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: mr.LSTM(D, H, num_layers=2, dtype="float64"), "one-layer, one-direction LSTM, got num_layers=2"),
        (lambda: mr.GRU(D, H, bidirectional=True, dtype="float64"), "bidirectional=True"),
    ],
)
def test_rejects_stacked_and_bidirectional_layers(build, match, rng):
    x = rng.standard_normal((T, N, D))
    with pytest.raises(ValueError, match=match):
        mr.gradient_flow(build(), x, rng.standard_normal((1, N, H)))


def test_clear_errors_for_bad_arguments(rng):
    layer = mr.LSTM(D, H, proj_size=P, dtype="float64")
    x = rng.standard_normal((T, N, D))
    with pytest.raises(TypeError, match="RNN, GRU or LSTM layer, got LSTMCell"):
        mr.gradient_flow(mr.LSTMCell(D, H, dtype="float64"), x, rng.standard_normal((1, N, H)))
    with pytest.raises(ValueError, match=r"dh_n \(the shape of h_n\) of shape \(1, 3, 3\), got \(1, 3, 5\)"):
        mr.gradient_flow(layer, x, rng.standard_normal((1, N, H)))
    with pytest.raises(ValueError, match="expects 4 input features, got 2"):
        mr.gradient_flow(layer, x[:, :, :2], rng.standard_normal((1, N, P)))
    with pytest.raises(ValueError, match="x to be 2-D or 3-D"):
        mr.gradient_flow(layer, x[0, 0], rng.standard_normal((1, N, P)))
    with pytest.raises(TypeError, match="dh_n of dtype float64"):
        mr.gradient_flow(layer, x, rng.standard_normal((1, N, P)).astype(np.float32))
    with pytest.raises(TypeError, match="dh_n to be a numpy or cupy array, got list"):
        mr.gradient_flow(layer, x, [[0.0] * P] * N)
    bad = x.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity in x"):
        mr.gradient_flow(layer, bad, rng.standard_normal((1, N, P)))
    with pytest.raises(ValueError, match="at least one time step"):
        mr.gradient_flow(layer, x[:0], rng.standard_normal((1, N, P)))


# ============================================================================ the gradflow experiment


@pytest.fixture(scope="module")
def default_runs():
    from minirnn.gradflow import compare_gradient_flow

    return compare_gradient_flow()  # the command's defaults: T = 100, H = 64, scales 1 and 4, seed 0


def test_default_scales_make_the_rnn_vanish_then_explode(default_runs):
    """What the command's help states: measured, not assumed."""
    by = {(run.cell, run.scale): run for run in default_runs}
    assert by["rnn_tanh", 1.0].ratio < 1e-20
    assert by["rnn_tanh", 4.0].ratio > 1e3
    for cell in ("gru", "lstm"):
        for scale in (1.0, 4.0):
            run = by[cell, scale]
            assert run.flow.norms.max() <= 1.01 * run.flow.norms[-1]  # no explosion
            assert run.ratio > 1e6 * by["rnn_tanh", 1.0].ratio
    assert by["rnn_tanh", 1.0].radius < 1 < by["rnn_tanh", 4.0].radius


def test_experiment_is_seeded_and_checks_its_arguments():
    from minirnn.gradflow import compare_gradient_flow

    small = dict(steps=6, batch=2, input_size=3, hidden_size=4)
    first, again = compare_gradient_flow(**small), compare_gradient_flow(**small)
    other = compare_gradient_flow(seed=1, **small)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a.flow.norms, b.flow.norms)
        assert not np.allclose(a.flow.norms[:-1], c.flow.norms[:-1])
    with pytest.raises(ValueError, match="scales\\[1\\] to be a finite positive number, got -2"):
        compare_gradient_flow(scales=[1, -2], **small)
    with pytest.raises(ValueError, match="steps to be a positive integer, got 0"):
        compare_gradient_flow(steps=0)
    with pytest.raises(ValueError, match="cells\\[0\\] to be one of 'rnn_tanh', 'gru', 'lstm', got 'rnn_relu'"):
        compare_gradient_flow(cells=("rnn_relu",), **small)


def test_gate_bias_moves_the_forget_gate():
    from minirnn.gradflow import compare_gradient_flow

    small = dict(cells=("lstm",), scales=(1.0,), steps=6, batch=2, input_size=3, hidden_size=4)
    low = compare_gradient_flow(gate_bias=0.0, **small)[0]
    high = compare_gradient_flow(gate_bias=3.0, **small)[0]
    assert low.flow.step_factor.mean() < 0.75 < 0.9 < high.flow.step_factor.mean()


def test_table_chart_and_summary_read_their_numbers_from_the_runs(default_runs):
    from minirnn.viz.gradflow import gradflow_chart, gradflow_summary, gradflow_table

    table = gradflow_table(default_runs)
    rows = table.splitlines()[2:]
    assert len(rows) == 6
    for row, run in zip(rows, default_runs):
        cells = row.split()
        assert float(cells[2]) == pytest.approx(run.flow.norms[-1], rel=0.06)  # t = T-1 first
        assert float(cells[-2]) == pytest.approx(run.flow.norms[0], rel=0.06)  # t = 0 last
        assert float(cells[-1]) == pytest.approx(run.per_step, abs=6e-4)
    summary = gradflow_summary(default_runs, gate_bias=1.0)
    for run in default_runs:
        assert f"{run.ratio:.1e}" in summary
    rnn1, rnn4 = default_runs[0], default_runs[3]
    assert f"scale 1: the gradient vanishes: ||dL/dh_0|| = {rnn1.ratio:.1e}" in summary
    assert f"scale 4: the gradient explodes: ||dL/dh_0|| = {rnn4.ratio:.1e}" in summary
    assert f"spectral radius is {rnn4.radius:.2f}" in summary
    assert f"mean f = {default_runs[5].flow.step_factor.mean():.2f}" in summary
    for scale in (1.0, 4.0):
        chart = gradflow_chart(default_runs, scale)
        assert {"R", "G", "L"} <= set(chart)
        assert "log scale" in chart
    for text in (table, summary, chart):
        assert max(len(line) for line in text.splitlines()) <= 80


def test_summary_follows_the_numbers_not_a_script(default_runs):
    """Swap the flows of the two RNN runs: the verdicts must swap with them."""
    from minirnn.viz.gradflow import gradflow_summary

    runs = list(default_runs)
    runs[0], runs[3] = runs[0]._replace(flow=default_runs[3].flow), runs[3]._replace(flow=default_runs[0].flow)
    summary = gradflow_summary(runs)
    assert "scale 1: the gradient explodes" in summary and "scale 4: the gradient vanishes" in summary


def test_gradflow_command_prints_and_saves_a_png(tmp_path, capsys):
    from minirnn.cli import main

    out = tmp_path / "flow"
    assert main(["gradflow", "--steps", "12", "--hidden", "6", "--batch", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "per step" in text and "log scale" in text and "Elman RNN" in text
    assert max(len(line) for line in text.splitlines() if not line.startswith("saved ")) <= 80
    png = out / "gradflow.png"
    assert f"saved {png}" in text
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--scales", "1,x"], "--scales expects comma-separated numbers k with 0 < k < 1e6"),
    (["--scales", "0"], "--scales expects comma-separated numbers k with 0 < k < 1e6"),
    (["--steps", "1"], "--steps must be at least 2, got 1"),
    (["--hidden", "0"], "argument --hidden: must be an integer >= 1, got '0'"),  # checked as it is parsed
    (["--gate-bias", "nan"], "--gate-bias must be a finite number"),
])
def test_gradflow_command_user_errors(argv, message, capsys):
    from minirnn.cli import main

    assert main(["gradflow", "--no-png", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gradflow_command_unwritable_out(tmp_path, capsys):
    from minirnn.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["gradflow", "--steps", "3", "--out", str(blocker / "sub")]) == 2
    captured = capsys.readouterr()
    assert "cannot create the output folder" in captured.err
    assert captured.out == ""  # refused before any work


def test_gradient_flow_on_the_current_backend(xp, rng):
    """On CuPy the walk runs on the GPU and gives NumPy's numbers (skipped where no GPU is visible)."""
    layer = mr.LSTM(D, H, proj_size=P, dtype="float64").to("cpu")
    x, dh_n = rng.standard_normal((T, N, D)), rng.standard_normal((1, N, P))
    expected = mr.trace_gradient_flow(layer, x, dh_n)
    layer.to("cuda" if xp is not np else "cpu")
    flow = mr.trace_gradient_flow(layer, xp.asarray(x), xp.asarray(dh_n))
    if xp is not np:
        with pytest.raises(TypeError, match="x is a numpy array, but the layer's parameters are on cupy"):
            mr.trace_gradient_flow(layer, x, xp.asarray(dh_n))
    assert isinstance(flow.grads, np.ndarray) and isinstance(flow.norms, np.ndarray)
    np.testing.assert_allclose(flow.grads, expected.grads, atol=1e-12)
    np.testing.assert_allclose(flow.step_factor, expected.step_factor, atol=1e-12)


def test_experiment_on_the_current_backend(xp):
    from minirnn.gradflow import compare_gradient_flow

    small = dict(steps=6, batch=2, input_size=3, hidden_size=4)
    mr.set_backend("numpy")
    expected = compare_gradient_flow(**small)
    mr.set_backend("cupy" if xp is not np else "numpy")
    for run, ref in zip(compare_gradient_flow(**small), expected):
        np.testing.assert_allclose(run.flow.norms, ref.flow.norms, rtol=1e-10)
