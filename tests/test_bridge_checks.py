"""``nn.Bridge`` checks what it is given, as the other layers do: sizes, states, gradients.

Bridge is public and loads from checkpoints, so a user may call it by hand: a
missing ``c_n`` or a wrong layer count must be a clear error at the call, not an
IndexError inside it, and a refused backward must leave the forward's cache for a
corrected retry.
"""

from __future__ import annotations

import numpy as np
import pytest

import minirnn as mr

L, N, H = 2, 3, 4
F64 = "float64"


def _states(rng, layers=L, batch=N, hidden=H):
    return rng.standard_normal((2 * layers, batch, hidden)), rng.standard_normal((2 * layers, batch, hidden))


@pytest.mark.parametrize("args, error, message", [
    ((0, 1, True), ValueError, "Bridge expects hidden_size to be a positive integer, got 0"),
    ((4, 0, False), ValueError, "Bridge expects num_layers to be a positive integer, got 0"),
    ((4, 1.5, False), ValueError, "Bridge expects num_layers to be a positive integer, got 1.5"),
    ((4, True, False), TypeError, "Bridge expects num_layers to be a positive integer, got True"),
    (("4", 1, False), TypeError, "Bridge expects hidden_size to be a positive integer, got '4'"),
])
def test_constructor_checks_its_sizes(args, error, message):
    with pytest.raises(error, match=message):
        mr.nn.Bridge(*args, dtype=F64)


def test_whole_floats_count_as_sizes():
    bridge = mr.nn.Bridge(4.0, 2.0, True, dtype=F64)
    assert (bridge.hidden_size, bridge.num_layers) == (4, 2) and isinstance(bridge.num_layers, int)


def test_lstm_bridge_needs_c_n_and_a_gru_bridge_refuses_it(rng):
    h_n, c_n = _states(rng, layers=1)
    with pytest.raises(ValueError, match=r"Bridge \(lstm=True\) expects c_n, the encoder's cell state"):
        mr.nn.Bridge(H, 1, True, dtype=F64)(h_n)
    with pytest.raises(ValueError, match=r"Bridge \(lstm=False\) takes no c_n .*got ndarray"):
        mr.nn.Bridge(H, 1, False, dtype=F64)(h_n, c_n)


@pytest.mark.parametrize("state, error, message", [
    (np.zeros((2, N, H)), ValueError,
     rf"Bridge expects h_n \(2 \* num_layers, N, hidden_size\) of shape \(4, {N}, {H}\), got \(2, {N}, {H}\)"),
    (np.zeros((4, N, 2 * H)), ValueError, rf"of shape \(4, {N}, {H}\), got \(4, {N}, {2 * H}\)"),
    (np.zeros((4, H)), ValueError, r"Bridge expects h_n to be 3-D \(2L, N, H\).*got 2-D"),
    (np.zeros((4, N, H), dtype=np.float32), TypeError, r"Bridge expects h_n of dtype float64 .*got float32"),
    (np.full((4, N, H), np.nan), ValueError, r"Bridge got NaN or infinity in h_n"),
    ([[[0.0] * H] * N] * 4, TypeError, r"Bridge expects h_n to be a numpy or cupy array, got list"),
])
def test_forward_checks_h_n(state, error, message):
    with pytest.raises(error, match=message):
        mr.nn.Bridge(H, L, False, dtype=F64)(state)


def test_forward_checks_c_n_against_h_n(rng):
    bridge = mr.nn.Bridge(H, L, True, dtype=F64)
    h_n, c_n = _states(rng)
    with pytest.raises(ValueError, match=rf"Bridge expects c_n \(the shape of h_n\) of shape \(4, {N}, {H}\), "
                                         rf"got \(4, 1, {H}\)"):
        bridge(h_n, c_n[:, :1])
    with pytest.raises(ValueError, match=r"Bridge expects c_n \(2 \* num_layers, N, hidden_size\) of shape"):
        bridge(h_n, c_n[:2])
    with pytest.raises(TypeError, match=r"Bridge expects c_n of dtype float64"):
        bridge(h_n, c_n.astype(np.float32))
    c_n[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"Bridge got NaN or infinity in c_n"):
        bridge(h_n, c_n)
    assert not bridge._caches and not bridge.h_l0._caches  # refused before any work


def test_rejected_backward_keeps_the_forward_cache(rng):
    bridge = mr.nn.Bridge(H, L, True, dtype=F64)
    h_n, c_n = _states(rng)
    h, c = bridge(h_n, c_n)
    dh, dc = rng.standard_normal(h.shape), rng.standard_normal(c.shape)
    with pytest.raises(ValueError, match=rf"Bridge.backward expects dh \(num_layers, N, hidden_size\) of shape "
                                         rf"\({L}, {N}, {H}\), got \({L}, {N}, 1\)"):
        bridge.backward(dh[..., :1], dc)
    with pytest.raises(ValueError, match=r"Bridge.backward expects dc .* got \(1, "):
        bridge.backward(dh, dc[:1])
    with pytest.raises(TypeError, match=r"Bridge.backward expects dc of dtype float64 .*got float32"):
        bridge.backward(dh, dc.astype(np.float32))
    with pytest.raises(TypeError, match=r"Bridge.backward expects dh to be a numpy or cupy array, got tuple"):
        bridge.backward((dh, dc))
    dh_n, dc_n = bridge.backward(dh, dc)  # the corrected retry
    fresh = mr.nn.Bridge(H, L, True, dtype=F64)
    fresh.load_state_dict(bridge.state_dict())
    fresh(h_n, c_n)
    expected = fresh.backward(dh, dc)
    np.testing.assert_array_equal(dh_n, expected[0])
    np.testing.assert_array_equal(dc_n, expected[1])
    for name, p in bridge.named_parameters():
        np.testing.assert_array_equal(p.grad, dict(fresh.named_parameters())[name].grad)


def test_backward_of_a_gru_bridge_refuses_dc(rng):
    bridge = mr.nn.Bridge(H, L, False, dtype=F64)
    h, _ = bridge(_states(rng)[0])
    with pytest.raises(ValueError, match=r"Bridge.backward \(lstm=False\) takes no dc"):
        bridge.backward(np.ones_like(h), np.ones_like(h))
    dh_n, dc_n = bridge.backward(np.ones_like(h))
    assert dh_n.shape == (2 * L, N, H) and dc_n is None


def test_unused_state_gradients_may_be_none(rng):
    """dc None: c was not used (zeros); the caches of every map are still consumed."""
    bridge = mr.nn.Bridge(H, L, True, dtype=F64)
    h_n, c_n = _states(rng)
    h, c = bridge(h_n, c_n)
    dh = rng.standard_normal(h.shape)
    dh_n, dc_n = bridge.backward(dh, None)
    np.testing.assert_array_equal(dc_n, np.zeros_like(c_n))
    assert all(not m._caches for m in bridge.modules())
    with_zeros = mr.nn.Bridge(H, L, True, dtype=F64)
    with_zeros.load_state_dict(bridge.state_dict())
    with_zeros(h_n, c_n)
    np.testing.assert_array_equal(dh_n, with_zeros.backward(dh, np.zeros_like(c))[0])
