"""Files from strangers: a checkpoint is data, and no file can run code, exhaust memory or crash the CLI.

Every crafted checkpoint of ``hostile_files.hostile_cases()`` is refused by the
library with a ``CheckpointError`` naming the file, and by the CLI with exit status
2 and one line, each within a second and without writing anything. Refusing a
config that claims a huge model allocates almost nothing (peak RSS, in a
subprocess). Loading calls only registered constructors, builds the model
shape-only, and draws no random numbers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_files import craft, hostile_cases, meta_of, read_members, small_seq2seq_checkpoint, write_members

import minirnn as mr
from minirnn import backend
from minirnn.cli import main
from minirnn.data import Vocab
from minirnn.io import CheckpointError, load_checkpoint, register_model, registered_models, save_checkpoint
from minirnn.models import Seq2Seq, SequenceClassifier

ROOT = Path(__file__).resolve().parents[1]
CASES = hostile_cases()


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """Every hostile case written to its own file, beside a valid base checkpoint."""
    folder = tmp_path_factory.mktemp("hostile")
    base = small_seq2seq_checkpoint(folder / "base.npz")
    return folder, {name: craft(base, folder / f"{name}.npz", change) for name, change, _ in CASES}


def _snapshot(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(folder).rglob("*"))


@pytest.mark.parametrize("name, reason", [(name, reason) for name, _, reason in CASES], ids=[c[0] for c in CASES])
def test_library_refuses_each_crafted_file(crafted, name, reason, tmp_path, monkeypatch):
    folder, paths = crafted
    monkeypatch.chdir(tmp_path)  # where a relative path in the file would land
    before, dtype, rng_state = _snapshot(folder), mr.get_default_dtype(), backend.get_rng().bit_generator.state
    started = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(paths[name])
    elapsed = time.perf_counter() - started
    message = str(info.value)
    assert re.search(reason, message), message
    assert paths[name] in message and "\n" not in message
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s to refuse"
    # no side effect: nothing written anywhere, no global state changed, no random draw
    assert _snapshot(folder) == before and list(tmp_path.iterdir()) == []
    assert mr.get_default_dtype() == dtype and backend.get_rng().bit_generator.state == rng_state


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_cli_refuses_each_crafted_file_in_one_line(crafted, name, tmp_path, monkeypatch, capsys):
    folder, paths = crafted
    monkeypatch.chdir(tmp_path)
    before = _snapshot(folder)
    started = time.perf_counter()
    assert main(["translate", paths[name], "hello"]) == 2
    elapsed = time.perf_counter() - started
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"error: {paths[name]}") and "Traceback" not in captured.err
    assert elapsed < 1.0 and _snapshot(folder) == before and list(tmp_path.iterdir()) == []


def test_the_reported_exploit_from_a_real_process(crafted, tmp_path):
    """``python -m minirnn translate evil.npz "hello"`` once ran a whole train command."""
    _, paths = crafted
    result = subprocess.run([sys.executable, "-m", "minirnn", "translate", paths["cli-main"], "hello"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {paths['cli-main']}: refusing the model class 'minirnn.cli.main': it is not a registered model "
        "class (loading only calls the constructors of classes registered with minirnn.register_model)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_cli_names_a_directory_a_device_and_a_model_it_cannot_run(tmp_path, capsys):
    assert main(["translate", str(tmp_path), "hello"]) == 2
    assert "is a directory" in capsys.readouterr().err
    if os.path.exists("/dev/zero"):
        assert main(["translate", "/dev/zero", "hello"]) == 2
        assert "/dev/zero is not a regular file" in capsys.readouterr().err
    lstm = save_checkpoint(tmp_path / "lstm.npz", mr.LSTM(3, 4), vocabs={"src": Vocab(), "tgt": Vocab()})
    for command in ("translate", "predict", "trace"):
        assert main([command, lstm, "hello"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds a LSTM" in err, err


def test_zip_bomb_refused_from_its_directory_before_inflating(crafted, monkeypatch):
    _, paths = crafted
    inflated = []
    import zlib

    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda *a, **k: inflated.append(1) or real(*a, **k))
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_checkpoint(paths["zip-bomb"])
    assert inflated == []


def test_metadata_member_over_its_limit(tmp_path, monkeypatch):
    path = small_seq2seq_checkpoint(tmp_path / "ck.npz")
    monkeypatch.setattr("minirnn.io.archive.MAX_META_BYTES", 100)
    with pytest.raises(CheckpointError, match="metadata member declares .* over the limit of 100"):
        load_checkpoint(path)


def test_classifier_classes_must_match_the_model(tmp_path):
    clf = SequenceClassifier(6, 3, embed_dim=2, hidden_size=3)
    path = save_checkpoint(tmp_path / "clf.npz", clf, vocabs={"src": Vocab(["a", "b"])},
                           extra={"classes": ["neg", "neu", "pos"]})
    assert load_checkpoint(path).extra["classes"] == ["neg", "neu", "pos"]
    bad = craft(path, tmp_path / "bad.npz", lambda meta, members: meta["extra"].update(classes=["neg", "pos"]))
    with pytest.raises(CheckpointError, match="lists 2 classes, but the model has num_classes=3"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="vocabulary 'src' has 5 tokens, but the model's vocab_size is 6"):
        save_checkpoint(tmp_path / "c.npz", clf, vocabs={"src": Vocab(["a"])})


def test_optimizer_arrays_are_checked_against_the_parameters(tmp_path):
    path = small_seq2seq_checkpoint(tmp_path / "ck.npz")
    members = read_members(path)
    members["optim/state.0.exp_avg.npy"] = read_members(path)["optim/state.1.exp_avg.npy"]
    write_members(tmp_path / "bad.npz", members)
    with pytest.raises(CheckpointError, match="optimizer array 'state.0.exp_avg' is .* but parameter 0 is"):
        load_checkpoint(tmp_path / "bad.npz")
    tree = craft(path, tmp_path / "tree.npz", lambda meta, m: meta["optimizer"].update(state={"tree": {"__dict__": 5}}))
    with pytest.raises(CheckpointError, match="list of \\[key, value\\] pairs"):
        load_checkpoint(tree)


def test_a_wrong_optimizer_state_is_a_checkpoint_error(tmp_path):
    path = small_seq2seq_checkpoint(tmp_path / "ck.npz")
    ckpt = load_checkpoint(path)
    ckpt.optimizer_state["meta"]["hyperparameters"]["lr"] = -1.0
    with pytest.raises(CheckpointError, match="saved optimizer state does not fit Adam"):
        ckpt.restore_optimizer(mr.optim.Adam(ckpt.model.parameters()))


# --------------------------------------------------------------------------- memory


def _peak_rss_growth_of_load(good: str, bad: str) -> float:
    """MiB the peak RSS rises while ``load_checkpoint(bad)`` runs, in a fresh process."""
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]\n"
        "from bench_rnn import peak_rss_growth\n"
        "from minirnn.io import CheckpointError, load_checkpoint\n"
        f"load_checkpoint({good!r})  # warm-up: every import loading needs\n"
        "def load():\n"
        "    try:\n"
        f"        load_checkpoint({bad!r})\n"
        "    except CheckpointError:\n"
        "        pass\n"
        "print(peak_rss_growth(load))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_refusing_a_huge_config_allocates_almost_nothing(tmp_path):
    mr.manual_seed(0)
    model = Seq2Seq(600, 600, embed_dim=300, hidden_size=512)  # about 16 MiB of float32 weights
    good = save_checkpoint(tmp_path / "good.npz", model)
    hostile = craft(good, tmp_path / "hostile.npz", lambda meta, m: meta["model"]["config"].update(hidden_size=20000))
    # The control: reading the genuine file does show its 16 MiB of weights.
    assert _peak_rss_growth_of_load(good, good) > 12
    # The hostile config claims a 20000-wide model (several GiB); refusing it costs almost nothing.
    assert _peak_rss_growth_of_load(good, hostile) < 4


# --------------------------------------------------------------------------- shape-only building


def test_loading_draws_no_random_numbers_and_gives_the_same_model(tmp_path, rng):
    model = Seq2Seq(9, 8, embed_dim=4, hidden_size=5, cell="lstm", bidirectional_encoder=True, dtype="float64")
    path = save_checkpoint(tmp_path / "ck.npz", model)
    state = backend.get_rng().bit_generator.state
    ckpt = load_checkpoint(path)
    assert backend.get_rng().bit_generator.state == state
    src, tgt = rng.integers(1, 9, size=(2, 4)), rng.integers(1, 8, size=(2, 3))
    with mr.no_grad():
        assert np.array_equal(model.eval()(src, [4, 2], tgt), ckpt.model.eval()(src, [4, 2], tgt))
    for p in ckpt.model.parameters():
        assert isinstance(p.data, np.ndarray) and p.data.flags.writeable and p.data.flags.c_contiguous


def test_shape_only_builds_without_memory_and_stops_at_its_budget():
    with backend.shape_only(max_arrays=10):
        emb = mr.Embedding(10**12, 3, padding_idx=0)  # a 12 TB table: only its shape exists
    assert emb.weight.shape == (10**12, 3) and isinstance(emb.weight.data, backend.ShapeOnlyArray)
    with pytest.raises(backend.ShapeOnlyLimit), backend.shape_only(max_arrays=4):
        mr.LSTM(3, 4, num_layers=10**9)
    assert isinstance(mr.Linear(2, 3).weight.data, np.ndarray)  # the switch is off again


def test_big_endian_and_fortran_arrays_load(tmp_path):
    lin = mr.Linear(3, 2, dtype="float64")
    path = save_checkpoint(tmp_path / "lin.npz", lin)
    members = read_members(path)
    from hostile_files import npy_bytes

    members["param/weight.npy"] = npy_bytes(np.asfortranarray(lin.weight.data.astype(">f8")))
    write_members(tmp_path / "be.npz", members)
    loaded = load_checkpoint(tmp_path / "be.npz").model
    assert np.array_equal(loaded.weight.data, lin.weight.data) and loaded.weight.data.dtype == np.float64


# --------------------------------------------------------------------------- the registry


def test_builtins_are_registered_including_bridge():
    names = registered_models()
    for cls in (mr.LSTM, mr.GRU, mr.RNN, mr.LSTMCell, mr.GRUCell, mr.RNNCell, mr.Linear, mr.Embedding,
                mr.BahdanauAttention, mr.LuongAttention, Seq2Seq, SequenceClassifier):
        assert names[f"{cls.__module__}.{cls.__qualname__}"] is cls
    assert names["minirnn.nn.bridge.Bridge"] is names["minirnn.models.seq2seq.Bridge"] is mr.nn.Bridge
    assert not any(issubclass(cls, (mr.Dropout, mr.CrossEntropyLoss)) for cls in names.values())


class Tagger(mr.Module):
    """A user's own model: an embedding and a linear head."""

    def __init__(self, vocab_size: int, num_tags: int, dim: int = 4, dtype=None):
        super().__init__()
        self.embedding = mr.Embedding(vocab_size, dim, dtype=dtype)
        self.head = mr.Linear(dim, num_tags, dtype=dtype)


