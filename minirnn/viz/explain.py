"""One cell step worked by hand: every equation of the docstring, with its numbers.

``explain_cell("lstm")`` takes one step of an LSTM, GRU or Elman RNN cell with tiny
sizes (N = 1, D = 2, H = 2) and seeded numbers, and writes out the forward equations
of ``functional/cells.py`` with the values they produce, then the backward
equations, each gradient the backward returns next to its central finite difference
of ``L = sum(h * dh) [+ sum(c * dc)]`` and the error between the two.

It cannot drift from the code, because the numbers come from the library:

* the forward values are the cache fields and outputs of ``cells.*_cell_forward``;
* the gradients are what ``cells.*_cell_backward`` returns, and their central
  differences recompute L with ``cells.*_cell_forward``;
* the few lines worked out here so the reader can see them (the gate
  pre-activations, the backward's intermediate products) are checked against the
  library before anything is shown: sigma(gates_i) must equal the cache's i, and
  with N = 1 the bias gradient *is* the pre-activation gradient
  (db_ih = sum_n dgates). A mismatch raises ``ExplainMismatch`` naming the line.

Nothing here prints: ``explain_cell`` returns the text, ``walk_cell`` the numbers.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import np
from ..functional import cells as F_cells
from ..functional.activations import ACTIVATIONS, sigmoid, tanh
from ..gradcheck import numeric_gradient

CELLS = ("lstm", "gru", "rnn")
GATE_NAMES = {"lstm": "ifgo", "gru": "rzn", "rnn": ("a",)}
N, D, H = 1, 2, 2  # batch, input features, hidden units
EPS = 1e-6  # the central-difference step (float64)
TOLERANCE = 1e-10  # how far a line worked out here may be from the library's number


class ExplainMismatch(RuntimeError):
    """A line worked out by ``explain`` no longer matches the library: the text would lie."""


class Line(NamedTuple):
    """One equation with its value: ``name = equation = value``, and where the value came from."""

    name: str
    equation: str
    value: object  # a (1, k) array, or None for a line that only states an equation
    source: str  # e.g. "cache.i", "returned h", or "" for a line worked out here


class Walkthrough(NamedTuple):
    """The numbers behind ``explain_cell``: every array is float64 NumPy, N = 1.

    ``grads`` maps each array the loss reads (x, h_prev, [c_prev], W_ih, ...) to
    ``(returned, numeric, equation)``: the library backward's gradient, the central
    difference, and the docstring's equation for it.
    """

    cell: str
    seed: int
    nonlinearity: str
    inputs: dict  # x, h_prev[, c_prev]
    params: dict  # W_ih, W_hh, b_ih, b_hh[, W_hr]
    upstream: dict  # dh[, dc]
    preactivation: tuple  # (x W_ih^T + b_ih, h_prev W_hh^T + b_hh), each (1, G*H), worked out here
    forward: list  # Line
    backward: list  # Line
    grads: dict


# ============================================================================ the numbers


def cell_arrays(cell: str, seed: int = 0, proj_size: int = 0):
    """The seeded ``(inputs, params, upstream)`` of one walkthrough: dicts of float64 arrays.

    Everything is drawn U(-1, 1) (non-zero biases), except the upstream gradients
    dh, dc ~ N(0, 1). ``proj_size`` (LSTM only) adds W_hr (P, H) and makes h (1, P).
    """
    rng = np.random.default_rng(seed)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    width = proj_size or H

    def draw(*shape):
        return rng.uniform(-1.0, 1.0, size=shape)

    inputs = {"x": draw(N, D), "h_prev": draw(N, width)}
    if cell == "lstm":
        inputs["c_prev"] = draw(N, H)
    params = {"W_ih": draw(gates * H, D), "W_hh": draw(gates * H, width), "b_ih": draw(gates * H),
              "b_hh": draw(gates * H)}
    if proj_size:
        params["W_hr"] = draw(proj_size, H)
    upstream = {"dh": rng.standard_normal((N, width))}
    if cell == "lstm":
        upstream["dc"] = rng.standard_normal((N, H))
    return inputs, params, upstream


def cell_forward(cell, inputs, params, nonlinearity="tanh"):
    """Call the library's forward step: returns ``({"h": h[, "c": c]}, cache)``."""
    x, h_prev, p = inputs["x"], inputs["h_prev"], params
    if cell == "lstm":
        (h, c), cache = F_cells.lstm_cell_forward(x, h_prev, inputs["c_prev"], p["W_ih"], p["W_hh"], p["b_ih"],
                                                  p["b_hh"], p.get("W_hr"))
        return {"h": h, "c": c}, cache
    if cell == "gru":
        h, cache = F_cells.gru_cell_forward(x, h_prev, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
        return {"h": h}, cache
    h, cache = F_cells.rnn_cell_forward(x, h_prev, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"], nonlinearity)
    return {"h": h}, cache


def cell_backward(cell, upstream, cache) -> dict:
    """Call the library's backward step: ``{array name: gradient}`` in the order it returns them."""
    if cell == "lstm":
        dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh, dw_hr = F_cells.lstm_cell_backward(
            upstream["dh"], upstream["dc"], cache)
        grads = {"x": dx, "h_prev": dh_prev, "c_prev": dc_prev}
    else:
        backward = F_cells.gru_cell_backward if cell == "gru" else F_cells.rnn_cell_backward
        dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh = backward(upstream["dh"], cache)
        grads, dw_hr = {"x": dx, "h_prev": dh_prev}, None
    grads.update(W_ih=dw_ih, W_hh=dw_hh, b_ih=db_ih, b_hh=db_hh)
    if dw_hr is not None:
        grads["W_hr"] = dw_hr
    return grads


def _loss(cell, inputs, params, upstream, nonlinearity) -> float:
    """L = sum(h * dh) [+ sum(c * dc)], recomputed by the library's forward."""
    outputs, _ = cell_forward(cell, inputs, params, nonlinearity)
    return float(sum((outputs[k] * upstream["d" + k]).sum() for k in outputs))


def _check(name: str, shown, library, what: str) -> None:
    error = float(np.max(np.abs(np.asarray(shown) - np.asarray(library))))
    if error > TOLERANCE:
        raise ExplainMismatch(
            f"explain: the line {name!r} no longer matches {what} (they differ by {error:.1e}); the equations "
            "in minirnn/viz/explain.py and minirnn/functional/cells.py have drifted apart"
        )


def _split(dgates, equations) -> list:
    """The LSTM's dgates (1, 4H) as one Line per gate block, ``dgates_i`` .. ``dgates_o``."""
    return [Line(f"dgates_{gate}", equation, dgates[:, k * H : (k + 1) * H], f"= db_ih {gate}")
            for k, (gate, equation) in enumerate(zip(GATE_NAMES["lstm"], equations))]


# ============================================================================ forward lines


def _lstm_forward(pre, cache, outputs) -> list:
    gates = pre[0] + pre[1]
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    for name, shown in (("i", sigmoid(i)), ("f", sigmoid(f)), ("g", tanh(g)), ("o", sigmoid(o))):
        _check(name, shown, getattr(cache, name), f"the cache's {name} of lstm_cell_forward")
    projected = cache.w_hr is not None
    return [
        Line("i", "sigma(gates_i)", cache.i, "cache.i"),
        Line("f", "sigma(gates_f)", cache.f, "cache.f"),
        Line("g", "tanh(gates_g)", cache.g, "cache.g"),
        Line("o", "sigma(gates_o)", cache.o, "cache.o"),
        Line("c", "f * c_prev + i * g", outputs["c"], "returned c"),
        Line("tanh_c", "tanh(c)", cache.tanh_c, "cache.tanh_c"),
        Line("m", "o * tanh(c)", cache.m, "cache.m"),
        Line("h", "m W_hr^T" if projected else "m", outputs["h"], "returned h"),
    ]


def _gru_forward(pre, cache, outputs) -> list:
    gi, gh = pre
    r_pre, z_pre = (gi + gh)[:, :H], (gi + gh)[:, H : 2 * H]
    gh_n = gh[:, 2 * H :]
    _check("r", sigmoid(r_pre), cache.r, "the cache's r of gru_cell_forward")
    _check("z", sigmoid(z_pre), cache.z, "the cache's z of gru_cell_forward")
    _check("gh_n", gh_n, cache.hn, "the cache's hn of gru_cell_forward")
    _check("n", tanh(gi[:, 2 * H :] + cache.r * gh_n), cache.n, "the cache's n of gru_cell_forward")
    return [
        Line("r", "sigma(gi_r + gh_r)", cache.r, "cache.r"),
        Line("z", "sigma(gi_z + gh_z)", cache.z, "cache.z"),
        Line("gh_n", "h_prev W_hn^T + b_hn", cache.hn, "cache.hn"),
        Line("n", "tanh(gi_n + r * gh_n)", cache.n, "cache.n"),
        Line("h", "(1 - z) * n + z * h_prev", outputs["h"], "returned h"),
    ]


def _rnn_forward(pre, cache, outputs) -> list:
    act, _ = ACTIVATIONS[cache.nonlinearity]
    _check("h", act(pre[0] + pre[1]), outputs["h"], "the h of rnn_cell_forward")
    return [Line("h", f"{cache.nonlinearity}(a)", outputs["h"], "returned h")]


# ============================================================================ backward lines


def _lstm_backward(upstream, cache, grads) -> list:
    dh, projected = upstream["dh"], cache.w_hr is not None
    dm = dh @ cache.w_hr if projected else dh
    do = dm * cache.tanh_c
    dc = upstream["dc"] + dm * cache.o * (1 - cache.tanh_c**2)
    di, df, dg = dc * cache.g, dc * cache.c_prev, dc * cache.i
    dgates = np.concatenate([di * cache.i * (1 - cache.i), df * cache.f * (1 - cache.f), dg * (1 - cache.g**2),
                             do * cache.o * (1 - cache.o)], axis=1)
    _check("dgates", dgates, grads["b_ih"][None, :], "the db_ih = sum_n dgates that lstm_cell_backward returns")
    _check("dc", dc * cache.f, grads["c_prev"], "the dc_prev = dc * f that lstm_cell_backward returns")
    return [
        Line("dm", "dh W_hr" if projected else "dh", dm, ""),
        Line("do", "dm * tanh(c)", do, ""),
        Line("dc", "dc + dm * o * (1 - tanh(c)^2)", dc, ""),
        Line("di", "dc * g", di, ""),
        Line("df", "dc * c_prev", df, ""),
        Line("dg", "dc * i", dg, ""),
        *_split(dgates, ("di * i * (1 - i)", "df * f * (1 - f)", "dg * (1 - g^2)", "do * o * (1 - o)")),
        Line("dgates", "[dgates_i | dgates_f | dgates_g | dgates_o]   (N, 4H)", None, ""),
    ]


def _gru_backward(upstream, cache, grads) -> list:
    dh = upstream["dh"]
    dn, dz = dh * (1 - cache.z), dh * (cache.h_prev - cache.n)
    dn_pre = dn * (1 - cache.n**2)
    dr, dgh_n = dn_pre * cache.hn, dn_pre * cache.r
    dr_pre, dz_pre = dr * cache.r * (1 - cache.r), dz * cache.z * (1 - cache.z)
    _check("dgi", np.concatenate([dr_pre, dz_pre, dn_pre], axis=1), grads["b_ih"][None, :],
           "the db_ih = sum_n dgi that gru_cell_backward returns")
    _check("dgh", np.concatenate([dr_pre, dz_pre, dgh_n], axis=1), grads["b_hh"][None, :],
           "the db_hh = sum_n dgh that gru_cell_backward returns")
    return [
        Line("dn", "dh * (1 - z)", dn, ""),
        Line("dz", "dh * (h_prev - n)", dz, ""),
        Line("dn_pre", "dn * (1 - n^2)", dn_pre, "= db_ih n"),
        Line("dr", "dn_pre * gh_n", dr, ""),
        Line("dgh_n", "dn_pre * r", dgh_n, "= db_hh n"),
        Line("dr_pre", "dr * r * (1 - r)", dr_pre, "= db_ih r"),
        Line("dz_pre", "dz * z * (1 - z)", dz_pre, "= db_ih z"),
        Line("dgi", "[dr_pre | dz_pre | dn_pre]", None, ""),
        Line("dgh", "[dr_pre | dz_pre | dgh_n]", None, ""),
    ]


def _rnn_backward(upstream, cache, grads) -> list:
    _, act_backward = ACTIVATIONS[cache.nonlinearity]
    da = act_backward(upstream["dh"], cache.h)
    _check("da", da, grads["b_ih"][None, :], "the db_ih = sum_n da that rnn_cell_backward returns")
    slope = "(1 - h^2)" if cache.nonlinearity == "tanh" else "[h > 0]"
    return [Line("da", f"dh * {slope}", da, "= db_ih")]


GRAD_EQUATIONS = {
    "lstm": {"W_hr": "dh^T m", "c_prev": "dc * f", "x": "dgates W_ih", "h_prev": "dgates W_hh",
             "W_ih": "dgates^T x", "W_hh": "dgates^T h_prev", "b_ih": "sum_n dgates", "b_hh": "sum_n dgates"},
    "gru": {"x": "dgi W_ih", "h_prev": "dh * z + dgh W_hh", "W_ih": "dgi^T x", "W_hh": "dgh^T h_prev",
            "b_ih": "sum_n dgi", "b_hh": "sum_n dgh"},
    "rnn": {"x": "da W_ih", "h_prev": "da W_hh", "W_ih": "da^T x", "W_hh": "da^T h_prev", "b_ih": "sum_n da",
            "b_hh": "sum_n da"},
}
FORWARD_LINES = {"lstm": _lstm_forward, "gru": _gru_forward, "rnn": _rnn_forward}
BACKWARD_LINES = {"lstm": _lstm_backward, "gru": _gru_backward, "rnn": _rnn_backward}


def walk_cell(cell: str, seed: int = 0, proj_size: int = 0, nonlinearity: str = "tanh") -> Walkthrough:
    """Run one step of ``cell`` through the library and collect every number ``explain_cell`` shows."""
    if cell not in CELLS:
        raise ValueError(f"explain knows the cells {', '.join(CELLS)}, got {cell!r}")
    if proj_size and (cell != "lstm" or not 0 < proj_size < H):
        raise ValueError(f"proj_size must be in [1, {H - 1}] and needs the lstm cell, got {proj_size} for {cell}")
    if nonlinearity not in ("tanh", "relu") or (nonlinearity != "tanh" and cell != "rnn"):
        raise ValueError(f"nonlinearity must be tanh (or relu for the rnn cell), got {nonlinearity!r} for {cell}")
    inputs, params, upstream = cell_arrays(cell, seed, proj_size)
    # Shown so the reader sees what goes into the activations; checked against the cache below.
    pre = (inputs["x"] @ params["W_ih"].T + params["b_ih"], inputs["h_prev"] @ params["W_hh"].T + params["b_hh"])
    outputs, cache = cell_forward(cell, inputs, params, nonlinearity)
    forward = FORWARD_LINES[cell](pre, cache, outputs)
    returned = cell_backward(cell, upstream, cache)
    backward = BACKWARD_LINES[cell](upstream, cache, returned)
    arrays = {**inputs, **params}
    equations = GRAD_EQUATIONS[cell]
    grads = {}
    for name in (n for n in equations if n in returned):
        numeric = numeric_gradient(lambda: _loss(cell, inputs, params, upstream, nonlinearity), arrays[name], EPS)
        grads[name] = (returned[name], numeric, equations[name])
    return Walkthrough(cell, seed, nonlinearity, inputs, params, upstream, pre, forward, backward, grads)


# ============================================================================ the text


def _vec(values) -> str:
    """A row of numbers as ``[+0.12345 -0.67890]``."""
    return "[" + " ".join(f"{v:+.5f}" for v in np.ravel(values)) + "]"


def _row_labels(cell: str, rows: int) -> list[str]:
    """``i0 i1 f0 f1 ...`` for the rows of a gate-stacked (G*H, .) array; ``0 1 ...`` otherwise."""
    names = GATE_NAMES[cell]
    if rows != len(names) * H or cell == "rnn":
        return [str(r) for r in range(rows)]
    return [f"{names[r // H]}{r % H}" for r in range(rows)]


def _header(walk: Walkthrough) -> list[str]:
    kind = {"lstm": "LSTM", "gru": "GRU", "rnn": f"Elman RNN ({walk.nonlinearity})"}[walk.cell]
    name = "rnn" if walk.cell == "rnn" else walk.cell
    loss = "sum(h * dh) + sum(c * dc)" if walk.cell == "lstm" else "sum(h * dh)"
    lines = [f"One {kind} cell step, worked by hand: N={N}, D={D}, H={H}, seed {walk.seed}, float64.",
             f"Every number comes from functional/cells.py: {name}_cell_forward, its cache,",
             f"and {name}_cell_backward; the loss is L = {loss}.", "",
             f"inputs and upstream gradients (drawn with seed {walk.seed})"]
    lines += [f"  {k:<7}= {_vec(v)}" for k, v in walk.inputs.items()]
    lines += [f"  {k:<7}= {_vec(v)}   dL/d{k[1:]}, random" for k, v in walk.upstream.items()]
    return lines


def _parameter_table(walk: Walkthrough) -> list[str]:
    p, cell = walk.params, walk.cell
    gates = "" if cell == "rnn" else f": gate blocks [{'|'.join(GATE_NAMES[cell])}] stacked along the rows"
    g = "" if cell == "rnn" else {"lstm": "4", "gru": "3"}[cell]
    width_ih, width_hh = len(_vec(p["W_ih"][0])), len(_vec(p["W_hh"][0]))
    state = "P" if "W_hr" in p else "H"
    lines = ["", f"parameters (PyTorch's layout{gates})",
             f"      {f'W_ih ({g}H, D)':<{width_ih}}  {f'W_hh ({g}H, {state})':<{width_hh}}  {'b_ih':>9}  {'b_hh':>9}"]
    for label, w_ih, w_hh, b_ih, b_hh in zip(_row_labels(cell, len(p["W_ih"])), p["W_ih"], p["W_hh"], p["b_ih"],
                                             p["b_hh"]):
        lines.append(f"  {label:<4}{_vec(w_ih)}  {_vec(w_hh)}  {b_ih:+9.5f}  {b_hh:+9.5f}")
    if "W_hr" in p:
        lines += [f"  W_hr (P, H) row {r} = {_vec(row)}" for r, row in enumerate(p["W_hr"])]
    return lines


def _line(line: Line) -> str:
    if line.value is None:
        return f"  {line.name:<9}= {line.equation}"
    text = f"  {line.name:<9}= {line.equation:<29} = {_vec(line.value)}"
    return f"{text}  {line.source}" if line.source else text


def _forward_section(walk: Walkthrough) -> list[str]:
    cell = walk.cell
    name, total = {"lstm": ("gates", "gates"), "gru": ("gi, gh", ""), "rnn": ("a", "a")}[cell]
    width = len(_vec(walk.preactivation[0][:, :H]))
    lines = ["", f"forward: {'rnn' if cell == 'rnn' else cell}_cell_forward"]
    if cell == "gru":
        lines.append("  gi = x W_ih^T + b_ih, gh = h_prev W_hh^T + b_hh, each split [r|z|n]")
        heads = ("gi", "gh")
    else:
        split = " split [i|f|g|o]" if cell == "lstm" else ""
        lines.append(f"  {name} = x W_ih^T + b_ih + h_prev W_hh^T + b_hh{',' if split else ''}{split}")
        heads = ("x W_ih^T + b_ih", "h_prev W_hh^T + b_hh", total)
    lines.append("      " + "  ".join(f"{h:<{width}}" for h in heads).rstrip())
    x_part, h_part = walk.preactivation
    for k, gate in enumerate(GATE_NAMES[cell]):
        parts = [x_part[:, k * H : (k + 1) * H], h_part[:, k * H : (k + 1) * H]]
        if len(heads) == 3:
            parts.append(parts[0] + parts[1])
        lines.append(f"  {gate:<4}" + "  ".join(_vec(v) for v in parts))
    return lines + [_line(line) for line in walk.forward]


def _gradient_table(walk: Walkthrough) -> list[str]:
    width = len(_vec(walk.inputs["x"]))
    name = "rnn" if walk.cell == "rnn" else walk.cell
    lines = ["", f"gradients that {name}_cell_backward returns, each next to its central difference",
             f"(L(p + eps) - L(p - eps)) / (2 eps), eps = {EPS:g}, L by {name}_cell_forward",
             f"      {'returned':<{width}}  {'central difference':<{width}}  |error|"]
    for name, (returned, numeric, equation) in walk.grads.items():
        lines.append(f"  d{name:<8}= {equation}")
        returned, numeric = np.atleast_2d(returned), np.atleast_2d(numeric)
        if returned.shape[0] == 1 and returned.shape[1] > H:  # a bias (G*H,): one row per gate block
            returned, numeric = returned.reshape(-1, H), numeric.reshape(-1, H)
            labels = list(GATE_NAMES[walk.cell])
        else:
            labels = _row_labels(walk.cell, returned.shape[0]) if returned.shape[0] > 1 else [""]
        for label, a, n in zip(labels, returned, numeric):
            lines.append(f"  {label:<4}{_vec(a)}  {_vec(n)}  {np.max(np.abs(a - n)):.1e}")
    return lines


def render(walk: Walkthrough) -> str:
    """The whole walkthrough as text for an 80-column terminal."""
    worst = max(float(np.max(np.abs(a - n))) for a, n, _ in walk.grads.values())
    count = sum(a.size for a, _, _ in walk.grads.values())
    lines = _header(walk) + _parameter_table(walk) + _forward_section(walk)
    lines += ["", f"backward: {'rnn' if walk.cell == 'rnn' else walk.cell}_cell_backward, from the upstream "
              f"{' and '.join(walk.upstream)}"]
    lines += [_line(line) for line in walk.backward]
    lines += _gradient_table(walk)
    lines += ["", f"worst |returned - central difference| over all {count} gradient entries: {worst:.1e}"]
    return "\n".join(lines)


def explain_cell(cell: str, seed: int = 0, proj_size: int = 0, nonlinearity: str = "tanh") -> str:
    """One step of ``cell`` ('lstm', 'gru' or 'rnn'), every equation with its numbers, as text."""
    return render(walk_cell(cell, seed, proj_size, nonlinearity))
