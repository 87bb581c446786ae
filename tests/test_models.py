"""SequenceClassifier and Seq2Seq: shapes, configs, bad input, properties, decoding.

Finite differences through whole models are in ``test_models_fd.py``; learning is in
``test_learning.py``.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import minirnn as mr
from minirnn.models import Seq2Seq, SequenceClassifier, beam_search

F64 = "float64"


def _ids(rng, shape, vocab, low=1):
    return rng.integers(low, vocab, size=shape)


def _seq2seq(**kw):
    args = dict(src_vocab_size=9, tgt_vocab_size=8, embed_dim=4, hidden_size=5, dtype=F64)
    args.update(kw)
    return Seq2Seq(**args)


def _batch(rng, n=3, s=5, t=4, src_vocab=9, tgt_vocab=8):
    src = _ids(rng, (n, s), src_vocab)
    lengths = np.array([s, 2, 4, 1, 3][:n])
    tgt_in = _ids(rng, (n, t), tgt_vocab)
    return src, lengths, tgt_in


def _grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters() if p.grad is not None}


# ============================================================================ classifier


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_shapes_and_grads(rng, cell, bidirectional):
    clf = SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, cell=cell, num_layers=2,
                             bidirectional=bidirectional, dtype=F64)  # fmt: skip
    ids = _ids(rng, (4, 6), 11)
    logits = clf(ids, np.array([6, 1, 3, 5]))
    assert logits.shape == (4, 3) and logits.dtype == np.float64
    assert clf.backward(rng.standard_normal((4, 3))) is None
    for name, p in clf.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    assert clf.head.weight.shape == (3, (2 if bidirectional else 1) * 5)


def test_classifier_predict(rng):
    clf = SequenceClassifier(11, 4, embed_dim=4, hidden_size=5, dropout=0.5, dtype=F64)
    ids, lengths = _ids(rng, (5, 6), 11), np.array([6, 2, 3, 1, 4])
    proba = clf.predict_proba(ids, lengths)
    assert proba.shape == (5, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    pred = clf.predict(ids, lengths)
    assert pred.dtype == np.int64 and np.array_equal(pred, proba.argmax(axis=1))
    assert clf.training  # predict ran in eval mode and restored train mode
    assert all(not m._caches for m in clf.modules())  # ran under no_grad
    clf.eval()
    np.testing.assert_allclose(mr.functional.softmax(clf(ids, lengths)), proba, rtol=1e-12)


def test_classifier_lengths_none_means_full(rng):
    clf = SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, cell="gru", dtype=F64)
    ids = _ids(rng, (3, 5), 11)
    with mr.no_grad():
        np.testing.assert_array_equal(clf(ids), clf(ids, np.array([5, 5, 5])))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_classifier_padding_garbage_changes_nothing(rng, cell):
    clf = SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, cell=cell, num_layers=2, bidirectional=True, dtype=F64)
    ids, lengths = _ids(rng, (4, 6), 11), np.array([6, 1, 3, 5])
    garbage = ids.copy()
    for n, length in enumerate(lengths):
        garbage[n, length:] = rng.integers(0, 11, size=6 - length)
    dlogits = rng.standard_normal((4, 3))
    results = []
    for x in (ids, garbage):
        clf.zero_grad()
        logits = clf(x, lengths)
        clf.backward(dlogits)
        results.append((logits, _grads(clf)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for name in results[0][1]:
        np.testing.assert_allclose(results[0][1][name], results[1][1][name], rtol=0, atol=1e-14, err_msg=name)


def test_classifier_config_rebuilds(rng):
    clf = SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, cell="gru", num_layers=2, bidirectional=True,
                             padding_idx=None, dropout=0.1, dtype=F64)  # fmt: skip
    config = json.loads(json.dumps(clf.config))
    twin = type(clf)(**config)
    twin.load_state_dict(clf.state_dict())
    ids = _ids(rng, (3, 5), 11)
    clf.eval(), twin.eval()
    with mr.no_grad():
        np.testing.assert_array_equal(clf(ids, np.array([5, 2, 3])), twin(ids, np.array([5, 2, 3])))
    assert config["dtype"] == "float64" and config["cell"] == "gru"


def test_classifier_bad_input(rng):
    clf = SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, dtype=F64)
    ids = _ids(rng, (3, 5), 11)
    with pytest.raises(ValueError, match="'lstm', 'gru', 'rnn'"):
        SequenceClassifier(11, 3, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        SequenceClassifier(11, 3, hidden_size=0)
    with pytest.raises(TypeError, match="hidden_size to be a positive integer, got None"):
        SequenceClassifier(11, 3, hidden_size=None)
    with pytest.raises(TypeError, match="dropout to be a number in"):
        SequenceClassifier(11, 3, dropout="0.1")
    with pytest.raises(IndexError, match=r"\[0, 10\]"):
        clf(ids + 10, np.array([5, 5, 5]))
    with pytest.raises(ValueError, match="one entry per sequence"):
        clf(ids, np.array([5, 5]))
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        clf(ids, np.array([5, 6, 1]))
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        clf(ids, np.array([5, 0, 1]))
    with pytest.raises(ValueError, match="2-D"):
        clf(ids[0], np.array([5]))
    with pytest.raises(TypeError, match="integer"):
        clf(ids.astype(np.float64), np.array([5, 5, 5]))
    clf(ids, np.array([5, 5, 5]))
    with pytest.raises(ValueError, match="dlogits"):
        clf.backward(np.zeros((3, 4)))


# ============================================================================ seq2seq: shapes and config


ATTENTIONS = ["bahdanau", "luong", None]


@pytest.mark.parametrize("cell,attention,bidirectional", itertools.product(["gru", "lstm"], ATTENTIONS, [False, True]))
def test_seq2seq_shapes_and_grads(rng, cell, attention, bidirectional):
    model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=bidirectional)
    src, lengths, tgt_in = _batch(rng)
    logits = model(src, lengths, tgt_in)
    assert logits.shape == (3, 4, 8) and logits.dtype == np.float64
    assert model.backward(rng.standard_normal(logits.shape)) is None
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    assert all(not m._caches for m in model.modules()), "every cache is consumed by backward"
    assert (model.bridge is not None) == bidirectional
    assert (model.attention is not None) == (attention is not None)


def test_seq2seq_parameter_names():
    model = _seq2seq(cell="lstm", bidirectional_encoder=True)
    names = [name for name, _ in model.named_parameters()]
    for expected in ["src_embedding.weight", "encoder.weight_ih_l0_reverse", "bridge.h_l0.weight", "bridge.c_l0.bias",
                     "attention.Wa.weight", "attention.Ua.bias", "attention.Va.weight", "tgt_embedding.weight",
                     "decoder_l0.weight_ih", "out.weight", "out.bias"]:  # fmt: skip
        assert expected in names, expected
    assert model.out.weight.shape == (8, 5 + 10)  # [h_t; context], K = 2H
    assert model.decoder_l0.input_size == 4 + 10  # [embedding; context]
    plain = _seq2seq(attention=None)
    assert plain.out.weight.shape == (8, 5) and plain.decoder_l0.input_size == 4


def test_seq2seq_config_rebuilds(rng):
    model = _seq2seq(cell="lstm", attention="luong", num_layers=2, bidirectional_encoder=True, dropout=0.2,
                     teacher_forcing_ratio=0.5)  # fmt: skip
    config = json.loads(json.dumps(model.config))
    twin = type(model)(**config)
    twin.load_state_dict(model.state_dict())
    src, lengths, tgt_in = _batch(rng)
    model.eval(), twin.eval()
    with mr.no_grad():
        np.testing.assert_array_equal(model(src, lengths, tgt_in), twin(src, lengths, tgt_in))
    assert config["attention"] == "luong" and config["dtype"] == "float64"


def test_seq2seq_forward_equals_decode_steps(rng):
    """Teacher forcing is encode + one decode_step per target token."""
    model = _seq2seq(cell="lstm", num_layers=2, bidirectional_encoder=True)
    src, lengths, tgt_in = _batch(rng)
    with mr.no_grad():
        logits = model(src, lengths, tgt_in)
        encoded = model.encode(src, lengths)
        state = encoded.state
        assert encoded.outputs.shape == (3, 5, 10) and encoded.mask.shape == (3, 5)
        assert encoded.state.h.shape == (2, 3, 5) and encoded.state.c.shape == (2, 3, 5)
        np.testing.assert_array_equal(encoded.mask, np.arange(5)[None] < lengths[:, None])
        for t in range(tgt_in.shape[1]):
            step_logits, state, weights = model.decode_step(tgt_in[:, t], state, encoded)
            np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-13, atol=1e-13)
            assert weights.shape == (3, 5)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
            assert np.all(weights[~encoded.mask] == 0)


def test_seq2seq_two_forwards_backward_in_reverse(rng):
    """The cache stack: forward A, forward B, backward B, backward A = the two separate gradients summed."""
    model = _seq2seq(cell="gru", num_layers=2, bidirectional_encoder=True)
    a, b = _batch(rng), _batch(rng, n=2, s=3, t=5)
    da, db = rng.standard_normal((3, 4, 8)), rng.standard_normal((2, 5, 8))
    separate = {}
    for (src, lengths, tgt_in), d in ((a, da), (b, db)):
        model.zero_grad()
        model(src, lengths, tgt_in)
        model.backward(d)
        for name, g in _grads(model).items():
            separate[name] = separate.get(name, 0) + g
    model.zero_grad()
    model(*a)
    model(*b)
    model.backward(db)
    model.backward(da)
    for name, g in _grads(model).items():
        np.testing.assert_allclose(g, separate[name], rtol=1e-12, atol=1e-13, err_msg=name)


def test_seq2seq_no_grad_keeps_nothing(rng):
    model = _seq2seq()
    with mr.no_grad():
        model(*_batch(rng))
    assert all(not m._caches for m in model.modules())
    with pytest.raises(RuntimeError, match="without a matching forward"):
        model.backward(np.zeros((3, 4, 8)))


@pytest.mark.parametrize("was_training", [True, False])
def test_inference_mode_sets_eval_and_no_grad_then_restores(rng, was_training):
    model = _seq2seq(dropout=0.5).train(was_training)
    with mr.inference_mode(model) as inside:
        assert inside is model and not model.training and not mr.nn.is_grad_enabled()
        assert all(not m.training for m in model.modules())
        model(*_batch(rng))
    assert model.training == was_training and mr.nn.is_grad_enabled()
    assert all(not m._caches for m in model.modules())
    with pytest.raises(KeyError):
        with mr.inference_mode(model):
            raise KeyError("a failure inside the block")
    assert model.training == was_training and mr.nn.is_grad_enabled()


@pytest.mark.parametrize("lstm", [False, True])
def test_bridge_gradients_and_old_import(rng, lstm):
    assert mr.models.Bridge is mr.nn.Bridge
    bridge = mr.nn.Bridge(hidden_size=3, num_layers=2, lstm=lstm, dtype=F64)
    h_n = rng.standard_normal((4, 5, 3))
    c_n = rng.standard_normal((4, 5, 3)) if lstm else None
    h, c = bridge(h_n, c_n)
    assert h.shape == (2, 5, 3) and (c is None) != lstm
    bridge.backward(np.ones_like(h), None if c is None else np.ones_like(c))
    report = mr.gradcheck(bridge, h_n, c_n, backward=lambda module, upstream: module.backward(*upstream),
                          check_inputs="all")  # fmt: skip
    assert report.ok, str(report)
    assert {e.name for e in report} >= {"h_l1.weight", "input[0]"} | ({"c_l1.bias", "input[1]"} if lstm else set())


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong"), ("gru", None)])
def test_seq2seq_padding_garbage_changes_nothing(rng, cell, attention):
    """Garbage ids past src_lengths, or extra padded columns, change neither logits nor gradients."""
    model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=True)
    src, lengths, tgt_in = _batch(rng)
    garbage = src.copy()
    for n, length in enumerate(lengths):
        garbage[n, length:] = rng.integers(0, 9, size=src.shape[1] - length)
    wider = np.concatenate([garbage, rng.integers(0, 9, size=(3, 2))], axis=1)  # S = 7
    dlogits = rng.standard_normal((3, 4, 8))
    results = []
    for x in (src, garbage, wider):
        model.zero_grad()
        logits = model(x, lengths, tgt_in)
        model.backward(dlogits)
        results.append((logits, _grads(model)))
    for logits, grads in results[1:]:
        np.testing.assert_allclose(logits, results[0][0], rtol=0, atol=1e-14)
        for name in results[0][1]:
            np.testing.assert_allclose(grads[name], results[0][1][name], rtol=0, atol=1e-13, err_msg=name)
    with mr.no_grad():
        ids = [model.greedy_decode(x, lengths, 6, 1, 2)[0] for x in (src, garbage, wider)]
    assert np.array_equal(ids[0], ids[1]) and np.array_equal(ids[0], ids[2])


def test_scheduled_sampling_ratio_zero_feeds_argmax(rng):
    """With teacher_forcing_ratio=0 in train mode, step t > 0 is fed the argmax of step t-1."""
    model = _seq2seq(cell="gru", teacher_forcing_ratio=0.0)
    src, lengths, tgt_in = _batch(rng)
    logits = model(src, lengths, tgt_in)
    model.backward(np.zeros_like(logits))
    with mr.no_grad():
        encoded = model.encode(src, lengths)
        state, prev = encoded.state, tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            step_logits, state, _ = model.decode_step(prev, state, encoded)
            np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-13, atol=1e-13)
            prev = step_logits.argmax(axis=1)
        model.eval()  # eval mode always uses teacher forcing
        assert not np.allclose(model(src, lengths, tgt_in), logits)


def test_scheduled_sampling_is_seeded(rng):
    model = _seq2seq(cell="lstm", teacher_forcing_ratio=0.5)
    src, lengths, tgt_in = _batch(rng, t=6)
    runs = []
    for _ in range(2):
        mr.manual_seed(7)
        with mr.no_grad():
            runs.append(model(src, lengths, tgt_in))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_seq2seq_bad_input(rng):
    model = _seq2seq()
    src, lengths, tgt_in = _batch(rng)
    with pytest.raises(ValueError, match="'gru', 'lstm'"):
        _seq2seq(cell="rnn")
    with pytest.raises(ValueError, match="'bahdanau', 'luong', None"):
        _seq2seq(attention="dot")
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        _seq2seq(teacher_forcing_ratio=1.5)
    with pytest.raises(ValueError, match="same batch size, got 3 and 2"):
        model(src, lengths, tgt_in[:2])
    with pytest.raises(ValueError, match="one entry per sequence"):
        model(src, lengths[:2], tgt_in)
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        model(src, np.array([6, 1, 1]), tgt_in)
    with pytest.raises(IndexError, match=r"src ids in \[0, 8\]"):
        model(src + 8, lengths, tgt_in)
    with pytest.raises(IndexError, match=r"tgt_in ids in \[0, 7\]"):
        model(src, lengths, tgt_in + 7)
    with pytest.raises(IndexError, match="tgt_in ids"):
        model(src, lengths, -tgt_in)
    with pytest.raises(ValueError, match="2-D"):
        model(src, lengths, tgt_in[:, 0])
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="max_len"):
            model.greedy_decode(src, lengths, bad, 1, 2)
        with pytest.raises(ValueError, match="max_len"):
            model.beam_search(src, lengths, bad, 1, 2)
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(src, lengths, 5, 1, 2, beam_size=0)
    with pytest.raises(ValueError, match=r"eos_id \(an id of the target vocabulary\) to be an integer in \[0, 7\]"):
        model.greedy_decode(src, lengths, 5, 1, 8)
    with pytest.raises(ValueError, match=r"bos_id \(an id of the target vocabulary\) to be an integer in \[0, 7\]"):
        model.beam_search(src, lengths, 5, -1, 2)
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        model.greedy_decode(src, np.array([0, 1, 1]), 5, 1, 2)
    model(src, lengths, tgt_in)
    with pytest.raises(ValueError, match="dlogits"):
        model.backward(np.zeros((3, 5, 8)))
    model.backward(np.zeros((3, 4, 8)))


# ============================================================================ decoding


def _check_format(ids, weights, max_len, eos_id, source_len):
    assert ids.dtype == np.int64 and ids.ndim == 2 and 1 <= ids.shape[1] <= max_len
    for row in ids:
        hits = np.flatnonzero(row == eos_id)
        if hits.size:
            assert np.all(row[hits[0] + 1 :] == 0), row
    if weights is not None:
        assert weights.shape == ids.shape + (source_len,)
        for n, row in enumerate(ids):
            hits = np.flatnonzero(row == eos_id)
            end = hits[0] + 1 if hits.size else len(row)
            np.testing.assert_allclose(weights[n, :end].sum(axis=1), 1.0, rtol=1e-12)
            assert np.all(weights[n, end:] == 0)


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong"), ("lstm", None)])
def test_greedy_decode_format_and_early_stop(rng, cell, attention):
    model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=True)
    model.out.bias.data += np.linspace(0, 0.5, 8)  # break near-ties among the tokens
    src, lengths, _ = _batch(rng, n=4)
    ids, weights = model.greedy_decode(src, lengths, 6, bos_id=1, eos_id=0)
    # the first token is the argmax after BOS, not BOS itself
    with mr.no_grad():
        encoded = model.encode(src, lengths)
        first, _, _ = model.decode_step(np.full(4, 1), encoded.state, encoded)
    np.testing.assert_array_equal(ids[:, 0], first.argmax(axis=1))
    # choose as EOS the token row 0 emits at step 3: row 0 must stop there
    eos = int(ids[0, 2])
    ids, weights = model.greedy_decode(src, lengths, 6, bos_id=1, eos_id=eos)
    _check_format(ids, weights, 6, eos, src.shape[1])
    assert (weights is None) == (attention is None)
    stop = int(np.flatnonzero(ids[0] == eos)[0])
    assert stop <= 2
    # early stop: the output is as long as the longest row, never padded to max_len
    ends = [np.flatnonzero(r == eos)[0] + 1 if np.any(r == eos) else len(r) for r in ids]
    assert ids.shape[1] == max(ends)
    # a source on its own decodes the same as inside the batch
    alone, _ = model.greedy_decode(src[:1], lengths[:1], 6, bos_id=1, eos_id=eos)
    np.testing.assert_array_equal(alone[0], ids[0, : alone.shape[1]])
    assert stop + 1 == alone.shape[1]


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong"), ("gru", None)])
def test_beam_width_one_equals_greedy(rng, cell, attention):
    model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=cell == "lstm")
    src, lengths, _ = _batch(rng, n=5)
    for eos in range(8):
        greedy_ids, greedy_w = model.greedy_decode(src, lengths, 7, bos_id=1, eos_id=eos)
        beam_ids, beam_w = model.beam_search(src, lengths, 7, bos_id=1, eos_id=eos, beam_size=1)
        np.testing.assert_array_equal(beam_ids, greedy_ids)
        if attention is None:
            assert beam_w is None and greedy_w is None
        else:
            np.testing.assert_allclose(beam_w, greedy_w, rtol=1e-12, atol=1e-15)


def test_greedy_steps_are_the_steps_of_greedy_decode(rng):
    model = _seq2seq(num_layers=2)
    src, lengths, _ = _batch(rng, n=3)
    ids, weights = model.greedy_decode(src, lengths, 6, bos_id=1, eos_id=3)
    with mr.inference_mode(model):
        steps = list(mr.models.greedy_steps(model, model.encode(src, lengths), 6, bos_id=1, eos_id=3))
    np.testing.assert_array_equal(np.stack([s.tokens for s in steps], axis=1), ids)
    np.testing.assert_array_equal(np.stack([s.attn_weights for s in steps], axis=1), weights)
    np.testing.assert_array_equal(steps[0].prev_ids, [1, 1, 1])  # BOS first, then each step's tokens
    for before, after in zip(steps, steps[1:]):
        np.testing.assert_array_equal(after.prev_ids, before.tokens)
    assert steps[-1].logits.shape == (3, 8)
    with pytest.raises(ValueError, match=r"greedy_steps expects eos_id .* in \[0, 7\]"):
        mr.models.greedy_steps(model, model.encode(src, lengths), 6, bos_id=1, eos_id=8)


def _sequence_score(model, src, lengths, tokens, bos_id):
    """The log-probability of ``tokens`` (one source row), step by step."""
    with mr.no_grad():
        encoded = model.encode(src, lengths)
        state, prev, total = encoded.state, np.array([bos_id]), 0.0
        for token in tokens:
            logits, state, _ = model.decode_step(prev, state, encoded)
            total += float(mr.functional.log_softmax(logits)[0, token])
            prev = np.array([token])
    return total


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_best(rng, length_penalty):
    """With a beam wider than every hypothesis, beam search is exhaustive search."""
    vocab, eos, max_len = 3, 2, 3
    model = _seq2seq(tgt_vocab_size=vocab, cell="gru")
    src, lengths, _ = _batch(rng, n=2)
    ids, weights = model.beam_search(src, lengths, max_len, bos_id=1, eos_id=eos, beam_size=64,
                                     length_penalty=length_penalty)  # fmt: skip
    _check_format(ids, weights, max_len, eos, src.shape[1])
    for n in range(2):
        candidates = []
        for length in range(1, max_len + 1):
            for body in itertools.product([t for t in range(vocab) if t != eos], repeat=length - 1):
                seqs = [body + (eos,)] + ([] if length < max_len else [body + (t,) for t in range(vocab) if t != eos])
                for seq in seqs:
                    score = _sequence_score(model, src[n : n + 1], lengths[n : n + 1], seq, 1)
                    candidates.append((score / len(seq) ** length_penalty, seq))
        best = max(candidates)[1]
        row = ids[n]
        np.testing.assert_array_equal(row[: len(best)], best)
        assert np.all(row[len(best) :] == 0)


def _prefix_step(model, src, lengths, prefix, bos_id):
    """Log-probabilities (V,) of the next token and the attention weights (S,) after ``prefix``, from scratch."""
    with mr.no_grad():
        encoded = model.encode(src, lengths)
        state, prev = encoded.state, np.array([bos_id])
        for token in prefix + (None,):
            logits, state, weights = model.decode_step(prev, state, encoded)
            prev = np.array([token])
    return mr.functional.log_softmax(logits)[0], None if weights is None else weights[0]


def _naive_beam_search(model, src, lengths, max_len, bos_id, eos_id, beam, alpha):
    """One source row, one hypothesis at a time, every prefix decoded from scratch (no batching, no reordering)."""
    live, finished = [((), 0.0)], []  # (tokens, sum of log-probabilities), best first
    for _ in range(max_len):
        candidates = []
        for tokens, score in live:
            log_probs, _ = _prefix_step(model, src, lengths, tokens, bos_id)
            candidates += [(score + log_probs[v], tokens + (v,)) for v in range(len(log_probs))]
        candidates.sort(key=lambda c: -c[0])
        # EOS finishes a hypothesis only among the top `beam`; the best `beam` others live on.
        finished += [(s / len(t) ** alpha, t) for s, t in candidates[:beam] if t[-1] == eos_id]
        live = [(t, s) for s, t in candidates if t[-1] != eos_id][:beam]
        if len(finished) >= beam:
            break
    else:
        finished += [(s / max_len**alpha, t) for t, s in live]
    return max(finished, key=lambda f: f[0])[1]


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong")])
def test_beam_search_equals_a_naive_beam_search(rng, cell, attention, length_penalty):
    """Batched beam search (state reordering, EOS rules, history of weights) against the plain algorithm."""
    model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=cell == "lstm")
    model.out.weight.data *= 3  # sharper distributions: hypotheses finish within max_len
    src, lengths, _ = _batch(rng, n=3)
    max_len, beam = 4, 3
    for eos in (2, 5):
        ids, weights = model.beam_search(src, lengths, max_len, 1, eos, beam_size=beam, length_penalty=length_penalty)
        for n in range(3):
            row = (src[n : n + 1], lengths[n : n + 1])
            best = _naive_beam_search(model, *row, max_len, 1, eos, beam, length_penalty)
            np.testing.assert_array_equal(ids[n, : len(best)], best)
            assert np.all(ids[n, len(best) :] == 0)
            for t in range(len(best)):  # the weights of each emitted token, given the tokens before it
                np.testing.assert_allclose(weights[n, t], _prefix_step(model, *row, best[:t], 1)[1], atol=1e-12)


class _ScriptedDecoder:
    """A stand-in for Seq2Seq whose next-token logits are a fixed random function of (source row, prefix).

    Its decoder state is the prefix itself, so beam search's bookkeeping (ranks, EOS,
    reordering, length penalty) is tested apart from any network, over many draws.
    """

    attention = None
    training = False

    def __init__(self, vocab: int, seed: int):
        self.tgt_vocab_size, self.seed = vocab, seed

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def encode(self, src, src_lengths=None):
        state = mr.models.DecoderState(src[None, :, :1].astype(np.int64))  # (1, N, 1): the source row's id
        return mr.models.Encoded(np.zeros(src.shape + (1,)), None, src_lengths, state, None)

    def repeat_encoded(self, encoded, times):
        index = np.repeat(np.arange(encoded.outputs.shape[0]), times)
        return encoded._replace(outputs=encoded.outputs[index], state=encoded.state.take(index))

    def decode_step(self, prev_ids, state, encoded):
        prefix = np.concatenate([state.h, prev_ids[None, :, None]], axis=2)  # (1, N, t + 2)
        logits = np.stack([np.random.default_rng([self.seed, *row]).standard_normal(self.tgt_vocab_size)
                           for row in prefix[0].tolist()])  # fmt: skip
        return logits, mr.models.DecoderState(prefix), None


@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0])
def test_beam_search_bookkeeping_equals_a_naive_beam_search(length_penalty):
    """EOS only among the top `beam`, `beam` survivors, done rows, the max_len cut-off: many random draws."""
    src, lengths = np.arange(4)[:, None] + np.zeros((1, 3), dtype=np.int64), np.full(4, 3)
    for seed in range(6):
        model = _ScriptedDecoder(vocab=4, seed=seed)
        for eos, beam, max_len in itertools.product((0, 3), (2, 3), (3, 5)):
            ids, _ = beam_search(model, src, lengths, max_len, 1, eos, beam_size=beam, length_penalty=length_penalty)
            for n in range(4):
                best = _naive_beam_search(model, src[n : n + 1], lengths[n : n + 1], max_len, 1, eos, beam,
                                          length_penalty)  # fmt: skip
                assert tuple(ids[n, : len(best)]) == best and not ids[n, len(best) :].any(), (seed, eos, beam, n)


def test_beam_search_improves_on_greedy_score(rng):
    model = _seq2seq(cell="lstm", num_layers=2)
    model.out.weight.data *= 4  # sharper distributions, so that greedy finishes within max_len in some row
    src, lengths, _ = _batch(rng, n=5)
    eos, max_len = 7, 8
    greedy_ids, _ = model.greedy_decode(src, lengths, max_len, bos_id=1, eos_id=eos)
    beam_ids, beam_w = model.beam_search(src, lengths, max_len, bos_id=1, eos_id=eos, beam_size=4,
                                         length_penalty=0.0)  # fmt: skip
    _check_format(beam_ids, beam_w, max_len, eos, src.shape[1])

    def strip(row):
        hits = np.flatnonzero(row == eos)
        return row[: hits[0] + 1] if hits.size else row

    compared = 0
    for n in range(5):
        # beam ranks finished hypotheses; greedy's may be unfinished, so compare like with like
        if eos in greedy_ids[n] and eos in beam_ids[n]:
            g = _sequence_score(model, src[n : n + 1], lengths[n : n + 1], strip(greedy_ids[n]), 1)
            b = _sequence_score(model, src[n : n + 1], lengths[n : n + 1], strip(beam_ids[n]), 1)
            assert b >= g - 1e-12, (n, b, g)
            compared += 1
    assert compared > 0, "no row where both finished: the comparison above never ran"


def test_decoding_restores_mode_and_keeps_no_caches(rng):
    model = _seq2seq(dropout=0.5)
    src, lengths, _ = _batch(rng)
    model.greedy_decode(src, lengths, 4, 1, 2)
    model.beam_search(src, lengths, 4, 1, 2, beam_size=3)
    assert model.training
    assert all(not m._caches for m in model.modules())
    # dropout is off while decoding: two runs agree
    a, _ = model.beam_search(src, lengths, 4, 1, 2, beam_size=3)
    b, _ = model.beam_search(src, lengths, 4, 1, 2, beam_size=3)
    np.testing.assert_array_equal(a, b)


# ============================================================================ numpy vs cupy


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong")])
def test_seq2seq_same_on_every_backend(rng, xp, cell, attention):
    """Forward, backward and both decoders agree with the NumPy run (skipped without a GPU)."""
    src, lengths, tgt_in = _batch(rng)
    dlogits = rng.standard_normal((3, 4, 8))
    results = []
    for backend in ("numpy", mr.backend.get_backend()):
        mr.set_backend(backend)
        mr.manual_seed(3)
        model = _seq2seq(cell=cell, attention=attention, num_layers=2, bidirectional_encoder=True)
        dev = mr.backend.backend_module(backend)
        args = (dev.asarray(src), lengths, dev.asarray(tgt_in))
        logits = model(*args)
        model.backward(dev.asarray(dlogits))
        greedy = model.greedy_decode(args[0], lengths, 6, 1, 2)
        beam = model.beam_search(args[0], lengths, 6, 1, 2, beam_size=3)
        host = mr.to_numpy
        grads = {name: host(g) for name, g in _grads(model).items()}
        results.append((host(logits), grads, tuple(map(host, greedy)), tuple(map(host, beam))))
    (l0, g0, greedy0, beam0), (l1, g1, greedy1, beam1) = results
    np.testing.assert_allclose(l1, l0, rtol=1e-10, atol=1e-12)
    for name in g0:
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-9, atol=1e-11, err_msg=name)
    for a, b in zip(greedy0 + beam0, greedy1 + beam1):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_decode_step_bad_input(rng):
    model = _seq2seq(cell="lstm", num_layers=2)
    src, lengths, _ = _batch(rng)
    encoded = model.encode(src, lengths)
    with pytest.raises(IndexError, match=r"prev_ids in \[0, 7\]"):
        model.decode_step(np.full(3, 8), encoded.state, encoded)
    with pytest.raises(ValueError, match="one per source row"):
        model.decode_step(np.full(2, 1), encoded.state, encoded)
    with pytest.raises(TypeError, match="DecoderState"):
        model.decode_step(np.full(3, 1), encoded.state.h, encoded)
    with pytest.raises(ValueError, match="state.c"):
        model.decode_step(np.full(3, 1), encoded.state._replace(c=encoded.state.c[:1]), encoded)
    assert all(not m._caches for m in model.modules())
