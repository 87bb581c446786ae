"""Bahdanau and Luong attention against the same formulas written in torch autograd, in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minirnn as mr

TOL = 1e-10
N, S, HQ, HK, A = 3, 5, 4, 6, 7


# ---------------------------------------------------------------------------- torch references


def torch_masked_softmax(scores, mask):
    """softmax over real positions; a fully masked row gives zeros (plain torch gives NaN there)."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    row_has_real = mask.any(dim=-1, keepdim=True)
    safe = torch.where(row_has_real, scores.masked_fill(~mask, float("-inf")), torch.zeros_like(scores))
    return torch.softmax(safe, dim=-1) * row_has_real


def torch_bahdanau(query, keys, mask, p):
    hidden = torch.tanh(
        TF.linear(query, p["Wa.weight"], p["Wa.bias"])[:, None, :] + TF.linear(keys, p["Ua.weight"], p["Ua.bias"])
    )
    scores = TF.linear(hidden, p["Va.weight"], p["Va.bias"])[..., 0]
    weights = torch_masked_softmax(scores, mask)
    return (weights[..., None] * keys).sum(dim=1), weights


def torch_luong(query, keys, mask, p):
    projected = keys if "W.weight" not in p else TF.linear(keys, p["W.weight"])
    scores = (projected * query[:, None, :]).sum(dim=-1)
    weights = torch_masked_softmax(scores, mask)
    return (weights[..., None] * keys).sum(dim=1), weights


# ---------------------------------------------------------------------------- helpers


def _mask(rng, fully_masked_row=True):
    mask = rng.random((N, S)) < 0.7
    mask[:, 0] = True  # every row has a real position ...
    if fully_masked_row:
        mask[1] = False  # ... except row 1
    return mask


def _randomise(module, rng):
    """Non-zero random parameters (the defaults are random too, but make biases sizeable)."""
    module.load_state_dict({name: rng.standard_normal(p.shape) for name, p in module.named_parameters()})
    return module


def _make(kind, rng):
    if kind == "bahdanau":
        return _randomise(mr.BahdanauAttention(HQ, HK, A, dtype="float64"), rng), torch_bahdanau, HQ
    if kind == "luong-dot":
        return mr.LuongAttention(HK, dtype="float64"), torch_luong, HK
    return _randomise(mr.LuongAttention(HQ, HK, kind="general", dtype="float64"), rng), torch_luong, HQ


def _torch_run(ref_fn, module, query, keys, mask, dcontext, dweights):
    p = {name: torch.tensor(param.data, requires_grad=True) for name, param in module.named_parameters()}
    q = torch.tensor(query, requires_grad=True)
    k = torch.tensor(keys, requires_grad=True)
    m = None if mask is None else torch.tensor(mask)
    context, weights = ref_fn(q, k, m, p)
    loss = (context * torch.tensor(dcontext)).sum()
    if dweights is not None:
        loss = loss + (weights * torch.tensor(dweights)).sum()
    loss.backward()
    grads = {name: t.grad.numpy() for name, t in p.items()}
    return context.detach().numpy(), weights.detach().numpy(), q.grad.numpy(), k.grad.numpy(), grads


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL)


KINDS = ["bahdanau", "luong-dot", "luong-general"]


# ---------------------------------------------------------------------------- parity


@pytest.mark.parametrize("use_dweights", [True, False], ids=["dweights", "no-dweights"])
@pytest.mark.parametrize("masked", [True, False], ids=["mask", "no-mask"])
@pytest.mark.parametrize("kind", KINDS)
def test_one_call_matches_torch(rng, kind, masked, use_dweights):
    attn, ref_fn, query_size = _make(kind, rng)
    query = rng.standard_normal((N, query_size))
    keys = rng.standard_normal((N, S, HK if kind != "luong-dot" else query_size))
    mask = _mask(rng) if masked else None
    dcontext = rng.standard_normal((N, keys.shape[-1]))
    dweights = rng.standard_normal((N, S)) if use_dweights else None

    context, weights = attn(query, keys, mask)
    dquery, dkeys = attn.backward(dcontext, dweights)
    ref_context, ref_weights, ref_dquery, ref_dkeys, ref_grads = _torch_run(
        ref_fn, attn, query, keys, mask, dcontext, dweights
    )
    _close(context, ref_context)
    _close(weights, ref_weights)
    _close(dquery, ref_dquery)
    _close(dkeys, ref_dkeys)
    assert {name for name, _ in attn.named_parameters()} == set(ref_grads)
    for name, param in attn.named_parameters():
        _close(param.grad, ref_grads[name])


