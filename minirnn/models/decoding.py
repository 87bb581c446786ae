"""Inference for Seq2Seq: greedy decoding and beam search.

Both run under ``inference_mode(model)`` (eval mode, so dropout is off, and no_grad;
the model's mode is restored afterwards), through the model's public pieces:
``encode`` once, then ``decode_step`` per output token. ``greedy_steps`` yields the
greedy steps one by one (the pipeline trace shows them). Both return ``(ids, attn_weights)``:

============  ===============================================================
ids           (N, T_out) int64, T_out <= max_len: the generated tokens without
              BOS, up to and including EOS, then 0 (a row that never produced
              EOS within max_len has max_len tokens and no EOS)
attn_weights  (N, T_out, S): the attention weights of each emitted token, 0 where
              ids is padding; None for a model without attention
============  ===============================================================

Both stop as soon as every row has finished. The arrays live on the device of
``src``.

Beam search keeps ``beam_size`` hypotheses per source row, batched as
N * beam_size decoder rows (row n * beam_size + k is beam k of source n). Scores
are sums of log-probabilities. A hypothesis that emits EOS among the step's top
``beam_size`` candidates is finished and kept aside with the score

    score / length ** length_penalty         (length counts EOS; no BOS)

(``length_penalty=0`` ranks by raw log-probability, 1 by the mean per token; the
GNMT form ((5 + length) / 6) ** alpha ranks the same way up to a constant when all
lengths are equal, and is not used). A source row is done when ``beam_size``
hypotheses have finished; at ``max_len`` the hypotheses still alive compete with
the finished ones under the same normalisation. The best one is returned. With
``beam_size=1`` this is exactly greedy decoding.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import backend_of, get_array_module, np, to_device, to_numpy
from ..checks import check_int, check_positive_int
from ..functional import log_softmax
from ..nn import inference_mode


def _check_decode_args(model, max_len, bos_id, eos_id, where):
    max_len = check_positive_int(max_len, where, "max_len")
    vocab = model.tgt_vocab_size
    bos_id = check_int(bos_id, where, "bos_id (an id of the target vocabulary)", 0, vocab - 1)
    eos_id = check_int(eos_id, where, "eos_id (an id of the target vocabulary)", 0, vocab - 1)
    return max_len, bos_id, eos_id


# ============================================================================ greedy


class GreedyStep(NamedTuple):
    """One step of greedy decoding, as ``greedy_steps`` yields it.

    prev_ids      (N,) the tokens fed in (BOS at the first step)
    logits        (N, V) the decoder's logits for the next token
    attn_weights  (N, S) the attention weights, 0 on rows already finished; None without attention
    tokens        (N,) int64: the argmax token of each row, 0 on rows already finished
    """

    prev_ids: object
    logits: object
    attn_weights: object
    tokens: object


def greedy_steps(model, encoded, max_len: int, bos_id: int, eos_id: int):
    """Greedy decoding one step at a time: an iterator of ``GreedyStep``.

    ``encoded`` is ``model.encode(src, src_lengths)``. It stops after ``max_len`` steps
    or once every row has emitted EOS. Run it under ``inference_mode(model)``, as
    ``greedy_decode`` does; ``viz.pipeline_trace`` uses it to show each step.
    """
    max_len, bos_id, eos_id = _check_decode_args(model, max_len, bos_id, eos_id, "greedy_steps")
    return _greedy_steps(model, encoded, max_len, bos_id, eos_id)


def _greedy_steps(model, encoded, max_len, bos_id, eos_id):
    xp = get_array_module(encoded.outputs)
    batch = encoded.outputs.shape[0]
    state = encoded.state
    prev_ids = xp.full((batch,), bos_id, dtype=xp.int64)
    finished = xp.zeros((batch,), dtype=bool)
    for _ in range(max_len):
        logits, state, attn_weights = model.decode_step(prev_ids, state, encoded)
        tokens = xp.where(finished, 0, logits.argmax(axis=1)).astype(xp.int64)  # 0 after EOS
        if attn_weights is not None:
            attn_weights = xp.where(finished[:, None], 0, attn_weights)
        yield GreedyStep(prev_ids, logits, attn_weights, tokens)
        finished = finished | (tokens == eos_id)
        if bool(finished.all()):
            return
        prev_ids = tokens  # the argmax is fed back


def greedy_decode(model, src, src_lengths, max_len: int, bos_id: int, eos_id: int):
    """Feed back the argmax token at every step; returns ``(ids, attn_weights)`` (see the module docstring)."""
    max_len, bos_id, eos_id = _check_decode_args(model, max_len, bos_id, eos_id, "greedy_decode")
    xp = get_array_module(src)
    with inference_mode(model):
        steps = list(_greedy_steps(model, model.encode(src, src_lengths), max_len, bos_id, eos_id))
    ids = xp.stack([step.tokens for step in steps], axis=1)  # (N, T_out)
    if steps[0].attn_weights is None:
        return ids, None
    return ids, xp.stack([step.attn_weights for step in steps], axis=1)  # (N, T_out, S)


# ============================================================================ beam search


class _Hypothesis(NamedTuple):
    score: float  # normalised: log-probability / length ** length_penalty
    tokens: object  # (length,) host int64, EOS last when finished
    weights: object  # (length, S) host attention weights, or None without attention


class _Beams:
    """The host bookkeeping of a batched beam search: N source rows, ``beam`` hypotheses each.

    ``scores`` (N, beam) sums of log-probabilities (-inf for an empty slot);
    ``tokens`` (N, beam, t) and ``history`` (N, beam, t, S) the live hypotheses so far;
    ``finished[n]`` the hypotheses of row n that emitted EOS; ``done[n]`` once row n
    has ``beam`` of them. The per-step work here is O(N * beam) Python; the decoder's
    math stays batched on the device.
    """

    def __init__(self, batch: int, beam: int, source_len: int, has_attention: bool, alpha: float):
        self.beam, self.alpha = beam, alpha
        self.scores = np.full((batch, beam), -np.inf)
        self.scores[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
        self.tokens = np.zeros((batch, beam, 0), dtype=np.int64)
        self.history = np.zeros((batch, beam, 0, source_len)) if has_attention else None
        self.finished = [[] for _ in range(batch)]
        self.done = np.zeros(batch, dtype=bool)

    def advance(self, log_probs, step_weights, eos_id: int):
        """Extend every live hypothesis by one token: log_probs (N, beam, V), step_weights (N, beam, S) or None.

        Returns ``(origin, new_tokens)``, (N, beam) each: the beam each survivor came
        from and the token it added, for reordering the decoder state.
        """
        batch, beam, vocab = log_probs.shape
        candidates = (self.scores[:, :, None] + log_probs).reshape(batch, beam * vocab)
        # The best 2 * beam candidates always hold `beam` non-EOS ones (at most `beam` are EOS).
        order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * beam]
        scores = np.full((batch, beam), -np.inf)
        origin = np.zeros((batch, beam), dtype=np.int64)
        new_tokens = np.zeros((batch, beam), dtype=np.int64)
        for n in np.flatnonzero(~self.done):
            survivors = self._select(n, candidates[n], order[n], vocab, eos_id, step_weights)
            for k, (score, source_beam, token) in enumerate(survivors):
                scores[n, k], origin[n, k], new_tokens[n, k] = score, source_beam, token
            self.done[n] = len(self.finished[n]) >= beam
        rows = np.arange(batch)[:, None]
        self.tokens = np.concatenate([self.tokens[rows, origin], new_tokens[:, :, None]], axis=2)
        if self.history is not None:
            self.history = np.concatenate([self.history[rows, origin], step_weights[rows, origin][:, :, None]], axis=2)
        self.scores = scores
        return origin, new_tokens

    def _select(self, n, candidates, order, vocab, eos_id, step_weights):
        """Row n's survivors ``[(score, beam, token)]``, best first; moves its EOS candidates to ``finished``."""
        survivors = []
        for rank, flat in enumerate(order):
            score = candidates[flat]
            if score == -np.inf or (len(survivors) == self.beam and rank >= self.beam):
                break
            k, token = divmod(int(flat), vocab)
            if token != eos_id:
                if len(survivors) < self.beam:
                    survivors.append((score, k, token))
            elif rank < self.beam:  # EOS only counts among the top `beam` (keeps beam 1 == greedy)
                self._finish(n, k, score, eos_id, step_weights)
        return survivors

    def _finish(self, n, k, score, eos_id, step_weights):
        """Hypothesis k of row n ends with EOS here: normalise its score and set it aside."""
        tokens = np.append(self.tokens[n, k], eos_id)
        weights = None if step_weights is None else np.concatenate([self.history[n, k], step_weights[n, k][None]])
        self.finished[n].append(_Hypothesis(score / len(tokens) ** self.alpha, tokens, weights))

    def best(self) -> list:
        """The best ``_Hypothesis`` of each row; a row cut off by max_len also weighs its live ones."""
        length = self.tokens.shape[2]
        best = []
        for n, pool in enumerate(self.finished):
            if not self.done[n]:
                pool = pool + [
                    _Hypothesis(self.scores[n, k] / length**self.alpha, self.tokens[n, k],
                                None if self.history is None else self.history[n, k])
                    for k in range(self.beam) if self.scores[n, k] > -np.inf
                ]  # fmt: skip
            best.append(max(pool, key=lambda hyp: hyp.score))  # max keeps the first of equal scores
        return best


