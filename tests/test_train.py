"""The training loop: learning, exact resume, seeding, early stopping, divergence, metrics."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import minirnn as mr
from minirnn.data import BucketIterator
from minirnn.io import load_checkpoint
from minirnn.models import Seq2Seq, SequenceClassifier
from minirnn.train import (
    EarlyStopping,
    TrainingDiverged,
    evaluate,
    exact_match_counts,
    fit,
    strip_sequence,
    token_counts,
)


def reverse_task(n, seed, vocab=10):
    """Source: random ids in [4, vocab); target: the source reversed (ids 0-3 are the specials)."""
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, vocab, size=rng.integers(2, 6)) for _ in range(n)]
    return src, [s[::-1].copy() for s in src]


def seq2seq_setup(dropout=0.1, seed=0):
    src, tgt = reverse_task(96, seed=1)
    train = BucketIterator(src, targets=tgt, batch_size=16, seed=3)
    vsrc, vtgt = reverse_task(24, seed=2)
    val = BucketIterator(vsrc, targets=vtgt, batch_size=24, shuffle=False)
    mr.manual_seed(seed)
    model = Seq2Seq(10, 10, embed_dim=8, hidden_size=16, dropout=dropout)
    return model, mr.optim.Adam(model.parameters(), lr=1e-2), train, val


def run(epochs, **kw):
    model, opt, train, val = seq2seq_setup()
    history = fit(model, train, val, optimizer=opt, epochs=epochs, clip=1.0, bos_id=2, eos_id=3, seed=5,
                  progress=False, **kw)
    return model, history


def test_fit_learns_and_reports_every_metric():
    _, history = run(4)
    for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_exact_match", "lr", "time"):
        assert len(history[key]) == 4, key
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["val_accuracy"][-1] > history["val_accuracy"][0]
    assert 0.0 <= history["val_exact_match"][-1] <= 1.0
    assert history.best_epoch is not None


def test_same_seed_same_losses_and_resume_is_exact(tmp_path):
    _, full = run(4)
    _, again = run(4)
    assert full["loss"] == again["loss"] and full["val_loss"] == again["val_loss"]

    run(2, checkpoint_dir=tmp_path)  # interrupted after epoch 2 ...
    assert load_checkpoint(tmp_path / "last.npz").epoch == 2
    _, resumed = run(4, checkpoint_dir=tmp_path, resume=True)  # ... and resumed in a new process-like setup
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert resumed["loss"] == full["loss"]  # bit for bit
    assert resumed["val_exact_match"] == full["val_exact_match"]
    assert os.path.exists(tmp_path / "best.npz")


def test_nan_loss_stops_with_clear_message_and_keeps_last_good_checkpoint(tmp_path):
    model, opt, train, val = seq2seq_setup()

    def poison(record, history):
        if record["epoch"] == 1:
            model.out.weight.data[...] = np.nan

    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 1.*last good checkpoint.*last\.npz \(epoch 1\)"):
        fit(model, train, val, optimizer=opt, epochs=3, bos_id=2, eos_id=3, checkpoint_dir=tmp_path,
            progress=False, callback=poison)
    ckpt = load_checkpoint(tmp_path / "last.npz")
    assert ckpt.epoch == 1
    assert all(np.isfinite(p.data).all() for p in ckpt.model.parameters())


def test_early_stopping():
    model, _, train, val = seq2seq_setup()
    frozen = mr.optim.SGD(model.parameters(), lr=0.0)  # nothing changes, so nothing improves
    history = fit(model, train, val, optimizer=frozen, epochs=10, patience=2, monitor="val_loss", progress=False,
                  bos_id=2, eos_id=3)
    assert history.stopped_early and len(history["epoch"]) == 3
    assert "val_loss" in history.stop_reason


def test_classify_and_plain_batch_lists():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 6, size=rng.integers(2, 8)) for _ in range(64)]
    labels = [int((s == 5).any()) for s in seqs]
    it = BucketIterator(seqs, labels=labels, batch_size=16, seed=0)
    batches = list(it.iter_epoch(0))  # a plain list: fit reorders it with its own seeded generator
    model = SequenceClassifier(6, 2, embed_dim=4, hidden_size=8)
    history = fit(model, batches, batches, task="classify", optimizer=mr.optim.Adam(model.parameters(), lr=0.02),
                  epochs=3, progress=False)
    assert "val_exact_match" not in history and len(history["val_accuracy"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    scores = evaluate(model, batches, task="classify")
    assert set(scores) == {"loss", "accuracy"} and math.isfinite(scores["loss"])


def test_bad_arguments_are_named():
    model, opt, train, _ = seq2seq_setup()
    with pytest.raises(ValueError, match="task"):
        fit(model, train, optimizer=opt, task="regress")
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, train)
    with pytest.raises(KeyError, match="tgt_out"):
        fit(model, [{"src": np.zeros((1, 2), int)}], optimizer=opt, epochs=1, progress=False)
    with pytest.raises(ValueError, match="fit expects epochs to be a non-negative integer, got 2.5"):
        fit(model, train, optimizer=opt, epochs=2.5)
    with pytest.raises(ValueError, match="monitor='val_bleu'.*val_loss"):  # a typo must not silently never improve
        fit(model, train, train, optimizer=opt, epochs=1, monitor="val_bleu", progress=False)


def test_metrics():
    logits = np.zeros((1, 3, 4))
    logits[0, [0, 1, 2], [1, 2, 3]] = 1
    assert token_counts(logits, np.array([[1, 0, 3]]), pad_id=0) == (2, 2)
    assert strip_sequence([5, 6, 3, 0, 7], eos_id=3) == (5, 6)
    decoded = np.array([[5, 6, 3, 0], [5, 3, 0, 0]])
    target = np.array([[5, 6, 3], [5, 6, 3]])
    assert exact_match_counts(decoded, target, eos_id=3) == (1, 2)


def test_resume_with_a_plain_batch_list_restores_the_shuffle(tmp_path):
    """With a list, fit shuffles the order itself; its generator's state is part of the checkpoint."""

    def go(epochs, **kw):
        model, opt, train, val = seq2seq_setup()
        batches = list(train.iter_epoch(0))
        return fit(model, batches, optimizer=opt, epochs=epochs, seed=11, progress=False, **kw)

    full = go(3)
    go(1, checkpoint_dir=tmp_path)
    resumed = go(3, checkpoint_dir=tmp_path, resume=tmp_path / "last.npz")
    assert resumed["loss"] == full["loss"]


