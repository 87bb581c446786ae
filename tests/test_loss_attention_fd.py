"""Finite differences for the functional backwards of the loss and the attentions, in float64.

Each test defines a scalar L = sum(out * G) with random upstream G, then compares every
entry of the hand-written gradient with the central difference
(L(x + eps e_k) - L(x - eps e_k)) / (2 eps) through ``minirnn.gradcheck.check_gradients``.
Shapes are tiny, so every entry is checked.
"""

import numpy as np
import pytest

from minirnn.functional import attention as FA
from minirnn.functional import softmax_backward
from minirnn.functional.loss import cross_entropy_backward, cross_entropy_forward
from minirnn.gradcheck import check_gradients

EPS = 1e-6
N, S, HQ, HK, A = 2, 4, 3, 5, 4


def assert_grad(analytic, loss_fn, x, name):
    """Every entry of ``analytic`` against central differences of loss_fn() (x is perturbed in place)."""
    report = check_gradients(loss_fn, {name: x}, {name: analytic}, eps=EPS, rtol=1e-6, atol=1e-8, max_elements=x.size)
    assert report.ok, "\n" + str(report)


def _mask(rng):
    mask = rng.random((N, S)) < 0.6
    mask[:, 0] = True
    mask[-1] = False  # one fully masked row
    return mask


# ---------------------------------------------------------------------------- cross-entropy


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_backward(rng, reduction, label_smoothing):
    logits = rng.standard_normal((2, 3, 4)) * 2
    target = rng.integers(0, 4, size=(2, 3))
    target[0, 1] = -100
    upstream = rng.standard_normal((2, 3)) if reduction == "none" else 1.7

    def loss_fn():
        loss, _ = cross_entropy_forward(logits, target, -100, reduction, label_smoothing)
        return float(np.sum(loss * upstream))

    _, cache = cross_entropy_forward(logits, target, -100, reduction, label_smoothing)
    assert_grad(cross_entropy_backward(upstream, cache), loss_fn, logits, "dlogits")


# ---------------------------------------------------------------------------- shared pieces


@pytest.mark.parametrize("masked", [True, False])
def test_masked_softmax_backward_is_softmax_backward(rng, masked):
    scores = rng.standard_normal((N, S))
    mask = _mask(rng) if masked else None
    upstream = rng.standard_normal((N, S))

    def loss_fn():
        return float(np.sum(FA.masked_softmax(scores, mask) * upstream))

    weights = FA.masked_softmax(scores, mask)
    assert_grad(softmax_backward(upstream, weights), loss_fn, scores, "dscores")


def test_weighted_sum_backward(rng):
    weights, keys = rng.random((N, S)), rng.standard_normal((N, S, HK))
    upstream = rng.standard_normal((N, HK))
    dweights, dkeys = FA.weighted_sum_backward(upstream, weights, keys)

    def loss_fn():
        return float(np.sum(FA.weighted_sum(weights, keys) * upstream))

    assert_grad(dweights, loss_fn, weights, "dweights")
    assert_grad(dkeys, loss_fn, keys, "dkeys")


# ---------------------------------------------------------------------------- attentions


def _upstream(rng):
    return rng.standard_normal((N, HK)), rng.standard_normal((N, S))


def _contract(out, dcontext, dweights):
    context, weights = out
    return float(np.sum(context * dcontext) + np.sum(weights * dweights))


def test_bahdanau_attention_backward(rng):
    arrays = {
        "query": rng.standard_normal((N, HQ)),
        "keys": rng.standard_normal((N, S, HK)),
        "wa_weight": rng.standard_normal((A, HQ)),
        "wa_bias": rng.standard_normal(A),
        "ua_weight": rng.standard_normal((A, HK)),
        "ua_bias": rng.standard_normal(A),
        "va_weight": rng.standard_normal((1, A)),
        "va_bias": rng.standard_normal(1),
    }
    mask = _mask(rng)
    dcontext, dweights = _upstream(rng)

    def run():
        a = arrays
        return FA.bahdanau_attention_forward(
            a["query"], a["keys"], mask, a["wa_weight"], a["wa_bias"], a["ua_weight"], a["ua_bias"],
            a["va_weight"], a["va_bias"],
        )  # fmt: skip

    def loss_fn():
        return _contract(run()[0], dcontext, dweights)

    _, cache = run()
    dquery, dkeys, *param_grads = FA.bahdanau_attention_backward(dcontext, dweights, cache)
    names = ["wa_weight", "wa_bias", "ua_weight", "ua_bias", "va_weight", "va_bias"]
    for name, analytic in zip(["query", "keys"] + names, [dquery, dkeys] + param_grads):
        assert_grad(analytic, loss_fn, arrays[name], name)


