"""The command line: a quick demo end to end, the checkpoint commands, and clear user errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from minirnn.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One quick demo run shared by the tests below (its output and run folder)."""
    out = tmp_path_factory.mktemp("runs")
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["demo", "--quick", "--out", str(out), "--name", "smoke", "--no-progress"])
    return code, buffer.getvalue(), out / "smoke"


def test_demo_quick_prints_every_part_and_saves(demo_run):
    code, text, run_dir = demo_run
    assert code == 0
    for part in ("training pairs", "Epoch", "Loss ↓", "Accuracy ↑", "+--", "held-out test set", "exact match",
                 "sample translations", "i am happy", "[1] Input data", "[6] Output decoding", "attention of",
                 "shades:", "saved under"):
        assert part in text, part
    assert (run_dir / "best.npz").exists() and (run_dir / "last.npz").exists()
    assert str(run_dir) in text


def test_translate_trace_and_predict_from_the_checkpoint(demo_run, capsys):
    _, _, run_dir = demo_run
    ckpt = str(run_dir / "best.npz")
    assert main(["translate", ckpt, "i am happy", "she is tired", "--attention", "-v"]) == 0
    out = capsys.readouterr().out
    assert "i am happy  →" in out and "she is tired  →" in out and "shades:" in out
    assert main(["trace", ckpt, "i", "am", "happy"]) == 0
    assert "[5] Decoder" in capsys.readouterr().out
    assert main(["predict", ckpt, "i am happy"]) == 0  # predict on a seq2seq checkpoint translates


def test_train_classify_quick_and_predict(tmp_path, capsys):
    assert main(["train", "classify", "--quick", "--out", str(tmp_path), "--name", "dna", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "held-out test set" in out and "macro-F1" in out and "SequenceClassifier(LSTM" in out
    assert main(["predict", str(tmp_path / "dna" / "best.npz"), "ACGTTATAATGCCGTA", "-v"]) == 0
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


def test_unknown_option_is_named(capsys):
    assert main(["demo", "--epoch", "3"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --epoch" in err and "Traceback" not in err
    assert main(["fly"]) == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
    assert main(["train", "translate", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_missing_and_foreign_files_are_named(tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nope.npz"), "hi"]) == 2
    assert f"checkpoint not found: {tmp_path / 'nope.npz'}" in capsys.readouterr().err
    np.savez(tmp_path / "foreign.npz", a=np.arange(2))
    assert main(["trace", str(tmp_path / "foreign.npz"), "hi"]) == 2
    assert "not a minirnn checkpoint" in capsys.readouterr().err
    assert main(["train", "translate", "--data", str(tmp_path / "pairs.tsv")]) == 2
    assert "data file not found" in capsys.readouterr().err


def test_bad_data_lines_are_reported(tmp_path, capsys):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("hello\tbonjour\nno tab here\n")
    assert main(["train", "translate", "--data", str(bad), "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "line 2" in err.out + err.err


def test_module_entry_point_help():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "minirnn", "--help"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0
    assert "python -m minirnn demo" in result.stdout and "gradcheck" in result.stdout
    result = subprocess.run([sys.executable, "-m", "minirnn", "demo", "--bogus"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 2 and "--bogus" in result.stderr and "Traceback" not in result.stderr


def test_train_on_a_user_tsv_then_translate_from_stdin(tmp_path, capsys):
    from minirnn.data import translation_pairs

    data = tmp_path / "eng-fra.txt"
    data.write_text("".join(f"{en}\t{fr}\tCC-BY attribution\n" for en, fr in translation_pairs(300, seed=1)))
    assert main(["train", "translate", "--data", str(data), "--quick", "--epochs", "1", "--out", str(tmp_path),
                 "--name", "mine", "--no-progress"]) == 0
    assert "270 training pairs, 15 validation, 15 held out" in capsys.readouterr().out
    ckpt = tmp_path / "mine" / "best.npz"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "minirnn", "translate", str(ckpt), "-v"], input="i am happy\n\n"
                            "she is tired\n", capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("i am happy  →") and lines[1].startswith("she is tired  →")
