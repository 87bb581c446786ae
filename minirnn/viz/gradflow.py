"""The gradient flow through time as a table, a log-scale ASCII chart, a summary and a PNG.

Every function takes the ``FlowRun`` list that ``minirnn.gradflow.compare_gradient_flow``
returns (one run per weight scale and cell) and returns a string or writes a file;
nothing here prints. Every number in the summary is read from the runs.
"""

from __future__ import annotations

import math
import os
import textwrap

from ..backend import np
from .plots import _pyplot

SHORT = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "gru": "GRU", "lstm": "LSTM"}
MARKS = {"rnn_tanh": "R", "rnn_relu": "R", "gru": "G", "lstm": "L"}
VANISHES, EXPLODES = 1e-3, 1e3  # what the summary calls vanishing and exploding over the run


def _scales(runs) -> list[float]:
    return list(dict.fromkeys(run.scale for run in runs))


# A gradient may leave float64's range: underflow rounds it to exactly 0, overflow
# makes it inf (and inf * 0 then NaN). Every number below is written as what it is.


def _number(value: float) -> str:
    """A ratio of norms as text: 1.2e-05, or 0, inf, NaN as they are."""
    if math.isfinite(value) and value != 0:
        return f"{value:.1e}"
    return "0" if value == 0 else ("NaN" if math.isnan(value) else "inf")


def _per_step(run, table: bool = False) -> str:
    """The measured factor of one step back: '0.548', or (none measured) '-' in a table, '' in a sentence."""
    if math.isnan(run.per_step):
        return "-" if table else ""
    return f"{run.per_step:.3f}" if table else f", {run.per_step:.3f} per step"


def _lost(run) -> str:
    """Where float64 lost the gradient, as a clause; '' when it held all the way back to t = 0."""
    first = run.measured_from
    if first == 0:
        return ""
    steps, t = len(run.flow.norms), first - 1
    if t == steps - 1:
        return f"||dL/dh_{t}|| is {_number(run.flow.norms[t])}: nothing flows back"
    norm = run.flow.norms[t]
    if norm == 0:
        return f"it underflowed to exactly 0 at t = {t}"
    return f"it overflowed to {_number(norm)} at t = {t}"


def _verdict(run) -> str:
    """What happened to the gradient over the run: vanishes, explodes or holds."""
    ratio = run.ratio
    if run.measured_from == len(run.flow.norms):
        return "has nothing to carry"
    if ratio < VANISHES:  # 0 included
        return "vanishes"
    if not ratio <= EXPLODES:  # inf, and NaN (an overflow that met a 0), included
        return "explodes"
    return "holds within 1000x"


