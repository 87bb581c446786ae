"""The error raised for malformed data files, carrying the numbers of the bad lines."""

from __future__ import annotations

from typing import NamedTuple


class BadLine(NamedTuple):
    """One rejected line of a data file: its 1-based number and why it was rejected."""

    line_number: int
    reason: str


class DataFormatError(ValueError):
    """A data or vocabulary file that cannot be read; ``bad_lines`` lists what was wrong where."""

    def __init__(self, path, bad_lines=(), message: str | None = None, max_listed: int = 10):
        self.path = str(path)
        self.bad_lines = [BadLine(*b) for b in bad_lines]
        if message is None:
            listed = "; ".join(f"line {b.line_number}: {b.reason}" for b in self.bad_lines[:max_listed])
            more = len(self.bad_lines) - max_listed
            if more > 0:
                listed += f"; ... and {more} more"
            message = f"{self.path}: {len(self.bad_lines)} bad line(s): {listed}"
        super().__init__(message)
