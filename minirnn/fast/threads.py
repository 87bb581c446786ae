"""BLAS threads for the per-step GEMMs of the fast loop (placeholder: no change)."""

from __future__ import annotations

from contextlib import nullcontext


def step_threads(mode, schedule, w_hh_t, xp):
    return nullcontext()
