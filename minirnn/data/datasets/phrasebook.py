"""An English -> French phrasebook written like a Tatoeba/ManyThings file: cased, punctuated,
with several references per source and an attribution column. Generated offline.

The grammar of :mod:`.translation` gives the meaning; this module writes it as people
do in real parallel corpora:

* case and punctuation: ``I'm not happy.`` -> ``Je ne suis pas content.``; an
  exclamation now and then (``Tom is hungry!`` -> ``Tom a faim !``), questions
  (``Are you tired?`` -> ``Es-tu fatigué ?``), French typography with a narrow
  no-break space before ``! ?``, elision (``J'ai``, ``Est-ce qu'il``) and the
  euphonic ``-t-`` (``A-t-il un chien ?``);
* English contractions as separate source sentences, as Tatoeba has both
  (``I am tired.``, ``I'm tired.``, ``He doesn't have a car.``);
* several references per source where French must choose what English leaves open:
  ``you`` is ``tu`` or ``vous``, ``they`` is ``ils`` or ``elles``, ``I`` and ``we``
  agree as masculine or feminine (``Je suis content.`` / ``Je suis contente.``), and a
  question may invert, use ``est-ce que`` or keep the statement's order;
* names (``Tom``, ``Mary``) and nouns with their adjectives and numbers.

``phrasebook(n)`` returns ``(english, french)`` rows for ``n`` distinct English
sources, every reference of a source on consecutive rows (as in the real files);
``write_phrasebook_tsv`` writes them with a Tatoeba-style attribution column.
"""

from __future__ import annotations

from typing import NamedTuple

from ...backend import np
from .translation import (
    EN_BE,
    EN_DO,
    EN_VERBS,
    FR_VERBS,
    NOUNS,
    NUMBERS,
    PERSON_ADJECTIVES,
    PERSON_NOUNS,
    THING_ADJECTIVES,
    _agree,
    _clash,
    _noun_phrase,
    french_text,
)

NNBSP = "\u202f"  # French typography: a narrow no-break space before ! ? (as in the ManyThings files)


class FrenchSubject(NamedTuple):
    words: str  # "tu", "vous", "Tom", "les filles"
    person: str  # the verb form: 1sg 2sg 3sg 1pl 2pl 3pl
    gender: str  # m or f, for the agreement of adjectives
    plural: bool  # the agreement's number ("vous" of politeness agrees in the singular)
    pronoun: bool  # a pronoun inverts itself (es-tu); a noun is taken up by il/elle (Tom est-il)


class EnglishSubject(NamedTuple):
    en: str  # "I", "you", "Tom", "the girls"
    person: str  # 1sg 2sg 3sg 1pl 3pl, for the English verb
    french: tuple  # the FrenchSubject readings, one reference each


def _subjects() -> list[EnglishSubject]:
    subjects = [
        EnglishSubject("I", "1sg", (FrenchSubject("je", "1sg", "m", False, True),
                                    FrenchSubject("je", "1sg", "f", False, True))),
        EnglishSubject("you", "2sg", (FrenchSubject("tu", "2sg", "m", False, True),
                                      FrenchSubject("vous", "2pl", "m", False, True))),
        EnglishSubject("he", "3sg", (FrenchSubject("il", "3sg", "m", False, True),)),
        EnglishSubject("she", "3sg", (FrenchSubject("elle", "3sg", "f", False, True),)),
        EnglishSubject("we", "1pl", (FrenchSubject("nous", "1pl", "m", True, True),
                                     FrenchSubject("nous", "1pl", "f", True, True))),
        EnglishSubject("they", "3pl", (FrenchSubject("ils", "3pl", "m", True, True),
                                       FrenchSubject("elles", "3pl", "f", True, True))),
        EnglishSubject("Tom", "3sg", (FrenchSubject("Tom", "3sg", "m", False, False),)),
        EnglishSubject("Mary", "3sg", (FrenchSubject("Mary", "3sg", "f", False, False),)),
    ]
    for noun in PERSON_NOUNS:
        plural = noun.person == "3pl"
        subjects.append(EnglishSubject(noun.en, noun.person,
                                       (FrenchSubject(noun.fr, noun.person, noun.gender, plural, False),)))
    return subjects


FR_2PL = {"être": "êtes", "have": "avez", "like": "aimez", "see": "voyez"}
EN_CONTRACTED = {"am": "'m", "are": "'re", "is": "'s"}
EN_NEGATED = {"is": "isn't", "are": "aren't", "do": "don't", "does": "doesn't"}


