"""Split text into tokens and join tokens back into text.

Word mode (the default) keeps words, numbers and punctuation as separate tokens::

    tokenize("I am happy!")          -> ["i", "am", "happy", "!"]
    tokenize("j'ai un chien.")       -> ["j'", "ai", "un", "chien", "."]
    tokenize("I don't know, it's ok") -> ["i", "do", "n't", "know", ",", "it", "'s", "ok"]

Apostrophes inside a word are handled in one of two ways:

* French elision: a short clitic (``c d j l m n s t qu jusqu lorsqu puisqu``) keeps
  its apostrophe and becomes its own token: ``j'ai`` -> ``j'`` ``ai``,
  ``l'oiseau`` -> ``l'`` ``oiseau``.
* English contractions split before the apostrophe, as in the Penn Treebank:
  ``it's`` -> ``it`` ``'s``, ``i'm`` -> ``i`` ``'m``, ``don't`` -> ``do`` ``n't``.

Any other word with apostrophes or hyphens stays whole (``aujourd'hui``,
``o'clock``, ``peut-être``). The curly apostrophe ’ is read as '.

Character mode returns every character, with runs of whitespace collapsed to one
space and the ends stripped, so ``detokenize(tokenize(s, mode="char"), "char")`` gives
the normalised text back.

``detokenize`` joins word tokens with single spaces, except that it puts no space
before closing punctuation (``. , ! ? ; : % ) ] }``) or a contraction (``'s``,
``n't``), and none after an opening bracket or an elided clitic (``j'``). For any
text, ``tokenize(detokenize(tokenize(s)))`` equals ``tokenize(s)``.
"""

from __future__ import annotations

import re

MODES = ("word", "char")

_LETTERS = r"[^\W\d_]+"
# A word is letters joined by single apostrophes or hyphens; a number may have one
# decimal point; anything else that is not a space is a one-character token.
_TOKEN_RE = re.compile(rf"{_LETTERS}(?:['\-]{_LETTERS})*|\d+(?:\.\d+)?|\S")
_SPACE_RE = re.compile(r"\s+")

ELISION_CLITICS = frozenset({"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu"})
CONTRACTION_SUFFIXES = frozenset({"'s", "'m", "'re", "'ve", "'ll", "'d"})

_NO_SPACE_BEFORE = frozenset(".,!?;:%)]}")
_NO_SPACE_AFTER = frozenset("([{")


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


def tokenize(text: str, lower: bool = True, mode: str = "word") -> list[str]:
    """Split ``text`` into word/punctuation tokens (``mode="word"``) or characters (``"char"``)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    _check_mode(mode)
    text = text.replace("\u2019", "'")
    if lower:
        text = text.lower()
    if mode == "char":
        return list(_SPACE_RE.sub(" ", text).strip())
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        tokens.extend(_split_word(match.group()))
    return tokens


def _attaches_left(token: str) -> bool:
    """True for a token written without a space before it."""
    return token in _NO_SPACE_BEFORE or (len(token) > 1 and token.startswith("'")) or token.lower() == "n't"


def _attaches_right(token: str) -> bool:
    """True for a token written without a space after it."""
    return token in _NO_SPACE_AFTER or (len(token) > 1 and token.endswith("'"))


def detokenize(tokens, mode: str = "word") -> str:
    """Join tokens into readable text; the inverse of :func:`tokenize` up to spacing."""
    _check_mode(mode)
    tokens = [str(t) for t in tokens]
    if mode == "char":
        return "".join(tokens)
    pieces: list[str] = []
    for i, token in enumerate(tokens):
        if i > 0 and not _attaches_right(tokens[i - 1]) and not _attaches_left(token):
            pieces.append(" ")
        pieces.append(token)
    return "".join(pieces)
