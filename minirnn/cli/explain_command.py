"""``explain``: one LSTM, GRU or Elman RNN cell step worked by hand, every equation with its numbers."""

from __future__ import annotations

from .common import UserError, non_negative_int, say


def cmd_explain(args) -> int:
    from ..viz.explain import H, explain_cell

    if args.proj_size and args.cell != "lstm":
        raise UserError(f"--proj-size needs the lstm cell, got {args.cell}")
    if args.proj_size and not 0 < args.proj_size < H:
        raise UserError(f"--proj-size must be at least 1 and smaller than the hidden size {H}, got {args.proj_size}")
    if args.nonlinearity != "tanh" and args.cell != "rnn":
        raise UserError(f"--nonlinearity {args.nonlinearity} needs the rnn cell, got {args.cell}")
    say(explain_cell(args.cell, seed=args.seed, proj_size=args.proj_size, nonlinearity=args.nonlinearity))
    return 0


def register(sub) -> None:
    """Add ``explain`` to the command parsers."""
    explain = sub.add_parser(
        "explain", help="one cell step worked by hand: every forward and backward equation with its numbers",
        description="Take one step of a cell with N=1, D=2, H=2 and seeded numbers. Print every forward "
        "equation of functional/cells.py with its values, then every backward equation, and each "
        "gradient the backward returns next to its central finite difference and the error. The "
        "numbers come from the library's own cell functions and their caches.",
        epilog="examples:\n  python -m minirnn explain lstm\n  python -m minirnn explain gru --seed 3\n"
        "  python -m minirnn explain rnn --nonlinearity relu\n  python -m minirnn explain lstm --proj-size 1 | less")
    explain.add_argument("cell", choices=("lstm", "gru", "rnn"), help="which cell")
    explain.add_argument("--seed", type=non_negative_int, default=0,
                         help="seed of the inputs, weights and upstream gradients (default 0)")
    explain.add_argument("--proj-size", type=non_negative_int, default=0,
                         help="LSTM only: project h to this many features, below H = 2, so 1 (default 0: none)")
    explain.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh", help="rnn only (default tanh)")
    explain.set_defaults(func=cmd_explain)
