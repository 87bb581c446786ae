"""Real parallel files: cased tokens, the file's own spacing, splits by source, BLEU against every reference.

The files are realistic ones written for these tests: ``tests/data/eng-fra.tsv`` is
Tatoeba/ManyThings-style (English<TAB>French<TAB>attribution, several references for
many sources, French typography with a narrow no-break space before ``! ?``, « »,
elisions, numbers, hyphens, quotes), and the phrasebook generator writes thousands
of such rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sacrebleu

import minirnn as mr
from minirnn.data import (
    Spacing,
    detokenize,
    group_references,
    load_parallel_tsv,
    split_by_source,
    tokenize,
)
from minirnn.data.datasets import phrasebook
from minirnn.train.metrics import normalize_text, translation_scores

DATA = Path(__file__).parent / "data" / "eng-fra.tsv"
NNBSP = "\u202f"


def round_trip_rate(texts) -> tuple[float, list]:
    """Share of ``texts`` that detokenize(tokenize(.)) gives back exactly, with the spacing learned from them."""
    texts = sorted(set(texts))
    spacing = Spacing.learn(texts)
    failed = [t for t in texts if detokenize(tokenize(t, lower=False), spacing=spacing) != t]
    return 1 - len(failed) / len(texts), failed


@pytest.fixture(scope="module")
def rows():
    return list(load_parallel_tsv(DATA))


# ------------------------------------------------------------------------------ tokens and spacing


@pytest.mark.parametrize("side", [0, 1], ids=["english", "french"])
def test_detokenize_gives_back_nearly_every_sentence_of_the_file(rows, side):
    rate, failed = round_trip_rate(r[side] for r in rows)
    assert rate >= 0.98, failed  # measured: 100% of 128 English and 218 French sentences


def test_detokenize_gives_back_the_phrasebook():
    generated = phrasebook(3000, seed=4)
    for side in (0, 1):
        rate, failed = round_trip_rate(r[side] for r in generated)
        assert rate >= 0.99, failed[:5]


def test_french_and_english_spacing_are_learned_from_the_texts(rows):
    french = Spacing.learn(fr for _, fr in rows)
    english = Spacing.learn(en for en, _ in rows)
    assert detokenize(["Va", "!"], spacing=french) == f"Va{NNBSP}!"
    assert detokenize(["Qui", "est", "là", "?"], spacing=french) == f"Qui est là{NNBSP}?"
    assert detokenize(["Il", "a", "dit", ":", "«", "Viens", "ici", ".", "»"], spacing=french) == \
        "Il a dit : « Viens ici. »"
    assert detokenize(["C'", "est", "sûr", "à", "100", "%", "."], spacing=french) == "C'est sûr à 100 %."
    assert detokenize(["Go", "!"], spacing=english) == "Go!"
    assert detokenize(["He", "said", ",", '"', "Come", "here", ".", '"'], spacing=english) == 'He said, "Come here."'
    assert detokenize(["Go", "!"]) == "Go!"  # no spacing: English rules
    assert french.departures()["w !"] == NNBSP and "w !" not in english.departures()


def test_tokens_keep_case_numbers_hyphens_and_elisions():
    assert tokenize("Tom's dog barks!", lower=False) == ["Tom", "'s", "dog", "barks", "!"]
    assert tokenize("J'ai payé 2,50 euros à l'homme.", lower=False) == \
        ["J'", "ai", "payé", "2,50", "euros", "à", "l'", "homme", "."]
    assert tokenize("Arrête-toi ! Il est 10:45, A-t-il 1,000 $ ?", lower=False) == \
        ["Arrête-toi", "!", "Il", "est", "10:45", ",", "A-t-il", "1,000", "$", "?"]
    assert tokenize("The U.S. is big.", lower=False) == ["The", "U.S.", "is", "big", "."]
    assert tokenize("1998-03-03") == ["1998", "-", "03", "-", "03"]  # the dates task keeps its tokens


def test_spacing_survives_a_checkpoint_and_refuses_non_space_gaps(rows):
    spacing = Spacing.learn(fr for _, fr in rows)
    assert Spacing.from_dict(spacing.to_dict()) == spacing
    forged = Spacing.from_dict({"gaps": {"w !": "<script>", "w ?": " "}})
    assert forged.gaps == {"w ?": " "}
    with pytest.raises(ValueError, match="gaps"):
        Spacing.from_dict({"gaps": ["w !"]})


# ------------------------------------------------------------------------------ reading and splitting


def test_the_attribution_column_is_read_and_bad_lines_are_numbered(tmp_path):
    path = tmp_path / "mixed.tsv"
    path.write_text("Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (CK)\n"
                    "Hi.\tSalut !\n"
                    "only one field\n"
                    "\tempty source\tx\n", encoding="utf-8")
    records = load_parallel_tsv(path, errors="skip")
    assert list(records) == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert records.columns == 3
    assert [b.line_number for b in records.bad_lines] == [3, 4]


def test_group_references_keeps_every_reference_once(rows):
    groups = group_references(rows)
    go = next(g for g in groups if g.source == "Go.")
    assert go.references == [f"Va{NNBSP}!", "Marche.", f"Bouge{NNBSP}!", f"En route{NNBSP}!"]
    assert sum(len(g.references) for g in groups) == len(set(rows))
    assert len({g.source for g in groups}) == len(groups)


def test_split_by_source_never_puts_a_source_in_two_splits(rows):
    train, val, test = split_by_source(rows, 12, 15, seed=3)
    sources = [{s for s, _ in split} for split in (train, val, test)]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    assert (len(sources[1]), len(sources[2])) == (12, 15)
    assert sorted(train + val + test) == sorted(rows)  # every reference of a source went with it
    assert split_by_source(rows, 12, 15, seed=3) == (train, val, test)
    assert split_by_source(rows, 12, 15, seed=4) != (train, val, test)
    with pytest.raises(ValueError, match="too few"):
        split_by_source(rows, 100, 28)


def test_recipe_splits_by_the_models_view_of_a_source_and_warns_on_tiny_splits(rows):
    from minirnn.train.recipes import seq2seq_data

    data = seq2seq_data(rows, val_size=10, test_size=10, seed=0)
    assert "Tom" in data.src_vocab and "tom" not in data.src_vocab  # cased by default
    assert {g.source for g in data.val_groups}.isdisjoint(s for s, _ in data.train_pairs)
    assert any("only 10 source sentences" in w for w in data.warnings)
    lowered = seq2seq_data(rows + [("GO.", "Va !")], val_size=10, test_size=10, seed=0, lower=True)
    sources = [{data.source_key(s) for s, _ in split} for split in (lowered.train_pairs, lowered.test_pairs)]
    assert lowered.source_key("GO.") == lowered.source_key("Go.")
    assert not ({lowered.source_key(s) for s, _ in lowered.train_pairs}
                & {lowered.source_key(s) for s, _ in lowered.test_pairs + lowered.val_pairs})
    assert sources  # the lower-cased "GO." and "Go." are one source for a lower-casing model


# ------------------------------------------------------------------------------ scores


def test_bleu_and_chrf_use_every_reference():
    hypotheses = ["Va !", "Tom est engourdi.", "Il fait froid."]
    references = [[f"Va{NNBSP}!", "Marche."], ["Tom est engourdi."], ["Il fait très froid.", "Il fait froid."]]
    scores = translation_scores(hypotheses, references)
    streams = [[r[0] for r in references], [r[1] if len(r) > 1 else None for r in references]]
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, streams).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, streams).score)
    assert scores["exact_match"] == 1.0  # each equals one of its references once spaces are normalised
    single = translation_scores(hypotheses, [r[:1] for r in references])
    assert single["bleu"] < scores["bleu"] and single["exact_match"] == pytest.approx(2 / 3)


def test_exact_match_normalises_spaces_not_case_or_words():
    assert normalize_text(f"Allez{NNBSP}!") == normalize_text("Allez!") == "Allez !"
    assert translation_scores(["tom est engourdi."], [["Tom est engourdi."]])["exact_match"] == 0.0
    assert translation_scores(["tom est engourdi."], [["Tom est engourdi."]], lower=True)["exact_match"] == 1.0
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        translation_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="at least one reference"):
        translation_scores(["a"], [[]])


# ------------------------------------------------------------------------------ decoding


@pytest.fixture(scope="module")
def tiny_translator(rows):
    from minirnn.train.recipes import seq2seq_data

    data = seq2seq_data(rows, val_size=10, test_size=10, seed=0)
    mr.manual_seed(0)
    model = mr.models.Seq2Seq(len(data.src_vocab), len(data.tgt_vocab), embed_dim=8, hidden_size=8,
                              bidirectional_encoder=True)
    return model, data


def test_decoding_budget_follows_the_input_and_flags_a_cut_output(tiny_translator):
    from minirnn.train.inference import default_max_len, translate

    model, data = tiny_translator
    long_text = " ".join(["Tom"] * 60)
    result, = translate(model, data.src_vocab, data.tgt_vocab, [long_text], lower=False)
    assert len(result.output_tokens) <= default_max_len(60) == 130
    assert result.finished or len(result.output_tokens) == 130  # never cut before 2 S + 10 tokens
    cut, = translate(model, data.src_vocab, data.tgt_vocab, [long_text], lower=False, max_len=2)
    assert len(cut.output_tokens) <= 2 and (cut.finished or len(cut.output_tokens) == 2)


def test_unknown_words_are_listed_per_sentence(tiny_translator):
    from minirnn.train.inference import translate

    model, data = tiny_translator
    results = translate(model, data.src_vocab, data.tgt_vocab, ["Tom knows.", "Zorglub knows Blorx."], lower=False)
    assert results[0].unknown == () and results[1].unknown == ("Zorglub", "Blorx")


def test_unknown_output_words_copy_the_attended_source_word():
    from minirnn.train.inference import _replace_unknown

    weights = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert _replace_unknown(["<unk>", "<unk>"], ["Zorglub", "Paris"], weights, "<unk>") == ["Zorglub", "Paris"]
    assert _replace_unknown(["Va", "!"], ["Go", "!"], weights, "<unk>") == ["Va", "!"]


def test_batched_translation_keeps_the_input_order(tiny_translator):
    from minirnn.train.inference import translate

    model, data = tiny_translator
    texts = ["Go.", "Tom and Mary aren't here yet.", "Hi.", "Where's Tom?", "I see."]
    together = translate(model, data.src_vocab, data.tgt_vocab, texts, lower=False, batch_size=2)
    alone = [translate(model, data.src_vocab, data.tgt_vocab, [t], lower=False)[0] for t in texts]
    assert [r.source for r in together] == texts
    assert [r.output_tokens for r in together] == [r.output_tokens for r in alone]


def test_the_epoch_table_marks_the_best_of_the_monitored_value():
    from minirnn.viz import epoch_table

    history = {"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "val_loss": [2.0, 1.5, 1.7], "val_bleu": [1.0, 5.0, 9.0]}
    by_loss = epoch_table(history, monitor="val_loss").splitlines()
    by_bleu = epoch_table(history, monitor="val_bleu").splitlines()
    assert "best val so far" in by_loss[3] and "best val so far" not in by_loss[4]
    assert "best val so far" in by_bleu[3] and "best val so far" in by_bleu[4]
