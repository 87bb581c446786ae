"""Regression tests for problems a newcomer reported: CSV quoting recovery, chart rows, texts."""

import math

import pytest

from minirnn.data import DataFormatError, load_labeled_text


def _reviews(tmp_path, bad_line: str, at_end: bool):
    good = [f"review number {i} was fine,{'positive' if i % 2 else 'negative'}" for i in range(20)]
    lines = ["text,label"] + (good + [bad_line] if at_end else good[:10] + [bad_line] + good[10:])
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines.index(bad_line) + 1


@pytest.mark.parametrize("bad_line, at_end", [
    ('"unterminated quote, oops,positive', True),
    ('"a quoted "" field with stray "quote" inside,positive', False),
    ('"unterminated quote, oops,positive', False),
])
def test_csv_bad_quoting_skips_one_line(tmp_path, bad_line, at_end):
    path, number = _reviews(tmp_path, bad_line, at_end)
    rows = load_labeled_text(path, errors="skip")
    assert len(rows) == 20  # every good row is read, before and after the bad one
    assert [b.line_number for b in rows.bad_lines] == [number]
    assert "quot" in rows.bad_lines[0].reason and '""' in rows.bad_lines[0].reason
    with pytest.raises(DataFormatError, match=f"line {number}: malformed CSV quoting"):
        load_labeled_text(path)


# --------------------------------------------------------------------------- ascii_chart rows


def _chart_rows(chart: str):
    """(label, cells) per y-axis row of an ascii_chart, the cells two characters per epoch."""
    rows = []
    for line in chart.splitlines()[1:]:
        label, sep, cells = line.partition(" |")
        if sep:
            rows.append((float(label), cells))
    return rows


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_ascii_chart_marks_land_on_the_nearest_label(scale):
    from minirnn.viz import ascii_chart

    # the `train dates --quick` case: val 4.06 went beside 4.63 though a 4.05 row existed
    history = {"loss": [5.2, 4.7, 4.1, 3.6, 3.2, 3.0, 2.2, 1.9],
               "val_loss": [4.9, 4.06, 3.7, 3.4, 3.03, 2.9, 2.5, 2.6]}
    rows = _chart_rows(ascii_chart(history, height=8, scale=scale))
    labels = [label for label, _ in rows]

    def distance(label, value):
        return abs(math.log10(label) - math.log10(value)) if scale == "log" else abs(label - value)

    def nearest(value):
        return min(labels, key=lambda label: distance(label, value))

    for epoch, (train, val) in enumerate(zip(history["loss"], history["val_loss"])):
        column = [cells[2 * epoch] if len(cells) > 2 * epoch else " " for _, cells in rows]
        val_rows = [r for r, c in enumerate(column) if c in "o@"]
        assert len(val_rows) == 1
        # the printed labels are rounded: compare distances, within the rounding of the label text
        assert distance(labels[val_rows[0]], val) <= distance(nearest(val), val) + 0.006, (epoch, val, labels)
        bar_top = min(r for r, c in enumerate(column) if c in "*@")
        assert distance(labels[bar_top], train) <= distance(nearest(train), train) + 0.006, (epoch, train, labels)
