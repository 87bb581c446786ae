"""Fused CuPy kernels for the per-step gate math of the fast recurrent loop.

Each function here has the name, signature and in-place contract of its twin in
``pointwise.py`` (read that file for the equations and the gate layouts) and runs
the whole step's pointwise math as one ``cupy.ElementwiseKernel`` launch instead of
ten to fifteen separate ones. Kernels are defined once at module level and compiled
lazily by CuPy on first use (per dtype); this module is imported only when CuPy
arrays reach the fast path.

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
    "T hi, T hf, T ho, T hg, T c_prev",
    "T i, T f, T o, T g, T c, T tanh_c, T m",
    """
    i = (T)0.5 * tanh(i + hi) + (T)0.5;
    f = (T)0.5 * tanh(f + hf) + (T)0.5;
    o = (T)0.5 * tanh(o + ho) + (T)0.5;
    g = tanh(g + hg);
    c = f * c_prev + i * g;
    tanh_c = tanh(c);
    m = o * tanh_c;
    """,
    "minirnn_lstm_forward",
)

_lstm_backward = _cupy.ElementwiseKernel(
    "T dm, T tanh_c, T c_prev",
    "T i, T f, T o, T g, T dc",
    """
    T dc_total = dc + dm * o * ((T)1 - tanh_c * tanh_c);
    T di = dc_total * g;
    T df = dc_total * c_prev;
    T d_o = dm * tanh_c;
    T dg = dc_total * i;
    dc = dc_total * f;
    i = di * i * ((T)1 - i);
    f = df * f * ((T)1 - f);
    o = d_o * o * ((T)1 - o);
    g = dg * ((T)1 - g * g);
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
    n = tanh(n + r * hn);
    h = n + z * (h_prev - n);
"""
_gru_forward = _cupy.ElementwiseKernel(
    "T gh_r, T gh_z, T h_prev", "T r, T z, T n, T hn, T h", _GRU_FORWARD_BODY, "minirnn_gru_forward"
)
_gru_forward_bias = _cupy.ElementwiseKernel(
    "T gh_r, T gh_z, T b_hn, T h_prev",
    "T r, T z, T n, T hn, T h",
    "hn = hn + b_hn;" + _GRU_FORWARD_BODY,
    "minirnn_gru_forward_bias",
)

_gru_backward = _cupy.ElementwiseKernel(
    "T dh, T h_prev",
    "T r, T z, T n, T gh_r, T gh_z, T hn, T dh_z",
    """
    T dn_pre = dh * ((T)1 - z) * ((T)1 - n * n);
    T dz = dh * (h_prev - n);
    T dr = dn_pre * hn;
    dh_z = dh * z;
    hn = dn_pre * r;
    gh_r = dr * r * ((T)1 - r);
    gh_z = dz * z * ((T)1 - z);
    n = dn_pre;
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
