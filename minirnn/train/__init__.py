"""Training: the ``fit`` loop and its pieces, ``evaluate``, and the metrics they report."""

from .batches import unpack_batch
from .evaluation import evaluate
from .loop import EpochRunner, History, TrainingDiverged, fit, validate
from .metrics import exact_match_counts, strip_sequence, token_counts
from .run_state import RunState
from .stopping import EarlyStopping

__all__ = [
    "EarlyStopping",
    "EpochRunner",
    "History",
    "RunState",
    "TrainingDiverged",
    "evaluate",
    "exact_match_counts",
    "fit",
    "strip_sequence",
    "token_counts",
    "unpack_batch",
    "validate",
]
