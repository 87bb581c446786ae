"""``translate``, ``predict`` and ``trace``: run a saved checkpoint on text.

Text comes from the arguments (one sentence each) or from stdin (one per line). One
output line answers each input line, and a blank input line gives a blank output
line, so the output lines up with the input. Remarks about single inputs (words the
model never saw, an input longer than any it was trained on, an output cut by
``--max-len``) go to stderr, each naming its input.
"""

from __future__ import annotations

from .common import (
    UserError,
    add_common_options,
    load_checkpoint_file,
    note,
    output_labels,
    positive_int,
    read_texts,
    render,
    say,
)


def checkpoint_kind(ckpt) -> str:
    """``"translator"`` (a Seq2Seq with source and target vocabularies) or ``"classifier"``
    (a SequenceClassifier with its vocabulary); anything else cannot be run on text."""
    from ..models import Seq2Seq, SequenceClassifier

    if isinstance(ckpt.model, SequenceClassifier):
        if "src" not in ckpt.vocabs:
            raise UserError(f"{ckpt.path} has no 'src' vocabulary, so it cannot be run on text")
        return "classifier"
    if isinstance(ckpt.model, Seq2Seq):
        if "src" not in ckpt.vocabs or "tgt" not in ckpt.vocabs:
            raise UserError(f"{ckpt.path} has no source and target vocabularies, so it cannot be run on text")
        return "translator"
    raise UserError(f"{ckpt.path} holds a {ckpt.model_class}, which cannot be run on text (that needs a Seq2Seq "
                    "or a SequenceClassifier written by `train` or `demo`)")


def require_kind(ckpt, kind: str, command: str) -> None:
    """Refuse a checkpoint of the other kind, naming the command that runs it."""
    found = checkpoint_kind(ckpt)
    if found != kind:
        other = "predict" if found == "classifier" else "translate"
        what = "a text classifier (SequenceClassifier)" if found == "classifier" else "a translator (Seq2Seq)"
        raise UserError(f"{ckpt.path} holds {what}, which `{command}` cannot run; use "
                        f"`python -m minirnn {other} {ckpt.path} ...`")


def spacing_of(ckpt):
    """How the checkpoint's training targets were written (English rules for older checkpoints)."""
    from ..data import Spacing

    try:
        return Spacing.from_dict(ckpt.extra.get("spacing"))
    except ValueError as err:
        raise UserError(f"{ckpt.path}: {err}") from err


def _input_notes(number: int, result, ckpt, max_len) -> list[str]:
    """What a user should know about one input: unknown words, a length never trained on, a cut output."""
    notes = []
    if result.unknown:
        notes.append(f"not in the model's vocabulary, read as <unk>: {', '.join(result.unknown)}")
    longest = ckpt.extra.get("max_src_len")
    if longest and len(result.source_tokens) > longest:
        notes.append(f"{len(result.source_tokens)} tokens, longer than any training source ({longest}): "
                     "expect a poor translation")
    if not result.finished:
        budget = max_len or "2 x its length + 10"
        notes.append(f"the output was cut at {len(result.output_tokens)} tokens (--max-len {budget}) "
                     "before the model ended it")
    return [f"note: input {number}: {text}" for text in notes]


def cmd_translate(args) -> int:
    from ..train.inference import translate
    from ..viz import attention_heatmap

    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    require_kind(ckpt, "translator", "translate")
    texts = read_texts(args)
    filled = [i for i, t in enumerate(texts) if t.strip()]
    try:
        results = [] if not filled else translate(
            ckpt.model, ckpt.vocabs["src"], ckpt.vocabs["tgt"], [texts[i] for i in filled], max_len=args.max_len,
            beam_size=args.beam, lower=ckpt.extra.get("lower", True), mode=ckpt.extra.get("mode", "word"),
            spacing=spacing_of(ckpt))
    except ValueError as err:
        raise UserError(str(err)) from err
    by_line = dict(zip(filled, results))
    for i in range(len(texts)):
        result = by_line.get(i)
        if result is None:
            say("")
            continue
        for line in _input_notes(i + 1, result, ckpt, args.max_len):
            note(line)
        output = render(result, ckpt.extra.get("join"))
        say(output if not args.verbose else f"{result.source}  →  {output}")
        if args.attention and result.weights is not None:
            say(attention_heatmap(result.weights, result.source_tokens, output_labels(result)))
            say()
    return 0


