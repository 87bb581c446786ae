"""The fast recurrent path on every backend equals the NumPy reference.

Runs through the ``xp`` fixture (tests/conftest.py): always on NumPy, and on CuPy
where a GPU is visible (skipped cleanly elsewhere). On CuPy this covers the fused
kernels (``cupy.fuse`` of the step functions in ``minirnn.fast.pointwise``): first
each kernel against the same function run by NumPy on the host, then whole layers
(forward, final states, dx, dstate0, every parameter gradient) against the NumPy
reference path.

There is no CUDA C source in minirnn to emulate: the CuPy kernels are compiled from
the very Python functions that NumPy runs, and the tests below check that on any
machine (the fused table wraps those functions themselves; the fast loop runs
through that table and still equals the reference; a fusion failure falls back to
the same function). A test also keeps C kernel text from coming back unnoticed.
"""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minirnn as mr
from minirnn import backend
from minirnn.backend import to_numpy
from minirnn.fast import pointwise
from minirnn.fast import recurrent as fast_recurrent

T, N, D, H, PROJ = 5, 4, 3, 6, 2
RAGGED = np.array([5, 2, 4, 1])

# the arguments of each step function: "g" a gate block (N, H), "b" a bias (H,), "a" an
# activation in (0, 1) so that sigmoid-style derivatives see realistic values
STEP_ARGUMENTS = {
    "rnn_tanh_forward": "gg",
    "rnn_relu_forward": "gg",
    "rnn_tanh_backward": "ga",
    "rnn_relu_backward": "gg",
    "lstm_forward": "ggggg",
    "lstm_backward": "ggaaaaga",
    "gru_forward": "ggggbg",
    "gru_backward": "gaaagg",
}


def _step_arguments(name, rng, dtype=np.float64):
    shapes = {"g": (N, H), "a": (N, H), "b": (H,)}
    args = []
    for kind in STEP_ARGUMENTS[name]:
        a = rng.uniform(0.05, 0.95, shapes[kind]) if kind == "a" else rng.standard_normal(shapes[kind])
        args.append(a.astype(dtype))
    return args


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def test_every_step_function_has_arguments():
    assert set(STEP_ARGUMENTS) == {fn.__name__ for fn in pointwise.STEP_FUNCTIONS}


# ------------------------------------------------------------------ the step functions on each backend


@pytest.mark.parametrize("name", sorted(STEP_ARGUMENTS))
def test_step_function_on_backend_equals_numpy(xp, rng, name):
    """ops_for(xp) (fused on CuPy) on device arrays equals the plain function on the host.
    On NumPy ops_for(np) is the plain function itself, so there the written-in-place
    form that the fast loop calls (``fn.into``) is checked instead."""
    host_args = _step_arguments(name, rng)
    want = _as_tuple(getattr(pointwise, name)(*host_args))
    if xp is np:
        got = tuple(np.full_like(w, np.nan) for w in want)
        getattr(pointwise, name).into(got, *host_args)
    else:
        got = _as_tuple(getattr(pointwise.ops_for(xp), name)(*(xp.asarray(a) for a in host_args)))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", (np.float32, np.float16))
@pytest.mark.parametrize("name", sorted(STEP_ARGUMENTS))
def test_step_functions_never_upcast(xp, rng, name, dtype):
    """The Python constants in the step functions (0.5, 1, 0) keep float32 float32."""
    args = [xp.asarray(a) for a in _step_arguments(name, rng, dtype)]
    for out in _as_tuple(getattr(pointwise.ops_for(xp), name)(*args)):
        assert out.dtype == np.dtype(dtype), name


# ------------------------------------------------------------------ one copy of the math, on any machine


