"""BLAS threads for the per-step GEMMs of the fast loop, chosen by measurement.

The large GEMMs of a recurrent layer (the input projection before the loop, the
weight gradients after it) always use every BLAS thread. The per-step GEMMs
(``h_prev W_hh^T`` forward, ``dG_t W_hh`` backward) are small, (n, P) by (P, G*H),
and whether a second thread speeds them up or only adds wake-up and split costs
depends on the CPU, the BLAS build and the shape: one thread won at N16 H128 and two
at N64 H256 on the machines we tried, but no constant is right everywhere.

So the first time a shape comes (per process, that is per machine), ``step_threads``
times that step's pair of GEMMs with one thread and with all of them, interleaved
(``ROUNDS`` rounds, the median of each), and keeps the faster count for that shape
from then on. The calibration costs a few dozen small GEMMs once per shape.
``choices()`` shows what was chosen. On CuPy, or where threadpoolctl finds no BLAS
to control, nothing changes.
"""

from __future__ import annotations

import statistics
import time
from contextlib import nullcontext

from ..backend import np

ROUNDS = 7  # interleaved rounds of the calibration (each times both thread counts)
REPS = 3  # GEMM pairs per timing

_choices: dict = {}  # (n, P, G*H, dtype, max threads) -> the thread count to use
_controller = None  # threadpoolctl's ThreadpoolController, created at first use (it scans libraries)


def _blas():
    """``(controller, max threads)``, or ``(None, 1)`` where no BLAS can be controlled."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        except Exception:  # noqa: BLE001 - no threadpoolctl or no BLAS found: leave threads alone
            _controller = False
    if not _controller or not _controller.lib_controllers:
        return None, 1
    return _controller, max(lib.num_threads for lib in _controller.lib_controllers)


def _time_pair(h, w_t, dgates, w, threads, controller):
    """Seconds for REPS of the step's two GEMMs, under ``threads`` BLAS threads."""
    with controller.limit(limits=threads):
        start = time.perf_counter()
        for _ in range(REPS):
            np.matmul(h, w_t)
            np.matmul(dgates, w)
        return time.perf_counter() - start


def calibrate(batch: int, w_hh_t, controller, max_threads: int, timer=_time_pair) -> int:
    """The faster thread count, 1 or ``max_threads``, for one step of ``batch`` rows."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((batch, w_hh_t.shape[0])).astype(w_hh_t.dtype)
    dgates = rng.standard_normal((batch, w_hh_t.shape[1])).astype(w_hh_t.dtype)
    w = np.ascontiguousarray(w_hh_t.T)
    times = {1: [], max_threads: []}
    for _ in range(ROUNDS):
        for threads in times:
            times[threads].append(timer(h, w_hh_t, dgates, w, threads, controller))
    return min(times, key=lambda threads: statistics.median(times[threads]))


def step_threads(mode, schedule, w_hh_t, xp):
    """A context manager that runs a direction's time loop on the chosen BLAS threads."""
    if xp is not np:
        return nullcontext()
    controller, max_threads = _blas()
    if controller is None or max_threads == 1:
        return nullcontext()
    key = (schedule.batch,) + tuple(w_hh_t.shape) + (w_hh_t.dtype.str, max_threads)
    if key not in _choices:
        _choices[key] = calibrate(schedule.batch, w_hh_t, controller, max_threads)
    threads = _choices[key]
    return nullcontext() if threads == max_threads else controller.limit(limits=threads)


def choices() -> dict:
    """What the calibration chose so far: ``{(N, P, G*H, dtype, max threads): threads}``."""
    return dict(_choices)
