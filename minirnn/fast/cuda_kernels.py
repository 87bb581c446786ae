"""Fused CuPy kernels for the per-step gate math of the fast recurrent loop.

Each function here has the name, signature and in-place contract of its twin in
``pointwise.py`` (read that file for the equations and the gate layouts) and runs
the whole step's pointwise math as one ``cupy.ElementwiseKernel`` launch instead of
ten to fifteen separate ones. Kernels are defined once at module level and compiled
lazily by CuPy on first use (per dtype); this module is imported only when CuPy
arrays reach the fast path.

Parameter names avoid ``i``, ``n`` and a leading ``_``, which CuPy reserves inside
kernels (hence ``gate_i`` and ``cand`` for the LSTM input gate and GRU candidate).

Output parameters double as inputs where the step updates a buffer in place (the
gates go in as pre-activations and come out as activations): CuPy passes output
arguments by reference, so each thread reads its element before writing it.
"""

from __future__ import annotations

from ..backend import backend_module

_cupy = backend_module("cupy")

# ============================================================================ Elman RNN

_rnn_tanh_forward = _cupy.ElementwiseKernel("T x_part", "T h", "h = tanh(h + x_part)", "minirnn_rnn_tanh_forward")
_rnn_relu_forward = _cupy.ElementwiseKernel(
    "T x_part", "T h", "T a = h + x_part; h = a > (T)0 ? a : (T)0", "minirnn_rnn_relu_forward"
)
_rnn_tanh_backward = _cupy.ElementwiseKernel(
    "T dh, T h", "T da", "da = dh * ((T)1 - h * h)", "minirnn_rnn_tanh_backward"
)
_rnn_relu_backward = _cupy.ElementwiseKernel(
    "T dh, T h", "T da", "da = h > (T)0 ? dh : (T)0", "minirnn_rnn_relu_backward"
)


def rnn_step_forward(h, x_part, nonlinearity):
    """h = act(h + x_part), in place."""
    (_rnn_tanh_forward if nonlinearity == "tanh" else _rnn_relu_forward)(x_part, h)


def rnn_step_backward(da, dh, h, nonlinearity, scratch):
    """da = dh * act'(h)."""
    (_rnn_tanh_backward if nonlinearity == "tanh" else _rnn_relu_backward)(dh, h, da)


# ============================================================================ LSTM

_lstm_forward = _cupy.ElementwiseKernel(
    "T hh_i, T hh_f, T hh_o, T hh_g, T c_prev",
    "T gate_i, T gate_f, T gate_o, T gate_g, T c, T tanh_c, T m",
    """
    gate_i = (T)0.5 * tanh(gate_i + hh_i) + (T)0.5;
    gate_f = (T)0.5 * tanh(gate_f + hh_f) + (T)0.5;
    gate_o = (T)0.5 * tanh(gate_o + hh_o) + (T)0.5;
    gate_g = tanh(gate_g + hh_g);
    c = gate_f * c_prev + gate_i * gate_g;
    tanh_c = tanh(c);
    m = gate_o * tanh_c;
    """,
    "minirnn_lstm_forward",
)

_lstm_backward = _cupy.ElementwiseKernel(
    "T dm, T tanh_c, T c_prev",
    "T gate_i, T gate_f, T gate_o, T gate_g, T dc",
    """
    T dc_total = dc + dm * gate_o * ((T)1 - tanh_c * tanh_c);
    T d_i = dc_total * gate_g;
    T d_f = dc_total * c_prev;
    T d_o = dm * tanh_c;
    T d_g = dc_total * gate_i;
    dc = dc_total * gate_f;
    gate_i = d_i * gate_i * ((T)1 - gate_i);
    gate_f = d_f * gate_f * ((T)1 - gate_f);
    gate_o = d_o * gate_o * ((T)1 - gate_o);
    gate_g = d_g * ((T)1 - gate_g * gate_g);
    """,
    "minirnn_lstm_backward",
)


def _split(gates, count):
    hidden = gates.shape[1] // count
    return [gates[:, k * hidden : (k + 1) * hidden] for k in range(count)]


def lstm_step_forward(gates, hh, c_prev, c, tanh_c, m, scratch):
    """Gates [i|f|o|g] (halved i, f, o) -> activations; c, tanh(c), m = o * tanh(c)."""
    i, f, o, g = _split(gates, 4)
    hi, hf, ho, hg = _split(hh, 4)
    _lstm_forward(hi, hf, ho, hg, c_prev, i, f, o, g, c, tanh_c, m)


def lstm_step_backward(gates, dm, tanh_c, c_prev, dc, scratch):
    """Activations -> pre-activation gradients in place; dc -> dc_prev in place."""
    i, f, o, g = _split(gates, 4)
    _lstm_backward(dm, tanh_c, c_prev, i, f, o, g, dc)


# ============================================================================ GRU

_GRU_FORWARD_BODY = """
    r = (T)0.5 * tanh(r + gh_r) + (T)0.5;
    z = (T)0.5 * tanh(z + gh_z) + (T)0.5;
    cand = tanh(cand + r * hn);
    h = cand + z * (h_prev - cand);
"""
_gru_forward = _cupy.ElementwiseKernel(
    "T gh_r, T gh_z, T h_prev", "T r, T z, T cand, T hn, T h", _GRU_FORWARD_BODY, "minirnn_gru_forward"
)
_gru_forward_bias = _cupy.ElementwiseKernel(
    "T gh_r, T gh_z, T b_hn, T h_prev",
    "T r, T z, T cand, T hn, T h",
    "hn = hn + b_hn;" + _GRU_FORWARD_BODY,
    "minirnn_gru_forward_bias",
)

_gru_backward = _cupy.ElementwiseKernel(
    "T dh, T h_prev",
    "T r, T z, T cand, T gh_r, T gh_z, T hn, T dh_z",
    """
    T dn_pre = dh * ((T)1 - z) * ((T)1 - cand * cand);
    T dz = dh * (h_prev - cand);
    T dr = dn_pre * hn;
    dh_z = dh * z;
    hn = dn_pre * r;
    gh_r = dr * r * ((T)1 - r);
    gh_z = dz * z * ((T)1 - z);
    cand = dn_pre;
    """,
    "minirnn_gru_backward",
)


def gru_step_forward(gates, gh, b_hn, h_prev, h, scratch):
    """Gates [r|z|n] (halved r, z) -> activations; gh_n += b_hn; h = n + z * (h_prev - n)."""
    r, z, n = _split(gates, 3)
    gh_r, gh_z, hn = _split(gh, 3)
    if b_hn is None:
        _gru_forward(gh_r, gh_z, h_prev, r, z, n, hn, h)
    else:
        _gru_forward_bias(gh_r, gh_z, b_hn, h_prev, r, z, n, hn, h)


def gru_step_backward(gates, gh, dh, h_prev, dh_z, scratch):
    """dgh -> gh (all three parts), dgi_n -> gates_n, dh * z -> dh_z."""
    r, z, n = _split(gates, 3)
    gh_r, gh_z, hn = _split(gh, 3)
    _gru_backward(dh, h_prev, r, z, n, gh_r, gh_z, hn, dh_z)
