"""From raw text pairs or labelled texts to vocabularies and batch iterators, in one call.

The CLI, the examples and the demo all prepare data the same way:

1. shuffle the examples with ``seed`` and split off a validation set (for early
   stopping and ``best.npz``) and a held-out test set (never seen in training or
   model selection). Seq2seq data is split by unique source sentence, so all the
   references of a source stay together and no source is in two splits,
2. tokenise (word or character mode) and build the vocabularies on the training
   split only, so unseen words in val/test become ``<unk>`` as they would for a user,
3. wrap each split in a ``minirnn.data.BucketIterator`` (length-bucketed, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backend import np


@dataclass
class Seq2SeqData:
    """Vocabularies, batch iterators and the raw pairs of each split.

    ``val_groups``/``test_groups`` hold each validation/test source with all its
    references (for BLEU). ``spacing`` is how the training targets are written (the
    output is detokenised with it); ``max_src_len`` the longest training source in
    tokens; ``warnings`` what a user should hear about the split (tiny splits).
    """

    src_vocab: object
    tgt_vocab: object
    train: object
    val: object
    test: object
    train_pairs: list
    val_pairs: list
    test_pairs: list
    mode: str = "word"
    lower: bool = False
    val_groups: list = field(default_factory=list)
    test_groups: list = field(default_factory=list)
    spacing: object = None
    max_src_len: int = 0
    warnings: list = field(default_factory=list)

    @property
    def vocabs(self) -> dict:
        return {"src": self.src_vocab, "tgt": self.tgt_vocab}

    def sources(self, split: str) -> int:
        """How many distinct source sentences ``split`` ("train", "val", "test") holds."""
        from ..data import group_references

        return len(group_references(getattr(self, f"{split}_pairs"), key=self.source_key))

    def source_key(self, text: str) -> str:
        """What makes two sources the same for the model: equal token sequences."""
        from ..data import tokenize

        return "\x00".join(tokenize(text, lower=self.lower, mode=self.mode))


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


TINY_SPLIT = 20  # fewer sources than this make a split's BLEU too noisy to trust


def _split_warnings(data: Seq2SeqData) -> list[str]:
    warnings = []
    for name, what in (("val", "validation (it picks the kept model)"), ("test", "test")):
        count = len(getattr(data, f"{name}_groups"))
        if 0 < count < TINY_SPLIT:
            warnings.append(f"the {what} split holds only {count} source sentences: its scores are noisy")
    return warnings


def seq2seq_data(pairs, val_size=0.05, test_size=0.05, batch_size: int = 64, seed: int = 0,
                 lower: bool = False, mode: str = "word", min_freq: int = 1, max_size=None) -> Seq2SeqData:
    """Split (source text, target text) pairs by unique source and build vocabularies and iterators.

    ``val_size``/``test_size`` count distinct sources (``minirnn.data.split_by_source``):
    all references of a source stay in one split. Tokens keep their case unless ``lower``.
    """
    from ..data import BucketIterator, Spacing, group_references, prepare_seq2seq, split_by_source

    data = Seq2SeqData(None, None, None, None, None, [], [], [], mode, lower)
    train, val, test = split_by_source(pairs, val_size, test_size, seed, key=data.source_key)
    prepared = prepare_seq2seq(train, mode=mode, lower=lower, min_freq=min_freq, max_size=max_size)
    src_vocab, tgt_vocab = prepared.src_vocab, prepared.tgt_vocab

    def iterator(split, shuffle):
        if not split:
            return None
        ids = prepare_seq2seq(split, mode=mode, lower=lower, src_vocab=src_vocab, tgt_vocab=tgt_vocab)
        return BucketIterator(ids.src_ids, targets=ids.tgt_ids, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              pad_id=tgt_vocab.pad_id, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id)

    data.src_vocab, data.tgt_vocab = src_vocab, tgt_vocab
    data.train, data.val, data.test = iterator(train, True), iterator(val, False), iterator(test, False)
    data.train_pairs, data.val_pairs, data.test_pairs = train, val, test
    data.val_groups = group_references(val, key=data.source_key)
    data.test_groups = group_references(test, key=data.source_key)
    data.spacing = Spacing.learn(tgt for _, tgt in train) if mode == "word" else Spacing()
    data.max_src_len = max(len(tokens) for tokens in prepared.src_tokens)
    data.warnings = _split_warnings(data)
    return data


def translation_monitor(data: Seq2SeqData, beam_size: int = 1, prefix: str = "val_"):
    """A ``fit(val_metrics=...)`` callable: BLEU, chrF and exact match of the model on the
    validation sources, against all their references -> ``{"val_bleu", "val_chrf", "val_exact_match"}``."""
    from .inference import score_translations

    def scores(model) -> dict:
        if not data.val_groups:
            return {}
        result, _ = score_translations(model, data.src_vocab, data.tgt_vocab, data.val_groups, beam_size=beam_size,
                                       lower=data.lower, mode=data.mode, spacing=data.spacing)
        return {f"{prefix}bleu": result["bleu"], f"{prefix}chrf": result["chrf"],
                f"{prefix}exact_match": result["exact_match"]}

    return scores


def stratified_split(examples, val_size=0.1, test_size=0.1, seed: int = 0):
    """Split (text, label) examples so that every class keeps its share in each split.

    Each class's examples are shuffled with ``seed`` and cut in the proportions
    ``val_size`` : ``test_size`` : the rest (fractions), rounding each class's share;
    a class with at least 3 examples puts at least one in validation and one in test,
    so macro-F1 sees it. A rare class is not lost to chance, as it can be in a plain
    shuffle. Returns (train, val, test) lists, each shuffled.
    """
    for name, size in (("val_size", val_size), ("test_size", test_size)):
        if not 0.0 <= float(size) < 1.0:
            raise ValueError(f"stratified_split: {name} must be a fraction in [0, 1), got {size!r}")
    rng = np.random.default_rng(seed)
    by_label: dict = {}
    for example in examples:
        by_label.setdefault(example[1], []).append(example)
    train, val, test = [], [], []
    for label in sorted(by_label, key=str):
        items = by_label[label]
        items = [items[i] for i in rng.permutation(len(items))]
        n_val, n_test = int(round(val_size * len(items))), int(round(test_size * len(items)))
        if len(items) >= 3:
            n_val, n_test = max(n_val, 1 if val_size else 0), max(n_test, 1 if test_size else 0)
        val += items[:n_val]
        test += items[n_val : n_val + n_test]
        train += items[n_val + n_test :]
    if not train:
        raise ValueError(f"{len(examples)} examples are too few to split off validation and test examples")
    return tuple([split[i] for i in rng.permutation(len(split))] for split in (train, val, test))


def choose_token_mode(texts) -> tuple[str, str]:
    """("char" or "word", why): character tokens when the texts are single words (names, codes).

    A word vocabulary of one-word texts makes every unseen text ``<unk>``; characters
    generalise to new names. Texts of several words are split into words.
    """
    texts = list(texts)
    words = sum(len(t.split()) for t in texts) / max(len(texts), 1)
    if words < 1.5:
        return "char", f"the texts are single words, mean {words:.2f} words per text"
    return "word", f"the texts are phrases, mean {words:.1f} words per text"


def _classify_iterator(split, vocab, classes, mode, lower, batch_size, seed, shuffle):
    from ..data import BucketIterator, prepare_classification

    if not split:
        return None
    ids = prepare_classification(split, mode=mode, lower=lower, vocab=vocab, classes=classes)
    return BucketIterator(ids.ids, labels=ids.labels, batch_size=batch_size, shuffle=shuffle, seed=seed,
                          pad_id=vocab.pad_id)


def classify_data(examples, val_size=0.1, test_size=0.1, batch_size: int = 64, seed: int = 0,
                  lower: bool = True, mode: str = "word", min_freq: int = 1, max_size=None,
                  stratify: bool = False) -> ClassifyData:
    """Split (text, label) examples; labels become class ids (``minirnn.data.encode_labels`` order).

    ``stratify=True`` keeps every class's share in each split (:func:`stratified_split`;
    sizes are then fractions); otherwise a plain seeded shuffle.
    """
    from ..data import prepare_classification

    if stratify:
        train, val, test = stratified_split(examples, val_size, test_size, seed)
    else:
        train, val, test = _split(examples, val_size, test_size, seed)
    classes = prepare_classification(examples, mode=mode, lower=lower).classes  # every label, train or not
    prepared = prepare_classification(train, mode=mode, lower=lower, min_freq=min_freq, max_size=max_size,
                                      classes=classes)
    vocab = prepared.vocab

    def iterator(split, shuffle):
        return _classify_iterator(split, vocab, classes, mode, lower, batch_size, seed, shuffle)

    return ClassifyData(vocab, list(classes), iterator(train, True), iterator(val, False), iterator(test, False),
                        train, val, test, mode, lower)


def score_classifier(model, vocab, classes, examples, mode: str = "word", lower: bool = True,
                     batch_size: int = 64, weight=None):
    """A trained classifier's :class:`ClassificationReport` on (text, label) examples.

    For ``evaluate`` on a user's file: the texts are tokenised as in training (``mode``,
    ``lower``) and looked up in ``vocab`` (unseen tokens become ``<unk>``). A label that
    is not one of ``classes`` is an error naming it, since the model cannot predict it.
    """
    from .classification_metrics import evaluate_classifier

    by_name = {str(c): c for c in classes}  # a file's "1" is the class 1 of a model trained on int labels
    unknown = sorted({str(label) for _, label in examples} - set(by_name))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{len(unknown)} label(s) the model was not trained on: {shown}; its classes are "
                         f"{', '.join(map(str, classes))}")
    if not examples:
        raise ValueError("score_classifier: no examples to score")
    examples = [(text, by_name[str(label)]) for text, label in examples]
    batches = _classify_iterator(examples, vocab, list(classes), mode, lower, batch_size, 0, False)
    return evaluate_classifier(model, batches, list(classes), weight)


def score_classifier_file(checkpoint, path, text_col=None, label_col=None, batch_size: int = 64):
    """``evaluate`` for a classifier checkpoint on a labelled file -> (ClassificationReport, Records).

    The file is read like ``train classify --data`` reads one (:func:`minirnn.data.load_labeled_text`,
    bad lines skipped and listed in ``records.bad_lines``, the layout in ``records.layout``),
    and scored with the checkpoint's vocabulary, classes and tokenisation (its ``extra``).
    """
    from ..data import load_labeled_text

    records = load_labeled_text(path, errors="skip", text_col=text_col, label_col=label_col)
    extra = checkpoint.extra
    classes = extra.get("classes") or list(range(checkpoint.model.num_classes))
    report = score_classifier(checkpoint.model, checkpoint.vocabs["src"], classes, list(records),
                              mode=extra.get("mode", "word"), lower=extra.get("lower", True), batch_size=batch_size)
    return report, records
