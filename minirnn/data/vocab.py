"""A vocabulary: tokens <-> integer ids, with four fixed special tokens.

The specials always take the first ids::

    <pad> = 0    padding; targets padded with 0 are skipped by CrossEntropyLoss(ignore_index=0)
    <unk> = 1    any token not in the vocabulary
    <bos> = 2    start of sequence (the decoder's first input)
    <eos> = 3    end of sequence (the decoder's last target)

Ordinary tokens follow, most frequent first, ties broken alphabetically, so the same
data always builds the same vocabulary. A vocabulary is saved as JSON (no pickle).
"""

from __future__ import annotations

import json
import os
from collections import Counter

from ..backend import np, to_numpy
from ..checks import check_int, check_positive_int
from ..files import atomic_open
from .errors import DataFormatError
from .textfile import first_bad_line, read_text

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
VOCAB_FORMAT = "minirnn.vocab"
VOCAB_VERSION = 1


class Vocab:
    """Maps tokens to ids and back. ``Vocab(tokens)`` puts the specials first, then ``tokens``."""

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3
    pad_token, unk_token, bos_token, eos_token = SPECIALS

    def __init__(self, tokens=()):
        self.itos: list[str] = list(SPECIALS)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"vocabulary tokens must be str, got {type(tok).__name__} ({tok!r})")
            if tok in self.stoi:
                if tok in SPECIALS:
                    continue
                raise ValueError(f"duplicate token {tok!r} in vocabulary")
            self.stoi[tok] = len(self.itos)
            self.itos.append(tok)

    @classmethod
    def build(cls, token_lists, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Build from an iterable of token lists.

        Keeps tokens seen at least ``min_freq`` times; ``max_size`` caps ``len(vocab)``,
        the four specials included. Order: frequency (descending), then alphabetical.
        """
        min_freq = check_positive_int(min_freq, "Vocab.build", "min_freq")
        if max_size is not None:  # room for the specials at least
            max_size = check_int(max_size, "Vocab.build", "max_size", low=len(SPECIALS))
        counts: Counter = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab.build expects a list of token lists, got a str; tokenize the text first")
            counts.update(tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((tok for tok, c in counts.items() if c >= min_freq), key=lambda tok: (-counts[tok], tok))
        if max_size is not None:
            kept = kept[: int(max_size) - len(SPECIALS)]
        return cls(kept)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``, or ``unk_id`` when it is unknown."""
        return self.stoi.get(token, self.unk_id)

    def __iter__(self):
        return iter(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        preview = ", ".join(self.itos[len(SPECIALS) : len(SPECIALS) + 5])
        return f"Vocab(size={len(self)}, tokens=[{preview}{', ...' if len(self) > len(SPECIALS) + 5 else ''}])"

    def lookup_token(self, index: int) -> str:
        """The token with id ``index``."""
        index = int(index)
        if not 0 <= index < len(self.itos):
            raise IndexError(f"id {index} is outside the vocabulary (size {len(self.itos)})")
        return self.itos[index]

    def encode(self, tokens, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token list -> id list; unknown tokens become ``unk_id``."""
        if isinstance(tokens, str):
            raise TypeError("Vocab.encode expects a list of tokens, got a str; tokenize the text first")
        ids = [self.stoi.get(tok, self.unk_id) for tok in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, strip_specials: bool = True, stop_at_eos: bool = True) -> list[str]:
        """Id sequence (list or 1-D array) -> token list.

        ``stop_at_eos`` drops ``<eos>`` and everything after it; ``strip_specials`` drops
        ``<pad>``, ``<bos>`` and ``<eos>`` (``<unk>`` is kept so that it stays visible).
        """
        ids = np.asarray(to_numpy(ids))
        if ids.ndim != 1:
            raise ValueError(f"Vocab.decode expects a 1-D id sequence, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"Vocab.decode expects integer ids, got dtype {ids.dtype}")
        tokens = []
        for index in ids.tolist():
            if stop_at_eos and index == self.eos_id:
                break
            if strip_specials and index in (self.pad_id, self.bos_id, self.eos_id):
                continue
            tokens.append(self.lookup_token(index))
        return tokens

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict:
        """A JSON-ready dict (for checkpoint metadata)."""
        return {"format": VOCAB_FORMAT, "version": VOCAB_VERSION, "tokens": list(self.itos)}

    @classmethod
    def from_dict(cls, obj, source: str = "<dict>") -> Vocab:
        """Inverse of :meth:`to_dict`; raises :class:`DataFormatError` naming ``source`` on bad input."""

        def bad(problem: str) -> DataFormatError:
            return DataFormatError(source, message=f"{source}: {problem}")

        if not isinstance(obj, dict) or obj.get("format") != VOCAB_FORMAT:
            raise bad(f"not a minirnn vocabulary (expected format {VOCAB_FORMAT!r})")
        version = obj.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VOCAB_VERSION:
            raise bad(f"vocabulary version {version!r} is not supported (this minirnn reads <= {VOCAB_VERSION})")
        tokens = obj.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise bad("'tokens' must be a list of strings")
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise bad(f"the first tokens must be the specials {list(SPECIALS)}")
        rest = tokens[len(SPECIALS) :]
        if len(set(rest)) != len(rest) or set(rest) & set(SPECIALS):
            raise bad("the vocabulary has duplicate tokens")
        return cls(rest)

    def to_json(self) -> str:
        """The vocabulary as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text, source: str = "<json>") -> Vocab:
        """Inverse of :meth:`to_json`; also accepts the dict from :meth:`to_dict`."""
        if isinstance(text, dict):
            return cls.from_dict(text, source)
        try:
            obj = json.loads(text)
        except (ValueError, TypeError, RecursionError) as err:  # JSONDecodeError is a ValueError
            reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:200]
            raise DataFormatError(source, message=f"{source}: not valid JSON ({reason})") from err
        return cls.from_dict(obj, source)

    def save(self, path) -> None:
        """Write the vocabulary as JSON, atomically (a temporary file, then ``os.replace``)."""
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path) -> Vocab:
        """Read a vocabulary written by :meth:`save` (any bytes: a bad file names its bad line)."""
        path = os.fspath(path)
        text = read_text(path, what="vocabulary file")
        bad = first_bad_line(text)
        if bad is not None:
            raise DataFormatError(path, [bad])
        return cls.from_json(text, source=path)


def encode_labels(labels, classes=None):
    """Class labels -> ``(ids (N,) int64, classes)``.

    ``classes`` is the list of label values (id = position); by default the sorted
    distinct labels. A label missing from a given ``classes`` raises ``ValueError``.
    """
    labels = list(labels)
    classes = sorted(set(labels)) if classes is None else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    missing = [lab for lab in labels if lab not in index]
    if missing:
        raise ValueError(f"label {missing[0]!r} is not one of the classes {classes}")
    return np.asarray([index[lab] for lab in labels], dtype=np.int64), classes
