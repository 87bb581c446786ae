"""minirnn's recurrent layers against PyTorch: fwd+bwd time, GFLOP/s, peak memory.

    python benchmarks/bench_rnn.py                 # CPU, float32, full run
    python benchmarks/bench_rnn.py --quick         # a fast smoke run
    python benchmarks/bench_rnn.py --json out.json # also write the results
    python benchmarks/bench_rnn.py --device cuda   # CuPy fast path vs torch on CUDA (cuDNN)

How it measures:

* One process, the same shapes, the same weights (torch's, loaded into minirnn),
  float32. One step is a forward plus a backward that computes dx, dh0 and every
  weight gradient (torch: ``x.requires_grad``; packed cases go through
  ``pack_padded_sequence``/``pad_packed_sequence``; minirnn: ``lengths=``).
* Interleaved: each round times every case in minirnn, then in torch, ``--reps``
  times each and keeps the median; the reported time is the best round median over
  ``--rounds`` rounds, which filters out other load on the machine.
* torch and NumPy's BLAS get the same number of threads (``--threads``, default
  ``OPENBLAS_NUM_THREADS`` or the CPU count). minirnn's per-step GEMMs may run on
  fewer: ``minirnn.fast.threads`` picks 1 or all per shape by a short calibration,
  and the run prints its choices.
* On a machine shared with other jobs, ``--clock cpu --threads 1`` times each step
  by the process's CPU seconds instead of the wall clock: other jobs then steal
  time without counting it. Quote wall-clock figures from a quiet machine.
* "GEMM-only ms" replays just the matmuls of one minirnn step (same shapes, layouts,
  ``out=`` arrays and BLAS threads; ``build_gemm_only``) and nothing else: the floor
  of this design on this BLAS, what a step would cost if the gate math, the copies
  and the Python around them were free. Its ratio to torch says how much of the gap
  is GEMM (OpenBLAS against oneDNN's packed-weight kernels) and how much is the rest.
* GFLOP/s counts the matmul work of the useful steps only (sum of lengths):
  forward 2 R G H (D + P) per layer and direction (+ 2 R H P for a projection), and
  backward twice that. "% peak" divides by the GFLOP/s of a 2048^3 float32
  ``np.matmul``: the best of 10, measured before and after the timings (the best
  of both), so that load on the machine does not deflate it.
* Peak memory: each case runs once more in a fresh subprocess per library, which
  builds the model and inputs, resets the resident-set high-water mark (Linux:
  ``/proc/self/clear_refs``), runs two fwd+bwd steps and reports how far the peak RSS
  rose above the RSS before them (``peak_rss_growth``). The subprocess runs with
  ``MALLOC_MMAP_THRESHOLD_=65536`` so freed large blocks go back to the OS and the
  RSS follows live memory. This counts every allocation, NumPy's and torch's alike
  (page-granular): the memory a step needs beyond its inputs and weights.
  ``--no-memory`` skips it.

On CUDA (``--device cuda``): minirnn runs on CuPy (its fused step kernels come from
``cupy.fuse``), torch on cuDNN, both in float32 with TF32 off (torch would otherwise
let cuDNN use TF32 for the LSTM's matmuls, which CuPy does not). Each step is timed
from a synchronised device to a synchronised device, so the host's launch overhead
counts, as it does for a user. Warm-up runs three steps first (kernel compilation,
cuDNN plans, memory pools). The peak is a 8192^3 float32 ``cupy.matmul``; memory is
the peak device memory of a step: torch's ``max_memory_allocated`` and CuPy's
memory pool (``total_bytes`` after the step, which the pool holds on to).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402  (benchmarks may use numpy directly)

import minirnn as mr  # noqa: E402
from minirnn.cli.options import positive_int  # noqa: E402  (argument checks with clear errors)

# name: (cell, N, T, D, H, num_layers, bidirectional, packed)
CASES = {
    "a lstm": ("lstm", 64, 50, 128, 256, 1, False, False),
    "a gru": ("gru", 64, 50, 128, 256, 1, False, False),
    "b lstm": ("lstm", 32, 100, 512, 512, 1, False, False),
    "b gru": ("gru", 32, 100, 512, 512, 1, False, False),
    "c lstm": ("lstm", 16, 35, 64, 128, 1, False, False),
    "c gru": ("gru", 16, 35, 64, 128, 1, False, False),
    "a lstm L2 bi": ("lstm", 64, 50, 128, 256, 2, True, False),
    "a gru L2 bi": ("gru", 64, 50, 128, 256, 2, True, False),
    "a lstm packed": ("lstm", 64, 50, 128, 256, 1, False, True),
    "a gru packed": ("gru", 64, 50, 128, 256, 1, False, True),
}
QUICK_CASES = ("a lstm", "c gru", "a lstm packed")


def make_lengths(batch, steps, seed=0):
    """Ragged lengths uniform in [1, T], the longest equal to T (deterministic)."""
    lengths = np.random.default_rng(seed).integers(1, steps + 1, size=batch)
    lengths[0] = steps
    return lengths


def flops(case):
    """Matmul FLOPs of one fwd+bwd over the useful steps (see the module docstring)."""
    cell, batch, steps, inputs, hidden, layers, bi, packed = case
    gates = {"lstm": 4, "gru": 3}[cell]
    rows = int(make_lengths(batch, steps).sum()) if packed else batch * steps
    dirs = 2 if bi else 1
    total = 0
    for layer in range(layers):
        width = inputs if layer == 0 else dirs * hidden
        total += dirs * 2 * rows * gates * hidden * (width + hidden)
    return 3 * total  # backward is two matmuls per forward matmul


def torch_outputs(model, xt, lengths, steps):
    """torch's layer on xt (T, N, D), through pack_padded_sequence when ``lengths`` is given."""
    import torch

    if lengths is None:
        return model(xt)[0]
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
    return torch.nn.utils.rnn.pad_packed_sequence(model(packed)[0], total_length=steps)[0]


