"""Large scratch arrays of the fast loop, kept between calls instead of reallocated.

A recurrent layer's forward and backward each need a few large arrays that never
leave the fast path: the input projection and the pre-activation gradients (R, G*H),
the state slots (T+1, N, P), one step's GEMM output. A fresh NumPy array of that
size comes from ``mmap``: the kernel hands it over as untouched pages, and the first
write to each 4 KiB page faults and zeroes it. For the LSTM of ``bench_rnn.py``
case a that is about 50 MB, some 12,000 faults, on every training step; glibc also
gives freed blocks of that size back to the system at once, so the next step pays
again. (Measured: with glibc told never to do so, ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` set high, the forward of case a ran in 25 instead of 50
ms on a loaded machine.)

So the fast loop takes those arrays from a ``Workspace`` and gives them back when it
is done with them, and the next call reuses the same, already-mapped memory. This is
the idea of PyTorch's caching allocator and of cuDNN's workspace, on a small scale:

* ``take(shape, dtype)`` returns an uninitialised array, a view of the smallest free
  buffer that is large enough, or of a new one;
* ``give(*arrays)`` returns arrays that the caller will never read again (given a
  view, it frees the buffer it came from);
* at most ``LIMIT_BYTES`` of free buffers are kept; beyond that the largest go back
  to the allocator. ``clear()`` drops them all, ``held_bytes()`` says how much is kept;
  ``empty_cache()`` does it for this thread's workspace (after training, say).

Only arrays that stay inside ``fast/`` are taken from here: what a call returns (the
outputs, the states, the gradients) is always a fresh array that the caller owns.
On CuPy, whose own memory pool already does this, ``take`` is ``xp.empty`` and
``give`` does nothing. Each thread has its own workspace.
"""

from __future__ import annotations

import math
import threading

from ..backend import np

LIMIT_BYTES = 1 << 30  # free buffers kept at most (1 GiB)

_local = threading.local()


class Workspace:
    """Free NumPy buffers by dtype, reused by ``take`` and refilled by ``give``."""

    def __init__(self, limit_bytes: int = LIMIT_BYTES):
        self.limit_bytes = limit_bytes
        self._free: list = []  # flat (1-D) owning buffers, not in use

    def take(self, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` (reused memory when possible)."""
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        fits = [k for k, b in enumerate(self._free) if b.dtype == dtype and b.size >= size]
        if not fits:
            return np.empty(shape, dtype=dtype)
        buffer = self._free.pop(min(fits, key=lambda k: self._free[k].size))
        return buffer[:size].reshape(shape)

    def give(self, *arrays) -> None:
        """Return arrays (or views of them) that nobody will read again."""
        for a in arrays:
            if a is None:
                continue
            owner = a if a.base is None else a.base
            if owner.base is None and owner.flags.c_contiguous and not any(b.base is owner for b in self._free):
                self._free.append(owner.reshape(-1))
        self._trim()

    def _trim(self) -> None:
        self._free.sort(key=lambda b: b.nbytes)
        while self._free and self.held_bytes() > self.limit_bytes:
            self._free.pop()

    def held_bytes(self) -> int:
        """Bytes held in free buffers."""
        return sum(b.nbytes for b in self._free)

    def clear(self) -> None:
        """Give every free buffer back to the allocator."""
        self._free.clear()


class _DeviceWorkspace:
    """CuPy: its memory pool already reuses device memory, so take allocates and give is a no-op."""

    def __init__(self, xp):
        self.xp = xp

    def take(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def give(self, *arrays) -> None:
        return None


def workspace_for(xp):
    """This thread's workspace for array module ``xp``."""
    if xp is not np:
        return _DeviceWorkspace(xp)
    if not hasattr(_local, "workspace"):
        _local.workspace = Workspace()
    return _local.workspace


def empty_cache() -> int:
    """Give this thread's kept scratch buffers back to the allocator (like
    ``torch.cuda.empty_cache``); returns the bytes released. The next call of the fast
    loop allocates afresh."""
    held = workspace_for(np).held_bytes()
    workspace_for(np).clear()
    return held
