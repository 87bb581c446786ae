"""Checkpoints: round trips give identical outputs; bad files are refused with a clear reason."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import minirnn as mr
from minirnn.data import Vocab
from minirnn.io import CheckpointError, load_checkpoint, save_checkpoint
from minirnn.models import Seq2Seq, SequenceClassifier


def tiny_seq2seq(**kw):
    return Seq2Seq(9, 8, embed_dim=4, hidden_size=5, **kw)


def batch(rng):
    src = rng.integers(1, 9, size=(3, 4))
    tgt_in = rng.integers(1, 8, size=(3, 5))
    return src, np.array([4, 2, 3]), tgt_in


def one_step(model, opt, rng):
    src, lengths, tgt_in = batch(rng)
    model.zero_grad()
    logits = model(src, lengths, tgt_in)
    crit = mr.CrossEntropyLoss()
    crit(logits, rng.integers(0, 8, size=(3, 5)))
    model.backward(crit.backward())
    opt.step()


def test_round_trip_identical_outputs_and_state(tmp_path, rng):
    model = tiny_seq2seq(cell="lstm", bidirectional_encoder=True)
    opt = mr.optim.Adam(model.parameters(), lr=1e-2)
    one_step(model, opt, rng)
    vocabs = {"src": Vocab(["a", "b", "c", "d", "e"]), "tgt": Vocab(["x", "y", "z", "w"])}  # 9 and 8 ids
    history = {"epoch": [1], "loss": [1.5]}
    gen = np.random.default_rng(7)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt, vocabs, epoch=1, history=history,
                           extra={"task": "demo"}, rng={"g": gen.bit_generator.state})
    ckpt = load_checkpoint(path)

    assert type(ckpt.model) is Seq2Seq and ckpt.model.config == model.config
    src, lengths, tgt_in = batch(np.random.default_rng(5))
    model.eval(), ckpt.model.eval()
    assert np.array_equal(model(src, lengths, tgt_in), ckpt.model(src, lengths, tgt_in))
    assert ckpt.epoch == 1 and ckpt.history == history and ckpt.extra == {"task": "demo"}
    assert ckpt.vocabs["src"] == vocabs["src"] and ckpt.vocabs["tgt"].itos == vocabs["tgt"].itos
    restored = np.random.default_rng(0)
    restored.bit_generator.state = ckpt.rng["g"]
    assert restored.random() == gen.random()

    # The optimiser continues exactly: one more identical step from both gives identical weights.
    opt2 = mr.optim.Adam(ckpt.model.parameters(), lr=0.5)
    ckpt.restore_optimizer(opt2)
    assert opt2.lr == 1e-2
    model.train(), ckpt.model.train()
    one_step(model, opt, np.random.default_rng(9))
    one_step(ckpt.model, opt2, np.random.default_rng(9))
    for (name, a), (_, b) in zip(model.named_parameters(), ckpt.model.named_parameters()):
        assert np.array_equal(a.data, b.data), name


def test_plain_layers_and_classifier_round_trip(tmp_path, rng):
    lstm = mr.LSTM(3, 4, num_layers=2, proj_size=2, dtype="float64")
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "lstm.npz", lstm))
    x = rng.standard_normal((5, 2, 3))
    assert np.array_equal(lstm(x)[0], ckpt.model(x)[0])
    assert ckpt.model.dtype == np.float64 and ckpt.optimizer_state is None

    clf = SequenceClassifier(10, 3, embed_dim=4, hidden_size=6, bidirectional=True)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "clf.npz", clf, mr.optim.SGD(clf.parameters(), lr=0.1)))
    ids = rng.integers(1, 10, size=(2, 5))
    assert np.array_equal(clf.eval()(ids, [5, 3]), ckpt.model.eval()(ids, [5, 3]))
    assert ckpt.optimizer_class == "SGD"


def test_no_pickle_in_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", tiny_seq2seq())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert "__minirnn__.npy" in names and any(n.startswith("param/") for n in names)
    with np.load(path, allow_pickle=False) as npz:  # loads without pickle
        meta = json.loads(npz["__minirnn__"].tobytes())
    assert meta["format"] == "minirnn-checkpoint" and meta["version"] == 1
    assert meta["model"]["class"].endswith("Seq2Seq")


def test_truncated_file_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", tiny_seq2seq())
    data = open(path, "rb").read()
    for cut in (len(data) // 2, len(data) - 10, 10):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|corrupt"):
            load_checkpoint(bad)


def test_foreign_files_refused(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.arange(3))
    with pytest.raises(CheckpointError, match="not a minirnn checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        load_checkpoint(tmp_path / "random.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.npz")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.npz")


def _rewrite(path, out, change):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["__minirnn__"].tobytes())
    change(meta, arrays)
    arrays["__minirnn__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


def test_pickle_holding_newer_and_hostile_files_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", tiny_seq2seq())
    pickled = _rewrite(path, tmp_path / "pickled.npz",
                       lambda m, a: a.__setitem__("param/evil", np.array([{"x": 1}], dtype=object)))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(pickled)
    newer = _rewrite(path, tmp_path / "newer.npz", lambda m, a: m.__setitem__("version", 99))
    with pytest.raises(CheckpointError, match="version 99.*upgrade"):
        load_checkpoint(newer)
    not_an_object = tmp_path / "list.npz"
    np.savez(not_an_object, __minirnn__=np.frombuffer(b"[1, 2]", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="must be a JSON object, got list"):
        load_checkpoint(not_an_object)
    hostile = _rewrite(path, tmp_path / "hostile.npz", lambda m, a: m["model"].__setitem__("class", "os.system"))
    with pytest.raises(CheckpointError, match="not a registered model class"):
        load_checkpoint(hostile)


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    model = tiny_seq2seq()
    path = save_checkpoint(tmp_path / "ck.npz", model)
    before = open(path, "rb").read()

    def crash(*args, **kwargs):
        args[0].write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, tiny_seq2seq(cell="lstm"))
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["ck.npz"]  # no temporary file left behind
