"""The fast recurrent loop: one direction of an RNN/LSTM/GRU layer, forward and BPTT.

Same contract as ``functional.recurrent.recurrent_forward/recurrent_backward`` (the
readable reference, which this is tested equal to), organised for speed:

* the batch is sorted by length once and stored packed (``schedule.py``), so step t
  computes only its ``n_t`` active rows, and they are a contiguous prefix;
* the weights are laid out once per call (``FastWeights``): the sigmoid gates' rows
  halved (``pointwise.py`` explains why), and ``W_hh^T`` stored contiguous, because
  BLAS runs the small per-step ``h @ W_hh^T`` faster on a contiguous ``W_hh^T`` than
  on the transposed view (N64 H256: 0.89 against 1.47 ms on one loaded AMD core, and
  145 against 215 us on an Intel Xeon as issue 13 reports; the large input GEMM runs
  as fast either way; one-off measurements, no benchmark here repeats them);
  backward multiplies by the parameters themselves;
* the input projection of all steps is one GEMM before the loop:
  ``x_proj = X W_ih^T + b`` with X the (R, D) packed input, R = sum(lengths);
* each step does one ``h_prev W_hh^T`` GEMM, then the cell's gate math as one call
  of a ``pointwise`` function, in its ``into`` form: on NumPy each value is written
  straight into the array that keeps it (the step's rows of the activations, the
  state slots, dG), not into a new array that is then copied; on CuPy one fused
  kernel computes them and each is copied there;
* backward writes the gradients of the pre-activations dG (R, G*H) row block by row
  block, one ``dG_t W_hh`` GEMM per step, and after the loop one GEMM each for
  ``dX = dG W_ih``, ``dW_ih = dG^T X``, ``dW_hh = dG^T H_prev`` (and the biases as
  column sums): the BPTT sum over steps is the sum over packed rows.

Everything stays in the input's dtype. Equations: see ``functional.cells``.

Each step's activations go into one (k, R, H) array, gate by gate, rather than into
5 * T small arrays kept alive until backward, and the large arrays that never leave
this module come from a reused ``workspace``: before, every training step grew the
heap by fresh memory whose pages fault on first touch (case a, LSTM, in a process of
its own as ``benchmarks/bench_alone.py`` runs it: about 11,000 faults and 26-42 ms of
system time per step; now 1 fault and 0.0-0.1 ms). Backward consumes its cache (it gives those arrays back), so each
forward is followed by at most one backward, as in the layers.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module, np
from ..functional.recurrent import check_mode
from .pointwise import ops_for
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
from .threads import step_threads
from .workspace import workspace_for

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
SIGMOID_GATES = {"rnn_tanh": (), "rnn_relu": (), "gru": (0, 1), "lstm": (0, 1, 3)}  # r, z; i, f, o


class FastWeights(NamedTuple):
    """One direction's weights, laid out for the fast loop (G gates in PyTorch's order)."""

    w_ih_t: object  # (D, G*H) sigmoid rows halved, a transposed view: the one large input GEMM
    w_hh_t: object  # (P, G*H) contiguous, sigmoid rows halved: the per-step GEMM
    bias: object  # (G*H,) halved like the rows: b_ih + b_hh (GRU: without b_hn), or None
    b_hn: object  # GRU: (H,) b_hn, or zeros without bias; else None
    w_ih: object  # (G*H, D) the parameter: dX = dG W_ih
    w_hh: object  # (G*H, P) the parameter: dh_prev = dG_t W_hh
    w_hr: object  # (P, H) or None: dm = dh W_hr
    w_hr_t: object  # (H, P) contiguous or None: h = m W_hr^T


class FastRecurrentCache(NamedTuple):
    mode: str
    schedule: Schedule
    x_packed: object  # (R, D) the layer input, packed
    h_states: object  # (T+1, N, P) state slots (see schedule.py), sorted batch
    c_states: object  # (T+1, N, H) LSTM cell slots, else None
    activations: list  # [(k, R, H) by gate: LSTM i,f,g,o,tanh_c; GRU r,z,n,hn; RNN None], emptied by backward
    m_rows: object  # (R, H) projected LSTM: o * tanh(c) before W_hr, else None
    weights: FastWeights
    input_shape: tuple  # (T, N, D)
    param_shapes: tuple  # shapes of params (None for absent biases)


def _gates(block, count):
    """The ``count`` gate blocks of an (n, count*H) array, as views."""
    width = block.shape[1] // count
    return tuple(block[:, k * width : (k + 1) * width] for k in range(count))


def _scaled_transpose(w, scale, xp):
    """(G*H, K) -> the contiguous (K, G*H) array (w * scale[:, None])^T.

    On NumPy it is written 64 rows of ``w`` at a time: a whole strided pass misses
    the cache on every element (2048 x 512: 4.5 ms in one pass, 3.1 ms in tiles, a
    one-off measurement).
    """
    out = xp.empty((w.shape[1], w.shape[0]), dtype=w.dtype)
    tile = 64 if xp is np else w.shape[0]
    for start in range(0, w.shape[0], tile):
        rows = slice(start, start + tile)
        xp.multiply(w[rows].T, scale[rows], out=out[:, rows])
    return out


def prepare_weights(mode, params, xp) -> FastWeights:
    """Halve the sigmoid gates' rows and transpose, once per call."""
    w_ih, w_hh, b_ih, b_hh = params[:4]
    w_hr = params[4] if len(params) > 4 else None
    hidden = w_hh.shape[0] // GATES[mode]
    scale = xp.ones(w_hh.shape[0], dtype=w_hh.dtype)
    for gate in SIGMOID_GATES[mode]:
        scale[gate * hidden : (gate + 1) * hidden] = 0.5  # sigma(a) = 0.5 tanh(a/2) + 0.5
    bias, b_hn = None, None
    if mode == "gru":
        # b_hh's r and z parts add straight into the gates; b_hn sits inside r * (.)
        b_hn = b_hh[2 * hidden :] if b_hh is not None else xp.zeros(hidden, dtype=w_hh.dtype)
        if b_ih is not None:
            bias = b_ih.copy()
            bias[: 2 * hidden] += b_hh[: 2 * hidden]
    elif b_ih is not None:
        bias = b_ih + b_hh
    return FastWeights(
        w_ih_t=(w_ih * scale[:, None]).T,  # the large GEMM runs as fast on the view (measured)
        w_hh_t=_scaled_transpose(w_hh, scale, xp),
        bias=None if bias is None else bias * scale,
        b_hn=b_hn,
        w_ih=w_ih,
        w_hh=w_hh,
        w_hr=w_hr,
        w_hr_t=None if w_hr is None else xp.ascontiguousarray(w_hr.T),
    )


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
    weights = prepare_weights(mode, params, xp)
    x_packed = pack(x, schedule)
    workspace = workspace_for(xp)
    x_proj = workspace.take((schedule.rows, weights.w_hh.shape[0]), x.dtype)  # (R, G*H): the input
    xp.matmul(x_packed, weights.w_ih_t, out=x_proj)  # projection of every step, then the bias
    if weights.bias is not None:
        x_proj += weights.bias
    h_states = new_states(state0[0], schedule, workspace)
    c_states = new_states(state0[1], schedule, workspace) if mode == "lstm" else None
    loop = {"lstm": _lstm_forward, "gru": _gru_forward}.get(mode, _rnn_forward)
    with step_threads(mode, schedule, weights.w_hh_t, xp):
        activations, m_rows = loop(mode, x_proj, h_states, c_states, weights, schedule, xp)
    workspace.give(x_proj)
    cache = FastRecurrentCache(mode, schedule, x_packed, h_states, c_states, [activations], m_rows, weights,
                               tuple(x.shape), tuple(None if p is None else p.shape for p in params))
    state_n = (final_state(h_states, schedule),)
    if mode == "lstm":
        state_n += (final_state(c_states, schedule),)
    return step_outputs(h_states, schedule, xp), state_n, cache


