"""Input validation for the public entry points.

Every error names what was expected and what came, so a user sees
"Linear expects 20 input features, got 10" instead of a broadcasting error three
frames deep. These helpers do no math; they only look at shapes, dtypes and values.
"""

from __future__ import annotations

from .backend import get_array_module, is_array, np, to_numpy


def check_array(x, where: str, name: str = "input"):
    """Raise TypeError unless ``x`` is a NumPy or CuPy array."""
    if not is_array(x):
        raise TypeError(f"{where} expects {name} to be a numpy or cupy array, got {type(x).__name__}")
    return x


def check_float(x, dtype, where: str, name: str = "input"):
    """Raise unless ``x`` is a floating array of exactly ``dtype`` (no silent upcasts)."""
    check_array(x, where, name)
    if x.dtype != dtype:
        raise TypeError(
            f"{where} expects {name} of dtype {np.dtype(dtype)} (the dtype of its parameters), "
            f"got {x.dtype}; convert it explicitly with .astype(...)"
        )
    return x


def check_rank(x, ranks, where: str, name: str = "input", layout: str = ""):
    """Raise ValueError unless ``x.ndim`` is one of ``ranks``."""
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if x.ndim not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{where} expects {name} to be {want}{hint}, got {x.ndim}-D with shape {tuple(x.shape)}")
    return x


def check_last_dim(x, size: int, where: str, what: str = "input features"):
    """Raise ValueError unless the last axis of ``x`` has ``size`` entries."""
    if x.ndim == 0:
        raise ValueError(f"{where} expects {size} {what} on the last axis, got a 0-D array (a scalar)")
    if x.shape[-1] != size:
        raise ValueError(f"{where} expects {size} {what}, got {x.shape[-1]} (shape {tuple(x.shape)})")
    return x


def check_shape(x, shape, where: str, name: str):
    """Raise ValueError unless ``x.shape == shape``."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{where} expects {name} of shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def check_finite(x, where: str, name: str = "input"):
    """Raise ValueError when ``x`` holds NaN or infinity."""
    xp = get_array_module(x)
    if not bool(xp.isfinite(x).all()):
        raise ValueError(f"{where} got NaN or infinity in {name}")
    return x


def check_ids(ids, num: int, where: str, name: str = "ids"):
    """Raise unless ``ids`` is an integer array with every value in [0, num)."""
    check_array(ids, where, name)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{where} expects integer {name}, got dtype {ids.dtype}")
    if ids.size:
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= num:
            bad = low if low < 0 else high
            raise IndexError(f"{where} expects {name} in [0, {num - 1}], got {bad}")
    return ids


def check_lengths(lengths, batch: int, steps: int, where: str):
    """Validate per-sequence lengths and return them as a host int64 NumPy array.

    Lengths live on the host: they steer the Python time loop, so reading them from
    the device inside the loop would cost a synchronisation per step.
    """
    if is_array(lengths):
        lengths = to_numpy(lengths)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"{where} expects lengths to hold one entry per sequence ({batch}), got shape {lengths.shape}"
        )
    if lengths.dtype.kind not in "iu":
        if lengths.dtype.kind == "f" and np.all(lengths == np.round(lengths)):
            lengths = lengths.astype(np.int64)
        else:
            raise TypeError(f"{where} expects integer lengths, got dtype {lengths.dtype}")
    if batch and (lengths.min() < 1 or lengths.max() > steps):
        bad = lengths.min() if lengths.min() < 1 else lengths.max()
        raise ValueError(f"{where} expects every length in [1, {steps}] (the number of time steps), got {bad}")
    return lengths.astype(np.int64)
