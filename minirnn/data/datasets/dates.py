"""Human-readable dates -> ISO 8601 dates, the classic character-level attention task.

``date_pairs(3, seed=0)`` gives pairs such as ``("tuesday 3 march 1998", "1998-03-03")``.
Dates are drawn uniformly between ``start`` and ``end`` and written in one of the
:data:`DATE_FORMATS`; every weekday, day and month is computed by :mod:`datetime`, so
the targets are always right.

Numeric formats are day first (``3/3/98`` is 3 March; ``04.05.1998`` is 4 May). A
two-digit year follows the POSIX rule that ``strptime("%y")`` uses: 69-99 are
1969-1999 and 00-68 are 2000-2068, so the default range, 1969-01-01 to 2068-12-31,
keeps every input unambiguous.
"""

from __future__ import annotations

import datetime as _dt

from ...backend import np
from ...checks import check_nonnegative_int

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _fields(d: _dt.date) -> dict:
    month, weekday = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    return {
        "d": d.day, "dd": f"{d.day:02d}", "m": d.month, "mm": f"{d.month:02d}",
        "yyyy": f"{d.year:04d}", "yy": f"{d.year % 100:02d}",
        "month": month, "mon": month[:3], "weekday": weekday, "wkd": weekday[:3], "nth": ordinal(d.day),
    }  # fmt: skip


# Each format is a str.format template over the fields above.
DATE_FORMATS = (
    "{weekday} {d} {month} {yyyy}",  # tuesday 3 march 1998
    "{d}/{m}/{yy}",  # 3/3/98
    "{month} {nth}, {yyyy}",  # march 3rd, 1998
    "{dd}.{mm}.{yyyy}",  # 03.03.1998
    "{d} {mon} {yyyy}",  # 3 mar 1998
    "{yyyy} {month} {d}",  # 1998 march 3
    "{d} {month} {yyyy}",  # 3 march 1998
    "{month} {d}, {yyyy}",  # march 3, 1998
    "{mon} {d}, {yyyy}",  # mar 3, 1998
    "{weekday}, {month} {nth}, {yyyy}",  # tuesday, march 3rd, 1998
    "the {nth} of {month} {yyyy}",  # the 3rd of march 1998
    "{dd}/{mm}/{yyyy}",  # 03/03/1998
    "{wkd} {d} {mon} {yy}",  # tue 3 mar 98
    "{d}-{mon}-{yyyy}",  # 3-mar-1998
    "{yyyy}/{mm}/{dd}",  # 1998/03/03
)


def format_date(d: _dt.date, fmt: str) -> str:
    """Write ``d`` in the template ``fmt`` (one of :data:`DATE_FORMATS`, or your own)."""
    return fmt.format(**_fields(d))


def date_pairs(
    n: int,
    seed: int = 0,
    start: _dt.date = _dt.date(1969, 1, 1),
    end: _dt.date = _dt.date(2068, 12, 31),
    formats=DATE_FORMATS,
) -> list[tuple[str, str]]:
    """``n`` distinct (human-readable, ISO) date pairs, deterministic in ``seed``."""
    n = check_nonnegative_int(n, "date_pairs", "n")
    formats = tuple(formats)
    if not formats:
        raise ValueError("formats must not be empty")
    if start > end:
        raise ValueError(f"start ({start}) must not be after end ({end})")
    if any("{yy}" in f for f in formats) and (start.year < 1969 or end.year > 2068):
        raise ValueError("two-digit-year formats need dates between 1969 and 2068; pass other formats= or dates")
    days = end.toordinal() - start.toordinal() + 1
    if n > days * len(formats) // 2:
        raise ValueError(f"n={n} is too many distinct pairs for {days} days and {len(formats)} formats")
    rng = np.random.default_rng(seed)
    pairs: dict[str, str] = {}
    while len(pairs) < n:
        need = n - len(pairs)
        offsets = rng.integers(0, days, size=need)
        which = rng.integers(0, len(formats), size=need)
        for offset, k in zip(offsets.tolist(), which.tolist()):
            d = _dt.date.fromordinal(start.toordinal() + offset)
            pairs.setdefault(format_date(d, formats[k]), d.isoformat())
    return list(pairs.items())
