"""Translation quality on a realistic parallel file: minirnn's default CLI run against the same model in PyTorch.

    python benchmarks/bench_quality_translate.py                  # a 5,000-source phrasebook file
    python benchmarks/bench_quality_translate.py --data fra.txt   # any source<TAB>target[<TAB>attribution] file
    python benchmarks/bench_quality_translate.py --quick          # a small smoke run
    python benchmarks/bench_quality_translate.py --json out.json

The file (unless ``--data``) is ``minirnn.data.datasets.phrasebook``: English -> French
written like a Tatoeba/ManyThings file, cased and punctuated, with several French
references for many sources and an attribution column.

1. minirnn: ``python -m minirnn train translate --data FILE`` with every default (a
   subprocess, exactly what a user runs); the CPU time of its training is the budget.
2. PyTorch: the same architecture (bidirectional GRU encoder over packed lengths, tanh
   bridge, Bahdanau attention ``Va(tanh(Wa q + Ua k))``, GRU cell decoder, embed 64,
   hidden 128), the same cased word tokens, vocabularies, split and batches, Adam 3e-3,
   batch 64, clip 1.0, no label smoothing (``--torch-label-smoothing 0.1`` gives it
   minirnn's default), trained for the same CPU time; after each epoch its
   validation BLEU is measured and the best epoch is kept, as minirnn keeps its best.
3. Both decode the held-out test sources greedily, the output is detokenised with the
   spacing learned from the training targets, and sacrebleu scores it (cased BLEU and
   chrF against all references of each source; exact match against any).

Both use one CPU thread (minirnn's default ``--threads 1``; ``torch.set_num_threads(1)``),
so on a quiet machine CPU time is wall time. The budget is counted in CPU time because
on a shared machine the wall time of the same work swings by several times with the
load of other processes, which would hand one side more training by chance.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402  (benchmarks may use numpy directly)


def make_file(folder: Path, sources: int, seed: int) -> Path:
    from minirnn.data.datasets import phrasebook, write_phrasebook_tsv

    path = folder / "eng-fra-phrasebook.tsv"
    write_phrasebook_tsv(path, phrasebook(sources, seed=seed), seed=seed)
    return path


def run_minirnn(data: Path, folder: Path, seed: int, extra: list) -> dict:
    """The default CLI run; returns its training wall time, epochs and printed test line."""
    command = [sys.executable, "-m", "minirnn", "train", "translate", "--data", str(data), "--out", str(folder),
               "--name", "bench", "--no-progress", "--seed", str(seed), *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"minirnn failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    found = re.search(r"\(training ([0-9.]+)s, ([0-9.]+)s of CPU\)", result.stdout)
    training, cpu = float(found.group(1)), float(found.group(2))
    epochs = len(re.findall(r"^  epoch +\d+/", result.stdout, flags=re.M))
    test_line = next(line for line in result.stdout.splitlines() if line.startswith("held-out test set"))
    return {"train_seconds": training, "train_cpu_seconds": cpu, "wall_seconds": wall, "epochs": epochs,
            "cli_test_line": test_line, "stdout": result.stdout, "checkpoint": folder / "bench" / "best.npz"}


def same_split(data: Path, seed: int):
    """The split, vocabularies and batches the CLI built (the same function, the same seed)."""
    from minirnn.cli.translating import split_sizes
    from minirnn.data import load_parallel_tsv
    from minirnn.train.recipes import seq2seq_data

    pairs = list(load_parallel_tsv(data, errors="skip"))
    size = split_sizes(pairs, lower=False, mode="word")
    return seq2seq_data(pairs, val_size=size, test_size=size, batch_size=64, seed=seed, lower=False)


def score_minirnn(checkpoint: Path, data) -> dict:
    from minirnn.io import load_checkpoint
    from minirnn.train.inference import score_translations

    ckpt = load_checkpoint(checkpoint)
    scores, _ = score_translations(ckpt.model, data.src_vocab, data.tgt_vocab, data.test_groups, lower=False,
                                   spacing=data.spacing)
    return dict(scores, best_epoch=ckpt.epoch)


# =========================================================================== PyTorch


def torch_model(src_vocab: int, tgt_vocab: int, embed: int = 64, hidden: int = 128):
    import torch
    from torch import nn

    class TorchSeq2Seq(nn.Module):
        """minirnn's Seq2Seq(cell="gru", bidirectional_encoder=True, attention="bahdanau"), layer for layer."""

        def __init__(self):
            super().__init__()
            H, E = hidden, embed
            self.src_embedding = nn.Embedding(src_vocab, E, padding_idx=0)
            self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * H, H)
            self.Wa, self.Ua, self.Va = nn.Linear(H, H), nn.Linear(2 * H, H), nn.Linear(H, 1)
            self.tgt_embedding = nn.Embedding(tgt_vocab, E, padding_idx=0)
            self.decoder = nn.GRUCell(E + 2 * H, H)
            self.out = nn.Linear(3 * H, tgt_vocab)

        def encode(self, src, lengths):
            steps = src.shape[1]
            packed = nn.utils.rnn.pack_padded_sequence(self.src_embedding(src), lengths, batch_first=True,
                                                       enforce_sorted=False)
            keys, h_n = self.encoder(packed)
            keys, _ = nn.utils.rnn.pad_packed_sequence(keys, batch_first=True, total_length=steps)  # (N, S, 2H)
            h = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=1)))
            pad = torch.arange(steps)[None, :] >= lengths[:, None]
            return keys, self.Ua(keys), pad, h

        def step(self, prev, h, keys, projected, pad):
            score = self.Va(torch.tanh(self.Wa(h)[:, None, :] + projected)).squeeze(-1)
            weights = torch.softmax(score.masked_fill(pad, float("-inf")), dim=1)
            context = torch.bmm(weights[:, None, :], keys)[:, 0]
            h = self.decoder(torch.cat([self.tgt_embedding(prev), context], dim=1), h)
            return self.out(torch.cat([h, context], dim=1)), h

        def forward(self, src, lengths, tgt_in):
            keys, projected, pad, h = self.encode(src, lengths)
            logits = []
            for t in range(tgt_in.shape[1]):
                step_logits, h = self.step(tgt_in[:, t], h, keys, projected, pad)
                logits.append(step_logits)
            return torch.stack(logits, dim=1)

        @torch.no_grad()
        def greedy(self, src, lengths, max_len, bos, eos):
            keys, projected, pad, h = self.encode(src, lengths)
            prev = torch.full((src.shape[0],), bos, dtype=torch.long)
            done = torch.zeros(src.shape[0], dtype=torch.bool)
            out = []
            for _ in range(max_len):
                logits, h = self.step(prev, h, keys, projected, pad)
                prev = torch.where(done, torch.zeros_like(prev), logits.argmax(dim=1))
                out.append(prev)
                done |= prev == eos
                if bool(done.all()):
                    break
            return torch.stack(out, dim=1).numpy()

    return TorchSeq2Seq()


