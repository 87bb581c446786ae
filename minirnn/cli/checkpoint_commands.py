"""``translate``, ``predict`` and ``trace``: run a saved checkpoint on text."""

from __future__ import annotations

from .common import (
    UserError,
    add_common_options,
    load_checkpoint_file,
    note,
    output_labels,
    read_texts,
    render,
    say,
)


def _require_seq2seq(ckpt, command):
    if "tgt" not in ckpt.vocabs:
        raise UserError(f"{ckpt.path} holds a {ckpt.model_class}, not a seq2seq model; use `predict` instead of "
                        f"`{command}`" if ckpt.model_class == "SequenceClassifier"
                        else f"{ckpt.path} has no target vocabulary, so `{command}` cannot use it")


def cmd_translate(args) -> int:
    from ..train.inference import translate
    from ..viz import attention_heatmap

    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    if ckpt.model_class == "SequenceClassifier":
        return cmd_predict(args, ckpt)
    _require_seq2seq(ckpt, "translate")
    mode, lower = ckpt.extra.get("mode", "word"), ckpt.extra.get("lower", True)
    try:
        results = translate(ckpt.model, ckpt.vocabs["src"], ckpt.vocabs["tgt"], read_texts(args),
                            max_len=args.max_len, beam_size=args.beam, lower=lower, mode=mode)
    except ValueError as err:
        raise UserError(str(err)) from err
    join = ckpt.extra.get("join")
    unknown = sorted({t for r in results for t in r.source_tokens if t not in ckpt.vocabs["src"]})
    if unknown:
        note(f"note: not in the model's vocabulary, read as <unk>: {', '.join(unknown)}")
    for result in results:
        text = render(result, join)
        say(text if not args.verbose else f"{result.source}  →  {text}")
        if args.attention and result.weights is not None:
            say(attention_heatmap(result.weights, result.source_tokens, output_labels(result)))
            say()
    return 0


def cmd_predict(args, ckpt=None) -> int:
    from ..train.inference import classify_texts

    ckpt = ckpt or load_checkpoint_file(args.checkpoint, args.device)
    if ckpt.model_class != "SequenceClassifier":
        if "tgt" in ckpt.vocabs:
            return cmd_translate(args)
        raise UserError(f"{ckpt.path} holds a {ckpt.model_class}, which `predict` cannot run")
    classes = ckpt.extra.get("classes") or [str(i) for i in range(ckpt.model.num_classes)]
    mode, lower = ckpt.extra.get("mode", "word"), ckpt.extra.get("lower", True)
    try:
        results = classify_texts(ckpt.model, ckpt.vocabs["src"], classes, read_texts(args), lower=lower, mode=mode)
    except ValueError as err:
        raise UserError(str(err)) from err
    for label, prob, probs in results:
        detail = "  ".join(f"{c}:{p:.2f}" for c, p in zip(classes, probs))
        say(f"{label}\t{prob:.3f}" + (f"\t{detail}" if args.verbose else ""))
    return 0


def cmd_trace(args) -> int:
    from ..viz import pipeline_trace

    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    _require_seq2seq(ckpt, "trace")
    try:
        say(pipeline_trace(ckpt.model, ckpt.vocabs["src"], ckpt.vocabs["tgt"], " ".join(args.text),
                           max_len=args.max_len, top_k=args.top_k, mode=ckpt.extra.get("mode", "word"),
                           lower=ckpt.extra.get("lower", True), join=ckpt.extra.get("join")))
    except ValueError as err:
        raise UserError(str(err)) from err
    return 0


def register(sub) -> None:
    """Add ``translate``, ``predict`` and ``trace`` to the command parsers."""
    for name, helptext in (("translate", "translate text with a seq2seq checkpoint"),
                           ("predict", "classify text with a classifier checkpoint (or translate)")):
        p = sub.add_parser(name, help=helptext, description=helptext + "; text from the arguments or stdin.",
                           epilog=f'example: python -m minirnn {name} runs/demo/best.npz "i am happy"')
        p.add_argument("checkpoint", help="a .npz checkpoint written by minirnn")
        p.add_argument("text", nargs="*", help="sentences (each argument is one); stdin when none")
        p.add_argument("--attention", action="store_true", help="print the attention heatmap of each sentence")
        p.add_argument("--beam", type=int, default=1, help="beam size (1 = greedy, the default)")
        p.add_argument("--max-len", type=int, default=30, help="longest output, in tokens")
        p.add_argument("-v", "--verbose", action="store_true", help="print the input next to each output")
        add_common_options(p)
        p.set_defaults(func=cmd_translate if name == "translate" else cmd_predict)

    trace = sub.add_parser("trace", help="the six-stage pipeline trace of one sentence",
                           description="Show raw text, tokens, ids, padding, encoder outputs, every decoder step "
                           "(top tokens, probabilities, attention) and the output words.",
                           epilog='example: python -m minirnn trace runs/demo/best.npz "i am not happy"')
    trace.add_argument("checkpoint", help="a seq2seq .npz checkpoint")
    trace.add_argument("text", nargs="+", help="the sentence")
    trace.add_argument("--top-k", type=int, default=3, help="candidates shown per decoder step")
    trace.add_argument("--max-len", type=int, default=20, help="most decoder steps")
    add_common_options(trace)
    trace.set_defaults(func=cmd_trace)
