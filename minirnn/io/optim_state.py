"""An optimiser's state in a checkpoint: its JSON part in the metadata, its arrays as members.

minirnn's optimisers (``Optimizer.state_dict()``) already split themselves into
``{"meta": JSON, "arrays": {"state.<i>.<buffer>": array}}``: the meta is stored as
is and each array as the member ``optim/state.<i>.<buffer>``. Any other object with
a ``state_dict`` is stored as a ``tree``: its nested dicts, lists and tuples as
JSON with every array replaced by ``{"__array__": "optim/<path>"}``.

Loading checks, before any array is decompressed, that the arrays the state refers
to are in the archive, that each minirnn buffer has its parameter's shape, and that
the archive holds no optimiser array the state does not use.
"""

from __future__ import annotations

from ..backend import np, to_numpy
from . import fields
from .archive import OPTIM_PREFIX
from .errors import CheckpointError

# --------------------------------------------------------------------------- save


def split_state(state, arrays: dict) -> dict:
    """The saved form of ``state``; its arrays are added to ``arrays`` under ``optim/...`` keys."""
    if isinstance(state, dict) and set(state) == {"meta", "arrays"}:
        for key, value in state["arrays"].items():
            arrays[OPTIM_PREFIX + key] = np.ascontiguousarray(to_numpy(value))
        return {"meta": state["meta"], "array_keys": list(state["arrays"])}
    return {"tree": _split_tree(state, "", arrays)}


def _split_tree(value, prefix: str, arrays: dict):
    """Replace every array inside nested dicts/lists/tuples by ``{"__array__": key}``.

    Dicts and tuples are tagged so that they come back as they were (int keys stay
    ints, ``betas`` stays a tuple).
    """
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        key = OPTIM_PREFIX + prefix.rstrip("/")
        arrays[key] = np.ascontiguousarray(to_numpy(value))
        return {"__array__": key}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, (str, int)):
                raise TypeError(f"optimizer state keys must be str or int, got {type(k).__name__}")
        return {"__dict__": [[k, _split_tree(v, f"{prefix}{k}/", arrays)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_split_tree(v, f"{prefix}{i}/", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_split_tree(v, f"{prefix}{i}/", arrays) for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------------- check (headers only)


def _tree_array_keys(value, where: str, found: set) -> set:
    """Every ``optim/...`` key a saved tree refers to; raises on a malformed tag."""
    if isinstance(value, list):
        for item in value:
            _tree_array_keys(item, where, found)
    elif isinstance(value, dict):
        if "__array__" in value:
            key = value["__array__"]
            if not (isinstance(key, str) and key.startswith(OPTIM_PREFIX)):
                raise CheckpointError(f"{where}: an optimizer array reference must be 'optim/...', "
                                      f"got {fields.describe(key)}")
            found.add(key)
        elif "__dict__" in value:
            pairs = value["__dict__"]
            ok = isinstance(pairs, list) and all(
                isinstance(p, list) and len(p) == 2 and (isinstance(p[0], str) or fields.is_int(p[0])) for p in pairs
            )
            if not ok:
                raise CheckpointError(f"{where}: a saved optimizer dict must be a list of [key, value] pairs, "
                                      f"got {fields.describe(pairs)}")
            for _, item in pairs:
                _tree_array_keys(item, where, found)
        elif "__tuple__" in value:
            if not isinstance(value["__tuple__"], list):
                raise CheckpointError(f"{where}: a saved optimizer tuple must be a list, "
                                      f"got {fields.describe(value['__tuple__'])}")
            _tree_array_keys(value["__tuple__"], where, found)
        else:
            for item in value.values():
                _tree_array_keys(item, where, found)
    return found


def check_arrays(saved, headers: dict, parameters: list, where: str) -> None:
    """Compare the saved state with the archive's ``optim/`` members and the model's parameters.

    ``headers`` maps member keys to their ``.npy`` headers; nothing is decompressed.
    """
    stored = {key for key in headers if key.startswith(OPTIM_PREFIX)}
    if saved is None:
        used = set()
    elif "meta" in saved:
        count = saved["meta"]["num_params"]
        if count != len(parameters):
            raise CheckpointError(f"{where}: the optimizer state is for {count} parameters, "
                                  f"the model has {len(parameters)}")
        used = set()
        for key, index in fields.array_positions(saved).items():
            member, param = OPTIM_PREFIX + key, parameters[index]
            if member not in headers:
                raise CheckpointError(f"{where}: optimizer array {key!r} is missing from the archive")
            header = headers[member]
            if header.shape != tuple(param.shape) or header.dtype.kind != "f":
                raise CheckpointError(f"{where}: optimizer array {key!r} is {header.shape} {header.dtype}, but "
                                      f"parameter {index} is {tuple(param.shape)} {param.dtype}")
            used.add(member)
    else:
        used = _tree_array_keys(saved["tree"], where, set())
        missing = sorted(used - stored)
        if missing:
            raise CheckpointError(f"{where}: optimizer array {missing[0]!r} is missing from the archive")
    unused = sorted(stored - used)
    if unused:
        raise CheckpointError(f"{where}: the archive holds optimizer arrays its state does not use: "
                              f"{', '.join(unused[:3])}")


# --------------------------------------------------------------------------- load (after the checks)


def join_state(saved, arrays: dict):
    """The optimiser's ``state_dict`` rebuilt from its saved form and the decompressed arrays."""
    if saved is None:
        return None
    if "meta" in saved:
        return {"meta": saved["meta"], "arrays": {k: arrays[OPTIM_PREFIX + k] for k in saved["array_keys"]}}
    return _join_tree(saved["tree"], arrays)


def _join_tree(value, arrays: dict):
    if isinstance(value, list):
        return [_join_tree(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__dict__" in value:
        return {k: _join_tree(v, arrays) for k, v in value["__dict__"]}
    if "__tuple__" in value:
        return tuple(_join_tree(v, arrays) for v in value["__tuple__"])
    return {k: _join_tree(v, arrays) for k, v in value.items()}