class RecordingBar:
    """A progress bar that remembers what fit told it."""

    def __init__(self, log, total, epoch):
        self.log, self.total, self.epoch, self.steps, self.postfix, self.closed = log, total, epoch, 0, {}, False
        log.append(self)

    def update(self, n=1, **postfix):
        self.steps += n
        self.postfix = postfix

    def close(self):
        self.closed = True


def test_progress_is_a_factory_the_caller_passes_in():
    bars = []
    model, opt, train, val = seq2seq_setup()
    history = fit(model, train, val, optimizer=opt, epochs=2, bos_id=2, eos_id=3,
                  progress=lambda total, epoch: RecordingBar(bars, total, epoch))
    assert [b.epoch for b in bars] == [1, 2]
    assert all(b.total == len(train) and b.steps == len(train) and b.closed for b in bars)
    assert bars[-1].postfix["loss"] == pytest.approx(history["loss"][-1])  # the running mean ends at the epoch's
    with pytest.raises(TypeError, match="progress must be a callable"):
        fit(model, train, optimizer=opt, progress="yes")


def test_fit_never_imports_tqdm_or_prints(tmp_path):
    """Nothing below the CLI prints: a whole run (progress=True, the old default) writes nothing."""
    script = (
        "import sys, numpy as np, minirnn as mr\n"
        "from minirnn.data import BucketIterator\n"
        "rng = np.random.default_rng(0)\n"
        "src = [rng.integers(4, 10, size=3) for _ in range(16)]\n"
        "m = mr.models.Seq2Seq(10, 10, embed_dim=4, hidden_size=8)\n"
        "it = BucketIterator(src, targets=src, batch_size=8)\n"
        "mr.fit(m, it, it, optimizer=mr.optim.Adam(m.parameters()), epochs=1, bos_id=2, eos_id=3, progress=True)\n"
        "assert 'tqdm' not in sys.modules, 'fit imported tqdm'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_cli_tqdm_adapter_draws_only_on_a_terminal():
    from minirnn.cli.common import tqdm_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert tqdm_progress(3, stream=io.StringIO()) is None  # a log file or a pipe gets no bar
    assert tqdm_progress(3, enabled=False, stream=Terminal()) is None
    screen = Terminal()
    bar = tqdm_progress(3, stream=screen)(5, 2)
    bar.update(1, loss=1.23456)
    bar.close()
    assert "epoch 2/3" in screen.getvalue()


def test_val_metrics_join_the_record_and_can_be_monitored(tmp_path):
    model, opt, train, val = seq2seq_setup()
    modes, scores = [], iter([3.0, 7.0, 5.0, 5.0])

    def bleu(m):
        modes.append(m.training)
        return {"val_bleu": next(scores)}

    history = fit(model, train, val, optimizer=opt, epochs=4, bos_id=2, eos_id=3, val_metrics=bleu,
                  monitor="val_bleu", patience=2, checkpoint_dir=tmp_path)
    assert modes == [False, False, False, False] and model.training  # inference mode inside, train mode after
    assert history["val_bleu"] == [3.0, 7.0, 5.0, 5.0]
    assert (history.best_epoch, history.best_value) == (2, 7.0)  # not a loss: higher is better
    assert history.stopped_early and "val_bleu" in history.stop_reason
    assert load_checkpoint(tmp_path / "best.npz").epoch == 2
    assert "Val bleu ↑" in mr.viz.epoch_table(history)


@pytest.mark.parametrize("returned, error", [
    (0.5, "must return a dict"),
    ({"val_loss": 1.0}, "'val_loss', which is not a new name"),
    ({"val_bleu": "high"}, "val_bleu='high'; values must be numbers"),
])
def test_val_metrics_bad_returns_are_named(returned, error):
    model, opt, train, val = seq2seq_setup()
    with pytest.raises((TypeError, ValueError), match=error):
        fit(model, train, val, optimizer=opt, epochs=1, bos_id=2, eos_id=3, val_metrics=lambda m: returned)


def test_early_stopping_object():
    stop = EarlyStopping("val_loss", patience=2)
    assert [stop.update({"epoch": e, "val_loss": v}) for e, v in enumerate([3.0, 2.0, 2.5, 2.0], 1)] == [
        True, True, False, False]
    assert stop.stopped and stop.best_epoch == 2 and "best 2.0000 at epoch 2" in stop.reason
    again = EarlyStopping("val_loss", patience=2)
    again.load_state_dict(stop.state_dict())
    assert (again.best_value, again.bad_epochs, again.stopped) == (2.0, 2, True)
    assert EarlyStopping("val_accuracy").update({"val_accuracy": 0.5}) and not EarlyStopping("x").is_better(math.nan)
