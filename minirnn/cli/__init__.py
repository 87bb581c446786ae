"""``python -m minirnn``: the command line. This package is the only layer of minirnn that prints.

Commands::

    python -m minirnn demo                      # train English->French with attention, show everything
    python -m minirnn train translate|dates|classify [--data FILE]
    python -m minirnn translate CHECKPOINT "i am happy" [--attention]
    python -m minirnn evaluate CHECKPOINT --data FILE [--beam K] [--json]
    python -m minirnn predict CHECKPOINT "ACGTTATAATGC..."
    python -m minirnn trace CHECKPOINT "i am not happy"
    python -m minirnn gradcheck --model lstm

One module per group of commands; each has a ``register(subparsers)`` that adds its
parsers and binds each to its ``cmd_*`` function. ``common`` holds what they share.

User errors (an unknown option, a number out of range, a missing file, a bad data
line) print one clear line and exit with status 2; there is no traceback for them.
Options may come anywhere on the line, and ``--help`` shows every default. Ctrl-C
during training names the last checkpoint and the command that resumes it, and exits
with status 130.
"""

from __future__ import annotations

import argparse
import sys

from . import checkpoint_commands, evaluate, explain_command, gradcheck_command, gradflow_command, training
from .common import EXIT_INTERRUPTED, EXIT_USAGE, UserError, limit_blas_threads, note
from .options import HelpFormatter, Parser
from .runs import discard_empty_run, explicit_options, interrupted_lines

COMMAND_MODULES = (training, evaluate, checkpoint_commands, gradcheck_command, gradflow_command, explain_command)

EPILOG = """\
examples:
  python -m minirnn demo                               train + show the whole pipeline (under a minute on 2 cores)
  python -m minirnn demo --quick                       a tiny smoke run (seconds)
  python -m minirnn demo --device cuda                 the same on a GPU through CuPy
  python -m minirnn train dates --epochs 8             human dates -> ISO dates
  python -m minirnn train translate --data eng-fra.txt your own source<TAB>target[<TAB>attribution] file
  python -m minirnn train translate --data eng-fra.txt --epochs 30 --resume   continue that run to epoch 30
  python -m minirnn train classify --data reviews.csv  your own text,label file
  python -m minirnn evaluate runs/translate/best.npz --data test.tsv   BLEU, chrF, exact match on any file
  python -m minirnn translate runs/demo/best.npz --attention "i am not happy"
  echo "she has a red car" | python -m minirnn translate runs/demo/best.npz
  python -m minirnn trace runs/demo/best.npz "we have two red cars"
  python -m minirnn gradcheck --model seq2seq

environment:
  MINIRNN_KERNELS=numba   float32 gate math as compiled loops (pip install "minirnn[jit]"); each
                          process compiles them first (a few seconds, ~90 MiB): for training runs
"""

__all__ = ["EXIT_USAGE", "UserError", "build_parser", "limit_blas_threads", "main"]


class CommandParser(Parser):
    """A sub-command's parser: options may sit anywhere among its positional arguments."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("intermixed", True)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m minirnn", description="minirnn: recurrent networks with hand-written "
                    "backpropagation through time, in NumPy/CuPy.", epilog=EPILOG, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for module in COMMAND_MODULES:
        module.register(sub)
    parser.command_parsers = sub.choices  # name -> its parser, for the options written on a command line
    return parser


def _parse(parser, argv):
    args = parser.parse_args(argv)
    if args.command is not None:
        args.explicit = explicit_options(parser.command_parsers[args.command], argv)
        args.argv = list(argv)
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = None
    try:
        args = _parse(parser, argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except UserError as err:
        discard_empty_run(args)
        _stop_alone_ranks(err)
        note(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        discard_empty_run(args)
        for line in interrupted_lines(args, argv):
            note(line)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except Exception as err:
        from ..distributed import RankFailed
        from ..train import TrainingDiverged

        discard_empty_run(args)  # a run that failed before its first checkpoint leaves no empty folder
        _stop_alone_ranks(err)
        if isinstance(err, (TrainingDiverged, RankFailed)):
            note(f"error: {err}")
            return 1
        raise


def _stop_alone_ranks(err: Exception) -> None:
    """In a distributed run, an error raised on this rank alone would leave the others waiting: abort them all.

    (Errors that every rank raised at the same point, as fit's are, end normally; rank 0 prints them.)
    """
    from ..distributed import abort, get_world, stopped_together

    world = get_world()
    if world.size > 1 and not stopped_together(err):
        abort(world, err, code=EXIT_USAGE if isinstance(err, UserError) else 1)