def torch_translate(model, data, groups) -> list[str]:
    import torch

    from minirnn.data import detokenize, pad_sequences, tokenize
    from minirnn.train.inference import default_max_len

    model.eval()
    texts = []
    for start in range(0, len(groups), 64):
        tokens = [tokenize(g.source, lower=False) for g in groups[start : start + 64]]
        ids, lengths = pad_sequences([data.src_vocab.encode(t) for t in tokens])
        out = model.greedy(torch.as_tensor(ids), torch.as_tensor(lengths), default_max_len(int(lengths.max())),
                           data.tgt_vocab.bos_id, data.tgt_vocab.eos_id)
        texts += [detokenize(data.tgt_vocab.decode(row), spacing=data.spacing) for row in out]
    model.train()
    return texts


def train_torch(data, budget: float, seed: int, label_smoothing: float = 0.0) -> dict:
    """Train for ``budget`` seconds of CPU time, keeping the epoch with the best validation BLEU."""
    import torch
    from torch import nn

    from minirnn.train.metrics import translation_scores

    torch.manual_seed(seed)
    model = torch_model(len(data.src_vocab), len(data.tgt_vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    criterion = nn.CrossEntropyLoss(ignore_index=0, label_smoothing=label_smoothing)
    started, cpu_started, epoch, best = time.perf_counter(), time.process_time(), 0, (-1.0, None, 0)
    while time.process_time() - cpu_started < budget:
        epoch += 1
        for batch in data.train.iter_epoch(epoch):
            src, lengths, tgt_in, tgt_out = (torch.as_tensor(np.asarray(a)) for a in batch[:4])
            logits = model(src, lengths, tgt_in)
            loss = criterion(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if time.process_time() - cpu_started >= budget:
                break
        val = translation_scores(torch_translate(model, data, data.val_groups),
                                 [g.references for g in data.val_groups])["bleu"]
        if val > best[0]:
            best = (val, copy.deepcopy(model.state_dict()), epoch)
    model.load_state_dict(best[1])
    hypotheses = torch_translate(model, data, data.test_groups)
    scores = translation_scores(hypotheses, [g.references for g in data.test_groups])
    return dict(scores, epochs=epoch, best_epoch=best[2], train_seconds=time.perf_counter() - started,
                train_cpu_seconds=time.process_time() - cpu_started)


# =========================================================================== main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a parallel file (default: a generated phrasebook)")
    parser.add_argument("--sources", type=int, default=5000, help="distinct English sources of the phrasebook")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="600 sources, 2 epochs: a smoke run")
    parser.add_argument("--torch-label-smoothing", type=float, default=0.0,
                        help="label smoothing of the PyTorch model (0: the plain baseline; 0.1: minirnn's default)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_path = args.data or make_file(folder, 600 if args.quick else args.sources, args.seed)
        mini = run_minirnn(data_path, folder, args.seed, ["--epochs", "2"] if args.quick else [])
        data = same_split(data_path, args.seed)
        mini.update(score_minirnn(mini.pop("checkpoint"), data))
    stdout = mini.pop("stdout")
    reference = train_torch(data, mini["train_cpu_seconds"], args.seed, args.torch_label_smoothing)
    refs = sum(len(g.references) for g in data.test_groups)
    print(f"data: {data_path.name if args.data else 'phrasebook'}: {len(data.train_pairs)} training pairs, "
          f"{len(data.val_groups)} validation and {len(data.test_groups)} test sources ({refs} test references)")
    print(f"threads 1, torch {torch.__version__}; budget = minirnn's training CPU time "
          f"{mini['train_cpu_seconds']:.1f}s; label smoothing: minirnn 0.1 (its default), pytorch "
          f"{args.torch_label_smoothing}")
    print(f"{'system':<10}{'epochs':>8}{'kept':>6}{'CPU s':>8}{'wall s':>8}{'BLEU':>8}{'chrF':>8}{'exact':>8}")
    for name, r in (("minirnn", mini), ("pytorch", reference)):
        print(f"{name:<10}{r['epochs']:>8}{r['best_epoch']:>6}{r['train_cpu_seconds']:>8.1f}{r['train_seconds']:>8.1f}"
              f"{r['bleu']:>8.2f}{r['chrf']:>8.2f}{r['exact_match']:>8.1%}")
    print(f"minirnn's own report: {mini['cli_test_line']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"minirnn": mini, "pytorch": reference, "cli_stdout": stdout},
                                              indent=2, default=str))


if __name__ == "__main__":
    main()
