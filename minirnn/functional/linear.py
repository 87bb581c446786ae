"""Affine maps, embedding lookups and dropout: forward and backward side by side.

Shapes: ``...`` is any number of leading axes (N, or N x T, ...); D input features,
H output features, V vocabulary size.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module


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
    scaled_mask: object  # same shape as x: 0 or 1/(1-p)


def dropout_forward(x, p: float, keep_mask):
    """Inverted dropout: y = x * m / (1 - p), with m ~ Bernoulli(1 - p) given as ``keep_mask``.

    Scaling at training time keeps E[y] = x, so evaluation needs no rescaling.
    """
    scaled_mask = keep_mask / (1.0 - p)
    return x * scaled_mask, DropoutCache(scaled_mask)


def dropout_backward(dy, cache: DropoutCache):
    """dx = dy * m / (1 - p)."""
    return dy * cache.scaled_mask