def test_fused_table_wraps_the_numpy_functions_themselves():
    fused = pointwise.ops_for(SimpleNamespace(__name__="cupy"))  # any module but NumPy
    assert pointwise.ops_for(np) is pointwise.PLAIN
    for fn in pointwise.STEP_FUNCTIONS:
        assert getattr(pointwise.PLAIN, fn.__name__) is fn
        assert getattr(fused, fn.__name__).fn is fn  # the same object: no second copy of the math


def _recording_table(monkeypatch, fails=False):
    """A fused table whose ``fuse`` records what it was given (and, if ``fails``, raises)."""
    fused_functions = []

    def fake_fuse(fn):
        fused_functions.append(fn)
        if fails:
            raise RuntimeError("no fusion here")
        return lambda *arrays: fn(*arrays)

    monkeypatch.setattr(pointwise, "fuse", fake_fuse)
    table = SimpleNamespace(**{fn.__name__: pointwise.FusedStep(fn) for fn in pointwise.STEP_FUNCTIONS})
    monkeypatch.setattr(fast_recurrent, "ops_for", lambda xp: table)
    return table, fused_functions


@pytest.mark.parametrize("kind", ("rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru", "gru_nobias"))
def test_fast_loop_through_the_fused_table_equals_reference(monkeypatch, rng, kind):
    """The CuPy loop runs the fused table; routed through it on NumPy, it still equals the
    reference, and every function it fused is one of the NumPy step functions."""
    _, fused_functions = _recording_table(monkeypatch)
    got, want = _layer_pair_results(rng, kind)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
    assert fused_functions and set(fused_functions) <= set(pointwise.STEP_FUNCTIONS)


@pytest.mark.parametrize("kind", ("lstm", "lstm_proj", "gru", "rnn_tanh"))
def test_fast_loop_with_the_device_workspace_equals_reference(monkeypatch, rng, kind):
    """On CuPy the loop's scratch comes from ``_DeviceWorkspace`` (fresh arrays, CuPy's pool
    reuses them) and its step functions from the fused table; routed through both on
    NumPy, the loop still equals the reference."""
    from minirnn.fast import workspace

    _recording_table(monkeypatch)
    device = workspace._DeviceWorkspace(np)
    monkeypatch.setattr(fast_recurrent, "workspace_for", lambda xp: device)
    got, want = _layer_pair_results(rng, kind)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


