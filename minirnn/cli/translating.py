"""``demo`` and ``train translate|dates``: an attention Seq2Seq trained, selected, scored and shown.

The story a run prints, in order:

1. what was read: the file's rows, bad lines by number, its columns, how many distinct
   sources and references; the split by unique source; vocabulary sizes; the spacing
   of the target side that the output will be written with;
2. one line per epoch (validation loss, BLEU, chrF and exact match against all the
   references of each validation source), then the epoch table and the loss chart;
3. which epoch was kept in ``best.npz`` and why (the monitored value, ``--monitor``);
4. the held-out test scores (BLEU, chrF, exact match against every reference), sample
   translations, the pipeline trace and an attention heatmap, and the saved files.
"""

from __future__ import annotations

import hashlib
import os
import time

from ..distributed import SINGLE
from .common import (
    UserError,
    kernels_note,
    note,
    output_labels,
    print_fit_summary,
    render,
    save_pngs,
    say,
    set_device,
)

# Settings a resumed run must keep, and the option that sets each.
RUN_OPTIONS = {"hidden_size": "--hidden-size", "embed_dim": "--embed-dim", "cell": "--cell", "lr": "--lr",
               "batch_size": "--batch-size", "lower": "--lowercase", "mode": "--char", "seed": "--seed",
               "label_smoothing": "--label-smoothing"}
MONITOR_LABELS = {"val_bleu": "val BLEU", "val_chrf": "val chrF", "val_loss": "val loss",
                  "val_exact_match": "val exact match"}


# =========================================================================== reading a parallel file


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_parallel_file(path: str, minimum: int = 20):
    """The (source, target) rows of a user's TSV; bad lines are skipped and listed by number."""
    from ..data import DataFormatError, group_references, load_parallel_tsv

    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"--data {path} is a folder; give a source<TAB>target file")
    try:
        records = load_parallel_tsv(path, errors="skip")
    except DataFormatError as err:
        raise UserError(str(err)) from err
    columns = "source, target, attribution (ignored)" if getattr(records, "columns", 2) == 3 else "source, target"
    groups = group_references(records)
    most = max((len(g.references) for g in groups), default=0)
    references = sum(len(g.references) for g in groups)  # distinct (source, target) pairs
    repeats = f", {len(records) - references:,} rows repeat a pair" if len(records) > references else ""
    say(f"read {path}: {len(records):,} rows ({columns}); {len(groups):,} distinct sources, "
        f"{references / max(len(groups), 1):.2f} distinct references per source on average (most: {most}){repeats}")
    if records.bad_lines:
        shown = "; ".join(f"line {b.line_number}: {b.reason}" for b in records.bad_lines[:5])
        more = f"; ... and {len(records.bad_lines) - 5} more" if len(records.bad_lines) > 5 else ""
        say(f"warning: skipped {len(records.bad_lines)} bad line(s): {shown}{more}")
    if len(records) < minimum:
        raise UserError(f"{path} has only {len(records)} usable rows; need at least {minimum} to train")
    return list(records)


