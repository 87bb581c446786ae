"""Data-parallel training: K ranks under ``mpirun -n 2`` train exactly like one process on the global batch.

The tests marked ``mpi`` launch ``mpirun --allow-run-as-root --oversubscribe -n 2 python
tests/mpi_worker.py MODE OUT`` (or the CLI) as a subprocess with a timeout, and read the
``RESULT`` lines each rank prints. In CI (``MINIRNN_CI=1``) conftest fails the run if
they are skipped. The rest run in this process: sharding, the size-1 world, buckets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minirnn as mr
from minirnn import distributed as dist
from minirnn.data import BucketIterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "mpi_worker.py")
MPIRUN = shutil.which("mpirun")



def needs_mpi(test):
    """Marked ``mpi`` (CI fails if skipped); skipped where mpirun or mpi4py is missing."""
    skip = pytest.mark.skipif(MPIRUN is None or not dist.mpi_available(),
                              reason="needs mpirun and mpi4py: pip install 'minirnn[mpi]'")
    return pytest.mark.mpi(skip(test))


def mpirun(*command, timeout=120, cwd=ROOT):
    """Run ``command`` on 2 ranks (1 BLAS thread each); the finished process."""
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, *command],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def results(done) -> dict:
    """{rank: [result, ...]} from the RESULT lines of both ranks."""
    found = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT "):])
            found.setdefault(record["rank"], []).append(record)
    return found


# =========================================================================== under mpirun


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi_train")
    done = mpirun(WORKER, "train", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    found = results(done)
    assert sorted(found) == [0, 1], done.stdout + done.stderr
    return out, found[0][0], found[1][0]


@needs_mpi
def test_two_ranks_equal_one_process_on_the_global_batch(trained):
    """After 12 Adam steps (clipped, attention Seq2Seq, lengths 1..9, one rank's share empty once per epoch)."""
    from mpi_worker import setup, train_options

    out, rank0, rank1 = trained
    model, opt, train, val = setup()
    history = mr.fit(model, train, val, optimizer=opt, **train_options())
    saved = mr.load_checkpoint(out / "ckpt" / "last.npz").model
    error = max(float(np.abs(a.data - b.data).max()) for a, b in zip(model.parameters(), saved.parameters()))
    print(f"\n[distributed] max |2 ranks - 1 process| over the weights after 12 Adam steps (float64): {error:.3e}")
    assert saved.parameters()[0].data.dtype == np.float64
    assert error < 1e-10
    np.testing.assert_allclose(rank0["loss"], history["loss"], rtol=1e-12)
    np.testing.assert_allclose(rank0["val_loss"], history["val_loss"], rtol=1e-12)
    assert rank1["loss"] == rank0["loss"] and rank1["epochs"] == [1, 2]  # every rank returns the same History


@needs_mpi
def test_weights_identical_on_every_rank_only_rank_0_writes_and_resume_is_exact(trained):
    out, rank0, rank1 = trained
    assert rank0["spread"] == 0.0  # bit for bit
    assert rank1["writes"] == []
    assert {os.path.basename(p) for p in rank0["writes"]} == {"last.npz", "best.npz"}
    assert sorted(os.listdir(out / "ckpt")) == ["best.npz", "last.npz"]
    # 3 epochs straight == 1 epoch, then resumed to 3 (with dropout: each rank's own generator restored)
    assert rank0["resume_error"] == 0.0 and rank1["resume_error"] == 0.0


@needs_mpi
def test_a_failing_rank_stops_every_rank_with_the_reason(tmp_path):
    done = mpirun(WORKER, "fail", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr  # the worker catches what fit raises
    found = {rank: {r["scenario"]: r for r in records} for rank, records in results(done).items()}
    bad0, bad1 = found[0]["bad batch"], found[1]["bad batch"]
    assert bad1["error"] == "IndexError" and "src ids in [0, 11], got 111" in bad1["message"]
    assert bad0["error"] == "RankFailed"
    assert bad0["message"].startswith("rank 1 of 2 failed at epoch 1, batch 3: IndexError: Seq2Seq expects src ids")
    ckpt0, ckpt1 = found[0]["checkpoint"], found[1]["checkpoint"]
    assert ckpt0["error"] in ("FileExistsError", "NotADirectoryError")
    assert ckpt1["error"] == "RankFailed" and ckpt1["message"].startswith("rank 0 of 2 failed saving epoch 1: ")


@needs_mpi
def test_an_error_on_one_rank_alone_aborts_every_rank(tmp_path):
    """Rank 0's progress bar fails while rank 1 waits in the step's allreduce: abort, not a hang."""
    done = mpirun(WORKER, "abort", str(tmp_path), timeout=60)
    assert done.returncode != 0
    assert "minirnn: rank 0 of 2 failed, stopping every rank: RuntimeError: the progress bar broke" in done.stderr
    assert "RESULT" not in done.stdout


@needs_mpi
def test_cli_train_distributed(tmp_path):
    done = mpirun("-m", "minirnn", "train", "dates", "--quick", "--distributed", "--no-progress", "--out",
                  str(tmp_path), "--name", "dist", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("split by source") == 1 and done.stdout.count("epoch  2/2") == 1  # only rank 0 prints
    assert done.stdout.count("distributed: data-parallel over 2 MPI ranks, global batch 32 = 2 x 16 ") == 1
    assert {"best.npz", "last.npz"} <= set(os.listdir(tmp_path / "dist"))
    assert mr.load_checkpoint(tmp_path / "dist" / "best.npz").epoch in (1, 2)


# =========================================================================== in this process


def test_distributed_without_mpi4py_names_the_extra(monkeypatch, tmp_path, capsys):
    from minirnn.cli import main

    monkeypatch.setattr(dist, "mpi_available", lambda: False)
    code = main(["train", "dates", "--quick", "--distributed", "--no-progress", "--out", str(tmp_path)])
    assert code == 2
    assert "--distributed needs mpi4py, which is not installed: pip install 'minirnn[mpi]'" in capsys.readouterr().err


def test_distributed_without_mpirun_trains_as_one_process(tmp_path, capsys):
    from minirnn.cli import main

    assert main(["train", "dates", "--quick", "--distributed", "--no-progress", "--epochs", "1", "--out",
                 str(tmp_path), "--name", "alone"]) == 0
    assert "--distributed without mpirun trains in this one process" in capsys.readouterr().err
    assert (tmp_path / "alone" / "best.npz").exists()


def test_init_outside_mpirun_is_one_process_without_importing_mpi4py():
    script = ("import sys; from minirnn import distributed as d; w = d.init(); "
              "assert (w.rank, w.size, w.comm) == (0, 1, None), w; assert 'mpi4py' not in sys.modules; print('ok')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_", "MV2_"))}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=dict(env, PYTHONPATH=ROOT))
    assert done.stdout.strip() == "ok", done.stderr


