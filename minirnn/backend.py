"""The array backend: the only module in minirnn that imports numpy or cupy.

Everything above this module writes ``xp = get_array_module(*arrays)`` and uses
``xp`` as it would use numpy, so the same code runs on the CPU (NumPy) and on a
CUDA GPU (CuPy). This module also owns:

* the backend switch (``set_backend("numpy" | "cupy")``),
* the default floating dtype (float32) and ``resolve_dtype``,
* moving arrays between devices (``to_numpy``, ``to_device``),
* seeded randomness: weights are drawn from a NumPy ``Generator`` on the host and
  then moved to the device, so a CPU run and a GPU run start from the same weights,
* ``shape_only``: a block in which those draws return shapes instead of arrays, so a
  model can be built from a stranger's config and compared with a checkpoint's arrays
  before a single weight is allocated.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

# The host array library, re-exported so that the rest of the package can use NumPy
# for host-side work (lengths, checkpoints, masks built on the host) through
# ``from .backend import np`` while this stays the only module that imports it.

try:  # CuPy is an optional extra (pip install minirnn[cuda]).
    import cupy as _cupy
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

BACKENDS = ("numpy", "cupy")
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

_backend = "numpy"
_default_dtype = np.dtype(np.float32)
_rng = np.random.default_rng(0)
_shape_only = None  # a _ShapeOnlyBudget inside shape_only(), else None


# --------------------------------------------------------------------------- switch


def cupy_available() -> bool:
    """True when CuPy is installed and can see at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def _require_cupy():
    if _cupy is None:
        raise RuntimeError(
            "backend 'cupy' was requested but CuPy is not installed; "
            "install it with: pip install 'minirnn[cuda]' (cupy-cuda12x)"
        )
    if not cupy_available():
        raise RuntimeError(
            "backend 'cupy' was requested but no CUDA GPU is visible to CuPy; "
            "use backend 'numpy' on this machine"
        )
    return _cupy


def check_backend_name(name: str) -> str:
    """Normalise a backend or device name: 'numpy'/'cpu' or 'cupy'/'cuda'/'gpu'."""
    aliases = {"numpy": "numpy", "cpu": "numpy", "cupy": "cupy", "cuda": "cupy", "gpu": "cupy"}
    key = str(name).lower()
    if key not in aliases:
        raise ValueError(f"unknown backend {name!r}; expected one of 'numpy' (cpu) or 'cupy' (cuda)")
    return aliases[key]


def set_backend(name: str) -> None:
    """Choose where new parameters and inputs live: 'numpy' (CPU) or 'cupy' (CUDA)."""
    global _backend
    name = check_backend_name(name)
    if name == "cupy":
        _require_cupy()
    _backend = name


def get_backend() -> str:
    """The name of the current backend, 'numpy' or 'cupy'."""
    return _backend


def backend_module(name: str | None = None):
    """The array module (numpy or cupy) of backend ``name`` (default: the current one)."""
    name = _backend if name is None else check_backend_name(name)
    return _require_cupy() if name == "cupy" else np


def get_array_module(*arrays):
    """numpy or cupy, whichever the given arrays live on (numpy when none is a CuPy array).

    With CuPy installed this is ``cupy.get_array_module``, which also answers cupy for
    the traced arrays inside a ``cupy.fuse`` function (see ``fuse``).
    """
    if _cupy is not None:
        return _cupy.get_array_module(*arrays)
    return np


def fuse(fn):
    """``cupy.fuse(fn)``: one CUDA kernel that runs the array expressions of ``fn``.

    ``fn`` must be written with ``xp = get_array_module(...)``, so that the same
    function runs unchanged on NumPy arrays. Requires CuPy and a visible GPU.
    """
    return _require_cupy().fuse(fn)


def is_array(a) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(a, np.ndarray) or (_cupy is not None and isinstance(a, _cupy.ndarray))


def backend_of(a) -> str:
    """'cupy' for a CuPy array, otherwise 'numpy'."""
    return "cupy" if get_array_module(a) is not np else "numpy"


# --------------------------------------------------------------------------- dtypes


def set_default_dtype(dtype) -> None:
    """Set the dtype that ``dtype=None`` means everywhere (float32 unless changed)."""
    global _default_dtype
    _default_dtype = resolve_dtype(dtype)


def get_default_dtype() -> np.dtype:
    return _default_dtype


