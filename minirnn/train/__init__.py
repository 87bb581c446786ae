"""Training: the ``fit`` loop and its pieces, ``evaluate``, and the metrics they report."""

from .batches import unpack_batch
from .classification_metrics import (
    ClassificationReport,
    balanced_class_weights,
    classification_report,
    confusion_matrix,
    evaluate_classifier,
)
from .evaluation import evaluate
from .loop import EpochRunner, History, TrainingDiverged, fit, validate
from .metrics import exact_match_counts, strip_sequence, token_counts
from .run_state import RunState
from .stopping import EarlyStopping

__all__ = [
    "ClassificationReport",
    "EarlyStopping",
    "EpochRunner",
    "History",
    "RunState",
    "TrainingDiverged",
    "balanced_class_weights",
    "classification_report",
    "confusion_matrix",
    "evaluate",
    "evaluate_classifier",
    "exact_match_counts",
    "fit",
    "strip_sequence",
    "token_counts",
    "unpack_batch",
    "validate",
]
