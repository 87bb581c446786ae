"""Multi-layer, optionally bidirectional RNN, LSTM and GRU layers, like ``torch.nn``.

The layers own PyTorch-named parameters and glue directions and layers together;
the per-direction math is ``minirnn.fast`` (``impl="fast"``, the default; tested
equal to the reference) or ``functional.recurrent`` (``impl="reference"``, the
readable reference loop).

Shapes (time-major; batch_first swaps the first two axes of x and out):

=========  ==================================================================
x          (T, N, D), or (T, D) unbatched
lengths    (N,) ints in [1, T]: PyTorch's pack_padded_sequence semantics
h0, h_n    (num_layers * num_directions, N, P), P = proj_size or hidden_size
c0, c_n    (num_layers * num_directions, N, H)   (LSTM)
out        (T, N, num_directions * P), zero past each length
=========  ==================================================================

The layer index of h_n is ``layer * num_directions + direction``, as in PyTorch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_array_module, resolve_dtype, uniform
from ..checks import (
    check_choice,
    check_finite,
    check_float,
    check_int,
    check_last_dim,
    check_lengths,
    check_positive_int,
    check_probability,
    check_rank,
    check_shape,
)
from ..fast import recurrent as fast_recurrent
from ..functional import linear as F_linear
from ..functional import recurrent as F_recurrent
from .module import Module, Parameter, is_grad_enabled

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
# impl name -> (forward, backward) of one direction; the layer binds one pair
IMPLEMENTATIONS = {
    "reference": (F_recurrent.recurrent_forward, F_recurrent.recurrent_backward),
    "fast": (fast_recurrent.recurrent_forward, fast_recurrent.recurrent_backward),
}
IMPLS = tuple(IMPLEMENTATIONS)


class _RNNCache(NamedTuple):
    layer_caches: list  # per layer: list of per-direction caches of the bound implementation
    dropout_caches: list  # per layer > 0: the DropoutCache on its input, or None
    batch_first: bool
    unbatched: bool
    out_shape: tuple  # time-major (T, N, num_directions * P)
    direction_backward: object  # the backward of the implementation that made layer_caches


def _to_time_major(a, unbatched: bool, batch_first: bool):
    """A user-layout array as time-major and batched: (T, D) -> (T, 1, D) when unbatched,
    (N, T, D) -> (T, N, D) when batch_first; states (L, H) -> (L, 1, H) likewise."""
    if a is None:
        return None
    if unbatched:
        return a[:, None, :]
    return a.transpose(1, 0, 2) if batch_first else a


def _from_time_major(a, unbatched: bool, batch_first: bool):
    """The inverse of ``_to_time_major``."""
    if a is None:
        return None
    if unbatched:
        return a[:, 0]
    return a.transpose(1, 0, 2) if batch_first else a


def _user_shape(shape: tuple, unbatched: bool, batch_first: bool) -> tuple:
    """The shape a user passes for a time-major batched ``shape`` (see _to_time_major)."""
    if unbatched:
        return (shape[0],) + tuple(shape[2:])
    return (shape[1], shape[0]) + tuple(shape[2:]) if batch_first else tuple(shape)


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU; use those classes."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype=None,
        impl: str = "fast",
    ):
        super().__init__()
        name = type(self).__name__
        F_recurrent.check_mode(mode)
        input_size = check_positive_int(input_size, name, "input_size")
        hidden_size = check_positive_int(hidden_size, name, "hidden_size")
        num_layers = check_positive_int(num_layers, name, "num_layers")
        dropout = check_probability(dropout, name, "dropout")
        proj_size = check_int(proj_size, name, f"proj_size (below hidden_size={hidden_size})", 0, hidden_size - 1)
        if proj_size and mode != "lstm":
            raise ValueError(f"proj_size is only supported by LSTM, not {name}")
        check_choice(impl, IMPLS, name, "impl")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout, self.proj_size, self.impl = dropout, proj_size, impl  # the setter binds the loops
        self.num_directions = 2 if bidirectional else 1
        self.output_size = proj_size if proj_size else hidden_size  # P in the docstrings
        dtype = resolve_dtype(dtype)
        gate_size = GATES[mode] * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else self.output_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, self.output_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                # PyTorch's registration order: w_ih, w_hh, b_ih, b_hh, w_hr per layer and direction.
                for name, shape in shapes.items():
                    self.register_parameter(f"{name}{sfx}", Parameter(uniform(shape, bound, dtype)))

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def _direction_params(self, layer: int, direction: int) -> tuple:
        """(w_ih, w_hh, b_ih, b_hh[, w_hr]) arrays for one layer and direction."""
        sfx = self._suffix(layer, direction)
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] + (["weight_hr"] if self.proj_size else [])
        params = []
        for n in names:
            p = getattr(self, f"{n}{sfx}", None)
            params.append(None if p is None else p.data)
        return tuple(params)

    def _accumulate(self, layer: int, direction: int, grads) -> None:
        sfx = self._suffix(layer, direction)
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] + (["weight_hr"] if self.proj_size else [])
        for n, g in zip(names, grads):
            p = getattr(self, f"{n}{sfx}", None)
            if p is not None:
                p.accumulate(g)

    @property
    def impl(self) -> str:
        """The per-direction loop: ``"fast"`` (``minirnn.fast``) or ``"reference"``."""
        return self._impl

    @impl.setter
    def impl(self, name: str) -> None:
        if name not in IMPLEMENTATIONS:
            raise ValueError(f"{type(self).__name__} impl must be one of {', '.join(IMPLS)}, got {name!r}")
        object.__setattr__(self, "_impl", name)
        # bound once here; each forward's cache remembers the backward that matches it
        self._direction_forward, self._direction_backward = IMPLEMENTATIONS[name]

    @property
    def _is_lstm(self) -> bool:
        return self.mode == "lstm"

    # ------------------------------------------------------------------ forward
    def forward(self, x, hx=None, lengths=None):
        """Run every layer and direction; returns ``(out, h_n)`` or ``(out, (h_n, c_n))``."""
        name = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        check_float(x, dtype, name)
        layout = "(T, N, D) or unbatched (T, D)" if not self.batch_first else "(N, T, D) or unbatched (T, D)"
        check_rank(x, (2, 3), name, "input", layout)
        check_last_dim(x, self.input_size, name)
        check_finite(x, name)
        unbatched = x.ndim == 2
        x = _to_time_major(x, unbatched, self.batch_first)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{name} expects at least one time step, got T = 0")
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps, name)
            if batch == 0 or lengths.min() == steps:
                lengths = None  # every sequence is full (or there is none): the plain path is the same
        h0, c0 = self._initial_state(hx, batch, unbatched, x)
        out, h_n, c_n, layer_caches, dropout_caches = self._forward_layers(x, h0, c0, lengths)
        if is_grad_enabled():
            self._save(_RNNCache(layer_caches, dropout_caches, self.batch_first, unbatched, out.shape,
                                 self._direction_backward))
        else:  # no backward will come: the fast loop's scratch goes back to its workspace now
            for cache in (c for caches in layer_caches for c in caches):
                if isinstance(cache, fast_recurrent.FastRecurrentCache):
                    fast_recurrent.release(cache)
        out = _from_time_major(out, unbatched, self.batch_first)
        h_n, c_n = _from_time_major(h_n, unbatched, False), _from_time_major(c_n, unbatched, False)
        return (out, (h_n, c_n)) if self._is_lstm else (out, h_n)

    def _forward_layers(self, x, h0, c0, lengths):
        """Time-major, batched: ``(out, h_n, c_n, layer_caches, dropout_caches)``."""
        xp = get_array_module(x)
        layer_input, layer_caches, dropout_caches = x, [], []
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0:
                layer_input, drop_cache = F_linear.dropout_forward(layer_input, self.dropout)
            else:
                drop_cache = None
            dropout_caches.append(drop_cache)
            outputs, caches = [], []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                state0 = (h0[index],) + ((c0[index],) if self._is_lstm else ())
                params = self._direction_params(layer, direction)
                out, state_n, cache = self._direction_forward(
                    self.mode, layer_input, state0, params, lengths, reverse=direction == 1
                )
                outputs.append(out)
                caches.append(cache)
                h_n.append(state_n[0])
                if self._is_lstm:
                    c_n.append(state_n[1])
            layer_input = outputs[0] if len(outputs) == 1 else xp.concatenate(outputs, axis=2)
            layer_caches.append(caches)
        c_n = xp.stack(c_n) if self._is_lstm else None
        return layer_input, xp.stack(h_n), c_n, layer_caches, dropout_caches

    def _initial_state(self, hx, batch, unbatched, like):
        """Validate ``hx`` and return (h0, c0) as (L*dirs, N, .) arrays (c0 None unless LSTM)."""
        name = type(self).__name__
        xp = get_array_module(like)
        layers = self.num_layers * self.num_directions
        h_shape = (layers, self.output_size) if unbatched else (layers, batch, self.output_size)
        c_shape = (layers, self.hidden_size) if unbatched else (layers, batch, self.hidden_size)
        if hx is None:
            h0, c0 = None, None
        elif self._is_lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name} expects hx to be a tuple (h0, c0), got {type(hx).__name__}")
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        if h0 is not None:
            check_float(h0, like.dtype, name, "h0")
            check_shape(h0, h_shape, name, "h0")
        if c0 is not None:
            check_float(c0, like.dtype, name, "c0")
            check_shape(c0, c_shape, name, "c0")
        full_h = (layers, batch, self.output_size)
        full_c = (layers, batch, self.hidden_size)
        h0 = xp.zeros(full_h, dtype=like.dtype) if h0 is None else h0.reshape(full_h)
        if self._is_lstm:
            c0 = xp.zeros(full_c, dtype=like.dtype) if c0 is None else c0.reshape(full_c)
        return h0, c0

    # ------------------------------------------------------------------ backward
    def backward(self, dout=None, dh_n=None):
        """BPTT through every layer and direction, accumulating parameter gradients.

        ``dout`` is the gradient of ``out`` (None when only the final state was used);
        ``dh_n`` is the gradient of ``h_n`` (RNN/GRU), or a pair ``(dh_n, dc_n)`` for
        the LSTM, any of which may be None. Returns ``(dx, dh0)`` or
        ``(dx, (dh0, dc0))``, the gradients of the input and of the initial state
        (taken at zeros when no ``hx`` was given).
        """
        name = f"{type(self).__name__}.backward"
        cache = self._peek()  # popped once the upstream gradients pass their checks
        if self._is_lstm:
            if dh_n is None:
                dh_n = (None, None)
            if not isinstance(dh_n, (tuple, list)) or len(dh_n) != 2:
                raise TypeError(f"{name} expects dh_n to be None or a pair (dh_n, dc_n), got {type(dh_n).__name__}")
            dh_final, dc_final = dh_n
        else:
            dh_final, dc_final = dh_n, None
        steps, batch, width = cache.out_shape
        layers = self.num_layers * self.num_directions
        grads = (  # (gradient, its name, its time-major batched shape, batch_first applies)
            (dout, "dout", (steps, batch, width), cache.batch_first),
            (dh_final, "dh_n", (layers, batch, self.output_size), False),
            (dc_final, "dc_n", (layers, batch, self.hidden_size), False),
        )
        for grad, label, shape, batch_first in grads:
            if grad is not None:
                check_float(grad, self.weight_ih_l0.dtype, name, label)
                check_shape(grad, _user_shape(shape, cache.unbatched, batch_first), name, label)
        self._restore()
        dout, dh_final, dc_final = (_to_time_major(g, cache.unbatched, bf) for g, _, _, bf in grads)
        dx, dh0, dc0 = self._backward_layers(cache, dout, dh_final, dc_final)
        dx = _from_time_major(dx, cache.unbatched, cache.batch_first)
        dh0, dc0 = _from_time_major(dh0, cache.unbatched, False), _from_time_major(dc0, cache.unbatched, False)
        return (dx, (dh0, dc0)) if self._is_lstm else (dx, dh0)

    def _backward_layers(self, cache, dout, dh_final, dc_final):
        """Time-major, batched: ``(dx, dh0, dc0)``, accumulating every parameter gradient."""
        xp = get_array_module(self.weight_ih_l0.data)
        layers = self.num_layers * self.num_directions
        dh0, dc0 = [None] * layers, [None] * layers
        dlayer_out, size = dout, self.output_size
        for layer in reversed(range(self.num_layers)):
            dlayer_in = None
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                d_out = None if dlayer_out is None else dlayer_out[:, :, direction * size : (direction + 1) * size]
                dstate_n = (None if dh_final is None else dh_final[index],)
                if self._is_lstm:
                    dstate_n += (None if dc_final is None else dc_final[index],)
                dx, dstate0, dparams = cache.direction_backward(d_out, dstate_n, cache.layer_caches[layer][direction])
                self._accumulate(layer, direction, dparams)
                dlayer_in = dx if dlayer_in is None else dlayer_in + dx
                dh0[index] = dstate0[0]
                if self._is_lstm:
                    dc0[index] = dstate0[1]
            if cache.dropout_caches[layer] is not None:
                dlayer_in = F_linear.dropout_backward(dlayer_in, cache.dropout_caches[layer])
            dlayer_out = dlayer_in
        return dlayer_out, xp.stack(dh0), (xp.stack(dc0) if self._is_lstm else None)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.mode == "rnn_relu":
            parts.append("nonlinearity='relu'")
        if not self.bias:
            parts.append("bias=False")
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.proj_size:
            parts.append(f"proj_size={self.proj_size}")
        return ", ".join(parts)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=None, impl="fast"):
        check_choice(nonlinearity, ("tanh", "relu"), "RNN", "nonlinearity")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, dtype, impl)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """LSTM with PyTorch's gates [i|f|g|o] and optional output projection ``proj_size``.

    ``out, (h_n, c_n) = lstm(x, (h0, c0), lengths)``; see ``functional.cells.lstm_cell_forward``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=None, impl="fast"):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype, impl)


class GRU(RNNBase):
    """GRU with PyTorch's gates [r|z|n], n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)).

    ``out, h_n = gru(x, h0, lengths)``; see ``functional.cells.gru_cell_forward``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None, impl="fast"):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, dtype, impl)
