"""Readers for users' own data files. Bad lines are reported by number, never dropped silently.

* :func:`load_parallel_tsv`: parallel text, one pair per line, ``source<TAB>target``
  with an optional third field (the attribution column of the Tatoeba/ManyThings
  ``eng<TAB>fra<TAB>attribution`` files), read literally (quotes are text).
* :func:`load_labeled_text`: classification data, ``text,label`` per row. ``.csv``
  files are read with the :mod:`csv` module (quoted fields, commas and newlines inside
  quotes); ``.tsv``/``.tab`` files split on tabs literally. Other extensions are
  sniffed: a tab in the first line means TSV. A first row whose label field is
  ``label`` (or ``class``, ``category``, ``target``) is taken as a header.

Blank lines are skipped. Any other line that cannot be read (wrong number of fields,
an empty field, invalid UTF-8) is a bad line. With ``errors="raise"`` (the default)
the loader raises :class:`DataFormatError` listing every bad line number; with
``errors="skip"`` it returns the good rows, and the result's ``bad_lines`` lists the
skipped ones so the caller can warn.
"""

from __future__ import annotations

import csv
import io
import os

from .errors import BadLine, DataFormatError

LABEL_HEADERS = frozenset({"label", "labels", "class", "category", "target"})


class Records(list):
    """A list of parsed rows, plus ``bad_lines`` (the :class:`BadLine`s that were skipped) and ``path``."""

    def __init__(self, rows=(), bad_lines=(), path: str = ""):
        super().__init__(rows)
        self.bad_lines = list(bad_lines)
        self.path = path


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")


def _read_text(path) -> tuple[str, str]:
    """The file's text (UTF-8, BOM removed; invalid bytes kept as surrogates) and its path."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    return data.decode("utf-8-sig", errors="surrogateescape"), path


def _invalid_utf8(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _finish(rows, bad: list[BadLine], path: str, errors: str) -> Records:
    if bad and errors == "raise":
        raise DataFormatError(path, bad)
    return Records(rows, bad, path)


def load_parallel_tsv(path, errors: str = "raise") -> Records:
    """Read ``source<TAB>target[<TAB>attribution]`` lines -> :class:`Records` of (source, target).

    The result's ``columns`` is 3 when some line had the attribution column, else 2.
    """
    _check_errors(errors)
    text, path = _read_text(path)
    rows, bad, widest = [], [], 2
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if _invalid_utf8(line):
            bad.append(BadLine(number, "not valid UTF-8"))
            continue
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            bad.append(
                BadLine(
                    number, f"expected 2 or 3 tab-separated fields (source, target[, attribution]), got {len(fields)}"
                )
            )
            continue
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            bad.append(BadLine(number, f"empty {'source' if not source else 'target'}"))
            continue
        rows.append((source, target))
        widest = max(widest, len(fields))
    records = _finish(rows, bad, path, errors)
    records.columns = widest  # 3 when the file has an attribution column
    return records


def _delimiter_for(path: str, text: str, delimiter: str | None) -> str:
    if delimiter is not None:
        return delimiter
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        return ","
    if ext in (".tsv", ".tab"):
        return "\t"
    first = next((line for line in text.splitlines() if line.strip()), "")
    return "\t" if "\t" in first else ","


def _rows_with_line_numbers(text: str, delimiter: str, path: str):
    """Yield (first line number, fields) per record; CSV may span lines inside quotes."""
    if delimiter == "\t":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # The parser cannot resynchronise after malformed quoting, so this stops the read.
            raise DataFormatError(path, [BadLine(start, f"malformed CSV ({err})")]) from err
        if any(f.strip() for f in fields):
            yield start, fields
        start = reader.line_num + 1


def load_labeled_text(path, errors: str = "raise", delimiter: str | None = None, header: bool | None = None) -> Records:
    """Read ``text,label`` rows (CSV or TSV) -> :class:`Records` of (text, label) strings.

    ``header=None`` detects a header row (label field named ``label``, ``class``, ...);
    True always skips the first row, False never does.
    """
    _check_errors(errors)
    text, path = _read_text(path)
    delimiter = _delimiter_for(path, text, delimiter)
    name = "tab" if delimiter == "\t" else repr(delimiter)
    rows, bad = [], []
    first = True
    for number, fields in _rows_with_line_numbers(text, delimiter, path):
        if first:
            first = False
            is_header = len(fields) == 2 and fields[1].strip().lower() in LABEL_HEADERS
            if header or (header is None and is_header):
                continue
        if any(_invalid_utf8(f) for f in fields):
            bad.append(BadLine(number, "not valid UTF-8"))
            continue
        if len(fields) != 2:
            hint = " (quote fields that contain the delimiter)" if delimiter == "," and len(fields) > 2 else ""
            bad.append(BadLine(number, f"expected 2 {name}-separated fields (text, label), got {len(fields)}{hint}"))
            continue
        text_field, label = fields[0].strip(), fields[1].strip()
        if not text_field or not label:
            bad.append(BadLine(number, f"empty {'text' if not text_field else 'label'}"))
            continue
        rows.append((text_field, label))
    return _finish(rows, bad, path, errors)
