"""``fit``: the training loop, with validation, early stopping, checkpoints and resume.

One epoch, for every batch (teacher forcing for seq2seq)::

    logits = model(src, src_lengths, tgt_in)       seq2seq: (N, T, V); classify: model(ids, lengths) (N, C)
    loss   = criterion(logits, targets)            a float: the mean over real tokens (CrossEntropyLoss,
                                                   ignore_index=pad)
    model.backward(criterion.backward())           dL/dlogits, then every p.grad (they accumulate)
    clip_grad_norm(params, clip)                   optional, torch's clip_grad_norm_
    optimizer.step()

then, on the validation batches in inference mode (``eval()``, no caches): the loss, the
token accuracy (argmax = target over non-pad targets; label accuracy for classification)
and, for seq2seq, the exact match of greedy decoding; then ``val_metrics(model)`` when
given (BLEU, chrF, ...). The epoch's values are appended to ``history`` and handed to
``callback``. Nothing here prints: ``progress`` is a factory the caller passes in (the
CLI's draws a tqdm bar).

The pieces, each small enough to read alone::

    EpochRunner       one epoch of steps: forward, loss, backward, clip, step; divergence checks
    validate          the val_* values of one epoch
    EarlyStopping     (stopping.py) the best monitored value and when to stop
    RunState          (run_state.py) what a checkpoint saves, and restoring it

Reproducibility: ``seed`` seeds minirnn's global generator (dropout, scheduled
sampling) and the generator that shuffles the batch order. Both generators' states
go into every checkpoint, so ``resume`` continues exactly where the run stopped: on
the CPU, a resumed run gives the same losses, bit for bit, as an uninterrupted one.

Divergence: a NaN or infinite loss, logit or gradient norm raises ``TrainingDiverged``
naming the epoch and batch. Checkpoints are only written after a finished epoch, so
the last one on disk is the last good one, and the message says where it is.

Data-parallel (``world=minirnn.distributed.init()`` under ``mpirun``): each rank runs
``EpochRunner.local_gradients`` on its share of the global batch, and
``shared_gradients`` sums the token-weighted gradients in one allreduce, so K ranks
take the steps one process would take on the whole batch. Rank 0 alone validates,
saves and calls back (``_Loop``); see ``fit``'s docstring and ``minirnn.distributed``.
"""

from __future__ import annotations

import math
import os
import time

from ..backend import backend_of, get_array_module, get_rng, manual_seed, np
from ..checks import check_choice, check_nonnegative_int, check_positive_float, check_positive_int
from ..distributed import (
    SINGLE,
    abort,
    allreduce_gradients,
    broadcast_parameters,
    check_all,
    run_on_root,
    run_together,
    stopped_together,
    together,
)
from ..nn import CrossEntropyLoss, inference_mode
from ..optim import clip_grad_norm
from .batches import TASKS, batch_size, batches_for_epoch, forward, on_device, unpack_batch
from .evaluation import evaluate
from .metrics import token_counts
from .run_state import RunState
from .stopping import EarlyStopping

__all__ = ["EpochRunner", "History", "TrainingDiverged", "evaluate", "fit", "unpack_batch", "validate"]


class TrainingDiverged(RuntimeError):
    """The loss (or a logit, or the gradient norm) became NaN or infinite."""


class History(dict):
    """Per-epoch lists (``history["loss"][i]`` is epoch ``history["epoch"][i]``), plus run facts.

    Attributes: ``best_epoch`` and ``best_value`` of the monitored metric,
    ``stopped_early``, ``stop_reason`` and ``checkpoint_dir``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.best_epoch = None
        self.best_value = None
        self.stopped_early = False
        self.stop_reason = ""
        self.checkpoint_dir = None

    def append(self, record: dict) -> None:
        """Add one epoch's record: each value to the list of its key."""
        for key, value in record.items():
            self.setdefault(key, []).append(value)


# =========================================================================== one epoch


def _finite(value) -> bool:
    return math.isfinite(float(value))


def diverged(run: RunState, what: str, value, epoch: int, index: int) -> TrainingDiverged:
    """The error for a non-finite ``what`` at batch ``index`` of ``epoch``, naming the last good checkpoint."""
    run.model.clear_caches()
    last = run.last_path
    good = last if last and os.path.exists(last) else None
    where = (f"the last good checkpoint is {good} (epoch {run.history['epoch'][-1]})"
             if good and run.history.get("epoch") else "no checkpoint was written yet")
    return TrainingDiverged(
        f"training diverged: the {what} became {value} at epoch {epoch}, batch {index + 1}; {where}. "
        "Try a lower learning rate or gradient clipping (clip=1.0)."
    )


