"""Reading users' classification files: delimiter, header and text/label columns found by evidence.

Every file here is written the way people's files come: headers in either column order
or none, semicolons, tabs, quoted commas, a BOM and Windows line ends, a bad line,
imbalanced classes, labels that differ only in case.
"""

import pytest
from classify_files import REVIEWS, SURNAMES, names, reviews, write_csv

from minirnn.data import DataFormatError, load_labeled_text
from minirnn.data.columns import LABEL_NAMES, TEXT_NAMES, label_column_problem, looks_like_name, sniff_delimiter
from minirnn.train.recipes import choose_token_mode, stratified_split


def _labels(records):
    return sorted({label for _, label in records})


# --------------------------------------------------------------------------- the three files of the issue


def test_label_text_header_puts_the_label_first(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", [(label, text) for text, label in reviews()], ["label", "text"])
    records = load_labeled_text(path)
    assert len(records) == 60 and _labels(records) == ["negative", "positive"]  # not 60 texts as classes
    assert records[0] == ("I loved this film, truly wonderful. (reader 0)", "positive")
    layout = records.layout
    assert (layout.text_col, layout.label_col, layout.header) == (1, 0, ("label", "text"))
    assert "header row (label, text)" in layout.describe()


def test_review_sentiment_header_is_not_a_data_row(tmp_path):
    path = write_csv(tmp_path / "imdb.csv", reviews(), ["review", "sentiment"])
    records = load_labeled_text(path)
    assert _labels(records) == ["negative", "positive"]  # no third class "sentiment"
    assert len(records) == 60 and records.layout.num_labels == 2
    assert "text = 'review', label = 'sentiment'" in records.layout.describe()


def test_name_language_file_has_no_class_named_language(tmp_path):
    path = write_csv(tmp_path / "names.csv", names(), ["name", "language"])
    records = load_labeled_text(path)
    assert _labels(records) == sorted(SURNAMES) and len(records) == 60
    assert ("O'Brien", "Irish") in records and ("Dvořák", "Czech") in records


def test_names_without_a_header_keep_their_first_row(tmp_path):
    path = write_csv(tmp_path / "names.csv", names())
    records = load_labeled_text(path)
    assert records.layout.header is None and len(records) == 60
    assert records[0] == ("Abbas", "Arabic")
    assert "'Arabic' is one of the labels below it" in records.layout.header_reason


def test_unfamiliar_header_words_are_found_by_their_values(tmp_path):
    """Neither 'Nachname' nor 'Herkunft' is a known column name: the values decide."""
    path = write_csv(tmp_path / "namen.csv", [(lang, name) for name, lang in names()], ["Herkunft", "Nachname"])
    records = load_labeled_text(path)
    assert records.layout.header == ("Herkunft", "Nachname")
    assert (records.layout.text_col, records.layout.label_col) == (1, 0)
    assert _labels(records) == sorted(SURNAMES)
    assert "fewest distinct values" in records.layout.column_reason


# --------------------------------------------------------------------------- delimiters, quoting, encodings


def test_semicolons_with_commas_inside_the_text(tmp_path):
    path = write_csv(tmp_path / "news.csv", reviews(30), ["sentence", "category"], delimiter=";")
    assert '"Best film I\'ve seen this year; go see it. (reader 3)";positive' in path.read_text(encoding="utf-8")
    records = load_labeled_text(path)
    assert records.layout.delimiter == ";" and len(records) == 30
    assert records[0] == ("I loved this film, truly wonderful. (reader 0)", "positive")
    assert records[3] == ("Best film I've seen this year; go see it. (reader 3)", "positive")


def test_tsv_with_header_reads_quotes_literally(tmp_path):
    path = tmp_path / "data.tsv"
    rows = [f'He said "hi, there" {i}\tgreeting' for i in range(5)] + [f"Bye now {i}\tfarewell" for i in range(5)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    records = load_labeled_text(path)
    assert records[0] == ('He said "hi, there" 0', "greeting") and len(records) == 10
    assert records.layout.describe().startswith("2 tab-separated columns, header row (text, label)")


def test_quoted_commas_and_newlines(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('text,label\n"Great, really great",pos\n"Two\nlines, one review",neg\nFine,pos\n'
                    '"She said ""no"", twice",neg\n', encoding="utf-8")
    records = load_labeled_text(path)
    assert records == [("Great, really great", "pos"), ("Two\nlines, one review", "neg"), ("Fine", "pos"),
                       ('She said "no", twice', "neg")]


def test_bom_and_windows_line_ends(tmp_path):
    path = write_csv(tmp_path / "excel.csv", reviews(20), ["Review", "Sentiment"], encoding="utf-8-sig",
                      lineterminator="\r\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfReview")
    records = load_labeled_text(path)
    assert records.layout.header == ("Review", "Sentiment")  # not "\ufeffReview"
    assert _labels(records) == ["negative", "positive"] and not records[0][0].endswith("\r")


def test_pipes_in_a_txt_file_are_sniffed(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("text|label\n" + "\n".join(f"{t}|{lab}" for t, lab in reviews(20)) + "\n", encoding="utf-8")
    records = load_labeled_text(path)
    assert records.layout.delimiter == "|" and len(records) == 20


def test_sniffing_prefers_the_consistent_delimiter():
    text = "a sentence; with a semicolon,pos\nanother, with a comma inside quotes?,neg\nplain,pos\n"
    assert sniff_delimiter("x.csv", text) == ","  # 2,3,2 fields with "," beat 2,1,1 with ";"
    semis = "Hello, world;greeting\nSee you, later;farewell\nHi;greeting\n"
    assert sniff_delimiter("x.csv", semis) == ";"
    assert sniff_delimiter("x.tsv", semis) == "\t"
    assert sniff_delimiter("x.csv", semis, delimiter="|") == "|"
    with pytest.raises(ValueError, match="one character"):
        sniff_delimiter("x.csv", semis, delimiter=";;")


# --------------------------------------------------------------------------- bad lines, labels


def test_a_bad_line_is_named_and_the_rest_is_read(tmp_path):
    path = tmp_path / "reviews.csv"
    good = [f'"{t}",{lab}' for t, lab in reviews(20)]
    path.write_text("text,label\n" + "\n".join(good[:5] + ["Nice, but too long,pos", ",neg"] + good[5:]) + "\n",
                    encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        load_labeled_text(path)
    assert [b.line_number for b in info.value.bad_lines] == [7, 8]
    records = load_labeled_text(path, errors="skip")
    assert len(records) == 20
    assert "expected 2 comma-separated fields, got 3 (quote fields that contain the delimiter)" in \
        records.bad_lines[0].reason
    assert records.bad_lines[1].reason == "empty text"


def test_imbalanced_and_case_variant_labels(tmp_path):
    rows = [(f"great stuff {i}", "Positive") for i in range(40)] + [(f"good {i}", "positive") for i in range(3)]
    rows += [(f"awful {i}", "negative") for i in range(5)]
    path = write_csv(tmp_path / "mixed.csv", rows, ["text", "label"])
    records = load_labeled_text(path)
    assert records.layout.num_labels == 3  # kept apart: the file says so, the warning tells the user
    assert records.layout.case_variants == (("Positive", "positive"),)


def test_numeric_labels_under_a_word_header(tmp_path):
    rows = [(f"Win a free prize now {i}!", 1) for i in range(8)] + [(f"Lunch at noon? {i}", 0) for i in range(12)]
    path = write_csv(tmp_path / "sms.csv", rows, ["sms_body", "is_spam"])
    records = load_labeled_text(path)
    assert records.layout.header == ("sms_body", "is_spam") and _labels(records) == ["0", "1"]
    assert "a word over numeric labels" in records.layout.header_reason


def test_three_columns_id_text_label(tmp_path):
    rows = [(str(1000 + i), text, label) for i, (text, label) in enumerate(reviews(30))]
    with_header = load_labeled_text(write_csv(tmp_path / "a.csv", rows, ["id", "text", "label"]))
    without = load_labeled_text(write_csv(tmp_path / "b.csv", rows))
    for records in (with_header, without):
        assert (records.layout.text_col, records.layout.label_col) == (1, 2)
        assert records[0] == ("I loved this film, truly wonderful. (reader 0)", "positive")
    assert without.layout.header is None and "longest values" in without.layout.column_reason


# --------------------------------------------------------------------------- choosing columns by hand


def test_columns_by_name_or_index(tmp_path):
    rows = [(text, label, "web" if i % 2 else "app") for i, (text, label) in enumerate(reviews(20))]
    path = write_csv(tmp_path / "c.csv", rows, ["comment", "mood", "source"])
    by_name = load_labeled_text(path, text_col="comment", label_col="SOURCE")  # names match without case
    assert _labels(by_name) == ["app", "web"] and by_name.layout.column_reason == "as given"
    by_index = load_labeled_text(path, label_col=1)
    assert _labels(by_index) == ["negative", "positive"] and by_index.layout.text_col == 0
    by_digit_string = load_labeled_text(path, text_col="0", label_col="2")
    assert _labels(by_digit_string) == ["app", "web"]
    with pytest.raises(DataFormatError, match=r"no column named 'review'.*'comment', 'mood', 'source'"):
        load_labeled_text(path, text_col="review")
    with pytest.raises(DataFormatError, match=r"index from 0 to 2 \(3 columns\), got 3"):
        load_labeled_text(path, label_col=3)
    with pytest.raises(DataFormatError, match="the same"):
        load_labeled_text(path, text_col=1, label_col="mood")


def test_a_named_column_implies_a_header_even_without_familiar_words(tmp_path):
    path = write_csv(tmp_path / "d.csv", [(t, lab) for t, lab in reviews(20)], ["Kommentar", "Urteil"])
    records = load_labeled_text(path, label_col="Urteil")
    assert records.layout.header == ("Kommentar", "Urteil") and len(records) == 20


def test_header_can_be_forced_either_way(tmp_path):
    path = write_csv(tmp_path / "e.csv", reviews(20))
    assert len(load_labeled_text(path, header=True)) == 19
    path = write_csv(tmp_path / "f.csv", reviews(20), ["text", "label"])
    records = load_labeled_text(path, header=False)
    assert records[0] == ("text", "label") and len(records) == 21 and records.layout.header is None


def test_text_taken_for_labels_is_reported(tmp_path):
    pairs = [(f"I am {w} {i}", f"Je suis {w} {i}") for i, w in enumerate(["happy", "tired", "cold"] * 10)]
    records = load_labeled_text(write_csv(tmp_path / "pairs.csv", pairs))
    problem = label_column_problem(records.layout)
    assert problem.startswith("column 1, taken as the label column, has 30 distinct values in 30 rows")
    assert label_column_problem(load_labeled_text(write_csv(tmp_path / "ok.csv", reviews(20))).layout) is None


def test_one_column_and_empty_files(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("just text\nmore text\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="single column"):
        load_labeled_text(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no rows"):
        load_labeled_text(empty)


# --------------------------------------------------------------------------- pieces


def test_name_sets_and_name_shapes():
    assert not TEXT_NAMES & LABEL_NAMES
    assert looks_like_name("language") and looks_like_name("Review Text") and looks_like_name("is_spam")
    assert not looks_like_name("42") and not looks_like_name("This is a whole sentence of a review.")


def test_stratified_split_keeps_rare_classes_in_every_split():
    examples = [(f"common {i}", "common") for i in range(200)] + [(f"rare {i}", "rare") for i in range(4)]
    train, val, test = stratified_split(examples, 0.1, 0.1, seed=3)
    assert sorted(train + val + test) == sorted(examples)
    for split in (val, test):
        assert {label for _, label in split} == {"common", "rare"}
    assert sum(1 for _, lab in val if lab == "common") == 20
    assert stratified_split(examples, 0.1, 0.1, seed=3) == (train, val, test)  # seeded
    with pytest.raises(ValueError, match="val_size"):
        stratified_split(examples, 1.5, 0.1)


def test_token_mode_follows_the_texts():
    assert choose_token_mode(["Nguyen", "O'Brien", "van der Berg", "Rossi", "Tanaka"])[0] == "char"
    assert choose_token_mode([t for t, _ in REVIEWS])[0] == "word"