def _log10(norms):
    """log10 of each norm; NaN where there is nothing to draw (0, inf, NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.asarray(norms, dtype=np.float64))
    return np.where(np.isfinite(logs), logs, np.nan)


def _power_label(log_value: float) -> str:
    """10 ** log_value as '3e-05', from the exponent (10 ** 308.25 would overflow a float)."""
    exponent = math.floor(log_value)
    mantissa = round(10 ** (log_value - exponent))
    if mantissa == 10:
        mantissa, exponent = 1, exponent + 1
    return f"{mantissa}e{exponent:+03d}"


def _shown_steps(steps: int, columns: int = 6) -> list[int]:
    """Evenly spaced time steps from T-1 down to 0 (at most ``columns`` of them)."""
    return list(dict.fromkeys(round((steps - 1) * j / (columns - 1)) for j in range(columns - 1, -1, -1)))


def gradflow_table(runs) -> str:
    """||dL/dh_t|| at a few steps t, one row per (scale, cell), and the measured factor per step."""
    steps = len(runs[0].flow.norms)
    shown = _shown_steps(steps)
    header = ["scale", "cell"] + [f"t={t}" for t in shown] + ["per step"]
    rows = []
    for run in runs:
        norms = run.flow.norms
        rows.append([f"{run.scale:g}", SHORT[run.cell]] + [f"{norms[t]:.1e}" for t in shown]
                    + [_per_step(run, table=True)])
    widths = [max(len(row[c]) for row in rows + [header]) for c in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if c != 1 else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(run.measured_from for run in runs):
        lines.append("(0: underflowed, rounded to exactly 0 in float64; inf, nan: overflowed;")
        lines.append(" per step: the mean over the steps float64 held)")
    return "\n".join(lines)


def gradflow_chart(runs, scale: float, height: int = 12, max_width: int = 60) -> str:
    """||dL/dh_t|| against t for every cell at one weight scale, on a log10 axis.

    Each cell draws its own letter (R RNN, G GRU, L LSTM); ``*`` marks a spot two
    cells share. Time runs left to right, so a vanishing gradient falls towards
    the left (early steps) and an exploding one rises there.
    """
    picked = [run for run in runs if run.scale == scale]
    if not picked:
        raise ValueError(f"gradflow_chart: no run at scale {scale}; scales are {_scales(runs)}")
    steps = len(picked[0].flow.norms)
    columns = list(range(steps)) if steps <= max_width else \
        sorted({round(i * (steps - 1) / (max_width - 1)) for i in range(max_width)})
    logs = {run.cell: _log10(run.flow.norms) for run in picked}  # NaN: 0, inf or NaN, not drawn
    drawn = np.concatenate([v[columns] for v in logs.values()])
    drawn = drawn[np.isfinite(drawn)]
    top, bottom = (float(drawn.max()), float(drawn.min())) if drawn.size else (0.0, 0.0)
    step = ((top - bottom) or 1.0) / (height - 1)
    grid = [[" "] * len(columns) for _ in range(height)]
    for cell, values in logs.items():
        for c, t in enumerate(columns):
            if np.isfinite(values[t]):
                r = int(round((top - values[t]) / step))
                grid[r][c] = MARKS[cell] if grid[r][c] in (" ", MARKS[cell]) else "*"
    labels = [_power_label(top - r * step) if r % 2 == 0 or r == height - 1 else "" for r in range(height)]
    width = max(len(label) for label in labels)
    legend = "  ".join(f"{MARKS[run.cell]} {SHORT[run.cell]}" for run in picked)
    lines = [f"||dL/dh_t||, log scale, weight scale {scale:g}   ({legend}, * overlap)"]
    lines += [f"{label.rjust(width)} |{''.join(row).rstrip()}" for label, row in zip(labels, grid)]
    lines.append(" " * width + " +" + "-" * len(columns))
    axis = [" "] * (len(columns) + 8)
    for c, t in ((0, columns[0]), (len(columns) // 2, columns[len(columns) // 2]), (len(columns) - 1, columns[-1])):
        text = str(t)
        start = min(c, len(axis) - len(text))
        axis[start : start + len(text)] = list(text)
    lines.append(" " * (width + 2) + "".join(axis).rstrip() + "  t")
    lines += [f"{SHORT[run.cell]}: {_lost(run)} (0, inf and NaN are not drawn)" for run in picked
              if run.measured_from]
    return "\n".join(lines)


def _rnn_lines(runs, steps) -> list[str]:
    lines = [f"Elman RNN: one step back is g_(t-1) = g_t diag(1 - h_t^2) W_hh, so dL/dh_0 is a product of "
             f"{steps - 1} such matrices:"]
    for run in runs:
        lost = f" ({_lost(run)})" if run.measured_from else ""
        lines.append(
            f"- scale {run.scale:g}: the gradient {_verdict(run)}: ||dL/dh_0|| = {_number(run.ratio)} x "
            f"||dL/dh_{steps - 1}||{lost}{_per_step(run)}; W_hh's spectral radius is {run.radius:.2f} "
            f"and tanh passes 1 - h^2 = {run.flow.step_factor.mean():.2f} on average."
        )
    return lines


def _gated_run_line(run, gate: str, steps: int) -> str:
    norms, first = run.flow.norms, run.measured_from
    line = (f"- scale {run.scale:g}: mean {gate} = {run.flow.step_factor.mean():.2f}{_per_step(run)}; "
            f"||dL/dh_0|| = {_number(run.ratio)} x ||dL/dh_{steps - 1}|| ({_verdict(run)})")
    if first:
        line += f"; {_lost(run)}"
    overflowed = first > 0 and not norms[first - 1] == 0  # float64 lost it to inf or NaN, not to 0
    if first < steps and not overflowed:  # the largest norm is a number
        peak = norms[first:].max() / norms[-1]
        line += f"; no ||dL/dh_t|| exceeds {f'{peak:.1f}' if peak < 1e3 else _number(peak)} x ||dL/dh_{steps - 1}||"
    return line + "."


def _gated_lines(runs, steps, gate_bias) -> list[str]:
    lines = []
    if any(run.cell == "lstm" for run in runs):
        lines.append("LSTM: the cell state adds, c_t = f_t * c_(t-1) + i_t * g_t, so the c path goes back as "
                     "dc_(t-1) = dc_t * f_t + ...: the forget gate alone, no weight matrix, no tanh slope:")
        lines += [_gated_run_line(run, "f", steps) for run in runs if run.cell == "lstm"]
    if any(run.cell == "gru" for run in runs):
        lines.append("GRU: h_t = (1 - z_t) * n_t + z_t * h_(t-1), so g_(t-1) = g_t * z_t + ...: the same "
                     "shortcut, gated by z:")
        lines += [_gated_run_line(run, "z", steps) for run in runs if run.cell == "gru"]
    if len(lines):
        lines.append(_gate_bias_line(gate_bias))
    return lines


PYTORCH_INIT = "PyTorch's default init (every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), nothing added)"


def _gate_bias_line(gate_bias: float) -> str:
    """What the keep gates (LSTM f, GRU z) start at here, against PyTorch's default init."""
    if gate_bias == 0:
        start = ("start here with their biases drawn like the others (nothing added, --gate-bias 0), "
                 "so near sigma(0) = 0.5, as under " + PYTORCH_INIT)
    else:
        start = (f"start here with their drawn bias plus {gate_bias:+g} (--gate-bias), near sigma({gate_bias:g}) "
                 f"= {1 / (1 + math.exp(-gate_bias)):.2f}; under " + PYTORCH_INIT + " they start near sigma(0) = 0.5")
    return (f"The gates that keep the old state (LSTM f, GRU z) {start}; at 0.5 their path shrinks the gradient "
            "like 0.5^t. Training can push them towards 1.")


