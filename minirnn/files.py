"""Crash-safe file writes shared by checkpoints and vocabularies.

A file is written to a temporary name in the same directory, flushed to disk, and
then renamed over the target with ``os.replace`` (atomic on POSIX and Windows), so
an interrupted save leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", encoding: str | None = None, suffix: str = ".tmp"):
    """Yield a handle to a temporary file beside ``path``; on success, rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