@pytest.mark.parametrize("kind", KINDS)
def test_masked_positions_and_fully_masked_rows(rng, kind):
    attn, _, query_size = _make(kind, rng)
    query = rng.standard_normal((N, query_size))
    keys = rng.standard_normal((N, S, HK if kind != "luong-dot" else query_size))
    mask = _mask(rng)
    context, weights = attn(query, keys, mask)
    dquery, dkeys = attn.backward(rng.standard_normal(context.shape), rng.standard_normal(weights.shape))
    assert np.all(weights[~mask] == 0)  # exactly zero, not merely small
    _close(weights[mask.any(axis=1)].sum(axis=1), 1.0)
    assert np.all(context[1] == 0) and np.all(dquery[1] == 0) and np.all(dkeys[1] == 0)
    assert np.all(dkeys[~mask] == 0)
    for arr in (context, weights, dquery, dkeys, *(p.grad for p in attn.parameters())):
        assert np.all(np.isfinite(arr))

    # garbage under the mask changes nothing
    garbage = keys.copy()
    garbage[~mask] = 1e3 * rng.standard_normal(garbage[~mask].shape)
    context2, weights2 = attn(query, garbage, mask)
    attn.backward(np.zeros_like(context2))
    _close(context2, context)
    _close(weights2, weights)


@pytest.mark.parametrize("kind", KINDS)
def test_two_phase_equals_one_call_per_step(rng, kind):
    """prepare once + T attend steps = T one-call forwards; gradients are the sums over steps."""
    steps = 3
    two_phase, _, query_size = _make(kind, rng)
    one_call, _, _ = _make(kind, rng)
    one_call.load_state_dict(two_phase.state_dict())
    keys = rng.standard_normal((N, S, HK if kind != "luong-dot" else query_size))
    mask = _mask(rng)
    queries = rng.standard_normal((steps, N, query_size))
    dcontexts = rng.standard_normal((steps, N, keys.shape[-1]))
    dweights = rng.standard_normal((steps, N, S))

    memory = two_phase.prepare(keys, mask)
    outs = [two_phase.attend(queries[t], memory) for t in range(steps)]
    scratch = np.empty_like(dcontexts[0])  # one buffer reused for every step's dcontext, as a caller may
    dqueries = []
    for t in reversed(range(steps)):
        scratch[...] = dcontexts[t]
        dqueries.insert(0, two_phase.backward_attend(scratch, dweights[t]))
    scratch[...] = np.nan  # the key gradient is summed later: it must not read the caller's buffer then
    dkeys = two_phase.backward_prepare(memory)

    ref_dkeys = np.zeros_like(keys)
    for t in range(steps):
        context, weights = one_call(queries[t], keys, mask)
        _close(outs[t][0], context)
        _close(outs[t][1], weights)
        dquery, dkeys_t = one_call.backward(dcontexts[t], dweights[t])
        _close(dqueries[t], dquery)
        ref_dkeys += dkeys_t
    _close(dkeys, ref_dkeys)
    for param, ref in zip(two_phase.parameters(), one_call.parameters()):
        _close(param.grad, ref.grad)


def test_two_phase_matches_torch_decoder_loop(rng):
    """The same multi-step loop in torch: the keys' gradient collects both paths of every step."""
    steps = 3
    attn, _, _ = _make("bahdanau", rng)
    keys = rng.standard_normal((N, S, HK))
    mask = _mask(rng)
    queries = rng.standard_normal((steps, N, HQ))
    dcontexts = rng.standard_normal((steps, N, HK))

    memory = attn.prepare(keys, mask)
    for t in range(steps):
        attn.attend(queries[t], memory)
    for t in reversed(range(steps)):
        attn.backward_attend(dcontexts[t])
    dkeys = attn.backward_prepare(memory)

    p = {name: torch.tensor(param.data, requires_grad=True) for name, param in attn.named_parameters()}
    k = torch.tensor(keys, requires_grad=True)
    loss = sum(
        (torch_bahdanau(torch.tensor(queries[t]), k, torch.tensor(mask), p)[0] * torch.tensor(dcontexts[t])).sum()
        for t in range(steps)
    )
    loss.backward()
    _close(dkeys, k.grad.numpy())
    for name, param in attn.named_parameters():
        _close(param.grad, p[name].grad.numpy())


