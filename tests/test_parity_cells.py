"""PyTorch parity of RNNCell (tanh, relu), GRUCell and LSTMCell used step by step.

A hand-written loop runs the cell for several steps; the loss puts a random
upstream gradient on every step's h (and c). minirnn then calls ``backward`` once
per step in reverse order, carrying the state gradient by hand, and its parameter
gradients must add up over the steps to what torch's autograd finds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_ref import assert_close, randomize_, state_dict_numpy, worst_error_report  # noqa: F401

import minirnn as mr

N, D, H, STEPS = 3, 4, 5, 4
KINDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]


def make_cells(kind, bias=True, seed=0):
    torch.manual_seed(seed)
    if kind.startswith("rnn_"):
        ref = torch.nn.RNNCell(D, H, bias=bias, nonlinearity=kind[4:], dtype=torch.float64)
        mine = mr.RNNCell(D, H, bias=bias, nonlinearity=kind[4:], dtype="float64")
    elif kind == "gru":
        ref, mine = torch.nn.GRUCell(D, H, bias=bias, dtype=torch.float64), mr.GRUCell(D, H, bias=bias, dtype="float64")
    else:
        ref = torch.nn.LSTMCell(D, H, bias=bias, dtype=torch.float64)
        mine = mr.LSTMCell(D, H, bias=bias, dtype="float64")
    randomize_(ref, seed=seed)
    mine.load_state_dict(state_dict_numpy(ref))
    return ref, mine


def _add(a, b):
    """a + b with None meaning zero (None + None stays None, as the cell's dc may be)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b


def run_loop(kind, *, bias=True, given_state=True, unbatched=False, last_dc_none=False, seed=0):
    rng = np.random.default_rng(seed)
    ref, mine = make_cells(kind, bias, seed)
    is_lstm = kind == "lstm"
    batch = () if unbatched else (N,)
    xs = [rng.standard_normal(batch + (D,)) for _ in range(STEPS)]
    dhs = [rng.standard_normal(batch + (H,)) for _ in range(STEPS)]
    dcs = [rng.standard_normal(batch + (H,)) for _ in range(STEPS)]
    if last_dc_none:
        dcs[-1] = None
    h0 = rng.standard_normal(batch + (H,)) if given_state else np.zeros(batch + (H,))
    c0 = rng.standard_normal(batch + (H,)) if given_state else np.zeros(batch + (H,))

    # torch: autograd over the whole loop
    xts = [torch.tensor(x, requires_grad=True) for x in xs]
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    h, c, loss, hs_t, cs_t = h0t, c0t, 0.0, [], []
    for t in range(STEPS):
        if is_lstm:
            h, c = ref(xts[t], (h, c))
            if dcs[t] is not None:
                loss = loss + (c * torch.tensor(dcs[t])).sum()
        else:
            h = ref(xts[t], h)
        loss = loss + (h * torch.tensor(dhs[t])).sum()
        hs_t.append(h)
        cs_t.append(c)
    loss.backward()

    # minirnn: forward loop, then one backward per step in reverse order
    state = ((h0, c0) if is_lstm else h0) if given_state else None
    hs, cs = [], []
    for t in range(STEPS):
        if is_lstm:
            state = mine(xs[t], state)
            hs.append(state[0])
            cs.append(state[1])
        else:
            state = mine(xs[t], state)
            hs.append(state)
    dxs = [None] * STEPS
    dh_next, dc_next = None, None  # the state gradient flowing back from step t + 1
    for t in reversed(range(STEPS)):
        if is_lstm:
            dxs[t], (dh_next, dc_next) = mine.backward((_add(dhs[t], dh_next), _add(dcs[t], dc_next)))
        else:
            dxs[t], dh_next = mine.backward(_add(dhs[t], dh_next))

    where = f"{kind} bias={bias} state={given_state} unbatched={unbatched}"
    for t in range(STEPS):
        assert_close(hs[t], hs_t[t], f"{where} h[{t}]")
        if is_lstm:
            assert_close(cs[t], cs_t[t], f"{where} c[{t}]")
        assert_close(dxs[t], xts[t].grad, f"{where} dx[{t}]")
    assert_close(dh_next, h0t.grad, f"{where} dh0")
    if is_lstm:
        assert_close(dc_next, c0t.grad, f"{where} dc0")
    grads = dict(mine.named_parameters())
    names = [n for n, _ in ref.named_parameters()]
    assert sorted(names) == sorted(grads)
    for name, p in ref.named_parameters():
        assert_close(grads[name].grad, p.grad, f"{where} grad:{name}")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("given_state", [False, True])
def test_cell_loop(kind, given_state):
    run_loop(kind, given_state=given_state, seed=1)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_loop_no_bias(kind):
    run_loop(kind, bias=False, seed=2)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_loop_unbatched(kind):
    run_loop(kind, unbatched=True, seed=3)


def test_lstm_cell_last_step_dc_none():
    run_loop("lstm", last_dc_none=True, seed=4)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_gradients_accumulate_until_zero_grad(kind):
    """Two loops without zero_grad give twice torch's gradients; zero_grad clears them."""
    _, mine = make_cells(kind, seed=5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, D))
    dh = rng.standard_normal((N, H))
    upstream = (dh, None) if kind == "lstm" else dh
    mine(x)
    mine.backward(upstream)
    once = {n: p.grad.copy() for n, p in mine.named_parameters()}
    mine(x)
    mine.backward(upstream)
    for n, p in mine.named_parameters():
        assert_close(p.grad, 2 * once[n], f"{kind} accumulated {n}")
    mine.zero_grad()
    assert all(p.grad is None for p in mine.parameters())
