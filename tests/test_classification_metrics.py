"""Classification metrics: the confusion matrix, accuracy, per-class precision/recall/F1, macro-F1,
balanced class weights, the evaluation of a model over batches, and their rendering.

References are computed here the slow way, one label at a time from the definitions
(scikit-learn's, with zero_division=0), never from the confusion matrix under test.
"""

import json

import numpy as np
import pytest

import minirnn as mr
from minirnn.data import BucketIterator
from minirnn.train.classification_metrics import (
    balanced_class_weights,
    classification_report,
    confusion_matrix,
    evaluate_classifier,
    predict_batches,
)
from minirnn.viz import classification_table, confusion_table


def _reference(y_true, y_pred, k):
    """(precision, recall, f1) lists and macro-F1 over the classes seen in y_true or y_pred."""
    precision, recall, f1 = [], [], []
    for c in range(k):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        predicted = sum(1 for p in y_pred if p == c)
        actual = sum(1 for t in y_true if t == c)
        pr = tp / predicted if predicted else 0.0
        rc = tp / actual if actual else 0.0
        precision.append(pr)
        recall.append(rc)
        f1.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
    seen = sorted(set(y_true) | set(y_pred))
    return precision, recall, f1, sum(f1[c] for c in seen) / len(seen)


def test_hand_worked_example():
    # a: 3 true, 2 found, no false alarms; b: 2 true, 1 found, 1 false alarm; c: 1 true, found, 1 false alarm
    report = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["a", "b", "c"])
    assert report.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report.accuracy == pytest.approx(4 / 6)
    assert [r.precision for r in report.rows] == pytest.approx([1.0, 0.5, 0.5])
    assert [r.recall for r in report.rows] == pytest.approx([2 / 3, 0.5, 1.0])
    assert [r.f1 for r in report.rows] == pytest.approx([0.8, 0.5, 2 / 3])
    assert report.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)  # every class counts the same ...
    assert report.weighted_f1 == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)  # ... not by support
    assert [r.support for r in report.rows] == [3, 2, 1] and [r.predicted for r in report.rows] == [2, 2, 2]


@pytest.mark.parametrize("seed", range(5))
def test_random_labels_match_the_definitions(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    y_true = rng.integers(0, k, size=int(rng.integers(1, 60)))
    y_pred = np.where(rng.random(y_true.size) < 0.6, y_true, rng.integers(0, k, size=y_true.size))
    report = classification_report(y_true, y_pred, [f"c{i}" for i in range(k)])
    precision, recall, f1, macro = _reference(y_true.tolist(), y_pred.tolist(), k)
    assert [r.precision for r in report.rows] == pytest.approx(precision, abs=1e-15)
    assert [r.recall for r in report.rows] == pytest.approx(recall, abs=1e-15)
    assert [r.f1 for r in report.rows] == pytest.approx(f1, abs=1e-15)
    assert report.macro_f1 == pytest.approx(macro, abs=1e-15)
    assert report.accuracy == pytest.approx(np.mean(y_true == y_pred), abs=1e-15)
    assert report.confusion.sum() == y_true.size


def test_majority_class_model_is_caught_by_macro_f1():
    y_true = np.array([0] * 90 + [1] * 5 + [2] * 5)
    report = classification_report(y_true, np.zeros(100, dtype=np.int64), ["common", "rare", "rarer"])
    assert report.accuracy == pytest.approx(0.90)
    assert report.macro_f1 == pytest.approx((2 * 0.9 / 1.9) / 3)  # about 0.316
    assert report.rows[1].precision == 0.0 and report.rows[1].f1 == 0.0  # never predicted: 0, not NaN


def test_a_class_absent_from_truth_and_predictions_is_not_averaged():
    report = classification_report([0, 1, 1], [0, 1, 0], ["a", "b", "never"])
    assert report.present.tolist() == [True, True, False]
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3) / 2)
    table = classification_table(report)
    assert "never" in table and table.splitlines()[4].split()[1:] == ["-", "-", "-", "0"]


