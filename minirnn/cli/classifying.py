"""``train classify``: a SequenceClassifier on the DNA motif task or a user's labelled CSV/TSV.

The story of a run, in the order it is printed:

1. the file: delimiter, header, which column is the text and which the label, and why
   (``minirnn.data.columns``); bad lines by number; labels that differ only in case;
   the classes with their counts (imbalance shows here); a stop, with a hint to
   ``--label-col``, when the "labels" are as varied as text;
2. the split (stratified: each class keeps its share of validation and test), the
   tokens (characters for single-word texts such as names, else words), the class
   weights, the model and what ``best.npz`` is chosen on;
3. the epochs, then the held-out test report: accuracy, macro-F1, the per-class
   precision/recall/F1 table and the confusion matrix (also saved as a PNG).

Model selection watches validation macro-F1 by default: a model that always answers
the majority class can reach a high accuracy on imbalanced data, but not a high
macro-F1, which gives every class the same say.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from .common import (
    UserError,
    epoch_printer,
    init_world,
    kernels_note,
    print_fit_summary,
    save_pngs,
    say,
    set_device,
    tqdm_progress,
)

MIN_ROWS = 20
LR_FALL = 0.3  # the learning rate falls exponentially to this share of --lr over the run's epochs
MONITOR_WHY = {
    "val_macro_f1": "the highest validation macro-F1 (every class counts the same, so always answering the "
                    "majority class cannot win)",
    "val_loss": "the lowest validation loss",
    "val_accuracy": "the highest validation accuracy (beware: on imbalanced classes the majority class scores high)",
}


# =========================================================================== options


def add_classify_options(parser) -> None:
    """``--text-col``, ``--label-col`` and ``--class-weight`` on the ``train`` parser (classify only)."""
    group = parser.add_argument_group("classify --data FILE (CSV/TSV)")
    group.add_argument("--text-col", metavar="NAME|INDEX", default=None,
                       help="the text column, by header name or 0-based index (default: found from the header "
                       "names, else the longest, most varied column)")
    group.add_argument("--label-col", metavar="NAME|INDEX", default=None,
                       help="the label column, by header name or 0-based index (default: found from the header "
                       "names, else the column with the fewest distinct values)")
    group.add_argument("--class-weight", choices=("none", "balanced"), default="none",
                       help="loss weight per class. none (default): every text counts the same, as in PyTorch; "
                       "rare classes may then be neglected. balanced: weight n / (classes * count) per class, as "
                       "scikit-learn, so each class adds the same total weight. Either way best.npz is chosen on "
                       "validation macro-F1, which a majority-class model cannot game")


# =========================================================================== the data


def _column_spec(value):
    """``--text-col 2`` is the index 2, ``--text-col review`` the column named review."""
    return None if value is None else (int(value) if value.strip().isdigit() else value)


def read_labeled_file(args):
    """Read ``--data`` with the columns asked for; every problem with the file is a UserError."""
    from ..data import DataFormatError, load_labeled_text
    from ..data.columns import label_column_problem

    path = args.data
    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}")
    try:
        records = load_labeled_text(path, errors="skip", text_col=_column_spec(getattr(args, "text_col", None)),
                                    label_col=_column_spec(getattr(args, "label_col", None)))
    except DataFormatError as err:
        raise UserError(str(err)) from err
    layout = records.layout
    if len(records) < MIN_ROWS:
        raise UserError(f"{path} has only {len(records)} usable rows; need at least {MIN_ROWS} to train")
    problem = label_column_problem(layout)
    if problem:
        raise UserError(f"{path}: {problem}. Name the label column with --label-col NAME or INDEX (and the text "
                        f"with --text-col); the columns are {layout.list_columns()}")
    return records


def describe_file(records) -> None:
    """What was read and how: the layout, bad lines, case variants and the classes with their counts."""
    layout = records.layout
    skipped = f", {len(records.bad_lines)} bad line(s) skipped" if records.bad_lines else ""
    say(f"data: {records.path}: {len(records):,} rows{skipped}")
    for line in layout.describe().splitlines():
        say(f"  {line}")
    for bad in records.bad_lines[:5]:
        say(f"  skipped line {bad.line_number}: {bad.reason}")
    if len(records.bad_lines) > 5:
        say(f"  ... and {len(records.bad_lines) - 5} more bad lines")
    counts = Counter(label for _, label in records)
    for group in layout.case_variants:
        spelled = " / ".join(f"{label!r} ({counts[label]})" for label in group)
        say(f"  warning: labels differing only in case are separate classes: {spelled}; make them one spelling "
            "in the file if they mean the same")


def describe_classes(classes, train_labels, weights) -> None:
    """One line per class: its training count, share and loss weight."""
    counts = Counter(train_labels)
    total = sum(counts.values())
    largest = max(counts.values())
    smallest = min(counts.get(index, 0) for index in range(len(classes)))
    ratio = f", largest/smallest {largest / smallest:.1f}" if smallest else ", a class has none"
    say(f"  {len(classes)} classes (training counts{ratio}):")
    for index, name in enumerate(classes):
        weight = "" if weights is None else f"  weight {weights[index]:.3f}"
        say(f"    {str(name):<20} {counts.get(index, 0):>7,}  {counts.get(index, 0) / total:6.1%}{weight}")


def _examples(args):
    """(text, label) examples, the token mode and why, whether the split is stratified."""
    from ..train.recipes import choose_token_mode

    if not args.data:
        from ..data.datasets import dna_motif

        say("data: the built-in DNA motif task (does a sequence hold the TATA box?)")
        return dna_motif(300 if args.quick else 3000, seed=args.seed), "char", "DNA letters", False
    records = read_labeled_file(args)
    describe_file(records)
    if args.char:
        return list(records), "char", "--char", True
    mode, why = choose_token_mode(text for text, _ in records)
    return list(records), mode, why, True


# =========================================================================== the run


def _class_weights(args, data):
    """None, or the balanced weights of the training split (``--class-weight balanced``)."""
    from ..backend import np
    from ..train.classification_metrics import balanced_class_weights

    if getattr(args, "class_weight", "none") != "balanced":
        return None
    labels = np.concatenate([batch.labels for batch in data.train.iter_epoch(0)])
    return balanced_class_weights(labels, len(data.classes)).tolist()


def _data_file(args):
    """The training file's path and hash (``evaluate`` notes when it is given the same file), or None."""
    from .translating import file_sha256

    return {"path": args.data, "sha256": file_sha256(args.data)} if args.data else None


