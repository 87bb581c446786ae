"""CrossEntropyLoss against torch.nn.functional.cross_entropy on flattened inputs, in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minirnn as mr
from minirnn.functional.loss import cross_entropy_backward, cross_entropy_forward

TOL = 1e-10
IGNORE = -1  # a non-default ignore_index, so the parameter is really passed through


def _data(rng, shape, num_classes, with_ignored):
    logits = rng.standard_normal(shape + (num_classes,)) * 3
    target = rng.integers(0, num_classes, size=shape)
    if with_ignored:
        flat = target.reshape(-1)
        flat[[0, flat.size // 2]] = IGNORE  # at least one ignored, at least one real
    return logits, target


def _torch_loss_and_grad(logits, target, reduction, label_smoothing, dloss):
    num_classes = logits.shape[-1]
    z = torch.tensor(logits.reshape(-1, num_classes), requires_grad=True)
    y = torch.tensor(target.reshape(-1))
    loss = TF.cross_entropy(z, y, ignore_index=IGNORE, reduction=reduction, label_smoothing=label_smoothing)
    upstream = torch.tensor(
        np.asarray(dloss, dtype=np.float64).reshape(-1) if reduction == "none" else dloss, dtype=torch.float64
    )
    (loss * upstream).sum().backward()
    return loss.detach().numpy(), z.grad.numpy().reshape(logits.shape)


@pytest.mark.parametrize("shape", [(6,), (2, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("with_ignored", [False, True], ids=["all-real", "ignored"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(rng, shape, with_ignored, label_smoothing, reduction):
    logits, target = _data(rng, shape, 5, with_ignored)
    dloss = rng.standard_normal(shape) if reduction == "none" else float(rng.uniform(0.5, 2.0))
    crit = mr.CrossEntropyLoss(ignore_index=IGNORE, reduction=reduction, label_smoothing=label_smoothing)
    loss = crit(logits, target)
    dlogits = crit.backward(dloss)
    ref_loss, ref_grad = _torch_loss_and_grad(logits, target, reduction, label_smoothing, dloss)

    if reduction == "none":
        assert loss.shape == shape
        np.testing.assert_allclose(loss, ref_loss.reshape(shape), rtol=0, atol=TOL)
    else:
        assert isinstance(loss, float)
        assert abs(loss - float(ref_loss)) < TOL
    assert dlogits.shape == logits.shape
    np.testing.assert_allclose(dlogits, ref_grad, rtol=0, atol=TOL)
    if with_ignored:  # ignored tokens: no loss, no gradient
        ignored = target == IGNORE
        assert np.all(dlogits[ignored] == 0)
        if reduction == "none":
            assert np.all(loss[ignored] == 0)


def test_mean_divides_by_the_number_of_real_tokens(rng):
    logits, target = _data(rng, (2, 5), 4, with_ignored=True)
    per_token = mr.CrossEntropyLoss(ignore_index=IGNORE, reduction="none")(logits, target)
    mean = mr.CrossEntropyLoss(ignore_index=IGNORE)(logits, target)
    assert mean == pytest.approx(per_token.sum() / np.sum(target != IGNORE), abs=1e-14)


def test_default_upstream_is_one(rng):
    logits, target = _data(rng, (3,), 4, with_ignored=False)
    crit = mr.CrossEntropyLoss()
    crit(logits, target)
    default = crit.backward()
    crit(logits, target)
    np.testing.assert_array_equal(default, crit.backward(1.0))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_huge_logits_stay_finite_and_match_torch(rng, label_smoothing):
    logits = rng.choice([-1e4, 1e4], size=(4, 3)) + rng.standard_normal((4, 3))
    target = np.array([0, 1, 2, 1])
    crit = mr.CrossEntropyLoss(label_smoothing=label_smoothing)
    loss = crit(logits, target)
    dlogits = crit.backward()
    ref_loss, ref_grad = _torch_loss_and_grad(logits, target, "mean", label_smoothing, 1.0)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert abs(loss - float(ref_loss)) <= 1e-12 * abs(float(ref_loss))
    np.testing.assert_allclose(dlogits, ref_grad, rtol=0, atol=TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_targets_ignored_gives_zero_not_nan(rng, reduction):
    """Departure from torch: its 'mean' is 0/0 = NaN here; ours is 0 with a zero gradient."""
    logits = rng.standard_normal((2, 3, 4))
    target = np.full((2, 3), IGNORE)
    crit = mr.CrossEntropyLoss(ignore_index=IGNORE, reduction=reduction, label_smoothing=0.1)
    loss = crit(logits, target)
    dlogits = crit.backward(np.ones((2, 3)) if reduction == "none" else 1.0)
    assert np.all(np.asarray(loss) == 0)
    assert np.all(dlogits == 0)
    if reduction == "mean":
        ref = TF.cross_entropy(
            torch.tensor(logits.reshape(-1, 4)), torch.tensor(target.reshape(-1)), ignore_index=IGNORE
        )
        assert torch.isnan(ref)  # the behaviour we depart from


def test_functional_pair_matches_module(rng):
    logits, target = _data(rng, (2, 3), 4, with_ignored=True)
    loss, cache = cross_entropy_forward(logits, target, IGNORE, "mean", 0.1)
    crit = mr.CrossEntropyLoss(IGNORE, "mean", 0.1)
    assert crit(logits, target) == float(loss)
    np.testing.assert_array_equal(cross_entropy_backward(1.0, cache), crit.backward())


def test_float32_stays_float32(rng):
    logits = rng.standard_normal((3, 4)).astype(np.float32)
    crit = mr.CrossEntropyLoss(reduction="none")
    losses = crit(logits, np.array([0, 1, 3]))
    assert losses.dtype == np.float32
    assert crit.backward(np.ones(3, dtype=np.float32)).dtype == np.float32


def test_target_out_of_range_names_the_class_count(rng):
    crit = mr.CrossEntropyLoss()
    with pytest.raises(IndexError, match=r"C = 4 classes.*got 4"):
        crit(rng.standard_normal((2, 4)), np.array([0, 4]))
    with pytest.raises(IndexError, match=r"\[0, 3\].*got -3"):
        crit(rng.standard_normal((2, 4)), np.array([-3, 1]))


def test_bad_shapes_and_options_are_named(rng):
    crit = mr.CrossEntropyLoss()
    with pytest.raises(ValueError, match="target"):
        crit(rng.standard_normal((2, 3, 4)), np.array([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        crit(rng.standard_normal((2, 4)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        crit(np.full((2, 4), np.nan), np.array([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        mr.CrossEntropyLoss(reduction="avg")
    none = mr.CrossEntropyLoss(reduction="none")
    none(rng.standard_normal((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="dloss"):
        none.backward(np.ones(3))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        crit.backward()
