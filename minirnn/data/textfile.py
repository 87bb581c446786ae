"""A user's text file, from raw bytes to numbered lines, whatever bytes it holds.

Everything that reads a user's file (the TSV/CSV loaders, ``Vocab.load``) goes
through here, so every oddity of real files is met in one place:

=====================  ====================================================================
the file holds         what happens
=====================  ====================================================================
nothing (0 bytes)      ``DataFormatError``: the file is empty
a BOM                  removed; UTF-16 and UTF-32 (with their BOM, as Excel and Notepad
                       save "Unicode text") are decoded as such
no BOM                 read as UTF-8; an invalid byte makes its line a bad line (kept as
                       a lone surrogate until then, so the line can be named)
NUL bytes              within the first 8000 bytes: a binary file, refused as a whole (the
                       rule git uses); later: that line is a bad line
\\r\\n, \\r, \\n         each ends a line; no other character does (``str.splitlines`` would
                       also split at \\x0b, \\x0c, \\x1c-\\x1e, \\x85, U+2028 and U+2029, which
                       may sit inside a field and would shift every following column)
a very long field      over ``MAX_FIELD_CHARS`` (csv's own limit): a bad line
=====================  ====================================================================
"""

from __future__ import annotations

import codecs
import os
import re

from .errors import BadLine, DataFormatError

MAX_FIELD_CHARS = 131072  # the csv module's default field_size_limit, used for TSV too
BINARY_PROBE_BYTES = 8000
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_LINE_END = re.compile(r"\r\n|\r|\n")
_ESCAPED = re.compile("[\udc80-\udcff]")  # how surrogateescape keeps an undecodable byte


def read_text(path, what: str = "data file") -> str:
    """The text of ``path``: BOM removed, undecodable UTF-8 bytes kept as lone surrogates.

    Raises ``FileNotFoundError`` for a missing file and ``DataFormatError`` for one
    that is not a readable regular file, is empty, or is binary (naming the line of
    the first NUL byte).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    if not os.path.isfile(path):  # a directory; or a pipe or device, whose read would block or never end
        kind = "a directory" if os.path.isdir(path) else "not a regular file"
        raise DataFormatError(path, message=f"{path} is {kind}, not a {what}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataFormatError(path, message=f"{path}: cannot read the {what} ({err.strerror or err})") from err
    if not data:
        raise DataFormatError(path, message=f"{path}: the {what} is empty (0 bytes)")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_strict(data[len(bom) :], encoding, path)
    nul = data.find(b"\x00", 0, BINARY_PROBE_BYTES)
    if nul >= 0:
        line = _line_of(data[:nul].decode("latin-1"))
        raise DataFormatError(path, [BadLine(line, "a NUL byte: this looks like a binary file, not UTF-8 text "
                                                   "(a UTF-16 file needs its byte-order mark)")])
    return data.decode("utf-8", errors="surrogateescape")


def _decode_strict(data: bytes, encoding: str, path: str) -> str:
    """Text in the encoding its BOM announced; a byte sequence that breaks it names its line."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = _line_of(data[: err.start].decode(encoding, errors="replace"))
        raise DataFormatError(path, [BadLine(line, f"not valid {encoding.upper()} ({err.reason})")]) from err


def _line_of(prefix: str) -> int:
    """The number of the line on which the text after ``prefix`` starts."""
    return len(_LINE_END.findall(prefix)) + 1


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, split at \\r\\n, \\r and \\n only; a final line end adds no line."""
    lines = _LINE_END.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def text_problem(text: str) -> str | None:
    """Why a line holding ``text`` cannot be read as text (an undecodable byte, a NUL), or None."""
    escaped = _ESCAPED.search(text)
    if escaped:
        byte = ord(escaped.group()) - 0xDC00
        return (f"not valid UTF-8 (byte 0x{byte:02x} at character {escaped.start() + 1}); "
                "if the file is Latin-1 or Windows-1252, save it as UTF-8")
    if "\x00" in text:
        return "a NUL byte (binary data in a text file)"
    return None


def field_problem(field: str) -> str | None:
    """Why a line holding the data field ``field`` is a bad line, or None when it is fine."""
    if len(field) > MAX_FIELD_CHARS:
        return f"a field of {len(field):,} characters, over the limit of {MAX_FIELD_CHARS:,}"
    return text_problem(field)


def first_bad_line(text: str) -> BadLine | None:
    """The first line of ``text`` that ``text_problem`` rejects, for readers that take all or nothing."""
    for number, line in enumerate(split_lines(text), start=1):
        problem = text_problem(line)
        if problem:
            return BadLine(number, problem)
    return None
