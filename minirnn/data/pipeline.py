"""Text -> tokens -> vocabulary -> ids in one call, for seq2seq and classification data.

    data = prepare_seq2seq(translation_pairs(2000))
    it = BucketIterator(data.src_ids, targets=data.tgt_ids, batch_size=64)

Pass the vocabularies of the training data (``src_vocab=``, ``tgt_vocab=``,
``classes=``) when preparing validation data, so that ids mean the same thing.

Parallel files often hold several references for one source (Tatoeba has ``Go.`` ->
``Va !``, ``Marche.``, ``Bouge !``). :func:`group_references` gathers them, and
:func:`split_by_source` splits by unique source, so that all references of a source
land in one split and no source is both trained on and tested on.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import np
from ..checks import check_number
from .tokenizer import tokenize
from .vocab import Vocab, encode_labels


class Seq2SeqData(NamedTuple):
    src_tokens: list
    tgt_tokens: list
    src_ids: list
    tgt_ids: list
    src_vocab: Vocab
    tgt_vocab: Vocab


class ClassificationData(NamedTuple):
    tokens: list
    ids: list
    labels: object  # (N,) int64
    vocab: Vocab
    classes: list


def _modes(mode):
    return (mode, mode) if isinstance(mode, str) else tuple(mode)


def prepare_seq2seq(
    pairs,
    mode="word",
    lower: bool = True,
    min_freq: int = 1,
    max_size: int | None = None,
    src_vocab: Vocab | None = None,
    tgt_vocab: Vocab | None = None,
) -> Seq2SeqData:
    """Tokenise (source, target) text pairs, build vocabularies (unless given), encode.

    ``mode`` is "word", "char", or a (source mode, target mode) pair. Target ids carry no
    <bos>/<eos>: :class:`BucketIterator` adds them.
    """
    src_mode, tgt_mode = _modes(mode)
    src_tokens = [tokenize(src, lower, src_mode) for src, _ in pairs]
    tgt_tokens = [tokenize(tgt, lower, tgt_mode) for _, tgt in pairs]
    src_vocab = src_vocab or Vocab.build(src_tokens, min_freq, max_size)
    tgt_vocab = tgt_vocab or Vocab.build(tgt_tokens, min_freq, max_size)
    return Seq2SeqData(
        src_tokens,
        tgt_tokens,
        [src_vocab.encode(t) for t in src_tokens],
        [tgt_vocab.encode(t) for t in tgt_tokens],
        src_vocab,
        tgt_vocab,
    )


def prepare_classification(
    examples,
    mode: str = "word",
    lower: bool = True,
    min_freq: int = 1,
    max_size: int | None = None,
    vocab: Vocab | None = None,
    classes=None,
) -> ClassificationData:
    """Tokenise (text, label) examples, build the vocabulary and classes (unless given), encode."""
    tokens = [tokenize(text, lower, mode) for text, _ in examples]
    vocab = vocab or Vocab.build(tokens, min_freq, max_size)
    labels, classes = encode_labels([label for _, label in examples], classes)
    return ClassificationData(tokens, [vocab.encode(t) for t in tokens], labels, vocab, classes)


def train_val_split(items, val_fraction: float = 0.1, seed: int = 0):
    """Shuffle ``items`` with ``seed`` and split them -> (train list, validation list)."""
    items = list(items)
    val_fraction = check_number(val_fraction, "train_val_split", "val_fraction", high=1.0, high_inclusive=False)
    order = np.random.default_rng(seed).permutation(len(items)).tolist()
    n_val = int(round(len(items) * val_fraction))
    return [items[i] for i in order[n_val:]], [items[i] for i in order[:n_val]]


class SourceGroup(NamedTuple):
    """One source sentence and every reference translation the data gives for it."""

    source: str
    references: list


def _source_key(text: str) -> str:
    return " ".join(text.split())


def group_references(pairs, key=None) -> list[SourceGroup]:
    """Gather (source, target) pairs by source, in order of first appearance.

    ``key(source)`` says when two sources are the same (default: equal up to
    whitespace; pass the model's tokenisation to merge what the model cannot tell
    apart). A reference repeated for the same source is kept once.
    """
    key = key or _source_key
    groups: dict = {}
    for source, target in pairs:
        group = groups.setdefault(key(source), SourceGroup(source, []))
        if target not in group.references:
            group.references.append(target)
    return list(groups.values())


def _split_count(size, total: int, what: str) -> int:
    if isinstance(size, float):
        if not 0.0 <= size < 1.0:
            raise ValueError(f"{what} as a fraction must be in [0, 1), got {size}")
        return int(round(size * total))
    if isinstance(size, bool) or int(size) != size or size < 0:
        raise ValueError(f"{what} must be a fraction in [0, 1) or a count >= 0, got {size!r}")
    return int(size)


def split_by_source(pairs, val_size=0.05, test_size=0.05, seed: int = 0, key=None):
    """Split pairs into (train, val, test) pair lists by unique source sentence.

    ``val_size``/``test_size`` count *sources* (a float is a fraction of them, an int
    a number). The sources are shuffled with ``seed``; every pair of a source goes to
    the split its source went to, so no source appears in two splits. Each split
    keeps the file's order of its pairs.
    """
    pairs = list(pairs)
    key = key or _source_key
    sources = list(dict.fromkeys(key(source) for source, _ in pairs))
    n_val = _split_count(val_size, len(sources), "val_size")
    n_test = _split_count(test_size, len(sources), "test_size")
    if n_val + n_test >= len(sources):
        raise ValueError(f"{len(sources)} distinct source sentences are too few for {n_val} validation and "
                         f"{n_test} test sources (training needs at least one)")
    order = np.random.default_rng(seed).permutation(len(sources)).tolist()
    where = {}
    for rank, index in enumerate(order):
        where[sources[index]] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    splits = ([], [], [])
    for pair in pairs:
        splits[where[key(pair[0])]].append(pair)
    return splits
