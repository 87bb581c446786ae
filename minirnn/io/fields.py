"""Checking every field of a checkpoint's JSON metadata before anything uses it.

A checkpoint from a stranger may hold any JSON in any field. Each function here
takes one field, checks its types and values, and returns it in the form the loader
uses, or raises a ``CheckpointError`` that names the file, the field and what came
(never a ``TypeError`` three frames deep in whatever reads the field later).
"""

from __future__ import annotations

import json
import math
import re

from ..backend import np
from .errors import CheckpointError

FORMAT_NAME = "minirnn-checkpoint"
FORMAT_VERSION = 1
OPTIM_STATE_FORMAT = "minirnn.optim.v1"
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_INDEX = "0|[1-9][0-9]{0,8}"  # a parameter index as text; short, so int() is cheap
_OPTIM_ARRAY = re.compile(rf"state\.({_INDEX})\.([A-Za-z_][A-Za-z0-9_]{{0,63}})")


# --------------------------------------------------------------------------- small predicates


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, float)


def describe(value) -> str:
    """A short, one-line account of a value from a file: its JSON type and a clipped repr."""
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number"}
    text = repr(value)
    return f"{kinds.get(type(value), type(value).__name__)} {text[:60]}{'...' if len(text) > 60 else ''}"


def _require(ok: bool, where: str, field: str, expected: str, value) -> None:
    if not ok:
        raise CheckpointError(f"{where}: {field} must be {expected}, got {describe(value)}")


def _mapping(value, where: str, field: str) -> dict:
    """A JSON object (None means empty); its keys are always strings in JSON."""
    if value is None:
        return {}
    _require(isinstance(value, dict), where, field, "an object", value)
    return value


# --------------------------------------------------------------------------- the envelope


def parse_meta(raw: bytes, where: str) -> dict:
    """The metadata bytes as a dict with a supported format and version."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:200]
        raise CheckpointError(f"{where}: the checkpoint metadata is not valid JSON ({reason})") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: the checkpoint metadata must be a JSON object, got {describe(meta)}")
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{where} is not a minirnn checkpoint (format {describe(meta.get('format'))})")
    version = meta.get("version")
    _require(is_int(version) and version >= 1, where, "the format version", "a positive integer", version)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{where} was written with checkpoint format version {version}, newer than this minirnn "
            f"reads (up to {FORMAT_VERSION}); upgrade minirnn to load it"
        )
    return meta


def model_block(meta: dict, where: str) -> tuple[str, dict]:
    """``(class name, config)`` of ``meta["model"]``; config values are plain JSON."""
    block = meta.get("model")
    _require(isinstance(block, dict), where, "'model'", "an object with 'class' and 'config'", block)
    name, config = block.get("class"), block.get("config")
    _require(isinstance(name, str), where, "the model class", "a string", name)
    _require(isinstance(config, dict), where, "the model config", "an object of constructor arguments", config)
    return name, config


# --------------------------------------------------------------------------- vocabularies


def vocabularies(value, where: str) -> dict:
    """``{name: Vocab}``: each checked by ``Vocab.from_dict`` (format, types, specials, duplicates)."""
    from ..data import DataFormatError, Vocab

    vocabs = {}
    for name, payload in _mapping(value, where, "'vocabs'").items():
        try:
            vocabs[name] = Vocab.from_dict(payload, source=f"{where}: vocabulary {name[:40]!r}")
        except DataFormatError as err:
            raise CheckpointError(str(err)) from err
    return vocabs


# --------------------------------------------------------------------------- optimizer


def _check_optim_meta(meta, where: str) -> None:
    """The JSON half of ``Optimizer.state_dict()`` (see ``minirnn.optim.optimizer``)."""
    field = "the optimizer state"
    _require(isinstance(meta, dict), where, field, "an object", meta)
    _require(meta.get("format") == OPTIM_STATE_FORMAT, where, f"{field}'s format", repr(OPTIM_STATE_FORMAT),
             meta.get("format"))
    _require(isinstance(meta.get("optimizer"), str), where, f"{field}'s optimizer", "a string", meta.get("optimizer"))
    for key in ("num_params", "step_count"):
        value = meta.get(key)
        _require(is_int(value) and value >= 0, where, f"{field}'s {key}", "a non-negative integer", value)
    hyper = meta.get("hyperparameters")
    _require(isinstance(hyper, dict), where, f"{field}'s hyperparameters", "an object", hyper)
    for key, value in hyper.items():
        plain = value is None or isinstance(value, (bool, str)) or is_number(value)
        ok = plain or (isinstance(value, list) and all(is_number(v) for v in value))
        _require(ok, where, f"the optimizer hyperparameter {key[:40]!r}", "a number, boolean or list of numbers",
                 value)
    state = meta.get("state")
    _require(isinstance(state, dict), where, f"{field}'s per-parameter state", "an object", state)
    for key, scalars in state.items():
        index_ok = re.fullmatch(_INDEX, key) is not None and int(key) < meta["num_params"]
        _require(index_ok, where, "an optimizer state key", f"a parameter index below {meta['num_params']}", key)
        _require(isinstance(scalars, dict) and all(is_number(v) for v in scalars.values()), where,
                 f"the optimizer state of parameter {key}", "an object of numbers", scalars)


def optimizer_block(value, where: str):
    """``None``, or ``(class name or None, saved state)`` with the state's layout checked.

    minirnn's optimizers save ``{"meta": ..., "array_keys": [...]}``; any other object
    with a ``state_dict`` saves ``{"tree": ...}`` (checked as it is rebuilt).
    """
    if value is None:
        return None
    _require(isinstance(value, dict), where, "'optimizer'", "an object or null", value)
    name, saved = value.get("class"), value.get("state")
    _require(name is None or isinstance(name, str), where, "the optimizer class", "a string", name)
    _require(isinstance(saved, dict) and ("meta" in saved or "tree" in saved), where, "the optimizer state",
             "an object with 'meta' and 'array_keys' (or 'tree')", saved)
    if "meta" in saved:
        _check_optim_meta(saved["meta"], where)
        keys = saved.get("array_keys")
        _require(isinstance(keys, list) and all(isinstance(k, str) for k in keys), where,
                 "the optimizer's array_keys", "a list of strings", keys)
        for key in keys:
            match = _OPTIM_ARRAY.fullmatch(key)
            ok = match is not None and int(match.group(1)) < saved["meta"]["num_params"]
            _require(ok, where, "an optimizer array key", "'state.<parameter index>.<buffer name>'", key)
        _require(len(set(keys)) == len(keys), where, "the optimizer's array_keys", "distinct", keys)
    return name, saved


def array_positions(saved: dict) -> dict:
    """``{array key: parameter index}`` for minirnn's optimizer layout (keys already checked)."""
    return {key: int(_OPTIM_ARRAY.fullmatch(key).group(1)) for key in saved.get("array_keys", [])}


