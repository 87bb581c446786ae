"""Checkpoints: one ``.npz`` file, NumPy arrays plus JSON metadata, never pickle.

Layout of a checkpoint file (a plain zip archive written by ``numpy.savez``):

==================  =====================================================================
``__minirnn__``     uint8 array: the UTF-8 bytes of the JSON metadata (below)
``param/<name>``    every model parameter, by its PyTorch-style name
``optim/<key>``     every array of the optimiser's state (moments, step buffers)
==================  =====================================================================

The JSON metadata holds::

    {"format": "minirnn-checkpoint", "version": 1,
     "model": {"class": "minirnn.models.seq2seq.Seq2Seq", "config": {...}},
     "vocabs": {"src": <Vocab.to_json()>, "tgt": ...},
     "optimizer": {"class": "Adam", "state": <JSON part, arrays replaced by references>},
     "epoch": 12, "history": {...}, "rng": {...}, "extra": {...}}

Keeping the metadata inside the archive means a checkpoint is one file that can be
copied, renamed or deleted as a unit. It is read with ``np.load(allow_pickle=False)``,
so a file holding object arrays is refused instead of executed. A save writes to a
temporary file in the same directory and ``os.replace``s it over the target, so a
crash mid-save leaves either the old checkpoint or the new one, never half of one.

Models are rebuilt from ``type(model)(**model.config)``; only classes inside the
``minirnn`` package are ever imported by name.
"""

from __future__ import annotations

import importlib
import io as _stdio
import json
import os
import zipfile
from dataclasses import dataclass, field

from .backend import check_backend_name, np, to_numpy
from .files import atomic_open

FORMAT_NAME = "minirnn-checkpoint"
FORMAT_VERSION = 1
META_KEY = "__minirnn__"
PARAM_PREFIX = "param/"
OPTIM_PREFIX = "optim/"
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A file that cannot be loaded as a minirnn checkpoint; the message says why."""


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns.

    ``model`` is rebuilt from its class and config with the saved weights loaded.
    ``optimizer_state`` is the optimiser's ``state_dict()`` as saved (arrays restored);
    pass it to ``optimizer.load_state_dict`` or call ``restore_optimizer``.
    ``vocabs`` maps names to rebuilt ``Vocab`` objects.
    """

    path: str
    model: object
    model_class: str
    config: dict
    vocabs: dict = field(default_factory=dict)
    optimizer_class: str | None = None
    optimizer_state: object = None
    epoch: int | None = None
    history: dict = field(default_factory=dict)
    rng: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def restore_optimizer(self, optimizer) -> None:
        """Load the saved optimiser state into ``optimizer`` (built on ``self.model``)."""
        if self.optimizer_state is None:
            raise CheckpointError(f"{self.path}: this checkpoint holds no optimizer state")
        if self.optimizer_class and type(optimizer).__name__ != self.optimizer_class:
            raise CheckpointError(
                f"{self.path}: the checkpoint holds {self.optimizer_class} state, "
                f"but the optimizer given is {type(optimizer).__name__}"
            )
        optimizer.load_state_dict(self.optimizer_state)


# --------------------------------------------------------------------------- configs


def model_config(model) -> dict:
    """The constructor arguments that rebuild ``model``: ``model.config``, or derived for nn layers."""
    config = getattr(model, "config", None)
    if config is not None:
        return dict(config)
    from .nn import GRU, LSTM, RNN, Embedding, GRUCell, Linear, LSTMCell, RNNCell

    dtype = str(model.dtype) if model.dtype is not None else None
    if isinstance(model, (LSTM, GRU, RNN)):
        config = dict(input_size=model.input_size, hidden_size=model.hidden_size, num_layers=model.num_layers,
                      bias=model.bias, batch_first=model.batch_first, dropout=model.dropout,
                      bidirectional=model.bidirectional, dtype=dtype)
        if isinstance(model, LSTM):
            config["proj_size"] = model.proj_size
        if isinstance(model, RNN):
            config["nonlinearity"] = model.nonlinearity
        return config
    if isinstance(model, (LSTMCell, GRUCell, RNNCell)):
        config = dict(input_size=model.input_size, hidden_size=model.hidden_size, bias=model.bias, dtype=dtype)
        if isinstance(model, RNNCell):
            config["nonlinearity"] = model.nonlinearity
        return config
    if isinstance(model, Linear):
        return dict(in_features=model.in_features, out_features=model.out_features,
                    bias=model.bias is not None, dtype=dtype)
    if isinstance(model, Embedding):
        return dict(num_embeddings=model.num_embeddings, embedding_dim=model.embedding_dim,
                    padding_idx=model.padding_idx, dtype=dtype)
    raise TypeError(
        f"save_checkpoint needs {type(model).__name__}.config (a dict of constructor arguments "
        f"such that type(model)(**model.config) rebuilds it)"
    )


