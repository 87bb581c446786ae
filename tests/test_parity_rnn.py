"""PyTorch parity of RNN (tanh, relu), GRU and LSTM layers in float64.

Each case draws random weights and non-zero biases, a random input, a random
initial state (or none), and random upstream gradients on ``out`` and on
``h_n``/``c_n``, then compares outputs, final states, dx, dh0, dc0 and every
parameter gradient with PyTorch (``pack_padded_sequence`` when lengths are given).
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import torch
from torch_ref import (  # noqa: F401  (worst_error_report is an autouse fixture)
    assert_close,
    compare,
    make_pair,
    ragged_lengths,
    run_minirnn,
    run_torch,
    state_dict_numpy,
    worst_error_report,
)

import minirnn as mr

T, N, D, H = 5, 4, 3, 4
MODES = ["rnn_tanh", "rnn_relu", "gru", "lstm"]


def _seed(*case) -> int:
    """A seed that is stable across processes (unlike hash() of strings)."""
    return zlib.crc32(repr(case).encode())


def _inputs(mine, rng, *, steps=T, batch=N, hx=False, unbatched=False):
    """A random input (layout from ``mine``), optional hx, and upstream gradients."""
    dirs = 2 if mine.bidirectional else 1
    layers = mine.num_layers * dirs
    out_width, hidden = mine.output_size, mine.hidden_size
    if unbatched:
        x = rng.standard_normal((steps, mine.input_size))
        out_shape = (steps, dirs * out_width)
        batch_shape = ()
    else:
        x_shape = (batch, steps, mine.input_size) if mine.batch_first else (steps, batch, mine.input_size)
        x = rng.standard_normal(x_shape)
        out_shape = x_shape[:2] + (dirs * out_width,)
        batch_shape = (batch,)
    h_shape = (layers,) + batch_shape + (out_width,)
    c_shape = (layers,) + batch_shape + (hidden,)
    is_lstm = isinstance(mine, mr.LSTM)

    def random_state():
        return (rng.standard_normal(h_shape), rng.standard_normal(c_shape)) if is_lstm else rng.standard_normal(h_shape)

    state = random_state() if hx else None
    dout = rng.standard_normal(out_shape)
    dstate = random_state()
    return x, state, dout, dstate


def _check(mode, rng, where, *, lengths_kind=None, hx=False, unbatched=False, dout_none=False, impl="fast",
           **options):
    ref, mine = make_pair(mode, D, H, seed=int(rng.integers(1 << 30)), **options)
    mine.impl = impl  # "reference": functional.recurrent's loop instead of minirnn.fast
    if options.get("dropout"):
        ref.eval()
        mine.eval()
    x, state, dout, dstate = _inputs(mine, rng, hx=hx, unbatched=unbatched)
    lengths = ragged_lengths(N, T, rng) if lengths_kind == "ragged" else None
    if dout_none:
        dout = None
    expected = run_torch(ref, x, state, lengths, dout, dstate)
    got = run_minirnn(mine, x, state, lengths, dout, dstate)
    compare(got, expected, where)


MATRIX = list(itertools.product(MODES, [1, 2], [False, True], [False, True], [None, "ragged"], [False, True]))


@pytest.mark.parametrize(
    "mode, num_layers, bidirectional, batch_first, lengths_kind, hx",
    MATRIX,
    ids=[
        f"{m}-L{nl}-{'bi' if b else 'uni'}-{'bf' if bf else 'tm'}-{lk or 'full'}-{'hx' if h else 'nohx'}"
        for m, nl, b, bf, lk, h in MATRIX
    ],
)
def test_layer_matrix(mode, num_layers, bidirectional, batch_first, lengths_kind, hx):
    rng = np.random.default_rng(_seed(mode, num_layers, bidirectional, batch_first, lengths_kind, hx))
    _check(
        mode, rng, f"{mode} L{num_layers} bi={bidirectional} bf={batch_first} lengths={lengths_kind} hx={hx}",
        lengths_kind=lengths_kind, hx=hx,
        num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
    )


REFERENCE = list(itertools.product(MODES + ["lstm_proj"], [None, "ragged"], [False, True]))


@pytest.mark.parametrize("variant, lengths_kind, dout_none", REFERENCE)
def test_reference_loop(variant, lengths_kind, dout_none):
    """The readable BPTT loop of functional.recurrent, both directions, two layers, against PyTorch."""
    rng = np.random.default_rng(_seed("reference", variant, lengths_kind, dout_none))
    mode, proj = ("lstm", {"proj_size": 2}) if variant == "lstm_proj" else (variant, {})
    _check(
        mode, rng, f"reference {variant} lengths={lengths_kind} dout_none={dout_none}", impl="reference",
        lengths_kind=lengths_kind, hx=True, dout_none=dout_none, num_layers=2, bidirectional=True, **proj,
    )


PROJ = list(itertools.product([1, 2], [False, True], [None, "ragged"], [False, True]))


@pytest.mark.parametrize("num_layers, bidirectional, lengths_kind, hx", PROJ)
def test_lstm_proj_size(num_layers, bidirectional, lengths_kind, hx):
    rng = np.random.default_rng(_seed("proj", num_layers, bidirectional, lengths_kind, hx))
    _check(
        "lstm", rng, f"lstm proj L{num_layers} bi={bidirectional} lengths={lengths_kind} hx={hx}",
        lengths_kind=lengths_kind, hx=hx, num_layers=num_layers, bidirectional=bidirectional, proj_size=2,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_no_bias(mode, bidirectional):
    rng = np.random.default_rng(11)
    _check(mode, rng, f"{mode} bias=False", lengths_kind="ragged", hx=True,
           num_layers=2, bidirectional=bidirectional, bias=False)


def test_lstm_proj_no_bias_batch_first():
    rng = np.random.default_rng(12)
    _check("lstm", rng, "lstm proj bias=False bf", lengths_kind="ragged", hx=True,
           num_layers=2, bidirectional=True, bias=False, batch_first=True, proj_size=3)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_in_eval_mode(mode):
    rng = np.random.default_rng(13)
    _check(mode, rng, f"{mode} dropout eval", lengths_kind="ragged", hx=True,
           num_layers=2, bidirectional=True, dropout=0.5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("hx", [False, True])
def test_unbatched_input(mode, num_layers, bidirectional, hx):
    rng = np.random.default_rng(14)
    _check(mode, rng, f"{mode} unbatched", hx=hx, unbatched=True,
           num_layers=num_layers, bidirectional=bidirectional)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lengths_kind", [None, "ragged"])
def test_dout_none_only_final_state_used(mode, lengths_kind):
    rng = np.random.default_rng(15)
    _check(mode, rng, f"{mode} dout=None", lengths_kind=lengths_kind, hx=True, dout_none=True,
           num_layers=2, bidirectional=True)


@pytest.mark.parametrize("which", ["dh_n", "dc_n", "neither"])
def test_lstm_partial_state_gradients(which):
    """dh_n=(dh, None), (None, dc) and None for an LSTM match torch with the missing part at zero."""
    rng = np.random.default_rng(16)
    ref, mine = make_pair("lstm", D, H, num_layers=2, bidirectional=True)
    x, state, dout, (dh_n, dc_n) = _inputs(mine, rng, hx=True)
    lengths = ragged_lengths(N, T, rng)
    dstate = {"dh_n": (dh_n, None), "dc_n": (None, dc_n), "neither": None}[which]
    expected = run_torch(ref, x, state, lengths, dout, dstate)
    got = run_minirnn(mine, x, state, lengths, dout, dstate)
    compare(got, expected, f"lstm partial {which}")


def test_full_lengths_equal_no_lengths():
    """lengths all equal to T gives torch's unpacked results (the fast path of the layer)."""
    rng = np.random.default_rng(17)
    ref, mine = make_pair("gru", D, H, bidirectional=True)
    x, state, dout, dstate = _inputs(mine, rng, hx=True)
    expected = run_torch(ref, x, state, None, dout, dstate)
    got = run_minirnn(mine, x, state, np.full(N, T), dout, dstate)
    compare(got, expected, "gru full lengths")


