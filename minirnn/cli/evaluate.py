"""``evaluate CHECKPOINT --data FILE``: score any checkpoint on any file of its format.

* A translator reads ``source<TAB>target[<TAB>attribution]``: the references of each
  source are gathered, every source is translated once (greedy, or ``--beam K``) and
  scored with sacrebleu's corpus BLEU and chrF against all its references, plus exact
  match against any of them after normalisation.
* A classifier reads a labelled CSV/TSV (header and columns detected, or
  ``--text-col``/``--label-col``) and reports accuracy, macro-F1, a per-class table
  and the confusion matrix.

``--json`` prints one JSON object instead of the text report.
"""

from __future__ import annotations

import json
import os

from .checkpoint_commands import checkpoint_kind, spacing_of
from .common import UserError, add_common_options, load_checkpoint_file, non_negative_int, note, positive_int, say


def _read(loader, path: str, **options):
    from ..data import DataFormatError

    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"--data {path} is a folder, not a data file")
    try:
        records = loader(path, errors="skip", **options)
    except DataFormatError as err:
        raise UserError(str(err)) from err
    if records.bad_lines:
        shown = "; ".join(f"line {b.line_number}: {b.reason}" for b in records.bad_lines[:5])
        note(f"warning: skipped {len(records.bad_lines)} bad line(s) in {path}: {shown}")
    if not records:
        raise UserError(f"{path} has no usable rows")
    return records


def _same_file_note(ckpt, path: str) -> str | None:
    from .translating import file_sha256

    # A translator stores its file in its settings, a classifier in extra["data"].
    trained_on = (ckpt.extra.get("settings") or {}).get("data_file") or ckpt.extra.get("data") or {}
    if isinstance(trained_on, dict) and trained_on.get("sha256") and trained_on["sha256"] == file_sha256(path):
        return ("note: the model was trained on this file; these scores include its training examples and are "
                "optimistic (the run's held-out split was reported at the end of training)")
    return None


def evaluate_translator(ckpt, args) -> dict:
    """Translate the file's sources and score them; returns the JSON-ready result."""
    from ..data import group_references, load_parallel_tsv, tokenize
    from ..train.inference import score_translations

    records = _read(load_parallel_tsv, args.data)
    lower, mode = ckpt.extra.get("lower", True), ckpt.extra.get("mode", "word")
    groups = group_references(records, key=lambda s: "\x00".join(tokenize(s, lower=lower, mode=mode)))
    try:
        scores, translations = score_translations(ckpt.model, ckpt.vocabs["src"], ckpt.vocabs["tgt"], groups,
                                                  beam_size=args.beam, lower=lower, mode=mode,
                                                  spacing=spacing_of(ckpt), max_len=args.max_len)
    except ValueError as err:
        raise UserError(str(err)) from err
    tokens = sum(len(t.source_tokens) for t in translations)
    unknown = sum(sum(tok not in ckpt.vocabs["src"] for tok in t.source_tokens) for t in translations)
    longest = ckpt.extra.get("max_src_len") or 0
    return {"checkpoint": ckpt.path, "kind": "translator", "epoch": ckpt.epoch, "data": args.data,
            "rows": len(records), "bad_lines": len(records.bad_lines), "sources": len(groups),
            "references": sum(len(g.references) for g in groups), "beam": args.beam, "lowercased": lower,
            **scores, "unknown_token_rate": unknown / max(tokens, 1),
            "sentences_with_unknown_words": sum(bool(t.unknown) for t in translations),
            "longer_than_training": sum(len(t.source_tokens) > longest for t in translations) if longest else 0,
            "unfinished_outputs": sum(not t.finished for t in translations),
            "examples": [{"source": g.source, "output": t.text, "references": g.references}
                         for g, t in list(zip(groups, translations))[: args.show]]}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def print_translator(result: dict) -> None:
    from ..train.metrics import normalize_text

    decoding = "greedy" if result["beam"] == 1 else f"beam {result['beam']}"
    case = "lower-cased" if result["lowercased"] else "cased"
    say(f"evaluate {result['checkpoint']} (translator, epoch {result['epoch']}) on {result['data']}: "
        f"{result['rows']:,} rows, {result['sources']:,} distinct sources with {result['references']:,} references; "
        f"{decoding}")
    say(f"  BLEU         {result['bleu']:6.2f}   (sacrebleu corpus BLEU, {case}, 13a, against all references)")
    say(f"  chrF         {result['chrf']:6.2f}   (sacrebleu chrF2, against all references)")
    say(f"  exact match  {result['exact_match']:6.1%}   (equal to any reference after normalising spaces)")
    say(f"  unknown source words: {result['unknown_token_rate']:.1%} of tokens, in "
        f"{_count(result['sentences_with_unknown_words'], 'sentence')}; "
        f"{_count(result['longer_than_training'], 'source')} longer than any training source; "
        f"{_count(result['unfinished_outputs'], 'output')} cut by the length limit")
    if result["examples"]:
        say("examples:")
        for example in result["examples"]:
            refs = example["references"]
            good = normalize_text(example["output"], result["lowercased"]) in {
                normalize_text(r, result["lowercased"]) for r in refs}
            say(f"  {example['source']}  →  {example['output']}" + ("  ✓" if good else f"  ✗ ({' | '.join(refs[:3])})"))


