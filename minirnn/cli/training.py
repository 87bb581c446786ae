"""``demo`` and ``train``: the settings and parsers of the training commands.

``train translate --data FILE`` reads a ``source<TAB>target[<TAB>attribution]`` file;
``train classify --data FILE`` a labelled CSV/TSV (``classifying``). The seq2seq story
(split, fit, selection, test scores, samples) is in ``translating``; run folders,
``--resume`` and ``--force`` in ``runs``.
"""

from __future__ import annotations

from .classifying import add_classify_options, train_classifier
from .common import UserError, add_common_options, init_world, positive_float, positive_int, probability, say
from .runs import nothing_left, open_run, resumed_settings
from .translating import RUN_OPTIONS, choose_monitor, file_sha256, read_parallel_file, seq2seq_run, split_sizes

DEMO = {  # the demo's settings; the issue asks for >= 90% held-out exact match in about 2 minutes on 2 cores
    "pairs": 12000, "val": 400, "test": 1000, "embed_dim": 64, "hidden_size": 128, "cell": "gru",
    "bidirectional": True, "epochs": 10, "lr": 3e-3, "batch_size": 64, "clip": 1.0, "patience": 3,
    "label_smoothing": 0.1,  # +3 to +5 test BLEU on the phrasebook (benchmarks/README.md), less overconfidence
}
DATA_EPOCHS = 30  # a user's file trains until validation stops improving (early stopping), at most this long
QUICK = {"pairs": 400, "val": 50, "test": 50, "embed_dim": 16, "hidden_size": 24, "epochs": 2, "batch_size": 32}
SAMPLES = ["i am happy", "i am not happy", "she is happy", "i have a red car", "we have two red cars",
           "the girls are tired", "i do not have a red car"]
HEATMAP_SENTENCE = "i do not have a red car"  # negation around the verb and the adjective after the noun
SEQ2SEQ_MONITORS = ("auto", "val_bleu", "val_chrf", "val_loss", "val_exact_match")
CLASSIFY_MONITORS = ("auto", "val_loss", "val_accuracy", "val_macro_f1")


def run_settings(args) -> dict:
    """The run's settings: the defaults, then --quick's, then every option written on the line."""
    given = getattr(args, "explicit", set())
    settings = dict(DEMO, seed=args.seed, lower=bool(getattr(args, "lowercase", False)),
                    mode="char" if getattr(args, "char", False) else "word")
    for key in ("lr", "batch_size", "hidden_size", "embed_dim", "patience", "label_smoothing"):
        if hasattr(args, key):
            settings[key] = getattr(args, key)
    if getattr(args, "cell", None):
        settings["cell"] = args.cell
    if args.quick:
        settings.update({k: v for k, v in QUICK.items() if k not in given})
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    return settings


def _seq2seq_data(args, settings):
    """The pairs of the task, with the samples, references and output join of its report."""
    if args.data:
        if args.epochs is None and not args.quick and not getattr(args, "resume", False):
            settings["epochs"] = DATA_EPOCHS
        pairs = read_parallel_file(args.data)
        settings["val"] = settings["test"] = split_sizes(pairs, settings["lower"], settings["mode"])
        data_file = {"path": args.data, "sha256": file_sha256(args.data)}
        return pairs, {"samples": [], "data_file": data_file}
    if args.task == "dates":
        from ..data.datasets import date_pairs

        n = settings["pairs"] if args.quick else 6000
        pairs = date_pairs(n + settings["val"] + settings["test"], seed=settings["seed"])
        say(f"data: {len(pairs):,} built-in date pairs (human dates -> ISO 8601, {settings['mode']} tokens)")
        return pairs, {"samples": ["tuesday 3 march 1998", "3/3/98", "march 3rd, 1998"], "join": ""}
    from ..data.datasets import translation_pairs
    from ..data.datasets.translation import all_translation_pairs

    pairs = translation_pairs(settings["pairs"] + settings["val"] + settings["test"], seed=settings["seed"])
    say(f"data: {len(pairs):,} built-in English->French pairs from minirnn's grammar (lower case, one reference "
        "each; no download)")
    references = {en: [fr] for en, fr in all_translation_pairs()}
    samples = SAMPLES if args.command == "demo" else SAMPLES[:3]
    return pairs, {"samples": samples, "references": references, "heatmap_sentence": HEATMAP_SENTENCE}