def test_users_register_their_own_model(tmp_path, monkeypatch):
    monkeypatch.setattr("minirnn.io.registry._BY_NAME", dict(mr.io.registry._BY_NAME))
    monkeypatch.setattr("minirnn.io.registry._BY_CLASS", dict(mr.io.registry._BY_CLASS))
    model = Tagger(7, 3, dtype="float64")
    with pytest.raises(TypeError, match="Tagger is not a registered model class.*register_model"):
        save_checkpoint(tmp_path / "t.npz", model)
    assert mr.register_model(Tagger, vocab_sizes={"src": "vocab_size"}) is Tagger
    path = save_checkpoint(tmp_path / "t.npz", model, vocabs={"src": Vocab(["a", "b", "c"])})
    ckpt = load_checkpoint(path)
    assert type(ckpt.model) is Tagger and ckpt.config == {"vocab_size": 7, "num_tags": 3, "dim": 4, "dtype": "float64"}
    assert np.array_equal(ckpt.model.head.weight.data, model.head.weight.data)
    assert meta_of(read_members(path))["model"]["class"] == f"{__name__}.Tagger"

    class Other(mr.Module):
        pass

    with pytest.raises(ValueError, match="already registered for Tagger"):
        register_model(Other, name=f"{__name__}.Tagger")
    register_model(name="tagger-v2")(Tagger)  # a second name reads files written under it
    assert registered_models()["tagger-v2"] is Tagger
    with pytest.raises(TypeError, match="subclass of minirnn.Module"):
        register_model(json.loads)


