"""Bahdanau (additive) and Luong (dot / general) attention layers.

The math lives in ``minirnn.functional.attention``; these classes check shapes, hold
the parameters and keep the caches. Each layer offers two ways to run:

* one call: ``context, weights = attn(query, keys, mask)`` and
  ``dquery, dkeys = attn.backward(dcontext, dweights=None)``;
* two phases, for a decoder that attends to the same keys at every step, so that the
  keys are projected once per source batch instead of once per step::

      memory = attn.prepare(keys, mask)                 # once
      for t in range(T):
          context, weights = attn.attend(query_t, memory)
      ...
      for t in reversed(range(T)):
          dquery_t = attn.backward_attend(dcontext_t, dweights_t)   # adds into the memory's grads
      dkeys = attn.backward_prepare(memory)             # once, after every step

The one-call form is exactly ``prepare`` + ``attend`` and ``backward_attend`` +
``backward_prepare``. Each ``attend`` (and each one-call forward) pushes one step cache
on the layer's stack; the backward calls pop them in reverse order.

=======  =====================================
query    (N, Hq)   one decoder state per sequence
keys     (N, S, Hk) encoder states
mask     (N, S) bool, True = a real position, or None
context  (N, Hk)
weights  (N, S)
=======  =====================================
"""

from __future__ import annotations

from ..backend import get_array_module, is_array, resolve_dtype
from ..checks import (
    check_choice,
    check_finite,
    check_float,
    check_last_dim,
    check_positive_int,
    check_rank,
    check_shape,
)
from ..functional.attention import (
    bahdanau_attend_backward,
    bahdanau_attend_forward,
    bahdanau_prepare_backward,
    bahdanau_prepare_forward,
    context_keys_backward,
    luong_attend_backward,
    luong_attend_forward,
    luong_prepare_backward,
    luong_prepare_forward,
)
from .linear import Linear
from .module import Module, is_grad_enabled


class AttentionMemory:
    """The source side of an attention, made once per source batch by ``prepare``.

    Holds the keys, the mask, the projected keys and the projection's cache, and what
    the step backwards leave for ``backward_prepare``: the gradient through the scores
    summed as it comes (``dprojected_keys``), and each step's (weights, dcontext), from
    which the gradient through the contexts is made at once (``context_keys_backward``).
    """

    __slots__ = ("keys", "mask", "projected_keys", "prepare_cache", "dkeys", "dprojected_keys", "context_steps",
                 "pending_steps")

    def __init__(self, keys, mask, projected_keys, prepare_cache):
        self.keys = keys  # (N, S, Hk)
        self.mask = mask  # (N, S) bool or None
        self.projected_keys = projected_keys  # (N, S, A)
        self.prepare_cache = prepare_cache  # None under no_grad, or once backpropagated
        self.dkeys = None  # (N, S, Hk) sum over steps of the context path ...
        self.context_steps = []  # ... made at once from each step's (weights, dcontext)
        self.dprojected_keys = None  # (N, S, A) sum over steps of the score path
        self.pending_steps = 0  # attend calls whose backward has not run yet

    @property
    def batch_size(self) -> int:
        return self.keys.shape[0]

    @property
    def source_length(self) -> int:
        return self.keys.shape[1]

    def take(self, indices):
        """A memory whose row i is row ``indices[i]`` of this one, for inference (beam search).

        Rows may repeat or be reordered. The result keeps no gradient state, so it
        cannot be backpropagated through ``backward_prepare``.
        """
        xp = get_array_module(self.keys)
        indices = xp.asarray(indices)
        mask = None if self.mask is None else self.mask[indices]
        return AttentionMemory(self.keys[indices], mask, self.projected_keys[indices], None)

    def __repr__(self) -> str:
        return (
            f"AttentionMemory(batch_size={self.batch_size}, source_length={self.source_length}, "
            f"pending_steps={self.pending_steps})"
        )


def _add(total, grad):
    """total + grad, in place after the first step (each step's gradient is a fresh array)."""
    if total is None:
        return grad
    total += grad
    return total


