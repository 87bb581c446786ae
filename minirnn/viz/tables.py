"""The epoch table and the ASCII loss chart, as strings (nothing here prints).

``history`` is the dict of per-epoch lists that ``minirnn.train.fit`` returns::

    {"epoch": [1, 2, ...], "loss": [...], "accuracy": [...],
     "val_loss": [...], "val_accuracy": [...], "val_exact_match": [...], "time": [...]}

Any subset of these keys works; missing columns are left out.
"""

from __future__ import annotations

import math

# (history key, column header, format); arrows say which way is better, as in the seed.
COLUMNS = (
    ("loss", "Loss ↓", "{:.4f}"),
    ("accuracy", "Accuracy ↑", "{:.3f}"),
    ("val_loss", "Val loss ↓", "{:.4f}"),
    ("val_accuracy", "Val acc ↑", "{:.3f}"),
    ("val_exact_match", "Val exact ↑", "{:.3f}"),
    ("lr", "LR", "{:.2e}"),
    ("time", "Time s", "{:.1f}"),
)


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _observations(history: dict, monitor: str | None = None) -> list[str]:
    """A short note per epoch, in the spirit of the seed's "Observation" column.

    "best val so far" follows ``monitor`` (the value fit selected on: minimised when it
    ends in "loss"), by default val exact match or val accuracy.
    """
    losses = history.get("loss", [])
    watch_key = monitor if monitor and history.get(monitor) else next(
        (k for k in ("val_exact_match", "val_accuracy") if history.get(k)), None)
    sign = -1.0 if watch_key and watch_key.endswith("loss") else 1.0  # compare -loss: lower is better
    watched = [None if v is None else sign * v for v in history.get(watch_key, [])] if watch_key else []
    notes, best = [], -math.inf
    for i in range(len(history.get("epoch", losses))):
        parts = []
        if i == 0:
            parts.append("starts learning")
        elif i < len(losses) and losses[i] is not None and losses[i - 1] is not None:
            change = losses[i] - losses[i - 1]
            if change > 0:
                parts.append("loss went up")
            elif losses[i - 1] and -change / abs(losses[i - 1]) < 0.01:
                parts.append("loss flat")
            else:
                parts.append("loss down")
        if i < len(watched) and watched[i] is not None:
            if watched[i] > best:
                best = watched[i]
                if i > 0:
                    parts.append("best val so far")
        notes.append(", ".join(parts))
    return notes


def _columns(history: dict) -> list:
    """COLUMNS present in ``history``, with any other ``val_*`` key (fit's ``val_metrics``: val_bleu) before LR."""
    known = [(k, h, f) for k, h, f in COLUMNS if history.get(k)]
    named = {k for k, _, _ in COLUMNS}
    extra = [(k, f"Val {k[4:].replace('_', ' ')} {'↓' if k.endswith('loss') else '↑'}", "{:.3f}")
             for k in history if k.startswith("val_") and k not in named and history.get(k)]
    split = next((i for i, (k, _, _) in enumerate(known) if k in ("lr", "time")), len(known))
    return known[:split] + extra + known[split:]


