"""The CLI problems a newcomer reported: resume after early stopping, run folders of failed runs, pipes,
unknown options, stdin edge cases, mpirun without --distributed, help texts that must match behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import minirnn.cli.common as common
from minirnn.cli import main
from minirnn.io import load_checkpoint
from minirnn.train.stopping import EarlyStopping

DATA = Path(__file__).parent / "data" / "eng-fra.tsv"
ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
SMALL = ["--hidden-size", "16", "--embed-dim", "8", "--no-progress"]


# ------------------------------------------------------------------------------ 1. resume after early stopping


def test_a_larger_patience_lifts_a_saved_early_stop():
    stopper = EarlyStopping("val_loss", patience=3)
    for epoch, value in enumerate([1.0, 2.0, 2.0, 2.0], start=1):
        stopper.update({"epoch": epoch, "val_loss": value})
    assert stopper.stopped
    again = EarlyStopping("val_loss", patience=10)
    again.load_state_dict(stopper.state_dict())
    assert not again.stopped and again.bad_epochs == 3 and again.reason == ""
    same = EarlyStopping("val_loss", patience=3)
    same.load_state_dict(stopper.state_dict())
    assert same.stopped


def test_resume_with_a_larger_patience_continues_an_early_stopped_run(tmp_path, capsys):
    base = ["train", "translate", "--data", str(DATA), "--out", str(tmp_path), "--name", "x", "--monitor",
            "val_loss", "--lr", "1e-9", *SMALL]  # a learning rate that cannot improve: stops after 1+patience epochs
    assert main(base + ["--epochs", "30", "--patience", "1"]) == 0
    stopped = load_checkpoint(tmp_path / "x" / "last.npz").epoch
    assert stopped < 30
    capsys.readouterr()
    assert main(base + ["--epochs", "30", "--patience", "1", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "--resume: the run stopped early at epoch" in out and "nothing more to train" in out
    assert "held-out test set" not in out and "epoch " + str(stopped + 1) not in out  # no re-evaluation
    assert main(base + ["--epochs", str(stopped + 2), "--patience", "5", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "early stopping after 5 epochs" in out
    assert load_checkpoint(tmp_path / "x" / "last.npz").epoch == stopped + 2
    capsys.readouterr()
    assert main(base + ["--epochs", str(stopped + 2), "--patience", "5", "--resume"]) == 0
    assert "already finished epoch" in capsys.readouterr().out


# ------------------------------------------------------------------------------ 2. a failed run leaves no folder


def test_a_failed_run_leaves_no_empty_run_folder(tmp_path, capsys):
    (tmp_path / "translate").mkdir()
    (tmp_path / "translate" / "last.npz").write_bytes(b"")  # a run there: the next goes to translate-2
    assert main(["train", "translate", "--data", str(tmp_path / "nope.txt"), "--out", str(tmp_path)]) == 2
    assert "translate-2" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n\"unclosed,a\n")
    assert main(["train", "classify", "--data", str(bad), "--out", str(tmp_path)]) == 2
    assert main(["train", "translate", "--data", str(DATA), "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "translate"]


# ---------------------------------------------------------------------- 3. a closed stdout does not stop training


def test_training_finishes_when_the_reader_of_stdout_leaves(tmp_path):
    command = [sys.executable, "-m", "minirnn", "train", "translate", "--data", str(DATA), "--epochs", "2",
               "--out", str(tmp_path), "--name", "piped", *SMALL]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
    process.stdout.readline()  # `| head -1`: one line, then the reader is gone
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    assert load_checkpoint(tmp_path / "piped" / "last.npz").epoch == 2
    assert b"Traceback" not in err


# ------------------------------------------------------------------------------ 4. unknown options, bad numbers


def test_an_unknown_option_is_named_by_its_command_without_the_text(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "c.npz"), "--top-k", "3", "Rossini"]) == 2
    err = capsys.readouterr().err
    assert "python -m minirnn predict: unrecognized option --top-k " in err
    assert "Rossini" not in err and "usage:" not in err
    assert main(["predict", str(tmp_path / "c.npz"), "--top-k=3", "Rossini"]) == 2
    assert "unrecognized option --top-k=3 " in capsys.readouterr().err


def test_a_bad_number_is_one_line_without_the_usage(capsys):
    assert main(["train", "translate", "--lr", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage" not in err
    assert "argument --lr: must be a number > 0, got '-1' (see: python -m minirnn train --help)" in err


# ------------------------------------------------------------------------------ 5. stdin and blank input


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixes")
    assert main(["train", "translate", "--data", str(DATA), "--epochs", "1", "--out", str(out), "--name", "t",
                 *SMALL]) == 0
    return out / "t" / "best.npz"


def run_cli(*argv, stdin=""):
    result = subprocess.run([sys.executable, "-m", "minirnn", *map(str, argv)], input=stdin, capture_output=True,
                            text=True, env=ENV, timeout=120, cwd=ROOT)
    return result.returncode, result.stdout, result.stderr


def test_stdin_drops_a_byte_order_mark_and_crlf(translator):
    code, out, err = run_cli("translate", translator, "-v", stdin="\ufeffGo.\r\nWho?\r\n")
    assert code == 0, err
    assert "\ufeff" not in out + err and "\r" not in out
    assert [line.split("  →")[0] for line in out.splitlines()] == ["Go.", "Who?"]


def test_blank_and_empty_input_are_not_errors(translator):
    code, out, err = run_cli("translate", translator, stdin="\n\n")
    assert (code, out) == (0, "\n\n"), err
    code, out, err = run_cli("translate", translator, stdin="")
    assert (code, out) == (0, "") and "stdin was empty" in err
    code, out, err = run_cli("translate", translator, "")
    assert (code, out) == (0, "\n"), err
    code, out, err = run_cli("trace", translator, "")
    assert code == 2 and "error: trace needs a sentence with at least one token" in err


# ------------------------------------------------------------------------------ 6. mpirun without --distributed


@pytest.mark.parametrize("size, rank", [("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"), ("PMI_SIZE", "PMI_RANK")])
def test_several_ranks_without_distributed_are_refused(size, rank, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(common, "_rank", 0)  # restored to 0 after the test, which silences it as rank 1
    monkeypatch.setenv(size, "2")
    monkeypatch.setenv(rank, "0")
    assert main(["train", "dates", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "without --distributed" in err and "add --distributed" in err
    monkeypatch.setenv(rank, "1")
    assert main(["train", "dates", "--quick", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == ""  # rank 1 says nothing: rank 0 has said it
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ 7. --epochs help and behaviour


def test_the_epochs_help_names_the_one_task_that_trains_30(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 10, for every task but one: train translate --data FILE trains up to 30" in text
    rows = "".join(f"{'ACGT'[i % 4] * (3 + i % 5)},{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "c.csv").write_text("text,label\n" + rows)
    assert main(["train", "classify", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path), "--patience", "50",
                 "--hidden-size", "8", "--embed-dim", "4", "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "classify" / "last.npz").epoch == 10


# ------------------------------------------------------------------------------ 8. evaluate on the training file


def test_evaluate_notes_a_classifiers_own_training_file(tmp_path, capsys):
    rows = "".join(f"{'ACGT'[i % 4] * (3 + i % 5)},{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "c.csv").write_text("text,label\n" + rows)
    (tmp_path / "other.csv").write_text("text,label\n" + rows[::-1].strip()[::-1] + "\nAAAA,a\n")
    assert main(["train", "classify", "--data", str(tmp_path / "c.csv"), "--out", str(tmp_path), "--epochs", "1",
                 "--hidden-size", "8", "--embed-dim", "4", "--no-progress"]) == 0
    ckpt = str(tmp_path / "classify" / "best.npz")
    capsys.readouterr()
    assert main(["evaluate", ckpt, "--data", str(tmp_path / "c.csv")]) == 0
    assert "note: the model was trained on this file" in capsys.readouterr().err
    assert main(["evaluate", ckpt, "--data", str(tmp_path / "other.csv")]) == 0
    assert "trained on this file" not in capsys.readouterr().err


def test_the_end_of_training_hint_suggests_a_held_out_file(translator):
    code, out, err = run_cli("train", "translate", "--data", DATA, "--epochs", "1", "--out", translator.parent.parent,
                             *SMALL)
    assert code == 0, err
    hint = next(line for line in out.splitlines() if "minirnn evaluate" in line)
    assert "--data HELD-OUT.tsv" in hint and "optimistic" in hint


# ------------------------------------------------------------------------------ 9. ties of the monitored value


def test_a_tie_of_the_monitored_value_goes_to_the_lower_val_loss():
    stopper = EarlyStopping("val_bleu", patience=2)
    improved = [stopper.update({"epoch": e, "val_bleu": 0.0, "val_loss": loss})
                for e, loss in enumerate([3.0, 2.5, 2.7, 2.0], start=1)]
    assert improved == [True, True, False, True] and stopper.best_epoch == 4 and stopper.bad_epochs == 0
    again = EarlyStopping("val_bleu", patience=2)
    again.load_state_dict(stopper.state_dict())
    assert not again.update({"epoch": 5, "val_bleu": 0.0, "val_loss": 2.1})
    assert again.update({"epoch": 6, "val_bleu": 0.0, "val_loss": 1.9}) and again.best_epoch == 6
    assert EarlyStopping("val_loss").update({"epoch": 1, "val_loss": 1.0})  # the loss itself: no tie-breaker


def test_the_kept_epoch_line_says_how_ties_are_broken(translator):
    from minirnn.cli.translating import kept_epoch_line
    from minirnn.train.loop import History

    history = History()
    history.update(load_checkpoint(translator.parent / "last.npz").history)
    history.best_epoch, history.best_value = 1, 0.0
    assert "(--monitor val_bleu, ties broken by the lower val loss)" in kept_epoch_line(history, "val_bleu")


# ------------------------------------------------------------------------------ 10. what the train loss includes


def test_the_table_says_the_train_loss_includes_label_smoothing(tmp_path, capsys):
    base = ["train", "translate", "--data", str(DATA), "--epochs", "1", "--out", str(tmp_path), *SMALL]
    assert main(base + ["--name", "a"]) == 0
    assert "train loss includes label smoothing 0.1; val loss is plain cross-entropy" in capsys.readouterr().out
    assert main(base + ["--name", "b", "--label-smoothing", "0"]) == 0
    assert "label smoothing 0" not in capsys.readouterr().out.split("Epoch")[1]



# ------------------------------------------------------------------------------ 11. --seed only where it seeds


@pytest.mark.parametrize("command", ["translate", "predict", "trace", "evaluate"])
def test_checkpoint_commands_take_no_seed(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--seed" not in capsys.readouterr().out
    line = [command, "x.npz", "--data", "d.tsv"] if command == "evaluate" else [command, "x.npz", "hi"]
    assert main(line + ["--seed", "1"]) == 2
    assert f"python -m minirnn {command}: unrecognized option --seed" in capsys.readouterr().err


def test_training_keeps_its_seed(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "seed for data splits, weights and shuffling" in " ".join(capsys.readouterr().out.split())


def test_reading_a_file_counts_distinct_references_and_repeated_rows(tmp_path, capsys):
    """A file that repeats pairs: the average counts distinct references, and the repeats are said."""
    from minirnn.cli.translating import read_parallel_file

    rows = ["Tom is here.\tTom est là."] * 5 + ["Tom is here.\tTom est ici."] + ["Go!\tVa !"] * 20
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    read_parallel_file(str(path))
    said = capsys.readouterr()
    text = said.out + said.err
    assert "26 rows (source, target); 2 distinct sources, 1.50 distinct references per source on average " \
           "(most: 2), 23 rows repeat a pair" in text
