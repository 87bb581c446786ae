"""``demo`` and ``train``: build the data and the model, fit, then show what was learned."""

from __future__ import annotations

import argparse
import os
import time

from .classifying import train_classifier
from .common import (
    UserError,
    add_common_options,
    epoch_printer,
    load_user_file,
    output_labels,
    print_fit_summary,
    render,
    run_dir,
    save_pngs,
    say,
    set_device,
    tqdm_progress,
)

DEMO = {  # the demo's settings; the issue asks for >= 90% held-out exact match in about 2 minutes on 2 cores
    "pairs": 12000, "val": 400, "test": 1000, "embed_dim": 64, "hidden_size": 128, "cell": "gru",
    "bidirectional": True, "epochs": 10, "lr": 3e-3, "batch_size": 64, "clip": 1.0, "patience": 3,
}
QUICK = {"pairs": 400, "val": 50, "test": 50, "embed_dim": 16, "hidden_size": 24, "epochs": 2, "batch_size": 32}
SAMPLES = ["i am happy", "i am not happy", "she is happy", "i have a red car", "we have two red cars",
           "the girls are tired", "i do not have a red car"]
HEATMAP_SENTENCE = "i do not have a red car"  # negation around the verb and the adjective after the noun


# =========================================================================== seq2seq


def _describe_seq2seq(kind, data, model, settings, backend) -> None:
    cell = settings["cell"].upper()
    say(f"minirnn {kind}: {len(data.train_pairs)} training pairs, {len(data.val_pairs)} validation, "
        f"{len(data.test_pairs)} held out; vocabularies {len(data.src_vocab)} (source) and "
        f"{len(data.tgt_vocab)} (target) tokens")
    say(f"model: Seq2Seq({'bidirectional ' if settings.get('bidirectional') else ''}{cell} encoder -> Bahdanau "
        f"attention -> {cell}Cell decoder), embed {settings['embed_dim']}, hidden {settings['hidden_size']}, "
        f"{model.num_parameters():,} parameters, {model.dtype}, backend {backend}")
    say(f"training: Adam lr {settings['lr']}, batch {settings['batch_size']}, clip {settings['clip']}, up to "
        f"{settings['epochs']} epochs, early stopping patience {settings['patience']} on val exact match")
    say()


def _fit_seq2seq(args, pairs, kind, settings, mode, join):
    """Build the data and the model and train it; returns (data, history, run folder)."""
    import minirnn as mr

    from ..models import Seq2Seq
    from ..train import fit
    from ..train.recipes import seq2seq_data

    backend = set_device(args.device, args.threads)
    mr.manual_seed(args.seed)
    data = seq2seq_data(pairs, val_size=settings["val"], test_size=settings["test"],
                        batch_size=settings["batch_size"], seed=args.seed, mode=mode)
    model = Seq2Seq(len(data.src_vocab), len(data.tgt_vocab), embed_dim=settings["embed_dim"],
                    hidden_size=settings["hidden_size"], cell=settings["cell"], attention="bahdanau",
                    bidirectional_encoder=settings.get("bidirectional", False))
    optimizer = mr.optim.Adam(model.parameters(), lr=settings["lr"])
    folder = run_dir(args.out, args.name, kind)
    _describe_seq2seq(kind, data, model, settings, backend)
    history = fit(model, data.train, data.val, task="seq2seq", optimizer=optimizer, epochs=settings["epochs"],
                  clip=settings["clip"], patience=settings["patience"], checkpoint_dir=folder, vocabs=data.vocabs,
                  extra={"task": kind, "mode": mode, "lower": True, "join": join}, seed=args.seed,
                  progress=tqdm_progress(settings["epochs"], not args.no_progress),
                  callback=epoch_printer(settings["epochs"]))
    print_fit_summary(history)
    return data, history, folder


