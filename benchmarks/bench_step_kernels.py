"""One step's gate math: NumPy's ``into`` form against the compiled loops (the jit extra).

    python benchmarks/bench_step_kernels.py                  # LSTM and GRU, forward and backward, cases a, b, c
    python benchmarks/bench_step_kernels.py --variants       # ... and the loops that stay scalar, to see why

Each call gets the arrays the fast loop gives it: the gate pre-activations as column
blocks of one (n, G*H) array, the activations as rows of the (k, R, H) store, the
backward's gradients as column blocks of dG. float32, one thread (no BLAS here).
Each figure is the median of ``--rounds`` rounds of ``--reps`` calls, in µs per call.

``--variants`` compiles the same generated loop (``compiled.loop_source``) three more
ways, each with one of the things the extra does removed:

* ``libm tanh``: ``math.tanh`` (a call to libm's ``tanhf`` per element) instead of
  the rational float32 tanh;
* ``python errors``: numba's default error model, which checks each division for zero
  (the loop's and the float32 tanh's);
* ``layout A``: the gate blocks passed as they are (numba's layout "A", strides known
  only at run time) instead of retyped as C layout.

It also times the backward writing its gates into separate arrays instead of dG's
column blocks ("separate dG"): equal now; before the loops went through row views
(``compiled._overload_blocks``), the blocks' overlapping C-layout views kept the
backward loops scalar.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402  (benchmarks may use numpy directly)

from minirnn.cli.options import positive_int  # noqa: E402
from minirnn.fast import compiled, pointwise  # noqa: E402

SHAPES = {"a": (64, 256), "b": (32, 512), "c": (16, 128)}  # (rows, hidden) of bench_rnn's cases


def step_arrays(name, rows, hidden, rng, separate=False):
    """``(out, args)`` for one call of step function ``name``, laid out as the fast loop lays them."""
    f32 = np.float32

    def blocks(count):
        wide = rng.uniform(-2, 2, (rows, count * hidden)).astype(f32)
        return [wide[:, k * hidden : (k + 1) * hidden] for k in range(count)]

    def kept(count):  # rows of a (count, R, H) store, values in (0, 1) like gates
        return list(rng.uniform(0.05, 0.95, (count, rows, hidden)).astype(f32))

    def fresh():
        return rng.uniform(-1, 1, (rows, hidden)).astype(f32)

    if name == "lstm_forward":
        return tuple(kept(5)[:4]) + (fresh(), kept(1)[0], fresh()), tuple(blocks(4)) + (fresh(),)
    if name == "lstm_backward":
        gates = [fresh() for _ in range(4)] if separate else blocks(4)
        i, f, g, o, tanh_c = kept(5)
        return tuple(gates) + (fresh(),), (fresh(), fresh(), i, f, g, o, fresh(), tanh_c)
    if name == "gru_forward":
        a_r, a_z, x_n = blocks(3)
        return tuple(kept(4)) + (fresh(),), (a_r, a_z, x_n, blocks(1)[0], rng.uniform(-1, 1, hidden).astype(f32),
                                             fresh())
    if name == "gru_backward":
        d_r, d_z, d_n = [fresh() for _ in range(3)] if separate else blocks(3)
        r, z, cand, hn = kept(4)
        return (d_r, d_z, d_n, fresh(), fresh()), (fresh(), r, z, cand, hn, fresh())
    raise ValueError(f"no arrays for {name!r}")


def variant(fn, which):
    """``fn``'s generated loop compiled with one of the extra's measures removed (module docstring)."""
    import numba

    compiled.compile_step(fn)  # builds the helpers once
    namespace = dict(compiled._state["helpers"])
    if which == "libm tanh":
        namespace["_tanh"] = math.tanh
    if which == "python errors":
        namespace["_tanh"] = compiled._float32_tanh(numba, error_model="python")
    if which == "layout A":
        namespace["_rows"] = numba.njit(lambda a, rows, width: a)
    exec(compiled.loop_source(fn), namespace)
    options = {"boundscheck": False} if which == "python errors" else {"boundscheck": False, "error_model": "numpy"}
    return numba.njit(**options)(namespace[f"{fn.__name__}_loop"])


def time_call(call, rounds, reps):
    call()  # compiles on first use
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return statistics.median(medians) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(SHAPES), choices=list(SHAPES),
                        help="bench_rnn's shapes: a (64 rows x hidden 256), b (32 x 512), c (16 x 128)")
    parser.add_argument("--rounds", type=positive_int, default=5, help="rounds; the median round is kept")
    parser.add_argument("--reps", type=positive_int, default=200, help="calls per round")
    parser.add_argument("--variants", action="store_true",
                        help="also the compiled loop with each measure that makes it fast removed (libm tanh, "
                        "numba's default error model, layout A, and for the backward separate output arrays)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    compiled._require_numba()
    names = ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward")
    columns = ["numpy into", "compiled", "speed-up"] + (["libm tanh", "python errors", "layout A", "separate dG"]
                                            if args.variants else [])
    print(f"float32, µs per call, median of {args.rounds} rounds of {args.reps} calls; numpy {np.__version__}; "
          "'numpy into' is the NumPy kernel the fast loop calls (fn.into), 'compiled' the numba loop, "
          "'speed-up' the first over the second; case: rows x hidden")
    header = f"{'step':<15}{'case':<12}" + "".join(f"{c:>14}" for c in columns)
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name in names:
        step = compiled.CompiledStep(getattr(pointwise, name))
        for case in args.cases:
            rows, hidden = SHAPES[case]
            cells = calls(step, rows, hidden, rng, args.variants)
            times = {c: time_call(call, args.rounds, args.reps) for c, call in cells.items()}
            times["speed-up"] = times["numpy into"] / times["compiled"]
            row = "".join(f"{times[c]:>14.{2 if c == 'speed-up' else 1}f}" if c in times else f"{'':>14}"
                          for c in columns)
            print(f"{name:<15}{case + f' {rows}x{hidden}':<12}{row}", flush=True)


def calls(step, rows, hidden, rng, variants):
    """{column: a call of one kernel on the fast loop's layout} for ``step`` at (rows, hidden)."""
    fn, name = step.fn, step.fn.__name__
    out, arrays = step_arrays(name, rows, hidden, rng)
    cells = {"numpy into": lambda: fn.into(out, *arrays), "compiled": lambda: step.into(out, *arrays)}
    if variants:
        for which in ("libm tanh", "python errors", "layout A"):
            loop = variant(fn, which)
            cells[which] = lambda loop=loop: loop(*out, *arrays)
        if name.endswith("backward"):
            apart, apart_arrays = step_arrays(name, rows, hidden, rng, separate=True)
            cells["separate dG"] = lambda: step.into(apart, *apart_arrays)
    return cells

if __name__ == "__main__":
    main()
