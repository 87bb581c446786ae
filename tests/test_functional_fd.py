"""Finite differences in float64 for every backward in ``minirnn.functional``.

Each test builds a scalar ``L = sum(out * G)`` with a random upstream gradient G
(never all ones) and random non-zero biases, computes the analytic gradients with
the backward under test, and compares them with central differences through
``check_gradients``: entry by entry on tiny shapes, along random unit directions on
larger ones. With eps = 1e-6 the rounding noise of the numeric side is about 1e-9,
so pairs pass when |a - n| <= ATOL or |a - n| <= RTOL (|a| + |n|).
"""

from __future__ import annotations

import decimal

import numpy as np
import pytest

from minirnn import functional as F
from minirnn.functional import recurrent as R
from minirnn.gradcheck import check_gradients

EPS = 1e-6
RTOL = 1e-7
ATOL = 1e-8


def assert_fd(loss_fn, arrays, analytic, **kwargs):
    kwargs.setdefault("eps", EPS)
    kwargs.setdefault("rtol", RTOL)
    kwargs.setdefault("atol", ATOL)
    report = check_gradients(loss_fn, arrays, analytic, **kwargs)
    assert report.ok, "\n" + str(report)
    assert len(report) == len(arrays)
    return report


def randn(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


# ============================================================================ activations


ACTIVATION_CASES = [
    ("sigmoid", F.sigmoid, F.sigmoid_backward),
    ("tanh", F.tanh, F.tanh_backward),
    ("relu", F.relu, F.relu_backward),
]


@pytest.mark.parametrize("name, forward, backward", ACTIVATION_CASES, ids=[c[0] for c in ACTIVATION_CASES])
@pytest.mark.parametrize("shape", [(3, 4), (9, 11)], ids=["elementwise", "directional"])
def test_pointwise_activation(rng, name, forward, backward, shape):
    a = randn(rng, *shape, scale=2.0)
    if name == "relu":
        a += np.sign(a) * 0.1  # keep finite differences away from the kink at 0
    upstream = randn(rng, *shape)
    da = backward(upstream, forward(a))
    assert_fd(lambda: (forward(a) * upstream).sum(), {"a": a}, {"a": da})


def _sigmoid_reference(a: float) -> float:
    """sigma(a) to 40 significant digits (decimal arithmetic), as a float."""
    with decimal.localcontext() as context:
        context.prec = 40
        return float(1 / (1 + decimal.Decimal(-float(a)).exp()))


@pytest.mark.parametrize("dtype, low, max_ulps", [("float32", -85.0, 4), ("float64", -700.0, 4)])
def test_sigmoid_keeps_relative_precision_in_both_tails(dtype, low, max_ulps):
    # Down to where sigma(a) is still a normal number of the dtype (float32: 1.2e-38 at a = -87).
    a = np.concatenate([np.linspace(low, -low, 4001), [-20.0, -1e-8, 0.0, 1e-8, 20.0]]).astype(dtype)
    got = F.sigmoid(a)
    assert got.dtype == np.dtype(dtype)
    want = np.array([_sigmoid_reference(v) for v in a])
    ulp = np.finfo(dtype).eps
    rel_error = np.abs(got.astype(np.float64) - want) / want
    assert rel_error.max() <= max_ulps * ulp, (rel_error.max() / ulp, a[rel_error.argmax()])
    # The tanh form returned exactly 0 here; the true value is 2.06e-9.
    assert abs(float(F.sigmoid(np.float32(-20.0))) / 2.0611536e-9 - 1) < 1e-6


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_sigmoid_is_stable_for_large_logits(dtype):
    a = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, np.inf, -np.inf], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.sigmoid(a)
    assert y.dtype == np.dtype(dtype) and np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    np.testing.assert_array_equal(y[[0, 3, 6, 7, 8]], np.array([0.0, 0.5, 1.0, 1.0, 0.0], dtype=dtype))


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("shape", [(3, 5), (4, 6, 7)], ids=["elementwise", "directional"])
def test_softmax_family(rng, which, axis, shape):
    forward, backward = {
        "softmax": (F.softmax, F.softmax_backward),
        "log_softmax": (F.log_softmax, F.log_softmax_backward),
    }[which]
    a = randn(rng, *shape, scale=3.0)
    upstream = randn(rng, *shape)
    da = backward(upstream, forward(a, axis=axis), axis=axis)
    assert_fd(lambda: (forward(a, axis=axis) * upstream).sum(), {"a": a}, {"a": da})


