"""The fast recurrent path (``impl="fast"``) equals the reference path, for every option.

Same weights, same inputs, same upstream gradients through ``impl="fast"`` and
``impl="reference"`` layers: outputs, final states, dx, dstate0 and every parameter
gradient agree to ~1e-12 in float64 and ~1e-5 in float32.
"""

from __future__ import annotations

import contextlib
import itertools
from types import SimpleNamespace

import numpy as np
import pytest

import minirnn as mr
from minirnn.fast import recurrent as fast_recurrent
from minirnn.fast import threads
from minirnn.functional import recurrent as ref_recurrent

T, N, D, H, PROJ = 6, 5, 4, 7, 3
RAGGED = np.array([6, 2, 4, 1, 6])  # unsorted, with ties, a length-1 and a full one


def _make(kind, impl, dtype, **options):
    mr.manual_seed(7)
    if kind.startswith("rnn"):
        return mr.RNN(D, H, nonlinearity=kind[4:], dtype=dtype, impl=impl, **options)
    cls = mr.LSTM if kind == "lstm" else mr.GRU
    return cls(D, H, dtype=dtype, impl=impl, **options)


def _randomise(model, rng):
    """Non-zero random biases and weights (no structure a bug could hide behind)."""
    for _, p in model.named_parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, size=p.data.shape)


def _run(model, x, hx, lengths, dout, dstate):
    model.zero_grad()
    out, state = model(x, hx, lengths=lengths)
    dx, dstate0 = model.backward(dout, dstate)
    grads = {name: p.grad for name, p in model.named_parameters()}
    return out, state, dx, dstate0, grads


def _flatten(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flatten(v)]
    return [value]


def _compare(kind, dtype, tol, *, num_layers=1, bidirectional=False, lengths=None, use_hx=False, proj_size=0,
             bias=True, batch_first=False, dout_none=False, dstate_none=False, seed=0):
    rng = np.random.default_rng(seed)
    options = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias, batch_first=batch_first)
    if proj_size:
        options["proj_size"] = proj_size
    fast = _make(kind, "fast", dtype, **options)
    ref = _make(kind, "reference", dtype, **options)
    _randomise(ref, rng)
    fast.load_state_dict(ref.state_dict())
    layers = num_layers * (2 if bidirectional else 1)
    out_size = proj_size or H
    x = rng.standard_normal((N, T, D) if batch_first else (T, N, D)).astype(dtype)
    hx = None
    if use_hx:
        h0 = rng.standard_normal((layers, N, out_size)).astype(dtype)
        hx = (h0, rng.standard_normal((layers, N, H)).astype(dtype)) if kind == "lstm" else h0
    dirs = 2 if bidirectional else 1
    dout_shape = (N, T, dirs * out_size) if batch_first else (T, N, dirs * out_size)
    dout = None if dout_none else rng.standard_normal(dout_shape).astype(dtype)
    dh = rng.standard_normal((layers, N, out_size)).astype(dtype)
    if dstate_none:
        dstate = None
    elif kind == "lstm":
        dstate = (dh, rng.standard_normal((layers, N, H)).astype(dtype))
    else:
        dstate = dh
    got = _run(fast, x, hx, lengths, dout, dstate)
    want = _run(ref, x, hx, lengths, dout, dstate)
    for label, g, w in zip(("out", "state", "dx", "dstate0"), got[:4], want[:4]):
        for a, b in zip(_flatten(g), _flatten(w)):
            assert a.dtype == np.dtype(dtype), label
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=label)
    assert got[4].keys() == want[4].keys()
    for name in want[4]:
        assert got[4][name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got[4][name], want[4][name], rtol=tol, atol=tol, err_msg=name)
    if lengths is not None:  # outputs are exactly zero past each length
        out = got[0].swapaxes(0, 1) if batch_first else got[0]
        for n, length in enumerate(lengths):
            assert not np.any(out[length:, n])


KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GRID = list(itertools.product(KINDS, (1, 2), (False, True), (None, "ragged"), (False, True)))


@pytest.mark.parametrize("kind,num_layers,bidirectional,lengths,use_hx", GRID)
def test_fast_equals_reference_float64(kind, num_layers, bidirectional, lengths, use_hx):
    _compare(kind, np.float64, 1e-11, num_layers=num_layers, bidirectional=bidirectional,
             lengths=None if lengths is None else RAGGED, use_hx=use_hx)


@pytest.mark.parametrize("num_layers,bidirectional,lengths,use_hx",
                         list(itertools.product((1, 2), (False, True), (None, "ragged"), (False, True))))
def test_fast_equals_reference_lstm_projection(num_layers, bidirectional, lengths, use_hx):
    _compare("lstm", np.float64, 1e-11, num_layers=num_layers, bidirectional=bidirectional,
             lengths=None if lengths is None else RAGGED, use_hx=use_hx, proj_size=PROJ)


@pytest.mark.parametrize("kind", KINDS + ("lstm_proj",))
@pytest.mark.parametrize("lengths", (None, "ragged"))
def test_fast_equals_reference_without_bias(kind, lengths):
    proj = PROJ if kind == "lstm_proj" else 0
    _compare(kind.replace("_proj", ""), np.float64, 1e-11, num_layers=2, bidirectional=True, proj_size=proj,
             lengths=None if lengths is None else RAGGED, use_hx=True, bias=False)


