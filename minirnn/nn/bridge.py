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
dh, dc   (L, N, H) each, or None for a state that was not used (zeros)
=======  ====================================================================

Every argument is checked at the call (shape, dtype, finite values, c_n exactly
when ``lstm``), and a backward's gradients before it takes the forward's cache.
"""

from __future__ import annotations

from ..backend import get_array_module
from ..checks import check_finite, check_float, check_positive_ints, check_rank, check_shape
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
    module docstring for the equations and shapes). ``lstm=True`` maps the cell
    state too: ``c_n`` is then required, and refused otherwise.
    """

    def __init__(self, hidden_size: int, num_layers: int, lstm: bool, dtype=None):
        super().__init__()
        sizes = check_positive_ints("Bridge", hidden_size=hidden_size, num_layers=num_layers)
        self.hidden_size, self.num_layers, self.lstm = sizes["hidden_size"], sizes["num_layers"], bool(lstm)
        for layer in range(self.num_layers):
            setattr(self, f"h_l{layer}", Linear(2 * self.hidden_size, self.hidden_size, dtype=dtype))
            if self.lstm:
                setattr(self, f"c_l{layer}", Linear(2 * self.hidden_size, self.hidden_size, dtype=dtype))

    def _maps(self, state: str):
        return [getattr(self, f"{state}_l{layer}") for layer in range(self.num_layers)]

    def _check_states(self, h_n, c_n):
        """Both encoder states checked against the layer (before any of them is used)."""
        name, dtype = "Bridge", self.h_l0.weight.dtype
        if self.lstm and c_n is None:
            raise ValueError("Bridge (lstm=True) expects c_n, the encoder's cell state (2L, N, H), got None")
        if not self.lstm and c_n is not None:
            raise ValueError(f"Bridge (lstm=False) takes no c_n (a GRU or RNN has no cell state), got "
                             f"{type(c_n).__name__}; build Bridge(..., lstm=True) for an LSTM encoder")
        for label, state in (("h_n", h_n), ("c_n", c_n)):
            if state is None:
                continue
            check_float(state, dtype, name, label)
            check_rank(state, 3, name, label, "(2L, N, H): both directions of every layer")
            expected = (2 * self.num_layers, state.shape[1], self.hidden_size)
            check_shape(state, expected, name, f"{label} (2 * num_layers, N, hidden_size)")
            check_finite(state, name, label)
        if c_n is not None:
            check_shape(c_n, h_n.shape, name, "c_n (the shape of h_n)")

    def forward(self, h_n, c_n=None):
        """h_n, c_n (2L, N, H) -> (h, c), each (L, N, H); c is None unless LSTM."""
        self._check_states(h_n, c_n)
        xp = get_array_module(h_n)
        h_pairs = _pair_directions(h_n)
        hs = [tanh(linear(h_pairs[layer])) for layer, linear in enumerate(self._maps("h"))]
        self._save(tuple(hs))  # tanh outputs, for tanh' = 1 - h^2
        if not self.lstm:
            return xp.stack(hs), None
        c_pairs = _pair_directions(c_n)
        cs = [linear(c_pairs[layer]) for layer, linear in enumerate(self._maps("c"))]
        return xp.stack(hs), xp.stack(cs)

    def _check_grads(self, dh, dc, tanh_outs):
        """dh, dc as (L, N, H) arrays (None: zeros), checked against the forward they answer."""
        name, dtype = "Bridge.backward", self.h_l0.weight.dtype
        if not self.lstm and dc is not None:
            raise ValueError(f"Bridge.backward (lstm=False) takes no dc (no cell state), got {type(dc).__name__}")
        xp = get_array_module(tanh_outs[0])
        expected = (self.num_layers,) + tuple(tanh_outs[0].shape)  # (L, N, H)
        grads = []
        for label, grad in (("dh", dh), ("dc", dc)):
            if grad is None:
                grads.append(xp.zeros(expected, dtype=dtype))
                continue
            check_float(grad, dtype, name, label)
            check_shape(grad, expected, name, f"{label} (num_layers, N, hidden_size)")
            grads.append(grad)
        return grads

    def backward(self, dh, dc=None):
        """dh, dc (L, N, H) -> (dh_n, dc_n), each (2L, N, H); dc_n is None unless LSTM.

        Per layer l, with [.; .] the (N, 2H) pair of directions that ``_unpair_directions``
        splits back into PyTorch's order::

            da_l               = dh_l * (1 - h_l^2)          (tanh' from its output)
            [dh_fwd; dh_bwd]   = da_l W_l                    dW_l = da_l^T [h_fwd; h_bwd]
            [dc_fwd; dc_bwd]   = dc_l V_l                    dV_l = dc_l^T [c_fwd; c_bwd]
            db_l = sum_N da_l, dd_l = sum_N dc_l             (accumulated in the Linears' .grad)

        Either gradient may be None (its state was not used: zeros). Layers run
        backward in reverse order, as their caches were pushed. The gradients are
        checked before the forward's cache is taken, so a refused call can be retried.
        """
        dh, dc = self._check_grads(dh, dc, self._peek())
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
