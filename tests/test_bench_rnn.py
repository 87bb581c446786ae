"""``benchmarks/bench_rnn.py`` runs, and its GEMM-only replay replays exactly the
matmuls of a real step (a smoke test: speed is measured in the benchmark, never here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_rnn  # noqa: E402  (benchmarks/ is on the path above)

pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["c gru", "a lstm packed"])
def test_gemm_only_replays_the_matmuls_of_one_step(monkeypatch, name):
    cell, batch, steps, inputs, hidden, layers, bi, packed = bench_rnn.CASES[name]
    small = (cell, 4, 5, 3, 6, 2, True, packed)  # the case's kind, at a tiny size
    replay, _ = bench_rnn.build_gemm_only(small)
    calls = []
    original = np.matmul

    def counting(a, b, out=None):
        calls.append((a.shape, b.shape))
        return original(a, b, out=out)

    step, _ = bench_rnn.build(small, "minirnn")
    monkeypatch.setattr(np, "matmul", counting)
    step()
    real = list(calls)
    calls.clear()
    replay()
    assert calls == real and len(real) > 2 * 5  # per step GEMMs, forward and backward, and the big ones


def test_the_benchmark_writes_its_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench_rnn.main(["--cases", "c gru", "--rounds", "1", "--reps", "1", "--no-memory", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "environment: cpu=" in printed and "GEMM-only ms" in printed
    row = json.loads(out.read_text())["results"][0]
    assert row["case"] == "c gru"
    assert row["minirnn_ms"] > 0 and row["torch_ms"] > 0 and row["gemm_only_ms"] > 0


def test_bench_alone_runs_minirnn_without_torch(tmp_path):
    """``bench_alone.py`` runs each library in its own process; minirnn's never imports torch."""
    import bench_alone

    run = bench_alone.run_alone("minirnn", "c gru", threads=1, seconds=0.05)
    assert run["torch_imported"] is False
    assert run["steps"] >= 5 and run["median_ms"] > 0 and {"faults_per_step", "sys_ms_per_step"} <= run.keys()
    theirs = bench_alone.run_alone("torch", "c gru", threads=1, seconds=0.05)
    assert theirs["torch_imported"] is True and theirs["median_ms"] > 0


def test_bench_step_kernels_runs(capsys):
    pytest.importorskip("numba")
    import bench_step_kernels

    bench_step_kernels.main(["--cases", "c", "--rounds", "1", "--reps", "2", "--variants"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(("lstm_", "gru_"))]
    assert [r[0] for r in rows] == ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward"]
    for row in rows:  # name, case, shape, numpy, compiled, speed-up, 3 variants (backward: separate dG too)
        values = [float(v) for v in row[3:]]
        assert len(values) == (7 if row[0].endswith("backward") else 6) and all(v > 0 for v in values)
        assert values[2] == pytest.approx(values[0] / values[1], rel=0.05, abs=0.02)