def _check_resumed_data(args, settings, story) -> None:
    stored = settings.get("data_file")
    given = story.get("data_file")
    if stored and given and stored.get("sha256") != given["sha256"]:
        raise UserError(f"--resume: {args.data} is not the file the run in {args.run_folder} was trained on "
                        f"({stored.get('path')}); it changed or is another file")


def cmd_seq2seq(args, kind: str) -> int:
    """``demo``, ``train translate`` and ``train dates``."""
    settings = run_settings(args)
    args.world = init_world(args, settings["batch_size"])
    folder = open_run(args, args.name or kind, say=say, world=args.world)
    if getattr(args, "resume", False):
        settings = resumed_settings(folder, settings, args.explicit, RUN_OPTIONS)
        if _nothing_to_resume(args, folder, settings):
            return 0
    pairs, story = _seq2seq_data(args, settings)
    if getattr(args, "resume", False):
        _check_resumed_data(args, settings, story)
    settings["data_file"] = story.get("data_file")
    settings["monitor"], settings["monitor_reason"] = choose_monitor(getattr(args, "monitor", "auto"),
                                                                     settings["mode"], settings["val"])
    seq2seq_run(args, pairs, kind, settings, samples=story["samples"], references=story.get("references"),
                join=story.get("join"), heatmap_sentence=story.get("heatmap_sentence"),
                data_file=story.get("data_file"))
    return 0


def _nothing_to_resume(args, folder: str, settings: dict) -> bool:
    """True (and says why) when ``--resume`` finds the run already finished under ``settings``."""
    reason = nothing_left(folder, settings) if getattr(args, "resume", False) else None
    if reason:
        say(f"--resume: {reason}")
    return bool(reason)


def cmd_demo(args) -> int:
    return cmd_seq2seq(args, "demo")


def cmd_train(args) -> int:
    if args.task == "classify":
        if args.monitor not in CLASSIFY_MONITORS:
            raise UserError(f"--monitor {args.monitor} is a translation metric; a classifier monitors one of "
                            f"{', '.join(CLASSIFY_MONITORS)}")
        settings = dict(run_settings(args), lower=True)  # the classifier's own default: it lower-cases its texts
        args.cell_given, args.cell = args.cell is not None, args.cell or "gru"
        args.world = init_world(args, settings["batch_size"])
        folder = open_run(args, args.name or "classify", say=say, world=args.world)
        if _nothing_to_resume(args, folder, settings):
            return 0
        return train_classifier(args, settings, "char" if args.char else "word")
    if args.cell == "rnn":
        raise UserError("seq2seq models support --cell gru or lstm")
    if args.monitor not in SEQ2SEQ_MONITORS:
        raise UserError(f"--monitor {args.monitor} is a classification metric; a translator monitors one of "
                        f"{', '.join(SEQ2SEQ_MONITORS)}")
    return cmd_seq2seq(args, args.task)


# =========================================================================== the parsers


def _add_run_options(parser) -> None:
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"epochs to train, at most (default {DEMO['epochs']}, for every task but one: "
                        f"train translate --data FILE trains up to {DATA_EPOCHS}, where early stopping usually ends "
                        "it sooner; with --resume: continue up to this epoch)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run: little data, a small model, 2 epochs")
    parser.add_argument("--out", default="runs", help="parent folder of the run folder")
    parser.add_argument("--name", default=None,
                        help="the run folder's name (default: the task, e.g. runs/translate; when that folder holds "
                        "a run, the next free one: runs/translate-2)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in the folder from its last.npz up to --epochs, with its settings (an "
                       "early-stopped run: with a larger --patience)")
    again.add_argument("--force", action="store_true",
                       help="delete the checkpoints of the run in the folder and start over")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel training over MPI: mpirun -n K python -m minirnn ... --distributed "
                        "(needs the mpi extra)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no tqdm progress bar (one is drawn only when stderr is a terminal)")
    add_common_options(parser)