class _AttentionBase(Module):
    """The glue shared by every attention: checks, the memory, the step cache stack.

    A subclass provides ``_project(keys)``, ``_project_backward(memory)``,
    ``_attend(query, memory)`` and ``_attend_backward(dcontext, dweights, cache)``.
    """

    def __init__(self, query_size: int, key_size, dtype):
        super().__init__()
        name = type(self).__name__
        key_size = query_size if key_size is None else key_size
        self.query_size = check_positive_int(query_size, name, "query_size")
        self.key_size = check_positive_int(key_size, name, "key_size")
        self._dtype = resolve_dtype(dtype)

    @property
    def compute_dtype(self):
        """The dtype inputs must have: the parameters' (or the constructor's, without parameters)."""
        return self.dtype if self.dtype is not None else self._dtype

    # ------------------------------------------------------------------ checks
    def _check_keys(self, keys, mask):
        name = f"{type(self).__name__}.prepare"
        check_float(keys, self.compute_dtype, name, "keys")
        check_rank(keys, 3, name, "keys", "(N, S, Hk)")
        check_last_dim(keys, self.key_size, name, "key features (keys of shape (N, S, Hk))")
        if keys.shape[1] < 1:
            raise ValueError(f"{name} expects at least one source position (S >= 1), got keys of shape {keys.shape}")
        check_finite(keys, name, "keys")
        if mask is None:
            return None
        if not is_array(mask):
            raise TypeError(f"{name} expects mask to be a bool array of shape (N, S), got {type(mask).__name__}")
        if mask.dtype.kind != "b":
            raise TypeError(f"{name} expects a bool mask (True = real position), got dtype {mask.dtype}")
        check_shape(mask, keys.shape[:2], name, "mask (N, S) matching keys")
        return get_array_module(keys).asarray(mask)

    def _check_query(self, query, memory):
        name = f"{type(self).__name__}.attend"
        if not isinstance(memory, AttentionMemory):
            raise TypeError(f"{name} expects an AttentionMemory from prepare(), got {type(memory).__name__}")
        check_float(query, self.compute_dtype, name, "query")
        check_rank(query, 2, name, "query", "(N, Hq)")
        check_last_dim(query, self.query_size, name, "query features")
        if query.shape[0] != memory.batch_size:
            raise ValueError(
                f"{name}: batch mismatch, query has N={query.shape[0]} rows but the keys have "
                f"N={memory.batch_size} sequences"
            )
        check_finite(query, name, "query")

    # ------------------------------------------------------------------ two-phase API
    def prepare(self, keys, mask=None) -> AttentionMemory:
        """Project the keys once: keys (N, S, Hk), mask (N, S) bool or None -> AttentionMemory."""
        mask = self._check_keys(keys, mask)
        projected, cache = self._project(keys)
        return AttentionMemory(keys, mask, projected, cache if is_grad_enabled() else None)

    def attend(self, query, memory: AttentionMemory):
        """One decoder step: query (N, Hq) -> (context (N, Hk), weights (N, S)); pushes a step cache."""
        self._check_query(query, memory)
        (context, weights), cache = self._attend(query, memory)
        if is_grad_enabled():
            self._save((cache, memory))
            memory.pending_steps += 1
        return context, weights

    def backward_attend(self, dcontext, dweights=None):
        """Backward of the latest ``attend``: returns dquery (N, Hq).

        Adds the parameter gradients of the score into ``.grad`` and the key gradients
        into the step's memory; ``backward_prepare`` finishes them.
        """
        dquery, _ = self._backward_step(dcontext, dweights)
        return dquery

    def backward_prepare(self, memory: AttentionMemory):
        """Backward of ``prepare``, once, after the backward of every step: returns dkeys (N, S, Hk)."""
        name = f"{type(self).__name__}.backward_prepare"
        if not isinstance(memory, AttentionMemory):
            raise TypeError(f"{name} expects the AttentionMemory from prepare(), got {type(memory).__name__}")
        if memory.pending_steps:
            raise RuntimeError(
                f"{name}: {memory.pending_steps} attend step(s) on this memory have not been "
                "backpropagated yet; call backward_attend for every step first"
            )
        if memory.prepare_cache is None:
            raise RuntimeError(
                f"{name}: this memory has no gradient state (prepared under no_grad(), made by "
                "take(), or already backpropagated)"
            )
        if memory.context_steps:  # the context path of every step, in one batched matmul
            memory.dkeys = _add(memory.dkeys, context_keys_backward(*zip(*memory.context_steps)))
        dkeys = self._project_backward(memory)
        memory.prepare_cache = memory.dkeys = memory.dprojected_keys = None
        memory.context_steps = []
        return dkeys

    # ------------------------------------------------------------------ one-call API
    def forward(self, query, keys, mask=None):
        """query (N, Hq), keys (N, S, Hk), mask (N, S) bool or None -> (context (N, Hk), weights (N, S))."""
        return self.attend(query, self.prepare(keys, mask))

    def backward(self, dcontext, dweights=None):
        """dcontext (N, Hk), dweights (N, S) or None -> (dquery (N, Hq), dkeys (N, S, Hk))."""
        dquery, memory = self._backward_step(dcontext, dweights)
        return dquery, self.backward_prepare(memory)

    # ------------------------------------------------------------------ internals
    def _backward_step(self, dcontext, dweights):
        cache, memory = self._peek()  # popped once the upstream gradients pass their checks
        name = f"{type(self).__name__}.backward"
        batch, source = memory.batch_size, memory.source_length
        check_float(dcontext, self.compute_dtype, name, "dcontext")
        check_shape(dcontext, (batch, self.key_size), name, "dcontext (N, Hk)")
        if dweights is not None:
            check_float(dweights, self.compute_dtype, name, "dweights")
            check_shape(dweights, (batch, source), name, "dweights (N, S)")
        self._restore()
        dquery, _, dprojected = self._attend_backward(dcontext, dweights, cache)  # (no dkeys: see below)
        memory.context_steps.append((cache.weights, dcontext.copy()))  # summed in backward_prepare
        memory.dprojected_keys = _add(memory.dprojected_keys, dprojected)
        memory.pending_steps -= 1
        return dquery, memory

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"


