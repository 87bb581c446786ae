"""Split text into tokens and join tokens back into text that reads like the data.

Word mode (the default) keeps words, numbers and punctuation as separate tokens::

    tokenize("I am happy!")            -> ["i", "am", "happy", "!"]
    tokenize("I am happy!", lower=False) -> ["I", "am", "happy", "!"]
    tokenize("j'ai un chien.")         -> ["j'", "ai", "un", "chien", "."]
    tokenize("I don't know, it's ok")  -> ["i", "do", "n't", "know", ",", "it", "'s", "ok"]
    tokenize("It costs 1,500.50 $")    -> ["it", "costs", "1,500.50", "$"]

A word is letters and digits, joined by single apostrophes or hyphens to parts that
start with a letter (``aujourd'hui``, ``peut-être``, ``10h30``; but ``1998-03-03`` is
five tokens); a number keeps one inner ``. , :`` (``3.5``, ``2,50``,
``10:30``) or its thousands commas (``1,000,000``); an abbreviation of single letters
keeps its dots (``U.S.``, ``a.m.``); anything else that is not a space is a
one-character token. Apostrophes inside a word are handled in one of two ways:

* French elision: a short clitic (``c d j l m n s t qu jusqu lorsqu puisqu``) keeps
  its apostrophe and becomes its own token: ``j'ai`` -> ``j'`` ``ai``,
  ``L'homme`` -> ``L'`` ``homme``.
* English contractions split before the apostrophe, as in the Penn Treebank:
  ``it's`` -> ``it`` ``'s``, ``i'm`` -> ``i`` ``'m``, ``don't`` -> ``do`` ``n't``.

Any other word with apostrophes or hyphens stays whole (``o'clock``). The curly
apostrophe ’ is read as '.

Character mode returns every character, with runs of whitespace collapsed to one
space and the ends stripped, so ``detokenize(tokenize(s, mode="char"), "char")`` gives
the normalised text back.

Joining tokens back: English writes ``Go!`` and French ``Va !`` (often with a narrow
no-break space), so no fixed rule can write both. :class:`Spacing` learns, from the
texts of a file, which gap (``""``, ``" "``, ``"\\u202f"`` ...) the file puts between
each kind of neighbour: a word and ``!``, ``«`` and a word, an opening ``"`` and a
word, and so on. ``detokenize(tokens, spacing=Spacing.learn(texts))`` then writes
the file's own conventions; ``detokenize(tokens)`` uses :data:`DEFAULT_SPACING`, the
English rules (no space before ``. , ! ? ; : % ) ] }`` or a closing quote, none after
``( [ {`` or an opening quote). Either way an elided clitic attaches to the next
word and a contraction to the previous one, and for any text
``tokenize(detokenize(tokenize(s)))`` equals ``tokenize(s)``.
"""

from __future__ import annotations

import re
from collections import Counter

MODES = ("word", "char")

_ALNUM = r"[^\W_]"  # a letter or digit (\w without the underscore)
_LETTER = r"[^\W\d_]"
_TOKEN_RE = re.compile(
    rf"(?:{_LETTER}\.){{2,}}"  # an abbreviation of single letters keeps its dots: U.S., a.m.
    rf"|\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?!{_ALNUM})"  # thousands: 1,000,000.50
    rf"|\d+(?:[.,:]\d+)?(?!{_ALNUM})"  # a number with one inner separator: 3.5, 2,50, 10:30
    rf"|{_ALNUM}+(?:['\-]{_LETTER}{_ALNUM}*)*"  # a word: aujourd'hui, peut-être, 10h30
    r"|\S"  # anything else that is not a space is a token of its own
)
_SPACE_RE = re.compile(r"\s+")

ELISION_CLITICS = frozenset({"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu"})
CONTRACTION_SUFFIXES = frozenset({"'s", "'m", "'re", "'ve", "'ll", "'d"})
SYMMETRIC_QUOTES = frozenset("\"'`")  # the same mark opens and closes: which one is decided by counting

_NO_SPACE_BEFORE = frozenset(".,!?;:%)]}»…")
_NO_SPACE_AFTER = frozenset("([{«")
WORD = "w"  # the spacing key of every word or number


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _split_word(word: str) -> list[str]:
    """Split one word at an elision or a contraction; other words stay whole."""
    if word.count("'") != 1:
        return [word]
    head, tail = word.split("'")
    if head.lower() in ELISION_CLITICS:
        return [head + "'", tail]
    if tail.lower() == "t" and len(head) > 1 and head[-1] in "nN":
        return [head[:-1], head[-1] + "'t"]  # don't -> do n't
    if "'" + tail.lower() in CONTRACTION_SUFFIXES:
        return [head, "'" + tail]
    return [word]


def _token_spans(text: str):
    """Yield ``(token, start, end)`` for each word-mode token of ``text`` (no case change)."""
    text = text.replace("\u2019", "'")  # one character for another: the offsets stay valid
    for match in _TOKEN_RE.finditer(text):
        start = match.start()
        for piece in _split_word(match.group()):
            yield piece, start, start + len(piece)
            start += len(piece)


