"""Properties of the recurrent layers, checked with hypothesis in float64.

* Garbage past ``lengths`` changes nothing: outputs, final states and every gradient
  are the same, and dx is exactly zero at padded positions.
* Permuting the batch permutes the outputs (with the lengths and states).
* T = 1 equals one cell step of the matching Cell with the same weights.
* Two identical forward/backward calls double the gradients (they accumulate).
* BPTT parameter gradients equal the sum of the per-step cell gradients.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minirnn as mr

MODES = ["rnn_tanh", "rnn_relu", "gru", "lstm"]
ATOL = 1e-12
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)


def make_layer(mode, input_size, hidden_size, **options):
    if mode.startswith("rnn_"):
        return mr.RNN(input_size, hidden_size, nonlinearity=mode[4:], dtype="float64", **options)
    return {"gru": mr.GRU, "lstm": mr.LSTM}[mode](input_size, hidden_size, dtype="float64", **options)


def make_cell(mode, input_size, hidden_size, bias=True):
    if mode.startswith("rnn_"):
        return mr.RNNCell(input_size, hidden_size, bias=bias, nonlinearity=mode[4:], dtype="float64")
    return {"gru": mr.GRUCell, "lstm": mr.LSTMCell}[mode](input_size, hidden_size, bias=bias, dtype="float64")


def cell_from_layer(layer, mode):
    """A Cell holding layer 0 (forward direction) weights of ``layer``."""
    cell = make_cell(mode, layer.input_size, layer.hidden_size, bias=layer.bias)
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items() if k.endswith("_l0")})
    return cell


def state_arrays(state, is_lstm):
    return list(state) if is_lstm else [state]


def grads(module):
    return {name: p.grad.copy() for name, p in module.named_parameters()}


def assert_same(a, b, where, atol=ATOL):
    np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=where)


layer_options = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(MODES),
        "num_layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "batch_first": st.booleans(),
        "steps": st.integers(1, 6),
        "batch": st.integers(1, 4),
        "input_size": st.integers(1, 5),
        "hidden_size": st.integers(2, 5),
        "seed": st.integers(0, 2**31 - 1),
    }
)


def build(case):
    """A random layer, input, hx, lengths and upstream gradients for ``case`` (time-major internally)."""
    rng = np.random.default_rng(case["seed"])
    mr.manual_seed(case["seed"])
    mode = case["mode"]
    layer = make_layer(mode, case["input_size"], case["hidden_size"], num_layers=case["num_layers"],
                       bidirectional=case["bidirectional"], batch_first=case["batch_first"])
    steps, batch = case["steps"], case["batch"]
    dirs = 2 if case["bidirectional"] else 1
    x = rng.standard_normal((steps, batch, case["input_size"]))
    lengths = rng.integers(1, steps + 1, size=batch)
    h_shape = (case["num_layers"] * dirs, batch, case["hidden_size"])
    is_lstm = mode == "lstm"
    hx = (rng.standard_normal(h_shape), rng.standard_normal(h_shape)) if is_lstm else rng.standard_normal(h_shape)
    dout = rng.standard_normal((steps, batch, dirs * case["hidden_size"]))
    dstate = (rng.standard_normal(h_shape), rng.standard_normal(h_shape)) if is_lstm else rng.standard_normal(h_shape)
    return rng, layer, x, lengths, hx, dout, dstate


def to_layout(a, batch_first):
    """(T, N, ...) -> the layer's layout."""
    return a.transpose(1, 0, 2) if batch_first else a


def run(layer, x, hx, lengths, dout, dstate):
    """One forward and backward (x, dout time-major); everything as a flat dict of arrays."""
    is_lstm = isinstance(layer, mr.LSTM)
    out, state_n = layer(to_layout(x, layer.batch_first), hx, lengths=lengths)
    dx, dstate0 = layer.backward(to_layout(dout, layer.batch_first), dstate)
    result = {"out": to_layout(out, layer.batch_first), "dx": to_layout(dx, layer.batch_first)}
    for k, a in enumerate(state_arrays(state_n, is_lstm)):
        result[f"state_n{k}"] = a
    for k, a in enumerate(state_arrays(dstate0, is_lstm)):
        result[f"dstate0_{k}"] = a
    result.update({f"grad:{n}": g for n, g in grads(layer).items()})
    layer.zero_grad()
    return result


@PROPERTY_SETTINGS
@given(case=layer_options)
def test_garbage_past_lengths_changes_nothing(case):
    rng, layer, x, lengths, hx, dout, dstate = build(case)
    padded = np.arange(case["steps"])[:, None] >= lengths[None, :]  # (T, N) True past each length
    clean = run(layer, x * ~padded[..., None], hx, lengths, dout * ~padded[..., None], dstate)
    x_garbage = np.where(padded[..., None], 1e3 * rng.standard_normal(x.shape), x)
    dout_garbage = np.where(padded[..., None], 1e3 * rng.standard_normal(dout.shape), dout)
    dirty = run(layer, x_garbage, hx, lengths, dout_garbage, dstate)
    for key in clean:
        assert_same(dirty[key], clean[key], key)
    assert np.all(dirty["out"][padded] == 0)
    assert np.all(dirty["dx"][padded] == 0)


