"""RNNCell, LSTMCell and GRUCell: one step at a time, for hand-written loops.

Each forward call pushes a cache and each backward call pops one, so a cell used
T times in a decoder loop is backpropagated by T backward calls in reverse order,
and its parameter gradients add up over the steps (BPTT by hand).

=======  ===================================
x        (N, D), or (D,) unbatched
h, c     (N, H), or (H,) unbatched
=======  ===================================
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import get_array_module, resolve_dtype, uniform
from ..checks import (
    check_choice,
    check_finite,
    check_float,
    check_last_dim,
    check_positive_int,
    check_rank,
    check_shape,
)
from ..functional.cells import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_cell_backward,
    rnn_cell_forward,
)
from .module import Module, Parameter


class _CellCache(NamedTuple):
    step: object  # the functional cell cache
    unbatched: bool


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__()
        name = type(self).__name__
        input_size = check_positive_int(input_size, name, "input_size")
        hidden_size = check_positive_int(hidden_size, name, "hidden_size")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bool(bias)
        dtype = resolve_dtype(dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        gate_size = self.gates * hidden_size
        self.weight_ih = Parameter(uniform((gate_size, input_size), bound, dtype))
        self.weight_hh = Parameter(uniform((gate_size, hidden_size), bound, dtype))
        self.register_parameter("bias_ih", Parameter(uniform((gate_size,), bound, dtype)) if bias else None)
        self.register_parameter("bias_hh", Parameter(uniform((gate_size,), bound, dtype)) if bias else None)

    def _params(self):
        bias = (None, None) if self.bias_ih is None else (self.bias_ih.data, self.bias_hh.data)
        return (self.weight_ih.data, self.weight_hh.data) + bias

    def _accumulate(self, dw_ih, dw_hh, db_ih, db_hh):
        self.weight_ih.accumulate(dw_ih)
        self.weight_hh.accumulate(dw_hh)
        if self.bias_ih is not None:
            self.bias_ih.accumulate(db_ih)
            self.bias_hh.accumulate(db_hh)

    def _check_input(self, x):
        name = type(self).__name__
        check_float(x, self.weight_ih.dtype, name)
        check_rank(x, (1, 2), name, "input", "(N, D) or unbatched (D,)")
        check_last_dim(x, self.input_size, name)
        check_finite(x, name)
        unbatched = x.ndim == 1
        return (x[None, :] if unbatched else x), unbatched

    def _state(self, state, x, unbatched, label):
        """A state of shape (N, H): zeros for None, otherwise checked against x."""
        name = type(self).__name__
        if state is None:
            return get_array_module(x).zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        check_float(state, x.dtype, name, label)
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        check_shape(state, expected, name, label)
        return state[None, :] if unbatched else state

    def _check_grad(self, grad, cache, label):
        if grad is None:
            return None
        step = cache.step
        check_float(grad, self.weight_ih.dtype, f"{type(self).__name__}.backward", label)
        expected = (self.hidden_size,) if cache.unbatched else (step.x.shape[0], self.hidden_size)
        check_shape(grad, expected, f"{type(self).__name__}.backward", label)
        return grad[None, :] if cache.unbatched else grad

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class _HiddenStateCell(_CellBase):
    """A cell whose whole state is h: ``h = cell(x, h_prev)``, ``dx, dh_prev = cell.backward(dh)``.

    A subclass names its functional step: ``_step_forward(x, h_prev)`` and
    ``_step_backward(dh, cache)``.
    """

    def forward(self, x, hx=None):
        x, unbatched = self._check_input(x)
        h_prev = self._state(hx, x, unbatched, "hx")
        h, cache = self._step_forward(x, h_prev)
        self._save(_CellCache(cache, unbatched))
        return h[0] if unbatched else h

    def backward(self, dh):
        """dh (N, H) -> (dx, dh_prev); accumulates the parameter gradients."""
        cache = self._peek()
        dh = self._check_grad(dh, cache, "dh")
        self._restore()
        dx, dh_prev, *grads = self._step_backward(dh, cache.step)
        self._accumulate(*grads)
        return (dx[0], dh_prev[0]) if cache.unbatched else (dx, dh_prev)


class RNNCell(_HiddenStateCell):
    """h = act(x W_ih^T + b_ih + h_prev W_hh^T + b_hh); ``h = cell(x, h_prev)``."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=None):
        check_choice(nonlinearity, ("tanh", "relu"), "RNNCell", "nonlinearity")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def _step_forward(self, x, h_prev):
        return rnn_cell_forward(x, h_prev, *self._params(), nonlinearity=self.nonlinearity)

    @staticmethod
    def _step_backward(dh, cache):
        return rnn_cell_backward(dh, cache)


class GRUCell(_HiddenStateCell):
    """PyTorch's GRU step (gates [r|z|n]); ``h = cell(x, h_prev)``."""

    gates = 3

    def _step_forward(self, x, h_prev):
        return gru_cell_forward(x, h_prev, *self._params())

    @staticmethod
    def _step_backward(dh, cache):
        return gru_cell_backward(dh, cache)


class LSTMCell(_CellBase):
    """PyTorch's LSTM step (gates [i|f|g|o]); ``h, c = cell(x, (h_prev, c_prev))``."""

    gates = 4

    def forward(self, x, hx=None):
        x, unbatched = self._check_input(x)
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell expects hx to be None or a pair (h, c), got {type(hx).__name__}")
        h_prev = self._state(hx[0], x, unbatched, "h")
        c_prev = self._state(hx[1], x, unbatched, "c")
        (h, c), cache = lstm_cell_forward(x, h_prev, c_prev, *self._params())
        self._save(_CellCache(cache, unbatched))
        return (h[0], c[0]) if unbatched else (h, c)

    def backward(self, dstate):
        """dstate = (dh, dc), either may be None -> (dx, (dh_prev, dc_prev))."""
        cache = self._peek()
        if not isinstance(dstate, (tuple, list)) or len(dstate) != 2:
            raise TypeError(
                f"LSTMCell.backward expects a pair (dh, dc), either may be None; got {type(dstate).__name__}"
            )
        dh = self._check_grad(dstate[0], cache, "dh")
        dc = self._check_grad(dstate[1], cache, "dc")
        self._restore()
        if dh is None:
            dh = get_array_module(cache.step.x).zeros_like(cache.step.m)
        dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh, _ = lstm_cell_backward(dh, dc, cache.step)
        self._accumulate(dw_ih, dw_hh, db_ih, db_hh)
        if cache.unbatched:
            return dx[0], (dh_prev[0], dc_prev[0])
        return dx, (dh_prev, dc_prev)
