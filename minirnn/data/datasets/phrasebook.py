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
    Noun,
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
    ]
    for name, gender in NAMES:
        subjects.append(EnglishSubject(name, "3sg", (FrenchSubject(name, "3sg", gender, False, False),)))
    for noun in PERSON_NOUNS:
        plural = noun.person == "3pl"
        subjects.append(EnglishSubject(noun.en, noun.person,
                                       (FrenchSubject(noun.fr, noun.person, noun.gender, plural, False),)))
    return subjects


FR_2PL = {"être": "êtes", "have": "avez", "like": "aimez", "see": "voyez"}
PRONOUN_WORDS = ("I", "you", "he", "she", "we", "they")
# Names, most frequent first (Tatoeba's Tom and Mary lead by far); French keeps them as they are.
NAMES = (("Tom", "m"), ("Mary", "f"), ("John", "m"), ("Alice", "f"), ("Paul", "m"), ("Emma", "f"), ("Ken", "m"),
         ("Sophie", "f"), ("Lucas", "m"), ("Laura", "f"), ("Peter", "m"), ("Anna", "f"), ("Marc", "m"), ("Julie", "f"))
# More things, in falling frequency: with the grammar's twelve they give a long tail of rare words.
EXTRA_NOUNS = tuple(Noun(*fields) for fields in (
    ("apple", "apples", "pomme", "pommes", "f"), ("key", "keys", "clé", "clés", "f"),
    ("phone", "phones", "téléphone", "téléphones", "m"), ("bag", "bags", "sac", "sacs", "m"),
    ("table", "tables", "table", "tables", "f"), ("letter", "letters", "lettre", "lettres", "f"),
    ("computer", "computers", "ordinateur", "ordinateurs", "m"), ("bike", "bikes", "vélo", "vélos", "m"),
    ("door", "doors", "porte", "portes", "f"), ("window", "windows", "fenêtre", "fenêtres", "f"),
    ("chair", "chairs", "chaise", "chaises", "f"), ("boat", "boats", "bateau", "bateaux", "m"),
    ("song", "songs", "chanson", "chansons", "f"), ("picture", "pictures", "photo", "photos", "f"),
    ("cake", "cakes", "gâteau", "gâteaux", "m"), ("egg", "eggs", "œuf", "œufs", "m"),
    ("bottle", "bottles", "bouteille", "bouteilles", "f"), ("cup", "cups", "tasse", "tasses", "f"),
    ("coat", "coats", "manteau", "manteaux", "m"), ("dress", "dresses", "robe", "robes", "f"),
    ("shoe", "shoes", "chaussure", "chaussures", "f"), ("watch", "watches", "montre", "montres", "f"),
    ("pen", "pens", "stylo", "stylos", "m"), ("newspaper", "newspapers", "journal", "journaux", "m"),
    ("room", "rooms", "chambre", "chambres", "f"), ("garden", "gardens", "jardin", "jardins", "m"),
    ("orange", "oranges", "orange", "oranges", "f"), ("airplane", "airplanes", "avion", "avions", "m"),
    ("street", "streets", "rue", "rues", "f"), ("ticket", "tickets", "billet", "billets", "m"),
    ("gift", "gifts", "cadeau", "cadeaux", "m"), ("lamp", "lamps", "lampe", "lampes", "f"),
    ("box", "boxes", "boîte", "boîtes", "f"), ("toy", "toys", "jouet", "jouets", "m"),
    ("umbrella", "umbrellas", "parapluie", "parapluies", "m"), ("bed", "beds", "lit", "lits", "m"),
    ("mirror", "mirrors", "miroir", "miroirs", "m"), ("plate", "plates", "assiette", "assiettes", "f"),
    ("knife", "knives", "couteau", "couteaux", "m"), ("rabbit", "rabbits", "lapin", "lapins", "m"),
    ("cow", "cows", "vache", "vaches", "f"), ("envelope", "envelopes", "enveloppe", "enveloppes", "f"),
    ("jacket", "jackets", "veste", "vestes", "f"), ("ring", "rings", "bague", "bagues", "f"),
    ("river", "rivers", "rivière", "rivières", "f"), ("island", "islands", "île", "îles", "f"),
    ("clock", "clocks", "horloge", "horloges", "f"), ("tie", "ties", "cravate", "cravates", "f"),
    ("mouse", "mice", "souris", "souris", "f"), ("sheep", "sheep", "mouton", "moutons", "m"),
))
ALL_NOUNS = NOUNS + EXTRA_NOUNS
# Transitive verbs beyond the grammar's like/see: English 1sg/3sg forms and the French present.
EXTRA_VERBS = {
    "want": ("want", "wants", ("veux", "veux", "veut", "voulons", "voulez", "veulent")),
    "buy": ("buy", "buys", ("achète", "achètes", "achète", "achetons", "achetez", "achètent")),
    "find": ("find", "finds", ("trouve", "trouves", "trouve", "trouvons", "trouvez", "trouvent")),
    "sell": ("sell", "sells", ("vends", "vends", "vend", "vendons", "vendez", "vendent")),
    "draw": ("draw", "draws", ("dessine", "dessines", "dessine", "dessinons", "dessinez", "dessinent")),
    "wash": ("wash", "washes", ("lave", "laves", "lave", "lavons", "lavez", "lavent")),
}
_PERSONS = ("1sg", "2sg", "3sg", "1pl", "2pl", "3pl")
# The grammar's verb tables with the extra verbs added (the grammar's own tables stay as they are).
EN_FORMS = {**EN_VERBS, **{verb: {p: third if p == "3sg" else base for p in _PERSONS if p != "2pl"}
                           for verb, (base, third, _) in EXTRA_VERBS.items()}}
