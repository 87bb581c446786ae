"""Text in, text out: the inference side of a trained model, for the CLI and examples.

``translate`` runs the whole pipeline on raw sentences: tokenise, look up ids (unknown
words become ``<unk>``), pad into batches of similar length with ``lengths``, decode
greedily (or with beam search), and turn the ids back into text written with the
training targets' spacing (a :class:`minirnn.data.Spacing`). ``score_translations``
translates the sources of a parallel file and scores them with BLEU, chrF and exact
match against all their references. ``classify_texts`` runs a ``SequenceClassifier``
and returns each label with its probability.

Decoding length follows the input: by default a sentence of S source tokens may
produce up to ``2 S + 10`` tokens, so nothing long is cut silently; a sentence that
still runs out of steps is flagged (``finished=False``).
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import backend_of, np, to_device, to_numpy
from ..checks import check_positive_int


class Translation(NamedTuple):
    """One decoded sentence.

    ``weights`` is (len(output_tokens) + 1, len(source_tokens)): one row per generated
    token, EOS included when it was produced (None for a model without attention).
    ``unknown`` lists the source tokens outside the source vocabulary (read as
    ``<unk>``); ``finished`` is False when decoding stopped at ``max_len`` before EOS.
    """

    source: str
    source_tokens: list
    output_tokens: list
    text: str
    weights: object
    unknown: tuple = ()
    finished: bool = True


def default_max_len(source_length: int) -> int:
    """The decoding budget for a source of ``source_length`` tokens: ``2 S + 10``."""
    return 2 * int(source_length) + 10


def encode_batch(texts, vocab, lower: bool = True, mode: str = "word"):
    """Raw texts -> (token lists, padded ids (N, S) int64, lengths (N,)) on the host."""
    from ..data import pad_sequences, tokenize

    token_lists = [tokenize(t, lower=lower, mode=mode) for t in texts]
    for text, tokens in zip(texts, token_lists):
        if not tokens:
            raise ValueError(f"nothing to translate: {text!r} has no tokens")
    ids, lengths = pad_sequences([vocab.encode(tokens) for tokens in token_lists], vocab.pad_id)
    return token_lists, ids, lengths


def _replace_unknown(words, source_tokens, weights, unk_token):
    """Each ``<unk>`` output word becomes the source token it attends to most (Luong et al., 2015):
    names and numbers unseen in training are usually copied as they are."""
    if weights is None or unk_token not in words:
        return words
    return [source_tokens[int(np.argmax(weights[i]))] if w == unk_token else w for i, w in enumerate(words)]


def _decode_chunk(model, src_vocab, tgt_vocab, token_lists, max_len, beam_size):
    """Decode one batch; returns (ids (N, T_out) on the host, attention weights or None)."""
    from ..data import pad_sequences

    ids, lengths = pad_sequences([src_vocab.encode(tokens) for tokens in token_lists], src_vocab.pad_id)
    budget = int(max_len) if max_len is not None else default_max_len(int(lengths.max()))
    src = to_device(ids, backend_of(model.parameters()[0].data))
    if beam_size > 1:
        out, weights = model.beam_search(src, lengths, budget, tgt_vocab.bos_id, tgt_vocab.eos_id, beam_size)
    else:
        out, weights = model.greedy_decode(src, lengths, budget, tgt_vocab.bos_id, tgt_vocab.eos_id)
    return to_numpy(out), (None if weights is None else np.asarray(to_numpy(weights)))


def translate(model, src_vocab, tgt_vocab, texts, max_len: int | None = None, beam_size: int = 1,
              lower: bool = True, mode: str = "word", spacing=None, batch_size: int = 64,
              replace_unknown: bool = True) -> list[Translation]:
    """Decode each text; greedy when ``beam_size == 1``, beam search otherwise.

    ``max_len`` None gives each text ``default_max_len`` of its own length (a batch
    decodes up to its longest source's budget, and each row is cut to its own).
    Texts are decoded ``batch_size`` at a time, sorted by length (results come back
    in the input order). ``spacing`` writes the output (default: English).
    """
    from ..data import detokenize, tokenize

    texts = [texts] if isinstance(texts, str) else list(texts)
    beam_size = check_positive_int(beam_size, "translate", "beam_size")
    token_lists = [tokenize(t, lower=lower, mode=mode) for t in texts]
    for text, tokens in zip(texts, token_lists):
        if not tokens:
            raise ValueError(f"nothing to translate: {text!r} has no tokens")
    order = sorted(range(len(texts)), key=lambda i: len(token_lists[i]))
    results: list = [None] * len(texts)
    for start in range(0, len(order), max(1, int(batch_size))):
        rows = order[start : start + max(1, int(batch_size))]
        out, weights = _decode_chunk(model, src_vocab, tgt_vocab, [token_lists[i] for i in rows], max_len,
                                     beam_size)
        for k, i in enumerate(rows):
            tokens = token_lists[i]
            budget = int(max_len) if max_len is not None else default_max_len(len(tokens))  # its own, not the batch's
            ids = out[k][:budget]
            ended = tgt_vocab.eos_id in ids.tolist()
            words = tgt_vocab.decode(ids)
            steps = len(words) + (1 if ended else 0)
            attn = None if weights is None else weights[k, :steps, : len(tokens)]
            if replace_unknown:
                words = _replace_unknown(words, tokens, attn, tgt_vocab.unk_token)
            unknown = tuple(dict.fromkeys(t for t in tokens if t not in src_vocab))
            results[i] = Translation(texts[i], tokens, words, detokenize(words, mode=mode, spacing=spacing), attn,
                                     unknown, ended)
    return results


def score_translations(model, src_vocab, tgt_vocab, groups, beam_size: int = 1, lower: bool = True,
                       mode: str = "word", spacing=None, max_len: int | None = None):
    """Translate each group's source and score against all its references.

    ``groups`` are :class:`minirnn.data.SourceGroup` (``group_references`` of a parallel
    file). Returns ``(scores, translations)``: ``scores`` as
    :func:`minirnn.train.metrics.translation_scores` (lower-cased when the model is).
    """
    from .metrics import translation_scores

    groups = list(groups)
    translations = translate(model, src_vocab, tgt_vocab, [g.source for g in groups], max_len=max_len,
                             beam_size=beam_size, lower=lower, mode=mode, spacing=spacing)
    scores = translation_scores([t.text for t in translations], [g.references for g in groups], lower=lower)
    return scores, translations


def classify_texts(model, vocab, classes, texts, lower: bool = True, mode: str = "word"):
    """``[(label, probability, probabilities (C,))]`` for each text, with a SequenceClassifier."""
    if isinstance(texts, str):
        texts = [texts]
    _, ids, lengths = encode_batch(texts, vocab, lower, mode)
    probs = model.predict_proba(to_device(ids, backend_of(model.parameters()[0].data)), lengths)
    probs = np.asarray(to_numpy(probs), dtype=np.float64)
    return [(classes[int(p.argmax())], float(p.max()), p) for p in probs]
