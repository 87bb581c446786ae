"""Users' files byte by byte: BOMs, UTF-16, line ends, NULs, binary and empty files, long fields.

Each oddity either reads the rows a person sees in an editor, or is an error that
names the file and the line (through the loaders, ``Vocab.load`` and the CLI).
"""

from __future__ import annotations

import codecs
import os

import pytest

from minirnn.cli import main
from minirnn.data import DataFormatError, Vocab, load_labeled_text, load_parallel_tsv
from minirnn.data.textfile import MAX_FIELD_CHARS, read_text, split_lines

ROWS = [("I am happy.", "Je suis content."), ("Hi.", "Salut !")]
TSV = "I am happy.\tJe suis content.\nHi.\tSalut !\n"


@pytest.mark.parametrize("encoded", [
    TSV.encode("utf-8"),
    codecs.BOM_UTF8 + TSV.encode("utf-8"),
    TSV.replace("\n", "\r\n").encode("utf-8"),  # Windows
    TSV.replace("\n", "\r").encode("utf-8"),  # classic Mac
    TSV.encode("utf-16"),  # Excel's "Unicode text": UTF-16 LE with its BOM
    codecs.BOM_UTF16_BE + TSV.encode("utf-16-be"),
    TSV.encode("utf-32"),
    TSV.rstrip("\n").encode("utf-8"),  # no final line end
], ids=["utf8", "utf8-bom", "crlf", "cr", "utf16le", "utf16be", "utf32", "no-final-newline"])
def test_every_encoding_and_line_end_reads_the_same_rows(tmp_path, encoded):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(encoded)
    assert load_parallel_tsv(path) == ROWS
    assert load_labeled_text(path) == ROWS


def test_only_real_line_ends_split_a_line(tmp_path):
    # str.splitlines() also splits at these; inside a field they would shift every column after them.
    text = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\tlabel one\nsecond\tlabel two\n"
    path = tmp_path / "odd.tsv"
    path.write_text(text, encoding="utf-8")
    assert load_parallel_tsv(path) == [("a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i", "label one"),
                                       ("second", "label two")]
    assert split_lines("x\r\ny\rz\n") == ["x", "y", "z"] and split_lines("") == []


def test_empty_and_binary_files_are_refused_naming_the_problem(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    for read in (load_parallel_tsv, load_labeled_text, Vocab.load):
        with pytest.raises(DataFormatError, match=r"empty.tsv: the .* is empty \(0 bytes\)"):
            read(empty)
    binary = tmp_path / "model.tsv"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x00\x00" + bytes(range(256)) * 4)
    for read in (load_parallel_tsv, load_labeled_text, Vocab.load):
        with pytest.raises(DataFormatError, match=r"model.tsv: 1 bad line\(s\): line 1: a NUL byte: this looks like a "
                                                  r"binary file"):
            read(binary)


def test_bad_bytes_in_a_line_name_the_line_and_the_byte(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("café\tcoffee\n".encode() + "thé\ttea\n".encode("latin-1") + b"ok\tfine\n")
    with pytest.raises(DataFormatError, match=r"line 2: not valid UTF-8 \(byte 0xe9 at character 3\); if the file "
                                              r"is Latin-1 or Windows-1252, save it as UTF-8"):
        load_parallel_tsv(path)
    assert load_parallel_tsv(path, errors="skip") == [("café", "coffee"), ("ok", "fine")]

    late_nul = tmp_path / "nul.tsv"  # a NUL past the binary probe is one bad line, not a binary file
    late_nul.write_bytes(b"x\ty\n" * 3000 + b"a\x00b\tc\n" + b"p\tq\n")
    records = load_parallel_tsv(late_nul, errors="skip")
    assert len(records) == 3001 and records.bad_lines[0].line_number == 3001
    assert "NUL" in records.bad_lines[0].reason

    broken16 = tmp_path / "broken16.tsv"
    broken16.write_bytes("a\tb\nc\td\n".encode("utf-16") + b"\x00\xd8")  # a lone surrogate at the end
    with pytest.raises(DataFormatError, match=r"line 3: not valid UTF-16-LE"):
        load_parallel_tsv(broken16)


def test_over_long_fields_are_bad_lines_in_tsv_and_csv(tmp_path):
    long = "w" * (MAX_FIELD_CHARS + 1)
    tsv = tmp_path / "long.tsv"
    tsv.write_text(f"a\tb\n{long}\tc\nd\te\n", encoding="utf-8")
    records = load_labeled_text(tsv, errors="skip")
    assert records == [("a", "b"), ("d", "e")] and records.bad_lines[0].line_number == 2
    assert f"over the limit of {MAX_FIELD_CHARS:,}" in records.bad_lines[0].reason
    comma = tmp_path / "long.csv"
    comma.write_text(f"a,b\nd,e\n{long},c\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"line 3: a field over the limit of 131,072 characters"):
        load_labeled_text(comma)
    records = load_labeled_text(comma, errors="skip")
    assert records == [("a", "b"), ("d", "e")] and records.bad_lines[0].line_number == 3


def test_vocabulary_files_with_a_bom_load_and_broken_ones_name_the_line(tmp_path):
    vocab = Vocab(["ça", "va"])
    path = tmp_path / "vocab.json"
    path.write_bytes(codecs.BOM_UTF8 + vocab.to_json().encode("utf-8"))
    assert Vocab.load(path) == vocab
    path.write_bytes(b'{"format": "minirnn.vocab",\n "tokens": ["\xe7a"]}')
    with pytest.raises(DataFormatError, match=r"line 2: not valid UTF-8 \(byte 0xe7"):
        Vocab.load(path)
    path.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        Vocab.load(path)
    path.write_text('{"format": "minirnn.vocab", "version": true, "tokens": []}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="version True is not supported"):
        Vocab.load(path)


def test_read_text_names_a_missing_file_a_directory_and_a_device(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found: .*nope.tsv"):
        read_text(tmp_path / "nope.tsv")
    with pytest.raises(DataFormatError, match="is a directory, not a data file"):
        load_parallel_tsv(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(DataFormatError, match="/dev/zero is not a regular file, not a vocabulary file"):
            Vocab.load("/dev/zero")


def test_the_cli_reports_a_binary_data_file_in_one_line(tmp_path, capsys):
    data = tmp_path / "photo.csv"
    data.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))  # NUL on line 3 (after \r\n, \n)
    assert main(["train", "classify", "--data", str(data), "--quick", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "photo.csv" in err and "binary file" in err and "line 3" in err