def build(case, library, device="cpu", seed=0):
    """(step function, sync function) for one case in 'minirnn' or 'torch'."""
    import torch

    cell, batch, steps, inputs, hidden, layers, bi, packed = case
    torch.manual_seed(seed)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    reference = cls(inputs, hidden, num_layers=layers, bidirectional=bi)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, inputs)).astype(np.float32)
    dout = rng.standard_normal((steps, batch, hidden * (2 if bi else 1))).astype(np.float32)
    lengths = make_lengths(batch, steps) if packed else None
    if library == "torch":
        torch.backends.cudnn.allow_tf32 = False  # float32 means float32 on both sides
        torch.backends.cuda.matmul.allow_tf32 = False
        dev = torch.device(device)
        model = reference.to(dev)
        xt = torch.tensor(x, device=dev, requires_grad=True)
        dt = torch.tensor(dout, device=dev)
        lt = None if lengths is None else torch.tensor(lengths)

        def step():
            torch_outputs(model, xt, lt, steps).backward(dt)

        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        return step, sync
    model = {"lstm": mr.LSTM, "gru": mr.GRU}[cell](inputs, hidden, num_layers=layers, bidirectional=bi,
                                                   dtype="float32")
    model.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    if device == "cuda":
        model.to("cupy")
        xp = mr.backend.backend_module("cupy")
        x, dout = xp.asarray(x), xp.asarray(dout)

        def sync():
            xp.cuda.Device().synchronize()
    else:

        def sync():
            return None

    def step():
        out, _ = model(x, lengths=lengths)
        model.backward(dout)

    return step, sync


def build_gemm_only(case):
    """(step, sync) replaying only the matmuls of one minirnn fwd+bwd step of ``case`` (CPU).

    One real step runs with ``np.matmul`` wrapped to record each call (its operands,
    its ``out`` and the BLAS threads the fast loop chose for it); the replay makes the
    same calls, same shapes, layouts and threads, and nothing else. Its time is a floor
    for this design on this BLAS: what the step would take if the gate math, the
    copies and the Python around them cost nothing.
    """
    from contextlib import contextmanager

    from threadpoolctl import threadpool_limits

    from minirnn.fast import recurrent, threads

    step, sync = build(case, "minirnn")
    step()  # calibrate the step threads first
    calls, current = [], {"threads": None}
    original_matmul, original_threads = np.matmul, recurrent.step_threads

    @contextmanager
    def recording_threads(mode, schedule, w_hh_t, xp):
        with original_threads(mode, schedule, w_hh_t, xp):
            key = (schedule.batch,) + tuple(w_hh_t.shape) + (w_hh_t.dtype.str,)
            chosen = [(v, k[4]) for k, v in threads.choices().items() if k[:4] == key]
            current["threads"] = chosen[0][0] if chosen and chosen[0][0] != chosen[0][1] else None
            yield
        current["threads"] = None

    def recording_matmul(a, b, out=None):
        calls.append((current["threads"], a, b, out))
        return original_matmul(a, b, out=out)

    np.matmul, recurrent.step_threads = recording_matmul, recording_threads
    try:
        step()
    finally:
        np.matmul, recurrent.step_threads = original_matmul, original_threads
    runs = []  # consecutive calls on the same thread count, so each run sets the limit once
    for count, a, b, out in calls:
        if not runs or runs[-1][0] != count:
            runs.append((count, []))
        runs[-1][1].append((a, b, out))

    def replay():
        for count, run in runs:
            with threadpool_limits(limits=count, user_api="blas") if count else contextlib.nullcontext():
                for a, b, out in run:
                    np.matmul(a, b, out=out)

    return replay, sync


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def time_median(step, sync, reps):
    times = []
    for _ in range(reps):
        sync()
        start = clock()
        step()
        sync()
        times.append(clock() - start)
    return statistics.median(times)