def evaluate_classifier(ckpt, args) -> dict:
    """Classify the file's texts and score them; returns the JSON-ready result (and the report)."""
    from ..data import load_labeled_text
    from ..train.recipes import score_classifier

    records = _read(load_labeled_text, args.data, text_col=args.text_col, label_col=args.label_col)
    classes = ckpt.extra.get("classes") or [str(i) for i in range(ckpt.model.num_classes)]
    try:
        report = score_classifier(ckpt.model, ckpt.vocabs["src"], classes, list(records),
                                  mode=ckpt.extra.get("mode", "word"), lower=ckpt.extra.get("lower", True))
    except ValueError as err:
        raise UserError(f"{args.data}: {err}") from err
    result = {"checkpoint": ckpt.path, "kind": "classifier", "epoch": ckpt.epoch, "data": args.data,
              "rows": len(records), "bad_lines": len(records.bad_lines), **report.to_dict()}
    return result, report


def print_classifier(result: dict, report) -> None:
    from ..viz.classification import classification_table, confusion_table

    say(f"evaluate {result['checkpoint']} (classifier, epoch {result['epoch']}) on {result['data']}: "
        f"{result['rows']:,} rows")
    say(f"  accuracy {result['accuracy']:.1%}, macro-F1 {result['macro_f1']:.3f}, loss {result['loss']:.4f}")
    say()
    say(classification_table(report))
    say()
    say(confusion_table(report))


def cmd_evaluate(args) -> int:
    ckpt = load_checkpoint_file(args.checkpoint, args.device)
    kind = checkpoint_kind(ckpt)
    if kind == "translator" and (args.text_col is not None or args.label_col is not None):
        raise UserError("--text-col/--label-col are for a classifier; a translator reads source<TAB>target files")
    if kind == "classifier" and args.beam != 1:
        raise UserError("--beam is for a translator; a classifier has nothing to search")
    same = _same_file_note(ckpt, args.data) if os.path.isfile(args.data) else None
    if kind == "translator":
        result = evaluate_translator(ckpt, args)
        report = None
    else:
        result, report = evaluate_classifier(ckpt, args)
    if same:
        note(same)
    if args.json:
        say(json.dumps(result, ensure_ascii=False, indent=2))
    elif kind == "translator":
        print_translator(result)
    else:
        print_classifier(result, report)
    return 0


def _column(text: str):
    """A column given as a 0-based index or a header name."""
    return int(text) if text.isdigit() else text


def register(sub) -> None:
    """Add ``evaluate`` to the command parsers."""
    evaluate = sub.add_parser("evaluate", help="score a checkpoint on a data file (BLEU/chrF, or accuracy/F1)",
                              description="Score any checkpoint on any file of its format: a translator on "
                              "source<TAB>target[<TAB>attribution] lines (sacrebleu BLEU and chrF against all the "
                              "references of each source, exact match against any), a classifier on a labelled "
                              "CSV/TSV (accuracy, macro-F1, per-class table, confusion matrix).",
                              epilog="examples:\n  python -m minirnn evaluate runs/translate/best.npz --data test.tsv\n"
                              "  python -m minirnn evaluate runs/translate/best.npz --data test.tsv --beam 4 --json\n"
                              "  python -m minirnn evaluate runs/classify/best.npz --data reviews.csv")
    evaluate.add_argument("checkpoint", help="a .npz checkpoint written by minirnn")
    evaluate.add_argument("--data", required=True, help="the file to score the checkpoint on")
    evaluate.add_argument("--beam", type=positive_int, default=1, help="beam size for a translator (1 = greedy)")
    evaluate.add_argument("--max-len", type=positive_int, default=None,
                          help="longest output in tokens (default: 2 x each input's length + 10)")
    evaluate.add_argument("--show", type=non_negative_int, default=5, help="example translations to print (0: none)")
    evaluate.add_argument("--text-col", type=_column, default=None, help="a classifier file's text column "
                          "(name or 0-based index; default: detected)")
    evaluate.add_argument("--label-col", type=_column, default=None, help="a classifier file's label column "
                          "(name or 0-based index; default: detected)")
    evaluate.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    add_common_options(evaluate, seed=False)
    evaluate.set_defaults(func=cmd_evaluate)
