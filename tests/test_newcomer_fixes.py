"""Regression tests for problems a newcomer reported: CSV quoting recovery, chart rows, texts."""

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
