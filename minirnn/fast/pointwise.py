"""In-place gate math of one time step, for the fast recurrent loop (any array module).

Every function works on the ``n`` active rows of one step and writes into buffers it
is given: no array is allocated. ``cuda_kernels`` has functions of the same names and
signatures that do the same math as one fused CuPy kernel each.

Layouts (internal to the fast path, see ``recurrent.py``):

* LSTM gates are stored ``[i | f | o | g]`` (PyTorch's ``[i | f | g | o]`` with g moved
  last, so the three sigmoid gates are contiguous). The i, f and o rows of the weights
  and biases are pre-scaled by 1/2, so ``sigma(a) = 0.5 * tanh(a / 2) + 0.5`` costs one
  tanh call over all four gates and one multiply-add over the sigmoid ones.
* GRU gates are stored ``[r | z | n]`` (PyTorch's), with the r and z rows pre-scaled
  by 1/2 the same way.

In forward, ``gates`` holds the pre-activations on entry and the activations on exit.
In backward it holds the activations on entry and the gradients of the (unscaled)
pre-activations on exit, which is what the weight-gradient GEMMs need.
"""

from __future__ import annotations

from ..backend import get_array_module

# ============================================================================ Elman RNN


def rnn_step_forward(h, x_part, nonlinearity):
    """h = act(h + x_part), in place: ``h`` holds h_prev W_hh^T on entry.  (n, H)"""
    xp = get_array_module(h)
    xp.add(h, x_part, out=h)
    if nonlinearity == "tanh":
        xp.tanh(h, out=h)
    else:
        xp.maximum(h, 0, out=h)


def rnn_step_backward(da, dh, h, nonlinearity, scratch):
    """da = dh * act'(h): 1 - h^2 (tanh) or [h > 0] (relu, via sign(h) for h >= 0)."""
    xp = get_array_module(h)
    deriv = scratch[: h.shape[0]]
    if nonlinearity == "tanh":
        xp.multiply(h, h, out=deriv)
        xp.subtract(1, deriv, out=deriv)
    else:
        xp.sign(h, out=deriv)
    xp.multiply(dh, deriv, out=da)


# ============================================================================ LSTM


def lstm_step_forward(gates, hh, c_prev, c, tanh_c, m, scratch):
    """One LSTM step's gate math, gates ``[i|f|o|g]`` (n, 4H) with halved i, f, o rows:

    gates = tanh(gates + hh);  i, f, o = 0.5 * gates + 0.5      (sigmoids)
    c = f * c_prev + i * g;    tanh_c = tanh(c);    m = o * tanh_c
    """
    xp = get_array_module(gates)
    hidden = c.shape[1]
    xp.add(gates, hh, out=gates)
    xp.tanh(gates, out=gates)
    sig = gates[:, : 3 * hidden]
    xp.multiply(sig, 0.5, out=sig)
    xp.add(sig, 0.5, out=sig)
    i, f, o, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=tanh_c)  # tanh_c as scratch for i * g
    xp.add(c, tanh_c, out=c)
    xp.tanh(c, out=tanh_c)
    xp.multiply(o, tanh_c, out=m)


