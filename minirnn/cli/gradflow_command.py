"""``gradflow``: how ||dL/dh_t|| changes through time for an Elman RNN, a GRU and an LSTM.

The same seeded input and upstream gradient go through the three cells at two
weight scales k (weights and biases ~ U(-k/sqrt(H), k/sqrt(H)); k = 1 is PyTorch's
range): by default 1, where the Elman RNN's gradient vanishes, and 4, where it
explodes; both measured, T = 100, H = 64, seed 0. The command prints a table, a
log-scale ASCII chart per scale and a few lines on what they show, every number
read from the run, and saves a PNG.
"""

from __future__ import annotations

import os

from .common import UserError, non_negative_int, positive_int, say

DEFAULT_SCALES = "1,4"


def parse_scales(text: str) -> list[float]:
    """'1,4' -> [1.0, 4.0]; every scale must be a positive number."""
    try:
        scales = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise UserError(f"--scales expects comma-separated numbers k with 0 < k < 1e6, such as 1,4, "
                        f"got {text!r}") from err
    if not scales or any(not 0 < k < 1e6 for k in scales):
        raise UserError(f"--scales expects comma-separated numbers k with 0 < k < 1e6, such as 1,4, got {text!r}")
    return list(dict.fromkeys(scales))


def _check_sizes(args) -> None:
    """What the options' own types (each a positive integer) cannot see."""
    if args.steps < 2:
        raise UserError(f"--steps must be at least 2, got {args.steps}")  # a flow needs a step back
    if not abs(args.gate_bias) <= 100:  # also catches nan and inf
        raise UserError(f"--gate-bias must be a finite number in [-100, 100], got {args.gate_bias}")
    if args.steps * args.batch * args.hidden > 5_000_000:
        raise UserError(f"--steps x --batch x --hidden = {args.steps * args.batch * args.hidden} is too large "
                        "for a quick look (at most 5,000,000)")


def cmd_gradflow(args) -> int:
    from ..gradflow import compare_gradient_flow
    from ..viz.gradflow import gradflow_chart, gradflow_summary, gradflow_table, init_description
    from .common import limit_blas_threads

    _check_sizes(args)
    scales = parse_scales(args.scales)
    if not args.no_png:
        try:  # before the work, so a bad --out costs nothing
            os.makedirs(args.out, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the output folder {args.out}: {err.strerror or err}") from err
    limit_blas_threads(1)
    runs = compare_gradient_flow(scales=scales, steps=args.steps, batch=args.batch, input_size=args.input_size,
                                 hidden_size=args.hidden, gate_bias=args.gate_bias, seed=args.seed)
    T, H = args.steps, args.hidden
    say(f"gradient flow through time: L = sum(h_n * dh_n), float64, seed {args.seed}")
    say(f"x ~ N(0, 1) of shape (T={T}, N={args.batch}, D={args.input_size}), H = {H}, dh_n ~ N(0, 1)")
    say(init_description(scales, args.gate_bias))
    say()
    say(gradflow_table(runs))
    for scale in scales:
        say()
        say(gradflow_chart(runs, scale))
    say()
    say(gradflow_summary(runs, args.gate_bias))
    if not args.no_png:
        say(_save_png(args.out, runs))
    return 0


def _save_png(folder, runs) -> str:
    """Write the PNG; return the line that says what happened.

    Only the write sits in the ``try``: a print to a closed pipe (``| head``) is an
    OSError too, and must not be reported as a failed write.
    """
    from ..viz import MissingExtraError
    from ..viz.gradflow import save_gradflow_png

    path = os.path.join(folder, "gradflow.png")
    try:
        saved = save_gradflow_png(path, runs)
    except MissingExtraError as err:
        return f"\n(no PNG: {err})"
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from err
    return f"\nsaved {saved}"


def register(sub) -> None:
    """Add ``gradflow`` to the command parsers."""
    flow = sub.add_parser("gradflow", help="vanishing and exploding gradients: RNN vs GRU vs LSTM through time",
                          description=__doc__.split("\n\n", 1)[1].strip(),
                          epilog="examples:\n  python -m minirnn gradflow\n"
                          "  python -m minirnn gradflow --steps 50 --scales 0.5,1,4 --gate-bias 0\n")
    flow.add_argument("--steps", type=positive_int, default=100, help="time steps T (default 100)")
    flow.add_argument("--batch", type=positive_int, default=8, help="batch size N (default 8)")
    flow.add_argument("--input-size", type=positive_int, default=16, help="input features D (default 16)")
    flow.add_argument("--hidden", type=positive_int, default=64, help="hidden size H (default 64)")
    flow.add_argument("--scales", default=DEFAULT_SCALES,
                      help=f"weight scales k, comma-separated (default {DEFAULT_SCALES}): weights ~ U(-k/sqrt(H), "
                      "k/sqrt(H))")
    flow.add_argument("--gate-bias", type=float, default=1.0,
                      help="added to the LSTM forget-gate and GRU update-gate biases (default 1, as Keras's "
                      "unit_forget_bias; 0 = PyTorch's default, which adds nothing)")
    flow.add_argument("--out", default=os.path.join("runs", "gradflow"), help="folder of the PNG (default "
                      "runs/gradflow)")
    flow.add_argument("--no-png", action="store_true", help="print only; write no PNG")
    flow.add_argument("--seed", type=non_negative_int, default=0, help="seed of the input and the weights (default 0)")
    flow.set_defaults(func=cmd_gradflow)