class EpochRunner:
    """Runs the training steps of one epoch and returns its mean loss and accuracy.

    ``progress(total_batches, epoch)`` (optional) returns a bar with ``update(n, **postfix)``
    and ``close()``; the runner updates it after every step with the running mean loss.
    In a distributed run (``run.world``) each rank computes the gradient of its share and
    ``shared_gradients`` combines them; the loss and accuracy are over every rank's tokens.
    """

    def __init__(self, run: RunState, clip=None, pad_id: int = 0, label_smoothing: float = 0.0, progress=None,
                 class_weight=None):
        self.run, self.clip = run, clip
        self.progress = progress if run.world.is_root else None  # only rank 0 draws
        self.pad_id = pad_id if run.task == "seq2seq" else None  # classification targets have no padding
        weight = None if class_weight is None else tuple(float(w) for w in class_weight)  # takes the logits' dtype
        self.criterion = CrossEntropyLoss(ignore_index=pad_id if run.task == "seq2seq" else -100,
                                          label_smoothing=label_smoothing, weight=weight)
        self.params = run.model.parameters()
        self.backend = backend_of(self.params[0].data)

    def __call__(self, batches: list, epoch: int) -> dict:
        """Train on ``batches``: ``{"loss", "accuracy"}``, means over the epoch's real tokens."""
        loss_sum, tokens, correct = 0.0, 0, 0
        bar = self.progress(len(batches), epoch) if self.progress is not None else None
        try:
            for index, batch in enumerate(batches):
                step_loss_sum, step_tokens, step_correct = self.step(batch, epoch, index)
                loss_sum, tokens, correct = loss_sum + step_loss_sum, tokens + step_tokens, correct + step_correct
                if bar is not None:
                    bar.update(1, loss=loss_sum / max(tokens, 1))
        finally:
            if bar is not None:
                bar.close()
        return {"loss": loss_sum / max(tokens, 1), "accuracy": correct / max(tokens, 1)}

    def step(self, batch, epoch: int, index: int) -> tuple:
        """One optimiser step on ``batch``: ``(loss * n, n, correct)``, n its real tokens (all ranks' in sum)."""
        self.run.model.zero_grad()
        if self.run.world.size == 1:
            loss_sum, tokens, correct = self.local_gradients(batch, epoch, index)
        else:
            loss_sum, tokens, correct = self.shared_gradients(batch, epoch, index)
        if self.clip is not None:
            norm = clip_grad_norm(self.params, self.clip)
            if not _finite(norm):  # the same norm on every rank, so every rank stops here
                raise together(diverged(self.run, "gradient norm", norm, epoch, index))
        self.run.optimizer.step()
        return loss_sum, tokens, correct

    def local_gradients(self, batch, epoch: int, index: int) -> tuple:
        """Forward and backward on this process's batch: p.grad of its mean loss; ``(loss * n, n, correct)``."""
        fields = on_device(unpack_batch(batch, self.run.task), self.backend)
        if batch_size(fields, self.run.task) == 0:
            return 0.0, 0, 0  # a rank's empty share of a small global batch: no tokens, no gradient
        logits, targets = forward(self.run.model, fields, self.run.task)
        if not bool(get_array_module(logits).isfinite(logits).all()):
            raise diverged(self.run, "logits", "NaN or inf", epoch, index)
        loss = self.criterion(logits, targets)
        if not _finite(loss):
            raise diverged(self.run, "loss", loss, epoch, index)
        self.run.model.backward(self.criterion.backward())
        correct, tokens = token_counts(logits, targets, self.pad_id)
        return loss * tokens, tokens, correct

    def shared_gradients(self, batch, epoch: int, index: int) -> tuple:
        """``local_gradients`` on this rank's share, then the token-weighted allreduce (distributed.py).

        A failure on any rank travels as a flag in the same buffer, so every rank learns
        of it at this step and stops with the failing rank's reason (``check_all``).
        """
        error, (loss_sum, tokens, correct) = None, (0.0, 0, 0)
        try:
            loss_sum, tokens, correct = self.local_gradients(batch, epoch, index)
        except Exception as err:
            error, tokens = err, 0  # send nothing but the flag
        reduced = allreduce_gradients(self.params, weight=tokens, world=self.run.world,
                                      extras=(loss_sum, correct, error is not None))
        loss_sum, correct, failures = reduced.extras
        if failures:
            check_all(self.run.world, error, f" at epoch {epoch}, batch {index + 1}")
        return loss_sum, int(round(reduced.total_weight)), int(round(correct))