def _step_gemm_output(weights, schedule, xp):
    """The (N, G*H) array that every step's ``h_prev W_hh^T`` is written into."""
    return workspace_for(xp).take((schedule.batch, weights.w_hh_t.shape[1]), weights.w_hh_t.dtype)


def _rnn_forward(mode, x_proj, h_states, c_states, weights, schedule, xp):
    step = getattr(ops_for(xp), f"{mode}_forward")  # rnn_tanh_forward or rnn_relu_forward
    hh_all = _step_gemm_output(weights, schedule, xp)
    for n, rows, slot, prev in schedule.plan():
        hh = xp.matmul(h_states[prev, :n], weights.w_hh_t, out=hh_all[:n])
        step.into((h_states[slot, :n],), x_proj[rows], hh)
    workspace_for(xp).give(hh_all)
    return None, None


def _lstm_forward(mode, x_proj, h_states, c_states, weights, schedule, xp):
    ops, w_hr_t = ops_for(xp), weights.w_hr_t
    hidden, workspace = c_states.shape[2], workspace_for(xp)
    m_rows = None if w_hr_t is None else workspace.take((schedule.rows, hidden), x_proj.dtype)
    pre_all = _step_gemm_output(weights, schedule, xp)
    activations = workspace.take((5, schedule.rows, hidden), x_proj.dtype)
    for n, rows, slot, prev in schedule.plan():
        pre = xp.matmul(h_states[prev, :n], weights.w_hh_t, out=pre_all[:n])  # (n, 4H) h_prev W_hh^T, then
        pre += x_proj[rows]  # ... the pre-activations, one call for all four gates
        i, f, g, o, tanh_c = activations[:, rows]  # where this step's values are kept
        m = h_states[slot, :n] if w_hr_t is None else m_rows[rows]
        ops.lstm_forward.into((i, f, g, o, c_states[slot, :n], tanh_c, m), *_gates(pre, 4), c_states[prev, :n])
        if w_hr_t is not None:
            xp.matmul(m, w_hr_t, out=h_states[slot, :n])  # h = m W_hr^T
    workspace.give(pre_all)
    return activations, m_rows


