"""Additive (Bahdanau) and multiplicative (Luong) attention, forward and backward.

Every attention here has the same three parts:

1. **prepare** (once per source batch): project the keys, ``P = keys U^T (+ b)``.
   A decoder attends T times to the same keys, so this projection runs once, not T times.
2. **attend** (once per decoder step): score each source position against the query,
   turn the scores into weights with a masked softmax, and average the keys:

       score[n, s]   = f(q_n, P[n, s])
       weights[n, :] = masked_softmax(score[n, :], mask[n, :])
       context[n]    = sum_s weights[n, s] * keys[n, s]

3. the backward of each, in reverse: every step's backward returns dquery and adds
   into dkeys (through the context) and dP (through the scores); the prepare backward
   then turns the summed dP into dkeys through U, once.

``*_attention_forward`` / ``*_attention_backward`` chain prepare and one attend step,
for a caller that attends once.

==============  ===============================================
query q         (N, Hq)  one decoder state per sequence
keys            (N, S, Hk)  encoder states, S source positions
mask            (N, S) bool, True = a real position; or None
P               (N, S, A)  projected keys (A = attn_size; Hq for Luong general)
context         (N, Hk)
weights         (N, S)  each row sums to 1 over its real positions
==============  ===============================================

The mask: masked positions get exactly 0 weight (and so no gradient), and a row with
every position masked gives all-zero weights and a zero context, never NaN.

The papers, in their column-vector notation (s_{i-1} / h_t the decoder state, h_j /
hbar_s the encoder states):

    Bahdanau et al. 2015:  e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)
    Luong et al. 2015:     score(h_t, hbar_s) = h_t^T hbar_s (dot),  h_t^T W_a hbar_s (general)
    both:                  a = softmax(e),  c = sum_j a_j h_j

Here the additive score has biases on all three maps (b_W + b_U, and b_V, which no
weight depends on), and the query is whatever the caller passes. The layers in
``minirnn.nn.attention`` say what minirnn's decoder passes and does with the context.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module
from .activations import softmax_backward
from .linear import AffineCache, affine_backward, affine_forward

# ============================================================================ shared pieces


def masked_softmax(scores, mask=None):
    """weights[n, s] = mask[n, s] * exp(score[n, s] - m_n) / sum_s' mask[n, s'] exp(score[n, s'] - m_n).

    m_n is the maximum over the real positions of row n (log-sum-exp shift). A row with
    no real position has an empty sum; its weights are defined as 0 (PyTorch's
    ``softmax(masked_fill(-inf))`` gives NaN there).

    ========  =========
    scores    (N, S)
    mask      (N, S) bool or None
    weights   (N, S)
    ========  =========

    Its backward is ``softmax_backward(dweights, weights)``, dscore = w * (dw - sum_s dw * w),
    written from the output alone: masked positions (w = 0) get dscore = 0, and a fully
    masked row gets 0 everywhere.
    """
    xp = get_array_module(scores)
    if mask is None:
        e = xp.exp(scores - scores.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    masked = xp.where(mask, scores, -xp.inf)  # exp(-inf) = 0 exactly, with no warning
    row_max = masked.max(axis=-1, keepdims=True)  # -inf in a fully masked row
    row_max = xp.where(xp.isfinite(row_max), row_max, 0)
    e = xp.exp(masked - row_max)
    total = e.sum(axis=-1, keepdims=True)  # >= 1 in a row with a real position, 0 otherwise
    return e / xp.where(total > 0, total, 1)


def weighted_sum(weights, keys):
    """context[n] = sum_s weights[n, s] * keys[n, s]:  (N, S), (N, S, Hk) -> (N, Hk)."""
    return (weights[:, None, :] @ keys)[:, 0, :]


def weighted_sum_backward(dcontext, weights, keys, keys_grad=True):
    """Backward of the weighted sum, in order:

    dweights[n, s] = dcontext[n] . keys[n, s]          (N, S)
    dkeys[n, s]    = weights[n, s] * dcontext[n]        (N, S, Hk)

    ``keys_grad=False`` skips dkeys (returns None for it): a caller that sums it over
    many steps does so at once with ``context_keys_backward``.
    """
    dweights = (keys @ dcontext[:, :, None])[:, :, 0]
    dkeys = weights[:, :, None] * dcontext[:, None, :] if keys_grad else None
    return dweights, dkeys


def context_keys_backward(weights, dcontexts):
    """The context path's dkeys summed over T steps, as one batched matmul:

    dkeys[n, s] = sum_t weights_t[n, s] * dcontext_t[n]      (N, S, Hk)
                = (W^T DC)[n]    with W[n] (T, S) the stacked weights, DC[n] (T, Hk)

    ``weights``: T arrays (N, S); ``dcontexts``: T arrays (N, Hk). It equals the sum of
    the T ``dkeys`` of ``weighted_sum_backward`` without making any of them: a decoder
    of T steps writes one (N, S, Hk) array instead of adding T of them.
    """
    if len(weights) == 0 or len(weights) != len(dcontexts):
        raise ValueError(f"context_keys_backward expects one (weights, dcontext) pair per step, at least one, "
                         f"got {len(weights)} weights and {len(dcontexts)} dcontexts")
    xp = get_array_module(weights[0])
    return xp.stack(weights, axis=2) @ xp.stack(dcontexts, axis=1)  # (N, S, T) @ (N, T, Hk)


def _score_gradient(dcontext, dweights, weights, keys, keys_grad=True):
    """Shared step backward: from (dcontext, dweights) to (dscores, dkeys through the context)."""
    dweights_context, dkeys = weighted_sum_backward(dcontext, weights, keys, keys_grad)
    if dweights is not None:  # the caller used the weights themselves (a plot, a coverage loss)
        dweights_context = dweights_context + dweights
    dscores = softmax_backward(dweights_context, weights)  # masked positions have w = 0, so dscore = 0
    return dscores, dkeys


# ============================================================================ Bahdanau


def bahdanau_prepare_forward(keys, ua_weight, ua_bias=None):
    """Project the keys once: P = keys Ua^T + b_U.

    ==========  ==========
    keys        (N, S, Hk)
    ua_weight   (A, Hk)
    ua_bias     (A,) or None
    P           (N, S, A)
    ==========  ==========
    """
    return affine_forward(keys, ua_weight, ua_bias)


def bahdanau_prepare_backward(dprojected, dkeys_context, cache: AffineCache):
    """Backward of the key projection, once after every step's backward, in order:

    dkeys = dkeys_context + dP Ua       (the context path plus the score path)
    dUa   = sum_{n,s} dP[n, s]^T keys[n, s]
    db_U  = sum_{n,s} dP[n, s]

    ``dprojected`` and ``dkeys_context`` are the sums over all decoder steps (either
    may be None when no step was backpropagated). Returns ``(dkeys, dua_weight, dua_bias)``.
    """
    xp = get_array_module(cache.x)
    if dprojected is None:
        dprojected = xp.zeros(cache.x.shape[:-1] + (cache.weight.shape[0],), dtype=cache.x.dtype)
    dkeys, dua_weight, dua_bias = affine_backward(dprojected, cache)
    if dkeys_context is not None:
        dkeys += dkeys_context
    return dkeys, dua_weight, dua_bias


class BahdanauAttendCache(NamedTuple):
    query: object  # (N, Hq)
    keys: object  # (N, S, Hk)
    tanh_out: object  # (N, S, A) tanh(q Wa^T + b_W + P), the score layer's activations
    weights: object  # (N, S) attention weights, post-softmax
    wa_weight: object  # (A, Hq)
    va_weight: object  # (1, A)
    has_bias: bool


def bahdanau_attend_forward(query, keys, projected_keys, mask, wa_weight, wa_bias, va_weight, va_bias):
    """One step of additive attention against keys prepared once (P = keys Ua^T + b_U):

    tanh_out[n, s] = tanh(q_n Wa^T + b_W + P[n, s])            (N, S, A)
    score[n, s]    = tanh_out[n, s] Va^T + b_V                (N, S)
    weights        = masked_softmax(score, mask)              (N, S)
    context[n]     = sum_s weights[n, s] * keys[n, s]         (N, Hk)

    ================  ===========
    query q           (N, Hq)
    keys              (N, S, Hk)
    projected_keys P  (N, S, A)
    mask              (N, S) bool or None
    wa_weight         (A, Hq)
    wa_bias           (A,) or None
    va_weight         (1, A)
    va_bias           (1,) or None
    ================  ===========

    Returns ``((context, weights), cache)``. b_V shifts every score of a row equally,
    so it changes no weight (softmax is shift-invariant) and its gradient is 0; it is
    kept so the parameters match ``nn.Linear(A, 1)``.
    """
    xp = get_array_module(query)
    query_projected = query @ wa_weight.T  # (N, A)
    if wa_bias is not None:
        query_projected = query_projected + wa_bias
    tanh_out = xp.tanh(query_projected[:, None, :] + projected_keys)  # (N, S, A)
    scores = tanh_out @ va_weight[0]  # (N, S)
    if va_bias is not None:
        scores = scores + va_bias[0]
    weights = masked_softmax(scores, mask)
    context = weighted_sum(weights, keys)
    cache = BahdanauAttendCache(query, keys, tanh_out, weights, wa_weight, va_weight, wa_bias is not None)
    return (context, weights), cache


def bahdanau_attend_backward(dcontext, dweights, cache: BahdanauAttendCache, keys_grad=True):
    """Backward of one additive-attention step, in order:

    dweights  += dcontext . keys                      (the context path; dweights may be None)
    dkeys      = weights * dcontext                   (N, S, Hk) the context path only
    dscore     = w * (dweights - sum_s dweights * w)  (masked softmax)
    dVa        = sum_{n,s} dscore[n, s] tanh_out[n, s]  (1, A)
    db_V       = sum_{n,s} dscore[n, s]               (1,)  0 up to rounding (shift invariance)
    dpre       = dscore * Va * (1 - tanh_out^2)       (N, S, A) through tanh
    dP         = dpre                                 (N, S, A) to the projected keys
    dq_proj    = sum_s dpre[n, s]                     (N, A)
    dquery     = dq_proj Wa                           (N, Hq)
    dWa        = dq_proj^T query                      (A, Hq)
    db_W       = sum_n dq_proj                        (A,)

    Returns ``(dquery, dkeys, dprojected, dwa_weight, dwa_bias, dva_weight, dva_bias)``;
    the bias gradients are None when there are no biases. ``dkeys`` holds the context
    path only; the score path reaches the keys through dP in the prepare backward.
    ``keys_grad=False`` returns None for dkeys (see ``context_keys_backward``).
    """
    query, keys, tanh_out, weights, wa_weight, va_weight, has_bias = cache
    dscores, dkeys = _score_gradient(dcontext, dweights, weights, keys, keys_grad)
    attn_size = tanh_out.shape[-1]
    dva_weight = dscores.reshape(1, -1) @ tanh_out.reshape(-1, attn_size)  # (1, A)
    dva_bias = dscores.sum().reshape(1) if has_bias else None
    dpre = (dscores[:, :, None] * va_weight[0]) * (1 - tanh_out * tanh_out)  # (N, S, A)
    dquery_projected = dpre.sum(axis=1)  # (N, A)
    dquery = dquery_projected @ wa_weight
    dwa_weight = dquery_projected.T @ query
    dwa_bias = dquery_projected.sum(axis=0) if has_bias else None
    return dquery, dkeys, dpre, dwa_weight, dwa_bias, dva_weight, dva_bias


class BahdanauCache(NamedTuple):
    prepare: AffineCache
    attend: BahdanauAttendCache


def bahdanau_attention_forward(query, keys, mask, wa_weight, wa_bias, ua_weight, ua_bias, va_weight, va_bias):
    """Additive attention in one call: prepare (P = keys Ua^T + b_U), then one attend step.

    Shapes as in ``bahdanau_attend_forward``; ua_weight (A, Hk), ua_bias (A,) or None.
    Returns ``((context, weights), cache)``.
    """
    projected, prepare_cache = bahdanau_prepare_forward(keys, ua_weight, ua_bias)
    out, attend_cache = bahdanau_attend_forward(query, keys, projected, mask, wa_weight, wa_bias, va_weight, va_bias)
    return out, BahdanauCache(prepare_cache, attend_cache)


def bahdanau_attention_backward(dcontext, dweights, cache: BahdanauCache):
    """The attend backward, then the prepare backward (see those two for the equations).

    Returns ``(dquery, dkeys, dwa_weight, dwa_bias, dua_weight, dua_bias, dva_weight, dva_bias)``.
    """
    dquery, dkeys_context, dprojected, dwa_weight, dwa_bias, dva_weight, dva_bias = bahdanau_attend_backward(
        dcontext, dweights, cache.attend
    )
    dkeys, dua_weight, dua_bias = bahdanau_prepare_backward(dprojected, dkeys_context, cache.prepare)
    return dquery, dkeys, dwa_weight, dwa_bias, dua_weight, dua_bias, dva_weight, dva_bias


# ============================================================================ Luong


class LuongPrepareCache(NamedTuple):
    keys: object  # (N, S, Hk)
    weight: object  # (Hq, Hk) for "general"; None for "dot"


def luong_prepare_forward(keys, weight=None):
    """Project the keys once so that each step's score is a plain dot product:

    dot:      P = keys                  (needs Hk = Hq)
    general:  P = keys W^T              W (Hq, Hk), so score = q . P[n, s] = q W k^T

    ========  ==========
    keys      (N, S, Hk)
    weight W  (Hq, Hk) or None (dot)
    P         (N, S, Hq)
    ========  ==========
    """
    projected = keys if weight is None else keys @ weight.T
    return projected, LuongPrepareCache(keys, weight)


def luong_prepare_backward(dprojected, dkeys_context, cache: LuongPrepareCache):
    """Backward of the key projection, once after every step's backward, in order:

    dot:      dkeys = dkeys_context + dP
    general:  dkeys = dkeys_context + dP W
              dW    = sum_{n,s} dP[n, s]^T keys[n, s]       (Hq, Hk)

    Either input may be None (no step was backpropagated). Returns ``(dkeys, dweight)``,
    dweight None for "dot".
    """
    keys, weight = cache
    xp = get_array_module(keys)
    dkeys = xp.zeros_like(keys) if dkeys_context is None else dkeys_context.copy()
    if dprojected is None:
        return dkeys, (None if weight is None else xp.zeros_like(weight))
    if weight is None:
        dkeys += dprojected
        return dkeys, None
    dkeys += dprojected @ weight
    dweight = dprojected.reshape(-1, dprojected.shape[-1]).T @ keys.reshape(-1, keys.shape[-1])
    return dkeys, dweight


class LuongAttendCache(NamedTuple):
    query: object  # (N, Hq)
    keys: object  # (N, S, Hk)
    projected_keys: object  # (N, S, Hq)
    weights: object  # (N, S) post-softmax


def luong_attend_forward(query, keys, projected_keys, mask):
    """One step of multiplicative attention against keys prepared once:

    score[n, s] = q_n . P[n, s]                        (N, S)
    weights     = masked_softmax(score, mask)          (N, S)
    context[n]  = sum_s weights[n, s] * keys[n, s]     (N, Hk)

    ================  ===========
    query q           (N, Hq)
    keys              (N, S, Hk)
    projected_keys P  (N, S, Hq)
    mask              (N, S) bool or None
    ================  ===========

    Returns ``((context, weights), cache)``.
    """
    scores = (projected_keys @ query[:, :, None])[:, :, 0]  # (N, S)
    weights = masked_softmax(scores, mask)
    context = weighted_sum(weights, keys)
    return (context, weights), LuongAttendCache(query, keys, projected_keys, weights)


def luong_attend_backward(dcontext, dweights, cache: LuongAttendCache, keys_grad=True):
    """Backward of one multiplicative-attention step, in order:

    dweights += dcontext . keys                       (the context path; dweights may be None)
    dkeys     = weights * dcontext                    (N, S, Hk) the context path only
    dscore    = w * (dweights - sum_s dweights * w)   (masked softmax)
    dquery    = sum_s dscore[n, s] P[n, s]            (N, Hq)
    dP        = dscore[n, s] * q_n                    (N, S, Hq)

    Returns ``(dquery, dkeys, dprojected)``; ``keys_grad=False`` returns None for dkeys
    (see ``context_keys_backward``).
    """
    query, keys, projected_keys, weights = cache
    dscores, dkeys = _score_gradient(dcontext, dweights, weights, keys, keys_grad)
    dquery = (dscores[:, None, :] @ projected_keys)[:, 0, :]
    dprojected = dscores[:, :, None] * query[:, None, :]
    return dquery, dkeys, dprojected


class LuongCache(NamedTuple):
    prepare: LuongPrepareCache
    attend: LuongAttendCache


def luong_attention_forward(query, keys, mask, weight=None):
    """Multiplicative attention in one call: prepare, then one attend step.

    ``weight`` None is Luong's "dot" score, a (Hq, Hk) matrix his "general" score.
    Returns ``((context, weights), cache)``.
    """
    projected, prepare_cache = luong_prepare_forward(keys, weight)
    out, attend_cache = luong_attend_forward(query, keys, projected, mask)
    return out, LuongCache(prepare_cache, attend_cache)


def luong_attention_backward(dcontext, dweights, cache: LuongCache):
    """The attend backward, then the prepare backward. Returns ``(dquery, dkeys, dweight)``."""
    dquery, dkeys_context, dprojected = luong_attend_backward(dcontext, dweights, cache.attend)
    dkeys, dweight = luong_prepare_backward(dprojected, dkeys_context, cache.prepare)
    return dquery, dkeys, dweight
