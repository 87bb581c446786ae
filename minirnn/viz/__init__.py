"""Traces and pictures: strings for the terminal, PNG files through matplotlib.

Nothing here prints: every function returns a string or writes a file, and the CLI
decides what to show.

* ``epoch_table(history)``, ``ascii_chart(history)``: the training trace (``tables``)
* ``attention_heatmap(weights, source, output)``: shaded terminal grid (``heatmap``)
* ``pipeline_trace(model, src_vocab, tgt_vocab, text)``: the six stages (``trace``)
* ``classification_table(report)``, ``confusion_table(report)``: a classifier's scores (``classification``)
* ``save_attention_png``, ``save_history_png``, ``save_confusion_png``: PNGs through matplotlib (``plots``)
* ``gradflow_table``, ``gradflow_chart``, ``gradflow_summary``, ``save_gradflow_png``: the
  gradient flow through time of ``minirnn.gradflow.compare_gradient_flow`` (``gradflow``)
* ``explain_cell(cell)``: one cell step worked by hand, every equation with its numbers (``explain``)
"""

from .classification import classification_table, confusion_table
from .explain import explain_cell
from .gradflow import gradflow_chart, gradflow_summary, gradflow_table, save_gradflow_png
from .heatmap import attention_heatmap, shade
from .plots import MissingExtraError, matplotlib_available, save_attention_png, save_confusion_png, save_history_png
from .tables import ascii_chart, epoch_table
from .trace import pipeline_trace

__all__ = [
    "MissingExtraError",
    "ascii_chart",
    "attention_heatmap",
    "classification_table",
    "confusion_table",
    "epoch_table",
    "explain_cell",
    "gradflow_chart",
    "gradflow_summary",
    "gradflow_table",
    "matplotlib_available",
    "pipeline_trace",
    "save_attention_png",
    "save_confusion_png",
    "save_gradflow_png",
    "save_history_png",
    "shade",
]
