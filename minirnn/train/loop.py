"""``fit``: the training loop, with validation, early stopping, checkpoints and resume.

One epoch, for every batch (teacher forcing for seq2seq)::

    logits = model(src, src_lengths, tgt_in)         seq2seq: (N, T, V); classify: model(ids, lengths) (N, C)
    loss   = CrossEntropyLoss(ignore_index=pad)(logits, targets)   mean over real tokens
    model.backward(loss.backward())                   gradients accumulate into p.grad
    clip_grad_norm(params, clip)                      optional, torch's clip_grad_norm_
    optimizer.step()

then, on the validation batches in ``eval()`` mode: the loss, the token accuracy
(argmax = target over non-pad targets; label accuracy for classification) and, for
seq2seq, the exact match of greedy decoding (the decoded tokens up to EOS equal the
target's). The epoch's values are appended to ``history`` and handed to
``callback``; nothing here prints (the tqdm bar goes to stderr and can be turned off).

Reproducibility: ``seed`` seeds minirnn's global generator (dropout, scheduled
sampling) and the generator that shuffles the batch order. Both generators' states
go into every checkpoint, so ``resume`` continues exactly where the run stopped: on
the CPU, a resumed run gives the same losses, bit for bit, as an uninterrupted one.

Divergence: a NaN or infinite loss, logit or gradient norm raises ``TrainingDiverged``
naming the epoch and batch. Checkpoints are only written after a finished epoch, so
the last one on disk is the last good one, and the message says where it is.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping

from ..backend import backend_of, get_array_module, get_rng, is_array, manual_seed, np, to_device
from ..checks import check_choice, check_nonnegative_int, check_positive_float, check_positive_int
from ..io import load_checkpoint, save_checkpoint
from ..nn import CrossEntropyLoss, no_grad
from ..optim import clip_grad_norm
from .metrics import exact_match_counts, token_counts

TASKS = ("seq2seq", "classify")
SEQ2SEQ_FIELDS = ("src", "src_lengths", "tgt_in", "tgt_out")
CLASSIFY_FIELDS = ("ids", "lengths", "labels")
_ALIASES = {
    "ids": ("ids", "src", "x", "inputs"),
    "lengths": ("lengths", "src_lengths"),
    "labels": ("labels", "label", "y", "targets"),
}


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


# --------------------------------------------------------------------------- batches


def _get(batch, names, index, where):
    if isinstance(batch, Mapping):
        for name in names:
            if name in batch:
                return batch[name]
    elif isinstance(batch, (tuple, list)) and not hasattr(batch, "_fields"):
        return batch[index]
    else:
        for name in names:
            if hasattr(batch, name):
                return getattr(batch, name)
    raise KeyError(f"{where}: a batch has no field {names[0]!r} (got {type(batch).__name__})")


def unpack_batch(batch, task: str) -> dict:
    """A batch (dict, named tuple, object or plain tuple) as a dict of the task's fields.

    seq2seq: ``src, src_lengths, tgt_in, tgt_out``; classify: ``ids, lengths, labels``.
    """
    fields = SEQ2SEQ_FIELDS if task == "seq2seq" else CLASSIFY_FIELDS
    out, missing = {}, []
    for i, name in enumerate(fields):
        try:
            out[name] = _get(batch, (name,) if task == "seq2seq" else _ALIASES[name], i, "fit")
        except (KeyError, IndexError):
            missing.append(name)
    if missing:
        raise KeyError(f"fit(task={task!r}): a batch ({type(batch).__name__}) lacks {', '.join(missing)}; "
                       f"expected fields {', '.join(fields)}")
    return out


def _on_device(fields: dict, backend: str) -> dict:
    """Token arrays to the model's device; lengths stay on the host (they steer the loops)."""
    out = {}
    for name, value in fields.items():
        if name in ("src_lengths", "lengths") or value is None:
            out[name] = value
        else:
            out[name] = to_device(np.asarray(value) if not is_array(value) else value, backend)
    return out


def _forward(model, fields: dict, task: str):
    if task == "seq2seq":
        return model(fields["src"], fields["src_lengths"], fields["tgt_in"]), fields["tgt_out"]
    return model(fields["ids"], fields["lengths"]), fields["labels"]


def _finite(value) -> bool:
    return math.isfinite(float(value))


def _batches_for_epoch(batches, epoch: int, order_rng, shuffle: bool):
    """An iterator with ``iter_epoch`` (``minirnn.data.BucketIterator``) or a callable is asked for
    the epoch's batches (so they depend on the epoch alone, which keeps resume exact); a plain
    sequence is reordered by the seeded generator."""
    if hasattr(batches, "iter_epoch"):
        return list(batches.iter_epoch(epoch))
    if callable(batches):
        return list(batches(epoch))
    batches = list(batches)
    if shuffle:
        return [batches[i] for i in order_rng.permutation(len(batches))]
    return batches


