"""The six-stage pipeline trace of one real example through a trained Seq2Seq.

The stages follow the seed text's "Model Pipeline" (input, tokenise + encode,
pad, encoder, decoder, output decoding), each with its real shapes and values::

    [1] Input data          raw text
    [2] Tokenize + encode   tokens -> ids through the source vocabulary
    [3] Pad                 ids -> (1, S) padded with <pad>=0, lengths, mask
    [4] Encoder             embeddings (N, S, E) -> outputs (N, S, K), decoder state (L, N, H)
    [5] Decoder             per step: input token, top-k next tokens, attention over the source
    [6] Output decoding     ids -> words (characters with mode="char") -> text

Everything is computed with the model's own ``encode`` and the greedy steps of
``models.decoding.greedy_steps`` under ``inference_mode``, so the trace is exactly
what ``greedy_decode`` does. Returns a string; nothing prints.
"""

from __future__ import annotations

from ..backend import backend_of, np, to_device, to_numpy
from ..data import detokenize, pad_sequences, tokenize
from ..functional import softmax
from ..models.decoding import greedy_steps
from ..nn import inference_mode

RULE = "─" * 78


def _fmt_vector(values, count: int = 4) -> str:
    values = np.asarray(to_numpy(values), dtype=np.float64).ravel()
    shown = ", ".join(f"{v:+.3f}" for v in values[:count])
    return f"[{shown}{', ...' if values.size > count else ''}]"


def _quote(tokens) -> str:
    return "[" + ", ".join(f'"{t}"' for t in tokens) + "]"


def _encode_stage(text, src_vocab, lower, mode):
    """[2] tokens and ids; raises when the text has no token."""
    tokens = tokenize(text, lower=lower, mode=mode)
    if not tokens:
        raise ValueError(f"pipeline_trace: {text!r} has no tokens")
    ids = src_vocab.encode(tokens)
    lines = [f"[2] Tokenize + encode   {len(tokens)} tokens -> {len(ids)} ids (source vocabulary of {len(src_vocab)})",
             f"    {_quote(tokens)} -> {ids}"]  # fmt: skip
    unknown = [t for t, i in zip(tokens, ids) if i == src_vocab.unk_id]
    if unknown:
        lines.append(f"    unknown to the vocabulary (mapped to <unk>={src_vocab.unk_id}): {', '.join(unknown)}")
    return tokens, ids, lines


def _pad_stage(ids, pad_id, pad_to):
    """[3] the (1, S) padded batch, its lengths and mask."""
    width = max(pad_to or 0, len(ids) + 3)  # a few pads even for a long sentence, to show them
    padded, lengths = pad_sequences([ids], pad_id, max_len=width)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(int)
    lines = [f"[3] Pad                 (1, {len(ids)}) -> (1, {width}) with <pad>={pad_id}; "
             f"lengths = {lengths.tolist()}",
             f"    {ids} -> {padded[0].tolist()}",
             f"    mask {mask[0].tolist()}  (the encoder stops at the length; attention ignores the pads)"]  # fmt: skip
    return padded, lengths, lines


def _encoder_stage(model, encoded, tokens, width):
    """[4] the encoder outputs (first few positions) and the decoder's initial state."""
    outputs = to_numpy(encoded.outputs)  # (1, S, K)
    length = len(tokens)
    direction = "bidirectional " if model.num_directions == 2 else ""
    lines = [f"[4] Encoder             ids (1, {width}) -> embeddings (1, {width}, {model.embed_dim}) -> "
             f"{direction}{model.cell.upper()} -> outputs {tuple(outputs.shape)}"]  # fmt: skip
    lines += [f'    output[{s}] "{tokens[s]}": {_fmt_vector(outputs[0, s])}' for s in range(min(length, 4))]
    if length > 4:
        past = float(np.abs(outputs[0, length:]).max()) if width > length else 0.0
        lines.append(f"    ... ({length - 4} more); output[{length}:] past the length are exactly {past:g}")
    h0 = to_numpy(encoded.state.h)
    reads = " (attention reads all the outputs at every step)" if encoded.memory is not None else ""
    lines.append(f"    context: decoder initial state h0 {tuple(h0.shape)} = {_fmt_vector(h0[-1, 0])}{reads}")
    return lines


def _decoder_stage(model, encoded, tokens, tgt_vocab, max_len, top_k):
    """[5] one line per greedy step: the token fed in, the top-k next tokens, the attention."""
    lines = [f"[5] Decoder             state ({model.num_layers}, 1, {model.hidden_size}) -> one token per step, "
             f"greedy, top {top_k} of {len(tgt_vocab)}"]  # fmt: skip
    out_ids = []
    for step, greedy in enumerate(greedy_steps(model, encoded, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)):
        probs = np.asarray(to_numpy(softmax(greedy.logits.astype("float64"), axis=-1)))[0]
        order = np.argsort(-probs, kind="stable")[:top_k]
        fed = tgt_vocab.lookup_token(int(to_numpy(greedy.prev_ids)[0]))
        tops = "  ".join(f"{tgt_vocab.lookup_token(int(i))} {probs[i]:.2f}" for i in order)
        line = f"    step {step + 1:>2}  in {fed:<10} top: {tops}"
        if greedy.attn_weights is not None:
            weights = np.asarray(to_numpy(greedy.attn_weights))[0, : len(tokens)]
            focus = int(weights.argmax())
            line += f'   attn -> "{tokens[focus]}" {weights[focus]:.2f}'
        lines.append(line)
        if greedy.attn_weights is not None and step < 3:
            lines.append("              attention " + " ".join(f"{t}:{v:.2f}" for t, v in zip(tokens, weights)))
        out_ids.append(int(to_numpy(greedy.tokens)[0]))
    return out_ids, lines


def pipeline_trace(model, src_vocab, tgt_vocab, text: str, max_len: int = 20, top_k: int = 3,
                   pad_to: int | None = None, lower: bool = True, mode: str = "word", join: str | None = None) -> str:
    """The six stages for ``text``: what each one receives, does and hands on.

    ``join``: how output tokens become text; None detokenises words (``minirnn.data.detokenize``),
    a string joins them with it ("" for ISO dates).
    """
    lines = [RULE, "[1] Input data          1 sentence (raw text)", f'    "{text}"']
    tokens, ids, encode_lines = _encode_stage(text, src_vocab, lower, mode)
    padded, lengths, pad_lines = _pad_stage(ids, src_vocab.pad_id, pad_to)
    lines += encode_lines + pad_lines
    with inference_mode(model):
        src = to_device(padded, backend_of(model.parameters()[0].data))
        encoded = model.encode(src, lengths)
        lines += _encoder_stage(model, encoded, tokens, padded.shape[1])
        out_ids, decoder_lines = _decoder_stage(model, encoded, tokens, tgt_vocab, max_len, top_k)
    lines += decoder_lines
    words = tgt_vocab.decode(out_ids)
    rendered = detokenize(words, mode=mode) if join is None else join.join(words)
    unit = "characters" if mode == "char" else "words" if join is None else "tokens"
    lines += [f"[6] Output decoding     {len(out_ids)} ids -> {len(words)} {unit} "
              f"(target vocabulary of {len(tgt_vocab)})",
              f"    {out_ids} -> {_quote(words)}", f'    "{text}" -> "{rendered}"', RULE]  # fmt: skip
    return "\n".join(lines)
