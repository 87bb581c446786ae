"""``explain``: one cell step worked by hand, tied to the library's own functions.

The printed numbers are parsed back from the text and compared with what
``functional.cells`` computes here, independently, for the same seeded arrays; so
a printed value that is stale, mislabelled or worked out differently from the
library fails. Changing the library's math (simulated with monkeypatch) either
changes the printed numbers or makes explain refuse to print.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from minirnn.cli import main
from minirnn.functional import cells as F
from minirnn.viz import explain

CASES = [("lstm", 0, "tanh"), ("lstm", 1, "tanh"), ("gru", 0, "tanh"), ("rnn", 0, "tanh"), ("rnn", 0, "relu")]
IDS = ["lstm", "lstm-proj", "gru", "rnn", "rnn-relu"]
NUMBER = r"[+-]\d+\.\d{5}"


def _library(cell, proj_size, nonlinearity, seed=0):
    """The forward outputs, cache and backward gradients, straight from functional.cells."""
    inputs, p, up = explain.cell_arrays(cell, seed, proj_size)
    x, h_prev = inputs["x"], inputs["h_prev"]
    if cell == "lstm":
        (h, c), cache = F.lstm_cell_forward(x, h_prev, inputs["c_prev"], p["W_ih"], p["W_hh"], p["b_ih"],
                                            p["b_hh"], p.get("W_hr"))
        dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh, dw_hr = F.lstm_cell_backward(up["dh"], up["dc"], cache)
        grads = dict(x=dx, h_prev=dh_prev, c_prev=dc_prev, W_ih=dw_ih, W_hh=dw_hh, b_ih=db_ih, b_hh=db_hh)
        if dw_hr is not None:
            grads["W_hr"] = dw_hr
        return {"h": h, "c": c}, cache, grads
    if cell == "gru":
        h, cache = F.gru_cell_forward(x, h_prev, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"])
        dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh = F.gru_cell_backward(up["dh"], cache)
    else:
        h, cache = F.rnn_cell_forward(x, h_prev, p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"], nonlinearity)
        dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh = F.rnn_cell_backward(up["dh"], cache)
    return {"h": h}, cache, dict(x=dx, h_prev=dh_prev, W_ih=dw_ih, W_hh=dw_hh, b_ih=db_ih, b_hh=db_hh)


def _printed(text: str, name: str) -> np.ndarray:
    """The numbers of the printed line ``  name = equation = [...]``."""
    match = re.search(rf"^  {re.escape(name)}\s*= [^\n]*?= \[([^\]]*)\]", text, re.M)
    assert match, f"no printed line for {name!r}"
    return np.array([float(v) for v in match.group(1).split()])


def _printed_gradient(text: str, name: str):
    """The rows (returned, central difference, error) printed under ``  d<name> = ...``."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if re.match(rf"^  d{re.escape(name)}\s+= ", line))
    rows = []
    for line in lines[start + 1 :]:
        found = re.findall(r"\[([^\]]*)\]", line)
        if len(found) != 2:
            break
        error = float(line.rsplit(None, 1)[1])
        rows.append(([float(v) for v in found[0].split()], [float(v) for v in found[1].split()], error))
    return rows


@pytest.mark.parametrize("cell, proj_size, nonlinearity", CASES, ids=IDS)
def test_printed_forward_values_are_the_librarys(cell, proj_size, nonlinearity):
    text = explain.explain_cell(cell, proj_size=proj_size, nonlinearity=nonlinearity)
    outputs, cache, _ = _library(cell, proj_size, nonlinearity)
    expected = dict(outputs)
    for field in ("i", "f", "g", "o", "tanh_c", "m", "r", "z", "n"):
        if hasattr(cache, field):
            expected[field] = getattr(cache, field)
    if cell == "gru":
        expected["gh_n"] = cache.hn
    for name, value in expected.items():
        np.testing.assert_allclose(_printed(text, name), np.ravel(value), atol=5.1e-6, err_msg=name)


