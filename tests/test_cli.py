"""The command line: a quick demo end to end, the checkpoint commands, and clear user errors.

Realistic files: ``tests/data/eng-fra.tsv`` (Tatoeba-style, cased, punctuated, several
references per source, an attribution column) and a DNA classifier trained here.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from minirnn.cli import main
from minirnn.io import load_checkpoint

DATA = Path(__file__).parent / "data" / "eng-fra.tsv"
ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
SMALL = ["--hidden-size", "16", "--embed-dim", "8", "--no-progress"]


def run_cli(*argv, stdin=None, timeout=120):
    """``python -m minirnn ...`` in a subprocess: (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "minirnn", *map(str, argv)], input=stdin, capture_output=True,
                            text=True, env=ENV, timeout=timeout, cwd=ROOT)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One quick demo run shared by the tests below (its output and run folder)."""
    out = tmp_path_factory.mktemp("runs")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["demo", "--quick", "--out", str(out), "--name", "smoke", "--no-progress"])
    return code, buffer.getvalue(), out / "smoke"


@pytest.fixture(scope="module")
def tsv_run(tmp_path_factory):
    """A small translator trained on the Tatoeba-style file through the CLI."""
    out = tmp_path_factory.mktemp("tsv")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["train", "translate", "--data", str(DATA), "--epochs", "3", "--out", str(out), "--name", "mine",
                     *SMALL])
    assert code == 0
    return buffer.getvalue(), out / "mine"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("dna")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["train", "classify", "--quick", "--out", str(out), "--name", "dna", "--no-progress"]) == 0
    text = buffer.getvalue()
    assert "held-out test set" in text and "macro-F1" in text and "SequenceClassifier(LSTM" in text
    return out / "dna" / "best.npz"


# ------------------------------------------------------------------------------ the demo and the built-in tasks


def test_demo_quick_prints_every_part_and_saves_the_pngs(demo_run):
    code, text, run_dir = demo_run
    assert code == 0
    for part in ("built-in English->French pairs", "split by source", "Epoch", "Loss ↓", "Val bleu", "+--",
                 "kept epoch", "held-out test set", "BLEU", "exact match", "sample translations", "i am happy",
                 "[1] Input data", "[6] Output decoding", "attention of", "shades:", "saved under"):
        assert part in text, part
    for name in ("best.npz", "last.npz", "loss.png", "attention.png"):  # matplotlib is a dependency
        assert (run_dir / name).exists(), name
    assert str(run_dir) in text


def test_translate_trace_from_the_checkpoint_with_options_anywhere(demo_run, capsys):
    _, _, run_dir = demo_run
    ckpt = str(run_dir / "best.npz")
    assert main(["translate", ckpt, "--attention", "i am happy", "-v", "she is tired"]) == 0
    out = capsys.readouterr().out
    assert "i am happy  →" in out and "she is tired  →" in out and "shades:" in out
    assert main(["trace", ckpt, "i", "--top-k", "2", "am", "happy"]) == 0
    assert "[5] Decoder" in capsys.readouterr().out


def test_train_classify_quick_and_predict(classifier, capsys):
    assert main(["predict", "-v", str(classifier), "ACGTTATAATGCCGTA"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[0] in ("0", "1")


def test_gradcheck_command(capsys):
    assert main(["gradcheck", "--model", "gru", "--hidden", "3", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "weight_hh_l0" in out and "worst" in out


@pytest.mark.parametrize("model", ["rnn", "lstm-proj", "gru-cell", "lstm-cell", "linear", "attention", "classifier",
                                   "seq2seq"])
def test_gradcheck_every_model_choice(model, capsys):
    assert main(["gradcheck", "--model", model, "--hidden", "3", "--steps", "3", "--batch", "2"]) == 0
    assert "PASSED" in capsys.readouterr().out


# ------------------------------------------------------------------------------ a user's parallel file


def test_train_on_a_tatoeba_file_reports_what_was_read_and_kept(tsv_run):
    text, run_dir = tsv_run
    assert "224 rows (source, target, attribution (ignored)); 128 distinct sources" in text
    assert "split by source (seed 0): train 104 sources / 185 pairs, validation 12 / 19, test 12 / 20" in text
    assert "cased word tokens" in text and "narrow no-break space before ! ?" in text
    assert "warning: the validation (it picks the kept model) split holds only 12 source sentences" in text
    assert "--monitor val_loss: validation holds 12 sources" in text
    assert "kept epoch" in text and "held-out test set (12 sources with 20 references" in text
    ckpt = load_checkpoint(run_dir / "best.npz")
    assert ckpt.extra["lower"] is False and ckpt.extra["spacing"]["gaps"]["w !"] == "\u202f"
    assert ckpt.extra["settings"]["data_file"]["path"] == str(DATA)


def test_a_useless_first_epoch_is_not_kept(tmp_path):
    """The issue's 202-line file: exact match stays 0, so it kept the epoch-1 model that said "." to all."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["train", "translate", "--data", str(DATA), "--epochs", "12", "--patience", "12",
                     "--out", str(tmp_path), "--name", "long", "--hidden-size", "32", "--embed-dim", "16",
                     "--no-progress"]) == 0
    history = load_checkpoint(tmp_path / "long" / "last.npz").history
    best = load_checkpoint(tmp_path / "long" / "best.npz")
    assert best.epoch > 1 and best.epoch == int(np.argmin(history["val_loss"])) + 1
    assert f"kept epoch {best.epoch} in best.npz: the best val loss" in buffer.getvalue()


