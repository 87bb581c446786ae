"""Reading a checkpoint's zip archive without trusting it.

A checkpoint is a zip archive of ``.npy`` members (``numpy.savez``). Each check runs
before the step it protects costs anything:

1. the central directory (zipfile reads it; nothing is decompressed yet): every
   member has an expected name, a supported compression, and the sizes it declares
   add up to at most ``MAX_EXPANSION`` times the file's size, so a zip bomb is
   refused from its directory alone;
2. each member's ``.npy`` header (a few hundred bytes): a plain numeric dtype (no
   objects, so no pickle) and a shape whose bytes are exactly what the member
   declares;
3. only then, and only for the members the loader asks for, the data.

Every malformed byte surfaces as a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import zipfile
import zlib
from typing import NamedTuple

from ..backend import np
from .errors import CheckpointError

META_KEY = "__minirnn__"
PARAM_PREFIX = "param/"
OPTIM_PREFIX = "optim/"
MAX_META_BYTES = 64 * 2**20  # the JSON metadata, vocabularies included
MAX_EXPANSION = 100  # deflate reaches ~1000:1 on zeros; weights compress ~1.1:1
NUMERIC_KINDS = "biuf"  # bool, int, uint, float
_CHUNK = 2**20
_ZIP_MAGIC = b"PK\x03\x04"

# What a damaged or hostile archive can make zipfile, zlib and numpy's header parser
# raise. They are caught only around the reading below and reported as CheckpointError.
_MALFORMED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error, OverflowError,
              NotImplementedError, RuntimeError, KeyError, IndexError, SyntaxError, RecursionError)


class ArrayHeader(NamedTuple):
    """What a ``.npy`` header says about its array, and where the data starts."""

    shape: tuple
    dtype: object  # np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _key_of(name: str) -> str | None:
    """The savez key of a member name (``param/w.npy`` -> ``param/w``), or None when unexpected."""
    if not name.endswith(".npy"):
        return None
    key = name[: -len(".npy")]
    if key == META_KEY or any(key.startswith(p) and len(key) > len(p) for p in (PARAM_PREFIX, OPTIM_PREFIX)):
        return key
    return None


class Archive:
    """An open checkpoint archive whose directory has been checked; use as a context manager."""

    def __init__(self, path: str):
        self.path = path
        self._handle = open(path, "rb")  # a missing or unreadable file raises OSError here, as itself
        try:
            if self._handle.read(4) != _ZIP_MAGIC:
                kind = "an empty file" if os.fstat(self._handle.fileno()).st_size == 0 else "not an .npz archive"
                raise CheckpointError(f"{path} is not a minirnn checkpoint: {kind}")
            with self._malformed():
                self._zip = zipfile.ZipFile(self._handle)
                self.members = self._check_directory(self._zip.infolist())
        except BaseException:
            self._handle.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()

    @contextlib.contextmanager
    def _malformed(self, member: str | None = None):
        where = f" (member {member!r})" if member else ""
        try:
            yield
        except _MALFORMED as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{self.path} is truncated or corrupt{where}: {err}") from err

    def _check_directory(self, infos) -> dict:
        names = [info.filename for info in infos]
        if META_KEY + ".npy" not in names:
            held = ", ".join(repr(n[:40]) for n in names[:4]) or "nothing"
            raise CheckpointError(f"{self.path} is an .npz archive but not a minirnn checkpoint (it has no "
                                  f"{META_KEY!r} metadata; it holds {held}{', ...' if len(names) > 4 else ''})")
        members = {}
        for info in infos:
            key = _key_of(info.filename)
            if key is None:
                raise CheckpointError(f"{self.path}: unexpected member {info.filename[:100]!r} in the archive "
                                      f"(a checkpoint holds {META_KEY}.npy, param/*.npy and optim/*.npy)")
            if key in members:
                raise CheckpointError(f"{self.path}: the archive holds {info.filename[:100]!r} twice")
            if info.flag_bits & 0x1:
                raise CheckpointError(f"{self.path}: member {info.filename[:100]!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CheckpointError(f"{self.path}: member {info.filename[:100]!r} uses compression method "
                                      f"{info.compress_type}; only stored and deflated members are read")
            if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
                raise CheckpointError(f"{self.path} is corrupt: stored member {info.filename[:100]!r} declares "
                                      f"{info.file_size} bytes but holds {info.compress_size}")
            members[key] = info
        declared, on_disk = sum(i.file_size for i in infos), os.fstat(self._handle.fileno()).st_size
        if declared > MAX_EXPANSION * on_disk:
            raise CheckpointError(
                f"{self.path}: its members would decompress to {declared:,} bytes from a {on_disk:,}-byte file "
                f"(more than {MAX_EXPANSION} times its size); refusing what looks like a zip bomb"
            )
        if members[META_KEY].file_size > MAX_META_BYTES:
            raise CheckpointError(f"{self.path}: the metadata member declares {members[META_KEY].file_size:,} "
                                  f"bytes, over the limit of {MAX_META_BYTES:,}")
        return members

    # ------------------------------------------------------------------ headers
    def header(self, key: str) -> ArrayHeader:
        """The checked ``.npy`` header of member ``key``; reads a few hundred bytes."""
        with self._malformed(key), self._zip.open(self.members[key]) as stream:
            return self._read_header(key, stream)

    def _read_header(self, key: str, stream) -> ArrayHeader:
        try:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise CheckpointError(f"{self.path}: member {key!r} has .npy format version {version}, "
                                      "which minirnn does not read")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read(stream)
        except CheckpointError:
            raise
        except Exception as err:  # noqa: BLE001 - numpy's parser of a stranger's header names no error types
            # (seen: ValueError, SyntaxError, tokenize.TokenError, TypeError, zipfile.BadZipFile)
            raise CheckpointError(f"{self.path} is corrupt: member {key!r} has no valid .npy header "
                                  f"({type(err).__name__}: {str(err)[:100]})") from err
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise CheckpointError(f"{self.path}: member {key!r} has dtype {dtype}; a checkpoint holds only plain "
                                  "numeric arrays (never objects, so never pickle)")
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise CheckpointError(f"{self.path}: member {key!r} has an invalid shape {shape!r}")
        header = ArrayHeader(tuple(shape), dtype, bool(fortran_order), stream.tell())
        declared = self.members[key].file_size - header.offset
        if header.nbytes != declared:
            raise CheckpointError(f"{self.path} is corrupt: member {key!r} is {shape} {dtype} "
                                  f"({header.nbytes:,} bytes) but holds {declared:,} bytes of data")
        return header

    # ------------------------------------------------------------------ data
    def read(self, key: str):
        """Member ``key`` as a writable NumPy array in native byte order (decompressed now)."""
        with self._malformed(key), self._zip.open(self.members[key]) as stream:
            header = self._read_header(key, stream)
            buffer = bytearray(header.nbytes)
            view, filled = memoryview(buffer), 0
            while filled < header.nbytes:  # in chunks: a second full-size copy is never made
                chunk = stream.read(min(_CHUNK, header.nbytes - filled))
                if not chunk:
                    raise CheckpointError(f"{self.path} is truncated: member {key!r} ends early")
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
            stream.read(1)  # reaching the end makes zipfile compare the CRC
        array = np.frombuffer(buffer, dtype=header.dtype)
        if header.fortran_order:
            array = array.reshape(header.shape[::-1]).T
        else:
            array = array.reshape(header.shape)
        native = header.dtype.newbyteorder("=")
        return array if header.dtype == native else array.astype(native)

    def read_meta_bytes(self) -> bytes:
        """The raw metadata (UTF-8 JSON), after checking that it is a 1-D uint8 array."""
        header = self.header(META_KEY)
        if header.dtype != np.uint8 or len(header.shape) != 1:
            raise CheckpointError(f"{self.path}: the {META_KEY!r} member is not UTF-8 bytes "
                                  f"(got {header.dtype} of shape {header.shape})")
        return self.read(META_KEY).tobytes()
