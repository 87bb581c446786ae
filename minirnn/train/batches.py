"""What ``fit`` and ``evaluate`` do with a batch: read its fields, move them, run the model.

A batch is a dict, a named tuple, an object with attributes, or a plain tuple. Its
fields are, by task::

    seq2seq   src (N,S), src_lengths (N,), tgt_in (N,T), tgt_out (N,T)
    classify  ids (N,T), lengths (N,), labels (N,)     (aliases: src/x/inputs, src_lengths, label/y/targets)
"""

from __future__ import annotations

from collections.abc import Mapping

from ..backend import is_array, np, to_device

TASKS = ("seq2seq", "classify")
SEQ2SEQ_FIELDS = ("src", "src_lengths", "tgt_in", "tgt_out")
CLASSIFY_FIELDS = ("ids", "lengths", "labels")
_ALIASES = {
    "ids": ("ids", "src", "x", "inputs"),
    "lengths": ("lengths", "src_lengths"),
    "labels": ("labels", "label", "y", "targets"),
}


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


def on_device(fields: dict, backend: str) -> dict:
    """Token arrays to the model's device; lengths stay on the host (they steer the loops)."""
    out = {}
    for name, value in fields.items():
        if name in ("src_lengths", "lengths") or value is None:
            out[name] = value
        else:
            out[name] = to_device(np.asarray(value) if not is_array(value) else value, backend)
    return out


def batch_size(fields: dict, task: str) -> int:
    """N, the number of examples in a batch (0 for a rank's empty share of a small global batch)."""
    return len(fields["src" if task == "seq2seq" else "ids"])


def forward(model, fields: dict, task: str):
    """``(logits, targets)``: seq2seq ``model(src, src_lengths, tgt_in)``, classify ``model(ids, lengths)``."""
    if task == "seq2seq":
        return model(fields["src"], fields["src_lengths"], fields["tgt_in"]), fields["tgt_out"]
    return model(fields["ids"], fields["lengths"]), fields["labels"]


def batches_for_epoch(batches, epoch: int, order_rng, shuffle: bool) -> list:
    """The batches of ``epoch``, in the order to train on them.

    An iterator with ``iter_epoch`` (``minirnn.data.BucketIterator``) or a callable is
    asked for the epoch's batches, so they depend on the epoch alone (which keeps
    resume exact); a plain sequence is reordered by the seeded ``order_rng``.
    """
    if hasattr(batches, "iter_epoch"):
        return list(batches.iter_epoch(epoch))
    if callable(batches):
        return list(batches(epoch))
    batches = list(batches)
    if shuffle:
        return [batches[i] for i in order_rng.permutation(len(batches))]
    return batches
