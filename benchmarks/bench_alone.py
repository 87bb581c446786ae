"""Each library alone in its own fresh process, as a user's training script runs it.

    python benchmarks/bench_alone.py                    # every bench_rnn case, CPU
    python benchmarks/bench_alone.py --cases "a lstm" --rounds 3 --seconds 5
    python benchmarks/bench_alone.py --json out.json

``bench_rnn.py`` times minirnn and PyTorch in one process, interleaved, which is fair
to the clock but not to the memory allocator: the two libraries share one heap, and
what one frees changes where the other's next arrays come from (whether they are
already-mapped memory or fresh pages that fault on first touch). A user's script
imports one of them. So here each (case, library) runs in a fresh Python process
that imports only that library (the minirnn process never imports torch; checked):

* one training step is a forward, a backward that computes dx, dh0 and every weight
  gradient, an Adam step and zero_grad, float32, on ``--threads`` threads (BLAS for
  minirnn, ``torch.set_num_threads`` for torch);
* three warm-up steps, then steps for ``--seconds``; the process reports the median
  step time, and per step the minor page faults and the system CPU time (from
  ``getrusage``: the kernel's share, mostly zeroing fresh pages);
* the processes alternate minirnn, torch, minirnn, ... for ``--rounds`` rounds, and
  the table keeps each one's best round, which filters out other load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_rnn import CASES, add_threads_option, make_lengths, torch_outputs  # noqa: E402  (does not import torch)

from minirnn.cli.options import positive_float, positive_int  # noqa: E402


def _inputs(case):
    import numpy as np

    cell, batch, steps, inputs, hidden, layers, bi, packed = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    dout = rng.standard_normal((steps, batch, hidden * (2 if bi else 1))).astype(np.float32)
    return x, dout, (make_lengths(batch, steps) if packed else None)


def minirnn_step(case, threads, kernels="numpy"):
    from threadpoolctl import threadpool_limits

    import minirnn as mr

    threadpool_limits(limits=threads, user_api="blas")
    mr.fast.set_kernels(kernels)
    cell, _, _, inputs, hidden, layers, bi, _ = case
    x, dout, lengths = _inputs(case)
    mr.manual_seed(0)
    model = {"lstm": mr.LSTM, "gru": mr.GRU}[cell](inputs, hidden, num_layers=layers, bidirectional=bi,
                                                   dtype="float32")
    optimizer = mr.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        model(x, lengths=lengths)
        model.backward(dout)
        optimizer.step()
        optimizer.zero_grad()

    return step


def torch_step(case, threads):
    import torch

    torch.set_num_threads(threads)
    cell, _, steps, inputs, hidden, layers, bi, _ = case
    x, dout, lengths = _inputs(case)
    torch.manual_seed(0)
    model = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](inputs, hidden, num_layers=layers, bidirectional=bi)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, dt = torch.tensor(x, requires_grad=True), torch.tensor(dout)
    lt = None if lengths is None else torch.tensor(lengths)

    def step():
        torch_outputs(model, xt, lt, steps).backward(dt)
        optimizer.step()
        optimizer.zero_grad()

    return step


def worker(library, name, threads, seconds):
    """Run one (case, library) alone; print one JSON line."""
    if library == "torch":
        step = torch_step(CASES[name], threads)
    else:  # "minirnn" or "minirnn+numba"
        step = minirnn_step(CASES[name], threads, "numba" if library.endswith("+numba") else "numpy")
    for _ in range(3):  # warm-up: compiles the numba kernels, calibrates threads
        step()
    times, before, start = [], resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        tick = time.perf_counter()
        step()
        times.append(time.perf_counter() - tick)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(dict(
        median_ms=statistics.median(times) * 1e3, steps=len(times),
        faults_per_step=(after.ru_minflt - before.ru_minflt) / len(times),
        sys_ms_per_step=(after.ru_stime - before.ru_stime) / len(times) * 1e3,
        torch_imported="torch" in sys.modules)))


def run_alone(library, name, threads, seconds):
    command = [sys.executable, __file__, "--worker", library, name, str(threads), str(seconds)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{library} {name} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=None, choices=list(CASES), metavar="CASE",
                        help=f"a subset of bench_rnn's case names: {', '.join(CASES)}")
    parser.add_argument("--rounds", type=positive_int, default=2)
    parser.add_argument("--seconds", type=positive_float, default=4.0, help="timed seconds per process")
    add_threads_option(parser)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--kernels", choices=("numpy", "numba", "both"), default="numpy",
                        help="minirnn's NumPy step kernels; both: a column for each (numba is the jit extra)")
    args = parser.parse_args(argv)
    names = args.cases or list(CASES)
    libraries = {"numpy": ("minirnn",), "numba": ("minirnn+numba",),
                 "both": ("minirnn", "minirnn+numba")}[args.kernels] + ("torch",)
    print(f"each library alone in a fresh process; fwd+bwd+Adam, float32, threads={args.threads}, "
          f"{args.rounds} rounds of {args.seconds:g} s, best round kept; cpu_count={os.cpu_count()}, "
          f"load_average={os.getloadavg()}")
    header = "".join(f"{library + ' ms':>18}{'ratio':>7}" for library in libraries[:-1])
    header = (f"{'case':<15}{header}{'torch ms':>10}"
              f"{'faults/step':>13}{'torch':>8}{'sys ms/step':>13}{'torch':>8}")
    print(header)
    print("-" * len(header))
    print(f"(faults and system time: {libraries[0]}, then torch)")
    results = []
    for name in names:
        best = {}
        for _ in range(args.rounds):
            for library in libraries:
                run = run_alone(library, name, args.threads, args.seconds)
                if library != "torch" and run["torch_imported"]:
                    raise RuntimeError("the minirnn process imported torch; it must run alone")
                if library not in best or run["median_ms"] < best[library]["median_ms"]:
                    best[library] = run
        ours, theirs = best[libraries[0]], best["torch"]
        row = dict(case=name, torch=theirs, **{library: best[library] for library in libraries[:-1]},
                   ratio=ours["median_ms"] / theirs["median_ms"],
                   ratios={library: best[library]["median_ms"] / theirs["median_ms"] for library in libraries[:-1]})
        results.append(row)
        columns = "".join(f"{best[library]['median_ms']:>18.1f}{row['ratios'][library]:>7.2f}"
                          for library in libraries[:-1])
        print(f"{name:<15}{columns}{theirs['median_ms']:>10.1f}"
              f"{ours['faults_per_step']:>13.0f}{theirs['faults_per_step']:>8.0f}"
              f"{ours['sys_ms_per_step']:>13.1f}{theirs['sys_ms_per_step']:>8.1f}", flush=True)
    if args.json:
        summary = dict(threads=args.threads, rounds=args.rounds, seconds=args.seconds, results=results)
        Path(args.json).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
