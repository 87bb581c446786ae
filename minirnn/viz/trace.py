"""The six-stage pipeline trace of one real example through a trained Seq2Seq.

The stages follow the seed text's "Model Pipeline" (input, tokenise + encode,
pad, encoder, decoder, output decoding), each with its real shapes and values::

    [1] Input data          raw text
    [2] Tokenize + encode   tokens -> ids through the source vocabulary
    [3] Pad                 ids -> (1, S) padded with <pad>=0, lengths, mask
    [4] Encoder             embeddings (N, S, E) -> outputs (N, S, K), decoder state (L, N, H)
    [5] Decoder             per step: input token, top-k next tokens, attention over the source
    [6] Output decoding     ids -> words -> text

Everything is computed here with the model's own ``encode`` and ``decode_step``
under ``no_grad`` (greedy), so the trace is exactly what ``greedy_decode`` does.
Returns a string; nothing prints.
"""

from __future__ import annotations

from ..backend import backend_of, np, to_device, to_numpy
from ..functional import softmax
from ..nn import no_grad


def _fmt_vector(values, count: int = 4) -> str:
    values = np.asarray(to_numpy(values), dtype=np.float64).ravel()
    shown = ", ".join(f"{v:+.3f}" for v in values[:count])
    return f"[{shown}{', ...' if values.size > count else ''}]"


def _quote(tokens) -> str:
    return "[" + ", ".join(f'"{t}"' for t in tokens) + "]"


def pipeline_trace(model, src_vocab, tgt_vocab, text: str, max_len: int = 20, top_k: int = 3,
                   pad_to: int | None = None, lower: bool = True, mode: str = "word", join: str | None = None) -> str:
    """The six stages for ``text``: what each one receives, does and hands on.

    ``join``: how output tokens become text; None detokenises words (``minirnn.data.detokenize``),
    a string joins them with it ("" for ISO dates).
    """
    from ..data import detokenize, pad_sequences, tokenize

    lines = []
    add = lines.append
    rule = "─" * 78

    # [1] input
    add(rule)
    add("[1] Input data          1 sentence (raw text)")
    add(f'    "{text}"')

    # [2] tokenize + encode
    tokens = tokenize(text, lower=lower, mode=mode)
    if not tokens:
        raise ValueError(f"pipeline_trace: {text!r} has no tokens")
    ids = src_vocab.encode(tokens)
    unknown = [t for t, i in zip(tokens, ids) if i == src_vocab.unk_id]
    add(f"[2] Tokenize + encode   {len(tokens)} tokens -> {len(ids)} ids (source vocabulary of {len(src_vocab)})")
    add(f"    {_quote(tokens)} -> {ids}")
    if unknown:
        add(f"    unknown to the vocabulary (mapped to <unk>={src_vocab.unk_id}): {', '.join(unknown)}")

    # [3] pad
    width = max(pad_to or 0, len(ids) + 3)
    padded, lengths = pad_sequences([ids], src_vocab.pad_id, max_len=width)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(int)
    add(f"[3] Pad                 (1, {len(ids)}) -> (1, {width}) with <pad>={src_vocab.pad_id}; "
        f"lengths = {lengths.tolist()}")
    add(f"    {ids} -> {padded[0].tolist()}")
    add(f"    mask {mask[0].tolist()}  (the encoder stops at the length; attention ignores the pads)")

    # [4] encoder
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            src = to_device(padded, backend_of(model.parameters()[0].data))
            encoded = model.encode(src, lengths)
            outputs = to_numpy(encoded.outputs)  # (1, S, K)
            E = model.embed_dim
            add(f"[4] Encoder             ids (1, {width}) -> embeddings (1, {width}, {E}) -> "
                f"{'bidirectional ' if model.num_directions == 2 else ''}{model.cell.upper()} -> "
                f"outputs {tuple(outputs.shape)}")
            for s in range(min(len(ids), 4)):
                add(f"    output[{s}] \"{tokens[s]}\": {_fmt_vector(outputs[0, s])}")
            if len(ids) > 4:
                add(f"    ... ({len(ids) - 4} more); output[{len(ids)}:] past the length are exactly "
                    f"{float(np.abs(outputs[0, len(ids):]).max()) if width > len(ids) else 0.0:g}")
            h0 = to_numpy(encoded.state.h)
            add(f"    context: decoder initial state h0 {tuple(h0.shape)} = {_fmt_vector(h0[-1, 0])}"
                + (" (attention reads all the outputs at every step)" if encoded.memory is not None else ""))

            # [5] decoder
            add(f"[5] Decoder             state ({model.num_layers}, 1, {model.hidden_size}) -> one token per step, "
                f"greedy, top {top_k} of {len(tgt_vocab)}")
            state = encoded.state
            xp_ids = src[:, 0] * 0 + tgt_vocab.bos_id  # (1,) on the model's device
            out_ids = []
            for step in range(max_len):
                logits, state, weights = model.decode_step(xp_ids, state, encoded)
                probs = np.asarray(to_numpy(softmax(logits.astype("float64"), axis=-1)))[0]
                order = np.argsort(-probs, kind="stable")[:top_k]
                best = int(order[0])
                prev = tgt_vocab.lookup_token(int(to_numpy(xp_ids)[0]))
                tops = "  ".join(f"{tgt_vocab.lookup_token(int(i))} {probs[i]:.2f}" for i in order)
                line = f"    step {step + 1:>2}  in {prev:<10} top: {tops}"
                if weights is not None:
                    w = np.asarray(to_numpy(weights))[0, : len(ids)]
                    focus = int(w.argmax())
                    line += f"   attn -> \"{tokens[focus]}\" {w[focus]:.2f}"
                add(line)
                if weights is not None and step < 3:
                    add("              attention " + " ".join(f"{t}:{v:.2f}" for t, v in zip(tokens, w)))
                out_ids.append(best)
                if best == tgt_vocab.eos_id:
                    break
                xp_ids = xp_ids * 0 + best
    finally:
        model.train(was_training)

    # [6] output decoding
    words = tgt_vocab.decode(out_ids)
    add(f"[6] Output decoding     {len(out_ids)} ids -> {len(words)} words (target vocabulary of {len(tgt_vocab)})")
    add(f"    {out_ids} -> {_quote(words)}")
    rendered = detokenize(words, mode=mode) if join is None else join.join(words)
    add(f'    "{text}" -> "{rendered}"')
    add(rule)
    return "\n".join(lines)
