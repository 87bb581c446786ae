"""Traces and pictures: the strings hold what a reader needs; PNGs are written."""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr
from minirnn.data import Vocab
from minirnn.models import Seq2Seq
from minirnn.viz import (
    ascii_chart,
    attention_heatmap,
    epoch_table,
    matplotlib_available,
    pipeline_trace,
    save_attention_png,
    save_history_png,
    shade,
)

HISTORY = {
    "epoch": [1, 2, 3, 4, 5],
    "loss": [2.3, 1.8, 1.4, 1.1, 0.9],
    "accuracy": [0.30, 0.45, 0.58, 0.68, 0.75],
    "val_loss": [2.0, 1.7, 1.5, 1.6, 1.2],
    "val_accuracy": [0.3, 0.4, 0.5, 0.5, 0.7],
    "val_exact_match": [0.0, 0.1, 0.2, 0.1, 0.6],
}


def test_epoch_table_has_the_seed_columns_and_values():
    table = epoch_table(HISTORY)
    header = table.splitlines()[0]
    for column in ("Epoch", "Loss ↓", "Accuracy ↑", "Val loss ↓", "Val acc ↑", "Val exact ↑", "Observation"):
        assert column in header
    assert len(table.splitlines()) == 2 + 5
    assert "2.3000" in table and "0.750" in table and "starts learning" in table
    assert "best val so far" in table.splitlines()[-1]
    assert "Val" not in epoch_table({"loss": [1.0, 0.5]})  # only the columns that exist


def test_ascii_chart_axes_and_bars():
    chart = ascii_chart(HISTORY, height=6)
    lines = chart.splitlines()
    assert lines[0].startswith("Loss") and "* train" in lines[0]
    assert lines[1].startswith("2.30 |") and lines[1][6] in "*@"  # the top row's label, the first epoch's bar
    assert lines[-2].strip().startswith("+--")  # the x axis
    assert lines[-1].split() == ["1", "2", "3", "4", "5", "epoch"]
    bars = [line.split("|")[1] for line in lines[1:7]]
    assert bars[-1].count("*") + bars[-1].count("@") == 5  # every epoch reaches the bottom row
    assert "o" in chart or "@" in chart  # the validation loss is marked
    log_chart = ascii_chart({"loss": [1.0, 0.1, 0.01, 0.001]}, other=None)
    assert "log scale" in log_chart and "0.001" in log_chart
    assert "no data" in ascii_chart({})


def test_attention_heatmap_shades_and_labels():
    weights = np.array([[0.9, 0.05, 0.05], [0.0, 0.3, 0.7], [0.2, 0.6, 0.2]])
    grid = attention_heatmap(weights, ["i", "am", "happy"], ["je", "suis", "content"])
    lines = grid.splitlines()
    assert lines[0].split() == ["│", "i", "am", "happy"]
    assert "je" in lines[2] and "█" in lines[2] and lines[2].endswith("← i")
    assert lines[3].endswith("← happy") and "▓" in lines[3] and "▒" in lines[3]
    assert [shade(w) for w in (0.0, 0.1, 0.3, 0.6, 0.9)] == [" ", "░", "▒", "▓", "█"]
    assert "0.70" in attention_heatmap(weights, ["i", "am", "happy"], ["je", "suis", "content"], show_values=True)
    with pytest.raises(ValueError, match="output and .* source tokens"):
        attention_heatmap(weights[:, :2], ["i", "am", "happy"], ["je", "suis", "content"])


def test_pipeline_trace_shows_the_six_stages():
    src_vocab = Vocab(["i", "am", "happy"])
    tgt_vocab = Vocab(["je", "suis", "content"])
    mr.manual_seed(0)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=4, hidden_size=6)
    trace = pipeline_trace(model, src_vocab, tgt_vocab, "I am happy", max_len=3, top_k=2)
    for stage in ("[1] Input data", "[2] Tokenize + encode", "[3] Pad", "[4] Encoder", "[5] Decoder",
                  "[6] Output decoding"):
        assert stage in trace
    assert '"I am happy"' in trace
    assert '["i", "am", "happy"] -> [4, 5, 6]' in trace
    assert "[4, 5, 6] -> [4, 5, 6, 0, 0, 0]" in trace
    assert "outputs (1, 6, 6)" in trace and "step  1  in <bos>" in trace and "attn ->" in trace
    assert model.training  # the trace restores the mode it found
    unknown = pipeline_trace(model, src_vocab, tgt_vocab, "i am sad", max_len=1)
    assert "mapped to <unk>=1): sad" in unknown


@pytest.mark.skipif(not matplotlib_available(), reason="matplotlib (the plot extra) is not installed")
def test_pngs_are_written(tmp_path):
    path = save_history_png(tmp_path / "loss.png", HISTORY)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    path = save_attention_png(tmp_path / "sub" / "attn.png", np.eye(3), ["a", "b", "c"], ["x", "y", "z"])
    assert open(path, "rb").read(4) == b"\x89PNG"