def resolve_dtype(dtype) -> np.dtype:
    """A floating NumPy dtype from ``None`` (the default), a dtype, or its name."""
    if dtype is None:
        return _default_dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be a floating dtype or its name, got {dtype!r}") from err
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be one of float16, float32, float64, got {resolved}")
    return resolved


# --------------------------------------------------------------------------- transfers


def to_numpy(a):
    """Any minirnn array (NumPy or CuPy) as a NumPy array; other values unchanged."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return _cupy.asnumpy(a)
    return a


def to_device(a, backend: str | None = None):
    """Move an array to ``backend`` (default: the current backend)."""
    name = _backend if backend is None else check_backend_name(backend)
    if name == "cupy":
        return _require_cupy().asarray(a)
    return to_numpy(a) if not isinstance(a, np.ndarray) else a


# --------------------------------------------------------------------------- randomness


def manual_seed(seed: int) -> None:
    """Seed minirnn's global generator (weight initialisation and dropout masks)."""
    global _rng
    _rng = np.random.default_rng(seed)
    if _backend == "cupy":
        _require_cupy().random.seed(seed)


def get_rng() -> np.random.Generator:
    """The global NumPy generator that initialisation draws from."""
    return _rng


def uniform(shape, bound: float, dtype=None, backend: str | None = None, rng=None):
    """U(-bound, bound) drawn on the host in float64, cast, then moved to the device."""
    if _shape_only is not None:
        return _shape_only.placeholder(shape, dtype)
    rng = _rng if rng is None else rng
    values = rng.uniform(-bound, bound, size=shape).astype(resolve_dtype(dtype))
    return to_device(values, backend)


def bernoulli_keep_mask(shape, keep_prob: float, dtype, like):
    """A {0, 1} mask with P(1) = keep_prob, created on the device of ``like``.

    On NumPy the draw comes from the seeded global generator, so a seeded CPU run is
    reproducible bit for bit; on CuPy it comes from CuPy's generator on the GPU.
    """
    xp = get_array_module(like)
    if xp is np:
        return (_rng.random(shape) < keep_prob).astype(dtype)
    return (xp.random.random(shape) < keep_prob).astype(dtype)


def normal(shape, std: float = 1.0, dtype=None, backend: str | None = None, rng=None):
    """N(0, std^2) drawn on the host in float64, cast, then moved to the device."""
    if _shape_only is not None:
        return _shape_only.placeholder(shape, dtype)
    rng = _rng if rng is None else rng
    values = (rng.standard_normal(size=shape) * std).astype(resolve_dtype(dtype))
    return to_device(values, backend)


# --------------------------------------------------------------------------- shape-only building


class ShapeOnlyArray:
    """What ``uniform``/``normal`` return inside ``shape_only()``: a shape and a dtype, no memory.

    A constructor may write into its fresh weights (``Embedding`` zeroes its padding
    row); with nothing to write into yet, item assignment does nothing.
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if any(int(n) != n or n < 0 for n in shape):
            raise ValueError(f"array dimensions must be non-negative integers, got shape {shape}")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __setitem__(self, index, value) -> None:
        pass

    def __repr__(self) -> str:
        return f"ShapeOnlyArray(shape={self.shape}, dtype={self.dtype})"


class ShapeOnlyLimit(Exception):
    """More arrays were asked for inside ``shape_only(max_arrays)`` than it allows."""


class _ShapeOnlyBudget:
    def __init__(self, max_arrays: int):
        self.max_arrays, self.count = int(max_arrays), 0

    def placeholder(self, shape, dtype) -> ShapeOnlyArray:
        self.count += 1
        if self.count > self.max_arrays:
            raise ShapeOnlyLimit(f"more than {self.max_arrays} parameter arrays were asked for")
        return ShapeOnlyArray(shape, resolve_dtype(dtype))



@contextlib.contextmanager
def shape_only(max_arrays: int):
    """Inside this block ``uniform`` and ``normal`` return ``ShapeOnlyArray``s and draw nothing.

    Loading a checkpoint builds its model here: the constructor runs its argument
    checks and names and shapes every parameter, which are compared with the stored
    arrays before any memory is allocated or any random number drawn. After
    ``max_arrays`` placeholders the next one raises ``ShapeOnlyLimit``, so a config
    asking for a billion layers stops at once. Not thread-safe (one global switch).
    """
    global _shape_only
    previous, _shape_only = _shape_only, _ShapeOnlyBudget(max_arrays)
    try:
        yield
    finally:
        _shape_only = previous
