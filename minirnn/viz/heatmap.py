"""A terminal attention heatmap: source tokens as columns, output tokens as rows.

Each cell is shaded by its attention weight with the characters `` ░▒▓█``:

========  ===========
shade     weight
========  ===========
(blank)   < 0.10
``░``     0.10 - 0.25
``▒``     0.25 - 0.50
``▓``     0.50 - 0.75
``█``     >= 0.75
========  ===========

The thresholds are absolute because every row is a probability distribution over
the source, so a full block always means "this output word looked mostly here".
"""

from __future__ import annotations

from ..backend import np, to_numpy

SHADES = " ░▒▓█"
THRESHOLDS = (0.10, 0.25, 0.50, 0.75)


def shade(weight: float) -> str:
    """The shade character of one attention weight."""
    level = sum(weight >= t for t in THRESHOLDS)
    return SHADES[level]


def attention_heatmap(weights, source_tokens, output_tokens, show_values: bool = False) -> str:
    """``weights`` (T_out, S) as a shaded grid with token labels; returns the string.

    Row ``t`` is the attention the decoder paid over the source when it produced
    ``output_tokens[t]``. Each row ends with the source token it attended most.
    """
    weights = np.asarray(to_numpy(weights), dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"attention_heatmap expects weights of shape (T_out, S), got {weights.shape}")
    rows, cols = len(output_tokens), len(source_tokens)
    weights = weights[:rows, :cols]
    if weights.shape != (rows, cols):
        raise ValueError(
            f"attention_heatmap got weights {weights.shape} for {rows} output and {cols} source tokens"
        )
    widths = [max(len(t), 4 if show_values else 2) for t in source_tokens]
    label_w = max([len(t) for t in output_tokens] + [6])
    header = " " * label_w + " │ " + " ".join(t.center(w) for t, w in zip(source_tokens, widths))
    lines = [header, "─" * label_w + "─┼─" + "─" * (len(header) - label_w - 3)]
    for r, token in enumerate(output_tokens):
        cells = []
        for c, w in enumerate(widths):
            value = weights[r, c]
            cells.append(f"{value:.2f}".center(w) if show_values else shade(value) * w)
        best = source_tokens[int(np.argmax(weights[r]))] if cols else ""
        lines.append(f"{token.rjust(label_w)} │ {' '.join(cells)}  ← {best}")
    t = THRESHOLDS
    lines.append(f"shades: ' '<{t[0]}  ░<{t[1]}  ▒<{t[2]}  ▓<{t[3]}  █>={t[3]}")
    return "\n".join(lines)
