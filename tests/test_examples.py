"""Every example runs to the end in its --quick mode (a subprocess each, as a user would run it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {"classify_dna.py", "translate.py", "dates.py", "char_lm.py", "gradcheck_walkthrough.py"} <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    if script.name == "dates.py" and "PNG written to" in result.stdout:
        # the default PNG goes into the (git-ignored) runs/ folder of where it runs, not /tmp
        assert (tmp_path / "runs" / "dates_example" / "attention.png").is_file()
    assert result.stdout.strip(), "an example should show what it did"
    assert "Traceback" not in result.stderr
