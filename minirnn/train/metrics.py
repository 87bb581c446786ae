"""Metrics: token accuracy, label accuracy and exact match for the training loop, and
corpus BLEU/chrF (through sacrebleu) for translations scored against every reference.

The training-loop metrics return ``(correct, total)`` counts so that an epoch's value
is the ratio of sums over its batches (a mean over batches would weight short batches
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


# --------------------------------------------------------------------------- translation quality


def normalize_text(text: str, lower: bool = False) -> str:
    """Text as exact match compares it: Unicode NFKC (a no-break space is a space), the
    word tokens joined by single spaces (``Va !`` and ``Va!`` are equal), optionally lower case."""
    import unicodedata

    from ..data import tokenize

    return " ".join(tokenize(unicodedata.normalize("NFKC", text), lower=lower))


def _reference_streams(references) -> list[list]:
    """Per-source reference lists -> sacrebleu's streams (stream r holds every source's r-th
    reference, None where a source has fewer)."""
    width = max((len(refs) for refs in references), default=0)
    return [[refs[r] if r < len(refs) else None for refs in references] for r in range(width)]


def translation_scores(hypotheses, references, lower: bool = False) -> dict:
    """Corpus BLEU, chrF and exact match of ``hypotheses`` against all ``references`` of each.

    ``hypotheses`` is one string per source; ``references`` one non-empty list of
    reference strings per source. BLEU and chrF are sacrebleu's ``corpus_bleu`` and
    ``corpus_chrf`` (13a tokenisation, cased unless ``lower``; 0-100), computed
    against every reference of a source at once. ``exact_match`` (0-1) is the share
    of hypotheses equal to *any* of their references after :func:`normalize_text`.
    Returns ``{"bleu", "chrf", "exact_match", "sentences"}``.
    """
    from sacrebleu.metrics import BLEU, CHRF

    hypotheses, references = list(hypotheses), [list(r) for r in references]
    if len(hypotheses) != len(references):
        raise ValueError(f"translation_scores: {len(hypotheses)} hypotheses but {len(references)} reference lists")
    if any(not refs for refs in references):
        raise ValueError("translation_scores: every source needs at least one reference")
    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0, "sentences": 0}
    streams = _reference_streams(references)
    bleu = BLEU(lowercase=lower).corpus_score(hypotheses, streams).score
    chrf = CHRF(lowercase=lower).corpus_score(hypotheses, streams).score
    exact = sum(normalize_text(h, lower) in {normalize_text(r, lower) for r in refs}
                for h, refs in zip(hypotheses, references))
    return {"bleu": float(bleu), "chrf": float(chrf), "exact_match": exact / len(hypotheses),
            "sentences": len(hypotheses)}
