"""One time step of the Elman RNN, LSTM and GRU cells, forward and backward.

These are the readable reference: one step, full batch, every equation on its own
line. The sequence loop (``recurrent.py``) and the fast paths (``minirnn.fast``)
are both tested equal to these functions.

Notation (row-major, as in the code): a batch of row vectors ``x`` (N, D) and
``h`` (N, H); weights are stored as PyTorch stores them, ``W_ih`` (G*H, D) and
``W_hh`` (G*H, H) with the G gates stacked along the first axis, so a projection is
``x W_ih^T``. ``sigma`` is the logistic sigmoid and ``*`` is element-wise.

Every cache holds post-activation values, so each derivative is written from an
output (``s * (1 - s)``, ``1 - y**2``) and no backward recomputes a matmul.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from .activations import ACTIVATIONS, sigmoid, tanh


def _add_bias(a, bias):
    return a if bias is None else a + bias


def _bias_grad(dgates, has_bias):
    return dgates.sum(axis=0) if has_bias else None


# ============================================================================ Elman RNN


class RNNCellCache(NamedTuple):
    x: object  # (N, D)
    h_prev: object  # (N, H)
    h: object  # (N, H) post-activation
    w_ih: object  # (H, D)
    w_hh: object  # (H, H)
    nonlinearity: str
    has_bias: bool


def rnn_cell_forward(x, h_prev, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """Elman step: h = act(x W_ih^T + b_ih + h_prev W_hh^T + b_hh), act = tanh or relu.

    =======  ==========
    x        (N, D)
    h_prev   (N, H)
    w_ih     (H, D)
    w_hh     (H, H)
    b_ih     (H,) or None
    b_hh     (H,) or None
    h        (N, H)
    =======  ==========
    """
    act, _ = ACTIVATIONS[nonlinearity]
    a = _add_bias(x @ w_ih.T, b_ih) + _add_bias(h_prev @ w_hh.T, b_hh)
    h = act(a)
    return h, RNNCellCache(x, h_prev, h, w_ih, w_hh, nonlinearity, b_ih is not None)


def rnn_cell_backward(dh, cache: RNNCellCache):
    """Backward of the Elman step, in order:

    da      = dh * act'(h)        (1 - h^2 for tanh, [h > 0] for relu)
    dx      = da W_ih
    dh_prev = da W_hh
    dW_ih   = da^T x
    dW_hh   = da^T h_prev
    db_ih   = db_hh = sum_n da

    Returns ``(dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh)``; the bias grads are None
    when the cell has no bias.
    """
    x, h_prev, h, w_ih, w_hh, nonlinearity, has_bias = cache
    _, act_backward = ACTIVATIONS[nonlinearity]
    da = act_backward(dh, h)
    dx = da @ w_ih
    dh_prev = da @ w_hh
    dw_ih = da.T @ x
    dw_hh = da.T @ h_prev
    db = _bias_grad(da, has_bias)
    return dx, dh_prev, dw_ih, dw_hh, db, db


# ============================================================================ LSTM


class LSTMCellCache(NamedTuple):
    x: object  # (N, D)
    h_prev: object  # (N, P) P = proj_size if projecting, else H
    c_prev: object  # (N, H)
    i: object  # (N, H) input gate, post-sigmoid
    f: object  # (N, H) forget gate, post-sigmoid
    g: object  # (N, H) candidate, post-tanh
    o: object  # (N, H) output gate, post-sigmoid
    tanh_c: object  # (N, H) tanh(c)
    m: object  # (N, H) o * tanh(c), the hidden state before the projection
    w_ih: object  # (4H, D)
    w_hh: object  # (4H, P)
    w_hr: object  # (P, H) or None
    has_bias: bool


def lstm_cell_forward(x, h_prev, c_prev, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """LSTM step with PyTorch's gate order [i | f | g | o]:

    gates = x W_ih^T + b_ih + h_prev W_hh^T + b_hh        (N, 4H), split in four
    i = sigma(gates_i)     f = sigma(gates_f)
    g = tanh(gates_g)      o = sigma(gates_o)
    c = f * c_prev + i * g
    m = o * tanh(c)
    h = m                  (no projection)
    h = m W_hr^T           (with proj_size P: PyTorch's LSTM(proj_size=P))

    =======  =================================
    x        (N, D)
    h_prev   (N, P), P = H without projection
    c_prev   (N, H)
    w_ih     (4H, D)
    w_hh     (4H, P)
    b_ih     (4H,) or None
    b_hh     (4H,) or None
    w_hr     (P, H) or None
    h, c     (N, P), (N, H)
    =======  =================================
    """
    hidden = c_prev.shape[1]
    gates = _add_bias(x @ w_ih.T, b_ih) + _add_bias(h_prev @ w_hh.T, b_hh)
    i = sigmoid(gates[:, :hidden])
    f = sigmoid(gates[:, hidden : 2 * hidden])
    g = tanh(gates[:, 2 * hidden : 3 * hidden])
    o = sigmoid(gates[:, 3 * hidden :])
    c = f * c_prev + i * g
    tanh_c = tanh(c)
    m = o * tanh_c
    h = m if w_hr is None else m @ w_hr.T
    cache = LSTMCellCache(x, h_prev, c_prev, i, f, g, o, tanh_c, m, w_ih, w_hh, w_hr, b_ih is not None)
    return (h, c), cache


def lstm_cell_backward(dh, dc, cache: LSTMCellCache):
    """Backward of the LSTM step, in order (``dc`` may be None: no gradient flows into c):

    dW_hr   = dh^T m                 dm = dh W_hr      (projection only; else dm = dh)
    do      = dm * tanh(c)
    dc      = dc + dm * o * (1 - tanh(c)^2)
    di      = dc * g                 df = dc * c_prev          dg = dc * i
    dc_prev = dc * f
    dgates  = [di * i(1-i) | df * f(1-f) | dg * (1-g^2) | do * o(1-o)]     (N, 4H)
    dx      = dgates W_ih
    dh_prev = dgates W_hh
    dW_ih   = dgates^T x
    dW_hh   = dgates^T h_prev
    db_ih   = db_hh = sum_n dgates

    Returns ``(dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh, dw_hr)``; bias and
    projection grads are None when the cell has none.
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, m, w_ih, w_hh, w_hr, has_bias = cache
    xp = get_array_module(dh)
    if w_hr is None:
        dm, dw_hr = dh, None
    else:
        dw_hr = dh.T @ m
        dm = dh @ w_hr
    do = dm * tanh_c
    dc_total = dm * o * (1 - tanh_c * tanh_c)
    if dc is not None:
        dc_total = dc_total + dc
    di = dc_total * g
    df = dc_total * c_prev
    dg = dc_total * i
    dc_prev = dc_total * f
    dgates = xp.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
    )
    dx = dgates @ w_ih
    dh_prev = dgates @ w_hh
    dw_ih = dgates.T @ x
    dw_hh = dgates.T @ h_prev
    db = _bias_grad(dgates, has_bias)
    return dx, dh_prev, dc_prev, dw_ih, dw_hh, db, db, dw_hr