class BahdanauAttention(_AttentionBase):
    """Additive attention (Bahdanau, Cho and Bengio 2015, "Neural Machine Translation by
    Jointly Learning to Align and Translate").

    The paper, for decoder step i and source position j (column vectors)::

        e_ij  = v_a^T tanh(W_a s_{i-1} + U_a h_j)
        a_ij  = exp(e_ij) / sum_k exp(e_ik)
        c_i   = sum_j a_ij h_j
        s_i   = f(s_{i-1}, y_{i-1}, c_i)

    This layer, row-major as in the code (q = query, k = keys)::

        score[n, s] = tanh(q_n Wa^T + b_W + k[n, s] Ua^T + b_U) Va^T + b_V
        weights     = masked_softmax(score, mask)
        context[n]  = sum_s weights[n, s] k[n, s]

    Where it differs from the paper:

    * Wa, Ua and Va are ``Linear`` layers with biases (``Wa.weight`` (A, Hq), ``Wa.bias``,
      ``Ua.weight`` (A, Hk), ``Ua.bias``, ``Va.weight`` (1, A), ``Va.bias`` (1,)). b_W and
      b_U only ever appear summed; b_V shifts every score equally and so has no effect on
      the weights and a zero gradient. They are kept so the layout is that of three
      ``torch.nn.Linear`` layers.
    * The query is whatever the caller passes. In the paper it is the decoder's previous
      state s_{i-1}; minirnn's Seq2Seq decoder passes exactly that, and it then
      concatenates the context with the token embedding as the cell input (the paper's
      s_i = f(s_{i-1}, y_{i-1}, c_i)). Neither step is part of this layer.
    * The keys h_j may be any encoder states (the paper uses a bidirectional RNN's).
    * Masked (padding) positions get weight exactly 0.

    Defaults: key_size = query_size, attn_size (A) = query_size. ``prepare`` computes
    k Ua^T + b_U once per source batch.
    """

    def __init__(self, query_size: int, key_size=None, attn_size=None, dtype=None):
        super().__init__(query_size, key_size, dtype)
        attn_size = self.query_size if attn_size is None else attn_size
        self.attn_size = check_positive_int(attn_size, "BahdanauAttention", "attn_size")
        self.Wa = Linear(self.query_size, self.attn_size, dtype=self._dtype)
        self.Ua = Linear(self.key_size, self.attn_size, dtype=self._dtype)
        self.Va = Linear(self.attn_size, 1, dtype=self._dtype)

    def _project(self, keys):
        return bahdanau_prepare_forward(keys, self.Ua.weight.data, self.Ua.bias.data)

    def _project_backward(self, memory):
        dkeys, dua_weight, dua_bias = bahdanau_prepare_backward(
            memory.dprojected_keys, memory.dkeys, memory.prepare_cache
        )
        self.Ua.weight.accumulate(dua_weight)
        self.Ua.bias.accumulate(dua_bias)
        return dkeys

    def _attend(self, query, memory):
        return bahdanau_attend_forward(
            query, memory.keys, memory.projected_keys, memory.mask,
            self.Wa.weight.data, self.Wa.bias.data, self.Va.weight.data, self.Va.bias.data,
        )  # fmt: skip

    def _attend_backward(self, dcontext, dweights, cache):
        dquery, dkeys, dprojected, dwa_weight, dwa_bias, dva_weight, dva_bias = bahdanau_attend_backward(
            dcontext, dweights, cache, keys_grad=False
        )
        self.Wa.weight.accumulate(dwa_weight)
        self.Wa.bias.accumulate(dwa_bias)
        self.Va.weight.accumulate(dva_weight)
        self.Va.bias.accumulate(dva_bias)
        return dquery, dkeys, dprojected

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, attn_size={self.attn_size}"


