"""Which column of a user's CSV/TSV holds the text and which the label, and is the first row a header?

People bring files like ``label,text``, ``review,sentiment``, ``name,language``,
``sentence;category`` or ``id,text,label``. When the caller does not name the columns,
they are found by evidence, in this order:

1. **Delimiter** (``sniff_delimiter``): ``.tsv``/``.tab`` files use tabs. Otherwise each
   of ``, ; TAB |`` parses the first lines, and the one that splits them into the same
   number (>= 2) of fields most consistently wins (ties: the extension's, then that order).
2. **Columns** (``choose_columns``): if the first row names them with words such as
   ``text``/``review``/``name`` and ``label``/``sentiment``/``language``, the names
   decide. Otherwise the values do, over every row but the first: a label column
   repeats a few values (``K`` distinct in ``N`` rows, ``K`` much smaller than ``N``);
   a text column is long and varied. The label is the column with the fewest distinct
   values (on a tie the later one), the text the longest of the others.
3. **Header** (``is_header``): the first row is a header when its label value never
   recurs among the labels below it and its values look like column names (short,
   starting with a letter), or use the words above. A first row whose label is one of
   the labels (``Abbas,Arabic``) is data.

The result is a :class:`ColumnLayout`, whose ``describe()`` says what was found and why,
so that a wrong guess is visible at once and can be fixed with ``text_col=`` /
``label_col=`` (``--text-col`` / ``--label-col`` on the command line).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from typing import NamedTuple

from .textfile import split_lines

TEXT_NAMES = frozenset({
    "text", "texts", "sentence", "sentences", "review", "reviews", "name", "names", "surname", "word", "message",
    "comment", "content", "body", "title", "tweet", "document", "doc", "sms", "question", "utterance", "query",
    "headline", "description", "input", "sequence", "phrase", "abstract", "summary", "email", "post", "string",
})  # fmt: skip
LABEL_NAMES = frozenset({
    "label", "labels", "class", "category", "categories", "target", "sentiment", "language", "lang", "y", "tag",
    "intent", "topic", "emotion", "polarity", "rating", "country", "origin", "nationality", "gender", "genre",
    "type", "output", "spam", "class_label", "classe", "etiquette", "kategorie",
})  # fmt: skip
DELIMITERS = (",", ";", "\t", "|")
SNIFF_LINES = 200
_NAME_RE = re.compile(r"[^\W\d][\w .\-/()#]{0,39}")


def delimiter_name(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(delimiter, repr(delimiter))


class ColumnLayout(NamedTuple):
    """What :func:`minirnn.data.load_labeled_text` found in a file, and why.

    ``header`` holds the first row's names when it is a header, else None.
    ``case_variants`` lists the labels that differ only in case, e.g. ``("Positive",
    "positive")``: they are separate classes, which is rarely meant.
    """

    delimiter: str
    num_columns: int
    header: tuple | None
    text_col: int
    label_col: int
    header_reason: str
    column_reason: str
    num_rows: int = 0
    num_labels: int = 0
    case_variants: tuple = ()

    def column_name(self, index: int) -> str:
        """``'review'`` (the header's name) or ``column 0``."""
        return f"'{self.header[index]}'" if self.header else f"column {index}"

    def list_columns(self) -> str:
        """``0 'review', 1 'label'`` with a header, else ``0, 1, 2``: the indices --text-col/--label-col take."""
        return ", ".join(f"{i} {self.column_name(i)}" if self.header else str(i) for i in range(self.num_columns))

    def describe(self) -> str:
        """Two lines: the format and the header; the columns and why they were chosen."""
        columns = f"{self.num_columns} {delimiter_name(self.delimiter)}-separated columns"
        head = f"header row ({', '.join(self.header)})" if self.header else "no header row"
        return (f"{columns}, {head}: {self.header_reason}\n"
                f"text = {self.column_name(self.text_col)}, label = {self.column_name(self.label_col)}: "
                f"{self.column_reason}")


# --------------------------------------------------------------------------- delimiter


def split_records(text: str, delimiter: str, path: str = "", on_bad=None):
    """Yield (first line number, fields) per non-blank record; TSV splits literally, CSV may span lines.

    A CSV record whose quoting is malformed (or with a field over csv's size limit) raises
    ``csv.Error`` when ``on_bad`` is None; otherwise ``on_bad(line_number, reason)`` is
    called with the record's first physical line and the parse resumes on the next
    physical line, so one bad quote costs one line, not the rest of the file.
    """
    if delimiter == "\t":
        for number, line in enumerate(split_lines(text), start=1):
            if line.strip():
                yield number, line.split("\t")
        return
    lines = list(io.StringIO(text, newline=""))  # the physical lines, exactly as csv.reader sees them
    offset = 0  # physical lines before the current reader's first one
    while offset < len(lines):
        rest = (lines[i] for i in range(offset, len(lines)))  # no copy: one bad line per row must stay linear
        reader = csv.reader(rest, delimiter=delimiter, strict=True)
        start = offset + 1
        try:
            for fields in reader:
                if any(f.strip() for f in fields):
                    yield start, fields
                start = offset + reader.line_num + 1
            return
        except csv.Error as err:
            if on_bad is None:
                raise
            on_bad(start, _quoting_reason(err))
            offset = start  # resume on the line after the bad record's first line


def _quoting_reason(err) -> str:
    """Why ``csv`` rejected a record, and how to fix the line."""
    message = str(err)
    if "field limit" in message:
        return f"a field over the limit of {csv.field_size_limit():,} characters"
    if "unexpected end of data" in message:
        return ('malformed CSV quoting: a field opens a quote (") that is never closed; close it, '
                'or write a literal quote inside a quoted field as ""')
    return (f"malformed CSV quoting ({message}): a quote inside a quoted field must be doubled (\"\"), "
            f"and a quoted field must end right before the delimiter or the line end")


def _consistency(text: str, delimiter: str) -> float:
    """The share of the sampled records with the most common field count, 0 when that count is 1."""
    counts = []
    try:
        for _, fields in split_records(text, delimiter):
            counts.append(len(fields))
            if len(counts) >= SNIFF_LINES:
                break
    except csv.Error:
        pass  # the sample was cut inside a quoted field, or this delimiter is wrong
    if not counts:
        return 0.0
    modal, times = Counter(counts).most_common(1)[0]
    return 0.0 if modal < 2 else times / len(counts)


def sniff_delimiter(path: str, text: str, delimiter: str | None = None) -> str:
    """The field delimiter: ``delimiter`` when given, tab for .tsv/.tab, else the most consistent one."""
    if delimiter is not None:
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {delimiter!r}")
        return delimiter
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in (".tsv", ".tab"):
        return "\t"
    sample = "\n".join(split_lines(text)[:SNIFF_LINES])
    preferred = "," if ext == ".csv" else None
    order = sorted(DELIMITERS, key=lambda d: d != preferred)  # the extension's delimiter first on ties
    scores = {d: _consistency(sample, d) for d in order}
    best = max(order, key=lambda d: scores[d])  # max keeps the first of equal scores
    return best if scores[best] > 0 else (preferred or ",")


# --------------------------------------------------------------------------- columns


class _ColumnStats(NamedTuple):
    distinct: int
    mean_length: float


def _stats(rows, index: int) -> _ColumnStats:
    values = [row[index].strip() for row in rows]
    return _ColumnStats(len(set(values)), sum(map(len, values)) / max(len(values), 1))


def _named(first_row, names) -> list[int]:
    return [i for i, value in enumerate(first_row) if value.strip().lower() in names]


def choose_columns(first_row, body, text_col=None, label_col=None, use_names: bool = True) -> tuple[int, int, str]:
    """(text column, label column, why) from the first row's names or the values of ``body``.

    ``text_col``/``label_col`` (0-based, or None) are kept when given; the other is chosen.
    """
    if text_col is not None and label_col is not None:
        return text_col, label_col, "as given"
    width = len(first_row)
    stats = [_stats(body, i) for i in range(width)]
    if label_col is None and text_col is None and use_names:
        texts, labels = _named(first_row, TEXT_NAMES), _named(first_row, LABEL_NAMES)
        if len(labels) == 1 and (len(texts) == 1 or width == 2) and texts[:1] != labels:
            label = labels[0]
            text = texts[0] if texts else 1 - label
            return text, label, "named so in the header"
    if label_col is None:
        candidates = [i for i in range(width) if i != text_col]
        # the fewest distinct values; on a tie the later column (text,label is the common order)
        label_col = min(candidates, key=lambda i: (stats[i].distinct, -i))
        why = "the label column repeats the fewest distinct values"
    else:
        why = "the label column as given"
    if text_col is None:
        others = [i for i in range(width) if i != label_col]
        text_col = max(others, key=lambda i: (stats[i].mean_length, stats[i].distinct, -i))
        why += "; the text column has the longest values" if width > 2 else ""
    rows = len(body)
    detail = ", ".join(f"column {i}: {stats[i].distinct:,} distinct, mean {stats[i].mean_length:.0f} characters"
                       for i in range(width))
    return text_col, label_col, f"{why} (in {rows:,} rows below the first: {detail})"


def looks_like_name(value: str) -> bool:
    """A column name: starts with a letter, at most 40 characters and 4 words."""
    value = value.strip()
    return bool(_NAME_RE.fullmatch(value)) and len(value.split()) <= 4


def parses_as_number(value: str) -> bool:
    """True when ``float(value)`` parses ('1e3', 'nan', ' 2 ')."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def is_header(first_row, body, text_col: int, label_col: int) -> tuple[bool, str]:
    """Is ``first_row`` a header over ``body``? (see the module docstring) -> (answer, why)."""
    label = first_row[label_col].strip()
    labels = {row[label_col].strip().lower() for row in body}
    if label.lower() in labels:
        return False, f"its label {label!r} is one of the labels below it"
    named = _named(first_row, TEXT_NAMES | LABEL_NAMES)
    if labels and all(parses_as_number(v) for v in labels) and not parses_as_number(label):
        return True, f"{label!r} is a word over numeric labels"
    distinct = len({row[label_col].strip() for row in body})  # as classes count them: case kept
    absent = f"{label!r} is not one of the {distinct:,} labels below it"
    if len(labels) > len(body) / 2:  # labels that hardly recur: a new one says nothing about the first row
        return bool(named), ("the first row uses usual column names" if named else
                             "no evidence either way (the labels hardly recur), so it is read as data")
    if named:
        return True, f"{first_row[named[0]].strip()!r} is a usual column name and {absent}"
    if all(looks_like_name(v) for v in first_row) and body:
        return True, f"its values look like column names and {absent}"
    return False, "its values do not look like column names"


def label_column_problem(layout: ColumnLayout, max_share: float = 0.5) -> str | None:
    """A sentence when the label column cannot be one (more distinct labels than ``max_share`` of the rows).

    With fewer than two texts per label on average no class can be learned, and the
    usual cause is a text column taken for the labels.
    """
    if layout.num_rows and layout.num_labels > max_share * layout.num_rows:
        return (f"{layout.column_name(layout.label_col)}, taken as the label column, has {layout.num_labels:,} "
                f"distinct values in {layout.num_rows:,} rows, which looks like text rather than class labels")
    return None


def case_variants(labels) -> tuple:
    """Groups of labels that differ only in case, most frequent spelling first: (("Positive", "positive"), ...)."""
    counts = Counter(labels)
    groups: dict[str, list[str]] = {}
    for label in counts:
        groups.setdefault(label.casefold(), []).append(label)
    return tuple(tuple(sorted(g, key=lambda s: (-counts[s], s))) for g in groups.values() if len(g) > 1)
