"""Affine maps, embedding lookups and dropout: forward and backward side by side.

Shapes: ``...`` is any number of leading axes (N, or N x T, ...); D input features,
H output features, V vocabulary size.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import bernoulli_keep_mask, get_array_module


class AffineCache(NamedTuple):
    x: object  # (..., D) the input
    weight: object  # (H, D)
    has_bias: bool


def affine_forward(x, weight, bias=None):
    """y = x W^T + b.

    ============  ===========
    x             (..., D)
    weight W      (H, D)
    bias b        (H,) or None
    y             (..., H)
    ============  ===========
    """
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y, AffineCache(x, weight, bias is not None)


def affine_backward(dy, cache: AffineCache):
    """Backward of y = x W^T + b, in order:

    dx = dy W                      (..., D)
    dW = sum over ... of dy^T x    (H, D)
    db = sum over ... of dy        (H,)   (None when there is no bias)
    """
    x, weight, has_bias = cache
    dx = dy @ weight
    dy2 = dy.reshape(-1, dy.shape[-1])  # (N*, H)
    x2 = x.reshape(-1, x.shape[-1])  # (N*, D)
    dweight = dy2.T @ x2
    dbias = dy2.sum(axis=0) if has_bias else None
    return dx, dweight, dbias


class EmbeddingCache(NamedTuple):
    ids: object  # (...) int
    num_embeddings: int
    padding_idx: object  # int or None


def embedding_forward(ids, weight, padding_idx=None):
    """y = W[ids]: row ``ids[...]`` of the table.

    ========  ==========
    ids       (...) int
    weight W  (V, D)
    y         (..., D)
    ========  ==========
    """
    return weight[ids], EmbeddingCache(ids, weight.shape[0], padding_idx)


def embedding_backward(dy, cache: EmbeddingCache):
    """dW[v] = sum of dy over every position whose id is v; dW[padding_idx] = 0.

    Repeated ids must add up, so this is a scatter-add (``xp.add.at``), not an
    assignment.
    """
    ids, num_embeddings, padding_idx = cache
    xp = get_array_module(dy)
    dweight = xp.zeros((num_embeddings, dy.shape[-1]), dtype=dy.dtype)
    xp.add.at(dweight, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return dweight


class DropoutCache(NamedTuple):
    scaled_mask: object  # same shape as x: m / (1 - p), each entry 0 or 1/(1-p); all 0 when p = 1


def dropout_forward(x, p: float, keep_mask=None):
    """Inverted dropout, the one implementation behind ``nn.Dropout`` and the
    between-layer dropout of the recurrent layers.

        m ~ Bernoulli(1 - p), elementwise     (``keep_mask``: 1 keeps a unit, 0 drops it)
        y = x * m / (1 - p)

    Scaling the kept units by 1/(1 - p) at training time keeps E[y] = x, so evaluation
    (which skips this function) needs no rescaling.

    p = 1 drops every unit: m = 0 everywhere and y = 0 exactly. The scale 1/(1 - p)
    is then never computed, because 0 / 0 would turn every output into NaN.

    ==========  ==================================================
    x           any shape
    p           drop probability in [0, 1] (checked by the caller)
    keep_mask   x's shape and dtype, entries 0 or 1; None draws one from
                minirnn's seeded generator (``backend.bernoulli_keep_mask``)
    y           x's shape
    ==========  ==================================================
    """
    xp = get_array_module(x)
    if p == 1.0:
        scaled_mask = xp.zeros_like(x)
    else:
        if keep_mask is None:
            keep_mask = bernoulli_keep_mask(x.shape, 1.0 - p, x.dtype, like=x)
        scaled_mask = keep_mask / (1.0 - p)
    return x * scaled_mask, DropoutCache(scaled_mask)


def dropout_backward(dy, cache: DropoutCache):
    """dx = dy * m / (1 - p)   (the same scaled mask as the forward; dx = 0 when p = 1)."""
    return dy * cache.scaled_mask