def peak_gemm_gflops(device="cpu", reps=10):
    """Best-of-``reps`` float32 GEMM rate: 2048^3 np.matmul, or 8192^3 cupy.matmul on CUDA."""
    size = 2048 if device == "cpu" else 8192
    xp = np if device == "cpu" else mr.backend.backend_module("cupy")
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((size, size)).astype(np.float32))
    b = xp.asarray(rng.standard_normal((size, size)).astype(np.float32))
    sync = (lambda: None) if device == "cpu" else xp.cuda.Device().synchronize
    a @ b
    best = min(time_median(lambda: a @ b, sync, 1) for _ in range(reps))
    return 2 * size**3 / best / 1e9


def fusion_report():
    """Which step functions ran as one cupy.fuse kernel, and any that fell back unfused."""
    from minirnn.fast import pointwise

    table = pointwise.ops_for(mr.backend.backend_module("cupy"))
    steps = vars(table).values()
    fused = [s.fn.__name__ for s in steps if s.kernel is not None and s.error is None]
    failed = [f"{s.fn.__name__}: {s.error!r}" for s in steps if s.error is not None]
    return f"fused {', '.join(fused) or 'none'}" + (f"; FELL BACK {'; '.join(failed)}" if failed else "")


def device_memory_mib(name, library):
    """Peak device memory (MiB) of two fwd+bwd steps of one case on CUDA."""
    import torch

    step, sync = build(CASES[name], library, "cuda")
    if library == "torch":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step(), step(), sync()
        return torch.cuda.max_memory_allocated() / 2**20
    pool = mr.backend.backend_module("cupy").get_default_memory_pool()
    pool.free_all_blocks()
    step(), step(), sync()
    return pool.total_bytes() / 2**20


def memory_in_subprocess(name, library, device):
    """Peak-RSS growth (MiB) of one warm-up + one fwd+bwd step, in a fresh process."""
    root = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "import bench_rnn as b\n"
        f"step, sync = b.build(b.CASES[{name!r}], {library!r}, {device!r})\n"
        "print(b.peak_rss_growth(lambda: (step(), step(), sync())))\n"
    )
    # a fixed mmap threshold returns every large freed block to the OS, so the RSS
    # follows live memory instead of the allocator's cache (same for NumPy and torch)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return float("nan")


