"""How well a classifier does, class by class: accuracy, macro-F1, precision, recall, confusion.

With K classes, ``y`` the true class ids and ``ŷ`` the predicted ones (N of each), the
confusion matrix counts

    M_ij = #{n : y_n = i and ŷ_n = j}          rows: true class, columns: predicted class

and every metric is read off it (scikit-learn's definitions):

    accuracy      = sum_i M_ii / N
    precision_i   = M_ii / sum_j M_ji          of the texts predicted i, the share that are i
    recall_i      = M_ii / sum_j M_ij          of the texts that are i, the share found
    F1_i          = 2 precision_i recall_i / (precision_i + recall_i)
    support_i     = sum_j M_ij                 how many texts of class i there are
    macro-F1      = mean of F1_i over the classes that occur (in y or in ŷ)
    weighted-F1   = sum_i support_i F1_i / N

A ratio with a zero denominator is 0 (a class never predicted has precision 0), as
scikit-learn's ``zero_division=0``. Classes absent from both ``y`` and ``ŷ`` have no
rates at all: they are listed with support 0 but left out of the macro average, so a
rare class that misses the test split does not drag macro-F1 down.

Accuracy rewards the majority class: on data that is 90% one class, predicting that
class always scores 0.90. Macro-F1 gives each class the same say, so that model scores
about 0.95 / K, which is why the CLI selects classifiers on validation macro-F1.

Nothing here prints: :class:`ClassificationReport` holds the numbers, ``to_dict()``
gives them as plain JSON-ready values, and ``minirnn.viz.classification`` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..backend import backend_of, np, to_device, to_numpy
from ..nn import CrossEntropyLoss, inference_mode
from .batches import batches_for_epoch, unpack_batch


class ClassScores(NamedTuple):
    """One row of the report: a class and its precision, recall, F1, support and predictions."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int  # texts of this class
    predicted: int  # texts predicted as this class


def confusion_matrix(y_true, y_pred, num_classes: int):
    """(K, K) int64 counts, rows true class, columns predicted class (see the module docstring)."""
    y_true = np.asarray(to_numpy(y_true)).reshape(-1)
    y_pred = np.asarray(to_numpy(y_pred)).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.size} true labels but {y_pred.size} predictions")
    for name, ids in (("true labels", y_true), ("predictions", y_pred)):
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} must be class ids in [0, {num_classes - 1}], got values "
                             f"from {ids.min()} to {ids.max()} ({ids.dtype})")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return counts


