"""Data-parallel scaling: examples per second of the demo model on 1 and 2 ranks, and what communication costs.

    python benchmarks/bench_distributed.py                 # runs itself under mpirun -n 1 and -n 2
    python benchmarks/bench_distributed.py --ranks 1 2 4   # other rank counts
    python benchmarks/bench_distributed.py --quick         # a short smoke run
    mpirun -n 2 python benchmarks/bench_distributed.py --worker   # one configuration by hand

The model is the demo's (``python -m minirnn demo``): a bidirectional GRU encoder,
Bahdanau attention, a GRU cell decoder, embed 64, hidden 128, float32, on the demo's
English->French pairs in length-bucketed global batches of 64. With K ranks each
rank trains on its share of every global batch (``BucketIterator.shard``), so K
ranks do the work of one process, split K ways, plus one allreduce per step.
Every rank uses 1 BLAS thread (the CLI's default), so K ranks use K cores.

One step is what ``fit`` does: forward and backward on the rank's share, the
token-weighted ``allreduce_gradients`` (one flat buffer), clipping, an Adam step.
Reported per configuration (median over the timed steps, rank 0's clock, after
warm-up steps):

* examples/s: global batch / step time;
* allreduce: the time inside ``allreduce_gradients``, which includes waiting for the
  slower rank (the ranks' shares differ in length), and its share of the step;
* pure allreduce: the same buffer summed right after a barrier, i.e. the
  communication alone, and its share of the step;
* best: the fastest of those allreduces (what the wire costs without scheduling delays);
* compute CPU ms: the CPU time of forward and backward on the busier rank (the work
  each rank does, which a loaded machine does not inflate as it does wall time), and
  from it an estimate for idle cores: global batch / (compute CPU + best allreduce).
  The estimate is labelled as such; the measured columns are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import minirnn as mr  # noqa: E402
from minirnn import distributed as dist  # noqa: E402

DEMO = dict(pairs=3200, embed=64, hidden=128, batch=64, lr=3e-3, clip=1.0)


def build(world):
    """The demo model (same weights on every rank) and this rank's share of the demo's batches."""
    from minirnn.data.datasets import translation_pairs
    from minirnn.train.recipes import seq2seq_data

    mr.manual_seed(0)
    data = seq2seq_data(translation_pairs(DEMO["pairs"] + 20, seed=0), val_size=10, test_size=10,
                        batch_size=DEMO["batch"], seed=0)
    model = mr.models.Seq2Seq(len(data.src_vocab), len(data.tgt_vocab), embed_dim=DEMO["embed"],
                              hidden_size=DEMO["hidden"], cell="gru", attention="bahdanau",
                              bidirectional_encoder=True)
    dist.broadcast_parameters(model, world=world)
    batches = list(data.train.shard(world.rank, world.size).iter_epoch(1) if world.size > 1
                   else data.train.iter_epoch(1))
    return model, batches


def timed_steps(world, model, batches, steps: int, warmup: int) -> dict:
    """Run ``warmup + steps`` training steps; the per-step times of the timed ones."""
    criterion = mr.CrossEntropyLoss(ignore_index=0)
    optimizer = mr.optim.Adam(model.parameters(), lr=DEMO["lr"])
    params = model.parameters()
    step_times, reduce_times, cpu_times, examples = [], [], [], []
    for index in range(warmup + steps):
        batch = batches[index % len(batches)]
        world.barrier()
        started, cpu_started = time.perf_counter(), time.process_time()
        model.zero_grad()
        tokens = 0
        if len(batch.src):
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)
            criterion(logits, batch.tgt_out)
            model.backward(criterion.backward())
            tokens = int((batch.tgt_out != 0).sum())
        reduce_started, cpu = time.perf_counter(), time.process_time() - cpu_started
        dist.allreduce_gradients(params, weight=tokens, world=world)
        reduced = time.perf_counter()
        mr.optim.clip_grad_norm(params, DEMO["clip"])
        optimizer.step()
        finished = time.perf_counter()
        if index >= warmup:
            step_times.append(finished - started)
            reduce_times.append(reduced - reduce_started)
            cpu_times.append(max(world.allgather(cpu)))  # the busier rank's
            examples.append(sum(world.allgather(len(batch.src))))
    return {"step": step_times, "allreduce": reduce_times, "cpu": cpu_times, "examples": examples}


def pure_allreduce(world, model, repeats: int) -> tuple:
    """``(median, best)`` time of the same allreduce with every rank ready (communication alone)."""
    params = model.parameters()
    for p in params:
        p.grad = p.data * 0 + 1
    times = []
    for _ in range(repeats):
        world.barrier()
        started = time.perf_counter()
        dist.allreduce_gradients(params, weight=1, world=world)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def worker(args) -> None:
    from minirnn.cli.common import limit_blas_threads

    limit_blas_threads(1)
    world = dist.init()
    model, batches = build(world)
    times = timed_steps(world, model, batches, args.steps, args.warmup)
    pure = pure_allreduce(world, model, 30)
    step = statistics.median(times["step"])
    result = {
        "ranks": world.size,
        "parameters": model.num_parameters(),
        "step_ms": 1e3 * step,
        "examples_per_s": statistics.median(times["examples"]) / step,
        "allreduce_ms": 1e3 * statistics.median(times["allreduce"]),
        "pure_allreduce_ms": 1e3 * pure[0] if world.size > 1 else 0.0,
        "best_allreduce_ms": 1e3 * pure[1] if world.size > 1 else 0.0,
        "buffer_mb": 4 * (model.num_parameters() + len(model.parameters()) + 1) / 1e6,
        "compute_cpu_ms": 1e3 * statistics.median(times["cpu"]),
    }
    result["allreduce_share"] = result["allreduce_ms"] / result["step_ms"]
    result["pure_share"] = result["pure_allreduce_ms"] / result["step_ms"]
    if world.is_root:
        print("RESULT " + json.dumps(result), flush=True)


def launch(ranks: int, args) -> dict:
    """This script under ``mpirun -n ranks --worker``; its result."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("mpirun not found: pip install 'minirnn[mpi]'")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", str(ranks), sys.executable, __file__,
               "--worker", "--steps", str(args.steps), "--warmup", str(args.warmup)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"mpirun -n {ranks} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def table(results: list) -> str:
    base = results[0]["examples_per_s"]
    idle_base = DEMO["batch"] / (results[0]["compute_cpu_ms"] + results[0]["best_allreduce_ms"]) * 1e3
    header = (f"{'ranks':>5}  {'step ms':>8}  {'examples/s':>10}  {'speed-up':>8}  {'allreduce ms':>12}  "
              f"{'(share)':>7}  {'pure allreduce ms':>17}  {'(share)':>7}  {'best':>5}  {'compute CPU ms':>14}  "
              f"{'idle-core estimate':>18}")
    rows = [header, "-" * len(header)]
    for r in results:
        idle = DEMO["batch"] / (r["compute_cpu_ms"] + r["best_allreduce_ms"]) * 1e3
        rows.append(f"{r['ranks']:>5}  {r['step_ms']:>8.1f}  {r['examples_per_s']:>10.1f}  "
                    f"{r['examples_per_s'] / base:>7.2f}x  {r['allreduce_ms']:>12.2f}  {r['allreduce_share']:>7.1%}  "
                    f"{r['pure_allreduce_ms']:>17.2f}  {r['pure_share']:>7.1%}  {r['best_allreduce_ms']:>5.2f}  "
                    f"{r['compute_cpu_ms']:>14.1f}  "
                    f"{idle:>8.0f} ex/s {idle / idle_base:.2f}x")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts to launch (default 1 2)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--quick", action="store_true", help="8 timed steps after 2 warm-up steps")
    parser.add_argument("--worker", action="store_true", help="run one configuration (under mpirun)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 8, 2
    if args.worker:
        worker(args)
        return
    results = [launch(k, args) for k in args.ranks]
    print(f"demo Seq2Seq ({results[0]['parameters']:,} parameters, float32; allreduce buffer "
          f"{results[0]['buffer_mb']:.2f} MB), global batch {DEMO['batch']}, 1 BLAS thread per rank, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; medians over {args.steps} steps")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
