"""Realistic classification files for the tests: reviews, surnames by language, written as CSV.

Shared by test_classify_data.py and test_classify_cli.py.
"""

import csv

REVIEWS = [
    ("I loved this film, truly wonderful.", "positive"),
    ("Great acting and a clever plot!", "positive"),
    ("A delight from start to finish.", "positive"),
    ("Best film I've seen this year; go see it.", "positive"),
    ("Charming, funny and warm.", "positive"),
    ("Boring. I left halfway.", "negative"),
    ("Terrible script, worse acting.", "negative"),
    ("A waste of two hours...", "negative"),
    ("I want my money back", "negative"),
    ("Dull and predictable, sadly.", "negative"),
]
SURNAMES = {  # surnames as they are spelled in each language; several share a language, as in real files
    "Arabic": ["Abbas", "Haddad", "Nasser", "Khoury", "Saleh", "Mansour", "Bishara", "Aswad", "Kassab", "Tahan"],
    "Czech": ["Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec", "Marek"],
    "Irish": ["O'Brien", "Murphy", "Kelly", "O'Sullivan", "Walsh", "McCarthy", "Byrne", "Ryan", "O'Connor", "Doyle"],
    "Italian": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"],
    "Japanese": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi",
                 "Kato"],
    "Vietnamese": ["Nguyen", "Tran", "Le", "Pham", "Hoang", "Phan", "Vu", "Dang", "Bui", "Do"],
}


def reviews(n=60):
    """n realistic reviews, each one a distinct text (a different reader's note appended)."""
    return [(f"{text} (reader {i})", label) for i, (text, label) in enumerate(REVIEWS * (n // len(REVIEWS)))]


def names():
    rows = [(name, language) for language, names in SURNAMES.items() for name in names]
    return rows[::3] + rows[1::3] + rows[2::3]  # mixed languages, as a shuffled file is


def write_csv(path, rows, header=None, delimiter=",", encoding="utf-8", lineterminator="\n"):
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator=lineterminator)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path
