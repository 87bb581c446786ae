"""The fast recurrent loop: one direction of an RNN/LSTM/GRU layer, forward and BPTT.

Same contract as ``functional.recurrent.recurrent_forward/recurrent_backward`` (the
readable reference, which this is tested equal to), organised for speed:

* the batch is sorted by length once and stored packed (``schedule.py``), so step t
  computes only its ``n_t`` active rows, and they are a contiguous prefix;
* the input projection of all steps is one GEMM before the loop:
  ``gates = X W_ih^T + b`` with X the (R, D) packed input, R = sum(lengths);
* each step does one ``h_prev W_hh^T`` GEMM into a preallocated buffer, then the gate
  math in place (``pointwise.py``, or one fused CuPy kernel per step from
  ``cuda_kernels.py``); the loop allocates nothing;
* backward overwrites the stored activations with their gradients dG (R, G*H), one
  ``dG_t W_hh`` GEMM per step, and after the loop one GEMM each for
  ``dX = dG W_ih``, ``dW_ih = dG^T X``, ``dW_hh = dG^T H_prev`` (and the biases as
  column sums): the BPTT sum over steps is the sum over packed rows.

Everything stays in the input's dtype. Equations: see ``functional.cells``; the fast
layouts of the gates (LSTM ``[i|f|o|g]`` with pre-halved sigmoid rows) are explained
in ``pointwise.py``.

Backward consumes its cache: it overwrites the stored activations with gradients, so
each forward is followed by at most one backward, as in the layers.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module, np
from ..functional.recurrent import check_mode
from . import pointwise
from .schedule import (
    Schedule,
    build_schedule,
    final_state,
    new_states,
    pack,
    previous_states,
    sort_batch,
    step_outputs,
    unpack,
    unsort_batch,
)


class FastRecurrentCache(NamedTuple):
    mode: str
    schedule: Schedule
    x_packed: object  # (R, D) the layer input, packed
    gates: object  # (R, G*H) gate activations (fast layout); backward turns them into dG
    hidden_part: object  # GRU: (R, 3H) h_prev W_hh^T (+ b_hn on the n part); else None
    h_states: object  # (T+1, N, P) state slots (see schedule.py), sorted batch
    c_states: object  # (T+1, N, H) LSTM cell slots, else None
    tanh_c: object  # (R, H) LSTM tanh(c), else None
    m: object  # (R, H) projected LSTM: o * tanh(c) before W_hr, else None
    weights: tuple  # (w_ih, w_hh, w_hr) in the fast gate layout, unscaled, for backward
    gate_order: object  # LSTM: fast row k is PyTorch row gate_order[k]; else None
    input_shape: tuple  # (T, N, D)
    param_shapes: tuple  # shapes of params (None for absent biases)


def _ops(xp):
    """The per-step gate functions for this array module: fused kernels on CuPy."""
    if xp is np:
        return pointwise
    from . import cuda_kernels

    return cuda_kernels


def _lstm_gate_order(hidden: int):
    """Fast layout [i|f|o|g] as rows of PyTorch's [i|f|g|o]."""
    i_f, o, g = np.arange(0, 2 * hidden), np.arange(3 * hidden, 4 * hidden), np.arange(2 * hidden, 3 * hidden)
    return np.concatenate([i_f, o, g])


def _sigmoid_scale(xp, rows: int, sigmoid_rows: int, dtype):
    """(rows, 1): 0.5 on the sigmoid gates' rows (sigma(a) = 0.5 tanh(a/2) + 0.5), else 1."""
    scale = xp.ones((rows, 1), dtype=dtype)
    scale[:sigmoid_rows] = 0.5
    return scale


# ============================================================================ forward


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
    check_mode(mode)
    xp = get_array_module(x)
    steps, batch, _ = x.shape
    schedule = build_schedule(lengths, steps, batch, reverse, xp)
    x_packed = pack(x, schedule)
    h_states = new_states(state0[0], schedule, xp)
    if mode == "lstm":
        c_states = new_states(state0[1], schedule, xp)
        cache = _lstm_forward(x_packed, h_states, c_states, params, schedule, xp)
    elif mode == "gru":
        cache = _gru_forward(x_packed, h_states, params, schedule, xp)
    else:
        cache = _rnn_forward(mode, x_packed, h_states, params, schedule, xp)
    shapes = tuple(None if p is None else p.shape for p in params)
    cache = cache._replace(input_shape=tuple(x.shape), param_shapes=shapes)
    out = step_outputs(h_states, schedule, xp)
    state_n = (final_state(h_states, schedule),)
    if mode == "lstm":
        state_n += (final_state(cache.c_states, schedule),)
    return out, state_n, cache


