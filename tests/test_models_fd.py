"""Finite differences through whole models, in float64.

``minirnn.gradcheck`` draws a random upstream gradient G for the logits, takes
L = sum(logits * G), runs the model's backward with G and compares every
parameter's gradient with central differences: entry by entry for small arrays,
along random directions for the others. Ids at real positions avoid the padding id
(its embedding row gets no gradient by design); padded positions hold the padding id
and garbage.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minirnn as mr
from minirnn.models import Seq2Seq, SequenceClassifier

CHECK = dict(max_elements=12, num_directions=3)


def _assert_ok(report):
    assert report.ok, str(report)
    assert len(report) > 0


def _classifier_batch(rng, vocab):
    ids = rng.integers(1, vocab, size=(3, 5))
    lengths = np.array([5, 2, 4])
    ids[1, 2:] = [0, 3, 0]  # padding and garbage past the length
    return ids, lengths


@pytest.mark.parametrize(
    "cell,bidirectional,num_layers",
    [("lstm", False, 1), ("lstm", True, 2), ("gru", False, 2), ("gru", True, 1), ("rnn", True, 1)],
)
def test_classifier_gradcheck(rng, cell, bidirectional, num_layers):
    clf = SequenceClassifier(9, 3, embed_dim=3, hidden_size=4, cell=cell, num_layers=num_layers,
                             bidirectional=bidirectional, dtype="float64")  # fmt: skip
    clf.eval()
    ids, lengths = _classifier_batch(rng, 9)
    _assert_ok(mr.gradcheck(clf, ids, lengths, seed=1, **CHECK))


def _seq2seq_batch(rng):
    src = rng.integers(1, 8, size=(3, 4))
    lengths = np.array([4, 1, 3])
    src[1, 1:] = [0, 5, 0]  # padding and garbage past the length
    tgt_in = rng.integers(1, 7, size=(3, 3))
    return src, lengths, tgt_in


SEQ2SEQ_CASES = [
    (cell, attention, bidirectional, num_layers)
    for (cell, attention), bidirectional, num_layers in itertools.product(
        itertools.product(["gru", "lstm"], ["bahdanau", "luong", None]), [False, True], [1]
    )
] + [("gru", "bahdanau", True, 2), ("lstm", "luong", False, 2), ("lstm", None, True, 2)]


@pytest.mark.parametrize("cell,attention,bidirectional,num_layers", SEQ2SEQ_CASES)
def test_seq2seq_gradcheck(rng, cell, attention, bidirectional, num_layers):
    model = Seq2Seq(8, 7, embed_dim=3, hidden_size=4, cell=cell, attention=attention, num_layers=num_layers,
                    bidirectional_encoder=bidirectional, dtype="float64")  # fmt: skip
    model.eval()
    _assert_ok(mr.gradcheck(model, *_seq2seq_batch(rng), seed=2, **CHECK))


def test_seq2seq_gradcheck_scheduled_sampling(rng):
    """With teacher_forcing_ratio=0 (train mode, no dropout) the fed tokens are argmaxes:
    piecewise constant, so the gradient is that of the chosen path."""
    model = Seq2Seq(8, 7, embed_dim=3, hidden_size=4, cell="lstm", teacher_forcing_ratio=0.0, dtype="float64")
    _assert_ok(mr.gradcheck(model, *_seq2seq_batch(rng), seed=3, **CHECK))


def _all_params_directional(model, forward, rng, eps=1e-6):
    """One random direction over every parameter at once: <grad, v> against (L(p + eps v) - L(p - eps v)) / 2eps."""
    params = model.parameters()
    out = forward()
    upstream = rng.standard_normal(out.shape)
    model.zero_grad()
    forward()
    model.backward(upstream)
    directions = [rng.standard_normal(p.shape) for p in params]
    analytic = sum(float((p.grad * v).sum()) for p, v in zip(params, directions))
    losses = []
    for sign in (1, -1):
        for p, v in zip(params, directions):
            p.data += sign * eps * v
        with mr.no_grad():
            losses.append(float((forward() * upstream).sum()))
        for p, v in zip(params, directions):
            p.data -= sign * eps * v
    numeric = (losses[0] - losses[1]) / (2 * eps)
    return analytic, numeric


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong"), ("lstm", None)])
def test_seq2seq_directional_over_all_parameters(rng, cell, attention):
    model = Seq2Seq(8, 7, embed_dim=3, hidden_size=4, cell=cell, attention=attention, num_layers=2,
                    bidirectional_encoder=True, dtype="float64")  # fmt: skip
    model.eval()
    src, lengths, tgt_in = _seq2seq_batch(rng)
    analytic, numeric = _all_params_directional(model, lambda: model(src, lengths, tgt_in), rng)
    assert abs(analytic - numeric) <= 1e-7 * (abs(analytic) + abs(numeric)) + 1e-9, (analytic, numeric)


def test_classifier_directional_over_all_parameters(rng):
    clf = SequenceClassifier(9, 3, embed_dim=3, hidden_size=4, cell="lstm", num_layers=2, bidirectional=True,
                             dtype="float64")  # fmt: skip
    clf.eval()
    ids, lengths = _classifier_batch(rng, 9)
    analytic, numeric = _all_params_directional(clf, lambda: clf(ids, lengths), rng)
    assert abs(analytic - numeric) <= 1e-7 * (abs(analytic) + abs(numeric)) + 1e-9, (analytic, numeric)
