"""The fast path's reused scratch memory (``minirnn.fast.workspace``).

Reusing buffers is only safe if nothing still reads a buffer once it is given back;
these tests run the fast loop in the orders that would expose a buffer handed out
twice (forwards interleaved before their backwards, a forward whose backward never
comes, one layer's backward feeding the next) and compare with fresh runs.
"""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr
from minirnn.fast import recurrent as fast
from minirnn.fast import workspace as ws


def test_take_reuses_the_smallest_buffer_that_fits():
    space = ws.Workspace()
    small, large = space.take((2, 3), np.float32), space.take((10, 10), np.float32)
    space.give(small, large)
    again = space.take((3, 2), np.float32)
    assert again.shape == (3, 2) and again.dtype == np.float32
    assert np.shares_memory(again, small) and not np.shares_memory(again, large)
    other = space.take((3, 2), np.float64)  # another dtype never shares
    assert not np.shares_memory(other, large)


def test_a_buffer_is_handed_out_once_until_given_back():
    space = ws.Workspace()
    first = space.take((4, 4), np.float64)
    space.give(first)
    a, b = space.take((4, 4), np.float64), space.take((4, 4), np.float64)
    assert not np.shares_memory(a, b)
    space.give(a[1:], a)  # a view and its owner: the buffer is kept once
    assert space.held_bytes() == first.nbytes


def test_held_memory_is_bounded():
    space = ws.Workspace(limit_bytes=1000)
    space.give(np.empty(100, np.float64), np.empty(50, np.float64), np.empty(10, np.float64))
    assert space.held_bytes() <= 1000
    assert space.held_bytes() == 60 * 8  # the largest went back to the allocator
    space.clear()
    assert space.held_bytes() == 0


def _params(rng, mode, d, h, g):
    shapes = [(g * h, d), (g * h, h), (g * h,), (g * h,)]
    return [rng.uniform(-0.5, 0.5, s) for s in shapes]


@pytest.mark.parametrize("mode, gates", [("lstm", 4), ("gru", 3), ("rnn_tanh", 1)])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
def test_interleaved_calls_equal_fresh_calls(mode, gates, lengths):
    """forward A, forward B, forward C (never backwarded), backward B, backward A:
    each result equals that of a call made alone with an empty workspace."""
    rng = np.random.default_rng(0)
    t, n, d, h = 5, 3, 4, 6
    runs = []
    for _ in range(3):
        x = rng.standard_normal((t, n, d))
        state0 = tuple(rng.standard_normal((n, h)) for _ in range(2 if mode == "lstm" else 1))
        runs.append((x, state0, _params(rng, mode, d, h, gates), rng.standard_normal((t, n, h))))

    def alone(x, state0, params, dout):
        ws.workspace_for(np).clear()
        out, state_n, cache = fast.recurrent_forward(mode, x, state0, params, lengths)
        return (out, state_n) + fast.recurrent_backward(dout, (None,) * len(state0), cache)

    expected = [alone(*run) for run in runs]
    ws.workspace_for(np).clear()
    forwards = [fast.recurrent_forward(mode, x, s0, p, lengths) for x, s0, p, _ in runs]
    results = {}
    for k in (1, 0):
        out, state_n, cache = forwards[k]
        results[k] = (out, state_n) + fast.recurrent_backward(runs[k][3], (None,) * len(runs[k][1]), cache)
        fast.recurrent_forward(mode, *runs[2][:3], lengths)  # more traffic through the workspace
    for k in (0, 1):
        for got, want in zip(_flat(results[k]), _flat(expected[k])):
            np.testing.assert_array_equal(got, want)


def _flat(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    return [] if value is None else [value]


def test_repeated_training_steps_are_identical():
    """Ten fwd+bwd steps of a 2-layer bidirectional LSTM through the same (reused)
    buffers give bit-identical outputs and gradients every time."""
    mr.manual_seed(0)
    model = mr.LSTM(4, 5, num_layers=2, bidirectional=True, dtype="float64")
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((6, 3, 4)), rng.standard_normal((6, 3, 10))
    first = None
    for _ in range(10):
        model.zero_grad()
        out, _ = model(x, lengths=[6, 3, 5])
        dx, _ = model.backward(dout)
        now = [out, dx] + [p.grad.copy() for p in model.parameters()]
        if first is None:
            first = now
        for got, want in zip(now, first):
            np.testing.assert_array_equal(got, want)


def test_returned_arrays_never_come_from_the_workspace():
    """Outputs, states and gradients belong to the caller: later calls never write into them."""
    rng = np.random.default_rng(2)
    params = _params(rng, "lstm", 3, 4, 4)
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 4))
    state0 = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))
    out, state_n, cache = fast.recurrent_forward("lstm", x, state0, params)
    dx, dstate0, dparams = fast.recurrent_backward(dout, (None, None), cache)
    kept = [a.copy() for a in _flat((out, state_n, dx, dstate0, dparams))]
    for _ in range(3):
        _, _, c = fast.recurrent_forward("lstm", x * 2, state0, params)
        fast.recurrent_backward(dout * 3, (None, None), c)
    for got, want in zip(_flat((out, state_n, dx, dstate0, dparams)), kept):
        np.testing.assert_array_equal(got, want)


def test_empty_cache_releases_what_the_loop_kept():
    model = mr.LSTM(3, 8, dtype="float64")
    model(np.ones((4, 2, 3)))
    model.backward(np.ones((4, 2, 8)))
    assert ws.workspace_for(np).held_bytes() > 0
    released = mr.fast.empty_cache()
    assert released > 0 and ws.workspace_for(np).held_bytes() == 0
    out, _ = model(np.ones((4, 2, 3)))  # and the loop still runs
    assert np.isfinite(out).all()