def init_description(scales, gate_bias: float, width: int = 79) -> str:
    """How the compared layers were initialised, and how PyTorch's default differs, wrapped to ``width``."""
    ks = ", ".join(f"{k:g}" for k in scales)
    added = (f"; then {gate_bias:+g} is added to the LSTM forget-gate and GRU update-gate biases (--gate-bias)"
             if gate_bias else "")
    return "\n".join(textwrap.fill(text, width) for text in (
        f"weight scales k = {ks}: every weight and bias ~ U(-k/sqrt(H), k/sqrt(H)){added}.",
        f"k = 1 with --gate-bias 0 is exactly {PYTORCH_INIT}."))


def _comparison_lines(runs) -> list[str]:
    """Per scale where the RNN's gradient vanishes: how much more of it each gated cell keeps at t = 0."""
    lines = []
    for scale in _scales(runs):
        here = [run for run in runs if run.scale == scale]
        rnn = next((run for run in here if run.cell.startswith("rnn")), None)
        gated = [run for run in here if not run.cell.startswith("rnn")]
        if rnn is None or not gated or _verdict(rnn) != "vanishes":
            continue  # the comparison tells something only where the RNN's gradient vanished
        if rnn.ratio == 0:  # no multiple of 0: say what each gated cell kept instead
            last = f"||dL/dh_{len(rnn.flow.norms) - 1}||"
            parts = ", ".join(f"the {SHORT[run.cell]} {_number(run.ratio)} x" for run in gated)
            lines.append(f"At scale {scale:g}, at t = 0: the RNN's gradient is exactly 0; {parts} its {last}.")
            continue
        parts = ", ".join(f"the {SHORT[run.cell]} {_number(run.ratio / rnn.ratio)} x" for run in gated)
        lines.append(f"At scale {scale:g}, at t = 0: {parts} the RNN's ||dL/dh_0||.")
    return lines


def gradflow_summary(runs, gate_bias: float = 0.0, width: int = 79) -> str:
    """What the chart shows and why, wrapped to ``width`` columns; every number is read from ``runs``."""
    steps = len(runs[0].flow.norms)
    rnn = [run for run in runs if run.cell.startswith("rnn")]
    paragraphs = (_rnn_lines(rnn, steps) if rnn else []) + _gated_lines(runs, steps, gate_bias)
    paragraphs += _comparison_lines(runs)
    return "\n".join(textwrap.fill(p, width, subsequent_indent="  " if p.startswith("- ") else "")
                     for p in paragraphs)


def save_gradflow_png(path, runs, title: str = "gradient flow through time") -> str:
    """One panel per weight scale: ||dL/dh_t|| against t for every cell, log y axis."""
    plt = _pyplot()
    scales = _scales(runs)
    fig, axes = plt.subplots(1, len(scales), figsize=(5.5 * len(scales), 4.2), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        for run in (r for r in runs if r.scale == scale):
            norms = run.flow.norms  # 0, inf and NaN have no place on a log axis: left out, said in the label
            shown = np.where(np.isfinite(_log10(norms)), norms, np.nan)
            lost = f", lost at t = {run.measured_from - 1}" if run.measured_from else ""
            ax.semilogy(np.arange(len(norms)), shown, label=f"{SHORT[run.cell]} ({_number(run.ratio)}{lost})")
        rnn = next((r for r in runs if r.scale == scale and r.cell.startswith("rnn")), None)
        ax.set_title(f"weight scale {scale:g}" + (f": the RNN's gradient {_verdict(rnn)}" if rnn else ""))
        ax.set_xlabel("time step t")
        ax.set_ylabel("||dL/dh_t||")
        ax.grid(alpha=0.3, which="both")
        ax.legend(title="cell (||g_0|| / ||g_T-1||)", fontsize=8)
    steps = len(runs[0].flow.norms)
    fig.suptitle(f"{title}: L = sum(h_n * dh_n), T = {steps}, gradient taken back from t = {steps - 1}")
    try:
        # A log axis over norms near float64's top (1e300) places ticks past it: NumPy warns, matplotlib copes.
        with np.errstate(over="ignore"):
            fig.tight_layout()
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return os.fspath(path)

