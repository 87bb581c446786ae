"""A small English -> French translation set generated from a hand-written grammar.

Every pair is produced by rules, offline, so the data is exact and needs no download.
The grammar covers:

* être and avoir with every pronoun: ``i am happy`` -> ``je suis content``,
  ``i have a dog`` -> ``j'ai un chien``;
* adjectives agreeing in gender and number: ``she is happy`` -> ``elle est contente``,
  ``the girls are tired`` -> ``les filles sont fatiguées``;
* English "to be" that French says with avoir: ``i am hungry`` -> ``j'ai faim``;
* negation around the verb, with ``n'`` before a vowel and ``de`` for a negated
  indefinite: ``i am not happy`` -> ``je ne suis pas content``, ``i do not have a red
  car`` -> ``je n'ai pas de voiture rouge``;
* noun-adjective reordering: colours and ``expensive`` follow the noun (``a red car``
  -> ``une voiture rouge``); ``small big old beautiful new`` precede it, as in French
  (``the small dog`` -> ``le petit chien``, ``an old tree`` -> ``un vieil arbre``);
* plurals with numbers: ``we have two red cars`` -> ``nous avons deux voitures rouges``.

So the word alignments cross: attention has something to show.

Conventions, chosen so that every English sentence has exactly one translation:
``you`` is ``tu``; ``they`` is ``ils``; ``i``, ``you``, ``we`` and ``they`` take the
masculine agreement (feminine plurals come from noun subjects: ``the girls``,
``my sisters``). French is lower case, with elision written the usual way
(``j'ai``, ``l'oiseau``, ``n'est``); :func:`minirnn.data.tokenize` splits it as
``j'`` ``ai``. About 15,000 distinct pairs.
"""

from __future__ import annotations

from typing import NamedTuple

from ...backend import np

# ---------------------------------------------------------------------------- lexicon


class Subject(NamedTuple):
    en: str
    fr: str
    person: str  # 1sg 2sg 3sg 1pl 3pl: picks the verb forms in both languages
    gender: str  # m or f: picks the adjective forms


PRONOUNS = (
    Subject("i", "je", "1sg", "m"),
    Subject("you", "tu", "2sg", "m"),
    Subject("he", "il", "3sg", "m"),
    Subject("she", "elle", "3sg", "f"),
    Subject("we", "nous", "1pl", "m"),
    Subject("they", "ils", "3pl", "m"),
)

PERSON_NOUNS = (
    Subject("the boy", "le garçon", "3sg", "m"),
    Subject("the girl", "la fille", "3sg", "f"),
    Subject("the man", "le homme", "3sg", "m"),
    Subject("the woman", "la femme", "3sg", "f"),
    Subject("the boys", "les garçons", "3pl", "m"),
    Subject("the girls", "les filles", "3pl", "f"),
    Subject("the men", "les hommes", "3pl", "m"),
    Subject("the women", "les femmes", "3pl", "f"),
    Subject("my father", "mon père", "3sg", "m"),
    Subject("my mother", "ma mère", "3sg", "f"),
    Subject("my brother", "mon frère", "3sg", "m"),
    Subject("my sister", "ma sœur", "3sg", "f"),
    Subject("my brothers", "mes frères", "3pl", "m"),
    Subject("my sisters", "mes sœurs", "3pl", "f"),
)


class Noun(NamedTuple):
    en: str
    en_plural: str
    fr: str
    fr_plural: str
    gender: str


NOUNS = (
    Noun("car", "cars", "voiture", "voitures", "f"),
    Noun("dog", "dogs", "chien", "chiens", "m"),
    Noun("cat", "cats", "chat", "chats", "m"),
    Noun("house", "houses", "maison", "maisons", "f"),
    Noun("book", "books", "livre", "livres", "m"),
    Noun("bird", "birds", "oiseau", "oiseaux", "m"),
    Noun("tree", "trees", "arbre", "arbres", "m"),
    Noun("flower", "flowers", "fleur", "fleurs", "f"),
    Noun("hat", "hats", "chapeau", "chapeaux", "m"),
    Noun("school", "schools", "école", "écoles", "f"),
    Noun("shirt", "shirts", "chemise", "chemises", "f"),
    Noun("horse", "horses", "cheval", "chevaux", "m"),
)


class Adjective(NamedTuple):
    en: str
    forms: tuple  # (masc sg, fem sg, masc pl, fem pl)
    before_noun: bool = False  # French places it before the noun
    before_vowel: str = ""  # masc sg form before a vowel: bel, vieil, nouvel
    avoir: bool = False  # English "be" + it is French avoir + noun: i am hungry -> j'ai faim


def _regular(en: str, stem: str, **kw) -> Adjective:
    return Adjective(en, (stem, stem + "e", stem + "s", stem + "es"), **kw)


def _same(en: str, word: str, **kw) -> Adjective:
    """An adjective ending in -e: one form for both genders."""
    return Adjective(en, (word, word, word + "s", word + "s"), **kw)