def _pad_hypotheses(hypotheses, source_len: int, has_attention: bool):
    """Host ``(ids (N, T_out), weights (N, T_out, S) or None)``, zero past each hypothesis."""
    out_len = max(len(hyp.tokens) for hyp in hypotheses)
    ids = np.zeros((len(hypotheses), out_len), dtype=np.int64)
    weights = np.zeros((len(hypotheses), out_len, source_len)) if has_attention else None
    for n, hyp in enumerate(hypotheses):
        ids[n, : len(hyp.tokens)] = hyp.tokens
        if has_attention:
            weights[n, : len(hyp.tokens)] = hyp.weights
    return ids, weights


def beam_search(
    model, src, src_lengths, max_len: int, bos_id: int, eos_id: int, beam_size: int = 4, length_penalty: float = 1.0
):
    """Batched beam search; returns ``(ids, attn_weights)`` of the best hypothesis per row.

    See the module docstring for the scoring, the length penalty and when it stops.
    """
    where = "beam_search"
    max_len, bos_id, eos_id = _check_decode_args(model, max_len, bos_id, eos_id, where)
    beam = check_positive_int(beam_size, where, "beam_size")
    if not math.isfinite(float(length_penalty)):
        raise ValueError(f"{where} expects a finite length_penalty, got {length_penalty!r}")
    xp, device = get_array_module(src), backend_of(src)
    batch, source_len = src.shape
    has_attention = model.attention is not None
    beams = _Beams(batch, beam, source_len, has_attention, float(length_penalty))
    with inference_mode(model):
        encoded = model.repeat_encoded(model.encode(src, src_lengths), beam)  # row n * beam + k: beam k of n
        state = encoded.state
        prev_ids = xp.full((batch * beam,), bos_id, dtype=xp.int64)
        for _ in range(max_len):
            logits, state, attn_weights = model.decode_step(prev_ids, state, encoded)
            log_probs = to_numpy(log_softmax(logits, axis=-1)).astype(np.float64).reshape(batch, beam, -1)
            step_weights = None
            if has_attention:
                step_weights = to_numpy(attn_weights).astype(np.float64).reshape(batch, beam, source_len)
            origin, new_tokens = beams.advance(log_probs, step_weights, eos_id)
            if beams.done.all():
                break
            survivor_rows = (np.arange(batch)[:, None] * beam + origin).reshape(-1)
            state = state.take(xp.asarray(to_device(survivor_rows, device)))  # each survivor's own history
            prev_ids = xp.asarray(to_device(new_tokens.reshape(-1), device))
    ids, weights = _pad_hypotheses(beams.best(), source_len, has_attention)
    ids = xp.asarray(to_device(ids, device))
    if has_attention:
        weights = xp.asarray(to_device(weights.astype(model.out.weight.dtype), device))
    return ids, weights
