"""PyTorch parity of Linear (any leading axes) and Embedding (padding_idx, repeated ids), float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_ref import assert_close, randomize_, state_dict_numpy, worst_error_report  # noqa: F401

import minirnn as mr


@pytest.mark.parametrize("shape", [(6,), (4, 6), (3, 4, 6), (2, 3, 2, 6)], ids=["1d", "2d", "3d", "4d"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    rng = np.random.default_rng(len(shape))
    torch.manual_seed(0)
    ref = randomize_(torch.nn.Linear(6, 5, bias=bias, dtype=torch.float64))
    lin = mr.Linear(6, 5, bias=bias, dtype="float64")
    lin.load_state_dict(state_dict_numpy(ref))
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape[:-1] + (5,))
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    (yt * torch.tensor(dy)).sum().backward()
    y = lin(x)
    dx = lin.backward(dy)
    assert_close(y, yt, f"linear {shape} y")
    assert_close(dx, xt.grad, f"linear {shape} dx")
    params = dict(lin.named_parameters())
    assert sorted(params) == sorted(n for n, _ in ref.named_parameters())
    for name, p in ref.named_parameters():
        assert_close(params[name].grad, p.grad, f"linear {shape} grad:{name}")


def test_linear_gradients_accumulate_like_torch():
    """Two forward calls, then two backward calls in reverse order: grads add up as in torch."""
    rng = np.random.default_rng(7)
    ref = randomize_(torch.nn.Linear(4, 3, dtype=torch.float64))
    lin = mr.Linear(4, 3, dtype="float64")
    lin.load_state_dict(state_dict_numpy(ref))
    x1, x2 = rng.standard_normal((2, 5, 4)), rng.standard_normal((3, 4))
    dy1, dy2 = rng.standard_normal((2, 5, 3)), rng.standard_normal((3, 3))
    x1t, x2t = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    ((ref(x1t) * torch.tensor(dy1)).sum() + (ref(x2t) * torch.tensor(dy2)).sum()).backward()
    lin(x1)
    lin(x2)
    dx2 = lin.backward(dy2)
    dx1 = lin.backward(dy1)
    assert_close(dx1, x1t.grad, "linear stack dx1")
    assert_close(dx2, x2t.grad, "linear stack dx2")
    assert_close(lin.weight.grad, ref.weight.grad, "linear stack dW")
    assert_close(lin.bias.grad, ref.bias.grad, "linear stack db")


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding(padding_idx):
    rng = np.random.default_rng(11)
    torch.manual_seed(0)
    ref = torch.nn.Embedding(7, 4, padding_idx=padding_idx, dtype=torch.float64)
    emb = mr.Embedding(7, 4, padding_idx=padding_idx, dtype="float64")
    emb.load_state_dict(state_dict_numpy(ref))
    pad = 0 if padding_idx is None else padding_idx % 7
    ids = np.array([[1, 2, 1, pad, 6], [pad, 2, 2, 2, 5], [0, 6, 3, 1, pad]])  # repeats, and the padding row
    dy = rng.standard_normal(ids.shape + (4,))
    yt = ref(torch.tensor(ids))
    (yt * torch.tensor(dy)).sum().backward()
    y = emb(ids)
    assert emb.backward(dy) is None
    assert_close(y, yt, f"embedding pad={padding_idx} y")
    assert_close(emb.weight.grad, ref.weight.grad, f"embedding pad={padding_idx} dW")
    if padding_idx is not None:
        assert np.all(emb.weight.grad[pad] == 0)


def test_embedding_fresh_padding_row_is_zero_like_torch():
    emb = mr.Embedding(5, 3, padding_idx=2, dtype="float64")
    ref = torch.nn.Embedding(5, 3, padding_idx=2, dtype=torch.float64)
    assert np.all(emb.weight.data[2] == 0)
    assert torch.all(ref.weight[2] == 0)
