"""Every ```python block of the README runs as written (a fresh interpreter each), so the snippets cannot rot.

Each block must be self-contained: it imports what it uses and builds its own data. A
block runs in a temporary folder (what it writes stays out of the checkout) with this
checkout's minirnn on the path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [(README.count("\n", 0, match.start()) + 1, match.group(1))
          for match in re.finditer(r"^```python\n(.*?)^```", README, re.S | re.M)]


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 4
    # a ```python fence the pattern above does not see (say, indented) would escape the test
    assert README.count("```python") == len(BLOCKS)


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_snippet_runs(code, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, f"README snippet failed:\n{code}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), "a README snippet should print what it shows"