def _fr_verb(verb: str, person: str) -> str:
    return FR_2PL[verb] if person == "2pl" else FR_VERBS[verb][person]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# =========================================================================== English surface forms


def _english_be(subject: EnglishSubject, negated: bool) -> list[str]:
    """'I am not', "I'm not"; 'he is not', "he isn't", "he's not"."""
    be = EN_BE[subject.person]
    forms = [f"{subject.en} {be}{' not' if negated else ''}"]
    if subject.en in ("I", "you", "he", "she", "we", "they", "Tom", "Mary"):
        forms.append(f"{subject.en}{EN_CONTRACTED[be]}{' not' if negated else ''}")
    if negated and be in EN_NEGATED:
        forms.append(f"{subject.en} {EN_NEGATED[be]}")
    return forms


def _english_do(subject: EnglishSubject, verb: str, negated: bool) -> list[str]:
    """'he likes'; 'he does not like', "he doesn't like"."""
    if not negated:
        return [f"{subject.en} {EN_VERBS[verb][subject.person]}"]
    do = EN_DO[subject.person]
    return [f"{subject.en} {do} not {verb}", f"{subject.en} {EN_NEGATED[do]} {verb}"]


# =========================================================================== French statements and questions


def _statement(subject: FrenchSubject, verb: str, rest: str, negated: bool) -> str:
    words = [subject.words, "ne", _fr_verb(verb, subject.person), "pas", rest] if negated else \
        [subject.words, _fr_verb(verb, subject.person), rest]
    return french_text(words)


def _inversion(subject: FrenchSubject, verb: str, rest: str) -> str | None:
    """'Es-tu content', 'A-t-il faim', 'Tom est-il content'; None for 'je' (rarely inverted)."""
    form = _fr_verb(verb, subject.person)
    if subject.person == "1sg":
        return None
    if subject.pronoun:
        link = "-t-" if form[-1] in "ae" and subject.words in ("il", "elle") else "-"
        return f"{_capital(form)}{link}{subject.words} {rest}"
    pronoun = ("ils" if subject.gender == "m" else "elles") if subject.plural else \
        ("il" if subject.gender == "m" else "elle")
    link = "-t-" if form[-1] in "ae" and not subject.plural else "-"
    return _capital(french_text([subject.words, f"{form}{link}{pronoun}", rest]))  # le homme -> L'homme


def _french_question(subject: FrenchSubject, verb: str, rest: str) -> list[str]:
    """The inverted question, the est-ce que question and the statement said as a question."""
    statement = _statement(subject, verb, rest, False)
    que = "Est-ce qu'" + statement if statement[0] in "aeiouéèêàâîôûœy" else "Est-ce que " + statement
    forms = [_inversion(subject, verb, rest), que, _capital(statement)]
    return [f + NNBSP + "?" for f in forms if f is not None]


# =========================================================================== the sentences


class Meaning(NamedTuple):
    """English ways to say one thing (each a source of its own) and its French references."""

    english: list
    french: list
    question: bool = False


def _meaning(english, french, question=False) -> Meaning:
    end = "?" if question else "."
    english = [_capital(e) + end for e in english]
    french = list(dict.fromkeys(f if question else _capital(f) + "." for f in french))
    return Meaning(english, french, question)


def _being(subjects):
    """'I'm not hungry.' -> 'Je n'ai pas faim.'; 'Are you tired?' -> 'Es-tu fatigué ?' ..."""
    for subject in subjects:
        for adj in PERSON_ADJECTIVES:
            verb = "have" if adj.avoir else "être"
            for negated in (False, True):
                yield _meaning([f"{e} {adj.en}" for e in _english_be(subject, negated)],
                               [_statement(fs, verb, _agree(adj, fs.gender, fs.plural), negated)
                                for fs in subject.french])
            be = EN_BE[subject.person]
            yield _meaning([f"{be} {subject.en} {adj.en}"],
                           [q for fs in subject.french
                            for q in _french_question(fs, verb, _agree(adj, fs.gender, fs.plural))], question=True)