def test_grads_accumulate_until_zero_grad(rng):
    attn, _, _ = _make("bahdanau", rng)
    query, keys = rng.standard_normal((N, HQ)), rng.standard_normal((N, S, HK))
    dcontext = rng.standard_normal((N, HK))
    attn(query, keys)
    attn.backward(dcontext)
    once = {name: p.grad.copy() for name, p in attn.named_parameters()}
    attn(query, keys)
    attn.backward(dcontext)
    for name, p in attn.named_parameters():
        _close(p.grad, 2 * once[name])
    attn.zero_grad()
    assert all(p.grad is None for p in attn.parameters())


def test_parameter_names_and_shapes():
    bahdanau = mr.BahdanauAttention(4, 6, 7)
    assert {n: p.shape for n, p in bahdanau.named_parameters()} == {
        "Wa.weight": (7, 4),
        "Wa.bias": (7,),
        "Ua.weight": (7, 6),
        "Ua.bias": (7,),
        "Va.weight": (1, 7),
        "Va.bias": (1,),
    }
    assert {n: p.shape for n, p in mr.BahdanauAttention(5).named_parameters()}["Ua.weight"] == (5, 5)
    assert {n: p.shape for n, p in mr.LuongAttention(4, 6, kind="general").named_parameters()} == {"W.weight": (4, 6)}
    assert mr.LuongAttention(4).parameters() == []
    assert mr.BahdanauAttention(4).Wa.weight.dtype == np.float32


def test_memory_take_for_beam_search(rng):
    attn, _, _ = _make("bahdanau", rng)
    keys, mask = rng.standard_normal((N, S, HK)), _mask(rng, fully_masked_row=False)
    index = np.array([2, 2, 0, 1])
    query = rng.standard_normal((4, HQ))
    with mr.no_grad():
        memory = attn.prepare(keys, mask).take(index)
        context, weights = attn.attend(query, memory)
        ref_context, ref_weights = attn(query, keys[index], mask[index])
    _close(context, ref_context)
    _close(weights, ref_weights)
    assert attn._caches == []  # no_grad kept nothing
    with pytest.raises(RuntimeError, match="no gradient state"):
        attn.backward_prepare(memory)


def test_order_errors(rng):
    attn, _, _ = _make("bahdanau", rng)
    keys = rng.standard_normal((N, S, HK))
    memory = attn.prepare(keys)
    attn.attend(rng.standard_normal((N, HQ)), memory)
    with pytest.raises(RuntimeError, match="not been backpropagated"):
        attn.backward_prepare(memory)
    attn.backward_attend(rng.standard_normal((N, HK)))
    attn.backward_prepare(memory)
    with pytest.raises(RuntimeError, match="already backpropagated"):
        attn.backward_prepare(memory)
    with pytest.raises(RuntimeError, match="without a matching forward"):
        attn.backward_attend(rng.standard_normal((N, HK)))


def test_shape_errors_name_expected_and_got(rng):
    attn = mr.BahdanauAttention(HQ, HK, A, dtype="float64")
    keys = rng.standard_normal((N, S, HK))
    query = rng.standard_normal((N, HQ))
    with pytest.raises(ValueError, match=f"expects {HQ} query features, got 3"):
        attn(rng.standard_normal((N, 3)), keys)
    with pytest.raises(ValueError, match=r"keys to be 3-D \(N, S, Hk\), got 2-D"):
        attn(query, keys[:, 0])
    with pytest.raises(ValueError, match=f"expects {HK} key features.*got 2"):
        attn(query, keys[..., :2])
    with pytest.raises(ValueError, match=r"mask \(N, S\) matching keys of shape \(3, 5\), got \(3, 4\)"):
        attn(query, keys, np.ones((N, S - 1), bool))
    with pytest.raises(TypeError, match="bool mask"):
        attn(query, keys, np.ones((N, S)))
    with pytest.raises(ValueError, match="batch mismatch.*N=2.*N=3"):
        attn(query[:2], keys)
    with pytest.raises(TypeError, match="dtype float64"):
        attn(query.astype(np.float32), keys)
    with pytest.raises(ValueError, match="key_size == query_size"):
        mr.LuongAttention(4, 6)
    with pytest.raises(ValueError, match="kind"):
        mr.LuongAttention(4, kind="concat")
    attn(query, keys)
    with pytest.raises(ValueError, match=r"dcontext \(N, Hk\)"):
        attn.backward(rng.standard_normal((N, HQ)))
