"""Cross-entropy loss over class logits, with ignore_index, reductions and label smoothing.

Notation (row-major, as in the code): the leading axes of ``logits`` are flattened
into M rows, one per token, so ``z`` is (M, C) and ``y`` (M,) holds class ids.

    log p_m  = log_softmax(z_m) = z_m - max(z_m) - log sum_c exp(z_mc - max(z_m))
    r_m      = [y_m != ignore_index]                    1 for a real token, 0 for padding
    nll_m    = -log p_m[y_m]
    smooth_m = -(1/C) sum_c log p_mc                     (cross-entropy against the uniform)
    l_m      = r_m * ((1 - eps) * nll_m + eps * smooth_m)         eps = label_smoothing

This is PyTorch's ``F.cross_entropy`` with ``label_smoothing=eps``: the target
distribution is ``(1 - eps) * onehot(y) + eps / C``.

Reductions:

* ``"none"``: the per-token losses ``l`` in the shape of ``target``; ignored tokens give 0.
* ``"sum"``:  sum_m l_m.
* ``"mean"``: sum_m l_m / sum_m r_m, i.e. **divide by the number of real tokens**, not by
  M. Padding must not dilute the loss (the cs231n masked-loss mistake).

One departure from PyTorch: when every target is ``ignore_index``, the ``"mean"`` loss
is 0 and its gradient is 0. PyTorch returns 0/0 = NaN. A batch made only of padding
carries no signal, and a NaN would poison every parameter through the optimiser.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from .activations import log_softmax

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyCache(NamedTuple):
    probs: object  # (M, C) softmax(z), the post-activation values
    target: object  # (M,) class ids, ignored positions replaced by 0
    real: object  # (M,) 1.0 for a real token, 0.0 for an ignored one (dtype of logits)
    logits_shape: tuple  # (..., C) the shape to give dlogits back in
    target_shape: tuple  # (...) the shape of the 'none' losses
    reduction: str
    label_smoothing: float
    num_real: int  # sum_m r_m


def cross_entropy_forward(
    logits, target, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0
):
    """Cross-entropy of ``logits`` against class ids ``target`` (see the module docstring).

    ==========  ===============================================================
    logits z    (..., C) float
    target y    (...) int, each in [0, C) or equal to ignore_index
    loss        0-d array for "mean"/"sum"; (...) for "none"
    ==========  ===============================================================

    The caller checks that targets are in range (``nn.CrossEntropyLoss`` does). The
    log-softmax subtracts each row's maximum first, so logits of +-1e4 stay finite.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy reduction must be one of {REDUCTIONS}, got {reduction!r}")
    xp = get_array_module(logits)
    num_classes = logits.shape[-1]
    z = logits.reshape(-1, num_classes)  # (M, C)
    y = target.reshape(-1)  # (M,)
    real_mask = y != ignore_index
    y_safe = xp.where(real_mask, y, 0)  # a valid index where the token is ignored
    real = real_mask.astype(z.dtype)  # (M,)
    num_real = int(real_mask.sum())

    log_probs = log_softmax(z, axis=-1)  # (M, C)
    rows = xp.arange(z.shape[0])
    nll = -log_probs[rows, y_safe]  # (M,)
    if label_smoothing == 0.0:
        per_token = nll
    else:
        smooth = -log_probs.mean(axis=-1)  # (M,) -(1/C) sum_c log p_mc
        per_token = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    per_token = per_token * real  # ignored tokens contribute exactly 0

    if reduction == "none":
        loss = per_token.reshape(target.shape)
    elif reduction == "sum":
        loss = per_token.sum()
    else:  # "mean": divide by the number of real tokens; 0 (not NaN) when there are none
        loss = per_token.sum() / max(num_real, 1)
    cache = CrossEntropyCache(
        xp.exp(log_probs),
        y_safe,
        real,
        tuple(logits.shape),
        tuple(target.shape),
        reduction,
        float(label_smoothing),
        num_real,
    )
    return loss, cache


def cross_entropy_backward(dloss, cache: CrossEntropyCache):
    """Backward of the cross-entropy, in order:

    g_m      = dloss_m           ("none": the upstream gradient of token m)
             = dloss             ("sum")
             = dloss / sum r     ("mean"; 0 when no token is real)
    dl_m     = g_m * r_m         (ignored tokens get no gradient)
    dz_mc    = dl_m * (p_mc - (1 - eps) * [c = y_m] - eps / C)

    The last line is d l_m / d z_m for the smoothed target q_m = (1 - eps) onehot(y_m)
    + eps / C: since l_m = -sum_c q_mc log p_mc and sum_c q_mc = 1, the log-softmax
    backward dz = dlogp - p * sum_c dlogp collapses to p - q.

    ``dloss`` is a scalar (Python number or 0-d array) for "mean"/"sum" and an array
    of the target's shape for "none". Returns dlogits (..., C).
    """
    probs, y, real, logits_shape, target_shape, reduction, eps, num_real = cache
    xp = get_array_module(probs)
    if reduction == "none":
        scale = xp.asarray(dloss, dtype=probs.dtype).reshape(-1) * real  # (M,)
    elif reduction == "sum":
        scale = float(dloss) * real
    else:
        scale = (float(dloss) / max(num_real, 1)) * real
    num_classes = probs.shape[-1]
    dz = probs.copy()  # p
    if eps != 0.0:
        dz -= eps / num_classes  # p - eps / C
    dz[xp.arange(dz.shape[0]), y] -= 1.0 - eps  # p - q
    dz *= scale[:, None]
    return dz.reshape(logits_shape)