# --------------------------------------------------------------------------- progress


def epoch(value, where: str):
    _require(value is None or (is_int(value) and value >= 0), where, "'epoch'", "a non-negative integer or null",
             value)
    return value


def history(value, where: str) -> dict:
    """Per-epoch lists of numbers (``null`` where a value was missing, e.g. an unknown lr)."""
    value = _mapping(value, where, "'history'")
    for key, values in value.items():
        ok = isinstance(values, list) and all(v is None or is_number(v) for v in values)
        _require(ok, where, f"history[{key[:40]!r}]", "a list of numbers", values)
    return value


def rng_states(value, where: str) -> dict:
    """NumPy ``bit_generator.state`` dicts; each must load into a fresh generator of its kind."""
    value = _mapping(value, where, "'rng'")
    for key, state in value.items():
        kind = state.get("bit_generator") if isinstance(state, dict) else None
        _require(kind in BIT_GENERATORS, where, f"rng[{key[:40]!r}]",
                 f"a NumPy bit generator state ({', '.join(BIT_GENERATORS)})", state)
        try:
            getattr(np.random, kind)().state = state
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            raise CheckpointError(f"{where}: rng[{key[:40]!r}] is not a valid {kind} state ({err})") from err
    return value


# --------------------------------------------------------------------------- extra


def _check_fit_state(state, where: str) -> None:
    """``extra["fit"]``: what ``fit`` needs to resume a run (see ``minirnn.train.loop``)."""
    _require(isinstance(state, dict), where, "extra['fit']", "an object", state)
    known = {
        "best_value": (lambda v: v is None or (is_number(v) and not math.isnan(v)), "a number or null"),
        "best_epoch": (lambda v: v is None or (is_int(v) and v >= 0), "a non-negative integer or null"),
        "best_tiebreak": (lambda v: v is None or is_number(v), "a number or null"),
        "bad_epochs": (lambda v: is_int(v) and v >= 0, "a non-negative integer"),
        "monitor": (lambda v: isinstance(v, str), "a string"),
        "task": (lambda v: isinstance(v, str), "a string"),
        "stopped_early": (lambda v: isinstance(v, bool), "a boolean"),
        "stop_reason": (lambda v: isinstance(v, str), "a string"),
        "scheduler": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    }
    for key, (ok, expected) in known.items():
        if key in state:
            _require(ok(state[key]), where, f"extra['fit'][{key!r}]", expected, state[key])


def extra(value, where: str) -> dict:
    """Free-form, but the keys minirnn itself writes (the CLI's and fit's) are checked."""
    from ..data.tokenizer import MODES

    value = _mapping(value, where, "'extra'")
    known = {
        "task": (lambda v: isinstance(v, str), "a string"),
        "mode": (lambda v: v in MODES, f"one of {list(MODES)}"),
        "lower": (lambda v: isinstance(v, bool), "a boolean"),
        "join": (lambda v: v is None or isinstance(v, str), "a string or null"),
        "classes": (lambda v: isinstance(v, list) and all(isinstance(c, str) or is_number(c) for c in v),
                    "a list of class labels"),
    }
    for key, (ok, expected) in known.items():
        if key in value:
            _require(ok(value[key]), where, f"extra[{key!r}]", expected, value[key])
    if "fit" in value:
        _check_fit_state(value["fit"], where)
    return value