def _status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_rss_growth(fn):
    """MiB by which the resident set's high-water mark rises above its level before ``fn()``.

    Linux: writing 5 to /proc/self/clear_refs resets the high-water mark (VmHWM), so
    the peak reached while importing is not counted. Elsewhere: ru_maxrss growth.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kib("VmRSS")
        fn()
        return (_status_kib("VmHWM") - before) / 1024
    except OSError:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fn()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def _blas_description():
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel architecture, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")


def environment(threads, device):
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    env = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "blas": _blas_description(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
        "kernels": mr.fast.kernels(),
        "clock": "wall" if clock is time.perf_counter else "cpu",
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if device == "cuda":
        cupy = mr.backend.backend_module("cupy")
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        env["torch_cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env


LIBRARIES = {"cpu": ("minirnn", "torch", "gemm only"), "cuda": ("minirnn", "torch")}


def measure(names, device, rounds, reps):
    """{(case, library): best round median in seconds}, timed interleaved."""
    steps = {}
    for name in names:
        for library in LIBRARIES[device]:
            step, sync = (build_gemm_only(CASES[name]) if library == "gemm only" else
                          build(CASES[name], library, device))
            for _ in range(3):  # warm-up: compile kernels, calibrate threads, fault in pages
                step()
            sync()
            steps[name, library] = (step, sync)
    best = {key: float("inf") for key in steps}
    for _ in range(rounds):
        for key in steps:
            best[key] = min(best[key], time_median(*steps[key], reps))
    return best


def print_table(names, best, memory, peak):
    gemm = (names[0], "gemm only") in best
    header = f"{'case':<15}{'minirnn ms':>11}{'torch ms':>10}{'ratio':>7}{'GFLOP/s':>9}{'% peak':>8}"
    header += f"{'mem MiB':>9}{'torch MiB':>10}" + (f"{'GEMM-only ms':>13}{'ratio':>7}" if gemm else "")
    print(header)
    print("-" * len(header))
    results = []
    for name in names:
        ours, theirs = best[name, "minirnn"], best[name, "torch"]
        gflops = flops(CASES[name]) / ours / 1e9
        row = dict(case=name, minirnn_ms=ours * 1e3, torch_ms=theirs * 1e3, ratio=ours / theirs, gflops=gflops,
                   peak_pct=100 * gflops / peak, minirnn_mem_mib=memory.get((name, "minirnn"), float("nan")),
                   torch_mem_mib=memory.get((name, "torch"), float("nan")))
        line = (f"{name:<15}{row['minirnn_ms']:>11.1f}{row['torch_ms']:>10.1f}{row['ratio']:>7.2f}{gflops:>9.0f}"
                f"{row['peak_pct']:>7.0f}%{row['minirnn_mem_mib']:>9.1f}{row['torch_mem_mib']:>10.1f}")
        if gemm:
            row.update(gemm_only_ms=best[name, "gemm only"] * 1e3, gemm_only_ratio=best[name, "gemm only"] / theirs)
            line += f"{row['gemm_only_ms']:>13.1f}{row['gemm_only_ratio']:>7.2f}"
        results.append(row)
        print(line)
    return results


def add_threads_option(parser):
    """``--threads``: BLAS (and torch) threads, by default $OPENBLAS_NUM_THREADS or every core."""
    parser.add_argument("--threads", type=positive_int,
                        default=int(os.environ.get("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--reps", type=positive_int, default=5)
    add_threads_option(parser)
    parser.add_argument("--cases", nargs="*", default=None, choices=list(CASES), metavar="CASE",
                        help=f"a subset of the case names: {', '.join(CASES)}")
    parser.add_argument("--quick", action="store_true", help="3 cases, 2 rounds of 3: a smoke run")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="cpu: the process's CPU seconds, steadier on a loaded machine (use with --threads 1)")
    parser.add_argument("--kernels", choices=mr.fast.compiled.KERNELS, default="numpy",
                        help="minirnn's NumPy step kernels: numpy (the default) or numba (the jit extra)")
    args = parser.parse_args(argv)
    mr.fast.set_kernels(args.kernels)
    os.environ["MINIRNN_KERNELS"] = args.kernels  # for the memory subprocesses
    import torch

    from minirnn.fast import threads

    global clock
    clock = CLOCKS[args.clock]

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(limits=args.threads, user_api="blas")  # NumPy's BLAS on the same threads as torch
    names = args.cases or (list(QUICK_CASES) if args.quick else list(CASES))
    rounds, reps = (2, 3) if args.quick else (args.rounds, args.reps)
    env = environment(args.threads, args.device)
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    gemm = "2048^3 np.matmul" if args.device == "cpu" else "8192^3 cupy.matmul"
    peak = peak_gemm_gflops(args.device)
    print(f"peak float32 GEMM ({gemm}): {peak:.0f} GFLOP/s")
    best = measure(names, args.device, rounds, reps)
    peak = max(peak, peak_gemm_gflops(args.device))
    print(f"peak float32 GEMM after the timings: {peak:.0f} GFLOP/s (used for % peak)")
    if args.device == "cpu":
        print(f"per-step GEMM threads chosen by calibration (N, P, G*H, dtype, max): {threads.choices()}")
    else:
        print("fused step kernels: " + fusion_report())
    memory = {}
    if not args.no_memory:
        for name in names:
            for library in ("minirnn", "torch"):
                memory[name, library] = (memory_in_subprocess(name, library, args.device) if args.device == "cpu"
                                         else device_memory_mib(name, library))
    results = print_table(names, best, memory, peak)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(environment=env, peak_gemm_gflops=peak, rounds=rounds, reps=reps,
                                                   step_threads={str(k): v for k, v in threads.choices().items()},
                                                   results=results), indent=2))


if __name__ == "__main__":
    main()
