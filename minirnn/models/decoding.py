"""Inference for Seq2Seq: greedy decoding and beam search.

Both run in ``eval()`` mode (dropout off; the model's mode is restored afterwards)
under ``no_grad``, through the model's public pieces: ``encode`` once, then
``decode_step`` per output token. Both return ``(ids, attn_weights)``:

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

from ..backend import backend_of, get_array_module, np, to_device, to_numpy
from ..checks import check_int, check_positive_int
from ..functional import log_softmax
from ..nn import no_grad
from .seq2seq import select_state


def _check_decode_args(model, max_len, bos_id, eos_id, where):
    max_len = check_positive_int(max_len, where, "max_len")
    vocab = model.tgt_vocab_size
    bos_id = check_int(bos_id, where, "bos_id (an id of the target vocabulary)", 0, vocab - 1)
    eos_id = check_int(eos_id, where, "eos_id (an id of the target vocabulary)", 0, vocab - 1)
    return max_len, bos_id, eos_id


class _EvalMode:
    """Eval mode and no_grad for the duration of a decode; restores the previous mode."""

    def __init__(self, model):
        self.model = model
        self.no_grad = no_grad()

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)
        return False


def greedy_decode(model, src, src_lengths, max_len: int, bos_id: int, eos_id: int):
    """Feed back the argmax token at every step; returns ``(ids, attn_weights)`` (see the module docstring)."""
    max_len, bos_id, eos_id = _check_decode_args(model, max_len, bos_id, eos_id, "greedy_decode")
    xp = get_array_module(src)
    with _EvalMode(model):
        encoded = model.encode(src, src_lengths)
        batch = src.shape[0]
        state = encoded.state
        prev_ids = xp.full((batch,), bos_id, dtype=xp.int64)
        finished = xp.zeros((batch,), dtype=bool)
        ids, weights = [], []
        for _ in range(max_len):
            logits, state, attn_weights = model.decode_step(prev_ids, state, encoded)
            tokens = xp.where(finished, 0, logits.argmax(axis=1)).astype(xp.int64)  # 0 after EOS
            ids.append(tokens)
            if attn_weights is not None:
                weights.append(xp.where(finished[:, None], 0, attn_weights))
            finished = finished | (tokens == eos_id)
            prev_ids = tokens
            if bool(finished.all()):
                break
    ids = xp.stack(ids, axis=1)  # (N, T_out)
    return ids, (xp.stack(weights, axis=1) if weights else None)


def beam_search(
    model, src, src_lengths, max_len: int, bos_id: int, eos_id: int, beam_size: int = 4, length_penalty: float = 1.0
):
    """Batched beam search; returns ``(ids, attn_weights)`` of the best hypothesis per row.

    See the module docstring for the scoring, the length penalty and when it stops.
    """
    where = "beam_search"
    max_len, bos_id, eos_id = _check_decode_args(model, max_len, bos_id, eos_id, where)
    check_positive_int(beam_size, where, "beam_size")
    if not math.isfinite(float(length_penalty)):
        raise ValueError(f"{where} expects a finite length_penalty, got {length_penalty!r}")
    beam, alpha = int(beam_size), float(length_penalty)
    xp = get_array_module(src)
    device = backend_of(src)
    batch, source_len = src.shape[0], src.shape[1]
    vocab = model.tgt_vocab_size
    has_attention = model.attention is not None

    with _EvalMode(model):
        encoded = model.repeat_encoded(model.encode(src, src_lengths), beam)  # N * beam rows
        state = encoded.state
        # Host bookkeeping: the per-step work is O(N * beam) Python, the math stays batched.
        scores = np.full((batch, beam), -np.inf)
        scores[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
        tokens = np.zeros((batch, beam, 0), dtype=np.int64)
        history = np.zeros((batch, beam, 0, source_len)) if has_attention else None
        finished = [[] for _ in range(batch)]  # per row: (normalised score, tokens, weights)
        done = np.zeros(batch, dtype=bool)
        prev_ids = xp.full((batch * beam,), bos_id, dtype=xp.int64)
        rows = np.arange(batch)[:, None]
        for step in range(max_len):
            logits, state, attn_weights = model.decode_step(prev_ids, state, encoded)
            log_probs = to_numpy(log_softmax(logits, axis=-1)).astype(np.float64).reshape(batch, beam, vocab)
            step_weights = None
            if has_attention:
                step_weights = to_numpy(attn_weights).astype(np.float64).reshape(batch, beam, source_len)
            candidates = (scores[:, :, None] + log_probs).reshape(batch, beam * vocab)
            # The best 2 * beam candidates always hold `beam` non-EOS ones (at most `beam` are EOS).
            order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * beam]
            new_scores = np.full((batch, beam), -np.inf)
            origin = np.zeros((batch, beam), dtype=np.int64)
            new_tokens = np.zeros((batch, beam), dtype=np.int64)
            length = step + 1
            for n in range(batch):
                if done[n]:
                    continue
                alive = 0
                for rank, flat in enumerate(order[n]):
                    score = candidates[n, flat]
                    if score == -np.inf or (alive == beam and rank >= beam):
                        break
                    k, token = divmod(int(flat), vocab)
                    if token == eos_id:
                        if rank < beam:  # EOS only counts among the top `beam` (keeps beam 1 == greedy)
                            hyp_weights = None
                            if has_attention:
                                hyp_weights = np.concatenate([history[n, k], step_weights[n, k][None]], axis=0)
                            hyp_tokens = np.append(tokens[n, k], eos_id)
                            finished[n].append((score / length**alpha, hyp_tokens, hyp_weights))
                    elif alive < beam:
                        new_scores[n, alive], origin[n, alive], new_tokens[n, alive] = score, k, token
                        alive += 1
                if len(finished[n]) >= beam:
                    done[n] = True
            tokens = np.concatenate([tokens[rows, origin], new_tokens[:, :, None]], axis=2)
            if has_attention:
                history = np.concatenate([history[rows, origin], step_weights[rows, origin][:, :, None]], axis=2)
            scores = new_scores
            if done.all():
                break
            flat_rows = (rows * beam + origin).reshape(-1)
            state = select_state(state, xp.asarray(to_device(flat_rows, device)))
            prev_ids = xp.asarray(to_device(new_tokens.reshape(-1), device))

    best = []
    for n in range(batch):
        pool = list(finished[n])
        if not done[n]:  # ran out of max_len: the live hypotheses compete too
            length = tokens.shape[2]
            for k in range(beam):
                if scores[n, k] > -np.inf:
                    hyp_weights = None if history is None else history[n, k]
                    pool.append((scores[n, k] / length**alpha, tokens[n, k], hyp_weights))
        best.append(max(pool, key=lambda hyp: hyp[0]))  # max keeps the first of equal scores
    out_len = max(len(hyp[1]) for hyp in best)
    ids = np.zeros((batch, out_len), dtype=np.int64)
    weights = np.zeros((batch, out_len, source_len)) if has_attention else None
    for n, (_, hyp_tokens, hyp_weights) in enumerate(best):
        ids[n, : len(hyp_tokens)] = hyp_tokens
        if has_attention:
            weights[n, : len(hyp_tokens)] = hyp_weights
    ids = xp.asarray(to_device(ids, device))
    if has_attention:
        weights = xp.asarray(to_device(weights.astype(model.out.weight.dtype), device))
    return ids, weights