FR_FORMS = {**FR_VERBS, **{verb: dict(zip(_PERSONS, forms)) for verb, (_, _, forms) in EXTRA_VERBS.items()}}
FR_2PL.update({verb: forms[4] for verb, (_, _, forms) in EXTRA_VERBS.items()})
TRANSITIVE = ("like", "see", *EXTRA_VERBS)
EN_CONTRACTED = {"am": "'m", "are": "'re", "is": "'s"}
EN_NEGATED = {"is": "isn't", "are": "aren't", "do": "don't", "does": "doesn't"}


def _fr_verb(verb: str, person: str) -> str:
    return FR_2PL[verb] if person == "2pl" else FR_FORMS[verb][person]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# =========================================================================== English surface forms


def _english_be(subject: EnglishSubject, negated: bool) -> list[str]:
    """'I am not', "I'm not"; 'he is not', "he isn't", "he's not"."""
    be = EN_BE[subject.person]
    forms = [f"{subject.en} {be}{' not' if negated else ''}"]
    if subject.en in PRONOUN_WORDS or subject.en in dict(NAMES):
        forms.append(f"{subject.en}{EN_CONTRACTED[be]}{' not' if negated else ''}")
    if negated and be in EN_NEGATED:
        forms.append(f"{subject.en} {EN_NEGATED[be]}")
    return forms


def _english_do(subject: EnglishSubject, verb: str, negated: bool) -> list[str]:
    """'he likes'; 'he does not like', "he doesn't like"."""
    if not negated:
        return [f"{subject.en} {EN_FORMS[verb][subject.person]}"]
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
    que = ("Est-ce qu'" if statement[0].lower() in "aeiouéèêàâîôûœy" else "Est-ce que ") + statement
    forms = [_inversion(subject, verb, rest), que, _capital(statement)]
    return [f + NNBSP + "?" for f in forms if f is not None]


# =========================================================================== the sentences


class Meaning(NamedTuple):
    """English ways to say one thing (each a source sentence of its own) and its French references."""

    english: list
    french: list
    question: bool = False


def _meaning(english, french, question=False) -> Meaning:
    end = "?" if question else "."
    english = [_capital(e) + end for e in english]
    french = list(dict.fromkeys(f if question else _capital(f) + "." for f in french))
    return Meaning(english, french, question)


def _zipf(rng, items, exponent: float = 1.0):
    """One of ``items``, the k-th (from 0) drawn with probability proportional to 1 / (k + 1) ** exponent."""
    weights = 1.0 / np.arange(1, len(items) + 1) ** exponent
    return items[int(rng.choice(len(items), p=weights / weights.sum()))]


def _being(rng, subject) -> Meaning:
    """'I'm not hungry.' -> 'Je n'ai pas faim.'; 'Are you tired?' -> 'Es-tu fatigué ?' ..."""
    adj = PERSON_ADJECTIVES[int(rng.integers(len(PERSON_ADJECTIVES)))]
    verb = "have" if adj.avoir else "être"
    if rng.random() < 0.25:
        return _meaning([f"{EN_BE[subject.person]} {subject.en} {adj.en}"],
                        [q for fs in subject.french for q in _french_question(fs, verb, _agree(adj, fs.gender,
                                                                                                 fs.plural))], True)
    negated = bool(rng.random() < 0.4)
    return _meaning([f"{e} {adj.en}" for e in _english_be(subject, negated)],
                    [_statement(fs, verb, _agree(adj, fs.gender, fs.plural), negated) for fs in subject.french])


