"""Metrics of the training loop: token accuracy, label accuracy and exact match.

All of them return ``(correct, total)`` counts so that an epoch's value is the
ratio of sums over its batches (a mean over batches would weight short batches
as much as long ones).
"""

from __future__ import annotations

from ..backend import np, to_numpy


def token_counts(logits, targets, pad_id: int | None) -> tuple[int, int]:
    """Argmax predictions equal to the target, over non-pad targets: ``(correct, total)``.

    logits (N, T, V) and targets (N, T), or logits (N, C) and labels (N,) with
    ``pad_id=None`` (every label counts).
    """
    predicted = to_numpy(logits.argmax(axis=-1))
    targets = to_numpy(targets)
    real = np.ones(targets.shape, dtype=bool) if pad_id is None else targets != pad_id
    return int(((predicted == targets) & real).sum()), int(real.sum())


def strip_sequence(row, eos_id: int, pad_id: int = 0) -> tuple[int, ...]:
    """The tokens of one decoded or target row before its first EOS, pads dropped."""
    out = []
    for token in np.asarray(to_numpy(row)).tolist():
        if token == eos_id:
            break
        if token != pad_id:
            out.append(int(token))
    return tuple(out)


def exact_match_counts(decoded, targets, eos_id: int, pad_id: int = 0) -> tuple[int, int]:
    """Rows whose decoded tokens equal the target's exactly (up to EOS): ``(correct, total)``."""
    decoded, targets = to_numpy(decoded), to_numpy(targets)
    correct = sum(
        strip_sequence(d, eos_id, pad_id) == strip_sequence(t, eos_id, pad_id) for d, t in zip(decoded, targets)
    )
    return int(correct), int(len(targets))