@pytest.mark.parametrize("mode", MODES)
def test_load_state_dict_reproduces_torch_in_float32(mode):
    """DESIGN's promise: a torch state_dict loaded into a float32 module gives torch's outputs."""
    rng = np.random.default_rng(18)
    torch.manual_seed(3)
    options = {"nonlinearity": mode[4:]} if mode.startswith("rnn_") else {}
    ref = {"rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[mode](
        D, H, num_layers=2, bidirectional=True, batch_first=True, **options
    )
    mine = {"rnn_tanh": mr.RNN, "rnn_relu": mr.RNN, "gru": mr.GRU, "lstm": mr.LSTM}[mode](
        D, H, num_layers=2, bidirectional=True, batch_first=True, **options
    )
    mine.load_state_dict(state_dict_numpy(ref))
    assert all(p.dtype == np.float32 for p in mine.parameters())
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    lengths = ragged_lengths(N, T, rng)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.as_tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    with torch.no_grad():
        packed_out, state_n = ref(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=T)
    out, mine_state = mine(x, lengths=lengths)
    assert out.dtype == np.float32
    assert_close(out, out_t, f"{mode} float32 out", atol=1e-5)
    if mode == "lstm":
        assert_close(mine_state[0], state_n[0], f"{mode} float32 h_n", atol=1e-5)
        assert_close(mine_state[1], state_n[1], f"{mode} float32 c_n", atol=1e-5)
    else:
        assert_close(mine_state, state_n, f"{mode} float32 h_n", atol=1e-5)
