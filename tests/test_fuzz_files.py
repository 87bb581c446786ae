"""Fuzzing the readers of strangers' files: only the documented errors may escape.

Checkpoints (``load_checkpoint``, then the CLI on what loaded): raw bit flips,
truncation at every boundary of the zip structure, members shuffled and
recompressed, members' contents mutated (with valid CRCs, so the parsers behind the
zip layer are reached), and any JSON value put anywhere in the metadata. The only
error allowed is ``CheckpointError``; the CLI only ever exits 0 or 2.

Data files (``load_parallel_tsv``, ``load_labeled_text``, ``Vocab.load``): any
bytes give rows or a ``DataFormatError``; and rows holding the characters that
``str.splitlines`` would split at, written with any line ending and encoding, read
back exactly as written (no silent column mix-up).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile_files import META, npy_bytes, read_members, small_seq2seq_checkpoint, write_members
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minirnn as mr
from minirnn.cli import main
from minirnn.data import DataFormatError, Vocab, load_labeled_text, load_parallel_tsv
from minirnn.io import CheckpointError, load_checkpoint

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FOLDER = Path(tempfile.mkdtemp(prefix="minirnn-fuzz-"))
BASE = small_seq2seq_checkpoint(_FOLDER / "base.npz")
BASE_BYTES = Path(BASE).read_bytes()
BASE_MEMBERS = read_members(BASE)
BASE_META = json.loads(np.load(BASE)["__minirnn__"].tobytes())


def _load_or_refuse(data: bytes, name: str = "fuzzed.npz"):
    """Load ``data`` as a checkpoint file: the Checkpoint, or None when refused with a CheckpointError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return load_checkpoint(path)
        except CheckpointError as err:
            assert str(path) in str(err) and "\n" not in str(err)
            return None