# ============================================================================ GRU


class GRUCellCache(NamedTuple):
    x: object  # (N, D)
    h_prev: object  # (N, H)
    r: object  # (N, H) reset gate, post-sigmoid
    z: object  # (N, H) update gate, post-sigmoid
    n: object  # (N, H) candidate, post-tanh
    hn: object  # (N, H) h_prev W_hn^T + b_hn, the part the reset gate scales
    w_ih: object  # (3H, D)
    w_hh: object  # (3H, H)
    has_bias: bool


def gru_cell_forward(x, h_prev, w_ih, w_hh, b_ih=None, b_hh=None):
    """GRU step with PyTorch's gate order [r | z | n]:

    gi = x W_ih^T + b_ih          gh = h_prev W_hh^T + b_hh          (N, 3H) each
    r  = sigma(gi_r + gh_r)
    z  = sigma(gi_z + gh_z)
    n  = tanh(gi_n + r * gh_n)    with gh_n = h_prev W_hn^T + b_hn
    h  = (1 - z) * n + z * h_prev

    Two departures from the paper (Cho et al., 2014), both PyTorch's (and cuDNN's):
    the reset gate multiplies ``h_prev W_hn^T + b_hn`` after the matmul rather than
    ``h_prev`` before it, and ``z`` weights the *old* state, so z -> 1 keeps h_prev.

    =======  ==========
    x        (N, D)
    h_prev   (N, H)
    w_ih     (3H, D)
    w_hh     (3H, H)
    b_ih     (3H,) or None
    b_hh     (3H,) or None
    h        (N, H)
    =======  ==========
    """
    hidden = h_prev.shape[1]
    gi = _add_bias(x @ w_ih.T, b_ih)
    gh = _add_bias(h_prev @ w_hh.T, b_hh)
    r = sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
    hn = gh[:, 2 * hidden :]
    n = tanh(gi[:, 2 * hidden :] + r * hn)
    h = (1 - z) * n + z * h_prev
    return h, GRUCellCache(x, h_prev, r, z, n, hn, w_ih, w_hh, b_ih is not None)


def gru_cell_backward(dh, cache: GRUCellCache):
    """Backward of the GRU step, in order:

    dn      = dh * (1 - z)
    dz      = dh * (h_prev - n)
    dn_pre  = dn * (1 - n^2)                 (gradient of gi_n + r * gh_n)
    dr      = dn_pre * gh_n
    dgh_n   = dn_pre * r
    dr_pre  = dr * r(1-r)                    dz_pre = dz * z(1-z)
    dgi     = [dr_pre | dz_pre | dn_pre]     dgh = [dr_pre | dz_pre | dgh_n]   (N, 3H)
    dx      = dgi W_ih
    dh_prev = dh * z + dgh W_hh
    dW_ih   = dgi^T x                        dW_hh = dgh^T h_prev
    db_ih   = sum_n dgi                      db_hh = sum_n dgh

    Returns ``(dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh)``.
    """
    x, h_prev, r, z, n, hn, w_ih, w_hh, has_bias = cache
    xp = get_array_module(dh)
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dn_pre = dn * (1 - n * n)
    dr = dn_pre * hn
    dhn = dn_pre * r
    dr_pre = dr * r * (1 - r)
    dz_pre = dz * z * (1 - z)
    dgi = xp.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
    dgh = xp.concatenate([dr_pre, dz_pre, dhn], axis=1)
    dx = dgi @ w_ih
    dh_prev = dh * z + dgh @ w_hh
    dw_ih = dgi.T @ x
    dw_hh = dgh.T @ h_prev
    return dx, dh_prev, dw_ih, dw_hh, _bias_grad(dgi, has_bias), _bias_grad(dgh, has_bias)
