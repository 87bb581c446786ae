"""The program each rank runs under ``mpirun`` for tests/test_distributed.py.

    mpirun -n 2 python tests/mpi_worker.py train OUT     data-parallel fit; resume; what each rank wrote
    mpirun -n 2 python tests/mpi_worker.py fail OUT      one rank fails (a bad batch; rank 0's checkpoint)
    mpirun -n 2 python tests/mpi_worker.py abort OUT     an error outside the checked collectives

Each rank prints ``RESULT {json}`` lines on stdout; the test reads them. ``setup`` is
shared with the test, which trains the same model in one process for comparison.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import minirnn as mr
from minirnn import distributed as dist
from minirnn.data import BucketIterator
from minirnn.models import Seq2Seq

VOCAB = 12
EXAMPLES = 41  # 5 global batches of 8 and one of 1: rank 1's share of that one is empty
BATCH = 8


def setup(dropout=0.0, seed=0):
    """Float64 attention Seq2Seq on a reverse task with lengths 1..9 (ranks hold different token counts)."""
    mr.set_default_dtype("float64")
    rng = np.random.default_rng(7)
    src = [rng.integers(4, VOCAB, size=rng.integers(1, 10)) for _ in range(EXAMPLES)]
    train = BucketIterator(src, targets=[s[::-1].copy() for s in src], batch_size=BATCH, seed=3)
    val = BucketIterator(src[:10], targets=[s[::-1].copy() for s in src[:10]], batch_size=10, shuffle=False)
    mr.manual_seed(seed)
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=6, hidden_size=8, cell="lstm", attention="bahdanau",
                    bidirectional_encoder=True, dropout=dropout)
    return model, mr.optim.Adam(model.parameters(), lr=1e-2), train, val


def train_options(**kw):
    return dict(epochs=2, clip=1.0, bos_id=2, eos_id=3, seed=5, **kw)


def flat_weights(model):
    return np.concatenate([mr.to_numpy(p.data).ravel() for p in model.parameters()])


def report(world, **values):
    print("RESULT " + json.dumps(dict(rank=world.rank, **values)), flush=True)


def count_checkpoint_writes():
    """Wrap the checkpoint writer so that each rank can say how many files it wrote."""
    import minirnn.train.run_state as run_state

    writes = []
    original = run_state.save_checkpoint

    def counting(path, *args, **kwargs):
        writes.append(os.fspath(path))
        return original(path, *args, **kwargs)

    run_state.save_checkpoint = counting
    return writes


def main_train(world, out):
    writes = count_checkpoint_writes()
    model, opt, train, val = setup()
    history = mr.fit(model, train, val, optimizer=opt, checkpoint_dir=os.path.join(out, "ckpt"), world=world,
                     **train_options())
    weights = world.gather(flat_weights(model))
    # Resume: 3 epochs straight vs 1 epoch, then a fresh process-like model resumed to 3 (dropout on,
    # so each rank's own generator must come back from the checkpoint).
    full, opt_full, _, _ = setup(dropout=0.2)
    mr.fit(full, train, optimizer=opt_full, epochs=3, seed=9, world=world)
    part, opt_part, _, _ = setup(dropout=0.2)
    mr.fit(part, train, optimizer=opt_part, epochs=1, seed=9, world=world, checkpoint_dir=os.path.join(out, "part"))
    resumed, opt_resumed, _, _ = setup(dropout=0.2)
    mr.fit(resumed, train, optimizer=opt_resumed, epochs=3, seed=9, world=world, resume=True,
           checkpoint_dir=os.path.join(out, "part"))
    resume_error = float(np.abs(flat_weights(full) - flat_weights(resumed)).max())
    spread = None if weights is None else float(max(np.abs(w - weights[0]).max() for w in weights))
    report(world, writes=writes, spread=spread, resume_error=resume_error, loss=history["loss"],
           val_loss=history["val_loss"], epochs=history["epoch"])


def bad_batches(world, train):
    """Rank 1's third batch of epoch 1 holds ids outside the vocabulary."""

    def source(epoch):
        batches = list(train.shard(world.rank, world.size).iter_epoch(epoch))
        if world.rank == 1 and epoch == 1:
            batches[2] = batches[2]._replace(src=batches[2].src + 100)
        return batches

    return source


def main_fail(world, out):
    model, opt, train, _ = setup()
    blocker = os.path.join(out, "not-a-folder")
    open(blocker, "w").close()  # both ranks: the same file; rank 0 cannot write checkpoints under it
    for scenario, kwargs in (("bad batch", {"train_batches": bad_batches(world, train)}),
                             ("checkpoint", {"train_batches": train, "checkpoint_dir": blocker})):
        try:
            mr.fit(model, kwargs.pop("train_batches"), optimizer=opt, world=world, **train_options(**kwargs))
            report(world, scenario=scenario, error=None)
        except Exception as err:
            report(world, scenario=scenario, error=type(err).__name__, message=str(err))


def main_abort(world, out):
    model, opt, train, _ = setup()

    def broken_progress(total, epoch):
        raise RuntimeError("the progress bar broke")

    mr.fit(model, train, optimizer=opt, world=world, progress=broken_progress, **train_options())
    report(world, error=None)  # never reached: rank 0 aborts the job


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    world = dist.init()
    assert world.size == 2, f"expected 2 ranks, got {world}"
    {"train": main_train, "fail": main_fail, "abort": main_abort}[mode](world, out)
