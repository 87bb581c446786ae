"""Numerically stable activations, each with its derivative written from its output.

Notation: ``y = f(a)``; a backward takes the upstream gradient ``dy`` and the saved
output ``y`` (never the input), because every derivative here can be written from
the output alone: sigmoid' = y (1 - y), tanh' = 1 - y^2, relu' = [y > 0].
"""

from __future__ import annotations

from ..backend import get_array_module


def sigmoid(a):
    """sigma(a) = 1 / (1 + exp(-a)), in the two-branch form, with e = exp(-|a|) in (0, 1]:

        sigma(a) = 1 / (1 + e)      for a >= 0
        sigma(a) = e / (1 + e)      for a < 0

    exp never overflows (its argument is <= 0), so any finite a of any float dtype gives
    a value in [0, 1]. Both branches keep the relative precision of the dtype (a few
    ulps) wherever sigma(a) is a normal number: down to a ~ -87 in float32 and -708 in
    float64; below that it underflows gradually to 0. The one-call form
    0.5 * tanh(a / 2) + 0.5 loses the left tail to cancellation (it gives 0 for
    sigma(-20) in float32, whose true value is 2.1e-9). The fast path keeps its own
    form (``minirnn.fast``), tested equal to this one.
    """
    xp = get_array_module(a)
    e = xp.exp(-xp.abs(a))  # exp(-|a|): never overflows
    return xp.where(a >= 0, 1, e) / (1 + e)  # a < 0: e / (1 + e), without the cancellation of 1 - 1/(1 + e)


def sigmoid_backward(dy, y):
    """da = dy * y * (1 - y)."""
    return dy * y * (1 - y)


def tanh(a):
    """tanh(a); numpy's tanh is already stable for any |a|."""
    return get_array_module(a).tanh(a)


def tanh_backward(dy, y):
    """da = dy * (1 - y^2)."""
    return dy * (1 - y * y)


def relu(a):
    """max(a, 0)."""
    return get_array_module(a).maximum(a, 0)


def relu_backward(dy, y):
    """da = dy * [y > 0] (the subgradient at 0 is taken as 0, as in PyTorch)."""
    return dy * (y > 0)


def log_softmax(a, axis: int = -1):
    """log softmax(a) = a - m - log(sum(exp(a - m))), with m = max(a) (log-sum-exp).

    Subtracting the row maximum keeps exp() in (0, 1], so logits of +-1e4 give
    finite results.
    """
    xp = get_array_module(a)
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_backward(dy, y, axis: int = -1):
    """With y = log softmax(a): da = dy - softmax(a) * sum(dy) = dy - exp(y) * sum(dy)."""
    xp = get_array_module(y)
    return dy - xp.exp(y) * dy.sum(axis=axis, keepdims=True)


def softmax(a, axis: int = -1):
    """softmax(a) = exp(a - m) / sum(exp(a - m)), with m = max(a)."""
    xp = get_array_module(a)
    e = xp.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dy, y, axis: int = -1):
    """With y = softmax(a): da = y * (dy - sum(dy * y))."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


ACTIVATIONS = {
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
}
