"""``python -m minirnn``: the command line. This package is the only layer of minirnn that prints.

Commands::

    python -m minirnn demo                      # train English->French with attention, show everything
    python -m minirnn train translate|dates|classify [--data FILE]
    python -m minirnn translate CHECKPOINT "i am happy" [--attention]
    python -m minirnn predict CHECKPOINT "ACGTTATAATGC..."
    python -m minirnn trace CHECKPOINT "i am not happy"
    python -m minirnn gradcheck --model lstm

One module per group of commands; each has a ``register(subparsers)`` that adds its
parsers and binds each to its ``cmd_*`` function. ``common`` holds what they share.

User errors (an unknown option, a missing file, a bad data line) print one clear
line and exit with status 2; there is no traceback for them.
"""

from __future__ import annotations

import argparse

from . import checkpoint_commands, gradcheck_command, training
from .common import EXIT_USAGE, Parser, UserError, limit_blas_threads, note

COMMAND_MODULES = (training, checkpoint_commands, gradcheck_command)

EPILOG = """\
examples:
  python -m minirnn demo                               train + show the whole pipeline (under a minute on 2 cores)
  python -m minirnn demo --quick                       a tiny smoke run (seconds)
  python -m minirnn demo --device cuda                 the same on a GPU through CuPy
  python -m minirnn train dates --epochs 8             human dates -> ISO dates
  python -m minirnn train translate --data eng-fra.txt your own source<TAB>target file
  python -m minirnn train classify --data reviews.csv  your own text,label file
  python -m minirnn translate runs/demo/best.npz "i am not happy" --attention
  echo "she has a red car" | python -m minirnn translate runs/demo/best.npz
  python -m minirnn trace runs/demo/best.npz "we have two red cars"
  python -m minirnn gradcheck --model seq2seq
"""

__all__ = ["EXIT_USAGE", "UserError", "build_parser", "limit_blas_threads", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m minirnn", description="minirnn: recurrent networks with hand-written "
                    "backpropagation through time, in NumPy/CuPy.", epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "epochs", None) is not None and args.epochs < 1:
            raise UserError(f"--epochs must be at least 1, got {args.epochs}")
        return args.func(args)
    except UserError as err:
        note(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        note("interrupted")
        return 130
    except Exception as err:
        from ..train import TrainingDiverged

        if isinstance(err, TrainingDiverged):
            note(f"error: {err}")
            return 1
        raise

