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
  view, it frees the buffer it came from); it ignores arrays ``take`` did not make;
* at most ``LIMIT_BYTES`` in ``LIMIT_BUFFERS`` free buffers are kept per thread,
  the least recently returned dropped first; a buffer serves only requests of at
  least half its size. ``clear()`` drops them all, ``held_bytes()`` says how much is
  kept, and ``empty_cache()`` clears every thread's workspace (after training, say).

Only arrays that stay inside ``fast/`` are taken from here: what a call returns (the
outputs, the states, the gradients) is always a fresh array that the caller owns.
On CuPy, whose own memory pool already does this, ``take`` is ``xp.empty`` and
``give`` does nothing. Each thread has its own workspace.
"""

from __future__ import annotations

import math
import threading
import weakref

from ..backend import np

LIMIT_BYTES = 1 << 30  # free bytes kept at most per thread (1 GiB) ...
LIMIT_BUFFERS = 64  # ... in at most this many buffers
FIT = 2  # a free buffer serves a request only if it is at most FIT times its size

_local = threading.local()
_every = weakref.WeakSet()  # every thread's workspace, for empty_cache
_every_lock = threading.Lock()


class Workspace:
    """Free NumPy buffers, reused by ``take`` and refilled by ``give``.

    ``give`` takes back only arrays that ``take`` handed out (or views of them): any
    other array, a view of the caller's input say, is ignored, so a slip can never
    let the workspace write into memory it does not own. Free buffers are kept in
    the order they came back, and beyond ``limit_bytes`` or ``limit_buffers`` the
    least recently returned go first (with sequence lengths that vary from batch to
    batch, the buffers of lengths not seen for a while).
    """

    def __init__(self, limit_bytes: int = LIMIT_BYTES, limit_buffers: int = LIMIT_BUFFERS):
        self.limit_bytes, self.limit_buffers = limit_bytes, limit_buffers
        self._free: list = []  # flat views of owning buffers, least recently given first
        self._lent = weakref.WeakValueDictionary()  # id -> owning buffer, for those handed out
        self._lock = threading.Lock()  # empty_cache may clear this workspace from another thread
        with _every_lock:
            _every.add(self)

    def take(self, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` (reused memory when possible)."""
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        with self._lock:
            fits = [k for k, b in enumerate(self._free) if b.dtype == dtype and size <= b.size <= FIT * max(size, 1)]
            if fits:
                flat = self._free.pop(min(fits, key=lambda k: self._free[k].size))
                owner = flat.base
            else:
                owner = np.empty(size, dtype=dtype)
                flat = owner
            self._lent[id(owner)] = owner
        return flat[:size].reshape(shape)

    def give(self, *arrays) -> None:
        """Return arrays (or views of them) that nobody will read again."""
        with self._lock:
            for a in arrays:
                if a is None:
                    continue
                owner = a if a.base is None else a.base
                if self._lent.get(id(owner)) is owner:  # handed out by take, and not yet given back
                    del self._lent[id(owner)]
                    self._free.append(owner.reshape(-1))
            while self._free and (len(self._free) > self.limit_buffers or self._held() > self.limit_bytes):
                self._free.pop(0)

    def _held(self) -> int:
        return sum(b.nbytes for b in self._free)

    def held_bytes(self) -> int:
        """Bytes held in free buffers."""
        with self._lock:
            return self._held()

    def clear(self) -> int:
        """Give every free buffer back to the allocator; returns the bytes released."""
        with self._lock:
            held = self._held()
            self._free.clear()
            return held


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
    """Give the kept scratch buffers of every thread's workspace back to the allocator
    (like ``torch.cuda.empty_cache``); returns the bytes released. Buffers in use stay
    in use; the next call of the fast loop allocates afresh."""
    with _every_lock:
        spaces = list(_every)
    return sum(space.clear() for space in spaces)
