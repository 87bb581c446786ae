"""How the gradient of a recurrent layer's last state flows back through time.

Take the loss ``L = sum(h_n * dh_n)`` of a one-layer, one-direction RNN, GRU or
LSTM run over T steps, and write ``g_t = dL/dh_t`` for the *total* derivative of L
with respect to the hidden state after step t (through every later step of the
recurrence, not just the direct use of h_t). BPTT computes exactly these:

    g_{T-1} = dh_n
    g_{t-1} = (dh_prev of the backward of step t, given g_t)       t = T-1 .. 1

so ``g_t`` for t < T-1 is the gradient that arrives in h_t from step t+1. How its
norm ``||g_t||`` changes with t is the story of vanishing and exploding gradients:

* Elman RNN, ``h_t = tanh(a_t)``: one step back multiplies by a Jacobian,

      g_{t-1} = (g_t * (1 - h_t^2)) W_hh = g_t diag(1 - h_t^2) W_hh

  so ``||g_0|| <= ||g_{T-1}|| prod_t ||diag(1 - h_t^2) W_hh||_2``: a product of T
  matrices, which shrinks or grows geometrically (relu: ``[h_t > 0]`` instead).
* LSTM: the cell state is updated additively, ``c_t = f_t * c_{t-1} + i_t * g_t``,
  so one step back along the c path is ``dc_{t-1} = dc_t * f_t + ...``: an
  element-wise product with the forget gate and no weight matrix. Where f_t stays
  near 1 the gradient passes many steps without shrinking. (``c_n`` is not in the
  loss: the c path starts at the last step, from h_n = o * tanh(c_n).)
* GRU: ``h_t = (1 - z_t) * n_t + z_t * h_{t-1}``, so ``g_{t-1} = g_t * z_t + ...``,
  the same additive shortcut with the update gate z in the role of f.

The gradients here come from minirnn's own BPTT: the reference forward loop
``functional.recurrent.recurrent_forward`` and its per-step backward
``step_backward``, the functions ``recurrent_backward`` calls. Nothing is estimated
by finite differences.

Shapes: x (T, N, D) (or (N, T, D) with batch_first, or unbatched (T, D)); h_n and
dh_n (1, N, P) (or (1, P) unbatched), with P = proj_size or hidden_size.
"""

from __future__ import annotations

from typing import NamedTuple

from .backend import get_array_module, np, to_numpy
from .checks import check_array, check_finite, check_float, check_last_dim, check_rank, check_shape
from .functional import recurrent as F_recurrent
from .nn.rnn import RNNBase

# What ``GradientFlow.step_factor`` holds for each mode (the per-step multiplier of
# the path that explains the flow; see the module docstring).
STEP_FACTORS = {
    "rnn_tanh": "||diag(1 - h_t^2) W_hh||_2",
    "rnn_relu": "||diag([h_t > 0]) W_hh||_2",
    "lstm": "mean forget gate f_t",
    "gru": "mean update gate z_t",
}


class GradientFlow(NamedTuple):
    """What ``trace_gradient_flow`` returns (host NumPy arrays).

    =============  ==============================================================
    grads          (T, N, P) g_t = dL/dh_t, the total derivative, t = 0..T-1
    norms          (T,) ||g_t||, the Frobenius norm over the batch
    dh0            (N, P) dL/dh0, the gradient of the initial state (one more step)
    step_factor    (T,) the per-step multiplier of step t, averaged over the batch
                   (see ``factor_name``: the Jacobian norm for the Elman RNN, the
                   mean forget gate for the LSTM, the mean update gate for the GRU)
    factor_name    str, what ``step_factor`` is
    =============  ==============================================================
    """

    grads: object
    norms: object
    dh0: object
    step_factor: object
    factor_name: str


def _check_layer(layer) -> str:
    if not isinstance(layer, RNNBase):
        raise TypeError(f"gradient_flow expects a minirnn RNN, GRU or LSTM layer, got {type(layer).__name__}")
    name = type(layer).__name__
    if layer.num_layers != 1 or layer.bidirectional:
        raise ValueError(
            f"gradient_flow expects a one-layer, one-direction {name}, got num_layers={layer.num_layers}, "
            f"bidirectional={layer.bidirectional}; pass one layer (e.g. {name}(D, H)) to look at one recurrence"
        )
    return name