THING_ADJECTIVES = (
    _same("red", "rouge"),
    _regular("blue", "bleu"),
    _regular("green", "vert"),
    _regular("black", "noir"),
    Adjective("white", ("blanc", "blanche", "blancs", "blanches")),
    Adjective("grey", ("gris", "grise", "gris", "grises")),
    Adjective("expensive", ("cher", "chère", "chers", "chères")),
    _regular("small", "petit", before_noun=True),
    _regular("big", "grand", before_noun=True),
    Adjective("old", ("vieux", "vieille", "vieux", "vieilles"), before_noun=True, before_vowel="vieil"),
    Adjective("beautiful", ("beau", "belle", "beaux", "belles"), before_noun=True, before_vowel="bel"),
    Adjective("new", ("nouveau", "nouvelle", "nouveaux", "nouvelles"), before_noun=True, before_vowel="nouvel"),
)
COLOURS = frozenset({"red", "blue", "green", "black", "white", "grey"})

PERSON_ADJECTIVES = (
    _regular("happy", "content"),
    _regular("tired", "fatigué"),
    _same("sad", "triste"),
    _regular("ready", "prêt"),
    _same("sick", "malade"),
    _same("rich", "riche"),
    _same("young", "jeune"),
    _regular("small", "petit"),
    _regular("tall", "grand"),
    _regular("busy", "occupé"),
    _regular("angry", "fâché"),
    Adjective("kind", ("gentil", "gentille", "gentils", "gentilles")),
    Adjective("proud", ("fier", "fière", "fiers", "fières")),
    Adjective("lazy", ("paresseux", "paresseuse", "paresseux", "paresseuses")),
    Adjective("late", ("en retard",) * 4),
    Adjective("hungry", ("faim",) * 4, avoir=True),
    Adjective("thirsty", ("soif",) * 4, avoir=True),
    Adjective("cold", ("froid",) * 4, avoir=True),
    Adjective("afraid", ("peur",) * 4, avoir=True),
)

# English verb forms by person: (affirmative, negated)
EN_BE = {"1sg": "am", "2sg": "are", "3sg": "is", "1pl": "are", "3pl": "are"}
EN_DO = {"1sg": "do", "2sg": "do", "3sg": "does", "1pl": "do", "3pl": "do"}
EN_VERBS = {
    "have": {"1sg": "have", "2sg": "have", "3sg": "has", "1pl": "have", "3pl": "have"},
    "like": {"1sg": "like", "2sg": "like", "3sg": "likes", "1pl": "like", "3pl": "like"},
    "see": {"1sg": "see", "2sg": "see", "3sg": "sees", "1pl": "see", "3pl": "see"},
}
FR_VERBS = {
    "être": {"1sg": "suis", "2sg": "es", "3sg": "est", "1pl": "sommes", "3pl": "sont"},
    "have": {"1sg": "ai", "2sg": "as", "3sg": "a", "1pl": "avons", "3pl": "ont"},
    "like": {"1sg": "aime", "2sg": "aimes", "3sg": "aime", "1pl": "aimons", "3pl": "aiment"},
    "see": {"1sg": "vois", "2sg": "vois", "3sg": "voit", "1pl": "voyons", "3pl": "voient"},
}
NUMBERS = (("two", "deux"), ("three", "trois"))

# ---------------------------------------------------------------------------- French spelling

_VOWEL_START = tuple("aeiouyéèêàâîôûœ")
_H_MUET = frozenset({"homme", "hommes"})
_ELIDING = frozenset({"je", "ne", "le", "la", "de"})


def _starts_with_vowel(word: str) -> bool:
    return word.startswith(_VOWEL_START) or word in _H_MUET


def french_text(words) -> str:
    """Join French words, writing the elisions: je ai -> j'ai, ne est -> n'est, le arbre -> l'arbre."""
    words = " ".join(words).split()
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _ELIDING and i + 1 < len(words) and _starts_with_vowel(words[i + 1]):
            out.append(word[:-1] + "'" + words[i + 1])
            i += 2
            continue
        out.append(word)
        i += 1
    return " ".join(out)


def _agree(adj: Adjective, gender: str, plural: bool) -> str:
    return adj.forms[(2 if plural else 0) + (1 if gender == "f" else 0)]


def _noun_phrase(noun: Noun, adj: Adjective | None, plural: bool, determiner: str) -> tuple[str, str]:
    """English and French words of ``determiner [adj] noun``; determiner is 'the', 'a' or a number."""
    en_noun = noun.en_plural if plural else noun.en
    fr_noun = noun.fr_plural if plural else noun.fr
    en_words = [adj.en, en_noun] if adj else [en_noun]
    if determiner == "the":
        en_det, fr_det = "the", "les" if plural else ("la" if noun.gender == "f" else "le")
    elif determiner == "a":
        en_det = "an" if en_words[0].startswith(tuple("aeiou")) else "a"
        fr_det = "une" if noun.gender == "f" else "un"
    else:
        en_det, fr_det = determiner, dict(NUMBERS)[determiner]
    if adj is None:
        fr_words = [fr_noun]
    else:
        form = _agree(adj, noun.gender, plural)
        if adj.before_vowel and noun.gender == "m" and not plural and _starts_with_vowel(fr_noun):
            form = adj.before_vowel
        fr_words = [form, fr_noun] if adj.before_noun else [fr_noun, form]
    return " ".join([en_det, *en_words]), " ".join([fr_det, *fr_words])


