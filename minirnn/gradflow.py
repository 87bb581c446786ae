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
``cell_backward``, the functions ``recurrent_backward`` calls. Nothing is estimated
by finite differences.

Shapes: x (T, N, D) (or (N, T, D) with batch_first, or unbatched (T, D)); h_n and
dh_n (1, N, P) (or (1, P) unbatched), with P = proj_size or hidden_size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .backend import backend_of, get_array_module, is_array, np, to_device, to_numpy
from .checks import (
    check_array,
    check_choice,
    check_finite,
    check_float,
    check_last_dim,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rank,
    check_real,
    check_shape,
)
from .functional.recurrent import cell_backward, recurrent_forward
from .nn.rnn import GRU, LSTM, RNN, RNNBase

CELLS = {"rnn_tanh": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM"}  # what compare_gradient_flow runs

# What ``GradientFlow.step_factor`` holds for each mode (the per-step multiplier of
# the path that explains the flow; see the module docstring).
STEP_FACTORS = {
    "rnn_tanh": "mean tanh slope 1 - h_t^2",
    "rnn_relu": "fraction of units with h_t > 0",
    "lstm": "mean forget gate f_t",
    "gru": "mean update gate z_t",
}


class GradientFlow(NamedTuple):
    """What ``trace_gradient_flow`` returns (host NumPy arrays).

    =============  ==============================================================
    grads          (T, N, P) g_t = dL/dh_t, the total derivative, t = 0..T-1
    norms          (T,) ||g_t||, the Frobenius norm over the batch
    dh0            (N, P) dL/dh0, the gradient of the initial state (one more step)
    step_factor    (T,) what scales the gradient at step t, averaged over batch and
                   units (see ``factor_name``: the slope of tanh, 1 - h_t^2, for
                   the Elman RNN, which multiplies W_hh; the forget gate f_t for
                   the LSTM; the update gate z_t for the GRU)
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
    device = backend_of(layer.weight_ih_l0.data)
    for label, array in (("x", x), ("dh_n", dh_n)):
        if is_array(array) and backend_of(array) != device:
            raise TypeError(f"{name}: {label} is a {backend_of(array)} array, but the layer's parameters are on "
                            f"{device}; move it with mr.to_device({label}, {device!r})")
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


def _step_factor(mode, step_cache) -> float:
    """The per-step multiplier of ``STEP_FACTORS[mode]`` for one step, averaged over batch and units."""
    if mode == "lstm":
        return float(to_numpy(step_cache.f).mean())
    if mode == "gru":
        return float(to_numpy(step_cache.z).mean())
    h = to_numpy(step_cache.h)
    return float((1 - h * h).mean() if mode == "rnn_tanh" else (h > 0).mean())


def _frobenius_norms(grads):
    """||g_t|| for each t of (T, N, P) host ``grads``, as float64 (T,).

    Each step is divided by its largest |entry| before squaring, so a gradient of
    1e200 has norm ~1e200 rather than sqrt(inf). A step holding inf or NaN keeps it.
    """
    magnitudes = np.abs(grads.reshape(len(grads), -1).astype(np.float64))  # (T, N*P)
    peak = magnitudes.max(axis=1, initial=0.0)
    scale = np.where(np.isfinite(peak) & (peak > 0), peak, 1.0)  # 0, inf and NaN need no scaling
    with np.errstate(over="ignore", invalid="ignore"):  # a step holding NaN, or a norm past 1.8e308
        return scale * np.sqrt(((magnitudes / scale[:, None]) ** 2).sum(axis=1))


def trace_gradient_flow(layer, x, dh_n, hx=None) -> GradientFlow:
    """Every g_t = dL/dh_t of ``L = sum(h_n * dh_n)``, by minirnn's reference BPTT.

    ``layer`` is a one-layer, one-direction ``RNN``, ``GRU`` or ``LSTM`` (projection
    included); ``x`` and ``hx`` are what the layer's forward takes; ``dh_n`` has the
    shape of h_n. For the LSTM, c_n is not in the loss (dc_n = 0). The layer's own
    caches and gradients are left untouched. Returns a ``GradientFlow``.
    """
    x, state0, dh, unbatched = _prepare(layer, x, dh_n, hx)
    mode, params = layer.mode, layer._direction_params(0, 0)
    _, _, cache = recurrent_forward(mode, x, state0, params)
    xp = get_array_module(x)
    steps = x.shape[0]
    grads = xp.empty((steps,) + dh.shape, dtype=dh.dtype)
    dc = None  # the state gradient after the last step: dh_n, and no dc_n (c_n is not in L)
    # An exploding gradient may overflow to inf (then inf * 0 = NaN): that is what is
    # measured here, and the norms show it, so NumPy's warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in reversed(range(steps)):
            grads[t] = dh  # g_t: everything that reaches h_t from the steps after t
            _, dh, dc, _ = cell_backward(mode, dh, dc, cache.step_caches[t])
    grads, dh0 = to_numpy(grads), to_numpy(dh)
    norms = _frobenius_norms(grads)
    factors = np.array([_step_factor(mode, c) for c in cache.step_caches])
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


# ============================================================================ experiment


class FlowRun(NamedTuple):
    """One layer of ``compare_gradient_flow``: its cell, weight scale and flow.

    ``radius`` is the spectral radius of W_hh (the largest |eigenvalue|) for the
    Elman RNN, whose gradient it steers; None for the gated cells (their W_hh stacks
    several gates).
    """

    cell: str
    scale: float
    flow: GradientFlow
    radius: float | None

    @property
    def ratio(self) -> float:
        """||dL/dh_0|| / ||dL/dh_{T-1}||: what is left of the gradient after T - 1 steps back.

        0 where the gradient underflowed (float64 rounded it to exactly 0), inf or NaN
        where it overflowed (``measured_from`` says at which step), NaN where dh_n is 0.
        """
        norms = self.flow.norms
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return float(np.float64(norms[0]) / np.float64(norms[-1]))

    @property
    def measured_from(self) -> int:
        """The first t of the stretch t..T-1 over which every ||g_t|| is finite and > 0.

        0 while float64 held the gradient all the way back; otherwise, at step
        ``measured_from - 1``, its norm underflowed to exactly 0 or overflowed to inf or
        NaN. inf and NaN spread to every earlier step, and so does a 0 for the RNN and
        the GRU, whose whole state is h; the LSTM's c path may still carry gradient to
        earlier h_t. T when ||dh_n|| itself is 0 or not finite.
        """
        norms = self.flow.norms
        lost = np.flatnonzero(~(np.isfinite(norms) & (norms > 0)))
        return int(lost.max()) + 1 if lost.size else 0

    @property
    def per_step(self) -> float:
        """The geometric mean of ||g_{t-1}|| / ||g_t||: the measured factor of one step back.

        Taken over the steps float64 could measure (t >= ``measured_from``); NaN when it
        measured none (the gradient left float64's range at the first step back).
        """
        norms, first = self.flow.norms, self.measured_from
        span = len(norms) - 1 - first
        if span > 0:  # in logs: the ratio of two finite norms may itself overflow
            return math.exp((math.log(norms[first]) - math.log(norms[-1])) / span)
        return 1.0 if first == 0 else float("nan")  # T = 1: no step back to measure


def build_scaled_layer(cell, input_size, hidden_size, scale, gate_bias, rng):
    """A float64 one-layer ``cell`` layer, every weight and bias ~ U(-k/sqrt(H), k/sqrt(H)), k = scale.

    ``scale = 1`` with ``gate_bias = 0`` is PyTorch's default initialisation (weights and
    biases ~ U(-1/sqrt(H), 1/sqrt(H))). ``gate_bias`` is added to the bias of
    the gate that keeps the old state: the LSTM's forget gate (rows H:2H of b_ih)
    and the GRU's update gate (rows H:2H too, z -> 1 keeps h_prev); the Elman RNN
    has no such gate. The weights come from ``rng`` (a NumPy Generator) and replace
    the ones the constructor drew, so the same ``rng`` state gives the same layer.
    """
    classes = {"rnn_tanh": RNN, "gru": GRU, "lstm": LSTM}
    layer = classes[check_choice(cell, tuple(classes), "build_scaled_layer", "cell")](
        input_size, hidden_size, dtype="float64")
    bound = scale / np.sqrt(hidden_size)
    for p in layer.parameters():
        p.data[...] = to_device(rng.uniform(-bound, bound, size=p.shape), backend_of(p.data))
    if cell in ("gru", "lstm"):
        layer.bias_ih_l0.data[hidden_size : 2 * hidden_size] += gate_bias
    return layer


def _check_experiment(cells, scales, steps, batch, input_size, hidden_size, gate_bias, seed):
    """``compare_gradient_flow``'s arguments, checked and in their canonical types."""
    where = "compare_gradient_flow"
    for what, values in (("cells", cells), ("scales", scales)):
        if isinstance(values, str) or not hasattr(values, "__iter__"):
            raise TypeError(f"{where} expects {what} to be a list or tuple, got {values!r} "
                            f"({type(values).__name__})")
    cells = tuple(check_choice(cell, tuple(CELLS), where, f"cells[{i}]") for i, cell in enumerate(cells))
    scales = tuple(check_positive_float(k, where, f"scales[{i}]") for i, k in enumerate(scales))
    if not cells or not scales:
        raise ValueError(f"{where} expects at least one cell and one scale, got cells={cells}, scales={scales}")
    sizes = tuple(check_positive_int(value, where, what) for what, value in (
        ("steps", steps), ("batch", batch), ("input_size", input_size), ("hidden_size", hidden_size)))
    return cells, scales, sizes, check_real(gate_bias, where, "gate_bias"), check_nonnegative_int(seed, where, "seed")


def compare_gradient_flow(cells=tuple(CELLS), scales=(1.0, 4.0), steps=100, batch=8, input_size=16,
                          hidden_size=64, gate_bias=1.0, seed=0) -> list[FlowRun]:
    """The gradient flow of several cells at several weight scales on one seeded input.

    Every layer sees the same input x ~ N(0, 1) of shape (T, N, D) and the same
    upstream dh_n ~ N(0, 1) of shape (1, N, H); the weights of each (cell, scale)
    are drawn by ``build_scaled_layer`` from a generator seeded with ``seed``, so
    the same seed gives the same numbers. The layers are built on the current
    backend (NumPy or CuPy). Returns one ``FlowRun`` per scale and cell, scales
    outer.
    """
    cells, scales, sizes, gate_bias, seed = _check_experiment(cells, scales, steps, batch, input_size, hidden_size,
                                                              gate_bias, seed)
    steps, batch, input_size, hidden_size = sizes
    data = np.random.default_rng(seed)
    x = data.standard_normal((steps, batch, input_size))
    dh_n = data.standard_normal((1, batch, hidden_size))
    runs = []
    for scale in scales:
        for cell in cells:
            layer = build_scaled_layer(cell, input_size, hidden_size, scale, gate_bias, np.random.default_rng(seed))
            x, dh_n = (to_device(a, backend_of(layer.weight_ih_l0.data)) for a in (x, dh_n))  # CuPy: on the GPU
            radius = None
            if cell == "rnn_tanh":
                radius = float(np.abs(np.linalg.eigvals(to_numpy(layer.weight_hh_l0.data))).max())
            runs.append(FlowRun(cell, float(scale), trace_gradient_flow(layer, x, dh_n), radius))
    return runs