def split_sizes(pairs, lower: bool, mode: str) -> int:
    """Validation and test size, in distinct sources: 5%, but at least min(20, 10%) of them."""
    from ..data import group_references, tokenize

    sources = len(group_references(pairs, key=lambda s: "\x00".join(tokenize(s, lower=lower, mode=mode))))
    return max(1, round(0.05 * sources), min(20, sources // 10))


# =========================================================================== the start-up summary


def _spacing_note(spacing) -> str:
    """The target side's punctuation spacing where it differs from English (French ``Va !``)."""
    from ..data.tokenizer import WORD

    names = {"": "no space", " ": "a space", "\u202f": "a narrow no-break space", "\u00a0": "a no-break space"}
    before: dict = {}
    for pair, gap in spacing.departures().items():
        left, right = pair.split(" ")
        if left == WORD and len(right) == 1:
            before.setdefault(names.get(gap, repr(gap)), []).append(right)
    if not before:
        return ""
    return "; the targets put " + ", ".join(f"{name} before {' '.join(marks)}" for name, marks in before.items())


def describe_run(kind, data, model, settings, backend) -> None:
    cell, monitor = settings["cell"].upper(), settings["monitor"]
    say(f"split by source (seed {settings['seed']}): train {data.sources('train'):,} sources / "
        f"{len(data.train_pairs):,} pairs, validation {len(data.val_groups):,} / {len(data.val_pairs):,}, "
        f"test {len(data.test_groups):,} / {len(data.test_pairs):,}; no source is in two splits")
    case = "lower-cased" if data.lower else "cased"
    say(f"vocabularies ({case} {data.mode} tokens, training split): {len(data.src_vocab):,} source and "
        f"{len(data.tgt_vocab):,} target tokens; longest training source {data.max_src_len} tokens"
        f"{_spacing_note(data.spacing) if data.mode == 'word' else ''}")
    for warning in data.warnings:
        say(f"warning: {warning}")
    say(f"model: Seq2Seq({'bidirectional ' if settings.get('bidirectional') else ''}{cell} encoder -> Bahdanau "
        f"attention -> {cell}Cell decoder), embed {settings['embed_dim']}, hidden {settings['hidden_size']}, "
        f"{model.num_parameters():,} parameters, {model.dtype}, backend {backend}{kernels_note(backend)}")
    say(f"training: Adam lr {settings['lr']}, batch {settings['batch_size']}, clip {settings['clip']}, label "
        f"smoothing {settings.get('label_smoothing', 0.0)}, up to "
        f"{settings['epochs']} epochs; keeps the epoch with the best {MONITOR_LABELS.get(monitor, monitor)} "
        f"(--monitor {monitor}: {settings.get('monitor_reason', 'as asked')}), early stopping after "
        f"{settings['patience']} epochs without improvement")
    say()


# =========================================================================== training


def choose_monitor(requested: str, mode: str, val_sources: int) -> tuple[str, str]:
    """The monitored validation value and why: ``auto`` is BLEU on word tokens (chrF on characters,
    whose 4-grams say little), unless validation is too small for either to move: then the loss."""
    from ..train.recipes import TINY_SPLIT

    if requested != "auto":
        return requested, "as asked"
    if val_sources < TINY_SPLIT:
        return "val_loss", (f"validation holds {val_sources} sources, too few for BLEU (it stays 0 for many "
                            "epochs, and a tie keeps the earliest)")
    return ("val_bleu", "the translation score") if mode == "word" else ("val_chrf", "character tokens")


def _checkpoint_extra(kind, data, settings, join, data_file):
    return {"task": kind, "mode": data.mode, "lower": data.lower, "join": join,
            "spacing": data.spacing.to_dict(), "max_src_len": data.max_src_len, "settings": settings,
            "data": data_file}


def fit_seq2seq(args, pairs, kind, settings, join, data_file=None):
    """Split, build the model, train in ``args.run_folder``; returns (data, history)."""
    import minirnn as mr

    from ..models import Seq2Seq
    from ..train import fit
    from ..train.recipes import seq2seq_data, translation_monitor
    from .common import epoch_printer, tqdm_progress

    backend = set_device(args.device, args.threads)
    mr.manual_seed(settings["seed"])
    data = seq2seq_data(pairs, val_size=settings["val"], test_size=settings["test"],
                        batch_size=settings["batch_size"], seed=settings["seed"], mode=settings["mode"],
                        lower=settings["lower"])
    model = Seq2Seq(len(data.src_vocab), len(data.tgt_vocab), embed_dim=settings["embed_dim"],
                    hidden_size=settings["hidden_size"], cell=settings["cell"], attention="bahdanau",
                    bidirectional_encoder=settings.get("bidirectional", False))
    optimizer = mr.optim.Adam(model.parameters(), lr=settings["lr"])
    describe_run(kind, data, model, settings, backend)
    history = fit(model, data.train, data.val, task="seq2seq", optimizer=optimizer, epochs=settings["epochs"],
                  clip=settings["clip"], patience=settings["patience"], monitor=settings["monitor"],
                  label_smoothing=settings.get("label_smoothing", 0.0),
                  checkpoint_dir=args.run_folder, vocabs=data.vocabs, exact_match=False,
                  val_metrics=translation_monitor(data), resume=bool(getattr(args, "resume", False)),
                  extra=_checkpoint_extra(kind, data, settings, join, data_file), seed=settings["seed"],
                  progress=tqdm_progress(settings["epochs"], not args.no_progress),
                  callback=epoch_printer(settings["epochs"]), world=getattr(args, "world", None) or SINGLE)
    return data, history


def _resume_checks(args, data, history, settings) -> None:
    """Say what a resumed run did: continued, or found nothing left to train."""
    if not getattr(args, "resume", False):
        return
    done = history.get("epoch", [0])[-1] if history.get("epoch") else 0
    if history.stopped_early:
        say(f"--resume: the resumed run stopped early at epoch {done} ({history.stop_reason})")
    elif done < settings["epochs"]:
        say(f"--resume: the run ended at epoch {done}, before --epochs {settings['epochs']}")


def kept_epoch_line(history, monitor: str) -> str:
    """Which epoch ``best.npz`` holds, and why."""
    label = MONITOR_LABELS.get(monitor, monitor)
    best, epochs = history.best_epoch, history.get("epoch", [])
    if best is None:
        return f"no epoch improved {label}; best.npz was not written"
    value = history.best_value
    shown = f"{value:.4f}" if monitor.endswith("loss") else f"{value:.2f}" if monitor in ("val_bleu", "val_chrf") \
        else f"{value:.3f}"
    after = (f"; the {len(epochs) - epochs.index(best) - 1} later epoch(s) did not beat it" if epochs and
             best != epochs[-1] else ", at the last epoch")
    ties = "" if monitor == "val_loss" else ", ties broken by the lower val loss"
    return f"kept epoch {best} in best.npz: the best {label}, {shown} (--monitor {monitor}{ties}){after}"


# =========================================================================== after training


def test_report(model, data, beam: int = 1):
    """Score the held-out test sources against all their references; returns (scores, translations)."""
    from ..train.inference import score_translations

    if not data.test_groups:
        return None, []
    scores, translations = score_translations(model, data.src_vocab, data.tgt_vocab, data.test_groups,
                                              beam_size=beam, lower=data.lower, mode=data.mode, spacing=data.spacing)
    references = sum(len(g.references) for g in data.test_groups)
    case = "lower-cased" if data.lower else "cased"
    say()
    say(f"held-out test set ({scores['sentences']} sources with {references} references, never seen in training "
        f"or selection), greedy: BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f} ({case}, sacrebleu, "
        f"all references), exact match {scores['exact_match']:.1%} (any reference)")
    outputs = [t.text for t in translations]
    if len(outputs) >= 10 and len(set(outputs)) <= max(1, len(outputs) // 10):
        top = max(set(outputs), key=outputs.count)
        say(f"warning: the kept model writes {len(set(outputs))} different outputs for {len(outputs)} sentences "
            f"(\"{top}\" {outputs.count(top)} times): it has not learned the task; train longer or on more data")
    return scores, translations


def show_samples(model, data, samples, references, join, count: int = 3):
    """Translate the samples (and a few held-out sources), marking each against its references."""
    from ..train.inference import translate
    from ..train.metrics import normalize_text

    refs = {s: list(r) for s, r in references.items()}
    refs.update({g.source: g.references for g in data.test_groups[:count]})
    texts = list(samples) + [g.source for g in data.test_groups[:count]]
    results = translate(model, data.src_vocab, data.tgt_vocab, texts, lower=data.lower, mode=data.mode,
                        spacing=data.spacing)
    say()
    say("sample translations (greedy):")
    width = min(50, max(len(s) for s in texts))
    for result in results:
        want, text = refs.get(result.source), render(result, join)
        same = want and normalize_text(text, data.lower) in {normalize_text(w, data.lower) for w in want}
        mark = "" if not want else "  ✓" if same else f"  ✗ (reference{'s' if len(want) > 1 else ''}: " \
            f"{' | '.join(want[:3])})"
        say(f"  {result.source.ljust(width)}  →  {text}{mark}")
    return results


def show_trace_and_attention(model, data, kind, results, trace_text, join, heatmap_sentence=None):
    """The pipeline trace of one sentence and the attention heatmap of another; returns the one shown."""
    from ..viz import attention_heatmap, pipeline_trace

    say()
    say(f"pipeline trace of one example ({kind}):")
    say(pipeline_trace(model, data.src_vocab, data.tgt_vocab, trace_text, mode=data.mode, lower=data.lower,
                       join=join))
    shown = next((r for r in results if r.source == heatmap_sentence), results[min(1, len(results) - 1)])
    say()
    say(f'attention of "{shown.source}" → "{render(shown, join)}" (rows: output words, columns: source words):')
    say(attention_heatmap(shown.weights, shown.source_tokens, output_labels(shown)))
    return shown


def seq2seq_run(args, pairs, kind: str, settings: dict, samples=(), trace_text=None, references=None, join=None,
                heatmap_sentence=None, data_file=None):
    """Train an attention Seq2Seq on ``pairs`` and print the whole story; shared by demo and train."""
    from ..io import load_checkpoint

    started, started_cpu = time.perf_counter(), time.process_time()
    data, history = fit_seq2seq(args, pairs, kind, settings, join, data_file)
    train_time, train_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    if not getattr(args, "world", SINGLE).is_root:
        return None  # the other ranks of a distributed run only train
    smoothing = settings.get("label_smoothing", 0.0)
    print_fit_summary(history, settings["monitor"], f"includes label smoothing {smoothing}" if smoothing else "")
    _resume_checks(args, data, history, settings)
    say(kept_epoch_line(history, settings["monitor"]))
    folder = args.run_folder
    best_path = os.path.join(folder, "best.npz")
    if not os.path.exists(best_path):
        raise UserError(f"no checkpoint was kept in {folder}: no epoch improved {settings['monitor']}")
    model = load_checkpoint(best_path).model
    scores, _ = test_report(model, data)
    results = show_samples(model, data, samples, references or {}, join)
    shown = show_trace_and_attention(model, data, kind, results, trace_text or results[0].source, join,
                                     heatmap_sentence)
    pngs = save_pngs(folder, dict(history), (shown.weights, shown.source_tokens, output_labels(shown),
                                             f"{shown.source} → {render(shown, join)}"))
    say()
    say(f"saved under {folder}/:")
    say(f"  best.npz  the kept checkpoint (epoch {history.best_epoch});  last.npz  the last epoch's")
    for path in pngs:
        say(f"  {os.path.basename(path)}")
    say(f"try:  python -m minirnn translate {best_path} \"{results[0].source}\" --attention")
    if args.data:
        say(f"      python -m minirnn evaluate {best_path} --data HELD-OUT.tsv   (a file it never saw; on "
            f"{args.data} itself the scores would be optimistic)")
    say(f"total time {time.perf_counter() - started:.1f}s (training {train_time:.1f}s, {train_cpu:.1f}s of CPU)")
    if history.best_epoch is not None and data.val_groups and history.best_epoch == 1 and len(history["epoch"]) > 2:
        note("note: the kept model is the first epoch's; later epochs scored worse on validation")
    return scores
