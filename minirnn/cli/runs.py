"""Run folders: never overwritten by accident, resumed on request, and safe to interrupt.

A training command writes ``best.npz`` and ``last.npz`` under ``--out/--name``
(``runs/<task>`` by default). When that folder already holds a run:

* ``--resume`` continues it (from ``last.npz``) up to the new ``--epochs``, with the
  settings it was started with; a run that stopped early continues under a larger
  ``--patience`` (its count of epochs without improvement goes on), and a run with
  nothing left to train says so and exits 0;
* ``--force`` deletes its checkpoints and PNGs and starts over in the same folder;
* with neither, an explicit ``--name`` is an error that names both options, and the
  default name moves on to the next free folder (``runs/translate-2``) and says so.

Ctrl-C during training leaves the last checkpoint as it was (checkpoints are only
written after a finished epoch, atomically); :func:`interrupted_lines` names it and
prints the exact command that resumes the run. The command exits with status 130.
"""

from __future__ import annotations

import os
import shlex

from .options import UserError

RUN_FILES = ("best.npz", "last.npz", "loss.png", "attention.png", "confusion.png")


def _checkpoint_epoch(path: str):
    from ..io import load_checkpoint

    try:
        return load_checkpoint(path).epoch
    except (OSError, ValueError):
        return None


def holds_run(folder: str) -> bool:
    """True when ``folder`` has a checkpoint of an earlier run."""
    return any(os.path.exists(os.path.join(folder, name)) for name in ("best.npz", "last.npz"))


def open_run(args, default: str, say=None, world=None) -> str:
    """Pick the run folder for ``args`` (``--out``, ``--name``, ``--resume``, ``--force``) and create it.

    Sets ``args.run_folder`` and ``args.run_name`` (the Ctrl-C message uses them).
    ``say`` receives the one-line notes (a folder moved on, a folder replaced). In a
    distributed run (``world``) rank 0 alone looks, deletes and creates; every rank
    gets its answer.
    """
    from ..distributed import SINGLE, run_on_root

    folder, name = run_on_root(world or SINGLE, lambda: _choose_folder(args, default, say or (lambda text: None)),
                               " choosing the run folder")
    args.run_folder, args.run_name = folder, name
    return folder


def discard_empty_run(args) -> None:
    """Remove the run folder this command created when it failed before writing anything into it."""
    folder = getattr(args, "run_folder", None) if args is not None else None
    if getattr(args, "run_folder_created", False) and folder and os.path.isdir(folder) and not os.listdir(folder):
        try:
            os.rmdir(folder)
        except OSError:  # another rank removed it first, or a file appeared meanwhile: leave it
            pass


def _choose_folder(args, default: str, say) -> tuple[str, str]:
    name = args.name or default
    folder = os.path.join(args.out, name)
    if getattr(args, "resume", False):
        if not os.path.exists(os.path.join(folder, "last.npz")):
            raise UserError(f"--resume: {folder} holds no run to continue (no last.npz); start one without --resume")
    elif holds_run(folder):
        epoch = _checkpoint_epoch(os.path.join(folder, "last.npz"))
        held = f"{folder} already holds a run" + (f" (last.npz at epoch {epoch})" if epoch is not None else "")
        if getattr(args, "force", False):
            for file in RUN_FILES:
                if os.path.exists(os.path.join(folder, file)):
                    os.remove(os.path.join(folder, file))
            say(f"--force: {held}; its checkpoints and plots were deleted, starting over")
        elif args.name:
            raise UserError(f"{held}; add --resume to continue it, --force to replace it, or choose another --name")
        else:
            number = 2
            while holds_run(os.path.join(args.out, f"{default}-{number}")):
                number += 1
            name, folder = f"{default}-{number}", os.path.join(args.out, f"{default}-{number}")
            say(f"note: {held}; this run goes to {folder} (--resume continues the other, --force replaces it)")
    args.run_folder_created = not os.path.exists(folder)  # a failed run removes it again if it stays empty
    os.makedirs(folder, exist_ok=True)
    return folder, name


def nothing_left(folder: str, settings: dict) -> str | None:
    """Why a resumed run has no epoch left to train under ``settings`` (epochs, patience), or None."""
    from ..io import load_checkpoint

    ckpt = load_checkpoint(os.path.join(folder, "last.npz"))
    epoch, state = int(ckpt.epoch or 0), ckpt.extra.get("fit") or {}
    if state.get("stopped_early") and int(state.get("bad_epochs", 0)) >= settings["patience"]:
        return (f"the run stopped early at epoch {epoch} ({state.get('stop_reason', '')}); nothing more to train "
                f"(give --patience above {state.get('bad_epochs')} to continue it)")
    if epoch >= settings["epochs"]:
        return f"the run already finished epoch {epoch} of --epochs {settings['epochs']}; nothing more to train " \
               "(give a larger --epochs to continue it)"
    return None


def resume_command(argv, run_name: str) -> str:
    """The command line that resumes this run: ``argv`` without ``--force``, with ``--name`` and ``--resume``."""
    argv = [a for a in argv if a != "--force"]
    if not any(a == "--name" or a.startswith("--name=") for a in argv):
        argv += ["--name", run_name]
    if "--resume" not in argv:
        argv.append("--resume")
    return "python -m minirnn " + shlex.join(argv)


def interrupted_lines(args, argv) -> list[str]:
    """What Ctrl-C prints: where the last good checkpoint is and how to continue."""
    folder = getattr(args, "run_folder", None) if args is not None else None
    if folder is None:
        return ["interrupted"]
    last = os.path.join(folder, "last.npz")
    if not os.path.exists(last):
        return [f"interrupted before the first epoch finished: no checkpoint was written in {folder}"]
    epoch = _checkpoint_epoch(last)
    return [f"interrupted: the last checkpoint is {last} (epoch {epoch}, intact); best.npz holds the best epoch so far",
            f"resume with:  {resume_command(list(argv), args.run_name)}"]


def explicit_options(parser, argv) -> set:
    """The ``dest`` of every option written on the command line ``argv`` (``--lr=3e-3`` counts)."""
    given = set()
    for token in argv:
        action = parser._option_string_actions.get(token.split("=", 1)[0]) if token.startswith("-") else None
        if action is not None:
            given.add(action.dest)
    return given


def resumed_settings(folder: str, settings: dict, given: set, options: dict) -> dict:
    """The settings a resumed run continues with: those stored in its ``last.npz``.

    ``options`` maps a setting to the command-line option that sets it; an option
    written on the command line (in ``given``) with another value than the run's is
    an error, since the model and data of a run cannot change halfway.
    """
    from ..io import load_checkpoint

    stored = dict(load_checkpoint(os.path.join(folder, "last.npz")).extra.get("settings") or {})
    if not stored:
        raise UserError(f"--resume: {folder}/last.npz was not written by `train` (it stores no settings)")
    for key, option in options.items():
        dest = option.lstrip("-").replace("-", "_")
        if dest in given and key in stored and settings.get(key) != stored[key]:
            raise UserError(f"--resume: the run in {folder} was trained with {option} {stored[key]}, not "
                            f"{settings.get(key)}; a resumed run keeps its settings (drop {option})")
    # --epochs and --patience may change (that is what resuming is for); unless given, the run's own hold.
    return dict(settings, **{k: v for k, v in stored.items() if not (k in ("epochs", "patience") and k in given)})