def _show_samples(model, data, samples, reference, mode, join):
    """Translate the samples (and three held-out sentences), marking each against its reference."""
    from ..train.inference import translate

    samples = list(samples) + [s for s, _ in data.test_pairs[:3]]
    results = translate(model, data.src_vocab, data.tgt_vocab, samples, mode=mode)
    say()
    say("sample translations (greedy):")
    width = max(len(s) for s in samples)
    for result in results:
        want = reference.get(result.source)
        text = render(result, join)
        mark = "" if want is None else ("  ✓" if text == want else f"  ✗ (expected: {want})")
        say(f"  {result.source.ljust(width)}  →  {text}{mark}")
    return results


def _show_trace_and_attention(model, data, kind, results, trace_text, mode, join):
    """The pipeline trace of one sentence and the attention heatmap of another; returns the one shown."""
    from ..viz import attention_heatmap, pipeline_trace

    say()
    say(f"pipeline trace of one example ({kind}):")
    say(pipeline_trace(model, data.src_vocab, data.tgt_vocab, trace_text, mode=mode, join=join))
    shown = next((r for r in results if r.source == HEATMAP_SENTENCE), results[min(1, len(results) - 1)])
    say()
    say(f'attention of "{shown.source}" → "{render(shown, join)}" (rows: output words, columns: source words):')
    say(attention_heatmap(shown.weights, shown.source_tokens, output_labels(shown)))
    return shown


def seq2seq_run(args, pairs, kind: str, settings: dict, mode: str = "word", samples=(), trace_text=None,
                reference=None, join=None):
    """Train an attention Seq2Seq on ``pairs`` and print the whole story; shared by demo and train."""
    from ..io import load_checkpoint
    from ..train import evaluate

    started = time.perf_counter()
    data, history, folder = _fit_seq2seq(args, pairs, kind, settings, mode, join)
    train_time = time.perf_counter() - started

    best_path = os.path.join(folder, "best.npz")
    best = load_checkpoint(best_path)
    model = best.model
    scores = evaluate(model, data.test, task="seq2seq", bos_id=data.tgt_vocab.bos_id, eos_id=data.tgt_vocab.eos_id)
    say()
    say(f"held-out test set ({len(data.test_pairs)} sentences never seen in training): greedy exact match "
        f"{scores['exact_match']:.1%}, token accuracy {scores['accuracy']:.1%}  (best epoch {best.epoch})")

    results = _show_samples(model, data, samples, dict(reference or pairs), mode, join)
    shown = _show_trace_and_attention(model, data, kind, results, trace_text or results[0].source, mode, join)
    pngs = save_pngs(folder, dict(history), (shown.weights, shown.source_tokens, output_labels(shown),
                                             f"{shown.source} → {render(shown, join)}"))
    say()
    say(f"saved under {folder}/:")
    say(f"  best.npz  the best checkpoint (epoch {best.epoch});  last.npz  the last epoch's")
    for path in pngs:
        say(f"  {os.path.basename(path)}")
    say(f"try:  python -m minirnn translate {best_path} \"{results[0].source}\" --attention")
    say(f"total time {time.perf_counter() - started:.1f}s (training {train_time:.1f}s)")
    return scores


# =========================================================================== the commands


def cmd_demo(args) -> int:
    from ..data.datasets import translation_pairs
    from ..data.datasets.translation import all_translation_pairs

    settings = dict(DEMO)
    if args.quick:
        settings.update(QUICK)
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    pairs = translation_pairs(settings["pairs"] + settings["val"] + settings["test"], seed=args.seed)
    seq2seq_run(args, pairs, "demo", settings, samples=SAMPLES, reference=all_translation_pairs())
    return 0


