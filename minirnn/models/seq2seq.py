"""Seq2Seq: an RNN encoder, and a decoder that attends over it one step at a time.

Encoder (batch-first, over ``src_lengths``, packed semantics)::

    keys, enc_state = Encoder(Embedding(src))         keys (N, S, K), K = dirs * H

Decoder initial state, per layer l (``nn.Bridge`` only when the encoder is bidirectional)::

    s_0[l] = enc_h_n[l]                                             unidirectional encoder
    s_0[l] = tanh([enc_h_n[l, fwd]; enc_h_n[l, bwd]] W_l^T + b_l)   bidirectional: h
    c_0[l] = [enc_c_n[l, fwd]; enc_c_n[l, bwd]] V_l^T + d_l         bidirectional: LSTM c

Decoder step t (Bahdanau style: the query is the *previous* top-layer state)::

    context_t, a_t = Attention(query = s_{t-1}[top], keys, source mask)   (N, K), (N, S)
    x_t            = [Embedding(y_{t-1}); context_t]                      (N, E + K)
    s_t[0..L-1]    = a stack of GRUCell / LSTMCell (dropout between cells)
    logits_t       = out(Dropout([s_t[top]; context_t]))                  (N, V)

The output layer reads the context as well as the state (a one-layer version of
Bahdanau's "deep output"): a copy or reverse task then only has to route the
attended source token to the logits. With ``attention=None`` the decoder is a
plain encoder-decoder: x_t = Embedding(y_{t-1}) and logits_t = out(s_t[top]).

Attention uses the two-phase API: ``prepare`` projects the keys once per batch,
``attend`` runs per step; backward mirrors it (``backward_attend`` per step in
reverse, then ``backward_prepare`` once for the total dkeys), and dkeys flows into
the encoder's ``backward`` together with the gradient of its final state.

=============  ==========================================
src            (N, S) ints in [0, src_vocab_size)
src_lengths    (N,) ints in [1, S] (None: every row is S long)
tgt_in         (N, T) ints in [0, tgt_vocab_size), starting with BOS
logits         (N, T, V)
=============  ==========================================

The model only glues layers together; every derivative lives in ``nn``/``functional``.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import backend_of, get_array_module, get_rng, np, resolve_dtype, to_device
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
from ..nn import (
    GRU,
    LSTM,
    BahdanauAttention,
    Bridge,
    Dropout,
    Embedding,
    GRUCell,
    Linear,
    LSTMCell,
    LuongAttention,
    Module,
    no_grad,
)
from .decoding import beam_search, greedy_decode

ENCODERS = {"gru": GRU, "lstm": LSTM}
DECODER_CELLS = {"gru": GRUCell, "lstm": LSTMCell}
ATTENTIONS = ("bahdanau", "luong", None)


class DecoderState(NamedTuple):
    """The decoder's recurrent state: h (L, N, H), and c (L, N, H) for an LSTM (else None)."""

    h: object
    c: object = None

    def take(self, index) -> DecoderState:
        """The rows ``index`` (an int array over N) of every layer's state: beam reordering."""
        return DecoderState(self.h[:, index], None if self.c is None else self.c[:, index])


class Encoded(NamedTuple):
    """What ``Seq2Seq.encode`` returns and ``decode_step`` reads.

    outputs   (N, S, K)  the encoder outputs (the attention keys), 0 past each length
    mask      (N, S)     bool, True at real source positions
    lengths   (N,)       host int64 source lengths
    state     DecoderState, the decoder's initial state (after the bridge)
    memory    the attention's prepared keys (AttentionMemory), or None without attention
    """

    outputs: object
    mask: object
    lengths: object
    state: DecoderState
    memory: object


class _ForwardCache(NamedTuple):
    batch: int
    steps: int
    encoded: Encoded


