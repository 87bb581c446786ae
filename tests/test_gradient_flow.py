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