@pytest.mark.parametrize("cell, proj_size, nonlinearity", CASES, ids=IDS)
def test_printed_gradients_are_the_librarys_and_agree_with_central_differences(cell, proj_size, nonlinearity):
    walk = explain.walk_cell(cell, proj_size=proj_size, nonlinearity=nonlinearity)
    text = explain.render(walk)
    _, _, grads = _library(cell, proj_size, nonlinearity)
    assert set(walk.grads) == set(grads)
    for name, value in grads.items():
        returned, numeric, _ = walk.grads[name]
        np.testing.assert_array_equal(returned, value)
        np.testing.assert_allclose(numeric, value, atol=1e-8, err_msg=name)
        rows = _printed_gradient(text, name)
        printed = np.array([r[0] for r in rows])
        np.testing.assert_allclose(printed.ravel(), np.ravel(value), atol=5.1e-6, err_msg=name)
        np.testing.assert_allclose(np.array([r[1] for r in rows]).ravel(), np.ravel(numeric), atol=5.1e-6)
        errors = np.abs(np.atleast_2d(returned) - np.atleast_2d(numeric)).reshape(len(rows), -1).max(axis=1)
        np.testing.assert_allclose([r[2] for r in rows], errors, rtol=0.06)
        assert max(r[2] for r in rows) < 1e-8


@pytest.mark.parametrize("cell, proj_size, nonlinearity", CASES, ids=IDS)
def test_every_docstring_equation_is_printed_and_fits_80_columns(cell, proj_size, nonlinearity):
    text = explain.explain_cell(cell, proj_size=proj_size, nonlinearity=nonlinearity)
    assert max(len(line) for line in text.splitlines()) <= 80
    name = "rnn" if cell == "rnn" else cell
    for function in (getattr(F, f"{name}_cell_forward"), getattr(F, f"{name}_cell_backward")):
        equations = function.__doc__.split("=====")[0].split("Returns")[0]  # the equations, not the shapes
        names = set(re.findall(r"(?:^|\s)([A-Za-z_]\w*)\s+=\s", equations, re.M))
        names.discard("act")  # "act = tanh or relu" names the activation; explain shows it as tanh(a) / relu(a)
        if not proj_size:
            names.discard("dW_hr")
        assert names, function.__name__
        for lhs in names:
            assert re.search(rf"(^|\s){re.escape(lhs)}\s+=", text, re.M), f"{function.__name__}: {lhs} not shown"