def _negate_fr(subject: str, verb: str, rest: str, negated: bool) -> str:
    if negated:
        return french_text([subject, "ne", verb, "pas", rest])
    return french_text([subject, verb, rest])


# ---------------------------------------------------------------------------- sentences


def _being_sentences():
    """Person + be + [not] + adjective: 'she is not happy' -> 'elle n'est pas contente'."""
    for subject in PRONOUNS + PERSON_NOUNS:
        plural = subject.person.endswith("pl")
        for adj in PERSON_ADJECTIVES:
            for negated in (False, True):
                en = f"{subject.en} {EN_BE[subject.person]}{' not' if negated else ''} {adj.en}"
                verb = FR_VERBS["have" if adj.avoir else "être"][subject.person]
                yield en, _negate_fr(subject.fr, verb, _agree(adj, subject.gender, plural), negated)


def _clash(adj: Adjective, adj2: Adjective) -> bool:
    """'the red car is red', 'the red car is blue', 'the small car is big': left out."""
    pair = {adj.en, adj2.en}
    return adj == adj2 or pair <= COLOURS or pair == {"small", "big"}


def _thing_sentences():
    """'the [adj] noun is [not] adj2' -> 'la voiture [rouge] n'est pas petite'."""
    for noun in NOUNS:
        for plural in (False, True):
            person = "3pl" if plural else "3sg"
            for adj in (None, *THING_ADJECTIVES):
                for adj2 in THING_ADJECTIVES:
                    if adj is not None and _clash(adj, adj2):
                        continue
                    for negated in (False, True) if adj is None else (False,):
                        en_np, fr_np = _noun_phrase(noun, adj, plural, "the")
                        en = f"{en_np} {EN_BE[person]}{' not' if negated else ''} {adj2.en}"
                        fr = _negate_fr(fr_np, FR_VERBS["être"][person], _agree(adj2, noun.gender, plural), negated)
                        yield en, fr


def _having_sentences():
    """'i [do not] have a [adj] noun', 'we have two [adj] nouns'; a negated 'un/une' becomes 'de'."""
    for subject in PRONOUNS:
        for noun in NOUNS:
            for adj in (None, *THING_ADJECTIVES):
                for negated in (False, True):
                    en_np, fr_np = _noun_phrase(noun, adj, False, "a")
                    if negated:
                        fr_np = "de " + fr_np.split(" ", 1)[1]
                        en = f"{subject.en} {EN_DO[subject.person]} not have {en_np}"
                    else:
                        en = f"{subject.en} {EN_VERBS['have'][subject.person]} {en_np}"
                    yield en, _negate_fr(subject.fr, FR_VERBS["have"][subject.person], fr_np, negated)
                for number, _ in NUMBERS:
                    en_np, fr_np = _noun_phrase(noun, adj, True, number)
                    yield (
                        f"{subject.en} {EN_VERBS['have'][subject.person]} {en_np}",
                        french_text([subject.fr, FR_VERBS["have"][subject.person], fr_np]),
                    )


def _liking_sentences():
    """'he does not like the red cars' -> 'il n'aime pas les voitures rouges' (the article stays)."""
    for subject in PRONOUNS:
        for verb in ("like", "see"):
            for noun in NOUNS:
                for adj in (None, *THING_ADJECTIVES):
                    for plural in (False, True):
                        en_np, fr_np = _noun_phrase(noun, adj, plural, "the")
                        for negated in (False, True):
                            if negated:
                                en = f"{subject.en} {EN_DO[subject.person]} not {verb} {en_np}"
                            else:
                                en = f"{subject.en} {EN_VERBS[verb][subject.person]} {en_np}"
                            yield en, _negate_fr(subject.fr, FR_VERBS[verb][subject.person], fr_np, negated)


def all_translation_pairs() -> list[tuple[str, str]]:
    """Every pair the grammar makes, in the grammar's fixed order (no duplicates)."""
    pairs: dict[str, str] = {}
    for generator in (_being_sentences, _thing_sentences, _having_sentences, _liking_sentences):
        for en, fr in generator():
            if pairs.setdefault(en, fr) != fr:  # pragma: no cover - a grammar bug
                raise AssertionError(f"the grammar gives two translations of {en!r}: {pairs[en]!r} and {fr!r}")
    return list(pairs.items())


def translation_pairs(n: int | None = None, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct (english, french) pairs (all of them when ``n`` is None), shuffled by ``seed``.

    The same ``n`` and ``seed`` always give the same list; a smaller ``n`` gives a prefix
    of the same shuffle.
    """
    pairs = all_translation_pairs()
    if n is not None and not 0 <= int(n) <= len(pairs):
        raise ValueError(f"n must be between 0 and {len(pairs)} (the number of distinct pairs), got {n}")
    order = np.random.default_rng(seed).permutation(len(pairs))
    chosen = order if n is None else order[: int(n)]
    return [pairs[i] for i in chosen]
