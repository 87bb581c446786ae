"""Built-in datasets, generated offline by minirnn's own code; seeded and deterministic.

* :func:`translation_pairs`: English -> French sentences from a grammar (seq2seq, word level).
* :func:`phrasebook`: the same grammar written like a Tatoeba file: cased, punctuated,
  several French references per English source (``write_phrasebook_tsv`` adds the
  attribution column).
* :func:`date_pairs`: human-readable dates -> ISO dates (seq2seq, character level).
* :func:`dna_motif`: DNA sequences labelled by whether they hold a motif (classification, characters).
* :func:`name_origins`: surnames labelled by language, from Faker's lists (classification;
  needs ``pip install minirnn[names]``).
"""

from .dates import DATE_FORMATS, date_pairs, format_date
from .dna import DNA_ALPHABET, contains_motif, dna_motif
from .names import DEFAULT_LOCALES, name_origins
from .phrasebook import phrasebook, write_phrasebook_tsv
from .translation import all_translation_pairs, french_text, translation_pairs

__all__ = [
    "DATE_FORMATS",
    "DEFAULT_LOCALES",
    "DNA_ALPHABET",
    "all_translation_pairs",
    "contains_motif",
    "date_pairs",
    "dna_motif",
    "format_date",
    "french_text",
    "name_origins",
    "phrasebook",
    "translation_pairs",
    "write_phrasebook_tsv",
]