class Seq2Seq(Module):
    """Encoder-decoder with optional attention, trained with teacher forcing.

    Submodules (their parameter names follow): ``src_embedding``, ``encoder``
    (GRU/LSTM), ``bridge`` (bidirectional encoder only), ``attention``
    (BahdanauAttention, or LuongAttention with kind="general" so that the key size
    2H of a bidirectional encoder fits), ``tgt_embedding``, ``decoder_l0`` ..
    ``decoder_l{L-1}`` (GRUCell/LSTMCell), ``dropout`` and ``out``.

    ``dropout`` acts between encoder layers, between decoder cells and on the input
    of ``out``, in ``train()`` mode only. ``teacher_forcing_ratio < 1`` turns on
    scheduled sampling in ``train()`` mode: at each step t > 0 every row is fed its
    target token with that probability and otherwise the argmax of its previous
    logits (drawn from ``minirnn.backend.get_rng()``; no gradient flows through the
    argmax). In ``eval()`` mode the forward always uses teacher forcing.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 128,
        cell: str = "gru",
        attention="bahdanau",
        num_layers: int = 1,
        bidirectional_encoder: bool = False,
        dropout: float = 0.0,
        padding_idx=0,
        teacher_forcing_ratio: float = 1.0,
        dtype=None,
    ):
        super().__init__()
        where = "Seq2Seq"
        check_choice(cell, tuple(ENCODERS), where, "cell")
        check_choice(attention, ATTENTIONS, where, "attention")
        check_positive_ints(where, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, embed_dim=embed_dim,
                            hidden_size=hidden_size, num_layers=num_layers)  # fmt: skip
        check_probability(dropout, where, "dropout")
        check_probability(teacher_forcing_ratio, where, "teacher_forcing_ratio")
        dtype = resolve_dtype(dtype)
        self.src_vocab_size, self.tgt_vocab_size = int(src_vocab_size), int(tgt_vocab_size)
        self.embed_dim, self.hidden_size, self.num_layers = int(embed_dim), int(hidden_size), int(num_layers)
        self.cell, self.attention_kind = cell, attention
        self.teacher_forcing_ratio = float(teacher_forcing_ratio)
        self.num_directions = 2 if bidirectional_encoder else 1
        self.key_size = self.num_directions * self.hidden_size  # K
        H, K, E = self.hidden_size, self.key_size, self.embed_dim

        self.src_embedding = Embedding(src_vocab_size, E, padding_idx=padding_idx, dtype=dtype)
        self.encoder = ENCODERS[cell](
            E,
            H,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional_encoder,
            dtype=dtype,
        )
        self.register_parameter("bridge", None)
        if bidirectional_encoder:
            self.bridge = Bridge(H, num_layers, lstm=cell == "lstm", dtype=dtype)
        self.register_parameter("attention", None)
        if attention == "bahdanau":
            self.attention = BahdanauAttention(H, K, attn_size=H, dtype=dtype)
        elif attention == "luong":
            self.attention = LuongAttention(H, K, kind="general", dtype=dtype)
        self.tgt_embedding = Embedding(tgt_vocab_size, E, padding_idx=padding_idx, dtype=dtype)
        context_size = K if attention is not None else 0
        for layer in range(num_layers):
            cell_input = E + context_size if layer == 0 else H
            setattr(self, f"decoder_l{layer}", DECODER_CELLS[cell](cell_input, H, dtype=dtype))
        self.dropout = Dropout(dropout)
        self.out = Linear(H + context_size, tgt_vocab_size, dtype=dtype)

    @property
    def _is_lstm(self) -> bool:
        return self.cell == "lstm"

    def _decoder_cells(self):
        return [getattr(self, f"decoder_l{layer}") for layer in range(self.num_layers)]

    # ------------------------------------------------------------------ checks
    def _check_src(self, src, src_lengths, where):
        check_array(src, where, "src")
        check_rank(src, 2, where, "src", "(N, S) batch-first source ids")
        if src.shape[1] == 0:
            raise ValueError(f"{where} expects at least one source position, got src of shape {tuple(src.shape)}")
        check_ids(src, self.src_vocab_size, where, "src ids")
        batch, steps = src.shape
        if src_lengths is None:
            return np.full(batch, steps, dtype=np.int64)
        return check_lengths(src_lengths, batch, steps, where)

    # ------------------------------------------------------------------ encoder
    def encode(self, src, src_lengths=None) -> Encoded:
        """Run the encoder and prepare the attention memory, for inference; see ``Encoded``.

        Runs under ``no_grad`` (it keeps no caches); ``forward`` uses the same code with caches.
        """
        lengths = self._check_src(src, src_lengths, "Seq2Seq.encode")
        with no_grad():
            return self._encode(src, lengths)

    def _encode(self, src, lengths) -> Encoded:
        xp = get_array_module(src)
        embedded = self.src_embedding(src)  # (N, S, E)
        outputs, enc_state = self.encoder(embedded, lengths=lengths)  # (N, S, K)
        h_n, c_n = enc_state if self._is_lstm else (enc_state, None)
        state = DecoderState(*self.bridge(h_n, c_n)) if self.bridge is not None else DecoderState(h_n, c_n)
        steps = src.shape[1]
        mask = to_device(np.arange(steps)[None, :] < lengths[:, None], backend_of(src))  # (N, S)
        mask = xp.asarray(mask)
        memory = None if self.attention is None else self.attention.prepare(outputs, mask)
        return Encoded(outputs, mask, lengths, state, memory)

    def repeat_encoded(self, encoded: Encoded, times: int) -> Encoded:
        """Each source row repeated ``times`` times in a row (row n -> rows n*times .. n*times+times-1).

        For beam search: the projected keys are gathered, not recomputed
        (``AttentionMemory.take``), and the result keeps no gradient state.
        """
        xp = get_array_module(encoded.outputs)
        outputs = xp.repeat(encoded.outputs, times, axis=0)
        mask = xp.repeat(encoded.mask, times, axis=0)
        lengths = np.repeat(encoded.lengths, times)
        index = xp.asarray(to_device(np.repeat(np.arange(len(encoded.lengths)), times), backend_of(outputs)))
        state = encoded.state.take(index)
        memory = None if encoded.memory is None else encoded.memory.take(index)
        return Encoded(outputs, mask, lengths, state, memory)

    # ------------------------------------------------------------------ one decoder step
    def decode_step(self, prev_ids, state: DecoderState, encoded: Encoded):
        """One decoder step, for inference: prev_ids (N,) ints -> (logits (N, V), new DecoderState,
        attn_weights (N, S)).

        ``state`` is ``encoded.state`` at the first step, then the state the previous step
        returned; ``attn_weights`` is None without attention. Runs under ``no_grad`` (it
        keeps no caches); ``forward`` runs the same code with caches.
        """
        where = "Seq2Seq.decode_step"
        check_array(prev_ids, where, "prev_ids")
        check_rank(prev_ids, 1, where, "prev_ids", "(N,)")
        check_ids(prev_ids, self.tgt_vocab_size, where, "prev_ids")
        check_shape(prev_ids, (encoded.outputs.shape[0],), where, "prev_ids (one per source row)")
        if not isinstance(state, DecoderState):
            raise TypeError(f"{where} expects state to be a DecoderState (encoded.state to start), got {type(state)}")
        expected = (self.num_layers, prev_ids.shape[0], self.hidden_size)
        check_shape(state.h, expected, where, "state.h (num_layers, N, hidden_size)")
        if self._is_lstm:
            check_shape(state.c, expected, where, "state.c (num_layers, N, hidden_size)")
        with no_grad():
            return self._step(prev_ids, state, encoded)

    def _step(self, prev_ids, state, encoded):
        xp = get_array_module(encoded.outputs)
        embedded = self.tgt_embedding(prev_ids)  # (N, E)
        if self.attention is not None:
            query = state.h[-1]  # s_{t-1} of the top layer, (N, H)
            context, attn_weights = self.attention.attend(query, encoded.memory)  # (N, K), (N, S)
            x = xp.concatenate([embedded, context], axis=1)  # (N, E + K)
        else:
            context, attn_weights, x = None, None, embedded
        hs, cs = [], []
        for layer, cell in enumerate(self._decoder_cells()):
            if layer > 0:
                x = self.dropout(x)
            if self._is_lstm:
                h, c = cell(x, (state.h[layer], state.c[layer]))
                cs.append(c)
            else:
                h = cell(x, state.h[layer])
            hs.append(h)
            x = h
        feature = x if context is None else xp.concatenate([x, context], axis=1)  # (N, H [+ K])
        logits = self.out(self.dropout(feature))  # (N, V)
        new_state = DecoderState(xp.stack(hs), xp.stack(cs) if self._is_lstm else None)
        return logits, new_state, attn_weights

    def _step_backward(self, dlogits, dstate: DecoderState, encoded: Encoded) -> DecoderState:
        """Backward of one ``_step``: dlogits (N, V) and the gradient of its new state -> that of the old."""
        xp = get_array_module(dlogits)
        has_context = self.attention is not None
        H, E = self.hidden_size, self.embed_dim
        dfeature = self.dropout.backward(self.out.backward(dlogits))  # (N, H [+ K])
        dh = list(dstate.h)  # per layer (N, H): gradient of the new state
        dh[-1] = dh[-1] + dfeature[:, :H]
        dcontext = dfeature[:, H:] if has_context else None
        dc = list(dstate.c) if self._is_lstm else None
        dh_prev, dc_prev = [None] * self.num_layers, [None] * self.num_layers
        cells = self._decoder_cells()
        for layer in reversed(range(self.num_layers)):
            if self._is_lstm:
                dx, (dh_prev[layer], dc_prev[layer]) = cells[layer].backward((dh[layer], dc[layer]))
            else:
                dx, dh_prev[layer] = cells[layer].backward(dh[layer])
            if layer > 0:
                dh[layer - 1] = dh[layer - 1] + self.dropout.backward(dx)
        if has_context:
            dcontext = dcontext + dx[:, E:]
            dquery = self.attention.backward_attend(dcontext)  # accumulates dkeys into the memory
            dh_prev[-1] = dh_prev[-1] + dquery
            dx = dx[:, :E]
        self.tgt_embedding.backward(dx)
        return DecoderState(xp.stack(dh_prev), xp.stack(dc_prev) if self._is_lstm else None)

    # ------------------------------------------------------------------ training
    def forward(self, src, src_lengths, tgt_in):
        """Teacher-forced logits (N, T, V) for decoder inputs ``tgt_in`` (N, T) (BOS first)."""
        where = "Seq2Seq"
        lengths = self._check_src(src, src_lengths, where)
        check_array(tgt_in, where, "tgt_in")
        check_rank(tgt_in, 2, where, "tgt_in", "(N, T) batch-first target ids")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"{where} expects src and tgt_in with the same batch size, got {src.shape[0]} and {tgt_in.shape[0]}"
            )
        if tgt_in.shape[1] == 0:
            raise ValueError(f"{where} expects at least one target step, got tgt_in of shape {tuple(tgt_in.shape)}")
        check_ids(tgt_in, self.tgt_vocab_size, where, "tgt_in ids")
        xp = get_array_module(src)
        batch, steps = tgt_in.shape

        encoded = self._encode(src, lengths)
        state = encoded.state
        sampling = self.training and self.teacher_forcing_ratio < 1.0
        logits = []
        for t in range(steps):
            prev_ids = tgt_in[:, t]
            if sampling and t > 0:
                use_target = get_rng().random(batch) < self.teacher_forcing_ratio  # host coin per row
                use_target = xp.asarray(to_device(use_target, backend_of(src)))
                prev_ids = xp.where(use_target, prev_ids, logits[-1].argmax(axis=1)).astype(tgt_in.dtype)
            step_logits, state, _ = self._step(prev_ids, state, encoded)
            logits.append(step_logits)
        self._save(_ForwardCache(batch, steps, encoded))
        return xp.stack(logits, axis=1)  # (N, T, V)

    def backward(self, dlogits):
        """BPTT through every decoder step, the attention and the encoder; returns None.

        dlogits (N, T, V). Accumulates the gradient of every parameter.
        """
        cache = self._peek()
        check_shape(dlogits, (cache.batch, cache.steps, self.tgt_vocab_size), "Seq2Seq.backward", "dlogits")
        self._restore()
        xp = get_array_module(dlogits)
        encoded = cache.encoded
        zeros = xp.zeros((self.num_layers, cache.batch, self.hidden_size), dtype=dlogits.dtype)
        dstate = DecoderState(zeros, zeros if self._is_lstm else None)
        for t in reversed(range(cache.steps)):
            dstate = self._step_backward(dlogits[:, t], dstate, encoded)
        # dstate is now the gradient of the decoder's initial state.
        dkeys = None if self.attention is None else self.attention.backward_prepare(encoded.memory)  # (N, S, K)
        if self.bridge is not None:
            dh_n, dc_n = self.bridge.backward(dstate.h, dstate.c)
        else:
            dh_n, dc_n = dstate.h, dstate.c
        dembedded, _ = self.encoder.backward(dkeys, (dh_n, dc_n) if self._is_lstm else dh_n)
        self.src_embedding.backward(dembedded)
        return None

    # ------------------------------------------------------------------ decoding
    def greedy_decode(self, src, src_lengths, max_len: int, bos_id: int, eos_id: int):
        """Greedy decoding; returns ``(ids, attn_weights)``. See ``models.decoding.greedy_decode``."""
        return greedy_decode(self, src, src_lengths, max_len, bos_id, eos_id)

    def beam_search(
        self, src, src_lengths, max_len: int, bos_id: int, eos_id: int, beam_size: int = 4, length_penalty: float = 1.0
    ):
        """Beam search; returns ``(ids, attn_weights)``. See ``models.decoding.beam_search``."""
        return beam_search(self, src, src_lengths, max_len, bos_id, eos_id, beam_size, length_penalty)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
