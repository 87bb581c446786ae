"""Tokenizer, Vocab, padding, masks, bucketing and file loaders (minirnn.data)."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.data import (
    BucketIterator,
    ClassificationBatch,
    DataFormatError,
    Seq2SeqBatch,
    Vocab,
    batches,
    detokenize,
    encode_labels,
    load_labeled_text,
    load_parallel_tsv,
    make_mask,
    pad_sequences,
    prepare_seq2seq,
    tokenize,
    train_val_split,
)

# ------------------------------------------------------------------------------ tokenizer


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("I am happy", ["i", "am", "happy"]),
        ("i'm happy!", ["i", "'m", "happy", "!"]),
        ("I don't know, it's fine.", ["i", "do", "n't", "know", ",", "it", "'s", "fine", "."]),
        ("j'ai un chien", ["j'", "ai", "un", "chien"]),
        ("je n'ai pas d'oiseau", ["je", "n'", "ai", "pas", "d'", "oiseau"]),
        ("l'homme qu'il voit", ["l'", "homme", "qu'", "il", "voit"]),
        ("aujourd'hui, peut-être (3.5 km)", ["aujourd'hui", ",", "peut-être", "(", "3.5", "km", ")"]),
        ("It\u2019s", ["it", "'s"]),
    ],
)
def test_tokenize_examples(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_case_and_char_mode():
    assert tokenize("I Am", lower=False) == ["I", "Am"]
    assert tokenize("Ab  c", mode="char") == ["a", "b", " ", "c"]
    assert tokenize(" 3/3/98 ", mode="char", lower=False) == list("3/3/98")
    with pytest.raises(ValueError, match="mode"):
        tokenize("x", mode="bpe")
    with pytest.raises(TypeError, match="str"):
        tokenize(["x"])


@pytest.mark.parametrize(
    "tokens, text",
    [
        (["je", "suis", "content"], "je suis content"),
        (["j'", "ai", "un", "chien", "."], "j'ai un chien."),
        (["i", "do", "n't", "know", ",", "it", "'s", "ok", "!"], "i don't know, it's ok!"),
        (["(", "a", ")", "b", "?"], "(a) b?"),
    ],
)
def test_detokenize_examples(tokens, text):
    assert detokenize(tokens) == text


_TEXT_ALPHABET = string.ascii_letters + string.digits + " .,!?;:'’-()\"&/_éèàçœ\t\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_TEXT_ALPHABET, max_size=60), st.booleans())
def test_word_tokenize_detokenize_round_trip(text, lower):
    tokens = tokenize(text, lower=lower)
    assert all(tok and not any(ch.isspace() for ch in tok) for tok in tokens)
    assert tokenize(detokenize(tokens), lower=False) == tokens


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_word_tokenize_any_unicode_round_trip(text):
    tokens = tokenize(text, lower=False)
    assert tokenize(detokenize(tokens), lower=False) == tokens


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_char_round_trip(text):
    tokens = tokenize(text, lower=False, mode="char")
    assert detokenize(tokens, mode="char") == " ".join(text.split())


# ------------------------------------------------------------------------------ vocab


def test_vocab_specials_and_order():
    vocab = Vocab.build([["b", "a", "c", "a"], ["c", "a", "d"]])
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.itos == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "c", "b", "d"]  # freq, then alphabetical
    assert len(vocab) == 8 and "a" in vocab and "z" not in vocab
    assert vocab["z"] == vocab.unk_id
    assert vocab == Vocab.build([["c", "a", "d"], ["b", "a", "c", "a"]])  # order of input does not matter


def test_vocab_min_freq_and_max_size():
    lists = [["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]]
    assert Vocab.build(lists, min_freq=2).itos[4:] == ["a", "b", "c"]
    assert Vocab.build(lists, max_size=6).itos[4:] == ["a", "b"]
    assert len(Vocab.build(lists, min_freq=3, max_size=100)) == 6
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(lists, max_size=3)
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(lists, min_freq=0)
    with pytest.raises(TypeError, match="token lists"):
        Vocab.build(["abc"])


def test_vocab_encode_decode():
    vocab = Vocab.build([["i", "am", "happy"]])
    ids = vocab.encode(["i", "am", "sad"], add_bos=True, add_eos=True)
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id and ids[3] == vocab.unk_id
    assert vocab.decode(ids) == ["i", "am", "<unk>"]
    assert vocab.decode(ids, strip_specials=False) == ["<bos>", "i", "am", "<unk>"]
    assert vocab.decode(ids + [4, 0], stop_at_eos=False) == ["i", "am", "<unk>", vocab.itos[4]]
    out = vocab.decode(np.array([vocab["i"], vocab["am"], vocab.eos_id, vocab["happy"], 0]))
    assert out == ["i", "am"]
    with pytest.raises(IndexError, match="outside the vocabulary"):
        vocab.decode([99])
    with pytest.raises(TypeError, match="tokenize"):
        vocab.encode("i am")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.text(min_size=1, max_size=5), max_size=8), max_size=8))
def test_vocab_encode_decode_round_trip(token_lists):
    vocab = Vocab.build(token_lists)
    for tokens in token_lists:
        kept = [t for t in tokens if t not in ("<pad>", "<bos>", "<eos>")]
        assert vocab.decode(vocab.encode(kept, add_bos=True, add_eos=True)) == kept
    assert Vocab.from_json(vocab.to_json()) == vocab


def test_vocab_save_load(tmp_path):
    vocab = Vocab.build([tokenize("je suis content, j'ai faim")])
    path = tmp_path / "vocab.json"
    vocab.save(path)
    assert Vocab.load(path) == vocab
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left behind
    assert Vocab.from_json(vocab.to_dict()) == vocab


def test_vocab_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Vocab.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        Vocab.load(bad)
    bad.write_text(json.dumps({"tokens": ["a"]}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="not a minirnn vocabulary"):
        Vocab.load(bad)
    bad.write_text(json.dumps({"format": "minirnn.vocab", "version": 99, "tokens": []}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="version"):
        Vocab.load(bad)
    bad.write_text(json.dumps({"format": "minirnn.vocab", "version": 1, "tokens": ["a", "b"]}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="specials"):
        Vocab.load(bad)
    tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "a", "a"]
    bad.write_text(json.dumps({"format": "minirnn.vocab", "version": 1, "tokens": tokens}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="duplicate"):
        Vocab.load(bad)


def test_encode_labels():
    ids, classes = encode_labels(["pos", "neg", "pos"])
    assert classes == ["neg", "pos"] and ids.tolist() == [1, 0, 1] and ids.dtype == np.int64
    with pytest.raises(ValueError, match="'maybe'"):
        encode_labels(["maybe"], classes)


# ------------------------------------------------------------------------------ padding and masks


def test_pad_sequences_and_mask():
    ids, lengths = pad_sequences([[5, 6, 7], [8], np.array([9, 10])])
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [9, 10, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    mask = make_mask(lengths)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, ids != 0)
    assert make_mask(lengths, 5).shape == (3, 5)
    cut, cut_lengths = pad_sequences([[1, 2, 3, 4], [5]], pad_id=9, max_len=2)
    np.testing.assert_array_equal(cut, [[1, 2], [5, 9]])
    np.testing.assert_array_equal(cut_lengths, [2, 1])
    empty, empty_lengths = pad_sequences([])
    assert empty.shape == (0, 0) and empty_lengths.shape == (0,)
    with pytest.raises(TypeError, match="integer"):
        pad_sequences([[1.5]])
    with pytest.raises(ValueError, match="negative"):
        pad_sequences([[1, -2]])


# ------------------------------------------------------------------------------ bucketing


def _random_seqs(rng, n):
    return [rng.integers(4, 50, size=int(rng.integers(1, 30))).tolist() for _ in range(n)]


def test_bucket_iterator_classification_epoch():
    rng = np.random.default_rng(0)
    n = 1003
    # The first id of example i is 4 + i, so a batch row tells which example it is.
    seqs = [[4 + i] + rng.integers(4, 50, size=int(rng.integers(0, 30))).tolist() for i in range(n)]
    labels = rng.integers(0, 3, size=n)
    it = BucketIterator(seqs, labels=labels, batch_size=16, seed=7, bucket_batches=10)
    seen, spread = [], []
    for batch in it:
        assert isinstance(batch, ClassificationBatch)
        ids, lengths, labs = batch
        assert ids.dtype == np.int64 and ids.shape == (len(lengths), lengths.max())
        index = ids[:, 0] - 4
        for row, length, i in zip(ids, lengths, index):
            assert row[:length].tolist() == seqs[i] and not row[length:].any()
        np.testing.assert_array_equal(labs, labels[index])
        seen.extend(index.tolist())
        spread.append(int(lengths.max() - lengths.min()))
    assert sorted(seen) == list(range(n))  # every example exactly once
    assert len(spread) == len(it) == -(-n // 16)  # the last batch is short
    assert np.mean(spread) <= 5  # bucketed: similar lengths in a batch (random batches would spread ~25)
    assert it.epoch == 1


def test_bucket_iterator_seeded_order():
    rng = np.random.default_rng(1)
    seqs = _random_seqs(rng, 300)
    labels = np.zeros(300, dtype=np.int64)

    def order(seed, epoch):
        return [b.tolist() for b in BucketIterator(seqs, labels=labels, batch_size=8, seed=seed).batch_indices(epoch)]

    assert order(3, 0) == order(3, 0)
    assert order(3, 0) != order(3, 1)
    assert order(3, 0) != order(4, 0)
    it = BucketIterator(seqs, labels=labels, batch_size=8, seed=3)
    first = [b.ids.tolist() for b in it]
    second = [b.ids.tolist() for b in it]
    assert first != second
    it.set_epoch(0)
    assert [b.ids.tolist() for b in it] == first
    again = [b.ids.tolist() for b in batches(seqs, labels=labels, batch_size=8, seed=3, epoch=1)]
    assert again == second


def test_bucket_iterator_no_shuffle_and_drop_last():
    seqs = [[i + 4] * (1 + i % 5) for i in range(10)]
    it = BucketIterator(seqs, labels=list(range(10)), batch_size=4, shuffle=False)
    assert [b.labels.tolist() for b in it] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    it = BucketIterator(seqs, labels=list(range(10)), batch_size=4, drop_last=True)
    assert len(it) == 2 and all(len(b.labels) == 4 for b in it)


def test_bucket_iterator_seq2seq():
    src = [[4, 5, 6], [7], [8, 9]]
    tgt = [[10, 11], [12, 13, 14], [15]]
    (batch,) = list(BucketIterator(src, targets=tgt, batch_size=3, shuffle=False))
    assert isinstance(batch, Seq2SeqBatch)
    np.testing.assert_array_equal(batch.src, [[4, 5, 6], [7, 0, 0], [8, 9, 0]])
    np.testing.assert_array_equal(batch.src_lengths, [3, 1, 2])
    np.testing.assert_array_equal(batch.tgt_in, [[2, 10, 11, 0], [2, 12, 13, 14], [2, 15, 0, 0]])
    np.testing.assert_array_equal(batch.tgt_out, [[10, 11, 3, 0], [12, 13, 14, 3], [15, 3, 0, 0]])
    np.testing.assert_array_equal(batch.tgt_lengths, [3, 4, 2])
    # Padding in tgt_out is exactly where the target mask is False: ignore_index=0 skips it.
    np.testing.assert_array_equal(batch.tgt_out != 0, make_mask(batch.tgt_lengths))


def test_bucket_iterator_seq2seq_buckets_by_length():
    data = prepare_seq2seq([(f"a {'b ' * (i % 9)}c", "x " * (1 + i % 4)) for i in range(500)])
    it = BucketIterator(data.src_ids, targets=data.tgt_ids, batch_size=10, seed=0)
    count = 0
    for batch in it:
        count += len(batch.src_lengths)
        assert batch.src_lengths.max() - batch.src_lengths.min() <= 1
    assert count == 500


def test_bucket_iterator_errors():
    with pytest.raises(ValueError, match="exactly one"):
        BucketIterator([[1]])
    with pytest.raises(ValueError, match="labels must have shape"):
        BucketIterator([[4], [5]], labels=[0])
    with pytest.raises(ValueError, match=r"inputs\[1\] is empty"):
        BucketIterator([[4], []], labels=[0, 1])
    with pytest.raises(TypeError, match="encode_labels"):
        BucketIterator([[4]], labels=["pos"])
    with pytest.raises(TypeError, match="float64"):
        BucketIterator([[4], [5]], labels=[1.5, 0.0])  # never truncated to 1
    np.testing.assert_array_equal(BucketIterator([[4], [5]], labels=[1.0, 0.0]).labels, [1, 0])
    with pytest.raises(ValueError, match="2 inputs but 1 targets"):
        BucketIterator([[4], [5]], targets=[[6]])


def test_train_val_split():
    train, val = train_val_split(range(100), 0.2, seed=1)
    assert len(val) == 20 and sorted(train + val) == list(range(100))
    assert train_val_split(range(100), 0.2, seed=1) == (train, val)
    assert train_val_split(range(100), 0.2, seed=2) != (train, val)


# ------------------------------------------------------------------------------ loaders


def test_load_parallel_tsv(tmp_path):
    path = tmp_path / "fra.txt"
    path.write_text(
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
        "I am happy.\tJe suis content.\n"
        "\n"
        "just one field\n"
        "a\tb\tc\td\n"
        "\tempty source\n"
        "Hi.\tSalut !\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError) as info:
        load_parallel_tsv(path)
    err = info.value
    assert [b.line_number for b in err.bad_lines] == [4, 5, 6]
    assert "line 4" in str(err) and "line 5" in str(err) and "line 6" in str(err) and "fra.txt" in str(err)
    pairs = load_parallel_tsv(path, errors="skip")
    assert pairs == [("Go.", "Va !"), ("I am happy.", "Je suis content."), ("Hi.", "Salut !")]
    assert [b.line_number for b in pairs.bad_lines] == [4, 5, 6]


def test_load_parallel_tsv_bad_utf8_and_missing(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"a\tb\n\xff\xfe\tx\nc\td\n")
    pairs = load_parallel_tsv(path, errors="skip")
    assert pairs == [("a", "b"), ("c", "d")] and pairs.bad_lines[0].line_number == 2
    assert "UTF-8" in pairs.bad_lines[0].reason
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        load_parallel_tsv(tmp_path / "nope.tsv")
    with pytest.raises(ValueError, match="errors"):
        load_parallel_tsv(path, errors="ignore")


def test_load_labeled_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        'text,label\n"great, really great",pos\nbad,neg\n"multi\nline",pos\nno label here\ntoo,many,fields\n,neg\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError) as info:
        load_labeled_text(path)
    assert [b.line_number for b in info.value.bad_lines] == [6, 7, 8]
    rows = load_labeled_text(path, errors="skip")
    assert rows == [("great, really great", "pos"), ("bad", "neg"), ("multi\nline", "pos")]
    assert "quote" in rows.bad_lines[1].reason


def test_load_labeled_tsv_and_sniffing(tmp_path):
    tsv = tmp_path / "data.tsv"
    tsv.write_text('he said "hi", twice\tgreeting\nbye\tfarewell\n', encoding="utf-8")
    assert load_labeled_text(tsv) == [('he said "hi", twice', "greeting"), ("bye", "farewell")]
    sniffed = tmp_path / "data.txt"
    sniffed.write_text("ACGT\t1\nTTTT\t0\n", encoding="utf-8")
    assert load_labeled_text(sniffed) == [("ACGT", "1"), ("TTTT", "0")]
    comma = tmp_path / "data.dat"
    comma.write_text("x,1\n", encoding="utf-8")
    assert load_labeled_text(comma) == [("x", "1")]
    assert load_labeled_text(comma, header=True) == []


def test_load_labeled_malformed_quotes(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text('ok,1\n"unclosed,0\nmore,1\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 2: malformed CSV quoting"):
        load_labeled_text(path)
    rows = load_labeled_text(path, errors="skip")  # the bad record costs its line, not the rest
    assert rows == [("ok", "1"), ("more", "1")]
    assert [b.line_number for b in rows.bad_lines] == [2]
