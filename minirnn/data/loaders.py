"""Readers for users' own data files. Bad lines are reported by number, never dropped silently.

* :func:`load_parallel_tsv`: parallel text, one pair per line, ``source<TAB>target``
  with an optional third field (the attribution column of the Tatoeba/ManyThings
  ``eng<TAB>fra<TAB>attribution`` files), read literally (quotes are text).
* :func:`load_labeled_text`: classification data, a text and a label per row, in any
  column order, with or without a header. Comma, semicolon and pipe files are read with
  the :mod:`csv` module (quoted fields, delimiters and newlines inside quotes);
  ``.tsv``/``.tab`` files split on tabs literally. The delimiter, the header and the
  text and label columns are found by evidence unless given (:mod:`minirnn.data.columns`),
  and the result's ``layout`` says what was found and why.

Bytes become lines in :mod:`minirnn.data.textfile` (BOMs, UTF-16, line ends, NUL
bytes, binary and empty files). Blank lines are skipped. Any other line that cannot
be read (wrong number of fields, an empty field, invalid UTF-8, a NUL byte, a field
over ``MAX_FIELD_CHARS``, malformed CSV quoting) is a bad line. A CSV record whose
quoting is malformed (a stray quote inside a quoted field, a quote never closed)
costs its first line only: the parse resumes on the next line. With ``errors="raise"`` (the default)
the loader raises :class:`DataFormatError` listing every bad line number; with
``errors="skip"`` it returns the good rows, and the result's ``bad_lines`` lists the
skipped ones so the caller can warn.
"""

from __future__ import annotations

import os
from collections import Counter

from .columns import (
    ColumnLayout,
    case_variants,
    choose_columns,
    delimiter_name,
    is_header,
    sniff_delimiter,
    split_records,
)
from .errors import BadLine, DataFormatError
from .textfile import field_problem, read_text, split_lines


class Records(list):
    """A list of parsed rows, plus ``bad_lines`` (the :class:`BadLine`s that were skipped) and ``path``.

    ``layout`` is the :class:`~minirnn.data.columns.ColumnLayout` of a labelled-text
    file (None for parallel text).
    """

    def __init__(self, rows=(), bad_lines=(), path: str = "", layout=None):
        super().__init__(rows)
        self.bad_lines = list(bad_lines)
        self.path = path
        self.layout = layout


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")


def _read_text(path) -> tuple[str, str]:
    """The file's text (see ``textfile.read_text``) and its path as a string."""
    path = os.fspath(path)
    return read_text(path), path


def _fields_problem(fields) -> str | None:
    return next((p for p in map(field_problem, fields) if p), None)


def _finish(rows, bad: list[BadLine], path: str, errors: str, layout=None) -> Records:
    if bad and errors == "raise":
        raise DataFormatError(path, bad)
    return Records(rows, bad, path, layout)


def load_parallel_tsv(path, errors: str = "raise") -> Records:
    """Read ``source<TAB>target[<TAB>attribution]`` lines -> :class:`Records` of (source, target).

    The result's ``columns`` is 3 when some line had the attribution column, else 2.
    """
    _check_errors(errors)
    text, path = _read_text(path)
    rows, bad, widest = [], [], 2
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        problem = _fields_problem(fields)
        if problem:
            bad.append(BadLine(number, problem))
            continue
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


def _resolve_column(spec, first_row, path: str, what: str):
    """A column given by 0-based index or by header name -> (index, whether it was named)."""
    if spec is None:
        return None, False
    if isinstance(spec, str):
        names = [f.strip().lower() for f in first_row]
        if spec.strip().lower() in names:
            return names.index(spec.strip().lower()), True
        if not spec.strip().isdigit():
            raise DataFormatError(path, message=f"{path}: no column named {spec!r} for the {what}; the first row "
                                  f"has {', '.join(repr(f.strip()) for f in first_row)}")
        spec = int(spec)
    if isinstance(spec, bool) or not isinstance(spec, int) or not 0 <= spec < len(first_row):
        raise DataFormatError(path, message=f"{path}: the {what} column must be a name or an index from 0 to "
                              f"{len(first_row) - 1} ({len(first_row)} columns), got {spec!r}")
    return spec, False


def _layout(records, delimiter: str, path: str, header, text_col, label_col) -> ColumnLayout:
    """Find the number of columns, the text and label columns and the header (``columns`` module)."""
    width = Counter(len(fields) for _, fields in records).most_common(1)[0][0]
    if width < 2:
        raise DataFormatError(path, message=f"{path}: found a single column ({delimiter_name(delimiter)}-"
                              "separated); a classification file needs a text column and a label column")
    first = records[0][1] if len(records[0][1]) == width else [""] * width
    body = [fields for _, fields in records[1:] if len(fields) == width]
    text_col, text_named = _resolve_column(text_col, first, path, "text")
    label_col, label_named = _resolve_column(label_col, first, path, "label")
    if text_col is not None and text_col == label_col:
        raise DataFormatError(path, message=f"{path}: the text and label columns are the same ({text_col})")
    text, label, why = choose_columns(first, body, text_col, label_col)
    if header is not None:
        found, reason = bool(header), "as requested"
    elif text_named or label_named:
        found, reason = True, "it names the columns asked for"
    else:
        found, reason = is_header(first, body, text, label)
        if not found and why == "named so in the header":  # names in a data row: decide by the values
            text, label, why = choose_columns(first, body, text_col, label_col, use_names=False)
    names = tuple(f.strip() for f in first) if found else None
    return ColumnLayout(delimiter, width, names, text, label, reason, why)


def load_labeled_text(path, errors: str = "raise", delimiter: str | None = None, header: bool | None = None,
                      text_col=None, label_col=None) -> Records:
    """Read (text, label) rows from a CSV/TSV file -> :class:`Records`, with ``.layout`` saying what was found.

    ``text_col`` / ``label_col``: a 0-based index or a header name (None: found from the
    header names or the values, see :mod:`minirnn.data.columns`). ``header=None`` detects
    a header row by evidence; True always skips the first row, False never does.
    ``delimiter=None`` sniffs it (tab for .tsv/.tab files). Rows with another number of
    fields than the file's, or with an empty text or label, are bad lines.
    """
    _check_errors(errors)
    text, path = _read_text(path)
    delimiter = sniff_delimiter(path, text, delimiter)
    bad = []
    records = list(split_records(text, delimiter, path, lambda number, why: bad.append(BadLine(number, why))))
    if not records and not bad:
        raise DataFormatError(path, message=f"{path}: the file has no rows")
    if not records:
        raise DataFormatError(path, bad)
    layout = _layout(records, delimiter, path, header, text_col, label_col)
    rows = []
    name = delimiter_name(delimiter)
    for number, fields in records[1:] if layout.header is not None else records:
        problem = _fields_problem(fields)
        if problem:
            bad.append(BadLine(number, problem))
            continue
        if len(fields) != layout.num_columns:
            hint = " (quote fields that contain the delimiter)" if len(fields) > layout.num_columns else ""
            bad.append(BadLine(number, f"expected {layout.num_columns} {name}-separated fields, got {len(fields)}"
                               f"{hint}"))
            continue
        text_field, label = fields[layout.text_col].strip(), fields[layout.label_col].strip()
        if not text_field or not label:
            bad.append(BadLine(number, f"empty {'text' if not text_field else 'label'}"))
            continue
        rows.append((text_field, label))
    bad.sort(key=lambda b: b.line_number)
    labels = [label for _, label in rows]
    layout = layout._replace(num_rows=len(rows), num_labels=len(set(labels)), case_variants=case_variants(labels))
    return _finish(rows, bad, path, errors, layout)
