"""End to end: one training step of the demo Seq2Seq model, minirnn against PyTorch.

    python benchmarks/bench_train_step.py            # the demo model's settings
    python benchmarks/bench_train_step.py --quick    # a fast smoke run
    python benchmarks/bench_train_step.py --json out.json

The model is the ``minirnn translate`` demo's: a bidirectional GRU encoder over
ragged source sentences (packed lengths), a tanh bridge to the decoder state, a GRU
cell decoder with Bahdanau attention, teacher forcing, embed 64, hidden 128, batch
64 (``--cell lstm`` for the LSTM variant). The PyTorch model below mirrors it layer
for layer (``nn.GRU`` with ``pack_padded_sequence``, ``nn.GRUCell``, the same
attention ``Va(tanh(Wa q + Ua k))`` with the keys projected once per batch), so both
do the same work. One training step is: forward, mean cross-entropy ignoring
padding, backward, gradient clipping at norm 1, an Adam step and zero_grad.

Timing is interleaved, best of ``--rounds`` round medians of ``--reps`` steps, as in
``bench_rnn.py``. A third column times minirnn with the encoder on the readable
reference loop (``impl="reference"``), which shows what the fast path buys end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402  (benchmarks may use numpy directly)

import minirnn as mr  # noqa: E402
from minirnn.cli.options import positive_int  # noqa: E402  (argument checks with clear errors)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import add_threads_option  # noqa: E402

SETTINGS = dict(src_vocab=60, tgt_vocab=40, embed=64, hidden=128, batch=64, src_len=30, tgt_len=12)


def make_batch(settings, seed=0):
    rng = np.random.default_rng(seed)
    n, s, t = settings["batch"], settings["src_len"], settings["tgt_len"]
    lengths = rng.integers(s // 3, s + 1, size=n)
    lengths[0] = s
    src = rng.integers(3, settings["src_vocab"], size=(n, s))
    src[np.arange(s)[None, :] >= lengths[:, None]] = 0  # padding id 0
    tgt = rng.integers(3, settings["tgt_vocab"], size=(n, t + 1))
    tgt[:, 0] = 1  # BOS
    return src, lengths, tgt[:, :-1], tgt[:, 1:]


def minirnn_step_fn(settings, cell, encoder_impl="fast"):
    mr.manual_seed(0)
    model = mr.models.Seq2Seq(settings["src_vocab"], settings["tgt_vocab"], embed_dim=settings["embed"],
                              hidden_size=settings["hidden"], cell=cell, attention="bahdanau",
                              bidirectional_encoder=True, dtype="float32")
    model.encoder.impl = encoder_impl
    model.train()
    crit = mr.CrossEntropyLoss(ignore_index=0)
    opt = mr.optim.Adam(model.parameters(), lr=3e-3)
    src, lengths, tgt_in, tgt_out = make_batch(settings)

    def step():
        logits = model(src, lengths, tgt_in)
        loss = crit(logits, tgt_out)
        model.backward(crit.backward())
        mr.optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return loss

    return step


def torch_step_fn(settings, cell):
    import torch
    from torch import nn

    torch.manual_seed(0)
    E, H, V_src, V_tgt = settings["embed"], settings["hidden"], settings["src_vocab"], settings["tgt_vocab"]
    rnn_cls, cell_cls = (nn.GRU, nn.GRUCell) if cell == "gru" else (nn.LSTM, nn.LSTMCell)

    class TorchSeq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embedding = nn.Embedding(V_src, E, padding_idx=0)
            self.encoder = rnn_cls(E, H, batch_first=True, bidirectional=True)
            self.bridge_h = nn.Linear(2 * H, H)
            self.bridge_c = nn.Linear(2 * H, H) if cell == "lstm" else None
            self.Wa, self.Ua, self.Va = nn.Linear(H, H), nn.Linear(2 * H, H), nn.Linear(H, 1)
            self.tgt_embedding = nn.Embedding(V_tgt, E, padding_idx=0)
            self.decoder = cell_cls(E + 2 * H, H)
            self.out = nn.Linear(3 * H, V_tgt)

        def forward(self, src, lengths, tgt_in):
            steps = src.shape[1]
            packed = nn.utils.rnn.pack_padded_sequence(self.src_embedding(src), lengths, batch_first=True,
                                                       enforce_sorted=False)
            keys, state = self.encoder(packed)
            keys, _ = nn.utils.rnn.pad_packed_sequence(keys, batch_first=True, total_length=steps)  # (N, S, 2H)
            h_n = state[0] if cell == "lstm" else state
            h = torch.tanh(self.bridge_h(torch.cat([h_n[0], h_n[1]], dim=1)))
            c = self.bridge_c(torch.cat([state[1][0], state[1][1]], dim=1)) if cell == "lstm" else None
            pad = torch.arange(steps)[None, :] >= lengths[:, None]
            projected = self.Ua(keys)
            logits = []
            for t in range(tgt_in.shape[1]):
                score = self.Va(torch.tanh(self.Wa(h)[:, None, :] + projected)).squeeze(-1)
                weights = torch.softmax(score.masked_fill(pad, float("-inf")), dim=1)
                context = torch.bmm(weights[:, None, :], keys)[:, 0]
                x = torch.cat([self.tgt_embedding(tgt_in[:, t]), context], dim=1)
                if cell == "lstm":
                    h, c = self.decoder(x, (h, c))
                else:
                    h = self.decoder(x, h)
                logits.append(self.out(torch.cat([h, context], dim=1)))
            return torch.stack(logits, dim=1)

    model = TorchSeq2Seq()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    crit = nn.CrossEntropyLoss(ignore_index=0)
    src, lengths, tgt_in, tgt_out = (torch.as_tensor(a) for a in make_batch(settings))

    def step():
        logits = model(src, lengths, tgt_in)
        loss = crit(logits.reshape(-1, V_tgt), tgt_out.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return float(loss.detach())

    return step


def time_median(step, reps, clock=time.perf_counter):
    times = []
    for _ in range(reps):
        start = clock()
        step()
        times.append(clock() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--reps", type=positive_int, default=5)
    add_threads_option(parser)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: the process's CPU seconds, steadier on a loaded machine (use with --threads 1)")
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(limits=args.threads, user_api="blas")  # NumPy's BLAS on the same threads as torch
    rounds, reps = (2, 2) if args.quick else (args.rounds, args.reps)
    steps = {
        "minirnn": minirnn_step_fn(SETTINGS, args.cell),
        "torch": torch_step_fn(SETTINGS, args.cell),
        "minirnn (reference encoder)": minirnn_step_fn(SETTINGS, args.cell, encoder_impl="reference"),
    }
    for step in steps.values():
        step()  # warm-up
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            best[name] = min(best[name], time_median(step, reps, clock))
    print(f"Seq2Seq train step ({args.cell}, bidirectional encoder, Bahdanau), settings {SETTINGS}")
    print(f"clock={args.clock}, threads={args.threads}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
          f"numpy={np.__version__}, torch={torch.__version__}")
    for name, value in best.items():
        print(f"{name:<30}{value * 1e3:>9.1f} ms   ratio to torch {value / best['torch']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(settings=SETTINGS, cell=args.cell, threads=args.threads,
                                                   ms={k: v * 1e3 for k, v in best.items()}), indent=2))


if __name__ == "__main__":
    main()