def _having(subjects):
    """'Tom doesn't have a dog.' -> 'Tom n'a pas de chien.'; 'Do you have two cats?' ..."""
    for subject in subjects:
        for noun in NOUNS:
            for adj in (None, *THING_ADJECTIVES):
                en_np, fr_np = _noun_phrase(noun, adj, False, "a")
                for negated in (False, True):
                    fr_obj = "de " + fr_np.split(" ", 1)[1] if negated else fr_np
                    yield _meaning([f"{e} {en_np}" for e in _english_do(subject, "have", negated)],
                                   [_statement(fs, "have", fr_obj, negated) for fs in subject.french])
                do = EN_DO[subject.person]
                yield _meaning([f"{do} {subject.en} have {en_np}"],
                               [q for fs in subject.french for q in _french_question(fs, "have", fr_np)], True)
                number = NUMBERS[len(noun.en) % len(NUMBERS)][0]
                en_np, fr_np = _noun_phrase(noun, adj, True, number)
                yield _meaning([f"{e} {en_np}" for e in _english_do(subject, "have", False)],
                               [_statement(fs, "have", fr_np, False) for fs in subject.french])


def _liking(subjects):
    """'She doesn't like the red cars.' -> 'Elle n'aime pas les voitures rouges.'"""
    for subject in subjects:
        for verb in ("like", "see"):
            for noun in NOUNS:
                for adj in (None, *THING_ADJECTIVES):
                    for plural in (False, True):
                        en_np, fr_np = _noun_phrase(noun, adj, plural, "the")
                        for negated in (False, True):
                            yield _meaning([f"{e} {en_np}" for e in _english_do(subject, verb, negated)],
                                           [_statement(fs, verb, fr_np, negated) for fs in subject.french])


def _things():
    """'The old house is expensive.' -> 'La vieille maison est chère.'; 'Is the car red?' ..."""
    for noun in NOUNS:
        for plural in (False, True):
            for adj in (None, *THING_ADJECTIVES):
                en_np, fr_np = _noun_phrase(noun, adj, plural, "the")
                thing = FrenchSubject(fr_np, "3pl" if plural else "3sg", noun.gender, plural, False)
                for adj2 in THING_ADJECTIVES:
                    if adj is not None and _clash(adj, adj2):  # 'the red car is blue'
                        continue
                    attribute = _agree(adj2, noun.gender, plural)
                    be = EN_BE[thing.person]
                    yield _meaning([f"{en_np} {be} {adj2.en}"], [_statement(thing, "être", attribute, False)])
                    yield _meaning([f"{be} {en_np} {adj2.en}"], _french_question(thing, "être", attribute), True)


def all_meanings() -> list[Meaning]:
    """Every meaning the phrasebook can write, in a fixed order."""
    subjects = _subjects()
    people = [s for s in subjects if s.en in ("I", "you", "he", "she", "we", "they", "Tom", "Mary")]
    return [*_being(subjects), *_having(people), *_liking(people), *_things()]


def _exclaim(text: str, french: bool) -> str:
    return text[:-1] + (NNBSP + "!" if french else "!")


def phrasebook(n: int | None = None, seed: int = 0, exclamations: float = 0.1) -> list[tuple[str, str]]:
    """``(english, french)`` rows for ``n`` distinct English sentences (all when None), shuffled by ``seed``.

    All the references of a source are on consecutive rows. A statement becomes an
    exclamation (``!`` on both sides) with probability ``exclamations``.
    """
    sources = [(english, meaning) for meaning in all_meanings() for english in meaning.english]
    if n is not None and not 0 <= int(n) <= len(sources):
        raise ValueError(f"n must be between 0 and {len(sources)} (the distinct sources), got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))[: len(sources) if n is None else int(n)]
    shout = rng.random(len(order)) < exclamations
    rows = []
    for index, loud in zip(order.tolist(), shout.tolist()):
        english, meaning = sources[index]
        loud = loud and not meaning.question
        rows.extend((_exclaim(english, False) if loud else english, _exclaim(fr, True) if loud else fr)
                    for fr in meaning.french)
    return rows


def write_phrasebook_tsv(path, rows, seed: int = 0) -> str:
    """Write rows as ``english<TAB>french<TAB>attribution`` lines, as the ManyThings files are."""
    rng = np.random.default_rng(seed)
    contributors = ("CK", "CM", "sacredceltic", "Wittydev", "Aiji", "gillux", "Scott", "Micsmithel")
    with open(path, "w", encoding="utf-8") as handle:
        for english, french in rows:
            a, b = rng.integers(10**5, 10**7, size=2).tolist()
            who = contributors[int(rng.integers(len(contributors)))]
            handle.write(f"{english}\t{french}\tCC-BY 2.0 (France) Attribution: tatoeba.org #{a} (CK) & #{b} ({who})\n")
    return str(path)
