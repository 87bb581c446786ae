"""Surnames labelled by language of origin, from the name lists that Faker ships.

Faker is an optional extra (``pip install minirnn[names]``); nothing is downloaded.
The lists are read straight from Faker's per-locale person providers, so the data
depends only on the installed Faker version, not on its random generator. A surname
listed under more than one language is ambiguous and left out.
"""

from __future__ import annotations

import importlib

from ...backend import np
from ...checks import check_nonnegative_int

# label -> Faker locale whose surname list stands for it
DEFAULT_LOCALES = {
    "czech": "cs_CZ",
    "dutch": "nl_NL",
    "english": "en_GB",
    "finnish": "fi_FI",
    "french": "fr_FR",
    "german": "de_DE",
    "italian": "it_IT",
    "spanish": "es_ES",
}
_SURNAME_ATTRS = ("last_names", "last_names_male", "last_names_female")


def _surnames(locale: str) -> list[str]:
    try:
        importlib.import_module("faker")
    except ImportError as err:
        raise ImportError(
            "name_origins needs the Faker package, an optional extra: pip install minirnn[names]"
        ) from err
    try:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    except (ImportError, AttributeError) as err:
        raise ValueError(f"Faker has no person names for locale {locale!r}") from err
    names: list[str] = []
    for attr in _SURNAME_ATTRS:
        names.extend(getattr(provider, attr, ()))  # a tuple, or a dict of name -> weight
    names = sorted({name.strip() for name in names if name.strip()})
    if not names:
        raise ValueError(f"Faker's locale {locale!r} lists no surnames")
    return names


def name_origins(n: int | None = None, seed: int = 0, locales=None) -> list[tuple[str, str]]:
    """(surname, language) pairs, shuffled by ``seed``.

    ``locales`` maps a label to a Faker locale (default :data:`DEFAULT_LOCALES`); a list
    of locale codes uses the codes as labels. ``n=None`` returns every usable name
    (classes of unequal size); an ``n`` returns ``n // k`` names of each of the k
    classes, so the classes are balanced.
    """
    if locales is None:
        locales = DEFAULT_LOCALES
    if not isinstance(locales, dict):
        locales = {code: code for code in locales}
    if len(locales) < 2:
        raise ValueError(f"name_origins needs at least two locales, got {list(locales)}")
    by_label = {label: _surnames(code) for label, code in sorted(locales.items())}
    seen: dict[str, int] = {}
    for names in by_label.values():
        for name in names:
            seen[name] = seen.get(name, 0) + 1
    by_label = {label: [nm for nm in names if seen[nm] == 1] for label, names in by_label.items()}
    rng = np.random.default_rng(seed)
    examples: list[tuple[str, str]] = []
    if n is None:
        for label, names in by_label.items():
            examples.extend((name, label) for name in names)
    else:
        per_class = check_nonnegative_int(n, "name_origins", "n (or None)") // len(by_label)
        smallest = min(len(names) for names in by_label.values())
        if per_class > smallest:
            raise ValueError(
                f"n must be between 0 and {smallest * len(by_label)} for balanced classes "
                f"({smallest} names in the smallest class), got {n}"
            )
        for label, names in by_label.items():
            chosen = rng.choice(len(names), size=per_class, replace=False)
            examples.extend((names[i], label) for i in sorted(chosen.tolist()))
    return [examples[i] for i in rng.permutation(len(examples))]
