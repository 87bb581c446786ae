"""Fresh layers draw their weights from PyTorch's default distributions, and a seed fixes them.

Every PyTorch comparison elsewhere loads weights, and gradient checks do not depend on
their scale, so only these tests notice a wrong initialisation (1/H instead of
1/sqrt(H), say). PyTorch's defaults (``reset_parameters`` in torch.nn):

=============================  ===========================================================
RNN, LSTM, GRU, the cells      every weight and bias U(-1/sqrt(H), 1/sqrt(H)), H = hidden_size
                               (``weight_hr`` of a projected LSTM too)
Linear                         weight and bias U(-1/sqrt(in), 1/sqrt(in)): the weight's
                               ``kaiming_uniform_(a=sqrt(5))`` has gain sqrt(2 / (1 + 5)),
                               bound gain * sqrt(3 / in) = 1/sqrt(in)
Embedding                      N(0, 1), the ``padding_idx`` row 0
=============================  ===========================================================

Each parameter is tested on its own, with tolerances from its sample size n, each set
so that a correct draw fails with probability about 1e-9 or less:

* every |w| <= b, and max |w| >= b (1 - 21/n): P(max |w| < b (1 - d)) = (1 - d)^n <= e^(-n d)
  and e^(-21) < 1e-9.
* mean and second moment within Z = 6 standard errors (P ~ 2e-9 for a normal mean):
  U(-b, b) has E w = 0, sd(w) = b/sqrt(3); E w^2 = b^2/3, sd(w^2) = b^2 sqrt(4/45)
  (E w^4 = b^4/5). N(0, 1) has E w^2 = 1, sd(w^2) = sqrt(2).
* the whole distribution: the Kolmogorov-Smirnov distance sup |F_n - F| <= eps with
  eps = sqrt(ln(2/alpha) / (2n)), alpha = 1e-9, by the Dvoretzky-Kiefer-Wolfowitz
  inequality P(sup |F_n - F| > eps) <= 2 exp(-2 n eps^2), which holds for every n.

The same checks run on freshly built torch modules of the same shapes (so the expected
distributions are PyTorch's, not a belief about them), and the two samples are compared
directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minirnn as mr
from minirnn.backend import to_numpy

torch = pytest.importorskip("torch")

Z = 6.0  # standard errors allowed for a mean
ALPHA = 1e-9  # the false-alarm probability of the max and KS checks
D, H = 16, 64  # D != H, so a bound taken from the input size shows up


def _ks_bound(n: int) -> float:
    """The DKW radius: P(sup |F_n - F| > radius) <= ALPHA."""
    return math.sqrt(math.log(2 / ALPHA) / (2 * n))


def _ks_distance(values, cdf) -> float:
    """sup_x |F_n(x) - F(x)| for the sample ``values`` (sorted inside)."""
    x = np.sort(values)
    n = x.size
    f = cdf(x)
    return float(max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max()))


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def assert_uniform(values, bound: float, what: str) -> None:
    """Assert that ``values`` look like independent draws from U(-bound, bound)."""
    limit = float(np.asarray(bound, dtype=values.dtype))  # the bound as the parameter's dtype rounds it
    w = np.asarray(values, dtype=np.float64).ravel()
    n = w.size
    top = np.abs(w).max()
    assert top <= limit, f"{what}: max |w| = {top} exceeds the bound {bound}"
    assert top >= bound * (1 - 21 / n), f"{what}: max |w| = {top}, far below the bound {bound} (n = {n})"
    assert abs(w.mean()) <= Z * bound / math.sqrt(3 * n), f"{what}: mean {w.mean()} is not 0 (bound {bound})"
    second = (w**2).mean()
    assert abs(second - bound**2 / 3) <= Z * bound**2 * math.sqrt(4 / 45 / n), (
        f"{what}: mean w^2 = {second}, expected bound^2/3 = {bound**2 / 3} (n = {n})"
    )
    ks = _ks_distance(w, lambda x: (x + bound) / (2 * bound))
    assert ks <= _ks_bound(n), f"{what}: KS distance {ks} from U(-{bound}, {bound}) > {_ks_bound(n)} (n = {n})"


def assert_standard_normal(values, what: str) -> None:
    """Assert that ``values`` look like independent draws from N(0, 1)."""
    w = np.asarray(values, dtype=np.float64).ravel()
    n = w.size
    assert abs(w.mean()) <= Z / math.sqrt(n), f"{what}: mean {w.mean()} is not 0 (n = {n})"
    second = (w**2).mean()
    assert abs(second - 1.0) <= Z * math.sqrt(2 / n), f"{what}: mean w^2 = {second}, expected 1 (n = {n})"
    ks = _ks_distance(w, _normal_cdf)
    assert ks <= _ks_bound(n), f"{what}: KS distance {ks} from N(0, 1) > {_ks_bound(n)} (n = {n})"


def assert_same_distribution(ours, theirs, what: str) -> None:
    """Two-sample KS: sup |F_n - G_m| <= DKW radius(n) + radius(m) when both come from one law."""
    a, b = np.sort(np.ravel(ours).astype(np.float64)), np.sort(np.ravel(theirs).astype(np.float64))
    grid = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, grid, side="right") / a.size - np.searchsorted(b, grid, side="right") / b.size)
    assert gap.max() <= _ks_bound(a.size) + _ks_bound(b.size), f"{what}: minirnn and torch differ (KS {gap.max()})"


# (name, minirnn constructor, torch constructor, bound of every parameter)
RECURRENT = [
    ("RNN", lambda: mr.RNN(D, H, num_layers=2, bidirectional=True),
     lambda: torch.nn.RNN(D, H, num_layers=2, bidirectional=True)),
    ("RNN relu", lambda: mr.RNN(D, H, nonlinearity="relu"),
     lambda: torch.nn.RNN(D, H, nonlinearity="relu")),
    ("GRU", lambda: mr.GRU(D, H, num_layers=2), lambda: torch.nn.GRU(D, H, num_layers=2)),
    ("LSTM", lambda: mr.LSTM(D, H, bidirectional=True), lambda: torch.nn.LSTM(D, H, bidirectional=True)),
    ("LSTM proj", lambda: mr.LSTM(D, H, num_layers=2, proj_size=24),
     lambda: torch.nn.LSTM(D, H, num_layers=2, proj_size=24)),
    ("RNNCell", lambda: mr.RNNCell(D, H), lambda: torch.nn.RNNCell(D, H)),
    ("GRUCell", lambda: mr.GRUCell(D, H), lambda: torch.nn.GRUCell(D, H)),
    ("LSTMCell", lambda: mr.LSTMCell(D, H), lambda: torch.nn.LSTMCell(D, H)),
]  # fmt: skip


def _torch_params(module) -> dict:
    return {name: p.detach().numpy() for name, p in module.named_parameters()}


@pytest.mark.parametrize("name, make, make_torch", RECURRENT, ids=[case[0] for case in RECURRENT])
def test_recurrent_layers_and_cells_draw_from_pytorch_defaults(name, make, make_torch):
    ours, theirs = dict(make().named_parameters()), _torch_params(make_torch())
    assert ours.keys() == theirs.keys()
    bound = 1 / math.sqrt(H)
    for key, p in ours.items():
        values = to_numpy(p.data)
        assert values.shape == theirs[key].shape, key
        assert values.dtype == np.float32, key  # the default dtype, drawn in float64 then cast
        assert_uniform(values, bound, f"{name} {key}")
        assert_uniform(theirs[key], bound, f"torch {name} {key}")
        assert_same_distribution(values, theirs[key], f"{name} {key}")


def test_linear_draws_from_pytorch_defaults():
    in_features, out_features = 64, 2000  # a long bias, so it is tested with power too
    ours, theirs = dict(mr.Linear(in_features, out_features).named_parameters()), _torch_params(
        torch.nn.Linear(in_features, out_features)
    )
    assert ours.keys() == theirs.keys() == {"weight", "bias"}
    bound = 1 / math.sqrt(in_features)
    for key, p in ours.items():
        values = to_numpy(p.data)
        assert_uniform(values, bound, f"Linear {key}")
        assert_uniform(theirs[key], bound, f"torch Linear {key}")
        assert_same_distribution(values, theirs[key], f"Linear {key}")


@pytest.mark.parametrize("padding_idx", [None, 3, -1])
def test_embedding_draws_from_pytorch_defaults(padding_idx):
    num, dim = 500, 64
    ours = to_numpy(mr.Embedding(num, dim, padding_idx=padding_idx).weight.data)
    theirs = torch.nn.Embedding(num, dim, padding_idx=padding_idx).weight.detach().numpy()
    rows = np.ones(num, dtype=bool)
    if padding_idx is not None:
        assert np.all(ours[padding_idx] == 0) and np.all(theirs[padding_idx] == 0)
        rows[padding_idx] = False
    assert_standard_normal(ours[rows], "Embedding weight")
    assert_standard_normal(theirs[rows], "torch Embedding weight")
    assert_same_distribution(ours[rows], theirs[rows], "Embedding weight")


def test_the_checks_have_power():
    """The checks above reject the plausible wrong initialisations, so passing means something."""
    rng = np.random.default_rng(0)
    bound, shape = 1 / math.sqrt(H), (4 * H, H)
    assert_uniform(rng.uniform(-bound, bound, shape), bound, "right")
    wrong = {
        "1/H": rng.uniform(-1 / H, 1 / H, shape),
        "1/sqrt(D)": rng.uniform(-1 / math.sqrt(D), 1 / math.sqrt(D), shape),
        "normal of the same variance": rng.normal(0, bound / math.sqrt(3), shape).clip(-bound, bound),
        "0.9 bound": rng.uniform(-0.9 * bound, 0.9 * bound, shape),
        "zeros": np.zeros(shape),
    }
    for label, values in wrong.items():
        with pytest.raises(AssertionError):
            assert_uniform(values, bound, label)
    with pytest.raises(AssertionError):
        assert_standard_normal(rng.uniform(-math.sqrt(3), math.sqrt(3), (500, 64)), "uniform of variance 1")
    with pytest.raises(AssertionError):
        assert_standard_normal(rng.normal(0, 1.1, (500, 64)), "N(0, 1.21)")


SEEDED = [
    lambda: mr.LSTM(D, H, num_layers=2, proj_size=8),
    lambda: mr.GRU(D, H, bidirectional=True),
    lambda: mr.RNNCell(D, H),
    lambda: mr.Linear(D, H),
    lambda: mr.Embedding(50, D, padding_idx=0),
]


@pytest.mark.parametrize("make", SEEDED, ids=["LSTM", "GRU", "RNNCell", "Linear", "Embedding"])
def test_a_seed_fixes_the_initial_weights(make):
    def weights(seed):
        mr.manual_seed(seed)
        return {k: to_numpy(v) for k, v in make().state_dict().items()}

    first, again, other = weights(7), weights(7), weights(8)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
        rows = np.any(first[key] != 0, axis=-1) if first[key].ndim > 1 else slice(None)  # skip padding rows
        same = np.mean(first[key][rows] == other[key][rows])  # float32 draws rarely coincide
        assert same < 0.01, f"{key}: seed 8 repeats {same:.0%} of the entries of seed 7"