def cmd_predict(args) -> int:
    from ..train.inference import classify_texts

    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    require_kind(ckpt, "classifier", "predict")
    classes = ckpt.extra.get("classes") or [str(i) for i in range(ckpt.model.num_classes)]
    texts = read_texts(args)
    filled = [i for i, t in enumerate(texts) if t.strip()]
    try:
        results = [] if not filled else classify_texts(
            ckpt.model, ckpt.vocabs["src"], classes, [texts[i] for i in filled], lower=ckpt.extra.get("lower", True),
            mode=ckpt.extra.get("mode", "word"))
    except ValueError as err:
        raise UserError(str(err)) from err
    by_line = dict(zip(filled, results))
    for i in range(len(texts)):
        if i not in by_line:
            say("")
            continue
        label, prob, probs = by_line[i]
        detail = "  ".join(f"{c}:{p:.2f}" for c, p in zip(classes, probs))
        say(f"{label}\t{prob:.3f}" + (f"\t{detail}" if args.verbose else ""))
    return 0


def cmd_trace(args) -> int:
    from ..viz import pipeline_trace

    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    require_kind(ckpt, "translator", "trace")
    if not " ".join(args.text).strip():
        raise UserError("trace needs a sentence with at least one token")
    try:
        say(pipeline_trace(ckpt.model, ckpt.vocabs["src"], ckpt.vocabs["tgt"], " ".join(args.text),
                           max_len=args.max_len, top_k=args.top_k, mode=ckpt.extra.get("mode", "word"),
                           lower=ckpt.extra.get("lower", True), join=ckpt.extra.get("join")))
    except ValueError as err:
        raise UserError(str(err)) from err
    return 0


def _text_command(sub, name: str, func, helptext: str, epilog: str, verbose: str):
    """A parser for ``name CHECKPOINT [TEXT ...]``: text from the arguments or stdin, ``-v``, the common options."""
    parser = sub.add_parser(name, help=helptext, epilog=epilog,
                            description=f"{helptext[0].upper()}{helptext[1:]}. Text comes from the arguments (one "
                            "text each) or stdin (one per line; one output line per input line, blank lines kept). "
                            "Options may come anywhere on the line.")
    parser.add_argument("checkpoint", help="a .npz checkpoint written by minirnn's train or demo")
    parser.add_argument("text", nargs="*", help="texts (each argument is one); stdin when none")
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose)
    add_common_options(parser, seed=False)
    parser.set_defaults(func=func)
    return parser


def register(sub) -> None:
    """Add ``translate``, ``predict`` and ``trace`` to the command parsers."""
    translate = _text_command(sub, "translate", cmd_translate, "translate text with a translator checkpoint",
                              'examples:\n  python -m minirnn translate runs/demo/best.npz "i am happy"\n'
                              '  python -m minirnn translate runs/demo/best.npz --attention "i am not happy"\n'
                              "  python -m minirnn translate runs/translate/best.npz --beam 4 < sentences.txt",
                              "print the input next to each output")
    translate.add_argument("--attention", action="store_true", help="print the attention heatmap of each sentence")
    translate.add_argument("--beam", type=positive_int, default=1, help="beam size (1 = greedy)")
    translate.add_argument("--max-len", type=positive_int, default=None,
                           help="longest output, in tokens (default: 2 x the input's length + 10)")
    _text_command(sub, "predict", cmd_predict, "classify text with a classifier checkpoint (label<TAB>probability)",
                  'example: python -m minirnn predict runs/classify/best.npz "ACGTTATAATGC"',
                  "print every class's probability")

    trace = sub.add_parser("trace", help="the six-stage pipeline trace of one sentence",
                           description="Show raw text, tokens, ids, padding, encoder outputs, every decoder step "
                           "(top tokens, probabilities, attention) and the output words.",
                           epilog='example: python -m minirnn trace runs/demo/best.npz "i am not happy"')
    trace.add_argument("checkpoint", help="a seq2seq .npz checkpoint")
    trace.add_argument("text", nargs="+", help="the sentence")
    trace.add_argument("--top-k", type=positive_int, default=3, help="candidates shown per decoder step")
    trace.add_argument("--max-len", type=positive_int, default=20, help="most decoder steps")
    add_common_options(trace, seed=False)
    trace.set_defaults(func=cmd_trace)
