"""Class-weighted cross-entropy (``weight=``): finite differences and PyTorch parity in float64.

Random positive weights, random logits, random upstream gradients, every reduction,
with and without ignored targets and label smoothing. PyTorch's weighted "mean"
divides by the summed weight of the real targets, smoothing term included.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minirnn as mr
from minirnn.functional.loss import cross_entropy_backward, cross_entropy_forward
from minirnn.gradcheck import check_gradients

TOL = 1e-10
IGNORE = -1
C = 5


def _data(rng, shape, with_ignored):
    logits = rng.standard_normal(shape + (C,)) * 3
    target = rng.integers(0, C, size=shape)
    if with_ignored:
        flat = target.reshape(-1)
        flat[[0, flat.size // 2]] = IGNORE
    weight = rng.uniform(0.1, 3.0, size=C)
    return logits, target, weight


def _upstream(rng, shape, reduction):
    return rng.standard_normal(shape) if reduction == "none" else float(rng.uniform(0.5, 2.0))


def _torch(logits, target, weight, reduction, label_smoothing, dloss):
    z = torch.tensor(logits.reshape(-1, C), requires_grad=True)
    loss = TF.cross_entropy(z, torch.tensor(target.reshape(-1)), weight=torch.tensor(weight), ignore_index=IGNORE,
                            reduction=reduction, label_smoothing=label_smoothing)
    upstream = torch.tensor(np.asarray(dloss, dtype=np.float64).reshape(-1) if reduction == "none" else dloss,
                            dtype=torch.float64)
    (loss * upstream).sum().backward()
    return loss.detach().numpy(), z.grad.numpy().reshape(logits.shape)


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(7,), (2, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("with_ignored", [False, True], ids=["all-real", "ignored"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_cross_entropy_matches_torch(rng, shape, with_ignored, label_smoothing, reduction):
    logits, target, weight = _data(rng, shape, with_ignored)
    dloss = _upstream(rng, shape, reduction)
    crit = mr.CrossEntropyLoss(ignore_index=IGNORE, reduction=reduction, label_smoothing=label_smoothing,
                               weight=weight)
    loss = crit(logits, target)
    dlogits = crit.backward(dloss)
    ref_loss, ref_grad = _torch(logits, target, weight, reduction, label_smoothing, dloss)
    np.testing.assert_allclose(np.asarray(loss).reshape(-1), ref_loss.reshape(-1), rtol=0, atol=TOL)
    np.testing.assert_allclose(dlogits, ref_grad, rtol=0, atol=TOL)
    if with_ignored:
        assert np.all(dlogits[target == IGNORE] == 0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_cross_entropy_finite_differences(rng, reduction, label_smoothing):
    logits, target, weight = _data(rng, (2, 3), with_ignored=True)
    upstream = _upstream(rng, (2, 3), reduction)

    def loss_fn():
        loss, _ = cross_entropy_forward(logits, target, IGNORE, reduction, label_smoothing, weight)
        return float(np.sum(loss * upstream))

    _, cache = cross_entropy_forward(logits, target, IGNORE, reduction, label_smoothing, weight)
    analytic = cross_entropy_backward(upstream, cache)
    report = check_gradients(loss_fn, {"dlogits": logits}, {"dlogits": analytic}, eps=1e-6, rtol=1e-6, atol=1e-8,
                             max_elements=logits.size)
    assert report.ok, "\n" + str(report)


def test_unit_weights_equal_no_weights(rng):
    logits, target, _ = _data(rng, (3, 4), with_ignored=True)
    plain = mr.CrossEntropyLoss(ignore_index=IGNORE, label_smoothing=0.1)
    ones = mr.CrossEntropyLoss(ignore_index=IGNORE, label_smoothing=0.1, weight=np.ones(C))
    assert abs(plain(logits, target) - ones(logits, target)) < 1e-14
    np.testing.assert_allclose(plain.backward(), ones.backward(), rtol=0, atol=1e-14)


def test_weighted_mean_is_the_weighted_average_of_token_losses(rng):
    """'mean' = sum_m w_{y_m} nll_m / sum_m w_{y_m}: scaling every weight changes nothing."""
    logits, target, weight = _data(rng, (9,), with_ignored=True)
    nll = mr.CrossEntropyLoss(ignore_index=IGNORE, reduction="none")(logits, target)
    real = target != IGNORE
    expected = np.sum(weight[target[real]] * nll[real]) / np.sum(weight[target[real]])
    assert mr.CrossEntropyLoss(ignore_index=IGNORE, weight=weight)(logits, target) == pytest.approx(expected, abs=1e-13)
    assert mr.CrossEntropyLoss(ignore_index=IGNORE, weight=7 * weight)(logits, target) == pytest.approx(expected,
                                                                                                          abs=1e-13)


def test_zero_weight_sum_gives_zero_not_nan(rng):
    logits = rng.standard_normal((3, C))
    weight = np.ones(C)
    weight[2] = 0.0
    crit = mr.CrossEntropyLoss(weight=weight)
    assert crit(logits, np.array([2, 2, 2])) == 0.0
    assert np.all(crit.backward() == 0)


def test_list_weights_take_the_logits_dtype(rng):
    crit = mr.CrossEntropyLoss(weight=[1.0, 2.0, 0.5])
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    loss = crit(logits, np.array([0, 1, 2, 1]))
    assert isinstance(loss, float)
    assert crit.backward().dtype == np.float32
    assert "weight=(3 classes)" in repr(crit)


def test_bad_weights_are_named(rng):
    logits = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="C = 3 classes"):
        mr.CrossEntropyLoss(weight=np.ones(4))(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match="dtype float32 but the logits have float64"):
        mr.CrossEntropyLoss(weight=np.ones(3, dtype=np.float32))(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        mr.CrossEntropyLoss(weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        mr.CrossEntropyLoss(weight=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        mr.CrossEntropyLoss(weight=np.ones((3, 1)))
    with pytest.raises(TypeError, match="floating"):
        mr.CrossEntropyLoss(weight=np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="list of C class weights"):
        mr.CrossEntropyLoss(weight=2.0)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_weighted_loss_on_every_backend_matches_numpy(xp, rng, label_smoothing):
    """The same weighted loss and gradient on the device (weights given on the host follow the logits)."""
    logits, target, weight = _data(rng, (3, 4), with_ignored=True)
    host = mr.CrossEntropyLoss(ignore_index=IGNORE, label_smoothing=label_smoothing, weight=weight)
    expected_loss = host(logits, target)
    expected_grad = host.backward(0.7)
    device = mr.CrossEntropyLoss(ignore_index=IGNORE, label_smoothing=label_smoothing, weight=weight)
    loss = device(xp.asarray(logits), xp.asarray(target))
    grad = mr.backend.to_numpy(device.backward(0.7))
    assert abs(loss - expected_loss) < 1e-12
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=1e-12)
