"""Padding, masks, and a length-bucketing batch iterator with seeded shuffling.

Shapes use the fixed letters: N batch, T time (the longest length in the batch).

Seq2seq batches follow teacher forcing: for a target ``y_1 .. y_L``::

    tgt_in  = [<bos>, y_1, ..., y_L]     the decoder's inputs
    tgt_out = [y_1, ..., y_L, <eos>]     what it must predict at each step

Both are padded with ``<pad>`` = 0, so the loss over a padded batch is
``CrossEntropyLoss(ignore_index=0)(logits, tgt_out)``: padded steps count for nothing
and the mean is over real tokens only.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

from ..backend import get_array_module, np
from ..checks import check_int, check_nonnegative_int, check_positive_int


class ClassificationBatch(NamedTuple):
    """One classification batch. ``ids`` (N,T) int64, ``lengths`` (N,) int64, ``labels`` (N,) int64."""

    ids: object
    lengths: object
    labels: object


class Seq2SeqBatch(NamedTuple):
    """One seq2seq batch (all int64).

    ``src`` (N,S), ``src_lengths`` (N,), ``tgt_in`` (N,T) = [bos]+tgt, ``tgt_out`` (N,T) =
    tgt+[eos], ``tgt_lengths`` (N,) = len(tgt)+1, the real steps of ``tgt_in``/``tgt_out``.
    """

    src: object
    src_lengths: object
    tgt_in: object
    tgt_out: object
    tgt_lengths: object


def _as_id_array(seq, what: str):
    arr = np.asarray(seq)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of ids, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{what} must hold integer ids, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"{what} holds a negative id ({int(arr.min())}); ids must be >= 0")
    return arr.astype(np.int64, copy=False)


def _as_label_array(labels):
    """Integer class ids as int64; floats only when whole (1.0), never truncated (1.5 is an error)."""
    arr = np.asarray(labels)
    whole_floats = arr.dtype.kind == "f" and bool(np.all(arr == np.round(arr)))
    if arr.size and arr.dtype.kind not in "iu" and not whole_floats:
        raise TypeError(
            f"labels must be integer class ids, got dtype {arr.dtype}; map label names with encode_labels()"
        )
    return arr.astype(np.int64)


def pad_sequences(seqs, pad_id: int = 0, max_len: int | None = None):
    """Pad id sequences into one array.

    Returns ``ids`` (N, T) int64 and ``lengths`` (N,) int64, where T is the longest
    length, or ``max_len`` when given (longer sequences are cut to ``max_len``).
    """
    arrays = [_as_id_array(s, f"sequence {i}") for i, s in enumerate(seqs)]
    lengths = np.asarray([len(a) for a in arrays], dtype=np.int64)
    if max_len is not None:
        T = check_nonnegative_int(max_len, "pad_sequences", "max_len")
        lengths = np.minimum(lengths, T)
    else:
        T = int(lengths.max()) if len(arrays) else 0
    ids = np.full((len(arrays), T), pad_id, dtype=np.int64)
    for row, (a, length) in enumerate(zip(arrays, lengths)):
        ids[row, :length] = a[:length]
    return ids, lengths


def make_mask(lengths, T: int | None = None):
    """``mask[n, t] = t < lengths[n]``: (N, T) bool, True at real positions.

    Works on NumPy or CuPy ``lengths``; T defaults to ``max(lengths)``.
    """
    xp = get_array_module(lengths)
    lengths = xp.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"make_mask expects lengths of shape (N,), got {lengths.shape}")
    if T is None:
        T = int(lengths.max()) if lengths.size else 0
    return xp.arange(int(T))[None, :] < lengths[:, None]


class BucketIterator:
    """Batches of similar length, in a seeded random order.

    Give ``inputs`` (id sequences) and either ``labels`` (classification, yields
    :class:`ClassificationBatch`) or ``targets`` (seq2seq, yields :class:`Seq2SeqBatch`;
    targets are raw ids without <bos>/<eos>, which the iterator adds).

    With ``shuffle=True`` each epoch shuffles the examples with a generator seeded by
    ``(seed, epoch)``, cuts them into chunks of ``batch_size * bucket_batches``, sorts
    each chunk by length, splits it into batches, and shuffles the batch order. So
    batches hold similar lengths, every example appears exactly once per epoch (unless
    ``drop_last``), and the same seed and epoch give the same order in every run.
    With ``shuffle=False`` batches follow the input order, unsorted (for evaluation).

    Iterating (``for batch in it``) runs epoch ``it.epoch`` and then advances it;
    ``it.iter_epoch(e)`` runs epoch ``e`` without touching it, and ``set_epoch(e)``
    sets where the next ``for`` starts (resuming training).

    Data-parallel training: ``it.shard(rank, world_size)`` yields, for every global
    batch of ``batch_size`` examples, rank ``rank``'s share of it: the examples at
    positions ``rank, rank + K, rank + 2K, ...`` of the batch (K = ``world_size``). The
    shares are disjoint, their union is the global batch, and because each global
    batch is sorted by length, striding gives every rank similar lengths. Every rank
    gets the same number of batches (a share can be empty when a batch has fewer than
    K examples), so K ranks with ``batch_size`` B see exactly the examples one process
    sees with B, step by step.
    """

    def __init__(
        self,
        inputs,
        targets=None,
        labels=None,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        seed: int = 0,
        bucket_batches: int = 50,
        drop_last: bool = False,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
    ):
        if (targets is None) == (labels is None):
            raise ValueError("BucketIterator needs exactly one of targets= (seq2seq) or labels= (classification)")
        batch_size = check_positive_int(batch_size, "BucketIterator", "batch_size")
        bucket_batches = check_positive_int(bucket_batches, "BucketIterator", "bucket_batches")
        self.inputs = [_as_id_array(s, f"inputs[{i}]") for i, s in enumerate(inputs)]
        self._check_not_empty(self.inputs, "inputs")
        n = len(self.inputs)
        if targets is not None:
            self.targets = [_as_id_array(s, f"targets[{i}]") for i, s in enumerate(targets)]
            if len(self.targets) != n:
                raise ValueError(f"got {n} inputs but {len(self.targets)} targets")
            self._check_not_empty(self.targets, "targets")
            self.labels = None
        else:
            self.targets = None
            self.labels = _as_label_array(labels)
            if self.labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},) to match the inputs, got {self.labels.shape}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.bucket_batches = int(bucket_batches)
        self.drop_last = bool(drop_last)
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        self.epoch = 0
        self.shard_index, self.num_shards = 0, 1
        src_len = np.asarray([len(a) for a in self.inputs], dtype=np.int64)
        tgt_len = np.asarray([len(a) for a in self.targets], dtype=np.int64) if self.targets else np.zeros(n, np.int64)
        # Sort key: source length, then target length.
        self._sort_key = src_len * (int(tgt_len.max(initial=0)) + 1) + tgt_len

    @staticmethod
    def _check_not_empty(seqs, what: str) -> None:
        for i, s in enumerate(seqs):
            if len(s) == 0:
                raise ValueError(f"{what}[{i}] is empty; every sequence needs at least one token")

    @property
    def is_seq2seq(self) -> bool:
        return self.targets is not None

    def __len__(self) -> int:
        n = len(self.inputs)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def shard(self, rank: int, world_size: int) -> BucketIterator:
        """A copy that yields rank ``rank``'s share of every global batch (see the class docstring)."""
        world_size = check_positive_int(world_size, "BucketIterator.shard", "world_size")
        rank = check_int(rank, "BucketIterator.shard", f"rank (of world_size {world_size})", low=0, high=world_size - 1)
        if self.num_shards != 1:
            raise ValueError(f"BucketIterator.shard: this iterator is already shard {self.shard_index} of "
                             f"{self.num_shards}; shard the global iterator instead")
        part = copy.copy(self)
        part.shard_index, part.num_shards = rank, world_size
        return part

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``for batch in it`` will run."""
        self.epoch = check_nonnegative_int(epoch, "BucketIterator.set_epoch", "epoch")

    def batch_indices(self, epoch: int) -> list:
        """The example indices of each batch of ``epoch``, in order (int64 arrays); this shard's share when sharded."""
        batches = self._global_batch_indices(epoch)
        if self.num_shards > 1:
            batches = [b[self.shard_index :: self.num_shards] for b in batches]
        return batches

    def _global_batch_indices(self, epoch: int) -> list:
        n = len(self.inputs)
        if not self.shuffle:
            batches = [np.arange(i, min(i + self.batch_size, n)) for i in range(0, n, self.batch_size)]
        else:
            rng = np.random.default_rng([self.seed, int(epoch)])
            order = rng.permutation(n)
            chunk = self.batch_size * self.bucket_batches
            batches = []
            for start in range(0, n, chunk):
                part = order[start : start + chunk]
                part = part[np.argsort(self._sort_key[part], kind="stable")]
                batches.extend(part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size))
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        return batches

    def make_batch(self, indices):
        """The padded batch of the given example indices."""
        src, src_lengths = pad_sequences([self.inputs[i] for i in indices], self.pad_id)
        if not self.is_seq2seq:
            return ClassificationBatch(src, src_lengths, self.labels[np.asarray(indices, dtype=np.int64)])
        bos, eos = np.asarray([self.bos_id]), np.asarray([self.eos_id])
        tgt_in, tgt_lengths = pad_sequences([np.concatenate([bos, self.targets[i]]) for i in indices], self.pad_id)
        tgt_out, _ = pad_sequences([np.concatenate([self.targets[i], eos]) for i in indices], self.pad_id)
        return Seq2SeqBatch(src, src_lengths, tgt_in, tgt_out, tgt_lengths)

    def iter_epoch(self, epoch: int):
        """Yield the batches of ``epoch`` (does not change ``self.epoch``)."""
        for indices in self.batch_indices(epoch):
            yield self.make_batch(indices)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        return self.iter_epoch(epoch)


def batches(
    inputs,
    targets=None,
    labels=None,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    **kwargs,
):
    """Yield the batches of one epoch; shorthand for ``BucketIterator(...).iter_epoch(epoch)``."""
    iterator = BucketIterator(inputs, targets, labels, batch_size, shuffle=shuffle, seed=seed, **kwargs)
    return iterator.iter_epoch(epoch)