def _new_cache(mode, schedule, x_packed, gates, h_states, **fields):
    base = dict(hidden_part=None, c_states=None, tanh_c=None, m=None, weights=(), gate_order=None)
    base.update(fields)
    return FastRecurrentCache(mode, schedule, x_packed, gates, h_states=h_states, input_shape=(),
                              param_shapes=(), **base)


def _rnn_forward(mode, x_packed, h_states, params, schedule, xp):
    w_ih, w_hh, b_ih, b_hh = params
    nonlinearity = mode[4:]
    ops = _ops(xp)
    gates = xp.matmul(x_packed, w_ih.T)  # (R, H): the input projection of every step
    if b_ih is not None:
        gates += b_ih + b_hh
    w_hh_t = w_hh.T
    for t in schedule.order:
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        h = h_states[schedule.slot(t), :n]
        xp.matmul(h_states[schedule.prev_slot(t), :n], w_hh_t, out=h)
        ops.rnn_step_forward(h, gates[row : row + n], nonlinearity)
    return _new_cache(mode, schedule, x_packed, gates, h_states, weights=(w_ih, w_hh, None))


def _lstm_forward(x_packed, h_states, c_states, params, schedule, xp):
    w_ih, w_hh, b_ih, b_hh = params[:4]
    w_hr = params[4] if len(params) > 4 else None
    hidden, batch, dtype = w_hh.shape[0] // 4, schedule.batch, x_packed.dtype
    ops = _ops(xp)
    order = xp.asarray(_lstm_gate_order(hidden))
    scale = _sigmoid_scale(xp, 4 * hidden, 3 * hidden, dtype)
    w_ih_fast, w_hh_fast = w_ih[order], w_hh[order]  # [i|f|o|g], unscaled: for backward
    gates = xp.matmul(x_packed, (w_ih_fast * scale).T)  # (R, 4H)
    if b_ih is not None:
        gates += (b_ih + b_hh)[order] * scale[:, 0]
    w_hh_scaled_t = (w_hh_fast * scale).T
    tanh_c = xp.empty((schedule.rows, hidden), dtype=dtype)
    m_store = None if w_hr is None else xp.empty((schedule.rows, hidden), dtype=dtype)
    w_hr_t = None if w_hr is None else w_hr.T
    hh = xp.empty((batch, 4 * hidden), dtype=dtype)
    for t in schedule.order:
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        rows = slice(row, row + n)
        slot, prev = schedule.slot(t), schedule.prev_slot(t)
        xp.matmul(h_states[prev, :n], w_hh_scaled_t, out=hh[:n])
        m = h_states[slot, :n] if w_hr is None else m_store[rows]
        ops.lstm_step_forward(gates[rows], hh[:n], c_states[prev, :n], c_states[slot, :n], tanh_c[rows], m, None)
        if w_hr is not None:
            xp.matmul(m, w_hr_t, out=h_states[slot, :n])
    return _new_cache("lstm", schedule, x_packed, gates, h_states, c_states=c_states, tanh_c=tanh_c, m=m_store,
                      weights=(w_ih_fast, w_hh_fast, w_hr), gate_order=order)


def _gru_forward(x_packed, h_states, params, schedule, xp):
    w_ih, w_hh, b_ih, b_hh = params
    hidden, batch, dtype = w_hh.shape[0] // 3, schedule.batch, x_packed.dtype
    ops = _ops(xp)
    scale = _sigmoid_scale(xp, 3 * hidden, 2 * hidden, dtype)
    gates = xp.matmul(x_packed, (w_ih * scale).T)  # (R, 3H)
    b_hn = None
    if b_ih is not None:
        # b_hh's r and z parts add straight into the gates; b_hn sits inside r * (.)
        folded = b_ih.copy()
        folded[: 2 * hidden] += b_hh[: 2 * hidden]
        gates += folded * scale[:, 0]
        b_hn = b_hh[2 * hidden :]
    hidden_part = xp.empty((schedule.rows, 3 * hidden), dtype=dtype)
    w_hh_scaled_t = (w_hh * scale).T
    scratch = xp.empty((batch, hidden), dtype=dtype)
    for t in schedule.order:
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        rows = slice(row, row + n)
        h_prev = h_states[schedule.prev_slot(t), :n]
        xp.matmul(h_prev, w_hh_scaled_t, out=hidden_part[rows])
        ops.gru_step_forward(gates[rows], hidden_part[rows], b_hn, h_prev, h_states[schedule.slot(t), :n], scratch)
    return _new_cache("gru", schedule, x_packed, gates, h_states, hidden_part=hidden_part, weights=(w_ih, w_hh, None))