def test_bahdanau_attend_backward_to_projected_keys(rng):
    """The step backward alone, with the projected keys as an independent input (no bias)."""
    query, keys = rng.standard_normal((N, HQ)), rng.standard_normal((N, S, HK))
    projected = rng.standard_normal((N, S, A))
    wa_weight, va_weight = rng.standard_normal((A, HQ)), rng.standard_normal((1, A))
    mask = _mask(rng)
    dcontext, dweights = _upstream(rng)

    def run():
        return FA.bahdanau_attend_forward(query, keys, projected, mask, wa_weight, None, va_weight, None)

    def loss_fn():
        return _contract(run()[0], dcontext, dweights)

    _, cache = run()
    dquery, dkeys, dprojected, dwa_weight, dwa_bias, dva_weight, dva_bias = FA.bahdanau_attend_backward(
        dcontext, dweights, cache
    )
    assert dwa_bias is None and dva_bias is None
    for name, analytic, x in [
        ("query", dquery, query),
        ("keys (context path)", dkeys, keys),
        ("projected", dprojected, projected),
        ("wa_weight", dwa_weight, wa_weight),
        ("va_weight", dva_weight, va_weight),
    ]:
        assert_grad(analytic, loss_fn, x, name)


@pytest.mark.parametrize("kind", ["dot", "general"])
def test_luong_attention_backward(rng, kind):
    query_size = HK if kind == "dot" else HQ
    query, keys = rng.standard_normal((N, query_size)), rng.standard_normal((N, S, HK))
    weight = rng.standard_normal((HQ, HK)) if kind == "general" else None
    mask = _mask(rng)
    dcontext, dweights = _upstream(rng)

    def loss_fn():
        return _contract(FA.luong_attention_forward(query, keys, mask, weight)[0], dcontext, dweights)

    _, cache = FA.luong_attention_forward(query, keys, mask, weight)
    dquery, dkeys, dweight = FA.luong_attention_backward(dcontext, dweights, cache)
    assert_grad(dquery, loss_fn, query, "query")
    assert_grad(dkeys, loss_fn, keys, "keys")
    if kind == "general":
        assert_grad(dweight, loss_fn, weight, "weight")
    else:
        assert dweight is None


def test_context_keys_backward_is_the_sum_of_the_step_dkeys(rng):
    """One batched matmul equals the T per-step outer products added up."""
    n, s, hk, steps = 3, 5, 4, 6
    keys = rng.standard_normal((n, s, hk))
    weights = [FA.masked_softmax(rng.standard_normal((n, s)), None) for _ in range(steps)]
    dcontexts = [rng.standard_normal((n, hk)) for _ in range(steps)]
    want = sum(FA.weighted_sum_backward(dc, w, keys)[1] for w, dc in zip(weights, dcontexts))
    np.testing.assert_allclose(FA.context_keys_backward(weights, dcontexts), want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kind", ["bahdanau", "luong"])
def test_keys_grad_false_skips_only_dkeys(rng, kind):
    n, s, h = 3, 4, 5
    query, keys = rng.standard_normal((n, h)), rng.standard_normal((n, s, h))
    mask = np.ones((n, s), dtype=bool)
    if kind == "bahdanau":
        wa, va = rng.standard_normal((6, h)), rng.standard_normal((1, 6))
        projected = keys @ rng.standard_normal((6, h)).T
        _, cache = FA.bahdanau_attend_forward(query, keys, projected, mask, wa, rng.standard_normal(6), va,
                                              rng.standard_normal(1))
        backward = FA.bahdanau_attend_backward
    else:
        _, cache = FA.luong_attend_forward(query, keys, keys, mask)
        backward = FA.luong_attend_backward
    dcontext = rng.standard_normal((n, h))
    full, skipped = backward(dcontext, None, cache), backward(dcontext, None, cache, keys_grad=False)
    assert full[1] is not None and skipped[1] is None
    for a, b in zip(full[:1] + full[2:], skipped[:1] + skipped[2:]):
        np.testing.assert_array_equal(a, b)


def test_context_keys_backward_needs_a_pair_per_step(rng):
    with pytest.raises(ValueError, match="one \\(weights, dcontext\\) pair per step"):
        FA.context_keys_backward([], [])
    with pytest.raises(ValueError, match="got 2 weights and 1 dcontexts"):
        FA.context_keys_backward([np.ones((2, 3))] * 2, [np.ones((2, 4))])