def _lr_gamma(epochs: int) -> float:
    """The per-epoch factor that brings the learning rate to LR_FALL of its start by the last epoch.

    A decaying rate lets the last epochs settle instead of bouncing around the minimum.
    On the names benchmark (8 seeds, against a constant rate) falling to 0.3 added
    0.8 points of held-out accuracy and 0.014 of macro-F1; falling to 0.1 added 1.0
    point of accuracy but no macro-F1.
    """
    return LR_FALL ** (1.0 / max(int(epochs) - 1, 1))


def _monitor(args) -> str:
    requested = getattr(args, "monitor", None) or "auto"
    return "val_macro_f1" if requested == "auto" else requested


def _describe_run(data, model, settings, backend, weights, monitor, tokens_why) -> None:
    from ..backend import np

    say(f"  split, stratified by class: {len(data.train_examples):,} training, {len(data.val_examples):,} "
        f"validation, {len(data.test_examples):,} held-out test")
    case = "lowercased" if data.lower else "cased"
    say(f"  tokens: {data.mode}s ({tokens_why}), {case}; vocabulary {len(data.vocab):,} from the training split")
    train_labels = np.concatenate([b.labels for b in data.train.iter_epoch(0)]).tolist()
    describe_classes(data.classes, train_labels, weights)
    say("  class weights: " + ("balanced, n / (classes * count) on the training split" if weights else
                               "none, every text counts the same (--class-weight balanced weighs rare classes up)"))
    say(f"model: SequenceClassifier({model.cell.upper()}, packed over lengths), embed {settings['embed_dim']}, "
        f"hidden {settings['hidden_size']}, {model.num_parameters():,} parameters, "
        f"backend {backend}{kernels_note(backend)}")
    gamma, epochs = _lr_gamma(settings["epochs"]), settings["epochs"]
    say(f"training: Adam lr {settings['lr']} times {gamma:.3f} per epoch (down to {settings['lr'] * LR_FALL:.2g} "
        f"by epoch {epochs}), batch {settings['batch_size']}, clip {settings['clip']}, up to {epochs} epochs; "
        f"best.npz is the epoch with {MONITOR_WHY.get(monitor, monitor)}, early stopping after "
        f"{settings['patience']} epochs without improvement")
    say()