# --------------------------------------------------------------------------- Module.config


@pytest.mark.parametrize("module", [
    mr.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True), mr.GRU(2, 3, batch_first=True),
    mr.RNN(2, 3, 1, "relu"),
    mr.LSTMCell(2, 3), mr.GRUCell(2, 3, bias=False), mr.RNNCell(2, 3, nonlinearity="relu"), mr.Linear(3, 2, bias=False),
    mr.Embedding(5, 2, padding_idx=-1), mr.BahdanauAttention(3, 4, attn_size=5), mr.LuongAttention(3, 4, "general"),
    mr.Dropout(0.3), mr.CrossEntropyLoss(label_smoothing=0.1),
    SequenceClassifier(11, 3, embed_dim=4, hidden_size=5, cell="gru", num_layers=2, padding_idx=None, dropout=0.1),
    Seq2Seq(9, 8, embed_dim=4, hidden_size=5, cell="lstm", attention="luong", bidirectional_encoder=True),
], ids=lambda m: type(m).__name__)
def test_every_module_has_a_config_that_rebuilds_it(module):
    config = json.loads(json.dumps(module.config))
    twin = type(module)(**config)
    assert twin.config == config
    assert [(n, p.shape, p.dtype) for n, p in twin.named_parameters()] == \
        [(n, p.shape, p.dtype) for n, p in module.named_parameters()]