def lstm_step_backward(gates, dm, tanh_c, c_prev, dc, scratch):
    """Backward of one LSTM step. ``dc`` holds the gradient of c on entry, of c_prev on exit:

    dc     = dc + dm * o * (1 - tanh_c^2)
    dy     = [dc * g | dc * c_prev | dm * tanh_c | dc * i]        (d of i, f, o, g)
    dc     = dc * f                                               (dc_prev)
    gates  = dy * [i(1-i) | f(1-f) | o(1-o) | 1-g^2]              (d of the pre-activations)

    ``scratch`` is (dy (N, 4H), deriv (N, 4H), tmp (N, H)).
    """
    xp = get_array_module(gates)
    n, hidden = dc.shape
    dy, deriv, tmp = (s[:n] for s in scratch)
    i, f, o, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    # backprop through m = o * tanh(c) into c
    xp.multiply(tanh_c, tanh_c, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    xp.multiply(tmp, o, out=tmp)
    xp.multiply(tmp, dm, out=tmp)
    xp.add(dc, tmp, out=dc)
    # gradients of the gate activations
    xp.multiply(dc, g, out=dy[:, :hidden])
    xp.multiply(dc, c_prev, out=dy[:, hidden : 2 * hidden])
    xp.multiply(dm, tanh_c, out=dy[:, 2 * hidden : 3 * hidden])
    xp.multiply(dc, i, out=dy[:, 3 * hidden :])
    xp.multiply(dc, f, out=dc)
    # through the activations: sigma' = s(1 - s), tanh' = 1 - g^2
    sig, dsig, dtanh = gates[:, : 3 * hidden], deriv[:, : 3 * hidden], deriv[:, 3 * hidden :]
    xp.subtract(1, sig, out=dsig)
    xp.multiply(dsig, sig, out=dsig)
    xp.multiply(g, g, out=dtanh)
    xp.subtract(1, dtanh, out=dtanh)
    xp.multiply(dy, deriv, out=gates)


# ============================================================================ GRU


def gru_step_forward(gates, gh, b_hn, h_prev, h, scratch):
    """One GRU step's gate math, gates ``[r|z|n]`` (n, 3H) holding x W_ih^T + b (r, z halved),
    ``gh`` (n, 3H) holding h_prev W_hh^T (r, z halved; b_hh's r, z parts already in gates):

    r, z = 0.5 * tanh(gates_rz + gh_rz) + 0.5
    gh_n = gh_n + b_hn                      (kept: the reset gate scales it, backward needs it)
    n    = tanh(gates_n + r * gh_n)
    h    = n + z * (h_prev - n)             (= (1 - z) * n + z * h_prev)
    """
    xp = get_array_module(gates)
    n_rows, hidden = h.shape
    tmp = scratch[:n_rows]
    rz = gates[:, : 2 * hidden]
    xp.add(rz, gh[:, : 2 * hidden], out=rz)
    xp.tanh(rz, out=rz)
    xp.multiply(rz, 0.5, out=rz)
    xp.add(rz, 0.5, out=rz)
    r, z, cand = gates[:, :hidden], gates[:, hidden : 2 * hidden], gates[:, 2 * hidden :]
    hn = gh[:, 2 * hidden :]
    if b_hn is not None:
        xp.add(hn, b_hn, out=hn)
    xp.multiply(r, hn, out=tmp)
    xp.add(cand, tmp, out=cand)
    xp.tanh(cand, out=cand)
    xp.subtract(h_prev, cand, out=tmp)
    xp.multiply(tmp, z, out=tmp)
    xp.add(cand, tmp, out=h)


def gru_step_backward(gates, gh, dh, h_prev, dh_z, scratch):
    """Backward of one GRU step (the matmul dgh W_hh is the caller's):

    dh_z   = dh * z                                  (the direct path to h_prev)
    dz     = dh * (h_prev - n)                       -> gh_z
    dn_pre = dh * (1 - z) * (1 - n^2)                -> gates_n   (= dgi_n)
    dr     = dn_pre * gh_n                           -> gh_r
    dgh_n  = dn_pre * r                              -> gh_n
    [dr | dz] *= [r(1-r) | z(1-z)]                   -> gh_rz     (= dgi_rz = dgh_rz)

    ``scratch`` is (tmp (N, H), deriv (N, 2H)).
    """
    xp = get_array_module(gates)
    n_rows, hidden = dh.shape
    tmp, deriv = scratch[0][:n_rows], scratch[1][:n_rows]
    r, z, cand = gates[:, :hidden], gates[:, hidden : 2 * hidden], gates[:, 2 * hidden :]
    dgh_r, dgh_z, hn = gh[:, :hidden], gh[:, hidden : 2 * hidden], gh[:, 2 * hidden :]
    xp.multiply(dh, z, out=dh_z)
    xp.subtract(h_prev, cand, out=dgh_z)
    xp.multiply(dgh_z, dh, out=dgh_z)
    xp.subtract(1, z, out=tmp)
    xp.multiply(tmp, dh, out=tmp)
    xp.multiply(cand, cand, out=cand)
    xp.subtract(1, cand, out=cand)
    xp.multiply(cand, tmp, out=cand)
    xp.multiply(cand, hn, out=dgh_r)
    xp.multiply(cand, r, out=hn)
    rz, drz = gates[:, : 2 * hidden], gh[:, : 2 * hidden]
    xp.subtract(1, rz, out=deriv)
    xp.multiply(deriv, rz, out=deriv)
    xp.multiply(drz, deriv, out=drz)
