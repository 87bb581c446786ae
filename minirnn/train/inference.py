"""Text in, text out: the inference side of a trained model, for the CLI and examples.

``translate`` runs the whole pipeline on raw sentences: tokenise, look up ids (unknown
words become ``<unk>``), pad into one batch with ``lengths``, decode greedily (or with
beam search), and turn the ids back into words. ``classify_texts`` does the same for a
``SequenceClassifier`` and returns each label with its probability.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import backend_of, np, to_device, to_numpy
from ..checks import check_positive_int


class Translation(NamedTuple):
    """One decoded sentence: its source tokens, output tokens, detokenised text and attention.

    ``weights`` is (len(output_tokens) + 1, len(source_tokens)): one row per generated
    token, EOS included when it was produced (None for a model without attention).
    """

    source: str
    source_tokens: list
    output_tokens: list
    text: str
    weights: object


def _tokenizer():
    from ..data import detokenize, tokenize

    return tokenize, detokenize


def encode_batch(texts, vocab, lower: bool = True, mode: str = "word"):
    """Raw texts -> (token lists, padded ids (N, S) int64, lengths (N,)) on the host."""
    tokenize, _ = _tokenizer()
    from ..data import pad_sequences

    token_lists = [tokenize(t, lower=lower, mode=mode) for t in texts]
    for text, tokens in zip(texts, token_lists):
        if not tokens:
            raise ValueError(f"nothing to translate: {text!r} has no tokens")
    ids, lengths = pad_sequences([vocab.encode(tokens) for tokens in token_lists], vocab.pad_id)
    return token_lists, ids, lengths


def translate(model, src_vocab, tgt_vocab, texts, max_len: int = 30, beam_size: int = 1,
              lower: bool = True, mode: str = "word") -> list[Translation]:
    """Decode each text; greedy when ``beam_size == 1``, beam search otherwise."""
    if isinstance(texts, str):
        texts = [texts]
    beam_size = check_positive_int(beam_size, "translate", "beam_size")
    _, detokenize = _tokenizer()
    token_lists, ids, lengths = encode_batch(texts, src_vocab, lower, mode)
    src = to_device(ids, backend_of(model.parameters()[0].data))
    if beam_size > 1:
        out, weights = model.beam_search(src, lengths, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id, beam_size)
    else:
        out, weights = model.greedy_decode(src, lengths, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)
    out = to_numpy(out)
    weights = None if weights is None else np.asarray(to_numpy(weights))
    results = []
    for row, (text, tokens) in enumerate(zip(texts, token_lists)):
        words = tgt_vocab.decode(out[row])
        steps = len(words) + (1 if tgt_vocab.eos_id in out[row].tolist() else 0)
        attn = None if weights is None else weights[row, :steps, : len(tokens)]
        results.append(Translation(text, tokens, words, detokenize(words, mode=mode), attn))
    return results


def classify_texts(model, vocab, classes, texts, lower: bool = True, mode: str = "word"):
    """``[(label, probability, probabilities (C,))]`` for each text, with a SequenceClassifier."""
    if isinstance(texts, str):
        texts = [texts]
    _, ids, lengths = encode_batch(texts, vocab, lower, mode)
    probs = model.predict_proba(to_device(ids, backend_of(model.parameters()[0].data)), lengths)
    probs = np.asarray(to_numpy(probs), dtype=np.float64)
    return [(classes[int(p.argmax())], float(p.max()), p) for p in probs]