def _torch_step(cell, walk):
    """The cell's forward in torch, every intermediate kept: {name: tensor}, and the loss."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {**walk.inputs, **walk.params}.items()}
    up = {k: torch.tensor(v) for k, v in walk.upstream.items()}
    x, h_prev = t["x"], t["h_prev"]
    gx, gh = x @ t["W_ih"].T + t["b_ih"], h_prev @ t["W_hh"].T + t["b_hh"]
    if cell == "rnn":
        a = gx + gh
        h = torch.tanh(a) if walk.nonlinearity == "tanh" else torch.relu(a)
        return {"a": a}, (h * up["dh"]).sum()
    if cell == "gru":
        r_pre, z_pre = (gx + gh)[:, :2], (gx + gh)[:, 2:4]
        r, z, gh_n = torch.sigmoid(r_pre), torch.sigmoid(z_pre), gh[:, 4:]
        n_pre = gx[:, 4:] + r * gh_n
        n = torch.tanh(n_pre)
        h = (1 - z) * n + z * h_prev
        kept = dict(r_pre=r_pre, z_pre=z_pre, r=r, z=z, gh_n=gh_n, n_pre=n_pre, n=n)
        return kept, (h * up["dh"]).sum()
    gates = gx + gh
    i, f = torch.sigmoid(gates[:, :2]), torch.sigmoid(gates[:, 2:4])
    g, o = torch.tanh(gates[:, 4:6]), torch.sigmoid(gates[:, 6:])
    c = f * t["c_prev"] + i * g
    m = o * torch.tanh(c)
    h = m @ t["W_hr"].T if "W_hr" in t else m
    kept = dict(gates=gates, i=i, f=f, g=g, o=o, c=c, m=m)
    return kept, (h * up["dh"]).sum() + (c * up["dc"]).sum()


# printed backward line -> the torch tensor whose gradient it is (with the slice of it)
INTERMEDIATES = {
    "lstm": {"dm": ("m", None), "do": ("o", None), "dc": ("c", None), "di": ("i", None), "df": ("f", None),
             "dg": ("g", None), "dgates_i": ("gates", slice(0, 2)), "dgates_f": ("gates", slice(2, 4)),
             "dgates_g": ("gates", slice(4, 6)), "dgates_o": ("gates", slice(6, 8))},
    "gru": {"dn": ("n", None), "dz": ("z", None), "dn_pre": ("n_pre", None), "dr": ("r", None),
            "dgh_n": ("gh_n", None), "dr_pre": ("r_pre", None), "dz_pre": ("z_pre", None)},
    "rnn": {"da": ("a", None)},
}


@pytest.mark.parametrize("cell, proj_size, nonlinearity", CASES, ids=IDS)
def test_printed_intermediate_gradients_are_torch_autograds(cell, proj_size, nonlinearity):
    """Every backward line worked out for display is the true dL/d(that quantity), by torch autograd."""
    walk = explain.walk_cell(cell, proj_size=proj_size, nonlinearity=nonlinearity)
    text = explain.render(walk)
    kept, loss = _torch_step(cell, walk)
    for tensor in kept.values():
        tensor.retain_grad()
    loss.backward()
    shown = {line.name for line in walk.backward if line.value is not None}
    assert shown == set(INTERMEDIATES[cell])
    for name, (key, part) in INTERMEDIATES[cell].items():
        expected = kept[key].grad.numpy()[0]
        expected = expected if part is None else expected[part]
        np.testing.assert_allclose(_printed(text, name), expected, atol=5.1e-6, err_msg=name)


def test_the_intermediate_backward_lines_match_the_bias_gradient():
    """With N = 1, dgates (worked out for display) is exactly db_ih that the library returns."""
    walk = explain.walk_cell("lstm")
    shown = np.concatenate([line.value for line in walk.backward if line.name.startswith("dgates_")], axis=1)
    np.testing.assert_allclose(shown[0], walk.grads["b_ih"][0], atol=1e-14)


def test_a_changed_forward_in_the_library_shows_up_in_the_text(monkeypatch):
    before = explain.explain_cell("gru")
    original = F.gru_cell_forward

    def shifted(x, h_prev, w_ih, w_hh, b_ih=None, b_hh=None):
        h, cache = original(x, h_prev, w_ih, w_hh, b_ih, b_hh)
        return 0.5 * h, cache

    monkeypatch.setattr(F, "gru_cell_forward", shifted)
    after = explain.explain_cell("gru")
    np.testing.assert_allclose(_printed(after, "h"), 0.5 * _printed(before, "h"), atol=1e-5)


def test_a_changed_backward_in_the_library_is_caught(monkeypatch):
    original = F.lstm_cell_backward

    def wrong(dh, dc, cache):
        grads = list(original(dh, dc, cache))
        grads[5] = grads[5] * 1.01  # db_ih off by 1%: no longer the dgates the docstring derives
        return tuple(grads)

    monkeypatch.setattr(F, "lstm_cell_backward", wrong)
    with pytest.raises(explain.ExplainMismatch, match="'dgates' no longer matches the db_ih"):
        explain.explain_cell("lstm")


def test_a_changed_cache_is_caught(monkeypatch):
    original = F.lstm_cell_forward

    def stale(*args):
        out, cache = original(*args)
        return out, cache._replace(f=cache.f * 0.9)

    monkeypatch.setattr(F, "lstm_cell_forward", stale)
    with pytest.raises(explain.ExplainMismatch, match="'f' no longer matches the cache's f"):
        explain.explain_cell("lstm")


def test_seed_changes_the_numbers_and_bad_arguments_are_named():
    assert explain.explain_cell("rnn", seed=1) != explain.explain_cell("rnn", seed=0)
    with pytest.raises(ValueError, match="lstm, gru, rnn, got 'elman'"):
        explain.walk_cell("elman")
    with pytest.raises(ValueError, match="needs the lstm cell"):
        explain.walk_cell("gru", proj_size=1)
    with pytest.raises(ValueError, match="relu for the rnn cell"):
        explain.walk_cell("lstm", nonlinearity="relu")


def test_explain_command(capsys):
    assert main(["explain", "lstm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("One LSTM cell step, worked by hand: N=1, D=2, H=2, seed 0")
    assert out.strip() == explain.explain_cell("lstm").strip()
    assert main(["explain", "rnn", "--nonlinearity", "relu", "--seed", "4"]) == 0
    assert "h        = relu(a)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["explain", "elman"], "invalid choice: 'elman'"),
    (["explain", "gru", "--proj-size", "1"], "--proj-size needs the lstm cell, got gru"),
    (["explain", "lstm", "--proj-size", "2"], "smaller than the hidden size 2, got 2"),
    (["explain", "lstm", "--nonlinearity", "relu"], "--nonlinearity relu needs the rnn cell"),
])
def test_explain_command_user_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
