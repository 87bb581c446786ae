"""PNG pictures through matplotlib (the optional ``plot`` extra), imported lazily.

``save_attention_png`` draws an attention matrix with token labels;
``save_history_png`` draws loss and accuracy curves of a run. Both write a file
and return its path; neither shows a window (the Agg backend is used).
"""

from __future__ import annotations

import os

from ..backend import np, to_numpy


class MissingExtraError(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingExtraError(
            "PNG plots need matplotlib, which is the optional 'plot' extra: pip install 'minirnn[plot]'"
        ) from err
    return plt


def matplotlib_available() -> bool:
    try:
        _pyplot()
    except MissingExtraError:
        return False
    return True


def save_attention_png(path, weights, source_tokens, output_tokens, title: str = "attention") -> str:
    """Attention weights (T_out, S) as a heatmap PNG: source on x, output on y."""
    plt = _pyplot()
    weights = np.asarray(to_numpy(weights), dtype=np.float64)[: len(output_tokens), : len(source_tokens)]
    size = (max(4.0, 0.6 * len(source_tokens) + 2), max(3.0, 0.5 * len(output_tokens) + 1.5))
    fig, ax = plt.subplots(figsize=size)
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), labels=source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(output_tokens)), labels=output_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def save_history_png(path, history: dict, title: str = "training") -> str:
    """Loss (left) and accuracy / exact match (right) per epoch, train and validation."""
    plt = _pyplot()
    epochs = list(history.get("epoch") or range(1, len(history.get("loss", [])) + 1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("loss", "train loss"), ("val_loss", "val loss")):
        if history.get(key):
            left.plot(epochs[: len(history[key])], history[key], marker="o", label=label)
    losses = [v for key in ("loss", "val_loss") for v in history.get(key) or [] if v is not None and v > 0]
    if losses and max(losses) > 30 * min(losses):  # falls by orders of magnitude: a log axis shows the tail
        left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    left.set_title("loss ↓")
    for key, label in (("accuracy", "train accuracy"), ("val_accuracy", "val accuracy"),
                       ("val_exact_match", "val exact match")):
        if history.get(key):
            right.plot(epochs[: len(history[key])], history[key], marker="o", label=label)
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.set_title("accuracy ↑")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def save_confusion_png(path, report, title: str = "confusion matrix") -> str:
    """A classifier's confusion matrix as a PNG: rows true class, columns predicted class.

    Colour is each row's share (the recall of the true class, so a rare class is as
    visible as a common one); the cells carry the counts when there are at most 25
    classes. ``report`` is a ``ClassificationReport`` (its ``confusion`` and ``classes``).
    """
    plt = _pyplot()
    counts = np.asarray(report.confusion, dtype=np.int64)
    names = [str(c) for c in report.classes]
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    side = max(4.0, 0.45 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if len(names) <= 25:
        for i in range(len(names)):
            for j in range(len(names)):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if shares[i, j] > 0.5 else "black")
    ax.set_title(f"{title} (accuracy {report.accuracy:.1%}, macro-F1 {report.macro_f1:.3f})")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)
