#!/usr/bin/env bash
# One prepared run on a CUDA machine, for issue 13: versions, the CuPy tests, the
# benchmark against cuDNN, the demo. Logs go to $OUT (default /tmp/gpu_check).
#
#   bash benchmarks/gpu_check.sh            # from the repository root
#
# Each section has its own time limit and the script goes on after a failure, so one
# run shows everything; the total stays under about six minutes on an H200.
set -uo pipefail
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH=${PYTHONPATH:-$PWD} PYTHONUNBUFFERED=1 PYTHONWARNINGS=default::RuntimeWarning
start=$SECONDS
section() { echo; echo "=== $1 (t=$((SECONDS - start))s)"; }

section versions
{
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import sys, numpy, cupy, torch; print(sys.version.split()[0], 'numpy', numpy.__version__,
    'cupy', cupy.__version__, 'cuda runtime', cupy.cuda.runtime.runtimeGetVersion(),
    'torch', torch.__version__, 'torch cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
} 2>&1 | tee "$out/versions.txt"

section "tests/test_cuda.py (CuPy and NumPy)"
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.txt"

section "benchmarks/bench_rnn.py --device cuda"
timeout 120 python3 benchmarks/bench_rnn.py --device cuda --json "$out/bench_cuda.json" 2>&1 | tee "$out/bench_cuda.txt"

section "demo --device cuda --quick"
timeout 45 python3 -m minirnn demo --device cuda --quick --no-progress --out /tmp/gpu_runs 2>&1 | tee "$out/demo_quick.txt"

section "the other cuda-marked tests"
timeout 60 python3 -m pytest -q -p no:cacheprovider -m cuda tests --ignore=tests/test_cuda.py 2>&1 | tee "$out/test_xp.txt"

section "demo --device cuda (full)"
timeout 90 python3 -m minirnn demo --device cuda --no-progress --out /tmp/gpu_runs --name full 2>&1 | tee "$out/demo_full.txt"

section "done"
