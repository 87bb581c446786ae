"""PyTorch's casting habits: ``module.double()``, ``.float()``, ``.half()`` and ``.to(dtype)``.

Each cast must reach every parameter and gradient and whatever records a dtype
(an attention's ``_dtype``, a model's ``config``), return the module, and leave it
working: after ``.double()`` a float64 input runs and a finite-difference gradient
check passes, which it could not in float32.
"""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr
from minirnn.models import Seq2Seq, SequenceClassifier

LAYERS = {
    "linear": (lambda: mr.Linear(3, 4), lambda rng: (rng.standard_normal((2, 3)),)),
    # ids from 1: the padding row takes no gradient, by design, so central differences would disagree there
    "embedding": (lambda: mr.Embedding(7, 3, padding_idx=0), lambda rng: (rng.integers(1, 7, size=(2, 4)),)),
    "rnn": (lambda: mr.RNN(3, 4), lambda rng: (rng.standard_normal((4, 2, 3)),)),
    "gru": (lambda: mr.GRU(3, 4, num_layers=2, bidirectional=True), lambda rng: (rng.standard_normal((4, 2, 3)),)),
    "lstm-proj": (lambda: mr.LSTM(3, 4, proj_size=2), lambda rng: (rng.standard_normal((4, 2, 3)),)),
    "lstm-cell": (lambda: mr.LSTMCell(3, 4),
                  lambda rng: (rng.standard_normal((2, 3)),
                               (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))))),
    "gru-cell": (lambda: mr.GRUCell(3, 4), lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal((2, 4)))),
    "bahdanau": (lambda: mr.BahdanauAttention(4, 3),
                 lambda rng: (rng.standard_normal((2, 4)), rng.standard_normal((2, 5, 3)))),
    "luong": (lambda: mr.LuongAttention(4, 3, kind="general"),
              lambda rng: (rng.standard_normal((2, 4)), rng.standard_normal((2, 5, 3)))),
}


def _attention_backward(module, upstream):
    return module.backward(*upstream)


def _dtypes(module) -> set:
    return {p.dtype for p in module.parameters()} | {p.grad.dtype for p in module.parameters() if p.grad is not None}


@pytest.mark.parametrize("name", list(LAYERS))
def test_double_makes_a_float32_layer_gradcheckable(name, rng):
    build, inputs = LAYERS[name]
    module = build()
    assert _dtypes(module) == {np.dtype("float32")}
    assert module.double() is module
    assert _dtypes(module) == {np.dtype("float64")}
    if hasattr(module, "compute_dtype"):
        assert module.compute_dtype == np.float64
    module.eval()
    backward = _attention_backward if name in ("bahdanau", "luong") else None
    report = mr.gradcheck(module, *inputs(rng), backward=backward)
    assert report.ok, str(report)


@pytest.mark.parametrize("cast", [
    lambda m: m.double(),
    lambda m: m.to(np.float64),
    lambda m: m.to("float64"),
    lambda m: m.to(np.dtype("f8")),
    lambda m: m.to(dtype="float64"),
    lambda m: m.to("cpu", np.float64),
    lambda m: m.to(np.float64, "numpy"),
    lambda m: m.to(device="cpu", dtype="float64"),
], ids=["double", "np.float64", "'float64'", "dtype('f8')", "dtype=", "cpu+dtype", "dtype+numpy", "keywords"])
def test_every_spelling_of_the_cast(cast):
    layer = mr.GRU(3, 4)
    assert cast(layer) is layer
    assert _dtypes(layer) == {np.dtype("float64")}


def test_float_and_half_cast_back_and_gradients_follow(rng):
    layer = mr.LSTM(3, 4, dtype="float64")
    x = rng.standard_normal((5, 2, 3))
    out, _ = layer(x)
    layer.backward(rng.standard_normal(out.shape))
    grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    assert layer.float() is layer
    assert _dtypes(layer) == {np.dtype("float32")}
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, grads[name], rtol=1e-6)
    out32, _ = layer(x.astype(np.float32))
    assert out32.dtype == np.float32
    assert layer.half() is layer and _dtypes(layer) == {np.dtype("float16")}
    assert layer.to("float32").dtype == np.float32


def test_cast_drops_pending_caches_and_checks_the_new_dtype(rng):
    layer = mr.RNN(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    layer(x)
    layer.double()
    with pytest.raises(RuntimeError, match="without a matching forward"):
        layer.backward(np.zeros((5, 2, 4)))
    with pytest.raises(TypeError, match="dtype float64 .* got float32"):
        layer(x)
    out, h_n = layer(x.astype(np.float64))
    assert out.dtype == h_n.dtype == np.float64


@pytest.mark.parametrize("model_name", ["classifier", "seq2seq"])
def test_models_double_config_and_gradcheck(model_name, rng):
    mr.manual_seed(0)
    lengths = np.array([4, 2])
    if model_name == "classifier":
        model = SequenceClassifier(9, 3, embed_dim=3, hidden_size=4, cell="lstm", bidirectional=True)
        inputs = (rng.integers(1, 9, size=(2, 4)), lengths)
    else:
        model = Seq2Seq(9, 8, embed_dim=3, hidden_size=4, cell="gru", attention="bahdanau",
                        bidirectional_encoder=True)
        inputs = (rng.integers(1, 9, size=(2, 4)), lengths, rng.integers(1, 8, size=(2, 3)))
    assert model.config["dtype"] == "float32"
    assert model.double() is model
    assert _dtypes(model) == {np.dtype("float64")}
    assert model.config["dtype"] == "float64"
    assert all(m.compute_dtype == np.float64 for m in model.modules() if hasattr(m, "compute_dtype"))
    model.eval()
    out = model(*inputs)
    assert out.dtype == np.float64
    report = mr.gradcheck(model, *inputs)
    assert report.ok, str(report)
    rebuilt = type(model)(**model.config)  # the config describes the cast model
    assert rebuilt.dtype == np.float64


def test_checkpoint_of_a_cast_model_loads_in_the_new_dtype(tmp_path, rng):
    model = SequenceClassifier(9, 3, embed_dim=3, hidden_size=4).double()
    path = mr.save_checkpoint(tmp_path / "m.npz", model)
    loaded = mr.load_checkpoint(path)
    loaded = loaded[0] if isinstance(loaded, tuple) else getattr(loaded, "model", loaded)
    assert loaded.dtype == np.float64
    ids = rng.integers(1, 9, size=(2, 4))
    np.testing.assert_array_equal(loaded.eval()(ids), model.eval()(ids))


def test_bad_casts_are_named():
    layer = mr.GRU(3, 4)
    with pytest.raises(ValueError, match="unknown backend 'metal'.*or a floating dtype such as 'float64'"):
        layer.to("metal")
    with pytest.raises(TypeError, match="float16, float32, float64, got int64"):
        layer.to(np.int64)
    with pytest.raises(TypeError, match="got None"):
        layer.to(None)
    with pytest.raises(TypeError, match="GRU.to got two dtypes"):
        layer.to("float32", np.float64)
    with pytest.raises(TypeError, match="GRU.to got two devices"):
        layer.to("cpu", "numpy")
    assert _dtypes(layer) == {np.dtype("float32")}  # a refused call changes nothing


def test_cast_on_the_current_backend(xp, rng):
    """On CuPy the cast stays on the GPU (skipped where none is visible)."""
    layer = mr.LSTM(3, 4).to("cuda" if xp is not np else "cpu").double()
    assert all(mr.backend.get_array_module(p.data) is xp for p in layer.parameters())
    out, _ = layer(xp.asarray(rng.standard_normal((5, 2, 3))))
    assert out.dtype == np.float64
