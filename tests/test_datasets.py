"""Built-in datasets: determinism, the grammar's required pairs, dates, DNA labels, names."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from minirnn.data import Vocab, detokenize, tokenize
from minirnn.data.datasets import (
    DATE_FORMATS,
    all_translation_pairs,
    contains_motif,
    date_pairs,
    dna_motif,
    format_date,
    name_origins,
    translation_pairs,
)


@pytest.fixture(scope="module")
def grammar():
    return dict(all_translation_pairs())


# ------------------------------------------------------------------------------ translation


def test_translation_required_pairs(grammar):
    expected = {
        "i am happy": "je suis content",
        "i am not happy": "je ne suis pas content",
        "she is happy": "elle est contente",
        "we are happy": "nous sommes contents",
        "the girls are happy": "les filles sont contentes",
        "they are tired": "ils sont fatigués",
        "my sisters are not tired": "mes sœurs ne sont pas fatiguées",
        "you are late": "tu es en retard",
        "he is not sad": "il n'est pas triste",
        "i am hungry": "j'ai faim",
        "i am not hungry": "je n'ai pas faim",
        "the man is cold": "l'homme a froid",
        "i have a red car": "j'ai une voiture rouge",
        "i do not have a red car": "je n'ai pas de voiture rouge",
        "he does not have a bird": "il n'a pas d'oiseau",
        "we have two red cars": "nous avons deux voitures rouges",
        "they have three small dogs": "ils ont trois petits chiens",
        "i have an old tree": "j'ai un vieil arbre",
        "she likes the beautiful bird": "elle aime le bel oiseau",
        "the small dog is black": "le petit chien est noir",
        "the white houses are old": "les maisons blanches sont vieilles",
        "the old school is not green": None,  # negation only without an attributive adjective
        "the school is not green": "l'école n'est pas verte",
        "you do not see the grey horses": "tu ne vois pas les chevaux gris",
    }
    for en, fr in expected.items():
        assert grammar.get(en) == fr, en


def test_translation_size_and_distinct(grammar):
    pairs = translation_pairs()
    assert len(pairs) == len(grammar) > 5000
    assert len(set(pairs)) == len(pairs) and len({en for en, _ in pairs}) == len(pairs)
    assert all(fr == fr.lower() and en == en.lower() for en, fr in pairs)


def test_translation_determinism():
    assert translation_pairs(500, seed=3) == translation_pairs(500, seed=3)
    assert translation_pairs(500, seed=3) != translation_pairs(500, seed=4)
    assert translation_pairs(100, seed=3) == translation_pairs(500, seed=3)[:100]
    assert sorted(translation_pairs(seed=1)) == sorted(translation_pairs(seed=2))
    with pytest.raises(ValueError, match="between 0 and"):
        translation_pairs(10**6)


def test_translation_agreement_and_reordering(grammar):
    # gender and number agreement of one adjective across subjects
    assert {grammar[f"{s} is happy"] for s in ("he", "she")} == {"il est content", "elle est contente"}
    assert grammar["the boys are happy"] == "les garçons sont contents"
    # reordering: the English adjective comes first, the French one after the noun
    reordered = [en for en, fr in grammar.items() if " red " in f" {en} " and re.search(r"rouges? ", fr + " ")]
    assert len(reordered) > 500
    en, fr = "i have a red car", grammar["i have a red car"]
    assert en.split().index("red") < en.split().index("car") and fr.split().index("rouge") > fr.split().index("voiture")
    # negation wraps the verb: "do not have" -> "n'ai pas"
    assert sum("ne " in fr or "n'" in fr for fr in grammar.values()) > 1000


def test_translation_tokenizes_consistently(grammar):
    src = [tokenize(en) for en in grammar]
    tgt = [tokenize(fr) for fr in grammar.values()]
    assert tokenize("j'ai un vieil arbre") == ["j'", "ai", "un", "vieil", "arbre"]
    assert all(detokenize(t) == fr for t, fr in zip(tgt, grammar.values()))
    assert max(map(len, src)) <= 10 and max(map(len, tgt)) <= 10
    assert len(Vocab.build(src)) < 200 and len(Vocab.build(tgt)) < 200


# ------------------------------------------------------------------------------ dates

_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_STRPTIME = (
    "%A %d %B %Y", "%d/%m/%y", "%B %d, %Y", "%d.%m.%Y", "%d %b %Y", "%Y %B %d", "%d %B %Y", "%b %d, %Y",
    "%A, %B %d, %Y", "the %d of %B %Y", "%d/%m/%Y", "%a %d %b %y", "%d-%b-%Y", "%Y/%m/%d",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _parse_human(text: str) -> dt.date:
    """An independent parser for the built-in formats (ordinals removed, then strptime)."""
    plain = _ORDINAL.sub(r"\1", text)
    for fmt in _STRPTIME:
        try:
            return dt.datetime.strptime(plain, fmt).date()
        except ValueError:
            continue
    raise AssertionError(f"unparseable date {text!r}")


def test_dates_correct():
    pairs = date_pairs(3000, seed=0)
    assert len({h for h, _ in pairs}) == 3000
    for human, iso in pairs:
        target = dt.date.fromisoformat(iso)
        assert target.isoformat() == iso
        assert _parse_human(human) == target, human
        names = [w for w in re.findall(r"[a-z]+", human) if w[:3] in {d[:3] for d in _WEEKDAYS}]
        for name in names:  # a written weekday must be the right one
            assert _WEEKDAYS[target.weekday()].startswith(name)


def test_dates_examples_and_formats():
    day = dt.date(1998, 3, 3)
    written = {format_date(day, f) for f in DATE_FORMATS}
    for expected in ("tuesday 3 march 1998", "3/3/98", "march 3rd, 1998", "03.03.1998", "3 mar 1998", "1998 march 3"):
        assert expected in written
    used = Counter(len(h) for h, _ in date_pairs(2000, seed=1))
    assert len(used) > 10  # many formats, many lengths


def test_dates_determinism():
    assert date_pairs(200, seed=5) == date_pairs(200, seed=5)
    assert date_pairs(200, seed=5) != date_pairs(200, seed=6)
    with pytest.raises(ValueError, match="1969 and 2068"):
        date_pairs(10, start=dt.date(1900, 1, 1))


# ------------------------------------------------------------------------------ DNA


@pytest.mark.parametrize("max_mismatches", [0, 1])
def test_dna_labels_correct_and_balanced(max_mismatches):
    data = dna_motif(1000, seed=0, min_len=20, max_len=40, max_mismatches=max_mismatches)
    assert Counter(label for _, label in data) == {0: 500, 1: 500}
    for seq, label in data:
        assert set(seq) <= set("ACGT") and 20 <= len(seq) <= 40
        assert contains_motif(seq, "TATAAT", max_mismatches) == bool(label)
    # decoys: many negatives hold a near miss, so the motif itself must be learnt
    near = sum(contains_motif(s, "TATAAT", max_mismatches + 1) for s, label in data if label == 0)
    assert near > 150


def test_dna_determinism_and_errors():
    assert dna_motif(100, seed=1) == dna_motif(100, seed=1)
    assert dna_motif(100, seed=1) != dna_motif(100, seed=2)
    assert contains_motif("GGTATAATGG") and not contains_motif("GGTATCATGG")
    assert contains_motif("GGTATCATGG", max_mismatches=1)
    with pytest.raises(ValueError, match="min_len"):
        dna_motif(10, min_len=3)
    with pytest.raises(ValueError, match="motif"):
        dna_motif(10, motif="TAXA")


# ------------------------------------------------------------------------------ names


def test_names_without_faker_says_how_to_install(monkeypatch):
    import importlib

    real_import = importlib.import_module

    def no_faker(name, *args, **kwargs):
        if name == "faker" or name.startswith("faker."):
            raise ImportError("No module named 'faker'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_faker)
    with pytest.raises(ImportError, match=r"pip install minirnn\[names\]"):
        name_origins(10)


def test_name_origins():
    pytest.importorskip("faker")
    everything = name_origins(seed=0)
    counts = Counter(label for _, label in everything)
    assert len(counts) == 8 and min(counts.values()) > 100
    assert len({name for name, _ in everything}) == len(everything)  # ambiguous names left out
    balanced = name_origins(400, seed=0)
    assert set(Counter(label for _, label in balanced).values()) == {50}
    assert name_origins(400, seed=0) == balanced and name_origins(400, seed=1) != balanced
    assert set(balanced) <= set(everything)
    with pytest.raises(ValueError, match="balanced"):
        name_origins(10**6)