class LuongAttention(_AttentionBase):
    """Multiplicative attention (Luong, Pham and Manning 2015, "Effective Approaches to
    Attention-based Neural Machine Translation"), global, with the "dot" or "general" score.

    The paper, for the decoder's current state h_t and source states hbar_s::

        score(h_t, hbar_s) = h_t^T hbar_s            (dot)
                           = h_t^T W_a hbar_s        (general)
        a_t(s)  = exp(score(h_t, hbar_s)) / sum_s' exp(score(h_t, hbar_s'))
        c_t     = sum_s a_t(s) hbar_s
        htilde_t = tanh(W_c [c_t; h_t])              (the attentional hidden state)

    This layer, row-major as in the code (q = query, k = keys)::

        score[n, s] = q_n . k[n, s]                  (dot; needs key_size == query_size)
                    = q_n . (k[n, s] W^T)            (general; W = ``W.weight`` (Hq, Hk), no bias)
        weights     = masked_softmax(score, mask)
        context[n]  = sum_s weights[n, s] k[n, s]

    Where it differs from the paper: this layer stops at the context. The query is
    whatever the caller passes (the paper uses the current state h_t, computed before
    attending); minirnn's Seq2Seq decoder passes its previous state and concatenates the
    context with the token embedding as the cell input, as it does for Bahdanau, and
    the attentional layer htilde_t is not part of this layer. The paper's "concat" and
    "location" scores are not implemented. ``prepare`` computes k W^T once per source
    batch for "general"; for "dot" it is the keys themselves. Masked (padding) positions
    get weight exactly 0.
    """

    KINDS = ("dot", "general")

    def __init__(self, query_size: int, key_size=None, kind: str = "dot", dtype=None):
        super().__init__(query_size, key_size, dtype)
        check_choice(kind, self.KINDS, "LuongAttention", "kind")
        if kind == "dot" and self.key_size != self.query_size:
            raise ValueError(
                f"LuongAttention(kind='dot') needs key_size == query_size, got key_size={self.key_size} and "
                f"query_size={self.query_size}; use kind='general' to learn a map between them"
            )
        self.kind = kind
        if kind == "general":
            self.W = Linear(self.key_size, self.query_size, bias=False, dtype=self._dtype)

    def _weight(self):
        return self.W.weight.data if self.kind == "general" else None

    def _project(self, keys):
        return luong_prepare_forward(keys, self._weight())

    def _project_backward(self, memory):
        dkeys, dweight = luong_prepare_backward(memory.dprojected_keys, memory.dkeys, memory.prepare_cache)
        if self.kind == "general":
            self.W.weight.accumulate(dweight)
        return dkeys

    def _attend(self, query, memory):
        return luong_attend_forward(query, memory.keys, memory.projected_keys, memory.mask)

    def _attend_backward(self, dcontext, dweights, cache):
        return luong_attend_backward(dcontext, dweights, cache, keys_grad=False)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kind={self.kind!r}"
