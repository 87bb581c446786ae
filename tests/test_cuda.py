"""The fast recurrent path on every backend equals the NumPy reference.

Runs through the ``xp`` fixture (tests/conftest.py): always on NumPy, and on CuPy
where a GPU is visible (skipped cleanly elsewhere). On CuPy this covers the fused
kernels of ``minirnn.fast.cuda_kernels``: first each kernel against the unfused
step functions of ``minirnn.fast.pointwise`` on the same device arrays, then whole
layers (forward, final states, dx, dstate0, every parameter gradient) against the
NumPy reference path. Everywhere, the kernels' bodies also run through a small
NumPy emulator of ``ElementwiseKernel``, so their math and argument order are
checked on machines without a GPU.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import types
from pathlib import Path

import numpy as np
import pytest

import minirnn as mr
from minirnn import backend
from minirnn.backend import to_numpy
from minirnn.fast import pointwise
from minirnn.fast import recurrent as fast_recurrent

T, N, D, H, PROJ = 5, 4, 3, 6, 2
RAGGED = np.array([5, 2, 4, 1])


def _random(xp, rng, shape, dtype=np.float64):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def _assert_close(a, b, tol):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=tol, atol=tol)


# ------------------------------------------------------------------ kernels vs unfused step functions


@pytest.mark.parametrize("nonlinearity", ("tanh", "relu"))
def test_rnn_step_kernels(xp, rng, nonlinearity):
    ops = fast_recurrent._ops(xp)
    h, x_part = _random(xp, rng, (N, H)), _random(xp, rng, (N, H))
    want = h.copy()
    pointwise.rnn_step_forward(want, x_part, nonlinearity)
    ops.rnn_step_forward(h, x_part, nonlinearity)
    _assert_close(h, want, 1e-12)
    dh = _random(xp, rng, (N, H))
    da, da_want = xp.empty_like(h), xp.empty_like(h)
    pointwise.rnn_step_backward(da_want, dh, h, nonlinearity, xp.empty_like(h))
    ops.rnn_step_backward(da, dh, h, nonlinearity, xp.empty_like(h))
    _assert_close(da, da_want, 1e-12)


def test_lstm_step_kernels(xp, rng):
    ops = fast_recurrent._ops(xp)
    gates, hh, c_prev = _random(xp, rng, (N, 4 * H)), _random(xp, rng, (N, 4 * H)), _random(xp, rng, (N, H))
    results = []
    for fn in (pointwise.lstm_step_forward, ops.lstm_step_forward):
        g, c, tanh_c, m = gates.copy(), xp.empty_like(c_prev), xp.empty_like(c_prev), xp.empty_like(c_prev)
        fn(g, hh, c_prev, c, tanh_c, m, None)
        results.append((g, c, tanh_c, m))
    for a, b in zip(*results):
        _assert_close(a, b, 1e-12)
    activations, _, tanh_c, _ = results[0]
    dm, dc = _random(xp, rng, (N, H)), _random(xp, rng, (N, H))
    scratch = (xp.empty((N, 4 * H)), xp.empty((N, 4 * H)), xp.empty((N, H)))
    results = []
    for fn in (pointwise.lstm_step_backward, ops.lstm_step_backward):
        g, dc_step = activations.copy(), dc.copy()
        fn(g, dm, tanh_c, c_prev, dc_step, scratch)
        results.append((g, dc_step))
    for a, b in zip(*results):
        _assert_close(a, b, 1e-12)


@pytest.mark.parametrize("bias", (True, False))
def test_gru_step_kernels(xp, rng, bias):
    ops = fast_recurrent._ops(xp)
    gates, gh, h_prev = _random(xp, rng, (N, 3 * H)), _random(xp, rng, (N, 3 * H)), _random(xp, rng, (N, H))
    b_hn = _random(xp, rng, (H,)) if bias else None
    results = []
    for fn in (pointwise.gru_step_forward, ops.gru_step_forward):
        g, hid, h = gates.copy(), gh.copy(), xp.empty_like(h_prev)
        fn(g, hid, b_hn, h_prev, h, xp.empty((N, H)))
        results.append((g, hid, h))
    for a, b in zip(*results):
        _assert_close(a, b, 1e-12)
    activations, hidden_part, _ = results[0]
    dh = _random(xp, rng, (N, H))
    results = []
    for fn in (pointwise.gru_step_backward, ops.gru_step_backward):
        g, hid, dh_z = activations.copy(), hidden_part.copy(), xp.empty_like(dh)
        fn(g, hid, dh, h_prev, dh_z, (xp.empty((N, H)), xp.empty((N, 2 * H))))
        results.append((g, hid, dh_z))
    for a, b in zip(*results):
        _assert_close(a, b, 1e-12)


# ------------------------------------------------------------------ whole layers vs the NumPy reference


def _layer(kind, impl, dtype, **options):
    mr.manual_seed(3)
    if kind.startswith("rnn"):
        return mr.RNN(D, H, nonlinearity=kind[4:], dtype=dtype, impl=impl, **options)
    return (mr.LSTM if kind == "lstm" else mr.GRU)(D, H, dtype=dtype, impl=impl, **options)


def _flatten(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flatten(v)]
    return [value]


def _run(model, xp, x, hx, lengths, dout, dstate):
    def put(a):
        return None if a is None else xp.asarray(a)

    def tree(v):
        return tuple(put(a) for a in v) if isinstance(v, tuple) else put(v)

    model.zero_grad()
    out, state = model(put(x), tree(hx), lengths=lengths)
    dx, dstate0 = model.backward(put(dout), tree(dstate))
    grads = [p.grad for _, p in model.named_parameters()]
    return [to_numpy(a) for a in _flatten((out, state, dx, dstate0, grads))]


CASES = list(itertools.product(("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"), (False, True), (None, "ragged")))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("kind,bidirectional,lengths", CASES)
def test_fast_layer_on_backend_equals_numpy_reference(xp, rng, kind, bidirectional, lengths, dtype, tol):
    proj = PROJ if kind == "lstm_proj" else 0
    kind = kind.replace("_proj", "")
    backend.set_backend("numpy")  # build both layers on the host; the fast one moves below
    options = dict(num_layers=2, bidirectional=bidirectional) | ({"proj_size": proj} if proj else {})
    ref = _layer(kind, "reference", dtype, **options)
    for _, p in ref.named_parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, size=p.data.shape)
    fast = _layer(kind, "fast", dtype, **options)
    fast.load_state_dict(ref.state_dict())
    fast.to("cupy" if xp is not np else "numpy")
    layers, dirs, out_size = 2 * (1 + bidirectional), 1 + bidirectional, proj or H
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((layers, N, out_size)).astype(dtype)
    c0 = rng.standard_normal((layers, N, H)).astype(dtype)
    dout = rng.standard_normal((T, N, dirs * out_size)).astype(dtype)
    dh = rng.standard_normal((layers, N, out_size)).astype(dtype)
    dc = rng.standard_normal((layers, N, H)).astype(dtype)
    hx, dstate = ((h0, c0), (dh, dc)) if kind == "lstm" else (h0, dh)
    lengths = None if lengths is None else RAGGED
    got = _run(fast, xp, x, hx, lengths, dout, dstate)
    want = _run(ref, np, x, hx, lengths, dout, dstate)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------------ kernel bodies, emulated on the CPU


class _EmulatedElementwiseKernel:
    """Runs an ElementwiseKernel body as vectorised NumPy: enough C for our kernels
    (``T x = expr;``, ``(T)`` casts, ``tanh``, ``c ? a : b``), so the kernels' math and
    argument order are checked on machines without a GPU. Each statement applies to
    every element at once, which matches one thread per element because no kernel
    reads another element."""

    def __init__(self, in_params, out_params, operation, name):
        self.inputs = [p.split()[-1] for p in in_params.split(",")]
        self.outputs = [p.split()[-1] for p in out_params.split(",")]
        for param in self.inputs + self.outputs:
            assert param not in ("i", "n") and not param.startswith("_"), f"{name}: {param} is reserved by CuPy"
        lines = []
        for statement in filter(None, (s.strip() for s in operation.split(";"))):
            statement = re.sub(r"^T\s+", "", statement.replace("(T)", ""))
            ternary = re.match(r"(\w+) = (.*?) \? (.*?) : (.*)$", statement)
            if ternary:
                statement = f"{ternary[1]} = np.where({ternary[2]}, {ternary[3]}, {ternary[4]})"
            lines.append(statement.replace("tanh(", "np.tanh("))
        self.code = "\n".join(lines)

    def __call__(self, *args):
        assert len(args) == len(self.inputs) + len(self.outputs)
        names = dict(zip(self.inputs + self.outputs, args))
        scope = {"np": np, **{k: (v.copy() if k in self.outputs else v) for k, v in names.items()}}
        exec(self.code, scope)
        for name in self.outputs:
            names[name][...] = scope[name]


@pytest.fixture
def emulated_kernels(monkeypatch):
    """minirnn.fast.cuda_kernels loaded against the emulator, and the fast loop routed through it."""
    fake_cupy = types.SimpleNamespace(ElementwiseKernel=_EmulatedElementwiseKernel)
    monkeypatch.setattr(backend, "backend_module", lambda name=None: fake_cupy)
    path = Path(fast_recurrent.__file__).with_name("cuda_kernels.py")
    spec = importlib.util.spec_from_file_location("minirnn.fast._cuda_kernels_emulated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not registered in sys.modules: real CuPy runs never see it
    monkeypatch.setattr(fast_recurrent, "_ops", lambda xp: module)
    return module


@pytest.mark.parametrize("kind", ("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru", "gru_nobias"))
def test_cuda_kernel_bodies_emulated(emulated_kernels, rng, kind):
    options = dict(num_layers=2, bidirectional=True)
    if kind == "lstm_proj":
        options["proj_size"] = PROJ
    if kind == "gru_nobias":
        options["bias"] = False
    kind = kind.replace("_proj", "").replace("_nobias", "")
    ref = _layer(kind, "reference", np.float64, **options)
    fast = _layer(kind, "fast", np.float64, **options)
    fast.load_state_dict(ref.state_dict())
    out_size, layers = options.get("proj_size") or H, 4
    x = rng.standard_normal((T, N, D))
    h0, c0 = rng.standard_normal((layers, N, out_size)), rng.standard_normal((layers, N, H))
    dout = rng.standard_normal((T, N, 2 * out_size))
    dh, dc = rng.standard_normal((layers, N, out_size)), rng.standard_normal((layers, N, H))
    hx, dstate = ((h0, c0), (dh, dc)) if kind == "lstm" else (h0, dh)
    got = _run(fast, np, x, hx, RAGGED, dout, dstate)
    want = _run(ref, np, x, hx, RAGGED, dout, dstate)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