def _class_path(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_class(path: str, where: str):
    module_name, _, name = path.rpartition(".")
    if not module_name.startswith("minirnn"):
        raise CheckpointError(f"{where}: refusing to import {path!r}; checkpoints may only name minirnn classes")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"{where}: the model class {path!r} does not exist in this minirnn") from err


def _jsonable(value):
    """json.dumps ``default=``: dtypes and NumPy scalars become plain values."""
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.size <= 64 and value.dtype.kind in "biuf":
        return value.tolist()
    raise TypeError(f"checkpoint metadata must be JSON-serialisable, got {type(value).__name__}")


# --------------------------------------------------------------------------- array <-> JSON split


def _split_arrays(value, prefix: str, arrays: dict):
    """Replace every array inside a nested dict/list by ``{"__array__": key}``, collecting them.

    Tuples are tagged so that they come back as tuples (optimisers often keep ``betas``).
    """
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        key = OPTIM_PREFIX + prefix.rstrip("/")
        arrays[key] = np.ascontiguousarray(to_numpy(value))
        return {"__array__": key}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int)):
                raise TypeError(f"optimizer state keys must be str or int, got {type(k).__name__}")
        tagged = {"__dict__": [[k, _split_arrays(v, f"{prefix}{k}/", arrays)] for k, v in value.items()]}
        return tagged
    if isinstance(value, tuple):
        return {"__tuple__": [_split_arrays(v, f"{prefix}{i}/", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_split_arrays(v, f"{prefix}{i}/", arrays) for i, v in enumerate(value)]
    return value


def _join_arrays(value, arrays: dict, where: str):
    """The inverse of ``_split_arrays``."""
    if isinstance(value, dict):
        if "__array__" in value:
            key = value["__array__"]
            if key not in arrays:
                raise CheckpointError(f"{where}: optimizer array {key!r} is missing from the archive")
            return arrays[key]
        if "__tuple__" in value:
            return tuple(_join_arrays(v, arrays, where) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _join_arrays(v, arrays, where) for k, v in value["__dict__"]}
        return {k: _join_arrays(v, arrays, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, arrays, where) for v in value]
    return value


# --------------------------------------------------------------------------- save


def _vocab_json(vocab):
    payload = vocab.to_json() if hasattr(vocab, "to_json") else vocab
    return json.loads(payload) if isinstance(payload, str) else payload


def save_checkpoint(path, model, optimizer=None, vocabs=None, epoch=None, history=None, extra=None, rng=None) -> str:
    """Write ``model`` (and optionally its optimiser, vocabularies, progress) to ``path``.

    ``vocabs`` is a dict ``{name: Vocab}``; ``history`` and ``extra`` are JSON-able
    dicts; ``rng`` maps names to NumPy ``bit_generator.state`` dicts (for exact
    resume). The write is atomic: a temporary file in the same directory is renamed
    over ``path`` only once it is complete. Returns the path written.
    """
    path = os.fspath(path)
    arrays = {}
    for name, value in model.state_dict().items():
        arrays[PARAM_PREFIX + name] = np.ascontiguousarray(to_numpy(value))
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "model": {"class": _class_path(model), "config": model_config(model)},
        "vocabs": {name: _vocab_json(v) for name, v in (vocabs or {}).items()},
        "optimizer": None,
        "epoch": epoch,
        "history": history or {},
        "rng": rng or {},
        "extra": extra or {},
    }
    if optimizer is not None:
        state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
        if isinstance(state, dict) and set(state) == {"meta", "arrays"}:
            # minirnn.optim's layout: the JSON part as is, each array as optim/<its key>.
            for key, value in state["arrays"].items():
                arrays[OPTIM_PREFIX + key] = np.ascontiguousarray(to_numpy(value))
            saved = {"meta": state["meta"], "array_keys": list(state["arrays"])}
        else:
            saved = {"tree": _split_arrays(state, "", arrays)}
        meta["optimizer"] = {
            "class": type(optimizer).__name__ if hasattr(optimizer, "state_dict") else None,
            "state": saved,
        }
    text = json.dumps(meta, default=_jsonable)
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    with atomic_open(path, "wb", suffix=".npz") as handle:
        np.savez(handle, **arrays)
    return path


# --------------------------------------------------------------------------- load


def read_checkpoint_arrays(path) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a checkpoint, validated; raises ``CheckpointError`` with the reason."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    with open(path, "rb") as handle:
        head = handle.read(4)
        data = head + handle.read()
    if head != _ZIP_MAGIC:
        kind = "an empty file" if not head else "not an .npz archive"
        raise CheckpointError(f"{path} is not a minirnn checkpoint: {kind}")
    try:
        with zipfile.ZipFile(_stdio.BytesIO(data)) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise CheckpointError(f"{path} is corrupt: member {bad!r} fails its CRC check")
    except zipfile.BadZipFile as err:
        raise CheckpointError(f"{path} is truncated or corrupt (not a complete zip archive: {err})") from err
    arrays = {}
    try:
        with np.load(_stdio.BytesIO(data), allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = npz[key]
    except ValueError as err:
        if "pickle" in str(err):
            raise CheckpointError(
                f"{path} holds pickled (object) arrays; minirnn never loads pickle, so the file is refused"
            ) from err
        raise CheckpointError(f"{path} is corrupt: {err}") from err
    except Exception as err:  # zlib errors, EOFError, bad .npy headers
        raise CheckpointError(f"{path} is truncated or corrupt: {err}") from err

    if META_KEY not in arrays:
        raise CheckpointError(
            f"{path} is an .npz archive but not a minirnn checkpoint (it has no {META_KEY!r} metadata; "
            f"it holds {', '.join(sorted(arrays)[:5]) or 'nothing'})"
        )
    raw = arrays.pop(META_KEY)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: the {META_KEY!r} entry is not UTF-8 bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the checkpoint metadata is not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the checkpoint metadata must be a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a minirnn checkpoint (format {meta.get('format')!r})")
    version = meta.get("version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: the checkpoint has no integer format version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written with checkpoint format version {version}, newer than this minirnn "
            f"reads (up to {FORMAT_VERSION}); upgrade minirnn to load it"
        )
    return meta, arrays


def _load_vocab(payload, where: str):
    try:
        from .data import Vocab
    except ImportError as err:  # pragma: no cover - the data package is part of minirnn
        raise CheckpointError(f"{where}: minirnn.data.Vocab is needed to rebuild the vocabularies") from err
    try:
        return Vocab.from_json(payload)
    except TypeError:
        return Vocab.from_json(json.dumps(payload))


def load_checkpoint(path, backend: str | None = None) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` and rebuild its model.

    The model is built on the current backend (or ``backend``, 'numpy'/'cupy') with
    the saved weights. A missing, truncated, foreign, pickle-holding or newer-format
    file raises an error that names the problem.
    """
    path = os.fspath(path)
    meta, arrays = read_checkpoint_arrays(path)
    model_meta = meta.get("model") or {}
    cls = _import_class(str(model_meta.get("class", "")), path)
    config = model_meta.get("config") or {}
    try:
        model = cls(**config)
    except TypeError as err:
        raise CheckpointError(f"{path}: cannot rebuild {cls.__name__} from its saved config ({err})") from err
    params = {k[len(PARAM_PREFIX):]: v for k, v in arrays.items() if k.startswith(PARAM_PREFIX)}
    try:
        model.load_state_dict(params)
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: the saved weights do not fit {cls.__name__}: {err}") from err
    if backend is not None:
        model.to(check_backend_name(backend))
    optimizer = meta.get("optimizer")
    optim_arrays = {k: v for k, v in arrays.items() if k.startswith(OPTIM_PREFIX)}
    optimizer_state = None
    if optimizer is not None:
        saved = optimizer.get("state") or {}
        if "meta" in saved:
            missing = [k for k in saved.get("array_keys", []) if OPTIM_PREFIX + k not in optim_arrays]
            if missing:
                raise CheckpointError(f"{path}: optimizer arrays missing from the archive: {', '.join(missing[:3])}")
            optimizer_state = {
                "meta": saved["meta"],
                "arrays": {k: optim_arrays[OPTIM_PREFIX + k] for k in saved.get("array_keys", [])},
            }
        else:
            optimizer_state = _join_arrays(saved.get("tree"), optim_arrays, path)
    return Checkpoint(
        path=path,
        model=model,
        model_class=cls.__name__,
        config=config,
        vocabs={name: _load_vocab(v, path) for name, v in (meta.get("vocabs") or {}).items()},
        optimizer_class=None if optimizer is None else optimizer.get("class"),
        optimizer_state=optimizer_state,
        epoch=meta.get("epoch"),
        history=meta.get("history") or {},
        rng=meta.get("rng") or {},
        extra=meta.get("extra") or {},
        version=meta["version"],
    )


__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "model_config", "save_checkpoint"]