@pytest.mark.parametrize("kind", KINDS + ("lstm_proj",))
@pytest.mark.parametrize("dout_none,dstate_none", [(True, False), (False, True)])
def test_fast_equals_reference_partial_upstream(kind, dout_none, dstate_none):
    proj = PROJ if kind == "lstm_proj" else 0
    _compare(kind.replace("_proj", ""), np.float64, 1e-11, bidirectional=True, proj_size=proj, lengths=RAGGED,
             dout_none=dout_none, dstate_none=dstate_none, batch_first=True)


@pytest.mark.parametrize("kind", KINDS + ("lstm_proj",))
@pytest.mark.parametrize("lengths", (None, "ragged"))
def test_fast_equals_reference_float32(kind, lengths):
    proj = PROJ if kind == "lstm_proj" else 0
    _compare(kind.replace("_proj", ""), np.float32, 2e-5, num_layers=2, bidirectional=True, proj_size=proj,
             lengths=None if lengths is None else RAGGED, use_hx=True)


@pytest.mark.parametrize("lengths", ([1, 1, 1, 1, 1], [6, 6, 6, 6, 6], [1, 6, 1, 6, 3], [2, 3, 4, 5, 6]))
@pytest.mark.parametrize("kind", ("lstm", "gru"))
def test_fast_equals_reference_edge_lengths(kind, lengths):
    _compare(kind, np.float64, 1e-11, bidirectional=True, lengths=np.array(lengths), use_hx=True)


@pytest.mark.parametrize("mode", ("rnn_tanh", "lstm", "gru"))
@pytest.mark.parametrize("reverse", (False, True))
def test_functional_signatures_match(mode, reverse, rng):
    """The functional fast pair returns what the reference pair returns, shape for shape."""
    gates = {"rnn_tanh": 1, "lstm": 4, "gru": 3}[mode]
    params = tuple(rng.standard_normal(s) for s in ((gates * H, D), (gates * H, H), (gates * H,), (gates * H,)))
    x = rng.standard_normal((T, N, D))
    state0 = (rng.standard_normal((N, H)),) + ((rng.standard_normal((N, H)),) if mode == "lstm" else ())
    results = []
    for module in (fast_recurrent, ref_recurrent):
        out, state_n, cache = module.recurrent_forward(mode, x, state0, params, RAGGED, reverse)
        dout = np.ones_like(out) * np.arange(1, T + 1)[:, None, None]
        dx, dstate0, dparams = module.recurrent_backward(dout, (None,) * len(state0), cache)
        results.append(_flatten((out, state_n, dx, dstate0, dparams)))
    for a, b in zip(*results):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_fast_does_not_upcast_float32():
    lstm = mr.LSTM(D, H, dtype="float32", impl="fast")
    x = np.random.default_rng(0).standard_normal((T, N, D)).astype(np.float32)
    out, (h, c) = lstm(x, lengths=RAGGED)
    dx, (dh0, dc0) = lstm.backward(np.ones_like(out))
    for a in (out, h, c, dx, dh0, dc0) + tuple(p.grad for p in lstm.parameters()):
        assert a.dtype == np.float32


# ------------------------------------------------------------------ BLAS threads of the per-step GEMMs


class _FakeController:
    def __init__(self):
        self.limits = []

    def limit(self, limits):
        self.limits.append(limits)
        return contextlib.nullcontext()


@pytest.mark.parametrize("faster", (1, 4))
def test_step_thread_calibration_picks_the_faster_count(faster):
    timed = []

    def timer(h, w_t, dgates, w, count, controller):
        timed.append((h.shape, w_t.shape, dgates.shape, w.shape, count))
        return 1.0 if count == faster else 2.0

    w_hh_t = np.zeros((5, 12), np.float32)
    assert threads.calibrate(8, w_hh_t, None, 4, timer=timer) == faster
    assert len(timed) == 2 * threads.ROUNDS  # interleaved: both counts every round
    assert {t[-1] for t in timed} == {1, 4}
    assert timed[0][:4] == ((8, 5), (5, 12), (8, 12), (12, 5))  # the step's forward and backward GEMMs


def test_step_threads_calibrate_once_per_shape(monkeypatch):
    controller, calibrated = _FakeController(), []
    monkeypatch.setattr(threads, "_blas", lambda: (controller, 2))
    monkeypatch.setattr(threads, "_choices", {})
    monkeypatch.setattr(threads, "calibrate", lambda batch, w_t, c, m: calibrated.append(batch) or 1)
    schedule = SimpleNamespace(batch=3)
    w_hh_t = np.zeros((4, 8), np.float32)
    for _ in range(3):
        with threads.step_threads("lstm", schedule, w_hh_t, np):
            pass
    assert calibrated == [3] and controller.limits == [1, 1, 1]
    assert threads.choices() == {(3, 4, 8, "<f4", 2): 1}


@pytest.mark.parametrize("kind", ("lstm", "gru"))
@pytest.mark.parametrize("count", ("one", "all"))
def test_fast_equals_reference_on_either_thread_count(monkeypatch, kind, count):
    monkeypatch.setattr(threads, "_choices", {})
    monkeypatch.setattr(threads, "calibrate", lambda batch, w_t, c, max_threads: 1 if count == "one" else max_threads)
    _compare(kind, np.float64, 1e-11, bidirectional=True, lengths=RAGGED, use_hx=True)