def _gru_forward(mode, x_proj, h_states, c_states, weights, schedule, xp):
    ops, rz = ops_for(xp), 2 * weights.b_hn.shape[0]  # the r and z columns
    hh_all = _step_gemm_output(weights, schedule, xp)
    activations = workspace_for(xp).take((4, schedule.rows, rz // 2), x_proj.dtype)
    for n, rows, slot, prev in schedule.plan():
        h_prev = h_states[prev, :n]
        hh = xp.matmul(h_prev, weights.w_hh_t, out=hh_all[:n])  # (n, 3H) h_prev W_hh^T
        hh[:, :rz] += x_proj[rows, :rz]  # now the r and z pre-activations, in one call (n's differs)
        a_r, a_z, hh_n = _gates(hh, 3)
        r, z, cand, hn = activations[:, rows]  # where this step's values are kept
        ops.gru_forward.into((r, z, cand, hn, h_states[slot, :n]), a_r, a_z, x_proj[rows, rz:], hh_n, weights.b_hn,
                             h_prev)
    workspace_for(xp).give(hh_all)
    return activations, None


# ============================================================================ backward


def recurrent_backward(dout, dstate_n, cache: FastRecurrentCache):
    """Backpropagation through time for ``recurrent_forward`` (consumes ``cache``), in order:

    for t in the reverse of the order the steps ran, on the n_t active rows:
        dh_t    = dstate_h + dout[t]                   (padded rows are not active)
        dm_t    = dh_t W_hr                            (projected LSTM; else dm_t = dh_t)
        dG_t    = the cell's pointwise backward         (``pointwise.py``; dc carried along)
        dh_prev = dG_hh,t W_hh  (+ dh_t * z for the GRU)
    after the loop, each a sum over all steps as one GEMM over the R packed rows:
        dX    = dG W_ih                 dW_ih = dG^T X          db_ih = sum_rows dG
        dW_hh = dG_hh^T H_prev          db_hh = sum_rows dG_hh
        dW_hr = dH^T M                  (projected LSTM)

    dG_hh = dG except for the GRU's n part, dG_hh,n = dn_pre * r (the reset gate scales
    h_prev W_hn^T + b_hn).

    ``dout`` (T, N, P) may be None (only the final state was used); entries of
    ``dstate_n`` may be None (zero). Padded entries of ``dout`` are ignored. Returns
    ``(dx, dstate0, dparams)``: dx (T, N, D), dstate0 a tuple like state0, and dparams
    a tuple like params (None for absent biases).
    """
    schedule, mode, weights = cache.schedule, cache.mode, cache.weights
    if not cache.activations:
        raise RuntimeError("this fast recurrent cache was already consumed by a backward call")
    xp = get_array_module(cache.h_states)
    dtype = cache.h_states.dtype
    dout_packed = None if dout is None else pack(dout, schedule)
    widths = [cache.h_states.shape[2]] + ([cache.c_states.shape[2]] if mode == "lstm" else [])
    # state gradients in sorted order; rows not yet reached hold their final-state gradient
    dstate = [
        xp.zeros((schedule.batch, w), dtype=dtype) if d is None else sort_batch(d, schedule)
        for d, w in zip(dstate_n, widths)
    ]
    activations = cache.activations.pop()
    loop = {"lstm": _lstm_backward, "gru": _gru_backward}.get(mode, _rnn_backward)
    with step_threads(mode, schedule, weights.w_hh_t, xp):
        d_in, d_hidden, dw_hr = loop(dout_packed, dstate, cache, activations, xp)
    # the BPTT sums over steps, each one GEMM over all packed rows
    dx = unpack(xp.matmul(d_in, weights.w_ih), schedule, xp)
    dw_ih = xp.matmul(d_in.T, cache.x_packed)
    dw_hh = xp.matmul(d_hidden.T, previous_states(cache.h_states, schedule))
    has_bias = cache.param_shapes[2] is not None
    db_ih = d_in.sum(axis=0) if has_bias else None
    db_hh = (db_ih if d_hidden is d_in else d_hidden.sum(axis=0)) if has_bias else None
    dparams = (dw_ih, dw_hh, db_ih, db_hh) + (() if len(cache.param_shapes) == 4 else (dw_hr,))
    dstate0 = tuple(unsort_batch(d, schedule) for d in dstate)
    workspace_for(xp).give(d_in, d_hidden, activations, cache.h_states, cache.c_states, cache.m_rows)
    return dx, dstate0, dparams


def release(cache: FastRecurrentCache) -> None:
    """Give a forward's arrays back to the workspace when no backward will come (a
    forward under ``no_grad`` keeps no cache), so the next call reuses them."""
    if cache.activations:
        workspace_for(get_array_module(cache.h_states)).give(cache.activations.pop(), cache.h_states,
                                                            cache.c_states, cache.m_rows)


def _steps_backward(cache, dh, dout_packed, activations):
    """Walk the steps in reverse run order: yields ``(n, rows, slot, prev_slot, gates,
    dh_t)``, gates the step's rows of each activation (contiguous views of
    ``activations``, or () for the RNN) and dh_t = dh + dout[t] on the n active rows."""
    for n, rows, slot, prev in reversed(cache.schedule.plan()):
        dh_t = dh[:n] if dout_packed is None else dh[:n] + dout_packed[rows]
        yield n, rows, slot, prev, () if activations is None else tuple(activations[:, rows]), dh_t


def _rnn_backward(dout_packed, dstate, cache, activations, xp):
    step = getattr(ops_for(xp), f"{cache.mode}_backward")  # rnn_tanh_backward or rnn_relu_backward
    (dh,), w_hh = dstate, cache.weights.w_hh
    d_pre = workspace_for(xp).take((cache.schedule.rows, w_hh.shape[0]), dh.dtype)  # dG (R, H)
    for n, rows, slot, _, _, dh_t in _steps_backward(cache, dh, dout_packed, None):
        step.into((d_pre[rows],), dh_t, cache.h_states[slot, :n])
        xp.matmul(d_pre[rows], w_hh, out=dh[:n])  # dh_prev = dG_t W_hh
    return d_pre, d_pre, None


def _lstm_backward(dout_packed, dstate, cache, activations, xp):
    ops, (dh, dc), weights, workspace = ops_for(xp), dstate, cache.weights, workspace_for(xp)
    d_pre = workspace.take((cache.schedule.rows, weights.w_hh.shape[0]), dh.dtype)  # dG (R, 4H)
    dh_rows = None if weights.w_hr is None else workspace.take((cache.schedule.rows, dh.shape[1]), dh.dtype)
    # dc_prev is written apart, then copied into dc: with dc as both an input and an output
    # the compiled loop (compiled.py) cannot rule out overlap and runs scalar (a, cProfile of
    # ten bench_rnn steps: 98 against 60 us a call; the copy is about 3 us)
    dc_prev = workspace.take(dc.shape, dc.dtype)
    for n, rows, _, prev, (i, f, g, o, tanh_c), dh_t in _steps_backward(cache, dh, dout_packed, activations):
        if dh_rows is None:
            dm = dh_t
        else:
            dh_rows[rows] = dh_t  # kept for dW_hr = dH^T M
            dm = xp.matmul(dh_t, weights.w_hr)
        d_gates = _gates(d_pre[rows], 4)
        ops.lstm_backward.into(d_gates + (dc_prev[:n],), dm, dc[:n], i, f, g, o, cache.c_states[prev, :n], tanh_c)
        dc[:n] = dc_prev[:n]  # dc_prev replaces dc, which it is computed from
        xp.matmul(d_pre[rows], weights.w_hh, out=dh[:n])  # dh_prev = dG_t W_hh
    dw_hr = None if dh_rows is None else xp.matmul(dh_rows.T, cache.m_rows)
    workspace.give(dh_rows, dc_prev)
    return d_pre, d_pre, dw_hr


def _gru_backward(dout_packed, dstate, cache, activations, xp):
    ops, (dh,), w_hh = ops_for(xp), dstate, cache.weights.w_hh
    hidden = dh.shape[1]
    workspace = workspace_for(xp)
    d_in = workspace.take((cache.schedule.rows, 3 * hidden), dh.dtype)  # dgi (R, 3H)
    d_hidden = workspace.take(d_in.shape, dh.dtype)  # dgh (R, 3H): the same but for its n part
    dh_z = workspace.take(dh.shape, dh.dtype)
    for n, rows, _, prev, (r, z, cand, hn), dh_t in _steps_backward(cache, dh, dout_packed, activations):
        d_r, d_z, d_hn = _gates(d_hidden[rows], 3)
        ops.gru_backward.into((d_r, d_z, d_in[rows, 2 * hidden :], d_hn, dh_z[:n]),
                              dh_t, r, z, cand, hn, cache.h_states[prev, :n])
        xp.matmul(d_hidden[rows], w_hh, out=dh[:n])  # dh_prev = dh * z + dgh_t W_hh
        dh[:n] += dh_z[:n]
    d_in[:, : 2 * hidden] = d_hidden[:, : 2 * hidden]  # dgi and dgh share their r and z parts
    workspace.give(dh_z)
    return d_in, d_hidden, None