def test_fusion_failure_falls_back_to_the_same_function(monkeypatch, rng):
    table, fused_functions = _recording_table(monkeypatch, fails=True)
    args = _step_arguments("lstm_forward", rng)
    with pytest.warns(RuntimeWarning, match="lstm_forward"):
        got = table.lstm_forward(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once; no second attempt to fuse
        again = table.lstm_forward(*args)
    assert fused_functions == [pointwise.lstm_forward]
    assert isinstance(table.lstm_forward.error, RuntimeError)
    for a, b, c in zip(got, again, pointwise.lstm_forward(*args)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def test_no_cuda_c_source_in_the_package():
    """Kernels come from cupy.fuse of the Python step functions. C kernel text would be a
    second copy of the math that no CPU test can check (issue 14: ``1/2`` is 0 in C and
    0.5 in Python), so adding any needs a C-semantics emulator first."""
    package = Path(mr.__file__).parent
    pattern = re.compile(r"ElementwiseKernel|ReductionKernel|RawKernel|RawModule|__global__")
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


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


def _layer_pair_results(rng, kind):
    """(fast, reference) results of a 2-layer bidirectional layer of ``kind`` on NumPy."""
    options = dict(num_layers=2, bidirectional=True)
    if kind == "lstm_proj":
        options["proj_size"] = PROJ
    if kind == "gru_nobias":
        options["bias"] = False
    kind = kind.replace("_proj", "").replace("_nobias", "")
    ref = _layer(kind, "reference", np.float64, **options)
    for _, p in ref.named_parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, size=p.data.shape)
    fast = _layer(kind, "fast", np.float64, **options)
    fast.load_state_dict(ref.state_dict())
    out_size, layers = options.get("proj_size") or H, 4
    x = rng.standard_normal((T, N, D))
    h0, c0 = rng.standard_normal((layers, N, out_size)), rng.standard_normal((layers, N, H))
    dout = rng.standard_normal((T, N, 2 * out_size))
    dh, dc = rng.standard_normal((layers, N, out_size)), rng.standard_normal((layers, N, H))
    hx, dstate = ((h0, c0), (dh, dc)) if kind == "lstm" else (h0, dh)
    return _run(fast, np, x, hx, RAGGED, dout, dstate), _run(ref, np, x, hx, RAGGED, dout, dstate)


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


# ------------------------------------------------------------------ the in-place form, derived from the same text


@pytest.mark.parametrize("dtype", (np.float64, np.float32))
@pytest.mark.parametrize("name", sorted(STEP_ARGUMENTS))
def test_into_form_writes_what_the_function_returns(xp, rng, name, dtype):
    """``fn.into(out, *args)`` (fused and copied on CuPy) puts into strided views of a
    larger array exactly the values ``fn`` returns: bit for bit on NumPy."""
    args = [xp.asarray(a) for a in _step_arguments(name, rng, dtype)]
    table = pointwise.ops_for(xp)
    want = _as_tuple(getattr(pointwise, name)(*[to_numpy(a) for a in args]))
    store = xp.full((len(want), N, 3 * H), np.nan, dtype=dtype)  # each out[k] a strided block of it
    out = tuple(store[k, :, H : 2 * H] for k in range(len(want)))
    assert getattr(table, name).into(out, *args) is None
    for got, expected in zip(out, want):
        assert got.dtype == expected.dtype
        if xp is np:
            np.testing.assert_array_equal(got, expected)
        else:
            tol = 1e-6 if dtype == np.float32 else 1e-12  # the GPU may fuse multiply-adds
            np.testing.assert_allclose(to_numpy(got), expected, rtol=tol, atol=tol)
    assert np.isnan(to_numpy(store[:, :, :H])).all() and np.isnan(to_numpy(store[:, :, 2 * H :])).all()


def test_into_forms_are_generated_not_written():
    """Every ``into`` comes from ``into_form`` of its function: no ``def *_into`` in the
    source, and each generated text holds the function's statements (with ``out=``)."""
    import ast
    import inspect

    source = Path(pointwise.__file__).read_text()
    for fn in pointwise.STEP_FUNCTIONS:
        assert f"def {fn.__name__}_into" not in source
        generated = fn.into.source
        assert generated.startswith(f"def {fn.__name__}_into(out, ")
        body = ast.parse(inspect.getsource(fn)).body[0].body
        for statement in body[1:-1]:  # after the docstring, before the return
            target = ast.unparse(statement.targets[0])
            assert f"{target} = " in generated, (fn.__name__, target)


def test_into_form_refuses_what_it_cannot_write_in_place():
    def odd(a):
        """not an operator at the top"""
        return a[0]

    with pytest.raises(ValueError, match="cannot write"):
        pointwise.into_form(odd)


def test_into_form_refuses_a_value_assigned_twice_or_never():
    def twice(a):
        """b assigned twice"""
        b = a + 1
        b = b * 2
        return b

    def never(a, b):
        """returns an argument"""
        c = a + b
        return c, b

    for fn in (twice, never):
        with pytest.raises(ValueError, match="exactly once"):
            pointwise.into_form(fn)


def test_into_form_without_source_copies(monkeypatch):
    import inspect

    def unreadable(fn):
        raise OSError("no source")

    monkeypatch.setattr(inspect, "getsource", unreadable)
    into = pointwise.into_form(pointwise.rnn_tanh_forward)
    assert into.source is None
    x, hh, out = np.full((2, 3), 0.3), np.full((2, 3), 0.1), np.empty((2, 3))
    into((out,), x, hh)
    np.testing.assert_array_equal(out, pointwise.rnn_tanh_forward(x, hh))