# ============================================================================ backward


def recurrent_backward(dout, dstate_n, cache: FastRecurrentCache):
    """Backpropagation through time for ``recurrent_forward`` (consumes ``cache``), in order:

    for t in the reverse of the order the steps ran, on the n_t active rows:
        dh_t    = dstate_h + dout[t]                   (padded rows are not active)
        dm_t    = dh_t W_hr                            (projected LSTM; else dm_t = dh_t)
        dG_t    = the cell's pointwise backward         (``pointwise.py``; dc carried in place)
        dh_prev = dG_hh,t W_hh  (+ dh_t * z for the GRU)
    after the loop, each a sum over all steps as one GEMM over the R packed rows:
        dX    = dG W_ih                 dW_ih = dG^T X          db_ih = sum_rows dG
        dW_hh = dG_hh^T H_prev          db_hh = sum_rows dG_hh
        dW_hr = dH^T M                  (projected LSTM)

    dG_hh = dG except for the GRU's n part, dG_hh,n = dn_pre * r (the reset gate scales
    h_prev W_hn^T + b_hn). The LSTM's rows go back from the fast [i|f|o|g] layout to
    PyTorch's [i|f|g|o] at the end.

    ``dout`` (T, N, P) may be None (only the final state was used); entries of
    ``dstate_n`` may be None (zero). Padded entries of ``dout`` are ignored. Returns
    ``(dx, dstate0, dparams)``: dx (T, N, D), dstate0 a tuple like state0, and dparams
    a tuple like params (None for absent biases).
    """
    schedule, mode = cache.schedule, cache.mode
    xp = get_array_module(cache.gates)
    dtype = cache.gates.dtype
    batch = schedule.batch
    dout_packed = None if dout is None else pack(dout, schedule)
    widths = [cache.h_states.shape[2]] + ([cache.c_states.shape[2]] if mode == "lstm" else [])
    # state gradients in sorted order; rows not yet reached hold their final-state gradient
    dstate = [
        xp.zeros((batch, w), dtype=dtype) if d is None else sort_batch(d, schedule) for d, w in zip(dstate_n, widths)
    ]
    if mode == "lstm":
        dgates_rows, dw_hr = _lstm_backward(dout_packed, dstate[0], dstate[1], cache, xp)
    elif mode == "gru":
        dgates_rows, dw_hr = _gru_backward(dout_packed, dstate[0], cache, xp), None
    else:
        dgates_rows, dw_hr = _rnn_backward(dout_packed, dstate[0], cache, xp), None
    dgates_in, dgates_hidden = dgates_rows
    w_ih = cache.weights[0]
    # the BPTT sums over steps, each one GEMM over all packed rows
    dx = unpack(xp.matmul(dgates_in, w_ih), schedule, xp)
    dw_ih = xp.matmul(dgates_in.T, cache.x_packed)
    dw_hh = xp.matmul(dgates_hidden.T, previous_states(cache.h_states, schedule))
    has_bias = cache.param_shapes[2] is not None
    db_ih = dgates_in.sum(axis=0) if has_bias else None
    db_hh = dgates_hidden.sum(axis=0) if has_bias else None
    if cache.gate_order is not None:  # back to PyTorch's gate rows
        inverse = xp.argsort(cache.gate_order)
        dw_ih, dw_hh = dw_ih[inverse], dw_hh[inverse]
        if has_bias:
            db_ih, db_hh = db_ih[inverse], db_hh[inverse]
    dparams = (dw_ih, dw_hh, db_ih, db_hh) + (() if len(cache.param_shapes) == 4 else (dw_hr,))
    dstate0 = tuple(unsort_batch(d, schedule) for d in dstate)
    return dx, dstate0, dparams


