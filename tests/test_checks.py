"""Scalar argument checks: one set of rules in ``minirnn.checks``, used by every layer,
model, optimiser, data and training entry point; and every backward validates its
upstream gradient before it pops the forward's cache, so a corrected retry works."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minirnn as mr
from minirnn import checks
from minirnn.data import BucketIterator, Vocab, date_pairs, dna_motif, pad_sequences, train_val_split
from minirnn.models import Seq2Seq, SequenceClassifier
from minirnn.optim import SGD, ExponentialLR, StepLR, clip_grad_norm
from minirnn.train.inference import translate

W = "Where"

# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("value, expected", [(3, 3), (2.0, 2), (np.int64(4), 4), (np.float32(5.0), 5)])
def test_positive_int_accepts_whole_numbers_and_returns_an_int(value, expected):
    out = checks.check_positive_int(value, W, "size")
    assert out == expected and type(out) is int


@pytest.mark.parametrize(
    "value, error, shown",
    [
        (0, ValueError, "0"),
        (-2, ValueError, "-2"),
        (2.5, ValueError, "2.5"),
        (math.nan, ValueError, "nan"),
        (math.inf, ValueError, "inf"),
        (True, TypeError, r"True \(bool\)"),
        (np.bool_(True), TypeError, r"(np\.True_|True) \(bool"),  # NumPy 2 | 1
        ("3", TypeError, r"'3' \(str\)"),
        (None, TypeError, r"None \(NoneType\)"),
        (np.array([3]), TypeError, r"array\(\[3\]\) \(ndarray\)"),
    ],
)
def test_positive_int_rejects_and_says_what_came(value, error, shown):
    with pytest.raises(error, match=rf"^Where expects size to be a positive integer, got {shown}"):
        checks.check_positive_int(value, W, "size")


def test_nonnegative_int_and_int_in_a_range():
    assert checks.check_nonnegative_int(0, W, "n") == 0
    with pytest.raises(ValueError, match=r"^Where expects n to be a non-negative integer, got -1$"):
        checks.check_nonnegative_int(-1, W, "n")
    with pytest.raises(TypeError, match=r"non-negative integer, got False \(bool\)"):
        checks.check_nonnegative_int(False, W, "n")
    assert checks.check_int(-7, W, "i") == -7
    assert checks.check_int(4.0, W, "i", -5, 4) == 4
    with pytest.raises(ValueError, match=r"^Where expects i to be an integer in \[-5, 4\], got 5$"):
        checks.check_int(5, W, "i", -5, 4)
    with pytest.raises(ValueError, match=r"^Where expects i to be an integer >= 4, got 3$"):
        checks.check_int(3, W, "i", low=4)


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, np.float32(0.25), np.float64(1.0)])
def test_probability_accepts_numbers_in_the_closed_unit_interval(value):
    out = checks.check_probability(value, W, "p")
    assert out == value and type(out) is float


@pytest.mark.parametrize(
    "value, error, shown",
    [(-0.1, ValueError, "-0.1"), (1.5, ValueError, "1.5"), (math.nan, ValueError, "nan"),
     (True, TypeError, r"True \(bool\)"), (False, TypeError, r"False \(bool\)"), ("0.5", TypeError, r"'0.5' \(str\)")],
)  # fmt: skip
def test_probability_rejects_bools_and_values_outside_0_1(value, error, shown):
    with pytest.raises(error, match=rf"^Where expects p to be a number in \[0, 1\], got {shown}"):
        checks.check_probability(value, W, "p")


def test_positive_float_number_real_and_choice():
    assert checks.check_positive_float(3, W, "x") == 3.0
    for bad in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^Where expects x to be a finite positive number, got"):
            checks.check_positive_float(bad, W, "x")
    assert checks.check_number(math.inf, W, "x") == math.inf  # no upper bound given
    assert checks.check_number(0.5, W, "x", high=1.0, high_inclusive=False) == 0.5
    with pytest.raises(ValueError, match=r"^Where expects x to be a real number in \[0.0, 1.0\), got 1.0$"):
        checks.check_number(1.0, W, "x", high=1.0, high_inclusive=False)
    with pytest.raises(ValueError, match=r"^Where expects x to be a real number >= 0.0, got nan$"):
        checks.check_number(math.nan, W, "x")
    assert checks.check_real(-2, W, "x") == -2.0
    with pytest.raises(ValueError, match=r"^Where expects x to be a finite real number, got inf$"):
        checks.check_real(math.inf, W, "x")
    assert checks.check_choice("b", ("a", "b"), W, "kind") == "b"
    with pytest.raises(ValueError, match=r"^Where expects kind to be one of 'a', 'b', got 'c'$"):
        checks.check_choice("c", ("a", "b"), W, "kind")
    with pytest.raises(ValueError, match=r"got array\("):  # no elementwise comparison, no ambiguity error
        checks.check_choice(np.array(["a", "b"]), ("a", "b"), W, "kind")


# ----------------------------------------------------------------------------- every entry point uses them

PARAMS = [mr.Parameter(np.zeros(2))]

BAD_ARGUMENTS = [
    (lambda: mr.Linear(-1, 3), ValueError, r"Linear expects in_features to be a positive integer, got -1"),
    (lambda: mr.Linear(4, 0), ValueError, r"Linear expects out_features to be a positive integer, got 0"),
    (lambda: mr.Linear(2.5, 3), ValueError, r"Linear expects in_features to be a positive integer, got 2.5"),
    (lambda: mr.Embedding(0, 3), ValueError, r"Embedding expects num_embeddings to be a positive integer, got 0"),
    (lambda: mr.Embedding(5, True), TypeError, r"Embedding expects embedding_dim to be a positive integer, got True"),
    (lambda: mr.Embedding(5, 3, padding_idx=5), ValueError, r"padding_idx to be an integer in \[-5, 4\], got 5"),
    (lambda: mr.Embedding(5, 3, padding_idx=1.5), ValueError, r"padding_idx to be an integer in \[-5, 4\], got 1.5"),
    (lambda: mr.Dropout(True), TypeError, r"Dropout expects p to be a number in \[0, 1\], got True \(bool\)"),
    (lambda: mr.Dropout(1.5), ValueError, r"Dropout expects p to be a number in \[0, 1\], got 1.5"),
    (lambda: mr.Dropout(math.nan), ValueError, r"Dropout expects p to be a number in \[0, 1\], got nan"),
    (lambda: mr.GRU(4, 0), ValueError, r"GRU expects hidden_size to be a positive integer, got 0"),
    (lambda: mr.LSTM(4, 3, num_layers=True), TypeError, r"LSTM expects num_layers to be a positive integer, got True"),
    (lambda: mr.RNN(2.5, 3), ValueError, r"RNN expects input_size to be a positive integer, got 2.5"),
    (lambda: mr.GRU(4, 3, dropout=True), TypeError, r"GRU expects dropout to be a number in \[0, 1\], got True"),
    (lambda: mr.GRU(4, 3, dropout=-0.5), ValueError, r"GRU expects dropout to be a number in \[0, 1\], got -0.5"),
    (lambda: mr.LSTM(4, 3, proj_size=3), ValueError, r"LSTM expects proj_size .* integer in \[0, 2\], got 3"),
    (lambda: mr.LSTM(4, 3, proj_size=-1), ValueError, r"LSTM expects proj_size .* integer in \[0, 2\], got -1"),
    (lambda: mr.GRU(4, 3, impl="fastest"), ValueError, r"GRU expects impl to be one of 'reference', 'fast'"),
    (lambda: mr.RNN(4, 3, nonlinearity="sigmoid"), ValueError, r"RNN expects nonlinearity to be one of 'tanh'"),
    (lambda: mr.GRUCell(0, 3), ValueError, r"GRUCell expects input_size to be a positive integer, got 0"),
    (lambda: mr.LSTMCell(4, "3"), TypeError, r"LSTMCell expects hidden_size to be a positive integer, got '3'"),
    (lambda: mr.RNNCell(4, 3, nonlinearity="gelu"), ValueError, r"RNNCell expects nonlinearity to be one of"),
    (lambda: mr.BahdanauAttention(0), ValueError, r"BahdanauAttention expects query_size to be a positive integer"),
    (lambda: mr.BahdanauAttention(4, attn_size=-2), ValueError, r"expects attn_size to be a positive integer, got -2"),
    (lambda: mr.LuongAttention(4, kind="concat"), ValueError, r"LuongAttention expects kind to be one of 'dot'"),
    (lambda: mr.CrossEntropyLoss(reduction="avg"), ValueError, r"reduction to be one of 'mean', 'sum', 'none', got 'a"),
    (lambda: mr.CrossEntropyLoss(label_smoothing=True), TypeError, r"label_smoothing to be a number in \[0, 1\]"),
    (lambda: mr.CrossEntropyLoss(ignore_index=0.5), ValueError, r"ignore_index to be an integer, got 0.5"),
    (lambda: SequenceClassifier(10, 2, num_layers=0), ValueError, r"num_layers to be a positive integer, got 0"),
    (lambda: Seq2Seq(10, 10, dropout=True), TypeError, r"Seq2Seq expects dropout to be a number in \[0, 1\]"),
    (lambda: SGD(PARAMS, lr=0.1, momentum=-0.5), ValueError, r"SGD expects momentum to be a real number >= 0.0"),
    (lambda: StepLR(SGD(PARAMS, lr=0.1), step_size=True), TypeError, r"StepLR expects step_size to be a positive"),
    (lambda: ExponentialLR(SGD(PARAMS, lr=0.1), gamma=math.inf), ValueError, r"gamma to be a finite positive number"),
    (lambda: clip_grad_norm(PARAMS, 1.0, norm_type=0), ValueError, r"norm_type to be a positive number or inf"),
    (lambda: Vocab.build([["a"]], min_freq=True), TypeError, r"Vocab.build expects min_freq to be a positive integer"),
    (lambda: Vocab.build([["a"]], max_size=3), ValueError, r"Vocab.build expects max_size to be an integer >= 4"),
    (lambda: BucketIterator([[1]], labels=[0], batch_size=0), ValueError, r"BucketIterator expects batch_size to be"),
    (lambda: pad_sequences([[1, 2]], max_len=-1), ValueError, r"pad_sequences expects max_len to be a non-negative"),
    (lambda: date_pairs(2.5), ValueError, r"date_pairs expects n to be a non-negative integer, got 2.5"),
    (lambda: dna_motif(4, decoy_rate=1.5), ValueError, r"dna_motif expects decoy_rate to be a number in \[0, 1\]"),
    (lambda: train_val_split([1, 2], 1.0), ValueError, r"val_fraction to be a real number in \[0.0, 1.0\), got 1.0"),
    (lambda: mr.check_gradients(lambda: 0.0, {}, {}, eps=0), ValueError, r"check_gradients expects eps to be a fin"),
    (lambda: mr.check_gradients(lambda: 0.0, {}, {}, num_directions=0), ValueError, r"num_directions to be a posit"),
]  # fmt: skip


@pytest.mark.parametrize("make, error, message", BAD_ARGUMENTS, ids=[m for _, _, m in BAD_ARGUMENTS])
def test_bad_arguments_are_named_at_the_entry_point(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_fit_and_translate_check_their_counts():
    model = Seq2Seq(6, 6, embed_dim=4, hidden_size=4)
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"fit expects epochs to be a non-negative integer, got -1"):
        mr.fit(model, [], optimizer=opt, epochs=-1)
    with pytest.raises(TypeError, match=r"fit expects patience \(or None\) to be a positive integer, got True"):
        mr.fit(model, [], optimizer=opt, patience=True)
    with pytest.raises(ValueError, match=r"fit expects clip \(or None\) to be a finite positive number, got 0"):
        mr.fit(model, [], optimizer=opt, clip=0)
    with pytest.raises(ValueError, match=r"fit expects task to be one of 'seq2seq', 'classify', got 'regress'"):
        mr.fit(model, [], optimizer=opt, task="regress")
    vocab = Vocab.build([["a", "b"]])
    with pytest.raises(ValueError, match=r"translate expects beam_size to be a positive integer, got 0"):
        translate(model, vocab, vocab, "a b", beam_size=0)


def test_whole_floats_count_as_sizes():
    """One rule everywhere: 2.0 is a size, as models have always accepted."""
    assert mr.Linear(4.0, 2.0).weight.shape == (2, 4)
    assert mr.GRU(3.0, 2, num_layers=2.0).num_layers == 2
    assert mr.Embedding(np.int64(5), 3).num_embeddings == 5


# ----------------------------------------------------------------------------- validate, then pop


def test_dropout_backward_checks_before_popping(rng):
    drop = mr.Dropout(0.5).train()
    y = drop(np.ones((4, 5)))  # y is the scaled mask itself
    dy = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match=r"Dropout.backward expects dy of shape \(4, 5\), got \(5, 4\)"):
        drop.backward(dy.T)
    with pytest.raises(TypeError, match=r"Dropout.backward expects dy of dtype float64 .*got float32"):
        drop.backward(dy.astype(np.float32))
    with pytest.raises(TypeError, match=r"Dropout.backward expects dy to be a numpy or cupy array, got list"):
        drop.backward(dy.tolist())
    np.testing.assert_array_equal(drop.backward(dy), dy * y)
    with pytest.raises(RuntimeError, match=r"Dropout.backward called without a matching forward"):
        drop.backward(dy)

    drop.eval()
    drop(np.ones(3))
    with pytest.raises(ValueError, match=r"Dropout.backward expects dy of shape \(3,\), got \(4,\)"):
        drop.backward(np.ones(4))
    np.testing.assert_array_equal(drop.backward(np.arange(3.0)), np.arange(3.0))


def test_dropout_rejects_integer_input():
    with pytest.raises(TypeError, match=r"Dropout expects a floating input, got dtype int64"):
        mr.Dropout(0.5)(np.ones(3, dtype=np.int64))


def test_cross_entropy_backward_checks_before_popping(rng):
    logits, target = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4))
    crit, fresh = mr.CrossEntropyLoss(), mr.CrossEntropyLoss()
    crit(logits, target)
    fresh(logits, target)
    with pytest.raises(ValueError, match=r"expects a scalar dloss for reduction='mean', got shape \(3, 4\)"):
        crit.backward(np.ones((3, 4)))
    with pytest.raises(TypeError, match=r"CrossEntropyLoss.backward expects dloss to be a finite real number"):
        crit.backward("1.0")
    with pytest.raises(ValueError, match=r"CrossEntropyLoss.backward expects dloss to be a finite real number"):
        crit.backward(math.nan)
    np.testing.assert_array_equal(crit.backward(2.0), fresh.backward(2.0))

    crit = mr.CrossEntropyLoss(reduction="none")
    crit(logits, target)
    dloss = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match=r"expects dloss \(the shape of target\) of shape \(3, 4\), got \(4, 3\)"):
        crit.backward(dloss.T)
    with pytest.raises(TypeError, match=r"expects dloss of dtype float64 \(the dtype of the logits\), got float32"):
        crit.backward(dloss.astype(np.float32))
    assert crit.backward(dloss).shape == (3, 4, 5)
    with pytest.raises(RuntimeError, match=r"CrossEntropyLoss.backward called without a matching forward"):
        crit.backward(dloss)


RETRIES = [
    # (module, forward, a rejected upstream, the right upstream)
    (lambda: mr.Embedding(7, 3, dtype="float64"), lambda m: m(np.array([1, 2])), np.zeros((2, 4)), np.ones((2, 3))),
    (lambda: mr.GRUCell(2, 3, dtype="float64"), lambda m: m(np.ones((4, 2))), np.zeros((3, 4)), np.ones((4, 3))),
    (lambda: mr.RNNCell(2, 3, dtype="float64"), lambda m: m(np.ones(2)), np.zeros(4), np.ones(3)),
    (lambda: mr.GRU(2, 3, batch_first=True, dtype="float64"), lambda m: m(np.ones((4, 5, 2))),
     np.zeros((5, 4, 3)), np.ones((4, 5, 3))),
    (lambda: SequenceClassifier(7, 2, embed_dim=3, hidden_size=3, dtype="float64"),
     lambda m: m(np.array([[1, 2, 3]]), np.array([3])), np.zeros((1, 3)), np.ones((1, 2))),
]  # fmt: skip


@pytest.mark.parametrize("make, forward, bad, good", RETRIES, ids=["Embedding", "GRUCell", "RNNCell", "GRU", "clf"])
def test_a_rejected_backward_can_be_retried(make, forward, bad, good):
    module = make()
    forward(module)
    with pytest.raises(ValueError, match=r"backward expects"):
        module.backward(bad)
    module.backward(good)  # the forward's cache is still there
    with pytest.raises(RuntimeError, match=r"without a matching forward"):
        module.backward(good)