def _archive(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    write_members(buffer, members, compression)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the zip layer


@FUZZ
@given(st.lists(st.integers(0, len(BASE_BYTES) * 8 - 1), min_size=1, max_size=6))
def test_bit_flips_anywhere_are_loaded_or_refused(bits):
    data = bytearray(BASE_BYTES)
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    _load_or_refuse(bytes(data))


def _zip_boundaries(data: bytes) -> list[int]:
    """Offsets where the zip structure changes: each local header, its data, the directory, its end."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos, directory = archive.infolist(), archive.start_dir
    cuts = {directory, len(data) - 22}  # the central directory, the end-of-directory record
    for info in infos:
        local = info.header_offset
        name_len, extra_len = np.frombuffer(data[local + 26 : local + 30], dtype="<u2")
        start = local + 30 + int(name_len) + int(extra_len)
        cuts.update({local, local + 30, start, start + info.compress_size})
    return sorted({c + d for c in cuts for d in (-1, 0, 1) if 0 < c + d < len(data)})


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_truncation_at_every_boundary_is_refused(compression):
    data = _archive(BASE_MEMBERS, compression)
    cuts = _zip_boundaries(data)
    assert len(cuts) > 60
    for cut in cuts:
        assert _load_or_refuse(data[:cut]) is None, cut


@FUZZ
@given(st.permutations(sorted(BASE_MEMBERS)), st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_shuffled_recompressed_members_load_the_same(order, compression):
    ckpt = _load_or_refuse(_archive({name: BASE_MEMBERS[name] for name in order}, compression))
    assert ckpt is not None
    reference = load_checkpoint(BASE)
    for (name, a), (_, b) in zip(reference.model.named_parameters(), ckpt.model.named_parameters()):
        assert np.array_equal(a.data, b.data), name
    assert ckpt.optimizer_state["meta"] == reference.optimizer_state["meta"]


# --------------------------------------------------------------------------- behind the zip layer


@FUZZ
@given(st.sampled_from(sorted(BASE_MEMBERS)), st.data())
def test_mutated_member_contents_are_loaded_or_refused(name, data):
    content = bytearray(BASE_MEMBERS[name])
    how = data.draw(st.sampled_from(["flip", "truncate", "insert", "header"]))
    if how == "flip":
        for bit in data.draw(st.lists(st.integers(0, len(content) * 8 - 1), min_size=1, max_size=4)):
            content[bit // 8] ^= 1 << (bit % 8)
    elif how == "truncate":
        del content[data.draw(st.integers(0, len(content) - 1)) :]
    elif how == "insert":
        at = data.draw(st.integers(0, len(content)))
        content[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    else:  # within the .npy header, where dtype and shape are parsed
        at = data.draw(st.integers(8, min(len(content), 128) - 1))
        content[at] = data.draw(st.sampled_from(b"'(),:{}<>|0123456789OVUfu "))
    _load_or_refuse(_archive({**BASE_MEMBERS, name: bytes(content)}))


def _paths(value, prefix=()):
    """Every path into a JSON value: ("model", "config", "hidden_size"), ("vocabs", "src", "tokens", 3), ..."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list) and len(value) < 20:
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["minirnn.cli.main", "float64", "lstm", "<pad>", "state.0.exp_avg", "PCG64", "optim/x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


@FUZZ
@given(st.sampled_from(list(_paths(BASE_META))[1:]), JSON_VALUES)
def test_any_json_anywhere_in_the_metadata_is_loaded_or_refused_and_the_cli_never_crashes(path, value):
    meta = json.loads(json.dumps(BASE_META))
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    text = json.dumps(meta).encode()
    members = {**BASE_MEMBERS, META: npy_bytes(np.frombuffer(text, dtype=np.uint8))}
    data = _archive(members)
    ckpt = _load_or_refuse(data)
    if ckpt is not None and ckpt.optimizer_state is not None:
        try:
            ckpt.restore_optimizer(mr.optim.Adam(ckpt.model.parameters()))
        except CheckpointError:
            pass
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "fuzzed.npz"
        file.write_bytes(data)
        assert main(["translate", str(file), "a b c"]) in (0, 2)


# --------------------------------------------------------------------------- data files

NASTY_BYTES = [b"\t", b",", b'"', b"\r", b"\n", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
               b"\xe9", b"\xc3", b"a", b"label", b"text", b"\xe2\x80\xa8", b"\xc2\x85", b"\x0b", b" ", b"{", b"}",
               b'"tokens"', b"\x00\x00\xfe\xff"]
FILE_BYTES = st.binary(max_size=3000) | st.lists(st.sampled_from(NASTY_BYTES), max_size=80).map(b"".join)


@FUZZ
@given(FILE_BYTES, st.sampled_from([".tsv", ".csv", ".txt", ".json"]), st.sampled_from(["raise", "skip"]))
def test_any_bytes_give_rows_or_a_data_format_error(data, suffix, errors):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(data)
        for read in (lambda: load_parallel_tsv(path, errors=errors), lambda: load_labeled_text(path, errors=errors),
                     lambda: Vocab.load(path)):
            try:
                result = read()
            except DataFormatError as err:
                assert str(path) in str(err)
                continue
            if not isinstance(result, Vocab):
                assert all(len(row) == 2 and all(isinstance(f, str) and f for f in row) for row in result)


# Characters str.splitlines() splits at (and that strip() removes at the ends), inside fields.
SEPARATOR_LIKE = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
FIELD = st.text(alphabet=st.sampled_from(list("ab é,;'\"") + ["漢", "🙂"] + list(SEPARATOR_LIKE)), min_size=1,
                max_size=12).map(str.strip).filter(bool)
ROWS = st.lists(st.tuples(FIELD, FIELD), min_size=1, max_size=12)
# The columns are named, so that the reading of the bytes is tested, not the guess of the layout.
COLUMNS = {"header": False, "text_col": 0, "label_col": 1}


@FUZZ
@given(ROWS, st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_rows_with_separator_like_characters_read_back_exactly(rows, newline, encoding):
    with tempfile.TemporaryDirectory() as folder:
        tsv = Path(folder) / "pairs.tsv"
        tsv.write_bytes(("".join(f"{a}\t{b}{newline}" for a, b in rows)).encode(encoding))
        assert load_parallel_tsv(tsv) == rows
        assert load_labeled_text(tsv, **COLUMNS) == rows
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=newline).writerows(rows)
        comma = Path(folder) / "rows.csv"
        comma.write_bytes(buffer.getvalue().encode(encoding))
        assert load_labeled_text(comma, **COLUMNS) == rows


@FUZZ
@given(st.lists(st.text(min_size=1, max_size=6).filter(lambda t: t not in Vocab().itos), unique=True, max_size=20),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_vocabularies_round_trip_in_any_unicode_encoding(tokens, encoding):
    assume(not any("\ud800" <= ch <= "\udfff" for t in tokens for ch in t))
    vocab = Vocab(tokens)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocab.json"
        path.write_bytes(vocab.to_json().encode(encoding))
        assert Vocab.load(path) == vocab
