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
    small, large = space.take((2, 3), np.float32), space.take((3, 4), np.float32)
    space.give(small, large)
    again = space.take((3, 2), np.float32)
    assert again.shape == (3, 2) and again.dtype == np.float32
    assert np.shares_memory(again, small) and not np.shares_memory(again, large)
    other = space.take((3, 2), np.float64)  # another dtype never shares
    assert not np.shares_memory(other, large)


def test_a_much_larger_buffer_does_not_serve_a_small_request():
    space = ws.Workspace()
    big = space.take((1000,), np.float64)
    space.give(big)
    small = space.take((10,), np.float64)  # 100x smaller: a new array, the big one stays free
    assert not np.shares_memory(small, big) and space.held_bytes() == big.nbytes
    assert np.shares_memory(space.take((600,), np.float64), big)  # within 2x: reused


def test_a_buffer_is_handed_out_once_until_given_back():
    space = ws.Workspace()
    first = space.take((4, 4), np.float64)
    space.give(first)
    a, b = space.take((4, 4), np.float64), space.take((4, 4), np.float64)
    assert not np.shares_memory(a, b)
    space.give(a[1:], a)  # a view and its owner: the buffer comes back once
    assert space.held_bytes() == first.nbytes


def test_give_ignores_arrays_it_did_not_hand_out():
    """A view of the caller's memory given by mistake must never be written into later."""
    space = ws.Workspace()
    user = np.arange(12.0).reshape(3, 4)
    space.give(user[1:], user, np.ones(5))
    assert space.held_bytes() == 0
    space.take((2, 2), np.float64)[...] = -1
    np.testing.assert_array_equal(user, np.arange(12.0).reshape(3, 4))


def test_held_memory_is_bounded_and_the_least_recently_returned_go_first():
    space = ws.Workspace(limit_bytes=1000)
    old, middle, new = (space.take((n,), np.float64) for n in (50, 60, 70))  # 400, 480, 560 bytes
    space.give(old)
    space.give(middle)
    space.give(new)  # 1440 bytes: the oldest two go, though smaller
    assert space.held_bytes() == new.nbytes
    assert np.shares_memory(space.take((70,), np.float64), new)
    counted = ws.Workspace(limit_buffers=2)
    arrays = [counted.take((8,), np.float32) for _ in range(3)]
    counted.give(*arrays)
    assert counted.held_bytes() == 2 * arrays[0].nbytes
    assert counted.clear() == 2 * arrays[0].nbytes and counted.held_bytes() == 0


