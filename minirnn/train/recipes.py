"""From raw text pairs or labelled texts to vocabularies and batch iterators, in one call.

The CLI, the examples and the demo all prepare data the same way:

1. shuffle the examples with ``seed`` and split off a validation set (for early
   stopping and ``best.npz``) and a held-out test set (never seen in training or
   model selection; the demo reports exact match on it),
2. tokenise (word or character mode) and build the vocabularies on the training
   split only, so unseen words in val/test become ``<unk>`` as they would for a user,
3. wrap each split in a ``minirnn.data.BucketIterator`` (length-bucketed, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import np


@dataclass
class Seq2SeqData:
    """Vocabularies, batch iterators and the raw pairs of each split."""

    src_vocab: object
    tgt_vocab: object
    train: object
    val: object
    test: object
    train_pairs: list
    val_pairs: list
    test_pairs: list
    mode: str = "word"
    lower: bool = True

    @property
    def vocabs(self) -> dict:
        return {"src": self.src_vocab, "tgt": self.tgt_vocab}


@dataclass
class ClassifyData:
    vocab: object
    classes: list
    train: object
    val: object
    test: object
    train_examples: list
    val_examples: list
    test_examples: list
    mode: str = "word"
    lower: bool = True

    @property
    def vocabs(self) -> dict:
        return {"src": self.vocab}


def _split(items, val_size, test_size, seed):
    items = list(items)
    n = len(items)
    n_val = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if n_val + n_test >= n:
        raise ValueError(f"{n} examples are too few for {n_val} validation and {n_test} test examples")
    order = np.random.default_rng(seed).permutation(n)
    items = [items[i] for i in order]
    return items[n_val + n_test :], items[:n_val], items[n_val : n_val + n_test]


def seq2seq_data(pairs, val_size=0.05, test_size=0.05, batch_size: int = 64, seed: int = 0,
                 lower: bool = True, mode: str = "word", min_freq: int = 1, max_size=None) -> Seq2SeqData:
    """Split (source text, target text) pairs and build vocabularies and iterators."""
    from ..data import BucketIterator, prepare_seq2seq

    train, val, test = _split(pairs, val_size, test_size, seed)
    prepared = prepare_seq2seq(train, mode=mode, lower=lower, min_freq=min_freq, max_size=max_size)
    src_vocab, tgt_vocab = prepared.src_vocab, prepared.tgt_vocab

    def iterator(split, shuffle):
        if not split:
            return None
        ids = prepare_seq2seq(split, mode=mode, lower=lower, src_vocab=src_vocab, tgt_vocab=tgt_vocab)
        return BucketIterator(ids.src_ids, targets=ids.tgt_ids, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              pad_id=tgt_vocab.pad_id, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id)

    return Seq2SeqData(src_vocab, tgt_vocab, iterator(train, True), iterator(val, False), iterator(test, False),
                       train, val, test, mode, lower)


def classify_data(examples, val_size=0.1, test_size=0.1, batch_size: int = 64, seed: int = 0,
                  lower: bool = True, mode: str = "word", min_freq: int = 1, max_size=None) -> ClassifyData:
    """Split (text, label) examples; labels become class ids (``minirnn.data.encode_labels`` order)."""
    from ..data import BucketIterator, prepare_classification

    train, val, test = _split(examples, val_size, test_size, seed)
    classes = prepare_classification(examples, mode=mode, lower=lower).classes  # every label, train or not
    prepared = prepare_classification(train, mode=mode, lower=lower, min_freq=min_freq, max_size=max_size,
                                      classes=classes)
    vocab = prepared.vocab

    def iterator(split, shuffle):
        if not split:
            return None
        ids = prepare_classification(split, mode=mode, lower=lower, vocab=vocab, classes=classes)
        return BucketIterator(ids.ids, labels=ids.labels, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              pad_id=vocab.pad_id)

    return ClassifyData(vocab, list(classes), iterator(train, True), iterator(val, False), iterator(test, False),
                        train, val, test, mode, lower)