# --------------------------------------------------------------------------- evaluation


def evaluate(model, batches, task: str = "seq2seq", pad_id: int = 0, bos_id=None, eos_id=None,
             exact_match: bool = True, max_decode_len=None) -> dict:
    """Loss, accuracy (and exact match for seq2seq) of ``model`` over ``batches``, in eval mode.

    Returns ``{"loss", "accuracy"[, "exact_match"]}``; the model's train/eval mode is restored.
    """
    if task not in TASKS:
        raise ValueError(f"evaluate: task must be one of {', '.join(TASKS)}, got {task!r}")
    was_training = model.training
    model.eval()
    backend = backend_of(model.parameters()[0].data)
    criterion = CrossEntropyLoss(ignore_index=pad_id if task == "seq2seq" else -100)
    loss_sum, tokens, correct, exact, rows = 0.0, 0, 0, 0, 0
    decode = task == "seq2seq" and exact_match and bos_id is not None and eos_id is not None
    try:
        with no_grad():
            for batch in _batches_for_epoch(batches, 0, None, shuffle=False):
                fields = _on_device(unpack_batch(batch, task), backend)
                logits, targets = _forward(model, fields, task)
                c, n = token_counts(logits, targets, pad_id if task == "seq2seq" else None)
                if n:
                    loss_sum += criterion(logits, targets) * n
                correct, tokens = correct + c, tokens + n
                if decode:
                    max_len = max_decode_len or targets.shape[1] + 2
                    decoded, _ = model.greedy_decode(fields["src"], fields["src_lengths"], max_len, bos_id, eos_id)
                    c, n = exact_match_counts(decoded, targets, eos_id, pad_id)
                    exact, rows = exact + c, rows + n
    finally:
        model.train(was_training)
    result = {"loss": loss_sum / max(tokens, 1), "accuracy": correct / max(tokens, 1)}
    if decode:
        result["exact_match"] = exact / max(rows, 1)
    return result


# --------------------------------------------------------------------------- fit


def _resume_path(resume, checkpoint_dir):
    if resume in (None, False):
        return None
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("fit(resume=True) needs checkpoint_dir (it resumes from checkpoint_dir/last.npz)")
        path = os.path.join(checkpoint_dir, "last.npz")
        return path if os.path.exists(path) else None
    return os.fspath(resume)