# =========================================================================== validation


def validate(model, val_batches, evaluate_options: dict, val_metrics=None) -> dict:
    """The ``val_*`` values of one epoch: ``evaluate`` on ``val_batches``, then ``val_metrics(model)``.

    ``val_metrics`` runs in inference mode and must return ``{name: number}``; its names
    go into the record as they are (``"val_bleu"``), so they must not clash with fit's own.
    """
    record = {}
    if val_batches is not None:
        scores = evaluate(model, val_batches, **evaluate_options)
        record.update({f"val_{key}": value for key, value in scores.items()})
    if val_metrics is not None:
        with inference_mode(model):
            extra = val_metrics(model)
        record.update(_checked_metrics(extra, record))
    return record


_OWN_KEYS = ("epoch", "loss", "accuracy", "lr", "time")


def _checked_metrics(extra, record: dict) -> dict:
    if not isinstance(extra, dict):
        raise TypeError(f"fit: val_metrics(model) must return a dict of name -> number, got {type(extra).__name__}")
    out = {}
    for key, value in extra.items():
        if not isinstance(key, str) or key in _OWN_KEYS or key in record:
            raise ValueError(f"fit: val_metrics returned the key {key!r}, which is not a new name "
                             f"(fit records {', '.join(_OWN_KEYS + tuple(record))} itself)")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"fit: val_metrics returned {key}={value!r}; values must be numbers")
        out[key] = float(value)
    return out


# =========================================================================== fit


def _check_arguments(task, optimizer, epochs, patience, clip, progress, val_metrics, callback) -> tuple:
    """Every argument checked up front (before any epoch runs); ``(epochs, patience, clip)`` normalised."""
    check_choice(task, TASKS, "fit", "task")
    if optimizer is None:
        raise ValueError("fit needs an optimizer, e.g. minirnn.optim.Adam(model.parameters(), lr=1e-3)")
    epochs = check_nonnegative_int(epochs, "fit", "epochs")
    if patience is not None:
        patience = check_positive_int(patience, "fit", "patience (or None)")
    if clip is not None:
        clip = check_positive_float(clip, "fit", "clip (or None)")
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(f"fit: progress must be a callable progress(total_batches, epoch) or None, "
                        f"got {type(progress).__name__}")
    for name, value in (("val_metrics", val_metrics), ("callback", callback)):
        if value is not None and not callable(value):
            raise TypeError(f"fit: {name} must be callable or None, got {type(value).__name__}")
    return epochs, patience, clip


def _vocab_ids(vocabs, bos_id, eos_id):
    tgt = (vocabs or {}).get("tgt")
    if tgt is not None:
        bos_id = getattr(tgt, "bos_id", bos_id) if bos_id is None else bos_id
        eos_id = getattr(tgt, "eos_id", eos_id) if eos_id is None else eos_id
    return bos_id, eos_id


def _default_monitor(has_validation: bool, decodes: bool) -> str:
    if not has_validation:
        return "loss"
    return "val_exact_match" if decodes else "val_accuracy"


