"""``EarlyStopping``: watch one value of the epoch record, keep the best, stop when it stalls."""

from __future__ import annotations

import math

TIEBREAK = "val_loss"  # breaks ties of any other monitored value (lower wins)


class EarlyStopping:
    """The best value of ``monitor`` so far, and whether ``patience`` epochs passed without beating it.

    ``monitor`` names a key of the epoch record (``"val_exact_match"``, ``"val_bleu"``,
    ``"loss"``, ...). A key ending in ``loss`` is minimised; every other key is maximised.
    ``patience=None`` never stops; the best value and epoch are tracked all the same
    (``fit`` writes ``best.npz`` when ``update`` reports an improvement).

    Ties are broken by ``val_loss`` when the record has it: an epoch whose monitored
    value equals the best (val BLEU 0.00 on a tiny validation set, epoch after epoch)
    but whose validation loss is lower counts as an improvement.

    ``state_dict()`` / ``load_state_dict()`` carry it through a checkpoint, so a resumed
    run counts the epochs without improvement from where the interrupted one stopped.
    """

    def __init__(self, monitor: str, patience: int | None = None):
        self.monitor = monitor
        self.patience = patience
        self.minimize = monitor.endswith("loss")
        self.best_value = None
        self.best_epoch = None
        self.best_tiebreak = None  # the val_loss of the best epoch, which breaks ties of the monitored value
        self.bad_epochs = 0
        self.stopped = False
        self.reason = ""

    def is_better(self, value) -> bool:
        """True when ``value`` beats the best so far (None and NaN never do)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_value is None:
            return True
        return value < self.best_value if self.minimize else value > self.best_value

    def _wins_tie(self, value, tiebreak) -> bool:
        """True when ``value`` equals the best and ``tiebreak`` (its val_loss) is lower than the best's."""
        if value is None or value != self.best_value or tiebreak is None or self.best_tiebreak is None:
            return False
        return not math.isnan(tiebreak) and tiebreak < self.best_tiebreak

    def update(self, record: dict) -> bool:
        """Take one epoch's record; True when it improved the monitored value."""
        if self.monitor not in record:
            recorded = ", ".join(k for k in record if k not in ("epoch", "time"))
            raise ValueError(f"fit: monitor={self.monitor!r} is not a value fit records; this run records {recorded}")
        value = record[self.monitor]
        tiebreak = record.get(TIEBREAK) if self.monitor != TIEBREAK else None
        improved = self.is_better(value) or self._wins_tie(value, tiebreak)
        if improved:
            self.best_value, self.best_epoch, self.bad_epochs = value, record.get("epoch"), 0
            self.best_tiebreak = tiebreak
        else:
            self.bad_epochs += 1
        if self.patience is not None and self.bad_epochs >= self.patience:
            self.stopped = True
            best = "no value" if self.best_value is None else f"best {self.best_value:.4f} at epoch {self.best_epoch}"
            self.reason = f"no improvement of {self.monitor} for {self.patience} epochs ({best})"
        return improved

    def state_dict(self) -> dict:
        """JSON-able state; the keys are those checkpoints have always stored under ``extra["fit"]``."""
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "best_tiebreak": self.best_tiebreak,
                "bad_epochs": self.bad_epochs,
                "monitor": self.monitor, "stopped_early": self.stopped, "stop_reason": self.reason}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state.get("best_value"), state.get("best_epoch")
        self.best_tiebreak = state.get("best_tiebreak")
        self.bad_epochs = int(state.get("bad_epochs", 0))
        # A run stopped early under a smaller patience continues under a larger one (its counter goes on
        # from the saved bad epochs); under the same or a smaller patience it stays stopped.
        self.stopped = bool(state.get("stopped_early", False)) and self.patience is not None \
            and self.bad_epochs >= self.patience
        self.reason = state.get("stop_reason", "") if self.stopped else ""
