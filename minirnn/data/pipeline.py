"""Text -> tokens -> vocabulary -> ids in one call, for seq2seq and classification data.

    data = prepare_seq2seq(translation_pairs(2000))
    it = BucketIterator(data.src_ids, targets=data.tgt_ids, batch_size=64)

Pass the vocabularies of the training data (``src_vocab=``, ``tgt_vocab=``,
``classes=``) when preparing validation data, so that ids mean the same thing.
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