def _ratio(numerator, denominator):
    """numerator / denominator elementwise, 0 where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


@dataclass
class ClassificationReport:
    """Per-class and overall scores of a classifier, computed from its confusion matrix.

    ``confusion[i, j]`` counts texts of class ``classes[i]`` predicted as ``classes[j]``.
    ``loss`` is the mean cross-entropy when the report came from a model (else None).
    """

    classes: list
    confusion: object  # (K, K) int64
    loss: float | None = None

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def support(self):
        return self.confusion.sum(axis=1)  # (K,) true texts per class

    @property
    def predicted(self):
        return self.confusion.sum(axis=0)  # (K,) predictions per class

    @property
    def precision(self):
        return _ratio(np.diag(self.confusion), self.predicted)

    @property
    def recall(self):
        return _ratio(np.diag(self.confusion), self.support)

    @property
    def f1(self):
        precision, recall = self.precision, self.recall
        return _ratio(2 * precision * recall, precision + recall)

    @property
    def present(self):
        """(K,) bool: the classes that occur among the true labels or the predictions."""
        return (self.support > 0) | (self.predicted > 0)

    @property
    def accuracy(self) -> float:
        return float(_ratio(np.trace(self.confusion), self.total))

    def _macro(self, values) -> float:
        present = self.present
        return float(values[present].mean()) if present.any() else 0.0

    @property
    def macro_f1(self) -> float:
        return self._macro(self.f1)

    @property
    def macro_precision(self) -> float:
        return self._macro(self.precision)

    @property
    def macro_recall(self) -> float:
        return self._macro(self.recall)

    @property
    def weighted_f1(self) -> float:
        return float(_ratio((self.f1 * self.support).sum(), self.total))

    @property
    def rows(self) -> list[ClassScores]:
        """One :class:`ClassScores` per class, in class order."""
        precision, recall, f1 = self.precision, self.recall, self.f1
        return [ClassScores(str(name), float(precision[i]), float(recall[i]), float(f1[i]), int(self.support[i]),
                            int(self.predicted[i])) for i, name in enumerate(self.classes)]

    def to_dict(self) -> dict:
        """Plain numbers, lists and strings (``json.dumps`` takes it as it is)."""
        return {
            "examples": self.total,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "weighted_f1": self.weighted_f1,
            "classes": [str(c) for c in self.classes],
            "per_class": [row._asdict() for row in self.rows],
            "confusion_matrix": self.confusion.tolist(),
        }


def classification_report(y_true, y_pred, classes, loss: float | None = None) -> ClassificationReport:
    """The report of predictions ``y_pred`` against ``y_true`` (class ids into ``classes``)."""
    classes = list(classes)
    if not classes:
        raise ValueError("classification_report needs at least one class name")
    return ClassificationReport(classes, confusion_matrix(y_true, y_pred, len(classes)), loss)


def predict_batches(model, batches, weight=None):
    """Run a classifier over ``batches`` in eval mode -> (true ids (N,), predicted ids (N,), mean loss).

    ``batches``: a ``BucketIterator`` (its epoch-0 order), or any iterable of batches with
    ``ids, lengths, labels`` (dicts, named tuples or tuples, as ``fit`` takes). The loss is
    the mean cross-entropy, class-weighted when ``weight`` (C,) is given.
    """
    backend = backend_of(model.parameters()[0].data)
    criterion = CrossEntropyLoss(weight=None if weight is None else tuple(float(w) for w in weight))
    truths, guesses, loss_sum, weight_sum = [], [], 0.0, 0.0
    with inference_mode(model):
        for batch in batches_for_epoch(batches, 0, None, shuffle=False):
            fields = unpack_batch(batch, "classify")
            labels = np.asarray(to_numpy(fields["labels"]), dtype=np.int64)
            logits = model(to_device(np.asarray(to_numpy(fields["ids"])), backend), fields["lengths"])
            batch_loss = criterion(logits, to_device(labels, backend))
            batch_weight = len(labels) if weight is None else float(np.asarray(weight)[labels].sum())
            loss_sum, weight_sum = loss_sum + batch_loss * batch_weight, weight_sum + batch_weight
            truths.append(labels)
            guesses.append(np.asarray(to_numpy(logits.argmax(axis=-1)), dtype=np.int64))
    if not truths:
        raise ValueError("predict_batches: there were no batches to predict")
    return np.concatenate(truths), np.concatenate(guesses), loss_sum / weight_sum if weight_sum else 0.0


def evaluate_classifier(model, batches, classes, weight=None) -> ClassificationReport:
    """Predict every batch with ``model`` and score it: a :class:`ClassificationReport` with the loss."""
    if len(classes) != model.num_classes:
        raise ValueError(f"evaluate_classifier: {len(classes)} class names for a model with "
                         f"{model.num_classes} classes")
    y_true, y_pred, loss = predict_batches(model, batches, weight)
    return classification_report(y_true, y_pred, classes, loss)


def balanced_class_weights(labels, num_classes: int):
    """scikit-learn's "balanced" class weights, (C,) float64.

        w_c = N / (K * count_c)       N labels, K the number of classes that occur in them

    A class with half the average count weighs 2, so every class brings the same total
    weight, N / K, to the loss. A class absent from ``labels`` gets 0 (it has nothing to
    weigh; scikit-learn refuses such a class).
    """
    labels = np.asarray(to_numpy(labels)).reshape(-1)
    if labels.size == 0 or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"balanced_class_weights needs class ids in [0, {num_classes - 1}], got "
                         f"{labels.size} labels" + (f" from {labels.min()} to {labels.max()}" if labels.size else ""))
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes).astype(np.float64)
    present = int((counts > 0).sum())
    return _ratio(np.full(num_classes, labels.size, dtype=np.float64), present * counts)