def test_log_softmax_backward_with_large_logits(rng):
    # Logits of +-50 stay finite and the gradient stays exact (log-sum-exp).
    a = randn(rng, 2, 4) * 50
    upstream = randn(rng, 2, 4)
    da = F.log_softmax_backward(upstream, F.log_softmax(a))
    assert_fd(lambda: (F.log_softmax(a) * upstream).sum(), {"a": a}, {"a": da}, atol=1e-7)


# ============================================================================ affine, embedding, dropout


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(
    "x_shape, out_features", [((2, 3), 4), ((2, 3, 3), 2), ((5, 4, 16), 12)], ids=["2d", "3d", "directional"]
)
def test_affine(rng, bias, x_shape, out_features):
    x = randn(rng, *x_shape)
    weight = randn(rng, out_features, x_shape[-1], scale=0.5)
    b = randn(rng, out_features) if bias else None
    y, cache = F.affine_forward(x, weight, b)
    upstream = randn(rng, *y.shape)
    dx, dweight, dbias = F.affine_backward(upstream, cache)
    arrays, grads = {"x": x, "weight": weight}, {"x": dx, "weight": dweight}
    if bias:
        arrays["bias"], grads["bias"] = b, dbias
    else:
        assert dbias is None
    assert_fd(lambda: (F.affine_forward(x, weight, b)[0] * upstream).sum(), arrays, grads)