def epoch_table(history: dict, observations: bool = True, monitor: str | None = None) -> str:
    """The per-epoch table: Epoch | Loss ↓ | Accuracy ↑ | val columns | Observation.

    ``monitor``: the record key the run selected on, which "best val so far" follows.
    """
    epochs = list(history.get("epoch") or range(1, len(history.get("loss", [])) + 1))
    columns = _columns(history)
    header = ["Epoch"] + [h for _, h, _ in columns]
    rows = []
    notes = _observations(history, monitor) if observations else []
    for i, epoch in enumerate(epochs):
        row = [str(epoch)]
        for key, _, fmt in columns:
            values = history[key]
            value = values[i] if i < len(values) else None
            row.append("-" if value is None else fmt.format(value))
        rows.append(row)
    if observations:
        header.append("Observation")
        for row, note in zip(rows, notes):
            row.append(note)
    widths = [max(len(header[c]), *(len(r[c]) for r in rows)) if rows else len(header[c]) for c in range(len(header))]

    def line(cells):
        out = [cells[0].rjust(widths[0])]
        for c in range(1, len(cells)):
            last = observations and c == len(cells) - 1
            out.append(cells[c].ljust(widths[c]) if last else cells[c].rjust(widths[c]))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def _fmt_level(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 1000:
        return f"{value:.2f}"
    return f"{value:.1e}"


def ascii_chart(history: dict, key: str = "loss", other: str | None = "val_loss", height: int = 8,
                title: str | None = None, max_width: int = 60, scale: str = "auto") -> str:
    """A terminal bar chart of ``history[key]`` per epoch (``*`` bars), ``other`` as ``o`` marks.

    Rows are levels of the value (labelled on the y axis), columns are epochs (x axis),
    so the bars shrink from left to right as the loss falls::

        Loss (* train, o val)
        2.30 |*
        1.84 |* *
        ...
             +----------
              1 2 3 4 5  epoch

    ``scale``: "linear" (levels evenly spaced from 0 to the maximum), "log" (evenly
    spaced in log10, for losses that fall by orders of magnitude), or "auto": log when
    the largest value is more than 30 times the smallest. With more epochs than
    ``max_width`` columns, epochs are sampled evenly.
    """
    values = _as_floats(history.get(key, []))
    if not values:
        return f"{title or key}: no data"
    second = _as_floats(history.get(other, [])) if other else []
    epochs = list(history.get("epoch") or range(1, len(values) + 1))
    picks = list(range(len(values)))
    if len(picks) > max_width:
        picks = sorted({round(i * (len(values) - 1) / (max_width - 1)) for i in range(max_width)})
    finite = _finite([values[i] for i in picks] + [second[i] for i in picks if i < len(second)])
    if not finite:
        return f"{title or key}: no finite values"
    axis = _ChartAxis(finite, height, scale)
    col = 2 if len(picks) <= 30 else 1  # column width per epoch
    label_w = max(len(axis.fmt(v)) for v in axis.labels)
    legend = "* " + ("train" if key == "loss" else key) + (", o val" if second else "")
    name = (title or key.replace("_", " ").capitalize()) + (", log scale" if axis.log else "")
    lines = [f"{name} ({legend}{', @ both' if second else ''})"]
    for row in range(height):
        cells = [_mark(axis, row, values[i], second[i] if i < len(second) else math.nan).ljust(col) for i in picks]
        lines.append(f"{axis.fmt(axis.labels[row]).rjust(label_w)} |{''.join(cells).rstrip()}")
    lines.append(" " * label_w + " +" + "-" * (col * len(picks)))
    lines.append(" " * (label_w + 2) + _epoch_labels([epochs[i] for i in picks], col) + "  epoch")
    return "\n".join(lines)


def _as_floats(values) -> list[float]:
    return [float(v) if v is not None else math.nan for v in values]


class _ChartAxis:
    """The y axis of ``ascii_chart``: ``height`` levels from the top value down, linear or log10.

    ``levels[r]`` is row r's level in axis units (log10 of the value on a log scale),
    ``labels[r]`` the value printed for it, ``step`` the gap between two levels.
    """

    def __init__(self, finite: list, height: int, scale: str):
        positive = [v for v in finite if v > 0]
        if scale == "auto":
            scale = "log" if len(positive) == len(finite) and max(positive) > 30 * min(positive) else "linear"
        self.log = scale == "log"
        if self.log:
            if len(positive) != len(finite):
                raise ValueError("ascii_chart: a log scale needs positive values")
            top, bottom = math.log10(max(positive)), math.log10(min(positive))
            self.step = ((top - bottom) or 1.0) / (height - 1)  # the last row is the minimum
        else:
            top, bottom = max(finite), min(0.0, min(finite))
            self.step = ((top - bottom) or 1.0) / height
        self.levels = [top - r * self.step for r in range(height)]
        self.labels = [10**level for level in self.levels] if self.log else self.levels

    def level_of(self, value: float) -> float:
        if not self.log:
            return value
        return math.log10(value) if value > 0 else -math.inf

    def row_of(self, value: float) -> int:
        """The row whose level is nearest ``value`` (values beyond the axis go to its end rows).

        Labels are the rows' own levels, so a value is drawn beside the label closest to it.
        """
        offset = (self.levels[0] - self.level_of(value)) / self.step
        if not math.isfinite(offset):
            return len(self.levels) - 1
        return min(max(math.floor(offset + 0.5), 0), len(self.levels) - 1)

    def fmt(self, value: float) -> str:
        return f"{value:.3g}" if self.log else _fmt_level(value)


def _mark(axis: _ChartAxis, row: int, value: float, other: float) -> str:
    """Row ``row``'s mark for one epoch: ``*`` bar of ``value``, ``o`` on the row nearest ``other``, ``@`` both."""
    mark = "*" if math.isfinite(value) and axis.row_of(value) <= row else " "
    if math.isfinite(other) and axis.row_of(other) == row:
        mark = "o" if mark == " " else "@"
    return mark


def _epoch_labels(epochs: list, col: int) -> str:
    """The x axis labels: as many epoch numbers as fit without overlapping, ``col`` characters per epoch."""
    axis = [" "] * (col * len(epochs) + 4)
    next_free = 0
    for c, epoch in enumerate(epochs):
        text, pos = str(epoch), c * col
        if pos >= next_free and pos + len(text) <= len(axis):
            axis[pos : pos + len(text)] = list(text)
            next_free = pos + len(text) + 1
    return "".join(axis).rstrip()
