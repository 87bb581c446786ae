"""Dropout is inverted dropout, y = x * m / (1 - p) with m ~ Bernoulli(1 - p), in nn.Dropout
and between the layers of RNN/GRU/LSTM, and p = 1 gives exact zeros, never NaN.

A backward-equals-forward check cannot see a missing 1/(1 - p): forward and backward
share the scaled mask and change together. So these tests check the forward's value
itself: its expectation (E[y] = x) and its exact form, with the keep mask recovered from
the output (or, for the recurrent layers, redrawn from the same seed).

Tolerances for the means come from the binomial standard deviation: with n entries of
ones, y_i = m_i / (1 - p) has variance p / (1 - p), so the mean of y has standard
error sqrt(p / ((1 - p) n)), and the dropped fraction sqrt(p (1 - p) / n). Z = 6 of
them fail a correct layer with probability about 2e-9.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minirnn as mr
from minirnn.backend import bernoulli_keep_mask, to_numpy
from minirnn.functional import linear as F
from minirnn.models import Seq2Seq

Z = 6.0
T, N, D, H = 4, 3, 5, 6


def assert_mean_is_preserved(y, p: float) -> None:
    """``y`` is dropout applied to ones: its mean is 1 and it drops a fraction p, within Z standard errors."""
    n = y.size
    assert abs(y.mean() - 1.0) <= Z * math.sqrt(p / ((1 - p) * n)), f"E[y] = {y.mean()}, expected 1 (p = {p})"
    dropped = np.mean(y == 0)
    assert abs(dropped - p) <= Z * math.sqrt(p * (1 - p) / n), f"dropped {dropped}, expected {p}"
    np.testing.assert_array_equal(np.unique(y), [0.0, 1.0 / (1.0 - p)])


def assert_inverted_dropout(y, x, p: float) -> np.ndarray:
    """y == x * keep / (1 - p) with keep = (y != 0) (x has no zeros); returns keep."""
    assert np.all(x != 0)
    keep = (y != 0).astype(x.dtype)
    assert 0 < keep.mean() < 1, "a mask that keeps everything or nothing tests nothing"
    expected = x * keep / (1 - p)
    if (1 - p) in (0.5, 0.25):  # dividing by a power of two is exact, so both orders agree bit for bit
        np.testing.assert_array_equal(y, expected)
    else:  # x * (keep / q) and x * keep / q round differently, by at most an ulp or two
        np.testing.assert_allclose(y, expected, rtol=1e-15, atol=0)
    return keep


# ----------------------------------------------------------------------------- nn.Dropout


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_dropout_keeps_the_mean(p, xp):
    drop = mr.Dropout(p).train()
    assert_mean_is_preserved(to_numpy(drop(xp.ones((1000, 1000)))), p)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.75])
def test_dropout_is_x_times_keep_over_one_minus_p(rng, p, xp):
    x = rng.uniform(0.5, 2.0, (40, 50)) * rng.choice([-1.0, 1.0], (40, 50))
    dy = rng.standard_normal(x.shape)
    drop = mr.Dropout(p).train()
    keep = assert_inverted_dropout(to_numpy(drop(xp.asarray(x))), x, p)
    np.testing.assert_allclose(to_numpy(drop.backward(xp.asarray(dy))), dy * keep / (1 - p), rtol=1e-15, atol=0)


def test_functional_dropout_with_a_given_mask(rng):
    x, keep = rng.standard_normal((7, 9)), (rng.random((7, 9)) < 0.6).astype(np.float64)
    y, cache = F.dropout_forward(x, 0.5, keep)
    np.testing.assert_array_equal(y, x * keep / 0.5)
    np.testing.assert_array_equal(F.dropout_backward(x, cache), x * keep / 0.5)


def test_dropout_is_seeded(rng):
    x = rng.standard_normal((20, 30))
    drop = mr.Dropout(0.5).train()
    mr.manual_seed(5)
    first = drop(x)
    mr.manual_seed(5)
    np.testing.assert_array_equal(first, drop(x))
    assert not np.array_equal(first, drop(x))  # the generator moved on


def test_dropout_in_eval_mode_is_the_identity(rng):
    x, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    drop = mr.Dropout(0.9).eval()
    assert drop(x) is x
    assert drop.backward(dy) is dy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_one_gives_zeros_not_nan(rng, dtype, xp):
    x, dy = (xp.asarray(rng.standard_normal((6, 7)).astype(dtype)) for _ in range(2))
    drop = mr.Dropout(1.0).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered in divide" on the way
        y = drop(x)
        dx = drop.backward(dy)
        y_f, cache = F.dropout_forward(x, 1.0)
        y_mask, _ = F.dropout_forward(x, 1.0, xp.zeros_like(x))
    for out in (y, dx, y_f, F.dropout_backward(dy, cache), y_mask):
        assert out.dtype == dtype and out.shape == x.shape
        assert np.all(to_numpy(out) == 0)


# ----------------------------------------------------------------------------- between recurrent layers

MAKERS = {
    "RNN": lambda *a, **k: mr.RNN(*a, nonlinearity="tanh", **k),
    "GRU": mr.GRU,
    "LSTM": mr.LSTM,
}


def _identity_rnn(width: int, p: float):
    """A 2-layer ReLU RNN whose layers copy their input (W_ih = I, W_hh = 0, no bias).

    For x >= 0, layer 0 gives x and layer 1 gives relu(dropout(x)) = dropout(x): the
    output is the between-layer dropout itself, with no seed or internals involved.
    """
    rnn = mr.RNN(width, width, num_layers=2, nonlinearity="relu", bias=False, dropout=p, dtype="float64")
    eye, zero = np.eye(width), np.zeros((width, width))
    rnn.load_state_dict({"weight_ih_l0": eye, "weight_hh_l0": zero, "weight_ih_l1": eye, "weight_hh_l1": zero})
    return rnn.train()


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_between_layer_dropout_keeps_the_mean(p, xp):
    out, _ = _identity_rnn(200, p)(xp.ones((50, 100, 200)))
    assert_mean_is_preserved(to_numpy(out), p)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_between_layer_dropout_is_x_times_keep_over_one_minus_p(rng, p, xp):
    rnn = _identity_rnn(8, p)
    x = rng.uniform(0.5, 2.0, (30, 20, 8))
    dout = rng.standard_normal(x.shape)
    keep = assert_inverted_dropout(to_numpy(rnn(xp.asarray(x))[0]), x, p)
    dx, _ = rnn.backward(xp.asarray(dout))
    np.testing.assert_allclose(to_numpy(dx), dout * keep / (1 - p), rtol=1e-15, atol=0)


def _split_layers(layer, make):
    """The two layers of a 2-layer, one-direction ``layer`` as two 1-layer modules."""
    state = layer.state_dict()
    first = make(layer.input_size, layer.hidden_size, dtype="float64")
    second = make(layer.hidden_size, layer.hidden_size, dtype="float64")
    first.load_state_dict({k: v for k, v in state.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if k.endswith("_l1")})
    return first, second


def _rows(state, index):
    """Row(s) ``index`` of h_n, or of (h_n, c_n)."""
    return tuple(s[index] for s in state) if isinstance(state, tuple) else state[index]


def _parts(state) -> list:
    """h_n -> [h_n]; (h_n, c_n) -> [h_n, c_n]."""
    return list(state) if isinstance(state, tuple) else [state]


def _stack(a, b):
    if isinstance(a, tuple):
        return tuple(np.concatenate(pair) for pair in zip(a, b))
    return np.concatenate([a, b])


@pytest.mark.parametrize("mode", list(MAKERS))
def test_between_layer_dropout_equals_the_layers_run_apart(rng, mode):
    """A 2-layer layer in train mode equals layer 0, then x * keep / (1 - p), then layer 1,
    forward and backward, with ``keep`` redrawn from the same seed."""
    make, p = MAKERS[mode], 0.5
    layer = make(D, H, num_layers=2, dropout=p, dtype="float64").train()
    x, dout = rng.standard_normal((T, N, D)), rng.standard_normal((T, N, H))
    dh_n = rng.standard_normal((2, N, H))
    dh_n = (dh_n, rng.standard_normal((2, N, H))) if mode == "LSTM" else dh_n
    mr.manual_seed(11)
    out, state_n = layer(x)
    dx, dstate0 = layer.backward(dout, dh_n)

    first, second = _split_layers(layer, make)
    out0, state0 = first(x)
    mr.manual_seed(11)  # the only draw of the forward above: layer 1's input mask
    keep = bernoulli_keep_mask(out0.shape, 1 - p, out0.dtype, like=out0)
    assert 0 < keep.mean() < 1
    out1, state1 = second(out0 * keep / (1 - p))
    np.testing.assert_allclose(out, out1, rtol=1e-13, atol=1e-15)
    for ours, apart in zip(_parts(state_n), _parts(_stack(state0, state1)), strict=True):
        np.testing.assert_allclose(ours, apart, rtol=1e-13, atol=1e-15)

    dz, dstate1 = second.backward(dout, _rows(dh_n, slice(1, 2)))
    dx_apart, dstate00 = first.backward(dz * keep / (1 - p), _rows(dh_n, slice(0, 1)))
    np.testing.assert_allclose(dx, dx_apart, rtol=1e-12, atol=1e-14)
    for ours, apart in zip(_parts(dstate0), _parts(_stack(dstate00, dstate1)), strict=True):
        np.testing.assert_allclose(ours, apart, rtol=1e-12, atol=1e-14)
    for name, p_ in layer.named_parameters():
        part, key = (first, name) if name.endswith("_l0") else (second, name.replace("_l1", "_l0"))
        np.testing.assert_allclose(p_.grad, dict(part.named_parameters())[key].grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", list(MAKERS))
def test_between_layer_dropout_one_gives_zeros_not_nan(rng, mode, xp):
    """dropout=1.0: layer 1 sees zeros; nothing flows back into layer 0, the input or W_ih of layer 1."""
    make = MAKERS[mode]
    layer = make(D, H, num_layers=2, dropout=1.0, dtype="float64").train()
    x, dout = xp.asarray(rng.standard_normal((T, N, D))), xp.asarray(rng.standard_normal((T, N, H)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = layer(x)
        dx, _ = layer.backward(dout)
    _, second = _split_layers(layer, make)
    np.testing.assert_array_equal(to_numpy(out), to_numpy(second(xp.zeros((T, N, H)))[0]))
    assert np.all(to_numpy(dx) == 0)
    for name, p in layer.named_parameters():
        grad = to_numpy(p.grad)
        if name.endswith("_l0") or name == "weight_ih_l1":  # dW_ih = sum dgates^T x, and x = 0
            assert np.all(grad == 0), name
        else:
            assert np.all(np.isfinite(grad)) and np.any(grad != 0), name


def test_seq2seq_with_dropout_one_trains_without_nan(rng):
    """The symptom of the old bug: a 2-layer GRU encoder returned NaN, and attention refused its keys."""
    model = Seq2Seq(9, 8, embed_dim=4, hidden_size=5, num_layers=2, dropout=1.0, dtype="float64").train()
    src, tgt_in = rng.integers(1, 9, (3, 5)), rng.integers(1, 8, (3, 4))
    logits = model(src, np.array([5, 2, 4]), tgt_in)
    assert np.all(np.isfinite(logits))
    model.backward(rng.standard_normal(logits.shape))
    assert all(np.all(np.isfinite(p.grad)) for p in model.parameters())
