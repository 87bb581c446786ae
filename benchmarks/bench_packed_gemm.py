"""The per-step GEMM three ways: NumPy's matmul, MKL's cblas_sgemm, and MKL's packed GEMM.

    pip install --prefix /tmp/mkl --no-deps mkl intel-openmp tbb   # about 250 MB, not a minirnn dependency
    python benchmarks/bench_packed_gemm.py --mkl /tmp/mkl/lib/libmkl_rt.so.3

oneDNN, under PyTorch's CPU LSTM, packs ``W_hh`` into its GEMM layout once per
sequence; OpenBLAS, under NumPy, packs it again on every per-step product. MKL
exposes packing (``cblas_sgemm_pack`` once, ``cblas_sgemm_compute`` per call), so this
measures what a per-step GEMM on a packed ``W_hh`` would save, on this machine, at
the shapes of ``bench_rnn.py``'s cases: ``h (N, H) @ W (H, 4H)`` forward and
``dG (N, 4H) @ W (4H, H)`` backward. float32; each figure is the median over
``--rounds`` rounds of the mean of ``--reps`` calls, in µs.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402  (benchmarks may use numpy directly)

from minirnn.cli.options import positive_int  # noqa: E402

SHAPES = [(64, 256, 1024), (64, 1024, 256), (32, 512, 2048), (32, 2048, 512), (16, 128, 512), (16, 512, 128)]
ROW_MAJOR, NO_TRANS, PACKED, B_MATRIX = 101, 111, 151, 162  # CBLAS constants
THREADING = {"intel": 0, "sequential": 1, "gnu": 3}


def load_mkl(path, threading, threads):
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    lib.MKL_Set_Threading_Layer(ctypes.c_int(THREADING[threading]))
    lib.MKL_Set_Num_Threads(ctypes.c_int(threads))
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    lib.cblas_sgemm_pack_get_size.restype = ctypes.c_size_t
    lib.cblas_sgemm_pack_get_size.argtypes = [i, i, i, i]
    lib.cblas_sgemm_pack.argtypes = [i, i, i, i, i, i, f, p, i, p]
    lib.cblas_sgemm_compute.argtypes = [i, i, i, i, i, i, p, i, p, i, f, p, i]
    lib.cblas_sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    return lib


def mean_us(call, rounds, reps):
    for _ in range(10):
        call()
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            call()
        means.append((time.perf_counter() - start) / reps)
    return statistics.median(means) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mkl", required=True, help="path of libmkl_rt.so from the mkl wheel")
    parser.add_argument("--threading", choices=tuple(THREADING), default="intel")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--reps", type=positive_int, default=300)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads, user_api="blas")
    lib = load_mkl(args.mkl, args.threading, args.threads)
    print(f"float32, µs per call; numpy {np.__version__}, MKL threading {args.threading}, {args.threads} threads")
    print(f"{'M x K x N':<16}{'numpy':>10}{'mkl':>10}{'mkl packed':>12}{'numpy/packed':>14}{'max |diff|':>12}")
    rng = np.random.default_rng(0)
    for m, k, n in SHAPES:
        t_numpy, t_mkl, t_packed, diff = time_shape(lib, rng, m, k, n, args.rounds, args.reps)
        print(f"{f'{m}x{k}x{n}':<16}{t_numpy:>10.1f}{t_mkl:>10.1f}{t_packed:>12.1f}{t_numpy / t_packed:>14.2f}"
              f"{diff:>12.1e}", flush=True)


def time_shape(lib, rng, m, k, n, rounds, reps):
    """(numpy, mkl, mkl packed) µs for one (m, k) @ (k, n), and the packed result's largest error."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    out, out_mkl = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    packed = np.empty(lib.cblas_sgemm_pack_get_size(B_MATRIX, m, n, k) // 4 + 16, np.float32)
    lib.cblas_sgemm_pack(ROW_MAJOR, B_MATRIX, NO_TRANS, m, n, k, 1.0, b.ctypes.data, n, packed.ctypes.data)

    def plain():
        lib.cblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0,
                        out_mkl.ctypes.data, n)

    def compute():
        lib.cblas_sgemm_compute(ROW_MAJOR, NO_TRANS, PACKED, m, n, k, a.ctypes.data, k, packed.ctypes.data, n,
                                0.0, out_mkl.ctypes.data, n)

    t_numpy = mean_us(lambda: np.matmul(a, b, out=out), rounds, reps)
    t_mkl, t_packed = mean_us(plain, rounds, reps), mean_us(compute, rounds, reps)
    compute()
    return t_numpy, t_mkl, t_packed, float(np.abs(out_mkl - a @ b).max())

if __name__ == "__main__":
    main()
