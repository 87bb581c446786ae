"""Bad input gets a clear exception at the public entry point, naming what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr
from minirnn import backend

T, N, D, H = 5, 2, 4, 3


def gru():
    return mr.GRU(D, H, dtype="float64")


def x_tnd(steps=T, batch=N, features=D, dtype=np.float64):
    return np.random.default_rng(0).standard_normal((steps, batch, features)).astype(dtype)


# ----------------------------------------------------------------------------- sizes and ranks


@pytest.mark.parametrize("cls", [mr.RNN, mr.GRU, mr.LSTM])
@pytest.mark.parametrize("batch_first", [False, True])
def test_wrong_input_feature_size(cls, batch_first):
    layer = cls(D, H, batch_first=batch_first, dtype="float64")
    with pytest.raises(ValueError, match=rf"{cls.__name__} expects {D} input features, got 6"):
        layer(x_tnd(features=6))


def test_wrong_input_feature_size_unbatched():
    with pytest.raises(ValueError, match=rf"LSTM expects {D} input features, got 7"):
        mr.LSTM(D, H, dtype="float64")(np.zeros((T, 7)))


def test_linear_wrong_feature_size_message():
    lin = mr.Linear(20, 3)
    with pytest.raises(ValueError, match=r"^Linear expects 20 input features, got 10"):
        lin(np.zeros((4, 10), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Linear expects 20 input features, got 10"):
        lin(np.zeros((2, 3, 10), dtype=np.float32))


def test_linear_scalar_input():
    with pytest.raises(ValueError, match=r"Linear expects 20 input features on the last axis, got a 0-D array"):
        mr.Linear(20, 3)(np.zeros((), dtype=np.float32))


@pytest.mark.parametrize("cls", [mr.GRUCell, mr.LSTMCell, mr.RNNCell])
def test_cell_wrong_feature_size_and_rank(cls):
    cell = cls(D, H, dtype="float64")
    with pytest.raises(ValueError, match=rf"{cls.__name__} expects {D} input features, got 5"):
        cell(np.zeros((N, 5)))
    with pytest.raises(ValueError, match=rf"{cls.__name__} expects input to be 1-D or 2-D .*got 3-D"):
        cell(np.zeros((1, N, D)))


@pytest.mark.parametrize("shape", [(D,), (T, N, D, 1)])
@pytest.mark.parametrize("cls", [mr.RNN, mr.GRU, mr.LSTM])
def test_wrong_rank(cls, shape):
    with pytest.raises(ValueError, match=rf"{cls.__name__} expects input to be 2-D or 3-D .*got {len(shape)}-D"):
        cls(D, H, dtype="float64")(np.zeros(shape))


def test_no_time_steps():
    with pytest.raises(ValueError, match=r"GRU expects at least one time step, got T = 0"):
        gru()(np.zeros((0, N, D)))


def test_not_an_array():
    with pytest.raises(TypeError, match=r"GRU expects input to be a numpy or cupy array, got list"):
        gru()([[[0.0] * D]])


# ----------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    "lengths, got",
    [([0, 3], "0"), ([-1, 3], "-1"), ([T + 1, 3], str(T + 1))],
    ids=["zero", "negative", "longer-than-T"],
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_out_of_range(lengths, got, batch_first):
    layer = mr.LSTM(D, H, batch_first=batch_first, dtype="float64")
    x = x_tnd().transpose(1, 0, 2) if batch_first else x_tnd()
    with pytest.raises(ValueError, match=rf"LSTM expects every length in \[1, {T}\] .*got {got}$"):
        layer(x, lengths=np.array(lengths))


@pytest.mark.parametrize("lengths", [[3], [3, 3, 3], [[3, 3]]], ids=["too-few", "too-many", "2-D"])
def test_lengths_wrong_count(lengths):
    with pytest.raises(ValueError, match=rf"GRU expects lengths to hold one entry per sequence \({N}\), got shape"):
        gru()(x_tnd(), lengths=lengths)


def test_lengths_not_integers():
    with pytest.raises(TypeError, match=r"GRU expects integer lengths, got dtype float64"):
        gru()(x_tnd(), lengths=[2.5, 3.0])


# ----------------------------------------------------------------------------- initial states


@pytest.mark.parametrize("cls", [mr.RNN, mr.GRU])
def test_hx_wrong_shape(cls):
    layer = cls(D, H, num_layers=2, dtype="float64")
    with pytest.raises(ValueError, match=rf"{cls.__name__} expects h0 of shape \(2, {N}, {H}\), got \(1, {N}, {H}\)"):
        layer(x_tnd(), np.zeros((1, N, H)))


def test_hx_wrong_shape_unbatched():
    with pytest.raises(ValueError, match=rf"GRU expects h0 of shape \(1, {H}\), got \(1, 1, {H}\)"):
        gru()(np.zeros((T, D)), np.zeros((1, 1, H)))


def test_lstm_hx_not_a_pair():
    lstm = mr.LSTM(D, H, dtype="float64")
    with pytest.raises(TypeError, match=r"LSTM expects hx to be a tuple \(h0, c0\), got ndarray"):
        lstm(x_tnd(), np.zeros((1, N, H)))
    with pytest.raises(TypeError, match=r"LSTM expects hx to be a tuple \(h0, c0\), got tuple"):
        lstm(x_tnd(), (np.zeros((1, N, H)),) * 3)


def test_lstm_c0_wrong_shape_and_projected_h0():
    lstm = mr.LSTM(D, H, proj_size=2, dtype="float64")
    with pytest.raises(ValueError, match=rf"LSTM expects c0 of shape \(1, {N}, {H}\), got \(1, {N}, 2\)"):
        lstm(x_tnd(), (np.zeros((1, N, 2)), np.zeros((1, N, 2))))
    with pytest.raises(ValueError, match=rf"LSTM expects h0 of shape \(1, {N}, 2\), got \(1, {N}, {H}\)"):
        lstm(x_tnd(), (np.zeros((1, N, H)), np.zeros((1, N, H))))


def test_cell_state_wrong_shape():
    with pytest.raises(ValueError, match=rf"GRUCell expects hx of shape \({N}, {H}\), got \({N}, {D}\)"):
        mr.GRUCell(D, H, dtype="float64")(np.zeros((N, D)), np.zeros((N, D)))
    with pytest.raises(TypeError, match=r"LSTMCell expects hx to be None or a pair \(h, c\), got ndarray"):
        mr.LSTMCell(D, H, dtype="float64")(np.zeros((N, D)), np.zeros((N, H)))


# ----------------------------------------------------------------------------- embedding ids


@pytest.mark.parametrize("bad", [7, 100, -1, -7])
def test_embedding_ids_out_of_range(bad):
    emb = mr.Embedding(7, 3)
    with pytest.raises(IndexError, match=rf"Embedding expects ids in \[0, 6\], got {bad}$"):
        emb(np.array([[0, 1], [bad, 2]]))


def test_embedding_ids_not_integers():
    with pytest.raises(TypeError, match=r"Embedding expects integer ids, got dtype float64"):
        mr.Embedding(7, 3)(np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------- backward without forward


@pytest.mark.parametrize(
    "make, upstream",
    [
        (gru, np.zeros((T, N, H))),
        (lambda: mr.LSTM(D, H, dtype="float64"), np.zeros((T, N, H))),
        (lambda: mr.GRUCell(D, H, dtype="float64"), np.zeros((N, H))),
        (lambda: mr.Linear(D, H, dtype="float64"), np.zeros((N, H))),
        (lambda: mr.Embedding(7, H, dtype="float64"), np.zeros((N, H))),
    ],
    ids=["GRU", "LSTM", "GRUCell", "Linear", "Embedding"],
)
def test_backward_without_forward(make, upstream):
    module = make()
    name = type(module).__name__
    with pytest.raises(RuntimeError, match=rf"{name}.backward called without a matching forward"):
        module.backward(upstream)


def test_second_backward_after_one_forward():
    layer = gru()
    layer(x_tnd())
    layer.backward(np.ones((T, N, H)))
    with pytest.raises(RuntimeError, match=r"GRU.backward called without a matching forward"):
        layer.backward(np.ones((T, N, H)))


def test_backward_after_no_grad_forward():
    layer = gru()
    with mr.no_grad():
        layer(x_tnd())
    with pytest.raises(RuntimeError, match=r"no_grad"):
        layer.backward(np.ones((T, N, H)))


def test_rejected_backward_keeps_the_forward_cache():
    """A backward refused for a wrong-shaped gradient can be retried with the right one."""
    rng = np.random.default_rng(1)
    layer, x = mr.LSTM(D, H, dtype="float64"), x_tnd()
    dout = rng.standard_normal((T, N, H))
    layer(x)
    expected = rf"LSTM.backward expects dout of shape \({T}, {N}, {H}\), got \({T}, {N}, 9\)"
    with pytest.raises(ValueError, match=expected):
        layer.backward(np.zeros((T, N, 9)))
    with pytest.raises(ValueError, match=rf"LSTM.backward expects dc_n of shape \(1, {N}, {H}\)"):
        layer.backward(dout, (None, np.zeros((1, 1, H))))
    with pytest.raises(TypeError, match=r"LSTM.backward expects dh_n to be None or a pair .*got ndarray"):
        layer.backward(dout, np.zeros((1, N, H)))
    dx, _ = layer.backward(dout)
    assert all(p.grad is not None for p in layer.parameters())
    fresh = mr.LSTM(D, H, dtype="float64")
    fresh.load_state_dict(layer.state_dict())
    fresh(x)
    np.testing.assert_array_equal(dx, fresh.backward(dout)[0])

    lin = mr.Linear(D, H, dtype="float64")
    lin(np.zeros((N, D)))
    with pytest.raises(ValueError, match=rf"Linear.backward expects {H} output features in dy, got 2"):
        lin.backward(np.zeros((N, 2)))
    lin.backward(np.zeros((N, H)))

    cell = mr.LSTMCell(D, H, dtype="float64")
    cell(np.zeros((N, D)))
    with pytest.raises(ValueError, match=rf"LSTMCell.backward expects dh of shape \({N}, {H}\), got \(1, {H}\)"):
        cell.backward((np.zeros((1, H)), None))
    with pytest.raises(TypeError, match=r"LSTMCell.backward expects a pair \(dh, dc\).*got ndarray"):
        cell.backward(np.zeros((N, H)))
    cell.backward((np.zeros((N, H)), None))

    attn = mr.BahdanauAttention(H, dtype="float64")
    attn(np.zeros((N, H)), np.zeros((N, T, H)))
    expected = rf"BahdanauAttention.backward expects dcontext \(N, Hk\) of shape \({N}, {H}\)"
    with pytest.raises(ValueError, match=expected):
        attn.backward(np.zeros((N, 1)))
    with pytest.raises(TypeError, match=r"BahdanauAttention.backward expects dweights of dtype float64 .*got float32"):
        attn.backward(np.zeros((N, H)), np.zeros((N, T), dtype=np.float32))
    attn.backward(np.zeros((N, H)))


# ----------------------------------------------------------------------------- load_state_dict


def _snapshot(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def _assert_unchanged(module, before):
    after = module.state_dict()
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_load_state_dict_missing_key_names_it_and_changes_nothing():
    layer = mr.LSTM(D, H, num_layers=2, dtype="float64")
    before = _snapshot(layer)
    state = {k: v + 1 for k, v in before.items() if k != "bias_hh_l1"}
    with pytest.raises(KeyError, match=r"LSTM.load_state_dict: missing keys: bias_hh_l1"):
        layer.load_state_dict(state)
    _assert_unchanged(layer, before)


def test_load_state_dict_extra_key_names_it_and_changes_nothing():
    layer = gru()
    before = _snapshot(layer)
    state = {k: v + 1 for k, v in before.items()}
    state["weight_hr_l0"] = np.zeros((2, H))
    with pytest.raises(KeyError, match=r"GRU.load_state_dict: unexpected keys: weight_hr_l0"):
        layer.load_state_dict(state)
    _assert_unchanged(layer, before)


def test_load_state_dict_wrong_shape_names_the_key_and_changes_nothing():
    layer = mr.GRU(D, H, bidirectional=True, dtype="float64")
    before = _snapshot(layer)
    state = {k: v + 1 for k, v in before.items()}  # every other key valid; the bad one comes last
    state["bias_hh_l0_reverse"] = np.zeros(H)
    with pytest.raises(ValueError, match=rf"key 'bias_hh_l0_reverse' expects shape \({3 * H},\), got \({H},\)"):
        layer.load_state_dict(state)
    _assert_unchanged(layer, before)


# ----------------------------------------------------------------------------- dtypes and values


@pytest.mark.parametrize("cls", [mr.RNN, mr.GRU, mr.LSTM])
def test_mixed_dtypes_are_rejected_not_upcast(cls):
    layer = cls(D, H, dtype="float64")
    with pytest.raises(TypeError, match=rf"{cls.__name__} expects input of dtype float64 .*got float32"):
        layer(x_tnd(dtype=np.float32))
    with pytest.raises(TypeError, match=rf"{cls.__name__} expects h0 of dtype float64 .*got float32"):
        hx = np.zeros((1, N, H), dtype=np.float32)
        layer(x_tnd(), (hx, hx.astype(np.float64)) if cls is mr.LSTM else hx)


def test_mixed_dtypes_linear_and_cell():
    with pytest.raises(TypeError, match=r"Linear expects input of dtype float32 .*got float64"):
        mr.Linear(D, H)(np.zeros((N, D)))
    with pytest.raises(TypeError, match=r"GRUCell expects input of dtype float64 .*got float32"):
        mr.GRUCell(D, H, dtype=np.float64)(np.zeros((N, D), dtype=np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize(
    "make, shape",
    [(gru, (T, N, D)), (lambda: mr.LSTM(D, H, dtype="float64"), (T, N, D)),
     (lambda: mr.RNNCell(D, H, dtype="float64"), (N, D)), (lambda: mr.Linear(D, H, dtype="float64"), (N, D))],
    ids=["GRU", "LSTM", "RNNCell", "Linear"],
)
def test_nan_or_inf_in_input(make, shape, bad):
    module = make()
    x = np.zeros(shape)
    x[(0,) * len(shape)] = bad
    with pytest.raises(ValueError, match=rf"{type(module).__name__} got NaN or infinity in input"):
        module(x)


# ----------------------------------------------------------------------------- backends and dtypes


def test_unknown_backend_name():
    with pytest.raises(ValueError, match=r"unknown backend 'tpu'; expected one of 'numpy' \(cpu\) or 'cupy'"):
        mr.set_backend("tpu")
    with pytest.raises(ValueError, match=r"unknown backend 'metal'"):
        gru().to("metal")
    assert backend.get_backend() == "numpy"


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy with a visible GPU is available here")
@pytest.mark.parametrize("name", ["cupy", "cuda", "gpu"])
def test_cupy_requested_where_unavailable(name):
    with pytest.raises(RuntimeError, match=r"backend 'cupy' was requested but (CuPy is not installed|no CUDA GPU)"):
        mr.set_backend(name)
    assert backend.get_backend() == "numpy"
    with pytest.raises(RuntimeError, match=r"backend 'cupy' was requested"):
        gru().to(name)
    with pytest.raises(RuntimeError, match=r"backend 'cupy' was requested"):
        mr.to_device(np.zeros(3), name)


@pytest.mark.parametrize("dtype", ["float64", np.float64, np.dtype("float64"), "f8"])
def test_dtype_names_accepted(dtype):
    for module in (mr.GRU(D, H, dtype=dtype), mr.LSTMCell(D, H, dtype=dtype), mr.Linear(D, H, dtype=dtype),
                   mr.Embedding(5, H, dtype=dtype)):
        assert all(p.dtype == np.float64 for p in module.parameters())


def test_default_dtype_is_float32_and_name_accepted():
    assert mr.GRU(D, H).weight_ih_l0.dtype == np.float32
    mr.set_default_dtype("float64")
    assert mr.GRU(D, H).weight_ih_l0.dtype == np.float64


@pytest.mark.parametrize("dtype, message", [
    ("int32", r"dtype must be one of float16, float32, float64, got int32"),
    (int, r"dtype must be one of float16, float32, float64, got int64"),
    ("complex128", r"dtype must be one of float16, float32, float64, got complex128"),
    ("floaty", r"dtype must be a floating dtype or its name, got 'floaty'"),
])
def test_invalid_dtype_rejected(dtype, message):
    for make in (lambda: mr.GRU(D, H, dtype=dtype), lambda: mr.Linear(D, H, dtype=dtype),
                 lambda: mr.set_default_dtype(dtype)):
        with pytest.raises(TypeError, match=message):
            make()
    assert mr.get_default_dtype() == np.float32


def test_backward_rejects_a_gradient_of_another_dtype():
    """Mixed dtypes raise in backward too: a float32 dout for a float64 layer is an error."""
    lstm = mr.LSTM(3, 4, dtype="float64")
    out, _ = lstm(np.zeros((2, 1, 3)))
    with pytest.raises(TypeError, match="float64"):
        lstm.backward(out.astype(np.float32))
    lin = mr.Linear(3, 2, dtype="float64")
    y = lin(np.zeros((1, 3)))
    with pytest.raises(TypeError, match="dy of dtype float64"):
        lin.backward(y.astype(np.float32))
