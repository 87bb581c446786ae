"""A first PyTorch parity check; the full matrix of options is in test_parity_rnn.py."""

import numpy as np
import torch

import minirnn as mr


def test_lstm_matches_torch_outputs_and_grads():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, dtype=torch.float64)
    lstm = mr.LSTM(3, 5, dtype="float64")
    lstm.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal((4, 2, 3))
    dout = rng.standard_normal((4, 2, 5))
    out, _ = lstm(x)
    dx, _ = lstm.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    out_t, _ = ref(xt)
    (out_t * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)
    for name, p in lstm.named_parameters():
        np.testing.assert_allclose(p.grad, dict(ref.named_parameters())[name].grad.numpy(), rtol=0, atol=1e-12)