RUN_FOLDERS = """\
run folders: a run writes best.npz, last.npz and PNGs under --out/--name. A folder
that holds a run is never overwritten silently: --resume continues it to --epochs,
--force starts it over, and without either a named folder is an error while the
default name moves on to the next free folder (runs/translate-2). Ctrl-C keeps the
last finished epoch's checkpoint, prints the command that resumes it, exits 130."""


def register(sub) -> None:
    """Add ``demo`` and ``train`` to the command parsers."""
    demo = sub.add_parser("demo", help="train English->French with attention and show every stage",
                          description="Train an attention seq2seq on the built-in English->French grammar data "
                          "(no download), then print the epoch table with an ASCII loss chart, held-out BLEU and "
                          "exact match, sample translations, the six-stage pipeline trace and an attention "
                          "heatmap. Saves the checkpoints and PNGs under runs/<name>/.",
                          epilog="example: python -m minirnn demo --epochs 6 --name first-try\n\n" + RUN_FOLDERS)
    _add_run_options(demo)
    demo.set_defaults(func=cmd_demo, monitor="auto", task="translate", data=None, cell=None, char=False,
                      lowercase=False)

    train = sub.add_parser("train", help="train on a built-in task or your own file",
                           description="Train a model and save checkpoints under runs/<name>/. Tasks: translate "
                           "(English->French grammar, or --data source<TAB>target[<TAB>attribution], several "
                           "references per source welcome), dates (human dates -> ISO), classify (DNA motif, or "
                           "--data text,label CSV/TSV).",
                           epilog="examples:\n  python -m minirnn train dates\n"
                           "  python -m minirnn train translate --data eng-fra.txt --epochs 20\n"
                           "  python -m minirnn train translate --data eng-fra.txt --epochs 30 --resume\n"
                           "  python -m minirnn train classify --data spam.csv --cell gru\n\n" + RUN_FOLDERS)
    train.add_argument("task", choices=("translate", "dates", "classify"), help="what to learn")
    train.add_argument("--data", default=None, help="your own data file (TSV pairs, or CSV/TSV text,label)")
    train.add_argument("--cell", choices=("gru", "lstm", "rnn"), default=None,
                       help="recurrent cell (default gru for seq2seq, lstm for classify)")
    train.add_argument("--hidden-size", type=positive_int, default=DEMO["hidden_size"], help="hidden units per layer")
    train.add_argument("--embed-dim", type=positive_int, default=DEMO["embed_dim"], help="embedding size")
    train.add_argument("--lr", type=positive_float, default=DEMO["lr"], help="Adam learning rate")
    train.add_argument("--batch-size", type=positive_int, default=DEMO["batch_size"], help="examples per batch")
    train.add_argument("--patience", type=positive_int, default=DEMO["patience"],
                       help="early stopping: epochs without improvement of --monitor")
    train.add_argument("--label-smoothing", type=probability, default=DEMO["label_smoothing"],
                       help="share of each target's probability spread over the other tokens (seq2seq)")
    train.add_argument("--monitor", choices=sorted(set(SEQ2SEQ_MONITORS + CLASSIFY_MONITORS)), default="auto",
                       help="the validation value that picks best.npz and drives early stopping; auto: val_bleu "
                       "for a word-level translator, val_chrf for characters, the classifier's own for classify")
    train.add_argument("--lowercase", action="store_true",
                       help="lower-case a translator's text (default: keep the case; a classifier always lower-cases)")
    train.add_argument("--char", action="store_true", help="character tokens instead of words")
    add_classify_options(train)
    _add_run_options(train)
    train.set_defaults(func=cmd_train)

