"""CrossEntropyLoss: checks its inputs and keeps the cache; the math is in ``functional.loss``."""

from __future__ import annotations

from ..backend import backend_of, get_array_module, is_array, np, to_device, to_numpy
from ..checks import (
    check_array,
    check_choice,
    check_finite,
    check_float,
    check_int,
    check_probability,
    check_real,
    check_shape,
)
from ..functional import loss as F
from .module import Module


class CrossEntropyLoss(Module):
    """Cross-entropy over class logits, like ``torch.nn.CrossEntropyLoss`` on flattened inputs.

    ``loss = crit(logits, target)`` with logits (..., C) and integer targets (...);
    ``dlogits = crit.backward(dloss=None)``.

    * ``reduction="mean"`` divides the summed loss by the number of real tokens (targets
      not equal to ``ignore_index``), not by the number of positions.
    * ``label_smoothing=eps`` uses the target distribution (1 - eps) onehot(y) + eps / C.
    * ``weight`` (C,) rescales each class's loss as in torch: token m counts
      ``weight[y_m]`` times, and "mean" divides by the summed weight of the real targets
      (PyTorch's weighted mean). It must have the logits' dtype (a list or tuple is
      converted to it); it follows the logits to their device. Unlike torch it is the
      last argument, so that ``CrossEntropyLoss(0)`` keeps meaning ``ignore_index=0``.
    * Returns a Python float for "mean" and "sum", and an array of the target's shape for
      "none" (0 at ignored positions).
    * Departure from PyTorch: when every target is ignored the "mean" loss is 0 with a zero
      gradient, where PyTorch gives NaN (0 / 0).

    The equations are in ``minirnn.functional.loss``.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0,
                 weight=None):
        super().__init__()
        self.ignore_index = check_int(ignore_index, "CrossEntropyLoss", "ignore_index")
        self.reduction = check_choice(reduction, F.REDUCTIONS, "CrossEntropyLoss", "reduction")
        self.label_smoothing = check_probability(label_smoothing, "CrossEntropyLoss", "label_smoothing")
        self.weight = None if weight is None else _check_weight(weight)

    def _weight_for(self, logits):
        """The class weights on the logits' device, checked against their dtype and C."""
        if self.weight is None:
            return None
        where, weight = "CrossEntropyLoss", self.weight
        if not is_array(weight):  # a tuple: no dtype of its own, so it takes the logits'
            weight = to_device(np.asarray(weight, dtype=logits.dtype), backend_of(logits))
        elif weight.dtype != logits.dtype:
            raise TypeError(f"{where} weight has dtype {weight.dtype} but the logits have {logits.dtype}; "
                            "give both the same dtype")
        elif backend_of(weight) != backend_of(logits):
            weight = to_device(weight, backend_of(logits))
        if weight.shape[0] != logits.shape[-1]:
            raise ValueError(f"{where} weight has {weight.shape[0]} entries but the logits have "
                             f"C = {logits.shape[-1]} classes; give one weight per class")
        return weight

    def forward(self, logits, target):
        """logits (..., C) float, target (...) int -> float ("mean"/"sum") or (...) array ("none")."""
        where = "CrossEntropyLoss"
        check_array(logits, where, "logits")
        check_array(target, where, "target")
        if logits.dtype.kind != "f":
            raise TypeError(f"{where} expects floating logits, got dtype {logits.dtype}")
        if logits.ndim < 1:
            raise ValueError(f"{where} expects logits of shape (..., C), got a 0-D array")
        if target.dtype.kind not in "iu":
            raise TypeError(f"{where} expects integer class ids as target, got dtype {target.dtype}")
        check_shape(target, logits.shape[:-1], where, "target (the shape of logits without its class axis)")
        check_finite(logits, where, "logits")
        xp = get_array_module(logits)
        target = xp.asarray(target)
        num_classes = logits.shape[-1]
        real = target[target != self.ignore_index]
        if real.size:
            low, high = int(real.min()), int(real.max())
            if low < 0 or high >= num_classes:
                bad = low if low < 0 else high
                raise IndexError(
                    f"{where} expects targets in [0, {num_classes - 1}] (C = {num_classes} classes) "
                    f"or ignore_index={self.ignore_index}, got {bad}"
                )
        weight = self._weight_for(logits)
        loss, cache = F.cross_entropy_forward(logits, target, self.ignore_index, self.reduction, self.label_smoothing,
                                              weight)
        self._save(cache)
        return loss if self.reduction == "none" else float(loss)

    def backward(self, dloss=None):
        """dloss: None (= 1.0) or a scalar for "mean"/"sum"; the per-token upstream (...) for "none".

        Returns dlogits (..., C).
        """
        cache = self._peek()  # popped once dloss passes its checks
        dloss = self._check_dloss(dloss, cache)
        self._restore()
        return F.cross_entropy_backward(dloss, cache)

    def _check_dloss(self, dloss, cache):
        """``dloss`` checked against the cached forward: 1.0 for None, a float for a scalar."""
        where = "CrossEntropyLoss.backward"
        if dloss is None:
            return 1.0
        if not is_array(dloss):
            return check_real(dloss, where, "dloss")
        if self.reduction == "none":
            check_float(dloss, cache.probs.dtype, where, "dloss", source="the dtype of the logits")
            return check_shape(dloss, cache.target_shape, where, "dloss (the shape of target)")
        if dloss.size != 1:
            raise ValueError(
                f"{where} expects a scalar dloss for reduction={self.reduction!r}, got shape {tuple(dloss.shape)}"
            )
        return dloss.reshape(())

    def extra_repr(self) -> str:
        weight = "" if self.weight is None else f", weight=({len(self.weight)} classes)"
        return (f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
                f"label_smoothing={self.label_smoothing}{weight}")


def _check_weight(weight):
    """A 1-D, finite, non-negative array, or list or tuple, of class weights (a list becomes a tuple)."""
    where = "CrossEntropyLoss"
    if isinstance(weight, (list, tuple)):
        weight = tuple(float(w) for w in weight)
        values = np.asarray(weight, dtype=np.float64)
    elif is_array(weight):
        if weight.dtype.kind != "f":
            raise TypeError(f"{where} expects floating class weights, got dtype {weight.dtype}")
        values = to_numpy(weight)
    else:
        raise TypeError(f"{where} weight must be an array or a list of C class weights, got {type(weight).__name__}")
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{where} weight must be 1-D with one entry per class, got shape {tuple(values.shape)}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{where} class weights must be finite and non-negative, got {values.tolist()}")
    return weight