def tokenize(text: str, lower: bool = True, mode: str = "word") -> list[str]:
    """Split ``text`` into word/punctuation tokens (``mode="word"``) or characters (``"char"``).

    ``lower=False`` keeps the case (what a translator of real text wants).
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    _check_mode(mode)
    if mode == "char":
        text = text.replace("\u2019", "'")
        return list(_SPACE_RE.sub(" ", text.lower() if lower else text).strip())
    tokens = [token for token, _, _ in _token_spans(text)]
    return [t.lower() for t in tokens] if lower else tokens


# =========================================================================== spacing


def _is_clitic(token: str) -> bool:
    return len(token) > 1 and token.endswith("'")


def _is_contraction(token: str) -> bool:
    return (len(token) > 1 and token.startswith("'")) or token.lower() == "n't"


def spacing_keys(tokens) -> list[str]:
    """The spacing key of each token: ``"w"`` for a word or number, ``'"open'``/``'"close'``
    for a symmetric quote (the first of a pair opens), the character itself otherwise."""
    keys, open_quotes = [], set()
    for token in tokens:
        if token in SYMMETRIC_QUOTES:
            role = "close" if token in open_quotes else "open"
            open_quotes ^= {token}
            keys.append(token + role)
        elif len(token) == 1 and not token.isalnum():
            keys.append(token)
        else:
            keys.append(WORD)
    return keys


def english_gap(left: str, right: str) -> str:
    """English spacing: nothing before closing marks, nothing after opening ones, else a space."""
    if right in _NO_SPACE_BEFORE or right.endswith("close"):
        return ""
    if left in _NO_SPACE_AFTER or left.endswith("open"):
        return ""
    return " "


class Spacing:
    """Which gap a text puts between neighbouring tokens, learned from example texts.

    ``gaps`` maps a pair of spacing keys (see :func:`spacing_keys`), written
    ``"left right"``, to the gap seen most often between such neighbours. A pair never
    seen backs off to ``word right`` (how the texts space before ``right``), then to
    ``left word`` (after ``left``), then to the English defaults. ``apostrophe`` is
    the apostrophe the texts use most (' or ’).
    """

    def __init__(self, gaps: dict | None = None, apostrophe: str = "'"):
        self.gaps = dict(gaps or {})
        self.apostrophe = apostrophe

    @classmethod
    def learn(cls, texts, min_count: int = 1) -> Spacing:
        """Count the gaps between neighbouring tokens of ``texts`` and keep the most common per pair."""
        counts: dict[str, Counter] = {}
        apostrophes: Counter = Counter()
        for text in texts:
            apostrophes.update(ch for ch in text if ch in "'\u2019")
            spans = list(_token_spans(text))
            keys = spacing_keys([token for token, _, _ in spans])
            for i in range(1, len(spans)):
                if _is_clitic(spans[i - 1][0]) or _is_contraction(spans[i][0]):
                    continue  # fixed rules, not a convention of the file
                gap = text[spans[i - 1][2] : spans[i][1]]
                counts.setdefault(f"{keys[i - 1]} {keys[i]}", Counter())[gap] += 1
        gaps = {}
        for pair, seen in counts.items():
            if pair != f"{WORD} {WORD}" and sum(seen.values()) >= min_count:
                default = english_gap(*pair.split(" "))  # a tie goes to the English default
                gaps[pair] = max(seen, key=lambda gap: (seen[gap], gap == default))
        apostrophe = "\u2019" if apostrophes["\u2019"] > apostrophes["'"] else "'"
        return cls(gaps, apostrophe)

    def gap(self, left: str, right: str) -> str:
        """The gap between tokens with spacing keys ``left`` and ``right``."""
        for pair in (f"{left} {right}", f"{WORD} {right}" if right != WORD else None,
                     f"{left} {WORD}" if left != WORD else None):
            if pair in self.gaps:
                return self.gaps[pair]
        return english_gap(left, right)

    def departures(self) -> dict:
        """The learned gaps that differ from English spacing: ``{"w !": " "}`` for French ``Va !``."""
        return {pair: gap for pair, gap in sorted(self.gaps.items()) if gap != english_gap(*pair.split(" "))}

    def to_dict(self) -> dict:
        """A JSON-ready dict (stored in checkpoints)."""
        return {"gaps": dict(sorted(self.gaps.items())), "apostrophe": self.apostrophe}

    @classmethod
    def from_dict(cls, obj) -> Spacing:
        """The inverse of :meth:`to_dict`; ``None`` gives the defaults."""
        if obj is None:
            return cls()
        if not isinstance(obj, dict) or not isinstance(obj.get("gaps", {}), dict):
            raise ValueError(f"Spacing.from_dict expects {{'gaps': {{...}}, 'apostrophe': ...}}, got {obj!r}")
        gaps = {str(k): str(v) for k, v in obj.get("gaps", {}).items() if not str(v).strip()}
        return cls(gaps, str(obj.get("apostrophe", "'")) or "'")

    def __eq__(self, other) -> bool:
        return isinstance(other, Spacing) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {v!r}" for k, v in list(sorted(self.gaps.items()))[:6])
        return f"Spacing({{{shown}{', ...' if len(self.gaps) > 6 else ''}}}, apostrophe={self.apostrophe!r})"


DEFAULT_SPACING = Spacing()


def detokenize(tokens, mode: str = "word", spacing: Spacing | None = None) -> str:
    """Join tokens into text; ``spacing`` (a :class:`Spacing`) gives the gaps, by default English ones.

    ``detokenize(tokenize(s, lower=False), spacing=Spacing.learn(texts_like_s)) == s`` for
    nearly every ``s`` written with the conventions of ``texts_like_s``.
    """
    _check_mode(mode)
    tokens = [str(t) for t in tokens]
    if mode == "char":
        return "".join(tokens)
    spacing = spacing or DEFAULT_SPACING
    keys = spacing_keys(tokens)
    pieces: list[str] = []
    for i, token in enumerate(tokens):
        if i > 0:
            glued = _is_clitic(tokens[i - 1]) or _is_contraction(token)
            pieces.append("" if glued else spacing.gap(keys[i - 1], keys[i]))
        pieces.append(token)
    text = "".join(pieces)
    return text.replace("'", spacing.apostrophe) if spacing.apostrophe != "'" else text
