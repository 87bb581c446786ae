"""``minirnn.gradcheck`` on every layer, and proof that it can fail.

The layers must pass with tight float64 tolerances; deliberately wrong backwards
(a gradient scaled by 1.01, one wrong entry in a large tensor) must be caught; and
misuse (float32, no backward, dropout on) must raise a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr
from minirnn.gradcheck import GradcheckReport, check_gradients, gradcheck

TOL = dict(rtol=1e-7, atol=1e-8)


def assert_passes(report: GradcheckReport) -> GradcheckReport:
    assert report.ok, "\n" + str(report)
    return report


def randn(rng, *shape):
    return rng.standard_normal(shape)


# ============================================================================ layers pass


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_linear(rng, bias):
    lin = mr.Linear(4, 3, bias=bias, dtype="float64")
    report = assert_passes(gradcheck(lin, randn(rng, 2, 5, 4), **TOL))
    expected = ["weight", "bias", "input[0]"] if bias else ["weight", "input[0]"]
    assert [e.name for e in report] == expected


def test_linear_large_is_checked_along_directions(rng):
    lin = mr.Linear(24, 16, dtype="float64")
    report = assert_passes(gradcheck(lin, randn(rng, 8, 24), num_directions=3, **TOL))
    assert report["weight"].mode == "directional" and report["weight"].checks == 3
    assert report["bias"].mode == "elementwise" and report["bias"].checks == 16


def test_embedding(rng):
    emb = mr.Embedding(7, 3, dtype="float64")
    ids = np.array([[1, 1, 4, 6], [0, 1, 2, 2]])  # repeated ids add up
    report = assert_passes(gradcheck(emb, ids, **TOL))
    assert [e.name for e in report] == ["weight"]  # ids are not differentiable; backward returns None


def test_embedding_padding_idx_unused(rng):
    emb = mr.Embedding(6, 3, padding_idx=0, dtype="float64")
    assert_passes(gradcheck(emb, np.array([[1, 2, 5], [5, 3, 3]]), **TOL))


def test_embedding_padding_row_is_flagged_because_it_is_not_a_derivative():
    # PyTorch's padding_idx withholds the row's gradient on purpose; gradcheck must say so, and only there.
    emb = mr.Embedding(5, 2, padding_idx=3, dtype="float64")
    report = gradcheck(emb, np.array([[3, 1, 3], [0, 3, 4]]), **TOL)
    entry = report["weight"]
    assert not report.ok
    assert entry.failures == 2  # the two columns of row 3
    assert entry.worst_at[0] == 3 and entry.analytic == 0.0


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("with_state", [True, False], ids=["hx", "no_hx"])
def test_rnn_cell(rng, nonlinearity, with_state):
    cell = mr.RNNCell(3, 4, nonlinearity=nonlinearity, dtype="float64")
    inputs = (randn(rng, 2, 3), randn(rng, 2, 4)) if with_state else (randn(rng, 2, 3),)
    report = assert_passes(gradcheck(cell, *inputs, check_inputs="all", **TOL))
    assert ("input[1]" in [e.name for e in report]) == with_state


def test_gru_cell(rng):
    cell = mr.GRUCell(3, 4, dtype="float64")
    report = assert_passes(gradcheck(cell, randn(rng, 2, 3), randn(rng, 2, 4), check_inputs="all", **TOL))
    assert [e.name for e in report][-2:] == ["input[0]", "input[1]"]


def test_gru_cell_unbatched(rng):
    cell = mr.GRUCell(3, 4, bias=False, dtype="float64")
    assert_passes(gradcheck(cell, randn(rng, 3), randn(rng, 4), check_inputs="all", **TOL))


@pytest.mark.parametrize("with_state", [True, False], ids=["hx", "no_hx"])
def test_lstm_cell(rng, with_state):
    cell = mr.LSTMCell(3, 4, dtype="float64")
    inputs = (randn(rng, 2, 3),) + (((randn(rng, 2, 4), randn(rng, 2, 4)),) if with_state else ())
    report = assert_passes(gradcheck(cell, *inputs, check_inputs="all", **TOL))
    if with_state:  # (x, (h, c)) against (dx, (dh_prev, dc_prev))
        assert {"input[0]", "input[1][0]", "input[1][1]"} <= {e.name for e in report}


def test_dropout_module_in_eval_mode(rng):
    drop = mr.Dropout(0.5).eval()
    report = assert_passes(gradcheck(drop, randn(rng, 3, 4), **TOL))
    assert [e.name for e in report] == ["input[0]"]


RECURRENT_CASES = [
    # (class, kwargs, use lengths, batch_first)
    (mr.RNN, dict(num_layers=2), False, False),
    (mr.RNN, dict(num_layers=2, nonlinearity="relu", bidirectional=True), True, False),
    (mr.GRU, dict(num_layers=2), True, False),
    (mr.GRU, dict(num_layers=2, bidirectional=True, batch_first=True), True, True),
    (mr.LSTM, dict(num_layers=2), False, False),
    (mr.LSTM, dict(num_layers=2, bidirectional=True), True, False),
    (mr.LSTM, dict(num_layers=2, bidirectional=True, proj_size=2, batch_first=True), True, True),
    (mr.LSTM, dict(proj_size=3, bias=False), True, False),
]
RECURRENT_IDS = [
    "rnn-2layer",
    "rnn_relu-bidir-lengths",
    "gru-2layer-lengths",
    "gru-bidir-batch_first-lengths",
    "lstm-2layer",
    "lstm-bidir-lengths",
    "lstm-bidir-proj-batch_first-lengths",
    "lstm-proj-no_bias-lengths",
]


@pytest.mark.parametrize("cls, kwargs, use_lengths, batch_first", RECURRENT_CASES, ids=RECURRENT_IDS)
def test_recurrent_layers(rng, cls, kwargs, use_lengths, batch_first):
    steps, batch, input_size, hidden = 4, 3, 3, 4
    layer = cls(input_size, hidden, dtype="float64", **kwargs).eval()
    x = randn(rng, batch, steps, input_size) if batch_first else randn(rng, steps, batch, input_size)
    forward_kwargs = {"lengths": np.array([4, 1, 3])} if use_lengths else None
    report = assert_passes(gradcheck(layer, x, forward_kwargs=forward_kwargs, **TOL))
    names = [e.name for e in report]
    assert names[:-1] == [name for name, _ in layer.named_parameters()]
    assert names[-1] == "input[0]"
    assert layer._caches == []  # the perturbed forwards ran under no_grad


@pytest.mark.parametrize("cls", [mr.RNN, mr.GRU, mr.LSTM])
def test_recurrent_initial_state(rng, cls):
    steps, batch, input_size, hidden = 3, 2, 2, 3
    layer = cls(input_size, hidden, num_layers=2, bidirectional=True, dtype="float64")
    x = randn(rng, steps, batch, input_size)
    h0 = randn(rng, 4, batch, hidden)
    hx = (h0, randn(rng, 4, batch, hidden)) if cls is mr.LSTM else h0
    report = assert_passes(
        gradcheck(layer, x, hx, check_inputs="all", forward_kwargs={"lengths": [3, 2]}, **TOL)
    )
    expected = {"input[0]", "input[1][0]", "input[1][1]"} if cls is mr.LSTM else {"input[0]", "input[1]"}
    assert expected <= {e.name for e in report}


def test_recurrent_unbatched(rng):
    lstm = mr.LSTM(2, 3, proj_size=2, dtype="float64")
    assert_passes(gradcheck(lstm, randn(rng, 4, 2), **TOL))


def test_gradcheck_restores_parameters_and_inputs(rng):
    gru = mr.GRU(3, 4, dtype="float64")
    before = {k: v.copy() for k, v in gru.state_dict().items()}
    x = randn(rng, 3, 2, 3)
    x_before = x.copy()
    gradcheck(gru, x)
    for name, value in gru.state_dict().items():
        np.testing.assert_array_equal(value, before[name])  # bit for bit
    np.testing.assert_array_equal(x, x_before)
    assert all(p.grad is not None for p in gru.parameters())


# ============================================================================ wrong backwards fail


class ScaledInputGrad(mr.Module):
    """A Linear whose backward returns 1.01 times the true input gradient."""

    def __init__(self, factor=1.01):
        super().__init__()
        self.inner = mr.Linear(3, 2, dtype="float64")
        self.factor = factor

    def forward(self, x):
        return self.inner(x)

    def backward(self, dy):
        return self.inner.backward(dy) * self.factor


class ScaledParamGrad(mr.Module):
    """A GRUCell whose weight_hh gradient is 1.01 times too large."""

    def __init__(self):
        super().__init__()
        self.cell = mr.GRUCell(2, 3, dtype="float64")

    def forward(self, x, h):
        return self.cell(x, h)

    def backward(self, dh):
        dx, _ = self.cell.backward(dh)
        self.cell.weight_hh.grad *= 1.01
        return dx


class OneWrongEntry(mr.Module):
    """A large Linear whose weight gradient is off by 1e-4 in one entry out of 800."""

    def __init__(self):
        super().__init__()
        self.inner = mr.Linear(40, 20, dtype="float64")

    def forward(self, x):
        return self.inner(x)

    def backward(self, dy):
        dx = self.inner.backward(dy)
        self.inner.weight.grad[13, 27] += 1e-4
        return dx


def test_catches_scaled_input_gradient(rng):
    report = gradcheck(ScaledInputGrad(), randn(rng, 4, 3), **TOL)
    assert not report.ok
    assert [e.name for e in report.failed] == ["input[0]"]
    assert report.worst.name == "input[0]"
    assert report.worst.rel_error == pytest.approx(0.01 / 2.01, rel=1e-3)  # |1.01 n - n| / (2.01 |n|)
    with pytest.raises(AssertionError, match="FAIL"):
        report.raise_if_failed()


def test_catches_scaled_parameter_gradient(rng):
    report = gradcheck(ScaledParamGrad(), randn(rng, 2, 2), randn(rng, 2, 3), **TOL)
    assert [e.name for e in report.failed] == ["cell.weight_hh"]
    assert report["cell.weight_ih"].ok and report["input[0]"].ok


def test_catches_one_wrong_entry_along_random_directions(rng):
    report = gradcheck(OneWrongEntry(), randn(rng, 5, 40), **TOL)
    entry = report["inner.weight"]
    assert entry.mode == "directional"
    assert not entry.ok and entry.failures == entry.checks
    assert report["inner.bias"].ok and report["input[0]"].ok


def test_a_right_gradient_with_a_tiny_error_passes_loose_and_fails_tight(rng):
    module = ScaledInputGrad(factor=1 + 1e-5)
    x = randn(rng, 4, 3)
    assert gradcheck(module, x, rtol=1e-4, atol=1e-8).ok
    assert not gradcheck(module, x, rtol=1e-7, atol=1e-8).ok


# ============================================================================ custom modules


class TwoHeads(mr.Module):
    """A user module with a nested output ``(y, (z,))`` and a backward taking the same structure."""

    def __init__(self):
        super().__init__()
        self.a = mr.Linear(3, 2, dtype="float64")
        self.b = mr.Linear(3, 4, dtype="float64")

    def forward(self, x):
        return self.a(x), (self.b(x),)

    def backward(self, grads):
        dy, (dz,) = grads
        return self.a.backward(dy) + self.b.backward(dz)


def test_custom_module_with_nested_output(rng):
    report = assert_passes(gradcheck(TwoHeads(), randn(rng, 5, 3), **TOL))
    assert [e.name for e in report] == ["a.weight", "a.bias", "b.weight", "b.bias", "input[0]"]


def test_backward_override(rng):
    class Squares(mr.Module):  # y = x * x with a backward under another name
        def forward(self, x):
            self._save(x)
            return x * x

        def grad(self, dy):
            return 2 * self._restore() * dy

    calls = []

    def backward(module, upstream):
        calls.append(upstream.shape)
        return module.grad(upstream)

    report = assert_passes(gradcheck(Squares(), randn(rng, 3, 2), backward=backward, **TOL))
    assert calls == [(3, 2)] and [e.name for e in report] == ["input[0]"]


def test_check_inputs_none_checks_parameters_only(rng):
    report = gradcheck(ScaledInputGrad(), randn(rng, 4, 3), check_inputs="none", **TOL)
    assert report.ok and "input[0]" not in [e.name for e in report]


# ============================================================================ clear errors


def test_float32_parameters_are_rejected(rng):
    with pytest.raises(TypeError, match="gradcheck needs float64 parameters, got float32.*dtype='float64'"):
        gradcheck(mr.Linear(3, 2), randn(rng, 2, 3).astype(np.float32))


def test_float32_inputs_are_rejected(rng):
    with pytest.raises(TypeError, match="float64 inputs, got float32 for 'input\\[0\\]'"):
        gradcheck(mr.Linear(3, 2, dtype="float64"), randn(rng, 2, 3).astype(np.float32))


def test_module_without_backward_is_rejected(rng):
    class NoBackward(mr.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(TypeError, match="NoBackward has no backward method"):
        gradcheck(NoBackward(), randn(rng, 2, 2))


def test_dropout_in_train_mode_is_rejected(rng):
    gru = mr.GRU(2, 3, num_layers=2, dropout=0.5, dtype="float64").train()
    with pytest.raises(RuntimeError, match="module.eval"):
        gradcheck(gru, randn(rng, 3, 2, 2))


def test_inside_no_grad_is_rejected(rng):
    with mr.no_grad(), pytest.raises(RuntimeError, match="no_grad"):
        gradcheck(mr.Linear(2, 2, dtype="float64"), randn(rng, 1, 2))


def test_bad_check_inputs_value(rng):
    with pytest.raises(ValueError, match="check_inputs"):
        gradcheck(mr.Linear(2, 2, dtype="float64"), randn(rng, 1, 2), check_inputs="some")


# ============================================================================ check_gradients


def test_check_gradients_on_a_known_function(rng):
    small, large = randn(rng, 3, 4), randn(rng, 10, 10)
    weights = randn(rng, 10, 10)

    def loss():
        return np.sin(small).sum() + (np.tanh(large) * weights).sum()

    analytic = {"small": np.cos(small), "large": (1 - np.tanh(large) ** 2) * weights}
    report = check_gradients(loss, {"small": small, "large": large}, analytic, num_directions=5, **TOL)
    assert report.ok, str(report)
    assert report["small"].mode == "elementwise" and report["small"].checks == 12
    assert report["large"].mode == "directional" and report["large"].checks == 5
    assert report.max_rel_error < 1e-7 and report.max_abs_error < 1e-8


def test_check_gradients_restores_arrays_bit_for_bit(rng):
    small, large = randn(rng, 3, 4) * 1e3, randn(rng, 9, 9) * 1e-3
    before = small.copy(), large.copy()
    check_gradients(lambda: (small**3).sum() + (large**2).sum(), {"s": small, "l": large}, {"s": None, "l": None})
    np.testing.assert_array_equal(small, before[0])
    np.testing.assert_array_equal(large, before[1])


def test_check_gradients_flags_a_wrong_gradient_and_treats_none_as_zero(rng):
    x = randn(rng, 2, 3)
    report = check_gradients(lambda: (x**2).sum(), {"x": x}, {"x": None}, **TOL)
    assert not report.ok and report["x"].failures == 6
    zero = np.zeros((2, 2))
    assert check_gradients(lambda: 1.0, {"z": zero}, {"z": None}, **TOL).ok


def test_check_gradients_errors(rng):
    x = randn(rng, 2, 3)
    with pytest.raises(KeyError, match="no analytic gradient for 'x'"):
        check_gradients(lambda: x.sum(), {"x": x}, {})
    with pytest.raises(ValueError, match="has shape \\(3, 2\\), expected \\(2, 3\\)"):
        check_gradients(lambda: x.sum(), {"x": x}, {"x": np.ones((3, 2))})
    with pytest.raises(TypeError, match="float64"):
        check_gradients(lambda: 0.0, {"y": x.astype(np.float32)}, {"y": None})


def test_report_table(rng):
    report = gradcheck(ScaledInputGrad(), randn(rng, 4, 3), **TOL)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck: 3 arrays") and "FAILED (1 of 3 arrays)" in lines[0]
    assert lines[1].split()[:4] == ["name", "shape", "mode", "checks"]
    rows = {line.split()[0]: line for line in lines[3:]}
    assert set(rows) == {"inner.weight", "inner.bias", "input[0]"}
    assert rows["inner.weight"].rstrip().endswith("ok") and "FAIL (12)" in rows["input[0]"]
    assert "ok=False" in repr(report)


# ============================================================================ backends


def test_gradcheck_on_each_backend(xp):
    rng = np.random.default_rng(7)
    lstm = mr.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, dtype="float64")
    x = xp.asarray(randn(rng, 4, 3, 2))
    report = assert_passes(gradcheck(lstm, x, forward_kwargs={"lengths": np.array([4, 2, 3])}, **TOL))
    assert all(type(p.data) is type(x) for p in lstm.parameters())
    big = xp.asarray(randn(rng, 9, 9))
    small = big[:2, :3]  # a view: perturbed in place through the base array
    dbig = 2 * big
    dbig[:2, :3] += 3 * small**2
    analytic = {"big": dbig, "small": 3 * small**2 + 2 * small}

    def loss():
        return (big**2).sum() + (small**3).sum()

    assert_passes(check_gradients(loss, {"big": big, "small": small}, analytic, **TOL))
    assert report.max_rel_error < 1e-7