def _object(rng, article: str):
    noun = _zipf(rng, ALL_NOUNS, 0.9)
    adj = None if rng.random() < 0.5 else THING_ADJECTIVES[int(rng.integers(len(THING_ADJECTIVES)))]
    plural = article != "a" and rng.random() < 0.4
    if article == "a" and rng.random() < 0.2:
        article, plural = NUMBERS[int(rng.integers(len(NUMBERS)))][0], True
    return noun, adj, plural, article


def _doing(rng, subject) -> Meaning:
    """'Alice doesn't have a red car.' -> 'Alice n'a pas de voiture rouge.'; 'Do you want the cake?' ..."""
    verb = "have" if rng.random() < 0.3 else _zipf(rng, TRANSITIVE, 0.7)
    noun, adj, plural, article = _object(rng, "a" if verb == "have" else "the")
    en_np, fr_np = _noun_phrase(noun, adj, plural, article)
    if rng.random() < 0.2:
        return _meaning([f"{EN_DO[subject.person]} {subject.en} {verb} {en_np}"],
                        [q for fs in subject.french for q in _french_question(fs, verb, fr_np)], True)
    negated = bool(rng.random() < 0.35) and article in ("a", "the")
    fr_obj = "de " + fr_np.split(" ", 1)[1] if negated and article == "a" else fr_np
    return _meaning([f"{e} {en_np}" for e in _english_do(subject, verb, negated)],
                    [_statement(fs, verb, fr_obj, negated) for fs in subject.french])


def _thing(rng) -> Meaning:
    """'The old house is expensive.' -> 'La vieille maison est chère.'; 'Is the car red?' ..."""
    noun, adj, plural, article = _object(rng, "the")
    adj2 = THING_ADJECTIVES[int(rng.integers(len(THING_ADJECTIVES)))]
    if adj is not None and _clash(adj, adj2):  # 'the red car is blue'
        adj = None
    en_np, fr_np = _noun_phrase(noun, adj, plural, article)
    thing = FrenchSubject(fr_np, "3pl" if plural else "3sg", noun.gender, plural, False)
    attribute, be = _agree(adj2, noun.gender, plural), EN_BE[thing.person]
    if rng.random() < 0.25:
        return _meaning([f"{be} {en_np} {adj2.en}"], _french_question(thing, "être", attribute), True)
    return _meaning([f"{en_np} {be} {adj2.en}"], [_statement(thing, "être", attribute, False)])


def draw_meaning(rng, subjects) -> Meaning:
    """One random meaning: a person being something, a person doing something to a thing, or a thing being so."""
    kind = rng.random()
    if kind < 0.15:
        return _thing(rng)
    subject = _zipf(rng, subjects, 0.8)
    return _being(rng, subject) if kind < 0.4 else _doing(rng, subject)


def _exclaim(text: str, french: bool) -> str:
    return text[:-1] + (NNBSP + "!" if french else "!")


def phrasebook(n: int, seed: int = 0, exclamations: float = 0.1) -> list[tuple[str, str]]:
    """``(english, french)`` rows for ``n`` distinct English sentences drawn with ``seed``.

    Names and nouns are drawn with Zipf-like frequencies (a few common, a long tail of
    rare ones), each meaning is written in one of its English forms (full or
    contracted), and all its French references follow on consecutive rows. A
    statement becomes an exclamation (``!`` on both sides) with probability
    ``exclamations``.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"phrasebook: n must be a count >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    pronouns = [s for s in _subjects() if s.en in PRONOUN_WORDS]
    others = [s for s in _subjects() if s.en not in PRONOUN_WORDS]
    subjects = [pronouns[0], pronouns[1], others[0], others[1], *pronouns[2:], *others[2:]]  # I, you, Tom, Mary...
    seen, rows, attempts = set(), [], 0
    while len(seen) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"phrasebook: could not draw {n} distinct sentences (got {len(seen)})")
        meaning = draw_meaning(rng, subjects)
        english = meaning.english[int(rng.integers(len(meaning.english)))]
        loud = not meaning.question and rng.random() < exclamations
        english = _exclaim(english, False) if loud else english
        if english in seen:
            continue
        seen.add(english)
        rows.extend((english, _exclaim(fr, True) if loud else fr) for fr in meaning.french)
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
