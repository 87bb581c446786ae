"""Helpers shared by the PyTorch parity tests (float64 unless told otherwise).

* ``make_pair`` builds a torch recurrent layer with random non-zero weights and
  biases drawn U(-0.5, 0.5) and a minirnn layer loaded from its ``state_dict``.
* ``run_torch`` / ``run_minirnn`` run a forward and a backward with the same random
  upstream gradients (on ``out`` and on ``h_n``/``c_n``) and return every array
  that should agree: outputs, final states, input/initial-state gradients and every
  parameter gradient.
* ``assert_close`` compares with an absolute tolerance and records the worst error
  seen, which ``worst_error_report`` prints once per module.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import minirnn as mr

ATOL = 1e-10  # float64 parity tolerance (absolute)

WORST = {"error": 0.0, "where": ""}  # float64 checks only (atol <= 1e-9)
WORST_FLOAT32 = {"error": 0.0, "where": ""}


def assert_close(actual, expected, where: str, atol: float = ATOL) -> float:
    """assert |actual - expected| <= atol elementwise; remember the worst error."""
    actual = mr.to_numpy(actual)
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != torch {expected.shape}"
    error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    worst = WORST if atol <= 1e-9 else WORST_FLOAT32
    if error > worst["error"]:
        worst["error"], worst["where"] = error, where
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=where)
    return error


@pytest.fixture(scope="module", autouse=True)
def worst_error_report(request):
    """Print the worst parity error of the module (shown even under output capture)."""
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[parity] {request.module.__name__}: worst |minirnn - torch| so far: float64 "
              f"{WORST['error']:.3e} ({WORST['where']}); float32 {WORST_FLOAT32['error']:.3e}")


def randomize_(module: torch.nn.Module, bound: float = 0.5, seed: int = 0) -> torch.nn.Module:
    """Overwrite every parameter with U(-bound, bound): biases become random and non-zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * bound - bound)
    return module


def state_dict_numpy(module: torch.nn.Module) -> dict:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


TORCH_CLASSES = {"rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
MR_CLASSES = {"rnn_tanh": mr.RNN, "rnn_relu": mr.RNN, "gru": mr.GRU, "lstm": mr.LSTM}


def make_pair(mode, input_size, hidden_size, *, seed=0, dtype="float64", randomize=True, **options):
    """(torch_layer, minirnn_layer) with identical weights; ``options`` are shared kwargs."""
    torch_options, mr_options = dict(options), dict(options)
    if mode.startswith("rnn_"):
        torch_options["nonlinearity"] = mr_options["nonlinearity"] = mode[4:]
    torch.manual_seed(seed)
    ref = TORCH_CLASSES[mode](input_size, hidden_size, dtype=getattr(torch, dtype), **torch_options)
    if randomize:
        randomize_(ref, seed=seed)
    mine = MR_CLASSES[mode](input_size, hidden_size, dtype=dtype, **mr_options)
    mine.load_state_dict(state_dict_numpy(ref))
    return ref, mine


def run_torch(ref, x, hx=None, lengths=None, dout=None, dstate=None):
    """Forward (packed when ``lengths`` is given) and backward of sum(out*dout) + sum(h_n*dh_n) [+ c_n].

    ``hx`` None is run at zeros that require grad, so the initial-state gradient
    exists as it does in minirnn. Returns a dict of NumPy arrays.
    """
    is_lstm = isinstance(ref, torch.nn.LSTM)
    batch_first = ref.batch_first
    unbatched = x.ndim == 2
    xt = torch.tensor(x, requires_grad=True)
    layers = ref.num_layers * (2 if ref.bidirectional else 1)
    out_width = ref.proj_size if getattr(ref, "proj_size", 0) else ref.hidden_size
    batch_shape = () if unbatched else (x.shape[0 if batch_first else 1],)
    if hx is None:
        h_shape = (layers,) + batch_shape + (out_width,)
        c_shape = (layers,) + batch_shape + (ref.hidden_size,)
        hx = (np.zeros(h_shape), np.zeros(c_shape)) if is_lstm else np.zeros(h_shape)
    if is_lstm:
        h0 = torch.tensor(hx[0], requires_grad=True)
        c0 = torch.tensor(hx[1], requires_grad=True)
        state0 = (h0, c0)
    else:
        h0, c0 = torch.tensor(hx, requires_grad=True), None
        state0 = h0
    if lengths is None:
        out, state_n = ref(xt, state0)
    else:
        steps = x.shape[1 if batch_first else 0]
        packed = pack_padded_sequence(xt, torch.as_tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        packed_out, state_n = ref(packed, state0)
        out, _ = pad_packed_sequence(packed_out, batch_first=batch_first, total_length=steps)
    h_n, c_n = state_n if is_lstm else (state_n, None)
    loss = out.sum() * 0
    if dout is not None:
        loss = loss + (out * torch.tensor(dout)).sum()
    if dstate is not None:
        dh_n, dc_n = dstate if is_lstm else (dstate, None)
        if dh_n is not None:
            loss = loss + (h_n * torch.tensor(dh_n)).sum()
        if dc_n is not None:
            loss = loss + (c_n * torch.tensor(dc_n)).sum()
    loss.backward()
    result = {
        "out": out.detach().numpy(),
        "h_n": h_n.detach().numpy(),
        "dx": xt.grad.numpy(),
        "dh0": h0.grad.numpy() if h0.grad is not None else np.zeros(h0.shape),
    }
    if is_lstm:
        result["c_n"] = c_n.detach().numpy()
        result["dc0"] = c0.grad.numpy() if c0.grad is not None else np.zeros(c0.shape)
    for name, p in ref.named_parameters():
        result["grad:" + name] = p.grad.numpy() if p.grad is not None else np.zeros(p.shape)
    return result


def run_minirnn(mine, x, hx=None, lengths=None, dout=None, dstate=None):
    """The same forward and backward through a minirnn layer; a dict like ``run_torch``'s."""
    is_lstm = isinstance(mine, mr.LSTM)
    out, state_n = mine(x, hx, lengths=lengths)
    h_n, c_n = state_n if is_lstm else (state_n, None)
    dx, dstate0 = mine.backward(dout, dstate)
    dh0, dc0 = dstate0 if is_lstm else (dstate0, None)
    result = {"out": out, "h_n": h_n, "dx": dx, "dh0": dh0}
    if is_lstm:
        result.update(c_n=c_n, dc0=dc0)
    for name, p in mine.named_parameters():
        result["grad:" + name] = p.grad
    return result


def compare(mine: dict, ref: dict, where: str, atol: float = ATOL, skip=()) -> None:
    """Every key of the torch result must be present in minirnn's and agree to ``atol``."""
    assert set(ref) == set(mine), f"{where}: keys differ {sorted(set(ref) ^ set(mine))}"
    for key in ref:
        if key in skip:
            continue
        assert mine[key] is not None, f"{where}: minirnn gave no {key}"
        assert_close(mine[key], ref[key], f"{where} {key}", atol)


def ragged_lengths(batch: int, steps: int, rng) -> np.ndarray:
    """Unsorted lengths in [1, T] that include a length-1 and a full-length sequence."""
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    if batch > 1:
        lengths[-1] = 1
    rng.shuffle(lengths)
    if batch > 2 and np.all(np.diff(lengths) <= 0):  # make sure it is not sorted descending
        lengths = lengths[::-1].copy()
    return lengths