def cmd_train(args) -> int:
    args.cell_given = args.cell is not None
    args.cell = args.cell or "gru"
    if args.task != "classify" and args.cell == "rnn":
        raise UserError("seq2seq models support --cell gru or lstm")
    settings = dict(DEMO, epochs=args.epochs or DEMO["epochs"], lr=args.lr, batch_size=args.batch_size,
                    hidden_size=args.hidden_size, embed_dim=args.embed_dim, cell=args.cell, patience=args.patience)
    if args.quick:
        settings.update(QUICK)
        if args.epochs:
            settings["epochs"] = args.epochs
    mode = "char" if args.char else "word"
    if args.task == "classify":
        return train_classifier(args, settings, mode)
    if args.data:
        from ..data import load_parallel_tsv

        pairs = load_user_file(load_parallel_tsv, args.data)
        settings["val"], settings["test"] = max(1, len(pairs) // 20), max(1, len(pairs) // 20)
        samples = [s for s, _ in pairs[:2]]
    elif args.task == "dates":
        from ..data.datasets import date_pairs

        n = settings["pairs"] if args.quick else 6000
        pairs = date_pairs(n + settings["val"] + settings["test"], seed=args.seed)
        samples = ["tuesday 3 march 1998", "3/3/98", "march 3rd, 1998"]
    else:
        from ..data.datasets import translation_pairs

        pairs = translation_pairs(settings["pairs"] + settings["val"] + settings["test"], seed=args.seed)
        samples = SAMPLES[:3]
    seq2seq_run(args, pairs, args.task, settings, mode=mode, samples=samples,
                join="" if args.task == "dates" and not args.data else None)
    return 0


# =========================================================================== the parsers


def _add_run_options(parser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="number of epochs")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run: little data, a small model, 2 epochs")
    parser.add_argument("--out", default="runs", help="parent folder of the run folder (default runs/)")
    parser.add_argument("--name", default=None, help="the run folder's name (default: the task, e.g. runs/demo)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no tqdm progress bar (one is drawn only when stderr is a terminal)")
    add_common_options(parser)


def register(sub) -> None:
    """Add ``demo`` and ``train`` to the command parsers."""
    demo = sub.add_parser("demo", help="train English->French with attention and show every stage",
                          description="Train an attention seq2seq on the built-in English->French grammar data "
                          "(no download), then print the epoch table with an ASCII loss chart, held-out exact match, "
                          "sample translations, the six-stage pipeline trace and an attention heatmap. Saves the "
                          "checkpoint and PNGs under runs/<name>/.",
                          epilog="example: python -m minirnn demo --epochs 6 --name first-try",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_options(demo)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train on a built-in task or your own file",
                           description="Train a model and save checkpoints under runs/<name>/. Tasks: translate "
                           "(English->French grammar, or --data source<TAB>target), dates (human dates -> ISO), "
                           "classify (DNA motif, or --data text,label CSV/TSV).",
                           epilog="examples:\n  python -m minirnn train dates\n"
                           "  python -m minirnn train translate --data eng-fra.txt --epochs 20\n"
                           "  python -m minirnn train classify --data spam.csv --cell gru",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("task", choices=("translate", "dates", "classify"), help="what to learn")
    train.add_argument("--data", default=None, help="your own data file (TSV pairs, or CSV/TSV text,label)")
    train.add_argument("--cell", choices=("gru", "lstm", "rnn"), default=None,
                       help="recurrent cell (default gru for seq2seq, lstm for classify)")
    train.add_argument("--hidden-size", type=int, default=DEMO["hidden_size"], help="hidden units per layer")
    train.add_argument("--embed-dim", type=int, default=DEMO["embed_dim"], help="embedding size")
    train.add_argument("--lr", type=float, default=DEMO["lr"], help="Adam learning rate")
    train.add_argument("--batch-size", type=int, default=DEMO["batch_size"], help="examples per batch")
    train.add_argument("--patience", type=int, default=DEMO["patience"], help="early stopping patience (epochs)")
    train.add_argument("--char", action="store_true", help="character tokens instead of words")
    _add_run_options(train)
    train.set_defaults(func=cmd_train)