def test_variable_lengths_keep_the_workspace_bounded():
    """Training on batches of many lengths: the free buffers stay near one step's working set."""
    mr.manual_seed(0)
    model = mr.LSTM(8, 16, num_layers=2, bidirectional=True, dtype="float32")
    rng = np.random.default_rng(0)
    space = ws.workspace_for(np)
    space.clear()
    held = []
    for steps in rng.integers(5, 120, size=60):
        x = rng.standard_normal((steps, 4, 8)).astype(np.float32)
        model(x)
        model.backward(np.ones((steps, 4, 32), np.float32))
        held.append(space.held_bytes())
    one_step = 2 * 2 * 119 * 4 * 4 * 16 * 4 * 4  # layers * directions * (R, 4H) float32 * ~4 arrays
    assert max(held) < 8 * one_step and len(space._free) <= ws.LIMIT_BUFFERS


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
    buffers give bit-identical outputs and gradients every time, equal to the
    readable reference loop."""
    mr.manual_seed(0)
    model = mr.LSTM(4, 5, num_layers=2, bidirectional=True, dtype="float64")
    reference = mr.LSTM(4, 5, num_layers=2, bidirectional=True, dtype="float64", impl="reference")
    reference.load_state_dict(model.state_dict())
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((6, 3, 4)), rng.standard_normal((6, 3, 10))

    def step(layer):
        layer.zero_grad()
        out, _ = layer(x, lengths=[6, 3, 5])
        dx, _ = layer.backward(dout)
        return [out, dx] + [p.grad.copy() for p in layer.parameters()]

    want = step(reference)
    first = step(model)
    for got, expected in zip(first, want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for _ in range(9):
        for got, expected in zip(step(model), first):
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["lstm", "lstm_proj", "gru", "gru_nobias", "rnn_relu"])
@pytest.mark.parametrize("packed", [False, True])
def test_returned_arrays_never_share_memory_with_the_workspace(monkeypatch, kind, packed):
    """Outputs, states and gradients belong to the caller: none of them shares memory
    with any array the workspace handed out, and later calls never change them."""
    taken = []
    original = ws.Workspace.take

    def recording(self, shape, dtype):
        taken.append(original(self, shape, dtype))
        return taken[-1]

    monkeypatch.setattr(ws.Workspace, "take", recording)
    mr.manual_seed(3)
    options = {"proj_size": 2} if kind == "lstm_proj" else {"bias": False} if kind == "gru_nobias" else {}
    if kind.startswith("rnn"):
        model = mr.RNN(3, 4, nonlinearity="relu", num_layers=2, bidirectional=True, dtype="float64")
    else:
        cls = mr.LSTM if kind.startswith("lstm") else mr.GRU
        model = cls(3, 4, num_layers=2, bidirectional=True, dtype="float64", **options)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3, 3))
    lengths = [5, 2, 4] if packed else None
    out, state = model(x, lengths=lengths)
    dx, dstate = model.backward(rng.standard_normal(out.shape))
    returned = _flat((out, state, dx, dstate)) + [p.grad for p in model.parameters()]
    assert taken
    for a in returned:
        assert not any(np.shares_memory(a, t) for t in taken)
    kept = [a.copy() for a in returned]
    for _ in range(2):
        model(x * 2, lengths=lengths)
        model.backward(np.ones_like(out))
    for got, want in zip(returned[:4], kept[:4]):  # (the gradients accumulate by design)
        np.testing.assert_array_equal(got, want)


def test_empty_cache_releases_what_every_thread_kept():
    import threading

    def train():
        model = mr.LSTM(3, 8, dtype="float64")
        model(np.ones((4, 2, 3)))
        model.backward(np.ones((4, 2, 8)))

    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    train()
    assert ws.workspace_for(np).held_bytes() > 0
    released = mr.fast.empty_cache()
    assert released > ws.workspace_for(np).held_bytes() == 0
    assert mr.fast.empty_cache() == 0  # the worker's buffers went too


def test_a_forward_under_no_grad_gives_its_buffers_back():
    """Evaluation between training steps neither leaks the loop's scratch nor needs a backward."""
    mr.manual_seed(0)
    model = mr.GRU(3, 6, num_layers=2, dtype="float64")
    x = np.random.default_rng(0).standard_normal((7, 2, 3))
    space = ws.workspace_for(np)
    space.clear()
    with mr.no_grad():
        first, _ = model(x)
    held = space.held_bytes()
    assert held > 0 and not space._lent  # everything it took came back
    with mr.no_grad():
        again, _ = model(x)
    assert space.held_bytes() == held  # ... and was reused, not grown
    np.testing.assert_array_equal(first, again)
    out, _ = model(x)  # a training forward after it still computes the same
    np.testing.assert_array_equal(out, first)
    model.backward(np.ones_like(out))


def test_threads_training_at_once_match_one_thread():
    """Each thread has its own workspace: four threads training the same-shaped models at
    once give exactly what one thread gives."""
    import threading

    rng = np.random.default_rng(4)
    x, dout = rng.standard_normal((9, 3, 4)), rng.standard_normal((9, 3, 6))

    def train(results, k):
        with lock:  # the global seed and the draws of one construction, together
            mr.manual_seed(0)
            model = mr.GRU(4, 6, dtype="float64")
        for _ in range(5):
            model.zero_grad()
            out, _ = model(x, lengths=[9, 4, 7])
            dx, _ = model.backward(dout)
        results[k] = [out, dx] + [p.grad for p in model.parameters()]

    lock = threading.Lock()
    alone = {}
    train(alone, 0)
    together = {}
    workers = [threading.Thread(target=train, args=(together, k)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for k in range(4):
        for got, want in zip(together[k], alone[0]):
            np.testing.assert_array_equal(got, want)