def test_translate_from_stdin_keeps_blank_lines_and_notes_each_input(tsv_run):
    _, run_dir = tsv_run
    code, out, err = run_cli("translate", run_dir / "best.npz", "-v", stdin="Go.\n\nZorglub is here.\n   \nWho?\n")
    assert code == 0, err
    lines = out.split("\n")
    assert len(lines) == 6 and lines[1] == "" and lines[3] == "" and lines[5] == ""  # 5 lines in, 5 lines out
    assert [lines[i].split("  →")[0] for i in (0, 2, 4)] == ["Go.", "Zorglub is here.", "Who?"]
    assert "note: input 3: not in the model's vocabulary, read as <unk>: Zorglub" in err
    assert "input 1:" not in err and "input 5:" not in err


def test_a_long_input_is_noted_and_not_cut_silently(tsv_run):
    _, run_dir = tsv_run
    code, out, err = run_cli("translate", run_dir / "best.npz", " ".join(["Tom"] * 40) + ".", "--max-len", "3")
    assert code == 0, err
    assert "note: input 1: 41 tokens, longer than any training source (12)" in err
    assert "the output was cut at 3 tokens (--max-len 3)" in err or len(out.split()) < 3


def test_evaluate_a_translator_text_and_json(tsv_run, capsys):
    _, run_dir = tsv_run
    ckpt = str(run_dir / "best.npz")
    assert main(["evaluate", ckpt, "--data", str(DATA), "--show", "2"]) == 0
    captured = capsys.readouterr()
    assert "224 rows, 128 distinct sources with 224 references; greedy" in captured.out
    for part in ("BLEU", "chrF", "exact match", "against all references", "examples:", "Go.  →"):
        assert part in captured.out, part
    assert "the model was trained on this file" in captured.err
    assert main(["evaluate", "--json", ckpt, "--beam", "2", "--data", str(DATA)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "translator" and result["sources"] == 128 and result["beam"] == 2
    assert 0 <= result["bleu"] <= 100 and 0 <= result["chrf"] <= 100 and 0 <= result["exact_match"] <= 1


def test_evaluate_a_classifier(classifier, tmp_path, capsys):
    from minirnn.data.datasets import dna_motif

    path = tmp_path / "dna.csv"
    path.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in dna_motif(60, seed=5)))
    assert main(["evaluate", str(classifier), "--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(classifier" in out and "macro-F1" in out and "confusion matrix" in out and "precision" in out
    assert main(["evaluate", str(classifier), "--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "classifier" and result["examples"] == 60 and len(result["confusion_matrix"]) == 2


def test_translate_and_predict_refuse_the_other_kind(tsv_run, classifier, capsys):
    _, run_dir = tsv_run
    assert main(["predict", str(run_dir / "best.npz"), "Go."]) == 2
    assert "holds a translator (Seq2Seq), which `predict` cannot run; use `python -m minirnn translate" in \
        capsys.readouterr().err
    assert main(["translate", str(classifier), "ACGT"]) == 2
    assert "holds a text classifier (SequenceClassifier), which `translate` cannot run; use `python -m minirnn " \
        "predict" in capsys.readouterr().err
    assert main(["trace", str(classifier), "ACGT"]) == 2
    assert main(["evaluate", str(classifier), "--data", str(DATA), "--beam", "3"]) == 2
    assert "--beam is for a translator" in capsys.readouterr().err


# ------------------------------------------------------------------------------ run folders, resume, Ctrl-C


def test_a_run_folder_is_never_overwritten_silently(tmp_path, capsys):
    base = ["train", "translate", "--data", str(DATA), "--epochs", "1", "--out", str(tmp_path), *SMALL]
    assert main(base + ["--name", "x"]) == 0
    first = (tmp_path / "x" / "best.npz").read_bytes()
    capsys.readouterr()
    assert main(base + ["--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run (last.npz at epoch 1); add --resume to continue it, --force to replace it" in err
    assert (tmp_path / "x" / "best.npz").read_bytes() == first
    assert main(base) == 0 and main(base) == 0  # the default name moves on to a fresh folder
    assert "this run goes to" in capsys.readouterr().out
    assert (tmp_path / "translate" / "best.npz").exists() and (tmp_path / "translate-2" / "best.npz").exists()
    assert main(base + ["--name", "x", "--force"]) == 0
    assert "--force: " in capsys.readouterr().out
    assert main(base + ["--name", "nothing", "--resume"]) == 2
    assert "holds no run to continue" in capsys.readouterr().err


def test_resume_continues_to_the_new_epochs_with_the_runs_settings(tmp_path, capsys):
    base = ["train", "translate", "--data", str(DATA), "--out", str(tmp_path), "--patience", "9", *SMALL]
    assert main(base + ["--name", "whole", "--epochs", "3"]) == 0
    assert main(base + ["--name", "part", "--epochs", "2"]) == 0
    assert main(base + ["--name", "part", "--epochs", "3", "--resume"]) == 0
    whole = load_checkpoint(tmp_path / "whole" / "last.npz").history
    resumed = load_checkpoint(tmp_path / "part" / "last.npz").history
    assert resumed["epoch"] == [1, 2, 3]
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=1e-6)  # as if never stopped
    capsys.readouterr()
    assert main(base + ["--name", "part", "--epochs", "4", "--resume", "--hidden-size", "64"]) == 2
    assert "trained with --hidden-size 16, not 64; a resumed run keeps its settings" in capsys.readouterr().err
    other = tmp_path / "other.tsv"
    other.write_text(DATA.read_text(encoding="utf-8") + "Bye.\tSalut.\n", encoding="utf-8")
    assert main([*base[:3], str(other), *base[4:], "--name", "part", "--epochs", "4", "--resume"]) == 2
    assert "is not the file the run" in capsys.readouterr().err


def test_ctrl_c_keeps_the_last_checkpoint_and_prints_the_resume_command(tmp_path):
    argv = ["train", "translate", "--data", str(DATA), "--epochs", "500", "--patience", "500", "--out",
            str(tmp_path), "--name", "stopped", *SMALL]
    process = subprocess.Popen([sys.executable, "-m", "minirnn", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    last = tmp_path / "stopped" / "last.npz"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert f"interrupted: the last checkpoint is {last}" in err and "intact" in err
    command = err.split("resume with:  ")[1].strip()
    assert command == "python -m minirnn " + shlex.join(argv + ["--resume"])
    assert load_checkpoint(last).epoch >= 1


# ------------------------------------------------------------------------------ user errors


@pytest.mark.parametrize("argv, message", [
    (["train", "translate", "--lr", "-1"], "argument --lr: must be a number > 0, got '-1'"),
    (["train", "translate", "--lr", "nan"], "argument --lr: expected a finite number"),
    (["train", "translate", "--patience", "-2"], "argument --patience: must be an integer >= 1, got '-2'"),
    (["train", "translate", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
    (["train", "translate", "--hidden-size", "0"], "argument --hidden-size: must be an integer >= 1"),
    (["train", "translate", "--embed-dim", "0"], "argument --embed-dim: must be an integer >= 1"),
    (["train", "translate", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["train", "translate", "--epochs", "two"], "argument --epochs: expected an integer, got 'two'"),
    (["train", "translate", "--seed", "-1"], "argument --seed: must be an integer >= 0"),
    (["train", "translate", "--threads", "-1"], "argument --threads: must be an integer >= 0"),
    (["train", "translate", "--resume", "--force"], "argument --force: not allowed with argument --resume"),
    (["train", "translate", "--monitor", "val_macro_f1"], "is a classification metric"),
    (["trace", "x.npz", "hi", "--top-k", "0"], "argument --top-k: must be an integer >= 1"),
    (["trace", "x.npz", "hi", "--max-len", "-3"], "argument --max-len: must be an integer >= 1"),
    (["translate", "x.npz", "hi", "--beam", "0"], "argument --beam: must be an integer >= 1"),
    (["translate", "x.npz", "hi", "--max-len", "0"], "argument --max-len: must be an integer >= 1"),
    (["evaluate", "x.npz", "--data", "d.tsv", "--show", "-1"], "argument --show: must be an integer >= 0"),
    (["evaluate", "x.npz"], "the following arguments are required: --data"),
    (["gradcheck", "--hidden", "0"], "argument --hidden: must be an integer in [1, 256]"),  # capped: see test_cli_tools
    (["gradcheck", "--steps", "-1"], "argument --steps: must be an integer in [1, 100]"),
    (["demo", "--epoch", "3"], "python -m minirnn demo: unrecognized option --epoch "),
    (["fly"], "invalid choice: 'fly'"),
])
def test_user_errors_are_one_line_with_exit_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_missing_and_foreign_files_are_named(tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nope.npz"), "hi"]) == 2
    assert f"checkpoint not found: {tmp_path / 'nope.npz'}" in capsys.readouterr().err
    np.savez(tmp_path / "foreign.npz", a=np.arange(2))
    assert main(["trace", str(tmp_path / "foreign.npz"), "hi"]) == 2
    assert "not a minirnn checkpoint" in capsys.readouterr().err
    assert main(["train", "translate", "--data", str(tmp_path / "pairs.tsv"), "--out", str(tmp_path / "runs")]) == 2
    assert "data file not found" in capsys.readouterr().err
    assert main(["train", "translate", "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_bad_data_lines_are_reported_by_number(tmp_path, capsys):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("hello\tbonjour\nno tab here\n")
    assert main(["train", "translate", "--data", str(bad), "--quick", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "line 2: expected 2 or 3 tab-separated fields" in captured.out
    assert "has only 1 usable rows" in captured.err


def test_help_shows_the_defaults():
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    out = " ".join(out.split())  # argparse wraps lines
    for default in ("(default: 0.003)", "(default: 64)", "(default: 128)", "(default: 3)", "(default: auto)",
                    "(default: runs)", "(default: 0)", "--resume", "--force", "next free one"):
        assert default in out, default
    code, out, _ = run_cli("translate", "--help")
    out = " ".join(out.split())
    assert "(default: 1)" in out and "2 x the input's length + 10" in out


def test_module_entry_point_help_and_no_progress_bar_in_a_log(tmp_path):
    code, out, _ = run_cli("--help")
    assert code == 0 and "python -m minirnn demo" in out and "evaluate" in out and "gradcheck" in out
    code, _, err = run_cli("demo", "--bogus")
    assert code == 2 and "--bogus" in err and "Traceback" not in err
    code, out, err = run_cli("train", "translate", "--data", DATA, "--epochs", "1", "--out", tmp_path,
                             "--hidden-size", "8", "--embed-dim", "8")  # stderr is a pipe, not a terminal
    assert code == 0, err
    assert "\r" not in err and "it/s" not in err


def test_the_package_installs_what_the_demo_uses():
    from configparser import ConfigParser

    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["install_requires"]
    for package in ("matplotlib", "sacrebleu", "numpy", "tqdm"):
        assert package in requires, package
