"""Shared fixtures, and the CI guard that parity and mpirun tests never pass by being skipped.

Every test in a file named ``test_parity_*.py`` compares minirnn with PyTorch and
is marked ``parity``; the tests that launch ranks under ``mpirun`` are marked ``mpi``
(tests/test_distributed.py). When ``MINIRNN_CI=1`` (set by ``.ci/run``) the session
fails if any parity or mpi test was skipped, if none of either ran (when their
files were collected), or if no test ran at all.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import minirnn as mr
from minirnn import backend

_skipped = {"parity": [], "mpi": []}
_collected = {"mpi": 0}
_passed = {"all": 0, "parity": 0, "mpi": 0}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.fspath.basename.startswith("test_parity_"):
            item.add_marker(pytest.mark.parity)
        _collected["mpi"] += item.get_closest_marker("mpi") is not None


def pytest_runtest_logreport(report):
    kinds = [kind for kind in ("parity", "mpi") if kind in report.keywords]
    for kind in kinds:
        if report.skipped:
            _skipped[kind].append(report.nodeid)
    if report.when == "call" and report.passed:
        _passed["all"] += 1
        for kind in kinds:
            _passed[kind] += 1


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("MINIRNN_CI") != "1":
        return
    problems = []
    for kind, what in (("parity", "PyTorch parity"), ("mpi", "mpirun")):
        if _skipped[kind]:
            problems.append(f"{len(_skipped[kind])} {what} test(s) were skipped, e.g. {_skipped[kind][0]}")
    if _passed["all"] == 0:
        problems.append("no test ran")
    elif _passed["parity"] == 0:
        problems.append("no PyTorch parity test ran")
    elif _collected["mpi"] and _passed["mpi"] == 0:
        problems.append("no mpirun test ran")
    if problems:
        print("\nMINIRNN_CI guard failed: " + "; ".join(problems))
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts on NumPy with float32 as the default dtype and a fixed seed."""
    backend.set_backend("numpy")
    backend.set_default_dtype("float32")
    mr.manual_seed(0)
    yield
    backend.set_backend("numpy")
    backend.set_default_dtype("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _xp_params():
    params = [pytest.param("numpy", id="numpy")]
    params.append(
        pytest.param(
            "cupy",
            id="cupy",
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(not backend.cupy_available(), reason="CuPy with a visible GPU is not available"),
            ],
        )
    )
    return params


@pytest.fixture(params=_xp_params())
def xp(request):
    """The array module under test: numpy always, cupy where a GPU is visible."""
    backend.set_backend(request.param)
    yield backend.backend_module(request.param)
    backend.set_backend("numpy")
