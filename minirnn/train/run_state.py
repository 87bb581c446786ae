"""``RunState``: what a training run carries from epoch to epoch, and its save/restore as a checkpoint.

A run's checkpoint (``minirnn.io`` format) holds everything an uninterrupted run would
still have in memory, so that ``fit(..., resume=...)`` continues exactly::

    model weights, optimiser state          the arrays
    epoch, history                          the epochs finished and their records
    extra["fit"]                            early stopping (best value and epoch, bad epochs,
                                            stopped or not and why), the task, the scheduler
    rng["global"], rng["order"]             minirnn's global generator (dropout, scheduled
                                            sampling) and the one that shuffles a batch list
    rng["global_rank1"], ...                in a distributed run, every other rank's generator

Only rank 0 writes; every rank restores from the same file (so it must be visible to
every rank: one machine, or a shared file system).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..backend import get_rng
from ..distributed import SINGLE
from ..io import load_checkpoint, save_checkpoint


@dataclass
class RunState:
    """The pieces of a run that outlive one epoch (see the module docstring for what is saved)."""

    model: object
    optimizer: object
    history: dict
    stopper: object
    order_rng: object
    task: str
    scheduler: object = None
    vocabs: dict | None = None
    extra: dict | None = None
    checkpoint_dir: object = None
    world: object = SINGLE  # minirnn.distributed.World: who is rank 0, how many ranks
    # Generator states of the other ranks of a distributed run, keyed "global_rank{r}" (rank 0's is "global").
    other_rng: dict = field(default_factory=dict)

    @property
    def last_path(self) -> str | None:
        return None if self.checkpoint_dir is None else os.path.join(self.checkpoint_dir, "last.npz")

    def resume_path(self, resume) -> str | None:
        """The checkpoint ``resume`` names: a path, or True for ``last.npz`` when there is one."""
        if resume in (None, False):
            return None
        if resume is True:
            if self.checkpoint_dir is None:
                raise ValueError("fit(resume=True) needs checkpoint_dir (it resumes from checkpoint_dir/last.npz)")
            return self.last_path if os.path.exists(self.last_path) else None
        return os.fspath(resume)

    def save(self, epoch: int, improved: bool) -> None:
        """Write ``last.npz``, and ``best.npz`` too when this epoch improved the monitored value."""
        fit_state = dict(self.stopper.state_dict(), task=self.task,
                         scheduler=self.scheduler.state_dict() if self.scheduler is not None else None)
        rng = {"global": get_rng().bit_generator.state, "order": self.order_rng.bit_generator.state,
               **self.other_rng}
        meta = dict(self.extra or {}, fit=fit_state)
        for name in ("last.npz", "best.npz") if improved else ("last.npz",):
            save_checkpoint(os.path.join(self.checkpoint_dir, name), self.model, self.optimizer, self.vocabs, epoch,
                            dict(self.history), meta, rng)

    def restore(self, path, rank: int = 0) -> int:
        """Load the checkpoint at ``path`` into this run; returns the epoch to continue from.

        ``rank`` picks this process's stored dropout generator in a distributed run.
        """
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt.model.state_dict())
        if ckpt.optimizer_state is not None:
            ckpt.restore_optimizer(self.optimizer)
        state = ckpt.extra.get("fit", {})
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for key, values in ckpt.history.items():
            self.history[key] = list(values)
        self.stopper.load_state_dict(state)
        own_rng = "global" if rank == 0 else f"global_rank{rank}"
        if own_rng in ckpt.rng:
            get_rng().bit_generator.state = ckpt.rng[own_rng]
        if "order" in ckpt.rng:
            self.order_rng.bit_generator.state = ckpt.rng["order"]
        return int(ckpt.epoch or 0) + 1
