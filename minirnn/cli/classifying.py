"""``train classify``: a SequenceClassifier on the DNA motif task or a user's text,label file."""

from __future__ import annotations

import os
import time

from .common import (
    epoch_printer,
    load_user_file,
    print_fit_summary,
    save_pngs,
    say,
    set_device,
    tqdm_progress,
)


def train_classifier(args, settings, mode) -> int:
    """Train a SequenceClassifier on the DNA motif task or a user's text,label file."""
    import minirnn as mr

    from ..io import load_checkpoint
    from ..models import SequenceClassifier
    from ..train import evaluate, fit
    from ..train.recipes import classify_data

    started = time.perf_counter()
    backend = set_device(args.device, args.threads)
    mr.manual_seed(args.seed)
    if args.data:
        from ..data import load_labeled_text

        examples = load_user_file(load_labeled_text, args.data)
    else:
        from ..data.datasets import dna_motif

        examples = dna_motif(300 if args.quick else 3000, seed=args.seed)
        mode = "char"
    data = classify_data(examples, batch_size=settings["batch_size"], seed=args.seed, mode=mode)
    cell = "lstm" if args.cell == "gru" and not args.cell_given else args.cell
    model = SequenceClassifier(len(data.vocab), len(data.classes), embed_dim=settings["embed_dim"],
                               hidden_size=settings["hidden_size"], cell=cell)
    optimizer = mr.optim.Adam(model.parameters(), lr=settings["lr"])
    folder = args.run_folder  # chosen by runs.open_run: --resume, --force or a fresh folder
    say(f"minirnn classify: {len(data.train_examples)} training examples, {len(data.val_examples)} validation, "
        f"{len(data.test_examples)} held out; {len(data.classes)} classes {data.classes}; "
        f"vocabulary {len(data.vocab)} ({mode} tokens)")
    say(f"model: SequenceClassifier({cell.upper()}, packed over lengths), {model.num_parameters():,} parameters, "
        f"backend {backend}")
    say()
    history = fit(model, data.train, data.val, task="classify", optimizer=optimizer, epochs=settings["epochs"],
                  clip=settings["clip"], patience=settings["patience"], checkpoint_dir=folder, resume=args.resume,
                  vocabs=data.vocabs, extra={"task": "classify", "mode": mode, "lower": True, "classes": data.classes},
                  seed=args.seed, progress=tqdm_progress(settings["epochs"], not args.no_progress),
                  callback=epoch_printer(settings["epochs"]))
    print_fit_summary(history)
    model = load_checkpoint(os.path.join(folder, "best.npz")).model
    scores = evaluate(model, data.test, task="classify")
    say(f"\nheld-out test accuracy: {scores['accuracy']:.1%} ({len(data.test_examples)} examples)")
    _show_predictions(model, data, mode)
    pngs = save_pngs(folder, dict(history))
    say(f"\nsaved under {folder}/: best.npz, last.npz" + "".join(f", {os.path.basename(p)}" for p in pngs))
    say(f"total time {time.perf_counter() - started:.1f}s")
    return 0


def _show_predictions(model, data, mode, count: int = 4) -> None:
    from ..train.inference import classify_texts

    say("\nsample predictions:")
    shown = data.test_examples[:count]
    guesses = classify_texts(model, data.vocab, data.classes, [t for t, _ in shown], mode=mode)
    for (text, label), (guess, prob, _) in zip(shown, guesses):
        mark = "✓" if str(guess) == str(label) else f"✗ (true: {label})"
        say(f"  {text[:50]:<50}  →  {guess} ({prob:.2f}) {mark}")