def train_classifier(args, settings, mode) -> int:
    """Train a SequenceClassifier on the DNA motif task or a user's labelled file, and report on it."""
    import minirnn as mr

    from ..models import SequenceClassifier
    from ..train import fit
    from ..train.classification_metrics import evaluate_classifier
    from ..train.recipes import classify_data

    started = time.perf_counter()
    world = getattr(args, "world", None) or init_world(args)  # cmd_train starts it before the run folder
    backend = set_device(args.device, args.threads)
    mr.manual_seed(args.seed)
    examples, mode, tokens_why, stratify = _examples(args)
    lower = settings.get("lower", True)
    try:
        data = classify_data(examples, batch_size=settings["batch_size"], seed=args.seed, mode=mode, lower=lower,
                             stratify=stratify)
    except ValueError as err:
        raise UserError(f"{args.data or 'the data'}: {err}") from err
    cell = "lstm" if args.cell == "gru" and not args.cell_given else args.cell
    model = SequenceClassifier(len(data.vocab), len(data.classes), embed_dim=settings["embed_dim"],
                               hidden_size=settings["hidden_size"], cell=cell)
    optimizer = mr.optim.Adam(model.parameters(), lr=settings["lr"])
    scheduler = mr.optim.ExponentialLR(optimizer, _lr_gamma(settings["epochs"]))
    folder = args.run_folder  # chosen by runs.open_run: --resume, --force or a fresh folder
    weights, monitor = _class_weights(args, data), _monitor(args)
    _describe_run(data, model, settings, backend, weights, monitor, tokens_why)
    extra = {"task": "classify", "mode": mode, "lower": lower, "classes": data.classes, "class_weight": weights,
             "monitor": monitor, "data": _data_file(args)}
    history = fit(model, data.train, data.val, task="classify", optimizer=optimizer, scheduler=scheduler,
                  epochs=settings["epochs"],
                  clip=settings["clip"], patience=settings["patience"], monitor=monitor, checkpoint_dir=folder,
                  vocabs=data.vocabs, extra=extra, seed=args.seed, class_weight=weights,
                  resume=True if getattr(args, "resume", False) else None,
                  val_metrics=lambda m: {"val_macro_f1": evaluate_classifier(m, data.val, data.classes).macro_f1},
                  progress=tqdm_progress(settings["epochs"], not args.no_progress),
                  callback=epoch_printer(settings["epochs"]), world=world)
    print_fit_summary(history, monitor, "is weighted by class (--class-weight balanced)" if weights else "")
    if not world.is_root:
        return 0  # the other ranks of a distributed run only train
    report_test(folder, data, history, monitor, args.data)
    say(f"total time {time.perf_counter() - started:.1f}s")
    return 0


def report_test(folder, data, history, monitor, data_path=None) -> None:
    """The kept model on the held-out test split: the scores, the tables, samples, the PNGs."""
    from ..io import load_checkpoint
    from ..train.classification_metrics import evaluate_classifier
    from ..viz import MissingExtraError, classification_table, confusion_table, save_confusion_png

    best_path = os.path.join(folder, "best.npz")
    model = load_checkpoint(best_path).model
    ties = "" if monitor == "val_loss" else ", ties broken by the lower val loss"
    say(f"\nkept epoch {history.best_epoch} as best.npz ({monitor} {history.best_value:.4f}{ties})")
    report = evaluate_classifier(model, data.test, data.classes)
    say(f"held-out test set ({report.total:,} texts never seen in training or selection): accuracy "
        f"{report.accuracy:.1%}, macro-F1 {report.macro_f1:.3f}, loss {report.loss:.4f}\n")
    say(classification_table(report))
    say()
    say(confusion_table(report))
    _show_predictions(model, data)
    pngs = save_pngs(folder, dict(history))
    try:
        pngs.append(save_confusion_png(os.path.join(folder, "confusion.png"), report,
                                       title="held-out confusion matrix"))
    except MissingExtraError:
        pass  # save_pngs has said how to get the PNGs
    say(f"\nsaved under {folder}/: best.npz, last.npz" + "".join(f", {os.path.basename(p)}" for p in pngs))
    sample = data.test_examples[0][0] if data.test_examples else "text"
    say(f'try:  python -m minirnn predict {best_path} "{sample}"')
    if data_path:
        say(f"      python -m minirnn evaluate {best_path} --data {data_path}   (any file of this layout)")


def _show_predictions(model, data, count: int = 4) -> None:
    from ..train.inference import classify_texts

    say("\nsample predictions:")
    shown = data.test_examples[:count]
    guesses = classify_texts(model, data.vocab, data.classes, [t for t, _ in shown], mode=data.mode,
                             lower=data.lower)
    for (text, label), (guess, prob, _) in zip(shown, guesses):
        mark = "✓" if str(guess) == str(label) else f"✗ (true: {label})"
        say(f"  {text[:50]:<50}  →  {guess} ({prob:.2f}) {mark}")
