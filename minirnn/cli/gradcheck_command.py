"""``gradcheck``: compare a small float64 model's hand-written gradients with central differences."""

from __future__ import annotations

import time

from .common import UserError, non_negative_int, positive_int, say
from .options import bounded_int

GRADCHECK_MODELS = ("rnn", "gru", "lstm", "lstm-proj", "gru-cell", "lstm-cell", "linear", "attention",
                    "classifier", "seq2seq")
# Finite differences run the forward twice per checked entry or direction of every
# array: the check is for small models. The caps keep a typo (--hidden 100000: 298 GiB
# of LSTM weights) from asking for more than a machine has.
MAX_HIDDEN, MAX_LAYERS, MAX_STEPS, MAX_BATCH = 256, 4, 100, 64
MAX_WORK = 100_000  # --steps x --batch x --hidden


def _attention_backward(attention, upstream):
    """Attention's backward takes two upstream gradients: backward(dcontext, dweights) -> (dquery, dkeys)."""
    return attention.backward(*upstream)


def build_case(args, rng):
    """The module to check and its inputs: ``(module, inputs, forward_kwargs, backward, lengths)``."""
    import minirnn as mr

    from ..backend import np
    from ..models import Seq2Seq, SequenceClassifier

    N, T, D, H = args.batch, args.steps, 3, args.hidden
    f64 = "float64"
    lengths = np.sort(rng.integers(1, T + 1, size=N))[::-1].copy()
    lengths[0] = T
    name = args.model
    if name in ("rnn", "gru", "lstm", "lstm-proj"):
        cls = {"rnn": mr.RNN, "gru": mr.GRU, "lstm": mr.LSTM, "lstm-proj": mr.LSTM}[name]
        extra = {"proj_size": max(1, H // 2)} if name == "lstm-proj" else {}
        module = cls(D, H, num_layers=args.layers, bidirectional=args.bidirectional, dtype=f64, **extra)
        return module, (rng.standard_normal((T, N, D)),), {"lengths": lengths}, None, lengths
    if name in ("gru-cell", "lstm-cell"):
        module = (mr.GRUCell if name == "gru-cell" else mr.LSTMCell)(D, H, dtype=f64)
        state = rng.standard_normal((N, H))
        state = state if name == "gru-cell" else (state, rng.standard_normal((N, H)))
        return module, (rng.standard_normal((N, D)), state), None, None, lengths
    if name == "linear":
        return mr.Linear(D, H, dtype=f64), (rng.standard_normal((N, T, D)),), None, None, lengths
    if name == "attention":
        mask = np.arange(T)[None, :] < lengths[:, None]
        inputs = (rng.standard_normal((N, H)), rng.standard_normal((N, T, D)), mask)
        return mr.nn.BahdanauAttention(H, D, dtype=f64), inputs, None, _attention_backward, lengths
    if name == "classifier":
        module = SequenceClassifier(12, 3, embed_dim=4, hidden_size=H, cell=args.cell, dtype=f64,
                                    bidirectional=args.bidirectional, num_layers=args.layers)
        return module, (rng.integers(1, 12, size=(N, T)), lengths), None, None, lengths
    module = Seq2Seq(12, 11, embed_dim=4, hidden_size=H, cell=args.cell, dtype=f64,
                     bidirectional_encoder=args.bidirectional, num_layers=args.layers)
    inputs = (rng.integers(1, 12, size=(N, T)), lengths, rng.integers(1, 11, size=(N, T + 1)))
    return module, inputs, None, None, lengths


def _check_sizes(args) -> None:
    """What the options' own types cannot see: their product, and what a model needs."""
    work = args.steps * args.batch * args.hidden
    if work > MAX_WORK:
        raise UserError(f"--steps x --batch x --hidden = {work} is too large for a finite-difference check "
                        f"(at most {MAX_WORK:,})")
    if args.model == "lstm-proj" and args.hidden < 2:
        raise UserError(f"--model lstm-proj projects h to hidden // 2 features, so it needs --hidden 2 or more, "
                        f"got {args.hidden}")


def cmd_gradcheck(args) -> int:
    import minirnn as mr

    from ..backend import np
    from ..gradcheck import gradcheck

    _check_sizes(args)
    rng = np.random.default_rng(args.seed)
    mr.manual_seed(args.seed)
    module, inputs, kwargs, backward, lengths = build_case(args, rng)
    module.eval()
    if args.model in ("classifier", "seq2seq"):
        say(f"gradcheck {args.model}: {type(module).__name__}(hidden {args.hidden}, cell {args.cell}, layers "
            f"{args.layers}, bidirectional {args.bidirectional}), float64, N={args.batch}, T={args.steps}, "
            f"lengths {lengths.tolist()}")
    else:
        say(f"gradcheck {args.model}: {module!r}".replace("\n", "\n  "))
    started = time.perf_counter()
    report = gradcheck(module, *inputs, forward_kwargs=kwargs, backward=backward, seed=args.seed)
    say(str(report))
    worst = sorted(report, key=lambda e: e.rel_error, reverse=True)[: args.worst]
    say(f"\nworst {len(worst)} (relative error = |analytic - numeric| / (|analytic| + |numeric|)):")
    for entry in worst:
        say(f"  {entry.name:<28} rel {entry.rel_error:.2e}  abs {entry.abs_error:.2e}  ({entry.mode})")
    say(f"\n{'PASSED' if report.ok else 'FAILED'} in {time.perf_counter() - started:.1f}s")
    return 0 if report.ok else 1


def register(sub) -> None:
    """Add ``gradcheck`` to the command parsers."""
    grad = sub.add_parser("gradcheck", help="finite-difference check of a model's hand-written backward",
                          description="Build a small float64 model, compare every parameter's analytic gradient "
                          "with central differences and print the worst errors.",
                          epilog="examples:\n  python -m minirnn gradcheck --model lstm --bidirectional --layers 2\n"
                          "  python -m minirnn gradcheck --model seq2seq --cell lstm")
    grad.add_argument("--model", choices=GRADCHECK_MODELS, default="lstm", help="what to check (default lstm)")
    grad.add_argument("--cell", choices=("gru", "lstm"), default="gru", help="cell of classifier/seq2seq")
    grad.add_argument("--hidden", type=bounded_int(1, MAX_HIDDEN), default=4,
                      help=f"hidden size, at most {MAX_HIDDEN} (default 4)")
    grad.add_argument("--layers", type=bounded_int(1, MAX_LAYERS), default=1,
                      help=f"recurrent layers, at most {MAX_LAYERS} (default 1)")
    grad.add_argument("--bidirectional", action="store_true", help="bidirectional recurrent layers / encoder")
    grad.add_argument("--batch", type=bounded_int(1, MAX_BATCH), default=3,
                      help=f"batch size N, at most {MAX_BATCH} (default 3)")
    grad.add_argument("--steps", type=bounded_int(1, MAX_STEPS), default=4,
                      help=f"time steps T, at most {MAX_STEPS} (default 4)")
    grad.add_argument("--worst", type=positive_int, default=5, help="how many of the worst arrays to list (default 5)")
    grad.add_argument("--seed", type=non_negative_int, default=0, help="seed of the weights and inputs (default 0)")
    grad.set_defaults(func=cmd_gradcheck)
