"""The compiled step kernels (``minirnn.fast.compiled``, the ``jit`` extra) equal the NumPy ones.

* The generated loop is the step function: in float64 (``math.tanh``) every value of
  every step function agrees with NumPy's to 1e-13, on gate blocks cut from wider
  arrays (the layout the fast loop passes) and a broadcast row (the GRU's b_hn).
* The float32 tanh is accurate: at most 8 units in the last place over [-10, 10], in
  [-1, 1], odd, and NaN and infinities as tanh's.
* Layers run with ``set_kernels("numba")`` equal the reference path, for every cell
  and option, and the kernels are really used (float32) or really not (float64).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from test_fast_path import KINDS, PROJ, RAGGED, _compare  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.fast import compiled, pointwise  # noqa: E402

# (inputs, outputs) of each step function
ARITY = {"rnn_tanh_forward": (2, 1), "rnn_relu_forward": (2, 1), "rnn_tanh_backward": (2, 1),
         "rnn_relu_backward": (2, 1), "lstm_forward": (5, 7), "lstm_backward": (8, 5), "gru_forward": (6, 5),
         "gru_backward": (6, 5)}


@pytest.fixture
def numba_kernels():
    before = compiled.kernels()
    compiled.set_kernels("numba")
    yield
    compiled.set_kernels(before)


def _blocks(rng, rows, width, count, dtype, low=-3.0, high=3.0):
    """``count`` (rows, width) column blocks of one wider array, as the fast loop cuts gates."""
    wide = rng.uniform(low, high, (rows, count * width + 5)).astype(dtype)
    return [wide[:, k * width : (k + 1) * width] for k in range(count)]


def _arguments(fn, rng, rows, width, dtype):
    count = ARITY[fn.__name__][0]
    args = _blocks(rng, rows, width, count, dtype)
    if fn.__name__ == "rnn_relu_backward":  # h >= 0, with exact zeros
        args[1] = np.maximum(args[1], 0)
    if fn.__name__ == "gru_forward":
        args[4] = rng.uniform(-1, 1, width).astype(dtype)  # b_hn (H,), broadcast down the rows
    return args


@pytest.mark.parametrize("fn", pointwise.STEP_FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_loop_equals_the_step_function(fn, dtype, tol):
    rng = np.random.default_rng(3)
    rows, width = 7, 45  # odd, not a multiple of any vector width
    args = _arguments(fn, rng, rows, width, dtype)
    outs = _blocks(rng, rows, width, ARITY[fn.__name__][1], dtype)
    compiled.compile_step(fn)(*outs, *args)
    want = fn(*args)
    for k, (got, expected) in enumerate(zip(outs, want if isinstance(want, tuple) else (want,))):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=f"{fn.__name__} value {k}")


def test_loop_source_is_the_functions_statements():
    source = compiled.loop_source(pointwise.lstm_forward)
    assert "c = f * c_prev + i * g" in source  # the statement as written in pointwise.py
    assert "_R_out6[_J] = o * tanh_c" in source
    assert "xp." not in source


def test_loop_refuses_a_shape_mismatch_and_strided_rows():
    loop = compiled.compile_step(pointwise.rnn_tanh_forward)
    out = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shape"):
        loop(out, np.ones((3, 5)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="contiguous rows"):
        loop(out, np.ones((3, 8))[:, ::2], np.ones((3, 4)))
    assert not out.any()


def test_loop_refuses_rows_it_cannot_address():
    loop = compiled.compile_step(pointwise.rnn_tanh_forward)
    record = np.zeros(5, dtype=[("a", "f4", (4,)), ("tag", "u1", (2,))])  # rows 18 bytes apart
    with pytest.raises(ValueError, match="row stride"):
        loop(record["a"], np.ones((5, 4), np.float32), np.zeros((5, 4), np.float32))
    assert not record["tag"].any()
    with pytest.raises(ValueError, match="row stride"):
        loop(np.zeros((3, 4)), np.ones((3, 4))[::-1], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="row stride"):
        loop(np.zeros((3, 4)), np.broadcast_to(np.ones(4), (3, 4)), np.zeros((3, 4)))


@pytest.mark.parametrize("kernels", compiled.KERNELS)
@pytest.mark.parametrize("lengths", (None, []))
@pytest.mark.parametrize("kind", ("lstm", "gru"))
def test_empty_batch(numba_kernels, kind, lengths, kernels):
    compiled.set_kernels(kernels)
    layer = (mr.LSTM if kind == "lstm" else mr.GRU)(2, 3, dtype="float32")
    out, _ = layer(np.zeros((4, 0, 2), np.float32), lengths=lengths)
    dx, _ = layer.backward(np.zeros((4, 0, 3), np.float32))
    assert out.shape == (4, 0, 3) and dx.shape == (4, 0, 2)


def test_loop_source_refuses_names_of_its_own():
    def step(_x, hh):
        return _x + hh

    with pytest.raises(ValueError, match="start with '_'"):
        compiled.loop_source(step)


def _tanh32(values):
    loop = compiled.compile_step(pointwise.rnn_tanh_forward)  # tanh(x + 0)
    out = np.empty_like(values)
    loop(out[None], values[None], np.zeros_like(values)[None])
    return out


def test_float32_tanh_error_bound():
    x = np.concatenate([np.linspace(-10, 10, 2_000_001), np.geomspace(1e-30, 1, 10_001)]).astype(np.float32)
    x = np.concatenate([x, -x])
    got = _tanh32(x).astype(np.float64)
    exact = np.tanh(x.astype(np.float64))
    ulps = np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 8, f"max error {ulps.max():.1f} ulp at x={x[ulps.argmax()]}"
    numpy_ulps = np.abs(np.tanh(x).astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert numpy_ulps.max() <= 2  # what the docs compare it with: NumPy's own float32 tanh
    assert np.abs(got).max() <= 1.0
    np.testing.assert_array_equal(got, -_tanh32(-x).astype(np.float64))  # odd


def test_float32_tanh_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 9.0, 100.0], dtype=np.float32)
    got = _tanh32(x)
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[[1, 2, 3, 4, 5, 6, 8]], [1, -1, 1, -1, 0, 0, 1])
    assert abs(got[7] - np.tanh(9.0)) <= 6e-8  # the clamp's edge, within an ulp


def test_fit_tanh_coefficients():
    p, q = compiled.fit_tanh()
    x = np.linspace(0.01, 9, 5001)
    fit = x * np.polyval(p[::-1], x * x) / np.polyval(q[::-1], x * x)
    assert q[0] == 1.0
    assert np.max(np.abs(fit - np.tanh(x)) / np.tanh(x)) < 3e-7


@pytest.mark.parametrize("kind", KINDS + ("lstm_proj",))
@pytest.mark.parametrize("lengths", (None, "ragged"))
def test_layers_with_numba_kernels_equal_reference_float32(numba_kernels, kind, lengths):
    proj = PROJ if kind == "lstm_proj" else 0
    _compare(kind.replace("_proj", ""), np.float32, 2e-5, num_layers=2, bidirectional=True, proj_size=proj,
             lengths=None if lengths is None else RAGGED, use_hx=True)


@pytest.mark.parametrize("kind", ("lstm", "gru"))
def test_layers_with_numba_kernels_equal_reference_float64(numba_kernels, kind):
    _compare(kind, np.float64, 1e-11, bidirectional=True, lengths=RAGGED, batch_first=True)


def test_numba_kernels_run_for_float32_only(numba_kernels, monkeypatch):
    ops = pointwise.ops_for(np)
    assert isinstance(ops.lstm_forward, compiled.CompiledStep)
    calls, step = [], ops.lstm_forward

    def into_numpy(out, *arrays):
        calls.append("numpy")
        pointwise.lstm_forward.into(out, *arrays)

    monkeypatch.setattr(step, "into_numpy", into_numpy)
    for dtype in ("float32", "float64"):
        mr.manual_seed(0)
        layer = mr.LSTM(3, 4, dtype=dtype)
        layer(np.ones((2, 1, 3), dtype=dtype))
    assert calls == ["numpy", "numpy"]  # two float64 steps, no float32 one
    assert step.loop is not None


def test_set_kernels_checks_its_argument(monkeypatch):
    with pytest.raises(ValueError, match="numpy"):
        compiled.set_kernels("cuda")
    monkeypatch.setitem(__import__("sys").modules, "numba", None)  # as if not installed
    with pytest.raises(ImportError, match=r"minirnn\[jit\]"):
        compiled.set_kernels("numba")
    assert compiled.kernels() == "numpy"
    assert pointwise.ops_for(np) is pointwise.PLAIN


@pytest.mark.parametrize("value,kernels,warned", [("numba", "numba", False), ("cuda", "numpy", True),
                                                  (" NUMBA ", "numba", False), ("", "numpy", False)])
def test_kernels_from_the_environment(value, kernels, warned):
    env = dict(os.environ, MINIRNN_KERNELS=value)
    run = subprocess.run([sys.executable, "-c", "import minirnn; print(minirnn.fast.kernels())"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == kernels
    assert ("MINIRNN_KERNELS='cuda' is ignored" in run.stderr and "one of ('numpy', 'numba')" in run.stderr) == warned


def test_a_runs_log_names_the_compiled_kernels(numba_kernels):
    from minirnn.cli.common import kernels_note

    assert kernels_note("numpy") == " (numba step kernels)"
    assert kernels_note("cupy") == ""
    compiled.set_kernels("numpy")
    assert kernels_note("numpy") == ""
