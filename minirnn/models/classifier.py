"""SequenceClassifier: one label for a whole variable-length sequence.

    ids (N, T) --Embedding--> (N, T, E) --RNN/GRU/LSTM over lengths--> h_n
    feature = [h_n of the last layer, forward; backward]  (N, num_directions * H)
    logits  = Linear(Dropout(feature))                   (N, C)

The recurrent layer runs with ``lengths`` (PyTorch's packed-sequence semantics), so
``h_n`` is the state at each sequence's last real token and whatever sits past a
length (padding or garbage ids) changes neither the logits nor any gradient.

=========  ========================================
ids        (N, T) ints in [0, vocab_size)
lengths    (N,) ints in [1, T], or None for all T
logits     (N, C)
=========  ========================================

The model only glues layers together; every derivative lives in ``nn``/``functional``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import get_array_module, resolve_dtype
from ..checks import (
    check_array,
    check_choice,
    check_ids,
    check_lengths,
    check_positive_ints,
    check_probability,
    check_rank,
    check_shape,
)
from ..functional import softmax
from ..nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, inference_mode

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class _ClassifierCache(NamedTuple):
    batch: int


class SequenceClassifier(Module):
    """Embedding -> recurrent layer over ``lengths`` -> final hidden state -> Dropout -> Linear.

    Parameters (PyTorch-style names): ``embedding.weight``, ``rnn.*`` (the recurrent
    layer's own names, e.g. ``rnn.weight_ih_l0_reverse``), ``head.weight``,
    ``head.bias``.

    ``dropout`` acts between stacked recurrent layers (the recurrent layer's own
    ``dropout``) and on the feature fed to the head, in ``train()`` mode only.
    ``self.config`` holds the constructor arguments, so ``type(m)(**m.config)``
    builds the same architecture.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        padding_idx=0,
        dropout: float = 0.0,
        dtype=None,
    ):
        super().__init__()
        where = "SequenceClassifier"
        check_choice(cell, tuple(CELLS), where, "cell")
        check_positive_ints(where, vocab_size=vocab_size, num_classes=num_classes, embed_dim=embed_dim,
                            hidden_size=hidden_size, num_layers=num_layers)  # fmt: skip
        check_probability(dropout, where, "dropout")
        dtype = resolve_dtype(dtype)
        self.vocab_size, self.num_classes = int(vocab_size), int(num_classes)
        self.hidden_size, self.num_layers = int(hidden_size), int(num_layers)
        self.num_directions = 2 if bidirectional else 1
        self.cell = cell
        self.embedding = Embedding(vocab_size, embed_dim, padding_idx=padding_idx, dtype=dtype)
        self.rnn = CELLS[cell](
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            dtype=dtype,
        )
        self.dropout = Dropout(dropout)
        self.head = Linear(self.num_directions * hidden_size, num_classes, dtype=dtype)

    # ------------------------------------------------------------------ forward
    def forward(self, ids, lengths=None):
        """ids (N, T) ints, lengths (N,) or None -> logits (N, C)."""
        where = "SequenceClassifier"
        check_array(ids, where, "ids")
        check_rank(ids, 2, where, "ids", "(N, T) batch-first token ids")
        check_ids(ids, self.vocab_size, where, "ids")
        batch, steps = ids.shape
        if steps == 0:
            raise ValueError(f"{where} expects at least one time step, got ids of shape {tuple(ids.shape)}")
        if lengths is not None:
            lengths = check_lengths(lengths, batch, steps, where)
        xp = get_array_module(ids)

        embedded = self.embedding(ids)  # (N, T, E)
        _, h_n = self.rnn(embedded, lengths=lengths)
        if self.cell == "lstm":
            h_n = h_n[0]  # (L * dirs, N, H); the cell state is not used
        last = h_n[-self.num_directions :]  # the last layer: forward [, backward]
        feature = last[0] if self.num_directions == 1 else xp.concatenate([last[0], last[1]], axis=1)
        logits = self.head(self.dropout(feature))  # (N, C)
        self._save(_ClassifierCache(batch))
        return logits

    def backward(self, dlogits):
        """dlogits (N, C) -> None; accumulates the gradient of every parameter."""
        cache = self._peek()
        check_shape(dlogits, (cache.batch, self.num_classes), "SequenceClassifier.backward", "dlogits")
        self._restore()
        xp = get_array_module(dlogits)
        dfeature = self.dropout.backward(self.head.backward(dlogits))  # (N, dirs * H)
        H = self.hidden_size
        dh_n = xp.zeros((self.num_layers * self.num_directions, cache.batch, H), dtype=dfeature.dtype)
        top = (self.num_layers - 1) * self.num_directions  # index of the last layer's forward direction
        for direction in range(self.num_directions):
            dh_n[top + direction] = dfeature[:, direction * H : (direction + 1) * H]
        dstate = (dh_n, None) if self.cell == "lstm" else dh_n
        dembedded, _ = self.rnn.backward(None, dstate)
        self.embedding.backward(dembedded)
        return None

    # ------------------------------------------------------------------ inference
    def predict_proba(self, ids, lengths=None):
        """Class probabilities (N, C): softmax of the logits, under ``inference_mode`` (eval, no_grad).

        The previous train/eval mode is restored afterwards.
        """
        with inference_mode(self):
            return softmax(self.forward(ids, lengths), axis=-1)

    def predict(self, ids, lengths=None):
        """The most probable class of each sequence, (N,) int64."""
        return self.predict_proba(ids, lengths).argmax(axis=-1).astype("int64")

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