def test_to_dict_is_json_ready():
    report = classification_report(np.array([1, 0]), np.array([1, 1]), ["neg", "pos"], loss=0.25)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["accuracy"] == 0.5 and data["loss"] == 0.25 and data["classes"] == ["neg", "pos"]
    assert data["confusion_matrix"] == [[0, 1], [0, 1]]
    assert data["per_class"][1] == {"name": "pos", "precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                    "support": 1, "predicted": 2}


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        confusion_matrix([0, 1, 1], [0, 1], 2)
    with pytest.raises(ValueError, match=r"predictions must be class ids in \[0, 1\]"):
        confusion_matrix([0, 1], [0, 2], 2)
    with pytest.raises(ValueError, match="at least one class"):
        classification_report([], [], [])


def test_balanced_weights_are_scikit_learns():
    labels = np.array([0] * 6 + [1] * 3 + [3] * 1)  # class 2 absent
    weights = balanced_class_weights(labels, 4)
    # n_samples / (n_classes * count) with the 3 classes that occur
    assert weights.tolist() == pytest.approx([10 / 18, 10 / 9, 0.0, 10 / 3])
    assert np.bincount(labels, weights=weights[labels]).tolist() == pytest.approx([10 / 3, 10 / 3, 0, 10 / 3])
    with pytest.raises(ValueError, match="class ids"):
        balanced_class_weights(np.array([0, 4]), 4)


def _toy_model_and_batches():
    mr.manual_seed(0)
    rng = np.random.default_rng(0)
    model = mr.models.SequenceClassifier(10, 3, embed_dim=4, hidden_size=5, dtype="float64")
    seqs = [rng.integers(4, 10, size=int(rng.integers(1, 6))).tolist() for _ in range(23)]
    labels = rng.integers(0, 3, size=23)
    return model, BucketIterator(seqs, labels=labels, batch_size=5, shuffle=False), labels


def test_predict_batches_agrees_with_the_model_and_the_loss():
    model, batches, labels = _toy_model_and_batches()
    y_true, y_pred, loss = predict_batches(model, batches)
    assert sorted(y_true.tolist()) == sorted(labels.tolist()) and y_pred.shape == y_true.shape
    expected_pred, expected_loss = [], 0.0
    for batch in batches:
        logits = model(batch.ids, batch.lengths)
        expected_pred.extend(logits.argmax(axis=-1).tolist())
        expected_loss += mr.CrossEntropyLoss(reduction="sum")(logits, batch.labels)
    assert y_pred.tolist() == expected_pred
    assert loss == pytest.approx(expected_loss / 23, abs=1e-12)
    assert model.training  # the mode is restored


def test_weighted_evaluation_loss_is_the_weighted_mean():
    model, batches, _ = _toy_model_and_batches()
    weight = np.array([0.5, 2.0, 1.0])
    report = evaluate_classifier(model, batches, ["x", "y", "z"], weight=weight)
    total, weights = 0.0, 0.0
    for batch in batches:
        losses = mr.CrossEntropyLoss(reduction="none")(model(batch.ids, batch.lengths), batch.labels)
        total += float(np.sum(weight[batch.labels] * losses))
        weights += float(weight[batch.labels].sum())
    assert report.loss == pytest.approx(total / weights, abs=1e-12)
    assert report.total == 23
    with pytest.raises(ValueError, match="2 class names for a model with 3 classes"):
        evaluate_classifier(model, batches, ["x", "y"])


def test_terminal_rendering():
    report = classification_report([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["negative", "a very long class name indeed!"])
    table = classification_table(report)
    lines = table.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "F1", "support"]
    assert lines[2].split() == ["negative", "0.500", "0.500", "0.500", "2"]
    assert lines[-3].split() == ["accuracy", "0.600", "5"]
    assert lines[-2].split()[:2] == ["macro", "avg"]
    matrix = confusion_table(report, max_name=10)
    rows = matrix.splitlines()
    assert "rows: true class" in rows[0]
    assert rows[2].split() == ["1", "negative", "1", "1"]
    assert rows[3].startswith("2 a very lo…") and rows[3].split()[-2:] == ["1", "2"]
    zero = confusion_table(classification_report([0, 1], [0, 1], ["a", "b"])).splitlines()
    assert zero[2].split() == ["1", "a", "1", "·"]


def test_confusion_png(tmp_path):
    pytest.importorskip("matplotlib")
    from minirnn.viz import save_confusion_png

    report = classification_report([0, 1, 2, 2], [0, 2, 2, 1], ["a", "b", "c"])
    path = save_confusion_png(tmp_path / "out" / "confusion.png", report)
    assert path.endswith("confusion.png") and (tmp_path / "out" / "confusion.png").stat().st_size > 1000


def test_score_classifier_on_a_users_examples():
    from minirnn.data import Vocab
    from minirnn.train.recipes import score_classifier

    mr.manual_seed(1)
    vocab = Vocab(list("ACGT"))
    model = mr.models.SequenceClassifier(len(vocab), 2, embed_dim=4, hidden_size=5)
    examples = [("ACGTTA", "1"), ("GGC", "0"), ("TATAAT", "1")]  # a file's labels are strings ...
    report = score_classifier(model, vocab, [0, 1], examples, mode="char", lower=False)  # ... the DNA classes ints
    assert report.total == 3 and report.confusion.sum(axis=1).tolist() == [1, 2]
    assert report.to_dict()["classes"] == ["0", "1"]
    with pytest.raises(ValueError, match=r"1 label\(s\) the model was not trained on: 'maybe'"):
        score_classifier(model, vocab, [0, 1], examples + [("AC", "maybe")], mode="char")
    with pytest.raises(ValueError, match="no examples"):
        score_classifier(model, vocab, [0, 1], [], mode="char")
