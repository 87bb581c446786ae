"""minirnn <-> PyTorch weight transfer: the same outputs in both, float64, ~1e-12.

Each torch layer gets random non-zero weights and biases, goes through
``from_torch``, and both run the same random input; then the way back
(``to_torch`` / ``to_torch_state_dict``) is checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import minirnn as mr
from minirnn.interop import from_torch, to_torch, to_torch_state_dict

ATOL = 1e-12


def randomize_(module, seed=0, bound=0.5):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 * bound - bound)
    return module


def close(a, b, where=""):
    a = mr.to_numpy(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, f"{where}: {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=where)


RECURRENT = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=3, batch_first=True)),
    ("LSTM", dict(bias=False, num_layers=2, dropout=0.3)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict()),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
    ("RNN", dict(nonlinearity="tanh", num_layers=3, bias=False)),
]


@pytest.mark.parametrize("kind,options", RECURRENT, ids=[f"{k}-{'-'.join(o) or 'plain'}" for k, o in RECURRENT])
def test_from_torch_recurrent_same_outputs(kind, options, rng):
    torch_layer = randomize_(getattr(torch.nn, kind)(4, 5, dtype=torch.float64, **options)).eval()
    layer = from_torch(torch_layer).eval()
    assert type(layer).__name__ == kind
    assert layer.dtype == np.float64
    T, N = 6, 3
    batch_first = options.get("batch_first", False)
    x = rng.standard_normal((N, T, 4) if batch_first else (T, N, 4))
    lengths = np.array([6, 2, 4])
    out, state = layer(x, lengths=lengths)
    packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths), batch_first=batch_first,
                                  enforce_sorted=False)
    t_out, t_state = torch_layer(packed)
    t_out, _ = pad_packed_sequence(t_out, batch_first=batch_first, total_length=T)
    close(out, t_out, "out")
    if kind == "LSTM":
        close(state[0], t_state[0], "h_n")
        close(state[1], t_state[1], "c_n")
    else:
        close(state, t_state, "h_n")


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_from_torch_cells_same_outputs(kind, rng):
    extra = {"nonlinearity": "relu"} if kind == "RNNCell" else {}
    torch_cell = randomize_(getattr(torch.nn, kind)(4, 5, dtype=torch.float64, **extra), seed=1)
    cell = from_torch(torch_cell)
    x, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 5))
    if kind == "LSTMCell":
        c = rng.standard_normal((3, 5))
        ours = cell(x, (h, c))
        theirs = torch_cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
        close(ours[0], theirs[0], "h")
        close(ours[1], theirs[1], "c")
    else:
        close(cell(x, h), torch_cell(torch.from_numpy(x), torch.from_numpy(h)), "h")
        if kind == "RNNCell":
            assert cell.nonlinearity == "relu"


def test_from_torch_linear_and_embedding(rng):
    torch_lin = randomize_(torch.nn.Linear(4, 3, dtype=torch.float64), seed=2)
    lin = from_torch(torch_lin)
    x = rng.standard_normal((2, 5, 4))
    close(lin(x), torch_lin(torch.from_numpy(x)), "linear")
    no_bias = from_torch(torch.nn.Linear(4, 3, bias=False, dtype=torch.float64))
    assert no_bias.bias is None

    torch_emb = torch.nn.Embedding(7, 3, padding_idx=0, dtype=torch.float64)
    emb = from_torch(torch_emb)
    assert emb.padding_idx == 0
    ids = rng.integers(0, 7, size=(2, 5))
    close(emb(ids), torch_emb(torch.from_numpy(ids)), "embedding")


def test_to_torch_round_trip(rng):
    """minirnn -> torch -> same outputs; and the state dict loads into a fresh torch layer."""
    mr.manual_seed(3)
    layer = mr.GRU(4, 5, num_layers=2, bidirectional=True, dtype="float64")
    x = rng.standard_normal((6, 2, 4))
    out, h_n = layer(x)
    torch_layer = to_torch(layer)
    t_out, t_h = torch_layer(torch.from_numpy(x))
    close(out, t_out, "out")
    close(h_n, t_h, "h_n")

    fresh = torch.nn.GRU(4, 5, num_layers=2, bidirectional=True, dtype=torch.float64)
    fresh.load_state_dict(to_torch_state_dict(layer))
    close(out, fresh(torch.from_numpy(x))[0], "out via state dict")

    lstm = mr.LSTM(4, 6, proj_size=2, dtype="float64")
    back = from_torch(to_torch(lstm))
    for (name, a), (_, b) in zip(lstm.named_parameters(), back.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    for cls in (mr.LSTMCell, mr.GRUCell, mr.Linear):
        m = cls(3, 4, dtype="float64")
        t = to_torch(m)
        for name, value in t.state_dict().items():
            assert np.array_equal(value.numpy(), dict(m.named_parameters())[name].data)


def test_unsupported_module_is_named():
    with pytest.raises(TypeError, match="Conv1d"):
        from_torch(torch.nn.Conv1d(2, 2, 3))
    with pytest.raises(ValueError, match="max_norm"):
        from_torch(torch.nn.Embedding(5, 2, max_norm=1.0))
    with pytest.raises(TypeError, match="expects a torch.nn.Module.*got LSTM"):
        from_torch(mr.LSTM(2, 3))  # a minirnn layer, not a torch one