def test_single_process_collectives_are_identities():
    world = dist.SINGLE
    params = mr.Linear(3, 2).parameters()
    for p in params:
        p.grad = np.ones_like(p.data)
    assert dist.allreduce_gradients(params, weight=7, world=world, extras=(1.5, 2)) == (7.0, (1.5, 2.0))
    assert all((p.grad == 1).all() for p in params)
    assert dist.run_on_root(world, lambda: 5) == 5 and dist.run_together(world, lambda: 6) == 6
    with pytest.raises(KeyError, match="mine"):
        dist.check_all(world, KeyError("mine"))
    assert world.bcast("x") == "x" and world.allgather(3) == [3] and world.gather(4) == [4]


def _examples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 9, size=rng.integers(1, 8)) for _ in range(n)]


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_partition_every_global_batch(world_size):
    src = _examples(21)
    it = BucketIterator(src, targets=src, batch_size=4, seed=1, bucket_batches=2)
    shards = [it.shard(rank, world_size) for rank in range(world_size)]
    for epoch in (0, 3):
        whole = it.batch_indices(epoch)
        parts = [s.batch_indices(epoch) for s in shards]
        assert all(len(p) == len(whole) for p in parts)  # every rank takes the same number of steps
        for step, batch in enumerate(whole):
            pieces = [p[step] for p in parts]
            assert sorted(np.concatenate(pieces).tolist()) == sorted(batch.tolist())  # disjoint, complete
    assert shards[0].batch_indices(2)[0].tolist() == it.shard(0, world_size).batch_indices(2)[0].tolist()


def test_an_empty_share_is_a_valid_empty_batch():
    src = _examples(5)
    it = BucketIterator(src, targets=src, batch_size=4, seed=0)
    shares = [list(it.shard(1, 2).iter_epoch(0)), list(it.shard(0, 2).iter_epoch(0))]
    sizes = sorted(len(b.src) for share in shares for b in share)
    assert sizes == [0, 1, 2, 2]  # the 1-example batch leaves rank 1 an empty share
    empty = next(b for share in shares for b in share if len(b.src) == 0)
    assert empty.src.shape[0] == 0 and empty.tgt_out.shape[0] == 0


def test_shard_arguments_are_checked():
    it = BucketIterator(_examples(4), labels=[0, 1, 0, 1], batch_size=2)
    with pytest.raises(ValueError, match=r"shard expects rank \(of world_size 2\) to be an integer in \[0, 1\], got 2"):
        it.shard(2, 2)
    with pytest.raises(ValueError, match=r"shard expects rank \(of world_size 2\) to be an integer .*got 0.5"):
        it.shard(0.5, 2)
    with pytest.raises(TypeError, match="shard expects rank .* got True"):  # a bool is never a number
        it.shard(True, 2)
    with pytest.raises(ValueError, match="shard expects world_size to be a positive integer, got 0"):
        it.shard(0, 0)
    with pytest.raises(TypeError, match="shard expects world_size to be a positive integer, got '2'"):
        it.shard(0, "2")
    same = it.shard(np.int64(1), 2.0)  # NumPy ints and whole floats count
    assert (same.shard_index, same.num_shards) == (1, 2) and type(same.num_shards) is int
    assert [b.tolist() for b in same.batch_indices(3)] == [b.tolist() for b in it.shard(1, 2).batch_indices(3)]
    with pytest.raises(ValueError, match="set_epoch expects epoch to be a non-negative integer, got -1"):
        it.set_epoch(-1)
    with pytest.raises(ValueError, match="already shard 0 of 2"):
        it.shard(0, 2).shard(0, 2)