def _upstream(dh, dout_packed, rows, out):
    """dh_t = dstate_h + dout[t] on the active rows (just the state gradient without dout)."""
    if dout_packed is None:
        return dh
    xp = get_array_module(dh)
    return xp.add(dh, dout_packed[rows], out=out)


def _rnn_backward(dout_packed, dh, cache, xp):
    schedule, gates, h_states = cache.schedule, cache.gates, cache.h_states
    w_hh = cache.weights[1]
    nonlinearity = cache.mode[4:]
    ops = _ops(xp)
    batch, hidden, dtype = schedule.batch, dh.shape[1], gates.dtype
    dh_step = xp.empty((batch, hidden), dtype=dtype)
    scratch = xp.empty((batch, hidden), dtype=dtype)
    for t in reversed(schedule.order):
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        rows = slice(row, row + n)
        dh_t = _upstream(dh[:n], dout_packed, rows, dh_step[:n])
        da = gates[rows]
        ops.rnn_step_backward(da, dh_t, h_states[schedule.slot(t), :n], nonlinearity, scratch)
        xp.matmul(da, w_hh, out=dh[:n])  # dh_prev = da W_hh
    return gates, gates


def _lstm_backward(dout_packed, dh, dc, cache, xp):
    schedule, gates = cache.schedule, cache.gates
    _, w_hh, w_hr = cache.weights
    ops = _ops(xp)
    batch, dtype = schedule.batch, gates.dtype
    hidden, out_size = dc.shape[1], dh.shape[1]
    scratch = (
        xp.empty((batch, 4 * hidden), dtype=dtype),
        xp.empty((batch, 4 * hidden), dtype=dtype),
        xp.empty((batch, hidden), dtype=dtype),
    )
    if w_hr is None:
        dh_step, dm_buffer, dh_store = xp.empty((batch, out_size), dtype=dtype), None, None
    else:
        dh_step, dm_buffer = None, xp.empty((batch, hidden), dtype=dtype)
        dh_store = xp.empty((schedule.rows, out_size), dtype=dtype)  # dh_t of every step, for dW_hr
    for t in reversed(schedule.order):
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        rows = slice(row, row + n)
        if w_hr is None:
            dm = _upstream(dh[:n], dout_packed, rows, dh_step[:n])
        else:
            dh_t = dh_store[rows]
            if dout_packed is None:
                dh_t[...] = dh[:n]
            else:
                xp.add(dh[:n], dout_packed[rows], out=dh_t)
            dm = xp.matmul(dh_t, w_hr, out=dm_buffer[:n])  # dm = dh W_hr
        prev = schedule.prev_slot(t)
        ops.lstm_step_backward(gates[rows], dm, cache.tanh_c[rows], cache.c_states[prev, :n], dc[:n], scratch)
        xp.matmul(gates[rows], w_hh, out=dh[:n])  # dh_prev = dgates W_hh
    dw_hr = None if w_hr is None else xp.matmul(dh_store.T, cache.m)
    return (gates, gates), dw_hr


def _gru_backward(dout_packed, dh, cache, xp):
    schedule, gates, hidden_part, h_states = cache.schedule, cache.gates, cache.hidden_part, cache.h_states
    w_hh = cache.weights[1]
    ops = _ops(xp)
    batch, hidden, dtype = schedule.batch, dh.shape[1], gates.dtype
    dh_step = xp.empty((batch, hidden), dtype=dtype)
    dh_z = xp.empty((batch, hidden), dtype=dtype)
    scratch = (xp.empty((batch, hidden), dtype=dtype), xp.empty((batch, 2 * hidden), dtype=dtype))
    for t in reversed(schedule.order):
        n, row = schedule.batch_sizes[t], schedule.offsets[t]
        rows = slice(row, row + n)
        dh_t = _upstream(dh[:n], dout_packed, rows, dh_step[:n])
        h_prev = h_states[schedule.prev_slot(t), :n]
        ops.gru_step_backward(gates[rows], hidden_part[rows], dh_t, h_prev, dh_z[:n], scratch)
        xp.matmul(hidden_part[rows], w_hh, out=dh[:n])  # dh_prev = dh * z + dgh W_hh
        xp.add(dh[:n], dh_z[:n], out=dh[:n])
    # dgi and dgh share their r and z parts; only the n parts differ
    gates[:, : 2 * hidden] = hidden_part[:, : 2 * hidden]
    return gates, hidden_part
