"""Bridge: a bidirectional encoder's final state, mapped to a unidirectional decoder's.

A bidirectional encoder ends with two states per layer (forward and backward, each
H wide); a decoder runs one way and wants one. Per layer l::

    h_l = tanh([h_fwd; h_bwd] W_l^T + b_l)       Linear ``h_l{l}`` (2H -> H)
    c_l = [c_fwd; c_bwd] V_l^T + d_l             Linear ``c_l{l}`` (LSTM only)

The cell state is not squashed: an LSTM's c is unbounded, and a tanh would only
limit the decoder's starting memory.

=======  ====================================================================
h_n      (2L, N, H) in PyTorch's order [l0 fwd, l0 bwd, l1 fwd, l1 bwd, ...]
c_n      (2L, N, H) for an LSTM, else None
h, c     (L, N, H) each (c None unless LSTM)
=======  ====================================================================
"""

from __future__ import annotations

from ..backend import get_array_module
from ..functional import tanh, tanh_backward
from .linear import Linear
from .module import Module


def _pair_directions(state):
    """(2L, N, H) [l0 fwd, l0 bwd, ...] -> (L, N, 2H) [fwd; bwd] per layer."""
    xp = get_array_module(state)
    return xp.concatenate([state[0::2], state[1::2]], axis=2)


def _unpair_directions(grads):
    """The inverse of ``_pair_directions``: L arrays (N, 2H) -> (2L, N, H)."""
    xp = get_array_module(grads[0])
    grads = xp.stack(grads)  # (L, N, 2H)
    hidden = grads.shape[2] // 2
    out = xp.empty((2 * grads.shape[0], grads.shape[1], hidden), dtype=grads.dtype)
    out[0::2], out[1::2] = grads[:, :, :hidden], grads[:, :, hidden:]
    return out


class Bridge(Module):
    """Maps a bidirectional encoder's final state (2H per layer) to the decoder's (H).

    ``h, c = bridge(h_n, c_n)``; ``dh_n, dc_n = bridge.backward(dh, dc)`` (see the
    module docstring for the equations and shapes).
    """

    def __init__(self, hidden_size: int, num_layers: int, lstm: bool, dtype=None):
        super().__init__()
        self.hidden_size, self.num_layers, self.lstm = hidden_size, num_layers, lstm
        for layer in range(num_layers):
            setattr(self, f"h_l{layer}", Linear(2 * hidden_size, hidden_size, dtype=dtype))
            if lstm:
                setattr(self, f"c_l{layer}", Linear(2 * hidden_size, hidden_size, dtype=dtype))

    def _maps(self, state: str):
        return [getattr(self, f"{state}_l{layer}") for layer in range(self.num_layers)]

    def forward(self, h_n, c_n=None):
        """h_n, c_n (2L, N, H) -> (h, c), each (L, N, H); c is None unless LSTM."""
        xp = get_array_module(h_n)
        h_pairs = _pair_directions(h_n)
        hs = [tanh(linear(h_pairs[layer])) for layer, linear in enumerate(self._maps("h"))]
        self._save(tuple(hs))  # tanh outputs, for tanh' = 1 - h^2
        if not self.lstm:
            return xp.stack(hs), None
        c_pairs = _pair_directions(c_n)
        cs = [linear(c_pairs[layer]) for layer, linear in enumerate(self._maps("c"))]
        return xp.stack(hs), xp.stack(cs)

    def backward(self, dh, dc=None):
        """dh, dc (L, N, H) -> (dh_n, dc_n), each (2L, N, H); dc_n is None unless LSTM.

        Layers run backward in reverse order, as their caches were pushed.
        """
        tanh_outs = self._restore()
        layers = reversed(range(self.num_layers))
        h_maps = self._maps("h")
        dh_pairs = [h_maps[layer].backward(tanh_backward(dh[layer], tanh_outs[layer])) for layer in layers]
        dh_n = _unpair_directions(dh_pairs[::-1])
        if not self.lstm:
            return dh_n, None
        c_maps = self._maps("c")
        dc_pairs = [c_maps[layer].backward(dc[layer]) for layer in reversed(range(self.num_layers))]
        return dh_n, _unpair_directions(dc_pairs[::-1])

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, lstm={self.lstm}"
