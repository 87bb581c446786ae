"""Cross-entropy loss over class logits, with class weights, ignore_index, reductions and label smoothing.

Notation (row-major, as in the code): the leading axes of ``logits`` are flattened
into M rows, one per token, so ``z`` is (M, C) and ``y`` (M,) holds class ids.

    log p_m  = log_softmax(z_m) = z_m - max(z_m) - log sum_c exp(z_mc - max(z_m))
    r_m      = [y_m != ignore_index]                    1 for a real token, 0 for padding
    w_c      = weight[c]                                 class weights (all 1 without ``weight``)
    nll_m    = -w_{y_m} log p_m[y_m]
    smooth_m = -(1/C) sum_c w_c log p_mc                 (cross-entropy against the uniform)
    l_m      = r_m * ((1 - eps) * nll_m + eps * smooth_m)         eps = label_smoothing

This is PyTorch's ``F.cross_entropy(weight=w, label_smoothing=eps)``: l_m is
``-sum_c q_mc log p_mc`` with the (unnormalised) weighted target distribution

    q_mc = (1 - eps) w_{y_m} [c = y_m] + (eps / C) w_c,

which is ``(1 - eps) * onehot(y) + eps / C`` when every weight is 1.

Reductions:

* ``"none"``: the per-token losses ``l`` in the shape of ``target``; ignored tokens give 0.
* ``"sum"``:  sum_m l_m.
* ``"mean"``: sum_m l_m / sum_m r_m w_{y_m}, i.e. **divide by the summed weight of the
  real targets**: without ``weight`` the number of real tokens, not M, so padding does
  not dilute the loss (the cs231n masked-loss mistake). With ``weight`` this is
  PyTorch's weighted mean, in which a batch's loss does not grow or shrink with the
  classes it happens to hold. The smoothing term is divided by the same sum.

One departure from PyTorch: when every target is ``ignore_index`` (or the real targets'
weights sum to 0), the ``"mean"`` loss is 0 and its gradient is 0. PyTorch returns
0/0 = NaN. A batch made only of padding carries no signal, and a NaN would poison every
parameter through the optimiser.
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
    weight: object = None  # (C,) class weights w, or None for all ones
    weight_sum: float = 0.0  # sum_m r_m w_{y_m}, the "mean" divisor (num_real without weights)


def cross_entropy_forward(
    logits, target, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0, weight=None
):
    """Cross-entropy of ``logits`` against class ids ``target`` (see the module docstring).

    ==========  ===============================================================
    logits z    (..., C) float
    target y    (...) int, each in [0, C) or equal to ignore_index
    weight w    (C,) float of the logits' dtype and device, or None (all 1)
    loss        0-d array for "mean"/"sum"; (...) for "none"
    ==========  ===============================================================

    The caller checks that targets are in range and the weights' shape
    (``nn.CrossEntropyLoss`` does). The log-softmax subtracts each row's maximum first,
    so logits of +-1e4 stay finite.
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
    if weight is None:
        weighted_real = real  # (M,) r_m
    else:
        weighted_real = weight[y_safe] * real  # (M,) r_m w_{y_m}
        nll = nll * weight[y_safe]  # w_{y_m} * -log p_m[y_m]
    if label_smoothing == 0.0:
        per_token = nll
    else:
        # (M,) -(1/C) sum_c w_c log p_mc
        smooth = -log_probs.mean(axis=-1) if weight is None else -(log_probs @ weight) / num_classes
        per_token = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    per_token = per_token * real  # ignored tokens contribute exactly 0
    weight_sum = float(weighted_real.sum())

    if reduction == "none":
        loss = per_token.reshape(target.shape)
    elif reduction == "sum":
        loss = per_token.sum()
    else:  # "mean": divide by the real targets' summed weight; 0 (not NaN) when it is 0
        loss = per_token.sum() / (weight_sum if weight_sum > 0 else 1.0)
    cache = CrossEntropyCache(
        xp.exp(log_probs),
        y_safe,
        real,
        tuple(logits.shape),
        tuple(target.shape),
        reduction,
        float(label_smoothing),
        num_real,
        weight,
        weight_sum,
    )
    return loss, cache


def cross_entropy_backward(dloss, cache: CrossEntropyCache):
    """Backward of the cross-entropy, in order:

    g_m      = dloss_m                   ("none": the upstream gradient of token m)
             = dloss                     ("sum")
             = dloss / sum_m r_m w_{y_m}  ("mean"; 0 when that sum is 0)
    dl_m     = g_m * r_m                 (ignored tokens get no gradient)
    q_mc     = (1 - eps) w_{y_m} [c = y_m] + (eps / C) w_c
    Q_m      = sum_c q_mc = (1 - eps) w_{y_m} + (eps / C) sum_c w_c
    dz_mc    = dl_m * (Q_m p_mc - q_mc)

    The last line is d l_m / d z_m for l_m = -sum_c q_mc log p_mc: the log-softmax
    backward dz = dlogp - p * sum_c dlogp with dlogp = -q gives Q p - q. Without
    weights Q_m = 1 and q_m = (1 - eps) onehot(y_m) + eps / C, so dz = p - q.

    ``dloss`` is a scalar (Python number or 0-d array) for "mean"/"sum" and an array
    of the target's shape for "none". Returns dlogits (..., C).
    """
    probs, y, real, eps, weight = cache.probs, cache.target, cache.real, cache.label_smoothing, cache.weight
    xp = get_array_module(probs)
    if cache.reduction == "none":
        scale = xp.asarray(dloss, dtype=probs.dtype).reshape(-1) * real  # (M,)
    elif cache.reduction == "sum":
        scale = float(dloss) * real
    else:
        scale = (float(dloss) / (cache.weight_sum if cache.weight_sum > 0 else 1.0)) * real
    num_classes = probs.shape[-1]
    rows = xp.arange(probs.shape[0])
    if weight is None:
        dz = probs.copy()  # Q p with Q = 1
        if eps != 0.0:
            dz -= eps / num_classes  # p - eps / C
        dz[rows, y] -= 1.0 - eps  # p - q
    else:
        target_weight = weight[y]  # (M,) w_{y_m}
        total = (1.0 - eps) * target_weight + (eps / num_classes) * weight.sum()  # (M,) Q_m
        dz = probs * total[:, None]  # Q p
        if eps != 0.0:
            dz -= (eps / num_classes) * weight  # Q p - (eps / C) w
        dz[rows, y] -= (1.0 - eps) * target_weight  # Q p - q
    dz *= scale[:, None]
    return dz.reshape(cache.logits_shape)