def fit(
    model,
    train_batches,
    val_batches=None,
    *,
    task: str = "seq2seq",
    optimizer=None,
    epochs: int = 10,
    clip: float | None = None,
    scheduler=None,
    pad_id: int = 0,
    bos_id: int | None = None,
    eos_id: int | None = None,
    label_smoothing: float = 0.0,
    exact_match: bool = True,
    max_decode_len: int | None = None,
    patience: int | None = None,
    monitor: str | None = None,
    checkpoint_dir=None,
    vocabs: dict | None = None,
    extra: dict | None = None,
    resume=None,
    seed: int | None = 0,
    shuffle: bool = True,
    progress=None,
    callback=None,
    val_metrics=None,
    world=None,
    class_weight=None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch ``History``.

    ==============  ===================================================================
    train_batches   a ``minirnn.data.BucketIterator`` (its ``iter_epoch(epoch)``), a
                    callable ``epoch -> batches``, or a list of batches (reordered each
                    epoch by a generator seeded with ``seed``). A batch is a dict, a
                    named tuple or an object with fields ``src, src_lengths, tgt_in,
                    tgt_out`` (seq2seq) or ``ids, lengths, labels`` (classify), or a
                    plain tuple in that order. Arrays may be NumPy; they are moved to
                    the model's device.
    task            "seq2seq" (teacher forcing, token accuracy over non-pad targets,
                    greedy exact match on validation) or "classify"
    optimizer       any minirnn.optim optimiser over ``model.parameters()``
    clip            max total gradient norm (``clip_grad_norm``), or None
    scheduler       an LR scheduler, stepped once per epoch
    bos_id, eos_id  for greedy decoding; taken from ``vocabs["tgt"]`` when not given
    patience        stop after this many epochs without improvement of ``monitor``
    monitor         the record key watched for early stopping and ``best.npz``:
                    default "val_exact_match" (seq2seq), "val_accuracy" (classify),
                    or "loss" without validation; keys ending in "loss" are minimised,
                    every other key (accuracy, BLEU) maximised
    checkpoint_dir  writes ``last.npz`` after every epoch and ``best.npz`` when the
                    monitored value improves (``minirnn.io`` format)
    resume          a checkpoint path, or True for ``checkpoint_dir/last.npz`` (if any)
    progress        ``progress(total_batches, epoch)`` -> a bar with ``update(n, **postfix)``
                    and ``close()``, called once per epoch (``minirnn.cli.common.tqdm_progress``
                    draws a tqdm bar); None or a bool: no bar (fit itself never prints)
    callback        ``callback(record, history)`` after each epoch, ``record`` the epoch's
                    values; returning True stops training
    val_metrics     ``val_metrics(model) -> {name: number}``, run in inference mode after
                    validation each epoch; its names ("val_bleu") join the record and
                    can be the ``monitor``
    world           a ``minirnn.distributed.World`` (``distributed.init()``) for
                    data-parallel training under ``mpirun``; None: this process alone
    class_weight    (C,) weights of the training loss (``CrossEntropyLoss(weight=)``,
                    e.g. ``balanced_class_weights``); the recorded ``loss`` is then the
                    weighted one, while ``val_loss`` stays the plain cross-entropy
    ==============  ===================================================================

    Distributed (``world.size`` K > 1; every rank calls fit with the same arguments): a
    BucketIterator is sharded (``it.shard(rank, K)``), so each step the K ranks together
    see the global batch one process would see; other batch sources must already be
    this rank's share, with as many batches on every rank. Rank 0's weights are
    broadcast at the start; every step sums the token-weighted gradients in one
    allreduce (``distributed.allreduce_gradients``), so the ranks stay identical. Only
    rank 0 draws progress, validates (the record is broadcast), writes checkpoints and
    calls ``callback`` (which must not change the model); every rank resumes from the
    same checkpoint and returns the same History. A failure on any rank stops every
    rank with that rank's reason (``distributed.RankFailed`` on the others).
    """
    epochs, patience, clip = _check_arguments(task, optimizer, epochs, patience, clip, progress, val_metrics,
                                              callback)
    world = SINGLE if world is None else world
    bos_id, eos_id = _vocab_ids(vocabs, bos_id, eos_id)
    decodes = task == "seq2seq" and exact_match and bos_id is not None and eos_id is not None
    stopper = EarlyStopping(monitor or _default_monitor(val_batches is not None, decodes), patience)
    history = History()
    history.checkpoint_dir = checkpoint_dir
    run = RunState(model, optimizer, history, stopper, np.random.default_rng(seed), task, scheduler, vocabs, extra,
                   checkpoint_dir, world)
    evaluate_options = {"task": task, "pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id,
                        "exact_match": exact_match, "max_decode_len": max_decode_len}
    runner = EpochRunner(run, clip, pad_id, label_smoothing, progress if callable(progress) else None, class_weight)
    loop = _Loop(run, runner, _shard(train_batches, world), shuffle,
                 lambda: validate(model, val_batches, evaluate_options, val_metrics), callback)
    if world.size == 1:
        return loop(epochs, resume, seed)
    try:
        return loop(epochs, resume, seed)
    except BaseException as err:
        if not stopped_together(err):  # one rank alone: the others would wait for it forever
            abort(world, err)
        raise


def _shard(train_batches, world):
    """A BucketIterator's share for this rank; other batch sources are taken as this rank's share already."""
    if world.size == 1 or not hasattr(train_batches, "shard"):
        return train_batches
    if getattr(train_batches, "num_shards", 1) == 1:
        return train_batches.shard(world.rank, world.size)
    if train_batches.num_shards != world.size:
        raise ValueError(f"fit: train_batches is sharded {train_batches.num_shards} ways but the world has "
                         f"{world.size} ranks; pass the global iterator and fit shards it")
    return train_batches


def _rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps ``seed`` (one process runs as before); the others get their own dropout streams."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


class _Loop:
    """The epochs of one ``fit`` call: start (seed, resume), then train, validate, record, save, repeat."""

    def __init__(self, run: RunState, runner: EpochRunner, train_batches, shuffle: bool, validation, callback):
        self.run, self.runner, self.train_batches, self.shuffle = run, runner, train_batches, shuffle
        self.validation, self.callback = validation, callback

    def __call__(self, epochs: int, resume, seed) -> History:
        run, world = self.run, self.run.world
        start = self.start(resume, seed, epochs)
        run.model.train()
        for epoch in range(start, epochs + 1):
            started = time.perf_counter()
            record = {"epoch": epoch, **self.runner(self.batches(epoch), epoch),
                      "lr": float(run.optimizer.lr) if hasattr(run.optimizer, "lr") else None}
            if run.scheduler is not None:
                run.scheduler.step()
            record = run_on_root(world, lambda r=record, t=started: self.finish_record(r, t),
                                 f" validating epoch {epoch}")
            run.history.append(record)
            improved = run.stopper.update(record)
            _sync_history(run.history, run.stopper)
            if self.end_epoch(epoch, record, improved):
                run.history.stop_reason = run.history.stop_reason or "stopped by the callback"
                break
            if run.stopper.stopped:
                break
        return run.history

    def start(self, resume, seed, epochs: int) -> int:
        """Seed, resume when asked, give every rank rank 0's weights; the first epoch to run."""
        run, world = self.run, self.run.world
        if seed is not None:
            manual_seed(_rank_seed(seed, world.rank))
        path = run_on_root(world, lambda: run.resume_path(resume), " looking for the checkpoint to resume")
        start = 1 if path is None else run_together(world, lambda: run.restore(path, world.rank),
                                                     f" resuming from {path}")
        broadcast_parameters(run.model, world=world)
        _sync_history(run.history, run.stopper)
        # An early-stopped run stays stopped, unless a larger patience lifted the stop (EarlyStopping.load_state_dict).
        return epochs + 1 if run.stopper.stopped else start

    def batches(self, epoch: int) -> list:
        """This rank's batches of ``epoch``; every rank must have as many (each step is collective)."""
        world = self.run.world
        batches = run_together(world, lambda: batches_for_epoch(self.train_batches, epoch, self.run.order_rng,
                                                                self.shuffle), f" preparing epoch {epoch}")
        counts = world.allgather(len(batches))
        if len(set(counts)) > 1:
            raise together(ValueError(
                f"fit: the ranks have different numbers of batches in epoch {epoch} (rank by rank: {counts}); "
                "give fit the global BucketIterator (it shards it) or the same number of batches on every rank"))
        return batches

    def finish_record(self, record: dict, started: float) -> dict:
        """Rank 0: the validation values and the epoch's time (broadcast to every rank by ``run_on_root``)."""
        record = dict(record, **self.validation())
        record["time"] = time.perf_counter() - started
        return record

    def end_epoch(self, epoch: int, record: dict, improved: bool) -> bool:
        """Rank 0 writes the checkpoints and calls the callback; True when the callback asks to stop."""
        run, world = self.run, self.run.world
        states = world.gather(get_rng().bit_generator.state) if run.checkpoint_dir is not None else None

        def on_root():
            if run.checkpoint_dir is not None:
                run.other_rng = {f"global_rank{rank}": state for rank, state in enumerate(states) if rank}
                run.save(epoch, improved)
            return bool(self.callback is not None and self.callback(record, run.history))

        return run_on_root(world, on_root, f" saving epoch {epoch}")


def _sync_history(history: History, stopper: EarlyStopping) -> None:
    """Mirror the early-stopping facts onto the returned History."""
    history.best_epoch, history.best_value = stopper.best_epoch, stopper.best_value
    history.stopped_early, history.stop_reason = stopper.stopped, stopper.reason