def _vocab_ids(vocabs, bos_id, eos_id):
    tgt = (vocabs or {}).get("tgt")
    if tgt is not None:
        bos_id = getattr(tgt, "bos_id", bos_id) if bos_id is None else bos_id
        eos_id = getattr(tgt, "eos_id", eos_id) if eos_id is None else eos_id
    return bos_id, eos_id


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
    progress: bool = True,
    callback=None,
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
    monitor         the history key watched for early stopping and ``best.npz``:
                    default "val_exact_match" (seq2seq), "val_accuracy" (classify),
                    or "loss" without validation; "*loss" keys are minimised
    checkpoint_dir  writes ``last.npz`` after every epoch and ``best.npz`` when the
                    monitored value improves (``minirnn.io`` format)
    resume          a checkpoint path, or True for ``checkpoint_dir/last.npz`` (if any)
    callback        ``callback(record, history)`` after each epoch, ``record`` the epoch's
                    values; returning True stops training
    ==============  ===================================================================
    """
    check_choice(task, TASKS, "fit", "task")
    if optimizer is None:
        raise ValueError("fit needs an optimizer, e.g. minirnn.optim.Adam(model.parameters(), lr=1e-3)")
    epochs = check_nonnegative_int(epochs, "fit", "epochs")
    if patience is not None:
        patience = check_positive_int(patience, "fit", "patience (or None)")
    if clip is not None:
        clip = check_positive_float(clip, "fit", "clip (or None)")
    bos_id, eos_id = _vocab_ids(vocabs, bos_id, eos_id)
    if monitor is None:
        if val_batches is None:
            monitor = "loss"
        elif task == "seq2seq" and exact_match and bos_id is not None and eos_id is not None:
            monitor = "val_exact_match"
        else:
            monitor = "val_accuracy"
    minimize = monitor.endswith("loss")
    from tqdm.auto import tqdm

    criterion = CrossEntropyLoss(ignore_index=pad_id if task == "seq2seq" else -100, label_smoothing=label_smoothing)
    params = model.parameters()
    backend = backend_of(params[0].data)
    order_rng = np.random.default_rng(seed)
    history = History()
    best_value, best_epoch, bad_epochs, start_epoch = None, None, 0, 1
    if seed is not None:
        manual_seed(seed)

    path = _resume_path(resume, checkpoint_dir)
    if path is not None:
        ckpt = load_checkpoint(path)
        model.load_state_dict(ckpt.model.state_dict())
        if ckpt.optimizer_state is not None:
            ckpt.restore_optimizer(optimizer)
        state = ckpt.extra.get("fit", {})
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        for key, values in ckpt.history.items():
            history[key] = list(values)
        best_value, best_epoch = state.get("best_value"), state.get("best_epoch")
        bad_epochs = state.get("bad_epochs", 0)
        start_epoch = int(ckpt.epoch or 0) + 1
        if "global" in ckpt.rng:
            get_rng().bit_generator.state = ckpt.rng["global"]
        if "order" in ckpt.rng:
            order_rng.bit_generator.state = ckpt.rng["order"]
        if state.get("stopped_early"):
            start_epoch = epochs + 1  # an early-stopped run stays stopped
            history.stopped_early, history.stop_reason = True, state.get("stop_reason", "")

    last_path = None if checkpoint_dir is None else os.path.join(checkpoint_dir, "last.npz")
    history.checkpoint_dir = checkpoint_dir
    history.best_epoch, history.best_value = best_epoch, best_value

    def diverged(what, epoch, batch_index, value):
        model.clear_caches()
        good = last_path if last_path and os.path.exists(last_path) else None
        where = (f"the last good checkpoint is {good} (epoch {history['epoch'][-1]})" if good and history.get("epoch")
                 else "no checkpoint was written yet")
        return TrainingDiverged(
            f"training diverged: the {what} became {value} at epoch {epoch}, batch {batch_index + 1}; {where}. "
            "Try a lower learning rate or gradient clipping (clip=1.0)."
        )

    model.train()
    for epoch in range(start_epoch, epochs + 1):
        started = time.perf_counter()
        batches = _batches_for_epoch(train_batches, epoch, order_rng, shuffle)
        loss_sum, tokens, correct = 0.0, 0, 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{epochs}", file=sys.stderr, leave=False,
                   disable=not progress, dynamic_ncols=True)
        try:
            for index, batch in enumerate(batches):
                fields = _on_device(unpack_batch(batch, task), backend)
                model.zero_grad()
                logits, targets = _forward(model, fields, task)
                if not bool(get_array_module(logits).isfinite(logits).all()):
                    raise diverged("logits", epoch, index, "NaN or inf")
                loss = criterion(logits, targets)
                if not _finite(loss):
                    raise diverged("loss", epoch, index, loss)
                model.backward(criterion.backward())
                if clip is not None:
                    norm = clip_grad_norm(params, clip)
                    if not _finite(norm):
                        raise diverged("gradient norm", epoch, index, norm)
                optimizer.step()
                c, n = token_counts(logits, targets, pad_id if task == "seq2seq" else None)
                loss_sum, tokens, correct = loss_sum + loss * n, tokens + n, correct + c
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / max(tokens, 1):.4f}", refresh=False)
        finally:
            bar.close()

        record = {"epoch": epoch, "loss": loss_sum / max(tokens, 1), "accuracy": correct / max(tokens, 1),
                  "lr": float(optimizer.lr) if hasattr(optimizer, "lr") else None}
        if val_batches is not None:
            scores = evaluate(model, val_batches, task, pad_id, bos_id, eos_id, exact_match, max_decode_len)
            record.update({f"val_{k}": v for k, v in scores.items()})
        if scheduler is not None:
            scheduler.step()
        record["time"] = time.perf_counter() - started
        for key, value in record.items():
            history.setdefault(key, []).append(value)

        if monitor not in record:
            raise ValueError(f"fit: monitor={monitor!r} is not a value fit records; this run records "
                             f"{', '.join(k for k in record if k not in ('epoch', 'time'))}")
        value = record[monitor]
        improved = value is not None and (
            best_value is None or (value < best_value if minimize else value > best_value)
        )
        if improved:
            best_value, best_epoch, bad_epochs = value, epoch, 0
        else:
            bad_epochs += 1
        history.best_epoch, history.best_value = best_epoch, best_value
        stop = patience is not None and bad_epochs >= patience
        if stop:
            history.stopped_early = True
            history.stop_reason = f"no improvement of {monitor} for {patience} epochs (best {best_value:.4f} " \
                                  f"at epoch {best_epoch})"

        if checkpoint_dir is not None:
            fit_state = {"best_value": best_value, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                         "monitor": monitor, "task": task, "stopped_early": stop, "stop_reason": history.stop_reason,
                         "scheduler": scheduler.state_dict() if scheduler is not None else None}
            rng = {"global": get_rng().bit_generator.state, "order": order_rng.bit_generator.state}
            meta = dict(extra or {}, fit=fit_state)
            save_checkpoint(last_path, model, optimizer, vocabs, epoch, dict(history), meta, rng)
            if improved:
                save_checkpoint(os.path.join(checkpoint_dir, "best.npz"), model, optimizer, vocabs, epoch,
                                dict(history), meta, rng)

        if callback is not None and callback(record, history):
            history.stop_reason = history.stop_reason or "stopped by the callback"
            break
        if stop:
            break
    return history
