"""Crafted checkpoints, as a stranger could share them: each one must be refused, cleanly.

``hostile_cases()`` lists ``(name, change, reason)``: ``change(meta, members)`` edits
a valid checkpoint's JSON metadata and its raw archive members (``{member name:
bytes}``) in place, and ``reason`` is a regex the refusal's message must match.
``craft(base, out, change)`` writes the edited archive. Shared by test_trust.py (the
library and the CLI) and test_fuzz_files.py.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

import minirnn as mr
from minirnn.data import Vocab
from minirnn.models import Seq2Seq

META = "__minirnn__.npy"


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=True)
    return buffer.getvalue()


def npy_header_only(shape, dtype, data: bytes) -> bytes:
    """A .npy member whose header claims ``shape`` but which holds only ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": tuple(shape)})
    return buffer.getvalue() + data


def read_members(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path, members: dict, compression=zipfile.ZIP_STORED) -> None:
    """Write ``{name: bytes or (bytes, compression)}`` as a zip archive, in that order."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            data, method = data if isinstance(data, tuple) else (data, compression)
            archive.writestr(name, data, compress_type=method)


def meta_of(members: dict) -> dict:
    return json.loads(np.lib.format.read_array(io.BytesIO(members[META])).tobytes())


RAW = "raw"  # what a change returns when it wrote the metadata member itself


def craft(base, out, change) -> str:
    """Copy checkpoint ``base`` to ``out`` with ``change(meta, members)`` applied; returns ``out``."""
    members = read_members(base)
    meta = meta_of(members)
    if change(meta, members) != RAW and META in members:
        members[META] = npy_bytes(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    write_members(out, members)
    return str(out)


def small_seq2seq_checkpoint(path) -> str:
    """A valid, tiny Seq2Seq checkpoint with vocabularies, Adam state, history and extra."""
    mr.manual_seed(0)
    model = Seq2Seq(7, 6, embed_dim=3, hidden_size=4)
    optimizer = mr.optim.Adam(model.parameters(), lr=1e-2)
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    optimizer.step()
    vocabs = {"src": Vocab(["a", "b", "c"]), "tgt": Vocab(["x", "y"])}
    return mr.save_checkpoint(path, model, optimizer, vocabs, epoch=1, history={"loss": [1.0]},
                              extra={"task": "translate", "mode": "word", "lower": True, "join": None},
                              rng={"global": np.random.default_rng(1).bit_generator.state})


# --------------------------------------------------------------------------- the cases


def _set(*keys_and_value):
    """A change that sets meta[k1][k2]... = value."""
    *keys, value = keys_and_value

    def change(meta, members):
        node = meta
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _model(name, config):
    return _set("model", {"class": name, "config": config})


def _config(**changes):
    def change(meta, members):
        meta["model"]["config"].update(changes)

    return change


def _zip_bomb(meta, members):
    members["param/out.bias.npy"] = (npy_bytes(np.zeros(25 * 2**20, dtype=np.uint8)), zipfile.ZIP_DEFLATED)


def _member(name, data):
    def change(meta, members):
        members[name] = data

    return change


def _drop_meta(meta, members):
    del members[META]


def hostile_cases():
    """(name, change, reason regex). Every reason also names the file (checked by the tests)."""
    not_registered = "not a registered model class"
    return [
        # code the file names: only registered model constructors are ever called
        ("cli-main", _model("minirnn.cli.main", {"argv": ["train", "dates", "--epochs", "1", "--out", "pwned"]}),
         not_registered),
        ("atomic-open", _model("minirnn.files.atomic_open", {"path": "pwned.txt", "mode": "wb"}), not_registered),
        ("set-default-dtype", _model("minirnn.backend.set_default_dtype", {"dtype": "float16"}), not_registered),
        ("os-system", _model("os.system", {"command": "touch pwned"}), not_registered),
        ("look-alike-module", _model("minirnnx.models.Seq2Seq", {}), not_registered),
        ("look-alike-class", _model("minirnn.models.seq2seq.Seq2Seqx", {}), not_registered),
        ("padded-name", _model(" minirnn.models.seq2seq.Seq2Seq", {}), not_registered),
        ("module-base-class", _model("minirnn.nn.module.Module", {}), not_registered),
        ("unregistered-layer", _model("minirnn.nn.linear.Dropout", {"p": 0.5}), not_registered),
        ("class-not-a-string", _set("model", "class", ["minirnn", "cli", "main"]), "model class must be a string"),
        # configs that disagree with the arrays: refused before any parameter is allocated
        ("huge-hidden-size", _config(hidden_size=20000), r"config builds Seq2Seq\..* but the file holds"),
        ("huge-vocab", _config(src_vocab_size=10**12), r"config builds Seq2Seq\..* but the file holds"),
        ("billion-layers", _config(num_layers=10**9), "asks Seq2Seq for over 52 parameter arrays"),
        ("unknown-argument", _config(evil=1), "does not fit Seq2Seq's constructor"),
        ("string-size", _config(hidden_size="4"), "cannot rebuild Seq2Seq"),
        ("list-dropout", _config(dropout=[0.5]), "cannot rebuild Seq2Seq"),
        ("bad-dtype", _config(dtype="object"), "cannot rebuild Seq2Seq"),
        ("wrong-dtype", _config(dtype="float64"), "float64, but the file holds"),
        ("config-not-object", _set("model", "config", [1, 2]), "model config must be an object"),
        # the archive itself
        ("zip-bomb", _zip_bomb, "zip bomb"),
        ("header-lies", _member("param/out.bias.npy", npy_header_only((10**9,), np.float32, b"\0" * 24)),
         "corrupt: member 'param/out.bias'"),
        ("object-array", _member("param/out.bias.npy", npy_bytes(np.array([{"x": 1}], dtype=object))), "pickle"),
        ("unexpected-member", _member("evil.py", b"import os"), "unexpected member 'evil.py'"),
        ("no-metadata", _drop_meta, "not a minirnn checkpoint"),
        ("missing-array", lambda m, a: a.pop("param/out.bias.npy"), "missing out.bias"),
        ("extra-array", _member("param/evil.npy", npy_bytes(np.zeros(3, np.float32))), "unexpected evil"),
        # every other field, wrong-typed
        ("version-string", _set("version", "1"), "format version must be a positive integer"),
        ("version-bool", _set("version", True), "format version must be a positive integer"),
        ("newer-version", _set("version", 99), "version 99.*upgrade"),
        ("vocab-not-object", _set("vocabs", "src", [1, 2]), "vocabulary 'src'.*not a minirnn vocabulary"),
        ("vocab-int-tokens", _set("vocabs", "src", "tokens", [0, 1, 2, 3, 4, 5, 6]),
         "vocabulary 'src'.*list of strings"),
        ("vocab-duplicates", _set("vocabs", "src", "tokens", ["<pad>", "<unk>", "<bos>", "<eos>", "a", "a", "b"]),
         "duplicate"),
        ("vocab-no-specials", _set("vocabs", "src", "tokens", ["a", "b", "c", "d", "e", "f", "g"]), "specials"),
        ("vocab-size", _set("vocabs", "tgt", "tokens", ["<pad>", "<unk>", "<bos>", "<eos>", "x"]),
         "vocabulary 'tgt' has 5 tokens, but the model's tgt_vocab_size is 6"),
        ("vocabs-list", _set("vocabs", ["src"]), "'vocabs' must be an object"),
        ("optimizer-list", _set("optimizer", [1]), "'optimizer' must be an object"),
        ("optimizer-class-int", _set("optimizer", "class", 5), "optimizer class must be a string"),
        ("optimizer-num-params", _set("optimizer", "state", "meta", "num_params", "12"),
         "num_params must be a non-negative integer"),
        ("optimizer-wrong-count", _set("optimizer", "state", "meta", "num_params", 30),
         "optimizer state is for 30 parameters, the model has 18"),
        ("optimizer-state-list", _set("optimizer", "state", "meta", "state", [1]),
         "per-parameter state must be an object"),
        ("optimizer-bad-key", _set("optimizer", "state", "array_keys", ["../../etc/passwd"]),
         "optimizer array key must be"),
        ("optimizer-hyper", _set("optimizer", "state", "meta", "hyperparameters", {"lr": {"x": 1}}),
         "hyperparameter 'lr'"),
        ("epoch-negative", _set("epoch", -1), "'epoch' must be a non-negative integer"),
        ("epoch-string", _set("epoch", "3"), "'epoch' must be a non-negative integer"),
        ("history-string", _set("history", {"loss": "low"}), r"history\['loss'\] must be a list of numbers"),
        ("rng-unknown", _set("rng", {"global": {"bit_generator": "os.system"}}), r"rng\['global'\]"),
        ("rng-bad-state", _set("rng", "global", "state", "state", "x"), r"rng\['global'\] is not a valid PCG64"),
        ("extra-mode", _set("extra", "mode", 3), r"extra\['mode'\] must be one of"),
        ("extra-classes", _set("extra", "classes", "abc"), r"extra\['classes'\] must be a list"),
        ("extra-fit", _set("extra", "fit", {"bad_epochs": "x"}), r"extra\['fit'\]\['bad_epochs'\]"),
        ("deep-json", _deep_json, "nested too deeply|not valid JSON"),
    ]


def _deep_json(meta, members):
    text = json.dumps(meta)[:-1] + ', "deep": ' + "[" * 100000 + "]" * 100000 + "}"
    members[META] = npy_bytes(np.frombuffer(text.encode(), dtype=np.uint8))
    return RAW