def test_affine_forward_does_not_modify_its_inputs(rng):
    x, weight, b = randn(rng, 2, 3), randn(rng, 4, 3), randn(rng, 4)
    copies = x.copy(), weight.copy(), b.copy()
    F.affine_forward(x, weight, b)
    for before, after in zip(copies, (x, weight, b)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("vocab, dim", [(5, 3), (40, 6)], ids=["elementwise", "directional"])
def test_embedding_repeated_ids(rng, vocab, dim):
    weight = randn(rng, vocab, dim)
    ids = rng.integers(0, vocab, size=(4, 7))
    ids[0, :3] = 1  # the same id several times must add up
    upstream = randn(rng, 4, 7, dim)
    _, cache = F.embedding_forward(ids, weight)
    dweight = F.embedding_backward(upstream, cache)
    assert_fd(lambda: (F.embedding_forward(ids, weight)[0] * upstream).sum(), {"weight": weight}, {"weight": dweight})


@pytest.mark.parametrize("padding_idx", [0, 3])
def test_embedding_padding_idx(rng, padding_idx):
    vocab, dim = 6, 3
    weight = randn(rng, vocab, dim)
    ids = np.array([[padding_idx, 1, 2, padding_idx], [4, padding_idx, 1, 5]])
    upstream = randn(rng, 2, 4, dim)
    _, cache = F.embedding_forward(ids, weight, padding_idx)
    dweight = F.embedding_backward(upstream, cache)
    # By design (PyTorch's), the padding row takes no gradient though the output uses it.
    np.testing.assert_array_equal(dweight[padding_idx], 0.0)
    # Every other row is the true derivative; views of weight are perturbed in place.
    blocks = [(lo, hi) for lo, hi in ((0, padding_idx), (padding_idx + 1, vocab)) if hi > lo]
    assert_fd(
        lambda: (F.embedding_forward(ids, weight, padding_idx)[0] * upstream).sum(),
        {f"rows {lo}:{hi}": weight[lo:hi] for lo, hi in blocks},
        {f"rows {lo}:{hi}": dweight[lo:hi] for lo, hi in blocks},
    )


@pytest.mark.parametrize("shape", [(3, 4), (6, 5, 8)], ids=["elementwise", "directional"])
def test_dropout(rng, shape):
    p = 0.4
    x = randn(rng, *shape)
    keep = (rng.random(shape) > p).astype(np.float64)
    upstream = randn(rng, *shape)
    _, cache = F.dropout_forward(x, p, keep)
    dx = F.dropout_backward(upstream, cache)
    assert_fd(lambda: (F.dropout_forward(x, p, keep)[0] * upstream).sum(), {"x": x}, {"x": dx})


# ============================================================================ cells


def cell_params(rng, gates, input_size, hidden, state_size=None, bias=True):
    """(w_ih, w_hh, b_ih, b_hh) with random non-zero biases, PyTorch's layouts."""
    state_size = hidden if state_size is None else state_size
    # Scaled by 1/sqrt(fan_in) so that relu states neither explode nor vanish over time.
    w_ih = randn(rng, gates * hidden, input_size, scale=1 / np.sqrt(input_size))
    w_hh = randn(rng, gates * hidden, state_size, scale=1 / np.sqrt(state_size))
    if not bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, randn(rng, gates * hidden, scale=0.5), randn(rng, gates * hidden, scale=0.5)


PARAM_NAMES = ("w_ih", "w_hh", "b_ih", "b_hh")


def add_params(arrays, grads, names, params, dparams):
    """Add each present parameter and its gradient under its name; an absent one (None) must get None."""
    for name, p, g in zip(names, params, dparams):
        if p is None:
            assert g is None, f"{name} is absent but got a gradient"
        else:
            arrays[name], grads[name] = p, g

CELL_SIZES = [(3, 2, 3), (5, 6, 8)]  # (N, D, H): element-wise, then directional on the weights
CELL_IDS = ["small", "large"]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("sizes", CELL_SIZES, ids=CELL_IDS)
def test_rnn_cell(rng, nonlinearity, bias, sizes):
    batch, input_size, hidden = sizes
    x, h_prev = randn(rng, batch, input_size), randn(rng, batch, hidden)
    params = cell_params(rng, 1, input_size, hidden, bias=bias)
    h, cache = F.rnn_cell_forward(x, h_prev, *params, nonlinearity=nonlinearity)
    upstream = randn(rng, *h.shape)
    dx, dh_prev, *dparams = F.rnn_cell_backward(upstream, cache)

    def loss():
        return (F.rnn_cell_forward(x, h_prev, *params, nonlinearity=nonlinearity)[0] * upstream).sum()

    arrays, grads = {"x": x, "h_prev": h_prev}, {"x": dx, "h_prev": dh_prev}
    add_params(arrays, grads, PARAM_NAMES, params, dparams)
    assert_fd(loss, arrays, grads)


@pytest.mark.parametrize("proj_size", [0, 2], ids=["plain", "proj"])
@pytest.mark.parametrize("with_dc", [True, False], ids=["dc", "dc_none"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("sizes", CELL_SIZES, ids=CELL_IDS)
def test_lstm_cell(rng, proj_size, with_dc, bias, sizes):
    batch, input_size, hidden = sizes
    out_size = proj_size or hidden
    x, h_prev, c_prev = randn(rng, batch, input_size), randn(rng, batch, out_size), randn(rng, batch, hidden)
    params = cell_params(rng, 4, input_size, hidden, out_size, bias=bias)
    w_hr = randn(rng, proj_size, hidden, scale=0.6) if proj_size else None
    (h, c), cache = F.lstm_cell_forward(x, h_prev, c_prev, *params, w_hr=w_hr)
    upstream_h = randn(rng, *h.shape)
    upstream_c = randn(rng, *c.shape) if with_dc else None
    dx, dh_prev, dc_prev, *dparams, dw_hr = F.lstm_cell_backward(upstream_h, upstream_c, cache)

    def loss():
        (h, c), _ = F.lstm_cell_forward(x, h_prev, c_prev, *params, w_hr=w_hr)
        return (h * upstream_h).sum() + ((c * upstream_c).sum() if with_dc else 0.0)

    arrays = {"x": x, "h_prev": h_prev, "c_prev": c_prev}
    grads = {"x": dx, "h_prev": dh_prev, "c_prev": dc_prev}
    add_params(arrays, grads, PARAM_NAMES, params, dparams)
    if proj_size:
        arrays["w_hr"], grads["w_hr"] = w_hr, dw_hr
    else:
        assert dw_hr is None
    assert_fd(loss, arrays, grads)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("sizes", CELL_SIZES, ids=CELL_IDS)
def test_gru_cell(rng, bias, sizes):
    batch, input_size, hidden = sizes
    x, h_prev = randn(rng, batch, input_size), randn(rng, batch, hidden)
    params = cell_params(rng, 3, input_size, hidden, bias=bias)
    h, cache = F.gru_cell_forward(x, h_prev, *params)
    upstream = randn(rng, *h.shape)
    dx, dh_prev, *dparams = F.gru_cell_backward(upstream, cache)

    def loss():
        return (F.gru_cell_forward(x, h_prev, *params)[0] * upstream).sum()

    arrays, grads = {"x": x, "h_prev": h_prev}, {"x": dx, "h_prev": dh_prev}
    add_params(arrays, grads, PARAM_NAMES, params, dparams)
    assert_fd(loss, arrays, grads)


def test_gru_bias_gradients_differ_in_the_candidate_gate(rng):
    # b_hn sits inside r * (h W_hn^T + b_hn), so its gradient is r times that of b_in.
    batch, input_size, hidden = 3, 2, 4
    x, h_prev = randn(rng, batch, input_size), randn(rng, batch, hidden)
    params = cell_params(rng, 3, input_size, hidden)
    h, cache = F.gru_cell_forward(x, h_prev, *params)
    *_, db_ih, db_hh = F.gru_cell_backward(randn(rng, *h.shape), cache)
    np.testing.assert_array_equal(db_ih[: 2 * hidden], db_hh[: 2 * hidden])
    assert not np.allclose(db_ih[2 * hidden :], db_hh[2 * hidden :])


# ============================================================================ recurrent (BPTT)


RECURRENT_MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_proj"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def recurrent_setup(rng, variant, steps, batch, input_size, hidden, proj=2, bias=True):
    """x, state0, params (and their names) for one direction of ``variant``."""
    mode = "lstm" if variant == "lstm_proj" else variant
    out_size = proj if variant == "lstm_proj" else hidden
    x = randn(rng, steps, batch, input_size)
    state0 = (randn(rng, batch, out_size),) + ((randn(rng, batch, hidden),) if mode == "lstm" else ())
    params = cell_params(rng, GATES[mode], input_size, hidden, out_size, bias=bias)
    names = list(PARAM_NAMES)
    if variant == "lstm_proj":
        params += (randn(rng, proj, hidden, scale=0.6),)
        names.append("w_hr")
    return mode, x, state0, params, names


def check_recurrent(rng, variant, reverse, lengths, with_dout, sizes, bias=True):
    steps, batch, input_size, hidden = sizes
    mode, x, state0, params, names = recurrent_setup(rng, variant, steps, batch, input_size, hidden, bias=bias)
    out, state_n, cache = R.recurrent_forward(mode, x, state0, params, lengths, reverse)
    # Random upstream gradients everywhere, padded steps of out included (they must be ignored).
    upstream_out = randn(rng, *out.shape) if with_dout else None
    upstream_state = tuple(randn(rng, *s.shape) for s in state_n)
    dx, dstate0, dparams = R.recurrent_backward(upstream_out, upstream_state, cache)

    def loss():
        out, state_n, _ = R.recurrent_forward(mode, x, state0, params, lengths, reverse)
        total = sum((s * g).sum() for s, g in zip(state_n, upstream_state))
        return total + ((out * upstream_out).sum() if with_dout else 0.0)

    arrays, grads = {"x": x}, {"x": dx}
    for k, (s, g) in enumerate(zip(state0, dstate0)):
        arrays[("h0", "c0")[k]], grads[("h0", "c0")[k]] = s, g
    add_params(arrays, grads, names, params, dparams)
    return assert_fd(loss, arrays, grads)


@pytest.mark.parametrize("variant", RECURRENT_MODES)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("with_dout", [True, False], ids=["dout", "dout_none"])
def test_recurrent_small(rng, variant, reverse, use_lengths, with_dout):
    lengths = np.array([3, 1, 2]) if use_lengths else None  # unsorted, one of them full length
    check_recurrent(rng, variant, reverse, lengths, with_dout, sizes=(3, 3, 2, 3))


@pytest.mark.parametrize("variant", RECURRENT_MODES)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_recurrent_large_directional(rng, variant, reverse):
    lengths = np.array([6, 2, 5, 1, 4])
    report = check_recurrent(rng, variant, reverse, lengths, True, sizes=(6, 5, 7, 12))
    assert report["x"].mode == "directional" and report["w_ih"].mode == "directional"


@pytest.mark.parametrize("variant", ["rnn_tanh", "lstm", "gru"])
def test_recurrent_without_bias(rng, variant):
    check_recurrent(rng, variant, False, np.array([2, 3]), True, sizes=(3, 2, 2, 3), bias=False)


@pytest.mark.parametrize("variant", RECURRENT_MODES)
def test_recurrent_ignores_dout_at_padded_steps(rng, variant):
    steps, batch, input_size, hidden = 4, 3, 2, 3
    lengths = np.array([4, 1, 2])
    mode, x, state0, params, _ = recurrent_setup(rng, variant, steps, batch, input_size, hidden)
    out, state_n, cache = R.recurrent_forward(mode, x, state0, params, lengths)
    active = np.arange(steps)[:, None] < lengths[None, :]
    np.testing.assert_array_equal(out[~active], 0.0)
    dout = randn(rng, *out.shape)
    dstate = tuple(randn(rng, *s.shape) for s in state_n)
    garbage = dout.copy()
    garbage[~active] = 1e6
    first = R.recurrent_backward(dout, dstate, cache)
    second = R.recurrent_backward(garbage, dstate, cache)
    np.testing.assert_array_equal(first[0], second[0])
    for a, b in zip(first[1] + first[2], second[1] + second[2]):
        np.testing.assert_array_equal(a, b)
