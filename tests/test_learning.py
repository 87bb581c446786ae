"""End to end: the models learn small synthetic tasks, in float32, with fixed seeds.

Each test trains with minirnn's own Adam and CrossEntropyLoss, then measures accuracy
on held-out data (the seq2seq test sets share no string with the training batches).
Each runs in about 0.2 to 7 seconds on one CPU core.
"""

from __future__ import annotations

import numpy as np

import minirnn as mr
from minirnn.models import Seq2Seq, SequenceClassifier

PAD, BOS, EOS = 0, 1, 2
DIGIT0 = 3  # digits 0-9 are tokens 3..12
VOCAB = DIGIT0 + 10


# ============================================================================ classifier


def _majority_batch(rng, n, vocab=8, max_len=15):
    """Sequences over tokens 1..vocab-1; the label is which of tokens 1, 2, 3 occurs most often (no ties)."""
    ids = np.zeros((n, max_len), dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    i = 0
    while i < n:
        length = rng.integers(5, max_len + 1)
        seq = rng.integers(1, vocab, size=length)
        counts = np.array([(seq == k).sum() for k in (1, 2, 3)])
        if (counts == counts.max()).sum() > 1:
            continue
        ids[i, :length], lengths[i], labels[i] = seq, length, counts.argmax()
        i += 1
    return ids, lengths, labels


def _contains_batch(rng, n, vocab=10, max_len=12, token=3):
    """Label 1 when ``token`` occurs before the sequence's length."""
    lengths = rng.integers(3, max_len + 1, size=n)
    ids = np.zeros((n, max_len), dtype=np.int64)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(1, vocab, size=length)
        ids[i, length:] = rng.integers(0, vocab, size=max_len - length)  # garbage past the length
    labels = np.array([int(token in ids[i, :length]) for i, length in enumerate(lengths)])
    return ids, lengths, labels


def _train_classifier(clf, make_batch, rng, steps, lr):
    opt = mr.optim.Adam(clf.parameters(), lr=lr)
    crit = mr.CrossEntropyLoss()
    for _ in range(steps):
        ids, lengths, labels = make_batch(rng, 64)
        opt.zero_grad()
        crit(clf(ids, lengths), labels)
        clf.backward(crit.backward())
        opt.step()


def test_classifier_learns_majority_token():
    mr.manual_seed(0)
    rng = np.random.default_rng(0)
    test_ids, test_lengths, test_labels = _majority_batch(np.random.default_rng(100), 500)
    clf = SequenceClassifier(8, 3, embed_dim=16, hidden_size=32, cell="gru", bidirectional=True)
    before = (clf.predict(test_ids, test_lengths) == test_labels).mean()
    _train_classifier(clf, _majority_batch, rng, steps=150, lr=0.01)
    accuracy = (clf.predict(test_ids, test_lengths) == test_labels).mean()
    assert before < 0.6
    assert accuracy >= 0.95, accuracy


def test_classifier_learns_contains_token():
    mr.manual_seed(1)
    rng = np.random.default_rng(1)
    test_ids, test_lengths, test_labels = _contains_batch(np.random.default_rng(101), 500)
    clf = SequenceClassifier(10, 2, embed_dim=16, hidden_size=32, cell="lstm")
    _train_classifier(clf, _contains_batch, rng, steps=80, lr=0.01)
    accuracy = (clf.predict(test_ids, test_lengths) == test_labels).mean()
    assert accuracy >= 0.97, accuracy


# ============================================================================ seq2seq


def _digit_strings(rng, n, min_len, max_len, exclude=frozenset()):
    strings = []
    while len(strings) < n:
        s = tuple(int(d) for d in rng.integers(0, 10, size=rng.integers(min_len, max_len + 1)))
        if s not in exclude:
            strings.append(s)
    return strings


def _encode(strings, transform, max_len):
    """src (N, max_len), lengths, tgt_in = [BOS, y...], tgt_out = [y..., EOS], PAD = 0 after."""
    n = len(strings)
    src = np.full((n, max_len), PAD, dtype=np.int64)
    tgt_in = np.full((n, max_len + 1), PAD, dtype=np.int64)
    tgt_out = np.full((n, max_len + 1), PAD, dtype=np.int64)
    lengths = np.array([len(s) for s in strings])
    for i, s in enumerate(strings):
        x = np.array(s) + DIGIT0
        y = transform(x)
        src[i, : len(s)] = x
        tgt_in[i, 0], tgt_in[i, 1 : len(s) + 1] = BOS, y
        tgt_out[i, : len(s)], tgt_out[i, len(s)] = y, EOS
    return src, lengths, tgt_in, tgt_out


def _exact_match(ids, tgt_out):
    """Rows whose decoded ids equal [y..., EOS] followed by padding."""
    out = np.zeros_like(tgt_out)
    width = min(ids.shape[1], tgt_out.shape[1])
    out[:, :width] = ids[:, :width]
    too_long = (ids[:, width:] != 0).any(axis=1) if ids.shape[1] > width else np.zeros(len(ids), dtype=bool)
    return ((out == tgt_out).all(axis=1) & ~too_long).mean()


def _train_seq2seq(model, transform, steps, max_len, min_len, test_strings, seed):
    rng = np.random.default_rng(seed)
    opt = mr.optim.Adam(model.parameters(), lr=0.005)
    crit = mr.CrossEntropyLoss(ignore_index=PAD)
    held_out = frozenset(test_strings)
    for _ in range(steps):
        src, lengths, tgt_in, tgt_out = _encode(_digit_strings(rng, 64, min_len, max_len, held_out), transform, max_len)
        opt.zero_grad()
        crit(model(src, lengths, tgt_in), tgt_out)
        model.backward(crit.backward())
        mr.optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()


def test_seq2seq_with_bahdanau_learns_to_reverse():
    mr.manual_seed(0)
    min_len, max_len = 3, 8
    test_strings = _digit_strings(np.random.default_rng(200), 300, min_len, max_len)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=16, hidden_size=32, cell="gru", attention="bahdanau")
    _train_seq2seq(model, lambda x: x[::-1], 600, max_len, min_len, test_strings, seed=0)
    src, lengths, _, tgt_out = _encode(test_strings, lambda x: x[::-1], max_len)
    ids, weights = model.greedy_decode(src, lengths, max_len + 1, BOS, EOS)
    assert _exact_match(ids, tgt_out) >= 0.95, _exact_match(ids, tgt_out)
    assert weights.shape == ids.shape + (max_len,)
    beam_ids, _ = model.beam_search(src[:100], lengths[:100], max_len + 1, BOS, EOS, beam_size=3)
    assert _exact_match(beam_ids, tgt_out[:100]) >= 0.95


def test_seq2seq_bidirectional_lstm_with_luong_learns_to_copy():
    mr.manual_seed(1)
    min_len, max_len = 3, 8
    test_strings = _digit_strings(np.random.default_rng(201), 300, min_len, max_len)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=16, hidden_size=32, cell="lstm", attention="luong",
                    bidirectional_encoder=True)  # fmt: skip
    _train_seq2seq(model, lambda x: x, 600, max_len, min_len, test_strings, seed=1)
    src, lengths, _, tgt_out = _encode(test_strings, lambda x: x, max_len)
    ids, _ = model.greedy_decode(src, lengths, max_len + 1, BOS, EOS)
    assert _exact_match(ids, tgt_out) >= 0.95, _exact_match(ids, tgt_out)
