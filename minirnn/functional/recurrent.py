"""One direction of a recurrent layer over a padded batch, and its BPTT backward.

This is the readable reference loop: it calls the single-step cell functions of
``cells.py`` once per time step. ``minirnn.fast`` holds the optimised loop, which is
tested equal to this one.

Packed-sequence semantics (what PyTorch computes with ``pack_padded_sequence``),
with ``lengths[n]`` real steps in sequence n and ``active[t, n] = t < lengths[n]``:

* outputs are exactly zero at padded steps: ``out[t] = active[t] * h_t``;
* the state only moves on real steps: ``state_t = active ? cell(x_t, state) : state``,
  so the forward direction ends holding the state of each sequence's last real
  step, and the reverse direction (which walks t = T-1 .. 0) keeps its initial
  state through the padding and starts at each sequence's last real token;
* in backward, the upstream gradient of a padded output is ignored, and the state
  gradient passes a padded step unchanged.

Shapes: T time steps, N batch, D input features, H hidden, P output features of a
step (P = H, or proj_size for a projected LSTM).

State is a tuple: ``(h,)`` for the RNN and GRU, ``(h, c)`` for the LSTM. Parameters
are the tuple ``(w_ih, w_hh, b_ih, b_hh)`` (biases may be None), plus ``w_hr`` for a
projected LSTM, in PyTorch's layouts.
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


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown recurrent mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def step_forward(mode, x, state, params):
    """One cell step in any mode: returns ``(h, new_state, cache)``."""
    if mode == "lstm":
        (h, c), cache = lstm_cell_forward(x, state[0], state[1], *params)
        return h, (h, c), cache
    if mode == "gru":
        h, cache = gru_cell_forward(x, state[0], *params)
        return h, (h,), cache
    h, cache = rnn_cell_forward(x, state[0], *params, nonlinearity=mode[4:])
    return h, (h,), cache


def step_backward(mode, dstate, cache):
    """Backward of one cell step: ``dstate`` is (dh,) or (dh, dc) at the step's output.

    Returns ``(dx, dstate_prev, dparams)`` with dparams ordered like the params.
    """
    if mode == "lstm":
        dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh, dw_hr = lstm_cell_backward(dstate[0], dstate[1], cache)
        dparams = (dw_ih, dw_hh, db_ih, db_hh) + (() if dw_hr is None else (dw_hr,))
        return dx, (dh_prev, dc_prev), dparams
    if mode == "gru":
        dx, dh_prev, *dparams = gru_cell_backward(dstate[0], cache)
    else:
        dx, dh_prev, *dparams = rnn_cell_backward(dstate[0], cache)
    return dx, (dh_prev,), tuple(dparams)


class RecurrentCache(NamedTuple):
    mode: str
    step_caches: list  # one cell cache per time step, in the order they ran
    steps: list  # the time index of each entry of step_caches
    active: object  # (T, N, 1) 1.0 on real steps, 0.0 on padding; None without lengths
    input_shape: tuple  # (T, N, D)
    param_shapes: tuple  # shapes of params, for zero gradients of absent biases


def padding_mask(lengths, steps: int, like):
    """``active[t, n, 0] = 1.0 if t < lengths[n] else 0.0`` as a (T, N, 1) array like ``like``."""
    xp = get_array_module(like)
    lengths = xp.asarray(lengths)
    return (xp.arange(steps)[:, None] < lengths[None, :]).astype(like.dtype)[:, :, None]


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
    active = None if lengths is None else padding_mask(lengths, steps, x)
    out = xp.zeros((steps, batch, state0[0].shape[1]), dtype=x.dtype)
    order = list(range(steps - 1, -1, -1)) if reverse else list(range(steps))
    state, caches = tuple(state0), []
    for t in order:
        h, new_state, cache = step_forward(mode, x[t], state, params)
        if active is None:
            state = new_state
            out[t] = h
        else:
            # Padded rows keep their old state; their output is exactly zero.
            state = tuple(xp.where(active[t] > 0, new, old) for new, old in zip(new_state, state))
            out[t] = h * active[t]
        caches.append(cache)
    shapes = tuple(None if p is None else p.shape for p in params)
    return out, state, RecurrentCache(mode, caches, order, active, x.shape, shapes)


def recurrent_backward(dout, dstate_n, cache: RecurrentCache):
    """Backpropagation through time for ``recurrent_forward``.

    Walking the steps in the reverse of the order they ran, with ``dstate`` the
    gradient flowing into the state after step t:

    dh_t         = active_t * (dout[t] + dstate_h)     (padded outputs take no gradient)
    dc_t         = active_t * dstate_c                 (LSTM)
    dx[t], dstate_cell, dparams_t = cell backward of step t
    dstate       = dstate_cell + (1 - active_t) * dstate   (padded rows pass through)
    dparams     += dparams_t                           (BPTT: the sum over steps)

    ``dout`` may be None (only the final state was used); entries of ``dstate_n``
    may be None (zero). Returns ``(dx, dstate0, dparams)``: dx (T, N, D), dstate0 a
    tuple like state0, and dparams a tuple like params (None for absent biases).
    """
    mode, caches, order, active, input_shape, shapes = cache
    first = caches[0]
    xp = get_array_module(first.x)
    dtype = first.x.dtype
    batch = input_shape[1]
    state_widths = [first.h_prev.shape[1]] + ([first.c_prev.shape[1]] if mode == "lstm" else [])
    dstate = tuple(
        xp.zeros((batch, width), dtype=dtype) if d is None else d for d, width in zip(dstate_n, state_widths)
    )
    dx = xp.empty(input_shape, dtype=dtype)
    dparams = [None if s is None else xp.zeros(s, dtype=dtype) for s in shapes]
    for t, step_cache in zip(reversed(order), reversed(caches)):
        dh = dstate[0] if dout is None else dstate[0] + dout[t]
        dcell = (dh,) + dstate[1:]
        if active is not None:
            dcell = tuple(d * active[t] for d in dcell)
        dx[t], dstate_cell, dparams_t = step_backward(mode, dcell, step_cache)
        if active is None:
            dstate = dstate_cell
        else:
            passthrough = 1 - active[t]
            dstate = tuple(dc + d * passthrough for dc, d in zip(dstate_cell, dstate))
        for k, g in enumerate(dparams_t):
            if g is not None:
                dparams[k] += g
    return dx, dstate, tuple(dparams)
