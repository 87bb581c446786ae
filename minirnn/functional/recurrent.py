"""One direction of a recurrent layer over a padded batch, and its BPTT backward.

This is the readable reference loop: it calls the single-step cell functions of
``cells.py`` once per time step. ``minirnn.fast`` holds the optimised loop, which is
tested equal to this one.

Packed-sequence semantics (what PyTorch computes with ``pack_padded_sequence``),
with ``lengths[n]`` real steps in sequence n and ``active[t, n] = t < lengths[n]``:

* outputs are exactly zero at padded steps: ``out[t] = active[t] ? h_t : 0``;
* the state only moves on real steps: ``h_t = active[t] ? cell(x_t, h_{t-1}) : h_{t-1}``,
  so the forward direction ends holding the state of each sequence's last real
  step, and the reverse direction (which walks t = T-1 .. 0) keeps its initial
  state through the padding and starts at each sequence's last real token;
* in backward, the upstream gradient of a padded output is ignored, and the state
  gradient passes a padded step unchanged.

Shapes: T time steps, N batch, D input features, H hidden, P output features of a
step (P = H, or proj_size for a projected LSTM).

``mode`` is one of ``MODES``. State is a tuple: ``(h,)`` for the RNN and GRU,
``(h, c)`` for the LSTM. Parameters are the tuple ``(w_ih, w_hh, b_ih, b_hh)``
(biases may be None), plus ``w_hr`` for a projected LSTM, in PyTorch's layouts.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from .cells import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_cell_backward,
    rnn_cell_forward,
)

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
RNN_NONLINEARITIES = {"rnn_tanh": "tanh", "rnn_relu": "relu"}  # the Elman modes' activation


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown recurrent mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def cell_forward(mode, x, h, c, params):
    """One cell step in any mode: returns ``(h, c, cache)``; c is None except for the LSTM."""
    if mode == "lstm":
        (h, c), cache = lstm_cell_forward(x, h, c, *params)
        return h, c, cache
    if mode == "gru":
        h, cache = gru_cell_forward(x, h, *params)
    else:
        h, cache = rnn_cell_forward(x, h, *params, nonlinearity=RNN_NONLINEARITIES[mode])
    return h, None, cache


def cell_backward(mode, dh, dc, cache):
    """Backward of ``cell_forward``: ``(dx, dh_prev, dc_prev, dparams)``, dparams ordered like params.

    ``dc`` and ``dc_prev`` are None except for the LSTM.
    """
    if mode == "lstm":
        dx, dh_prev, dc_prev, *dparams = lstm_cell_backward(dh, dc, cache)
        return dx, dh_prev, dc_prev, dparams if cache.w_hr is not None else dparams[:4]
    backward = gru_cell_backward if mode == "gru" else rnn_cell_backward
    dx, dh_prev, *dparams = backward(dh, cache)
    return dx, dh_prev, None, dparams


class RecurrentCache(NamedTuple):
    mode: str
    step_caches: list  # one cell cache per time step, in the order they ran
    order: list  # the time index t of each entry of step_caches
    active: object  # (T, N, 1) bool: True on real steps, False on padding
    input_shape: tuple  # (T, N, D)
    param_shapes: tuple  # shapes of params, for zero gradients of absent biases


def padding_mask(lengths, steps: int, like):
    """``active[t, n, 0] = t < lengths[n]`` as a (T, N, 1) bool array on the device of ``like``.

    ``lengths`` None means every step of every sequence is real.
    """
    xp = get_array_module(like)
    if lengths is None:
        return xp.ones((steps, like.shape[1], 1), dtype=bool)
    lengths = xp.asarray(lengths)
    return (xp.arange(steps)[:, None] < lengths[None, :])[:, :, None]


def recurrent_forward(mode, x, state0, params, lengths=None, reverse=False):
    """Run one direction of a recurrent layer over a padded, time-major batch.

    ==========  =========================================================
    x           (T, N, D)
    state0      tuple of (N, P) h0 [and (N, H) c0 for the LSTM]
    params      (w_ih, w_hh, b_ih, b_hh[, w_hr])
    lengths     (N,) ints in [1, T] on the host, or None (all T steps real)
    out         (T, N, P), zero at padded steps
    state_n     tuple like state0: the state after each sequence's last real step
    ==========  =========================================================
    """
    xp = get_array_module(x)
    steps, batch, _ = x.shape
    active = padding_mask(lengths, steps, x)
    h, c = state0[0], (state0[1] if mode == "lstm" else None)
    out = xp.zeros((steps, batch, h.shape[1]), dtype=x.dtype)
    order = list(range(steps - 1, -1, -1)) if reverse else list(range(steps))
    step_caches = []
    for t in order:
        h_next, c_next, step_cache = cell_forward(mode, x[t], h, c, params)
        out[t] = xp.where(active[t], h_next, 0)  # padded outputs are exactly zero
        h = xp.where(active[t], h_next, h)  # padded rows keep their state
        if c is not None:
            c = xp.where(active[t], c_next, c)
        step_caches.append(step_cache)
    state_n = (h,) if c is None else (h, c)
    shapes = tuple(None if p is None else p.shape for p in params)
    return out, state_n, RecurrentCache(mode, step_caches, order, active, x.shape, shapes)


def recurrent_backward(dout, dstate_n, cache: RecurrentCache):
    """Backpropagation through time for ``recurrent_forward``.

    Walking the steps in the reverse of the order they ran, with dh (and dc) the
    gradient flowing into the state after step t from the steps that follow:

    dh_t     = active_t ? dh + dout[t] : 0     (h_t fed the output and the next step)
    dc_t     = active_t ? dc : 0               (LSTM: c_t fed only the next step)
    dx[t], dh_prev, dc_prev, dparams_t = cell backward of step t, from (dh_t, dc_t)
    dh       = active_t ? dh_prev : dh         (a padded step passed the state through)
    dc       = active_t ? dc_prev : dc
    dparams += dparams_t                       (shared weights: the sum over steps)

    ``dout`` may be None (only the final state was used); entries of ``dstate_n``
    may be None (zero). Returns ``(dx, dstate0, dparams)``: dx (T, N, D), dstate0 a
    tuple like state0, and dparams a tuple like params (None for absent biases).
    """
    mode, step_caches, order, active, input_shape, param_shapes = cache
    first = step_caches[0]
    xp = get_array_module(first.x)
    dtype = first.x.dtype
    dh = xp.zeros_like(first.h_prev) if dstate_n[0] is None else dstate_n[0]  # (N, P)
    dc = None  # (N, H) for the LSTM
    if mode == "lstm":
        dc = xp.zeros_like(first.c_prev) if dstate_n[1] is None else dstate_n[1]
    if dout is None:
        dout = xp.zeros((input_shape[0],) + first.h_prev.shape, dtype=dtype)
    dx = xp.empty(input_shape, dtype=dtype)
    dparams = [None if shape is None else xp.zeros(shape, dtype=dtype) for shape in param_shapes]
    for t, step_cache in zip(reversed(order), reversed(step_caches)):
        real = active[t]  # (N, 1): the cell ran on these rows at step t
        dh_t = xp.where(real, dh + dout[t], 0)  # h_t fed both out[t] and step t+1; padded outputs take none
        dc_t = None if dc is None else xp.where(real, dc, 0)  # c_t fed only step t+1
        dx[t], dh_prev, dc_prev, dparams_t = cell_backward(mode, dh_t, dc_t, step_cache)  # chain rule through the cell
        dh = xp.where(real, dh_prev, dh)  # a padded row carried h through unchanged, and so its gradient
        dc = None if dc is None else xp.where(real, dc_prev, dc)
        for total, grad in zip(dparams, dparams_t):
            if total is not None:
                total += grad  # the same weights at every step: BPTT sums their gradients
    dstate0 = (dh,) if dc is None else (dh, dc)
    return dx, dstate0, tuple(dparams)
