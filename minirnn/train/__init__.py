"""Training: the ``fit`` loop, ``evaluate``, and the metrics they report."""

from .loop import History, TrainingDiverged, evaluate, fit, unpack_batch
from .metrics import exact_match_counts, strip_sequence, token_counts

__all__ = [
    "History",
    "TrainingDiverged",
    "evaluate",
    "exact_match_counts",
    "fit",
    "strip_sequence",
    "token_counts",
    "unpack_batch",
]
