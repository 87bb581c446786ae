"""CI installs ``pip install -e ".[test]"``: every module a test skips without must come with that extra.

A test that calls ``pytest.importorskip`` for a package the ``test`` extra does
not install is skipped in CI on every run, and so proves nothing there.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# importorskip's module name -> the distribution that installs it (where they differ)
DISTRIBUTIONS = {"faker": "faker"}


def _test_extra() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.extras_require"]["test"].split()
    return {re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() for line in lines if line}


def test_every_importorskip_module_is_in_the_test_extra():
    skipped = set()
    for path in sorted(set((ROOT / "tests").glob("*.py")) - {Path(__file__).resolve()}):
        skipped |= set(re.findall(r"importorskip\(\s*[\"']([\w.]+)[\"']", path.read_text(encoding="utf-8")))
    assert "faker" in skipped  # tests/test_datasets.py::test_name_origins
    wanted = {DISTRIBUTIONS.get(name.split(".")[0], name.split(".")[0]).lower() for name in skipped}
    missing = wanted - _test_extra()
    assert not missing, f"setup.cfg's test extra must install {sorted(missing)} (tests importorskip them)"


def test_the_names_extra_is_kept():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "faker" in config["options.extras_require"]["names"].lower()  # pip install minirnn[names]