def test_config_records_the_call_and_follows_the_parameters_dtype():
    lin = mr.Linear(np.int64(3), 2, dtype=np.float64)
    assert lin.config == {"in_features": 3, "out_features": 2, "bias": True, "dtype": "float64"}
    assert lin.float().config["dtype"] == "float32"
    dot = mr.LuongAttention(3, kind="dot", dtype="float32")  # no parameters: the cast updates the record
    assert dot.double().config["dtype"] == "float64" and type(dot)(**dot.config).compute_dtype == np.float64
    assert mr.io.model_config(lin) == lin.config


def test_a_constructor_that_cannot_be_recorded_is_named_at_save(tmp_path):
    class Stack(mr.Module):
        def __init__(self, *sizes):
            super().__init__()
            self.layers = [mr.Linear(a, b) for a, b in zip(sizes, sizes[1:])]

    stack = Stack(2, 3, 4)
    assert stack.config is None
    with pytest.raises(TypeError, match="Stack.config"):
        mr.io.model_config(stack)
    stack.config = {"sizes": [2, 3, 4]}
    assert stack.config == {"sizes": [2, 3, 4]}


def test_checkpoints_of_the_previous_layout_still_load(tmp_path, rng):
    """Before every Module had a config, io.model_config derived layer configs; those files still load."""
    lstm = mr.LSTM(3, 4, dtype="float64")
    path = save_checkpoint(tmp_path / "lstm.npz", lstm)
    old = {"input_size": 3, "hidden_size": 4, "num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
           "bidirectional": False, "dtype": "float64", "proj_size": 0}  # no impl, as io.model_config wrote it
    old_file = craft(path, tmp_path / "old.npz", lambda meta, m: meta["model"].update(config=old))
    x = rng.standard_normal((2, 1, 3))
    assert np.array_equal(load_checkpoint(old_file).model(x)[0], lstm(x)[0])
