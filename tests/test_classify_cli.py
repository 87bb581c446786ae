"""``train classify --data FILE`` as a user runs it: the summary says what was read, the report
shows accuracy, macro-F1, the per-class table and the confusion matrix; user errors end in one
line and exit 2. Runs use --quick (a tiny model, 2 epochs) to stay fast.
"""

import json

import numpy as np
import pytest
from classify_files import SURNAMES, names, reviews, write_csv

import minirnn as mr
from minirnn.cli import main
from minirnn.io import load_checkpoint
from minirnn.train import fit


def _train(tmp_path, path, *extra, name="run"):
    return main(["train", "classify", "--data", str(path), "--quick", "--out", str(tmp_path / "runs"), "--name", name,
                 "--no-progress", *extra])


def test_label_text_file_end_to_end(tmp_path, capsys):
    path = write_csv(tmp_path / "reviews.csv", [(label, text) for text, label in reviews(80)], ["label", "text"])
    assert _train(tmp_path, path) == 0
    out = capsys.readouterr().out
    assert "2 comma-separated columns, header row (label, text)" in out
    assert "text = 'text', label = 'label': named so in the header" in out
    assert "2 classes" in out and "negative" in out and "positive" in out
    assert "best.npz is the epoch with the highest validation macro-F1" in out
    assert "Val macro f1" in out  # the epoch table
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["class", "precision", "recall"])
    assert lines[header + 2].split()[0] == "negative" and lines[header + 3].split()[0] == "positive"
    assert "confusion matrix (rows: true class, columns: predicted class" in out
    assert "held-out test set" in out and "macro-F1" in out
    run = tmp_path / "runs" / "run"
    assert (run / "confusion.png").exists() or "no PNGs" in out
    ckpt = load_checkpoint(run / "best.npz")
    assert ckpt.extra["classes"] == ["negative", "positive"] and ckpt.extra["monitor"] == "val_macro_f1"


def test_review_sentiment_header_gives_two_classes(tmp_path, capsys):
    path = write_csv(tmp_path / "imdb.csv", reviews(60), ["review", "sentiment"])
    assert _train(tmp_path, path) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "'sentiment' is not one of the 2 labels below it" in out


def test_names_by_language_use_characters(tmp_path, capsys):
    path = write_csv(tmp_path / "names.csv", names(), ["name", "language"])
    assert _train(tmp_path, path) == 0
    out = capsys.readouterr().out
    assert f"{len(SURNAMES)} classes" in out and "tokens: chars (the texts are single words" in out
    assert "language " not in out.split("classes (training counts")[1].split("class weights")[0]


def test_text_in_both_columns_stops_with_a_hint(tmp_path, capsys):
    pairs = [(f"I am {w} {i}.", f"Je suis {w} {i}.") for i, w in enumerate(["happy", "tired", "cold"] * 10)]
    path = write_csv(tmp_path / "pairs.csv", pairs)
    assert _train(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert "30 distinct values in 30 rows" in err and "--label-col" in err and "Traceback" not in err
    assert "the columns are 0, 1" in err


def test_columns_by_name_and_index(tmp_path, capsys):
    rows = [(str(i), text, label, "web" if i % 2 else "app") for i, (text, label) in enumerate(reviews(40))]
    path = write_csv(tmp_path / "c.csv", rows, ["id", "comment", "mood", "channel"])
    assert _train(tmp_path, path, "--label-col", "channel", "--text-col", "1") == 0
    out = capsys.readouterr().out
    assert "text = 'comment', label = 'channel': as given" in out
    assert _train(tmp_path, path, "--label-col", "stars", name="second") == 2
    err = capsys.readouterr().err
    assert "no column named 'stars'" in err and "'mood'" in err and "Traceback" not in err


def test_case_variants_bad_lines_and_balanced_weights(tmp_path, capsys):
    rows = [(f"great, loved it {i}", "Positive") for i in range(40)] + [(f"fine {i}", "positive") for i in range(4)]
    rows += [(f"awful, hated it {i}", "negative") for i in range(12)]
    path = write_csv(tmp_path / "mixed.csv", rows, ["text", "label"])
    with open(path, "a", encoding="utf-8") as f:
        f.write("unquoted, comma,negative\n")
    assert _train(tmp_path, path, "--class-weight", "balanced") == 0
    out = capsys.readouterr().out
    assert "warning: labels differing only in case are separate classes: 'Positive' (40) / 'positive' (4)" in out
    assert "1 bad line(s) skipped" in out and "skipped line 58: expected 2 comma-separated fields, got 3" in out
    assert "class weights: balanced" in out
    assert "3 classes (training counts, largest/smallest " in out  # the imbalance, in one number
    weights = load_checkpoint(tmp_path / "runs" / "run" / "best.npz").extra["class_weight"]
    counts = np.array([int(line.split()[1]) for line in out.splitlines() if line.strip().split()[0:1] in
                       (["Positive"], ["negative"], ["positive"]) and "weight" in line])
    assert len(weights) == 3 and counts.size == 3
    assert np.allclose(np.array(sorted(weights)), np.sort(counts.sum() / (3 * counts)))


def test_help_says_what_the_class_weight_default_does(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--class-weight {none,balanced}" in out and "none (default): every text counts the same" in out
    assert "--label-col NAME|INDEX" in out and "macro-F1" in out


def test_fit_class_weight_weights_the_training_loss(rng):
    mr.manual_seed(0)
    model = mr.models.SequenceClassifier(12, 3, embed_dim=4, hidden_size=5, dtype="float64")
    ids = rng.integers(4, 12, size=(6, 4))
    lengths = np.array([4, 3, 2, 4, 1, 2])
    labels = np.array([0, 1, 2, 2, 2, 0])
    weight = [0.5, 3.0, 1.25]
    expected = mr.CrossEntropyLoss(weight=np.array(weight))(model(ids, lengths), labels)
    history = fit(model, [(ids, lengths, labels)], task="classify", optimizer=mr.optim.SGD(model.parameters(), 0.0),
                  epochs=1, class_weight=weight, progress=None)
    assert history["loss"][0] == pytest.approx(expected, abs=1e-12)
    json.dumps(history["loss"])  # a plain float


def test_a_checkpoint_scores_a_file_through_the_library(tmp_path, capsys):
    from minirnn.train.recipes import score_classifier_file
    from minirnn.viz import classification_table

    path = write_csv(tmp_path / "imdb.csv", reviews(60), ["review", "sentiment"])
    assert _train(tmp_path, path) == 0
    capsys.readouterr()
    ckpt = load_checkpoint(tmp_path / "runs" / "run" / "best.npz")
    report, records = score_classifier_file(ckpt, path)
    assert report.total == 60 and records.layout.label_col == 1 and report.classes == ["negative", "positive"]
    # the same predictions as the model's own, text by text
    from minirnn.train.inference import classify_texts

    guesses = [g for g, _, _ in classify_texts(ckpt.model, ckpt.vocabs["src"], ckpt.extra["classes"],
                                               [t for t, _ in records], lower=ckpt.extra["lower"])]
    assert report.accuracy == pytest.approx(np.mean([g == lab for g, (_, lab) in zip(guesses, records)]))
    assert classification_table(report).splitlines()[2].split()[0] == "negative"
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "loss"}
