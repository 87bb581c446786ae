"""``save_checkpoint`` and ``load_checkpoint``: a model, its optimiser and its run, as data.

Loading reads a stranger's file in this order, and stops at the first problem with
a ``CheckpointError`` naming the file:

1. the archive's directory and every member's ``.npy`` header (``archive``);
2. every field of the JSON metadata (``fields``);
3. the model class, looked up by exact name among the registered ones (``registry``);
4. the model built from its config under ``backend.shape_only``: the constructor
   checks its arguments and names its parameters' shapes, and those are compared
   with the stored arrays' shapes, with nothing allocated and nothing drawn;
5. the optimiser's arrays against the model's parameters, the vocabularies against
   the model's sizes;
6. only then the arrays are decompressed and become the model's parameters.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field

from ..backend import ShapeOnlyLimit, check_backend_name, get_backend, np, shape_only, to_device, to_numpy
from ..files import atomic_open
from . import fields, optim_state, registry
from .archive import META_KEY, PARAM_PREFIX, Archive
from .errors import CheckpointError

FORMAT_NAME, FORMAT_VERSION = fields.FORMAT_NAME, fields.FORMAT_VERSION


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns.

    ``model`` is rebuilt from its class and config with the saved weights loaded;
    ``config`` is its full constructor config. ``optimizer_state`` is the optimiser's
    ``state_dict()`` as saved (arrays restored): pass it to ``restore_optimizer``.
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
        try:
            optimizer.load_state_dict(self.optimizer_state)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{self.path}: the saved optimizer state does not fit "
                                  f"{type(optimizer).__name__}: {err}") from err


# --------------------------------------------------------------------------- save


def _check_json_value(value, where: str) -> None:
    """Plain JSON (NumPy scalars and dtypes allowed; ``_jsonable`` turns them into JSON)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_json_value(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_value(item, f"{where}[{key!r}]")
    elif not (value is None or isinstance(value, (bool, int, float, str, np.generic, np.dtype))):
        raise TypeError(f"{where} must be plain JSON data (numbers, strings, lists, dicts), "
                        f"got {type(value).__name__}; a checkpoint stores the config as JSON")


def model_config(model) -> dict:
    """The constructor arguments that rebuild ``model`` (``model.config``), checked to be JSON."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(
            f"save_checkpoint needs {type(model).__name__}.config, the dict of constructor arguments such "
            f"that type(model)(**model.config) rebuilds it; its constructor takes arguments that cannot be "
            f"recorded by keyword, so assign model.config yourself"
        )
    for key, value in config.items():
        _check_json_value(value, f"{type(model).__name__}.config[{key!r}]")
    return config


def _jsonable(value):
    """json.dumps ``default=``: dtypes and NumPy scalars become plain values."""
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.size <= 64 and value.dtype.kind in "biuf":
        return value.tolist()
    raise TypeError(f"checkpoint metadata must be JSON-serialisable, got {type(value).__name__}")


def _vocab_json(vocab):
    payload = vocab.to_json() if hasattr(vocab, "to_json") else vocab
    return json.loads(payload) if isinstance(payload, str) else payload


def _check_sizes(entry, model, vocab_sizes: dict, extra: dict, where: str) -> None:
    """Each vocabulary has as many tokens as the model's matching size; classes as many as it has.

    A vocabulary smaller than its embedding would decode ids it has no token for.
    """
    config = model.config or {}
    for vocab, size_field in entry.vocab_sizes.items():
        if vocab in vocab_sizes and vocab_sizes[vocab] != config.get(size_field):
            raise CheckpointError(f"{where}: vocabulary {vocab!r} has {vocab_sizes[vocab]} tokens, but the model's "
                                  f"{size_field} is {config.get(size_field)}")
    if "classes" in extra and "num_classes" in config and len(extra["classes"]) != config["num_classes"]:
        raise CheckpointError(f"{where}: extra['classes'] lists {len(extra['classes'])} classes, but the model "
                              f"has num_classes={config['num_classes']}")


def save_checkpoint(path, model, optimizer=None, vocabs=None, epoch=None, history=None, extra=None, rng=None) -> str:
    """Write ``model`` (and optionally its optimiser, vocabularies, progress) to ``path``.

    ``model``'s class must be registered (minirnn's own are; see ``register_model``).
    ``vocabs`` is a dict ``{name: Vocab}``; ``history`` and ``extra`` are JSON-able
    dicts; ``rng`` maps names to NumPy ``bit_generator.state`` dicts (for exact
    resume). The write is atomic: a temporary file in the same directory is renamed
    over ``path`` only once it is complete. Returns the path written.
    """
    path = os.fspath(path)
    entry = registry.entry_for_class(type(model))
    vocab_sizes = {name: len(v) for name, v in (vocabs or {}).items() if hasattr(v, "to_json")}
    _check_sizes(entry, model, vocab_sizes, extra or {}, f"save_checkpoint({path})")
    arrays = {PARAM_PREFIX + name: np.ascontiguousarray(to_numpy(value)) for name, value in model.state_dict().items()}
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "model": {"class": entry.name, "config": model_config(model)},
        "vocabs": {name: _vocab_json(v) for name, v in (vocabs or {}).items()},
        "optimizer": None,
        "epoch": epoch,
        "history": history or {},
        "rng": rng or {},
        "extra": extra or {},
    }
    if optimizer is not None:
        state = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
        meta["optimizer"] = {
            "class": type(optimizer).__name__ if hasattr(optimizer, "state_dict") else None,
            "state": optim_state.split_state(state, arrays),
        }
    text = json.dumps(meta, default=_jsonable)
    arrays[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    with atomic_open(path, "wb", suffix=".npz") as handle:
        np.savez(handle, **arrays)
    return path


# --------------------------------------------------------------------------- load


def _build_shape_only(entry, config: dict, headers: dict, where: str):
    """The registered class built from ``config`` with shape-only parameters, checked against the headers."""
    cls = entry.cls
    try:
        inspect.signature(cls.__init__).bind(None, **config)  # None stands for self
    except TypeError as err:
        raise CheckpointError(f"{where}: the saved config does not fit {cls.__name__}'s constructor ({err})") from err
    stored = {key[len(PARAM_PREFIX) :]: h for key, h in headers.items() if key.startswith(PARAM_PREFIX)}
    budget = 2 * len(stored) + 16  # room to name a missing array; a billion layers stop at once
    try:
        with shape_only(max_arrays=budget):
            model = cls(**config)
    except ShapeOnlyLimit as err:
        raise CheckpointError(f"{where}: its config asks {cls.__name__} for over {budget} parameter arrays, "
                              f"but the file holds {len(stored)}") from err
    except Exception as err:  # noqa: BLE001 - the constructor's own checks, given a stranger's values
        raise CheckpointError(f"{where}: cannot rebuild {cls.__name__} from its saved config "
                              f"({type(err).__name__}: {str(err)[:200]})") from err
    expected = dict(model.named_parameters())
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        parts = [f"missing {', '.join(missing[:3])}" if missing else "",
                 f"unexpected {', '.join(unexpected[:3])}" if unexpected else ""]
        raise CheckpointError(f"{where}: the stored arrays do not match the {cls.__name__} its config builds ("
                              + "; ".join(p for p in parts if p) + ")")
    for name, param in expected.items():
        header = stored[name]
        if header.shape != tuple(param.shape) or header.dtype.newbyteorder("=") != param.dtype:
            raise CheckpointError(f"{where}: its config builds {cls.__name__}.{name} as {tuple(param.shape)} "
                                  f"{param.dtype}, but the file holds {header.shape} {header.dtype}")
    return model


def _read_checked(archive: Archive, where: str):
    """Steps 1-5 of the module docstring; returns the parts of a Checkpoint, arrays still compressed."""
    meta = fields.parse_meta(archive.read_meta_bytes(), where)
    class_name, config = fields.model_block(meta, where)
    parts = {
        "vocabs": fields.vocabularies(meta.get("vocabs"), where),
        "optimizer": fields.optimizer_block(meta.get("optimizer"), where),
        "epoch": fields.epoch(meta.get("epoch"), where),
        "history": fields.history(meta.get("history"), where),
        "rng": fields.rng_states(meta.get("rng"), where),
        "extra": fields.extra(meta.get("extra"), where),
        "version": meta["version"],
    }
    entry = registry.entry_for_name(class_name, where)
    headers = {key: archive.header(key) for key in archive.members if key != META_KEY}
    model = _build_shape_only(entry, config, headers, where)
    saved_optimizer = parts["optimizer"][1] if parts["optimizer"] else None
    optim_state.check_arrays(saved_optimizer, headers, model.parameters(), where)
    _check_sizes(entry, model, {name: len(v) for name, v in parts["vocabs"].items()}, parts["extra"], where)
    return entry, model, headers, parts


def load_checkpoint(path, backend: str | None = None) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` and rebuild its model.

    The model is built on the current backend (or ``backend``, 'numpy'/'cupy') with
    the saved weights. Loading calls nothing but the constructor of a registered
    model class, with its config checked against the stored arrays before any
    parameter is allocated. A missing file raises ``FileNotFoundError``; every
    problem with the file's contents raises ``CheckpointError`` naming it.
    """
    path = os.fspath(path)
    target = get_backend() if backend is None else check_backend_name(backend)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not os.path.isfile(path):  # reading a pipe would block, a device never end
        raise CheckpointError(f"{path} is not a regular file (a device, pipe or socket), not a checkpoint file")
    try:
        with Archive(path) as archive:
            entry, model, headers, parts = _read_checked(archive, path)
            arrays = {key: archive.read(key) for key in headers}
    except RecursionError as err:  # JSON nested deeper than Python's stack, found while walking it
        raise CheckpointError(f"{path}: the checkpoint metadata is nested too deeply") from err
    for name, param in model.named_parameters():
        param.data = to_device(np.ascontiguousarray(arrays[PARAM_PREFIX + name]), target)
    saved_optimizer = parts.pop("optimizer")
    return Checkpoint(
        path=path,
        model=model,
        model_class=entry.cls.__name__,
        config=model.config,
        optimizer_class=saved_optimizer[0] if saved_optimizer else None,
        optimizer_state=optim_state.join_state(saved_optimizer[1] if saved_optimizer else None, arrays),
        **parts,
    )