def _prepare(layer, x, dh_n, hx):
    """Check the arguments; return time-major x (T, N, D), state0, dh (N, P) and the unbatched flag."""
    name = f"gradient_flow({_check_layer(layer)})"
    dtype = layer.weight_ih_l0.dtype
    check_float(x, dtype, name, "x")
    layout = "(N, T, D) or unbatched (T, D)" if layer.batch_first else "(T, N, D) or unbatched (T, D)"
    check_rank(x, (2, 3), name, "x", layout)
    check_last_dim(x, layer.input_size, name)
    check_finite(x, name, "x")
    unbatched = x.ndim == 2
    x = x[:, None, :] if unbatched else (x.transpose(1, 0, 2) if layer.batch_first else x)
    if x.shape[0] == 0:
        raise ValueError(f"{name} expects at least one time step, got T = 0")
    batch, width = x.shape[1], layer.output_size
    check_array(dh_n, name, "dh_n")
    check_float(dh_n, dtype, name, "dh_n")
    check_shape(dh_n, (1, width) if unbatched else (1, batch, width), name, "dh_n (the shape of h_n)")
    check_finite(dh_n, name, "dh_n")
    h0, c0 = layer._initial_state(hx, batch, unbatched, x)
    state0 = (h0[0], c0[0]) if layer.mode == "lstm" else (h0[0],)
    return x, state0, dh_n.reshape(batch, width), unbatched


def _step_factor(mode, step_cache, w_hh):
    """The per-step multiplier of ``STEP_FACTORS[mode]`` for one step, averaged over the batch."""
    if mode == "lstm":
        return float(to_numpy(step_cache.f).mean())
    if mode == "gru":
        return float(to_numpy(step_cache.z).mean())
    h = to_numpy(step_cache.h)
    slope = 1 - h * h if mode == "rnn_tanh" else (h > 0).astype(h.dtype)
    # Row n of the batch backpropagates through diag(slope_n) W_hh; its spectral norm
    # bounds how much one step can stretch the gradient.
    w = to_numpy(w_hh)
    return float(np.mean([np.linalg.norm(s[:, None] * w, 2) for s in slope]))


def trace_gradient_flow(layer, x, dh_n, hx=None) -> GradientFlow:
    """Every g_t = dL/dh_t of ``L = sum(h_n * dh_n)``, by minirnn's reference BPTT.

    ``layer`` is a one-layer, one-direction ``RNN``, ``GRU`` or ``LSTM`` (projection
    included); ``x`` and ``hx`` are what the layer's forward takes; ``dh_n`` has the
    shape of h_n. For the LSTM, c_n is not in the loss (dc_n = 0). The layer's own
    caches and gradients are left untouched. Returns a ``GradientFlow``.
    """
    x, state0, dh, unbatched = _prepare(layer, x, dh_n, hx)
    mode, params = layer.mode, layer._direction_params(0, 0)
    _, _, cache = F_recurrent.recurrent_forward(mode, x, state0, params)
    xp = get_array_module(x)
    steps = x.shape[0]
    grads = xp.empty((steps,) + dh.shape, dtype=dh.dtype)
    # The state gradient after the last step: dh_n, and dc_n = None (c_n is not in L).
    dstate = (dh, None) if mode == "lstm" else (dh,)
    for t in reversed(range(steps)):
        grads[t] = dstate[0]  # g_t: everything that reaches h_t from the steps after t
        _, dstate, _ = F_recurrent.step_backward(mode, dstate, cache.step_caches[t])
    grads, dh0 = to_numpy(grads), to_numpy(dstate[0])
    norms = np.sqrt((grads.astype(np.float64) ** 2).sum(axis=(1, 2)))
    factors = np.array([_step_factor(mode, c, params[1]) for c in cache.step_caches])
    if unbatched:
        grads, dh0 = grads[:, 0], dh0[0]
    return GradientFlow(grads, norms, dh0, factors, STEP_FACTORS[mode])


def gradient_flow(layer, x, dh_n, hx=None):
    """``||dL/dh_t||`` for t = 0..T-1 as a NumPy array (T,), with ``L = sum(h_n * dh_n)``.

    ``dL/dh_t`` is the total derivative through the recurrence (for the LSTM with
    respect to h_t, with c_n not in the loss), from minirnn's own BPTT; the norm is
    the Frobenius norm over the batch. ``layer`` must be a one-layer, one-direction
    ``RNN``, ``GRU`` or ``LSTM``; ``dh_n`` has h_n's shape (1, N, P).

    >>> lstm = mr.LSTM(8, 32, dtype="float64")
    >>> norms = mr.gradient_flow(lstm, x, dh_n)      # x (T, N, 8), dh_n (1, N, 32)
    >>> norms[0] / norms[-1]                          # how much survives T - 1 steps

    See ``trace_gradient_flow`` for the gradients themselves and the per-step factors.
    """
    return trace_gradient_flow(layer, x, dh_n, hx).norms