@PROPERTY_SETTINGS
@given(case=layer_options, with_lengths=st.booleans())
def test_permuting_the_batch_permutes_the_outputs(case, with_lengths):
    rng, layer, x, lengths, hx, dout, dstate = build(case)
    lengths = lengths if with_lengths else None
    is_lstm = case["mode"] == "lstm"
    perm = rng.permutation(case["batch"])

    def permute_state(s):
        return tuple(a[:, perm] for a in s) if is_lstm else s[:, perm]

    base = run(layer, x, hx, lengths, dout, dstate)
    permuted = run(layer, x[:, perm], permute_state(hx), None if lengths is None else lengths[perm],
                   dout[:, perm], permute_state(dstate))
    for key in base:
        if key.startswith("grad:"):
            assert_same(permuted[key], base[key], key)  # the same sums in another order
        else:
            assert_same(permuted[key], base[key][:, perm], key)  # batch is axis 1 of every other array


@PROPERTY_SETTINGS
@given(case=layer_options, bias=st.booleans(), given_state=st.booleans())
def test_one_step_equals_one_cell_step(case, bias, given_state):
    rng = np.random.default_rng(case["seed"])
    mode, batch, hidden = case["mode"], case["batch"], case["hidden_size"]
    is_lstm = mode == "lstm"
    layer = make_layer(mode, case["input_size"], hidden, bias=bias, batch_first=case["batch_first"])
    cell = cell_from_layer(layer, mode)
    x = rng.standard_normal((1, batch, case["input_size"]))
    h0, c0 = rng.standard_normal((1, batch, hidden)), rng.standard_normal((1, batch, hidden))
    hx = ((h0, c0) if is_lstm else h0) if given_state else None
    dout = rng.standard_normal((1, batch, hidden))
    dh_n, dc_n = rng.standard_normal((1, batch, hidden)), rng.standard_normal((1, batch, hidden))

    layer_result = run(layer, x, hx, None, dout, (dh_n, dc_n) if is_lstm else dh_n)
    cell_state = None if not given_state else ((h0[0], c0[0]) if is_lstm else h0[0])
    new_state = cell(x[0], cell_state)
    if is_lstm:
        dx, (dh0, dc0) = cell.backward((dout[0] + dh_n[0], dc_n[0]))
        assert_same(layer_result["state_n1"][0], new_state[1], "c_n")
        assert_same(layer_result["dstate0_1"][0], dc0, "dc0")
        h = new_state[0]
    else:
        dx, dh0 = cell.backward(dout[0] + dh_n[0])
        h = new_state
    assert_same(layer_result["out"][0], h, "out")
    assert_same(layer_result["state_n0"][0], h, "h_n")
    assert_same(layer_result["dx"][0], dx, "dx")
    assert_same(layer_result["dstate0_0"][0], dh0, "dh0")
    for name, g in grads(cell).items():
        assert_same(layer_result[f"grad:{name}_l0"], g, name)


@PROPERTY_SETTINGS
@given(case=layer_options, with_lengths=st.booleans(), eval_dropout=st.booleans())
def test_two_identical_calls_double_the_gradients(case, with_lengths, eval_dropout):
    _, layer, x, lengths, hx, dout, dstate = build(case)
    if eval_dropout:
        layer.dropout = 0.5
        layer.eval()
    lengths = lengths if with_lengths else None
    x_in, dout_in = to_layout(x, layer.batch_first), to_layout(dout, layer.batch_first)
    first_dx = None
    for _ in range(2):
        layer(x_in, hx, lengths=lengths)
        dx, _ = layer.backward(dout_in, dstate)
        if first_dx is None:
            first_dx, once = dx, grads(layer)
    assert_same(dx, first_dx, "dx does not accumulate")
    for name, g in grads(layer).items():
        assert_same(g, 2 * once[name], name)


@PROPERTY_SETTINGS
@given(case=layer_options, bias=st.booleans())
def test_bptt_gradients_are_the_sum_over_steps(case, bias):
    """The layer's parameter gradients = the sum of one cell's gradients, collected step by step."""
    rng = np.random.default_rng(case["seed"])
    mode, steps, batch, hidden = case["mode"], case["steps"], case["batch"], case["hidden_size"]
    is_lstm = mode == "lstm"
    layer = make_layer(mode, case["input_size"], hidden, bias=bias)
    cell = cell_from_layer(layer, mode)
    x = rng.standard_normal((steps, batch, case["input_size"]))
    h0, c0 = rng.standard_normal((1, batch, hidden)), rng.standard_normal((1, batch, hidden))
    dout = rng.standard_normal((steps, batch, hidden))
    dh_n, dc_n = rng.standard_normal((1, batch, hidden)), rng.standard_normal((1, batch, hidden))
    layer_result = run(layer, x, (h0, c0) if is_lstm else h0, None, dout, (dh_n, dc_n) if is_lstm else dh_n)

    state = (h0[0], c0[0]) if is_lstm else h0[0]
    for t in range(steps):
        state = cell(x[t], state)
    total = {name: 0.0 for name, _ in cell.named_parameters()}
    dh, dc = dh_n[0], dc_n[0]
    dx = np.empty_like(x)
    for t in reversed(range(steps)):
        if is_lstm:
            dx[t], (dh, dc) = cell.backward((dout[t] + dh, dc))
        else:
            dx[t], dh = cell.backward(dout[t] + dh)
        for name, g in grads(cell).items():  # this step's gradients alone
            total[name] = total[name] + g
        cell.zero_grad()
    assert_same(layer_result["dx"], dx, "dx")
    assert_same(layer_result["dstate0_0"][0], dh, "dh0")
    if is_lstm:
        assert_same(layer_result["dstate0_1"][0], dc, "dc0")
    for name, g in total.items():
        assert_same(layer_result[f"grad:{name}_l0"], g, name, atol=1e-11)
