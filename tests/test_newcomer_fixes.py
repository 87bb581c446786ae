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


# --------------------------------------------------------------------------- gradflow texts


def test_gradflow_texts_state_the_init_exactly(capsys):
    from minirnn.cli import main

    assert main(["gradflow", "--steps", "4", "--batch", "1", "--hidden", "4", "--input-size", "2", "--no-png"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the texts are wrapped
    assert "PyTorch's init (bias 0)" not in out and "k = 1 is PyTorch's init)" not in out
    # PyTorch's default draws weights and biases uniformly; k = 1 matches it only without the added gate bias
    assert "PyTorch's default init (every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))" in out
    assert "k = 1 with --gate-bias 0 is exactly PyTorch's default init" in out
    assert "+1 is added to the LSTM forget-gate and GRU update-gate biases" in out
    assert "plus +1 (--gate-bias), near sigma(1) = 0.73" in out


def test_gradflow_scales_error_states_the_range(capsys):
    from minirnn.cli import main

    assert main(["gradflow", "--scales", "1e6", "--no-png"]) == 2
    assert "0 < k < 1e6" in capsys.readouterr().err


# --------------------------------------------------------------------------- wording


def test_char_trace_counts_characters_not_words():
    import minirnn as mr
    from minirnn.data import Vocab
    from minirnn.models import Seq2Seq
    from minirnn.viz import pipeline_trace

    src_vocab, tgt_vocab = Vocab(list("abc")), Vocab(list("xyz"))
    mr.manual_seed(0)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=4, hidden_size=6)
    trace = pipeline_trace(model, src_vocab, tgt_vocab, "abc", max_len=3, mode="char")
    decoding = next(line for line in trace.splitlines() if line.startswith("[6]"))
    assert " characters " in decoding and " words " not in decoding
    words = pipeline_trace(model, src_vocab, tgt_vocab, "a b", max_len=3)
    assert " words " in next(line for line in words.splitlines() if line.startswith("[6]"))


def test_label_column_messages_do_not_repeat_words(tmp_path, capsys):
    from minirnn.cli import main

    fra = tmp_path / "fra.txt"
    fra.write_text("".join(f"Go {i}.\tVa {i} !\tCC-BY 2.0 (France) #{i}\n" for i in range(40)), encoding="utf-8")
    assert main(["train", "classify", "--data", str(fra), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "column column" not in err and "0 column 0" not in err
    assert "column 2, taken as the label column, has 40 distinct values" in err and "the columns are 0, 1, 2" in err

    cased = tmp_path / "cased.csv"
    rows = [f"review number {i} was fine,{['Positive', 'positive', 'negative', 'neutral'][i % 4]}" for i in range(40)]
    cased.write_text("review,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    records = load_labeled_text(cased)
    assert "'label' is not one of the 4 labels below it" in records.layout.header_reason
