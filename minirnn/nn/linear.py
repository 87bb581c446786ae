"""Linear, Embedding and Dropout layers (the math lives in ``functional.linear``)."""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import normal, resolve_dtype, uniform
from ..checks import (
    check_array,
    check_finite,
    check_float,
    check_ids,
    check_int,
    check_last_dim,
    check_positive_int,
    check_probability,
    check_shape,
)
from ..functional import linear as F
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b over any leading axes, like ``torch.nn.Linear``.

    Parameters ``weight`` (out_features, in_features) and ``bias`` (out_features,),
    both initialised U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        in_features = check_positive_int(in_features, "Linear", "in_features")
        out_features = check_positive_int(out_features, "Linear", "out_features")
        self.in_features, self.out_features = in_features, out_features
        dtype = resolve_dtype(dtype)
        # PyTorch's kaiming_uniform_(a=sqrt(5)) for the weight: gain sqrt(2 / (1 + 5)) times
        # sqrt(3 / in_features) is 1/sqrt(in_features), the bias's bound too.
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(uniform((out_features, in_features), bound, dtype))
        self.register_parameter("bias", Parameter(uniform((out_features,), bound, dtype)) if bias else None)

    def forward(self, x):
        """x (..., in_features) -> y (..., out_features)."""
        check_float(x, self.weight.dtype, "Linear")
        check_last_dim(x, self.in_features, "Linear")
        check_finite(x, "Linear")
        y, cache = F.affine_forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        self._save(cache)
        return y

    def backward(self, dy):
        """dy (..., out_features) -> dx (..., in_features); accumulates weight/bias grads."""
        cache = self._peek()
        check_float(dy, self.weight.dtype, "Linear.backward", "dy")
        check_last_dim(dy, self.out_features, "Linear.backward", "output features in dy")
        self._restore()
        dx, dweight, dbias = F.affine_backward(dy, cache)
        self.weight.accumulate(dweight)
        if self.bias is not None:
            self.bias.accumulate(dbias)
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table ``weight`` (num_embeddings, embedding_dim), like ``torch.nn.Embedding``.

    Initialised N(0, 1) as in PyTorch; the ``padding_idx`` row starts at zero and
    never receives a gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, dtype=None):
        super().__init__()
        num_embeddings = check_positive_int(num_embeddings, "Embedding", "num_embeddings")
        embedding_dim = check_positive_int(embedding_dim, "Embedding", "embedding_dim")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:  # negative counts from the end, as in PyTorch
            padding_idx = check_int(padding_idx, "Embedding", "padding_idx", -num_embeddings, num_embeddings - 1)
            padding_idx = padding_idx % num_embeddings
        self.padding_idx = padding_idx
        weight = normal((num_embeddings, embedding_dim), 1.0, dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, ids):
        """ids (...) ints in [0, num_embeddings) -> vectors (..., embedding_dim)."""
        check_ids(ids, self.num_embeddings, "Embedding", "ids")
        y, cache = F.embedding_forward(ids, self.weight.data, self.padding_idx)
        self._save(cache)
        return y

    def backward(self, dy):
        """Accumulates the table's gradient; returns None (ids have no gradient)."""
        cache = self._peek()
        check_float(dy, self.weight.dtype, "Embedding.backward", "dy")
        check_last_dim(dy, self.embedding_dim, "Embedding.backward", "features in dy")
        self._restore()
        self.weight.accumulate(F.embedding_backward(dy, cache))
        return None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class _DropoutLayerCache(NamedTuple):
    shape: tuple  # x's shape, which dy must have
    dtype: object  # x's dtype, which dy must have
    drop: object  # the functional DropoutCache, or None when the layer passed x through


class Dropout(Module):
    """Inverted dropout with drop probability ``p`` in train mode; identity in eval mode.

    y = x * m / (1 - p) with m ~ Bernoulli(1 - p) elementwise, so E[y] = x; p = 1
    gives y = 0 exactly. The math is ``functional.linear.dropout_forward``, the same
    function the recurrent layers use between layers.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = check_probability(p, "Dropout", "p")

    def forward(self, x):
        """x (any shape, floating) -> y (x's shape)."""
        check_array(x, "Dropout")
        if x.dtype.kind != "f":
            raise TypeError(f"Dropout expects a floating input, got dtype {x.dtype}")
        drop = None
        if self.training and self.p > 0:
            x, drop = F.dropout_forward(x, self.p)
        self._save(_DropoutLayerCache(tuple(x.shape), x.dtype, drop))
        return x

    def backward(self, dy):
        """dy (the forward's shape) -> dx = dy * m / (1 - p) (dy itself in eval mode)."""
        cache = self._peek()  # popped once dy passes its checks
        check_float(dy, cache.dtype, "Dropout.backward", "dy", source="the dtype of the forward's input")
        check_shape(dy, cache.shape, "Dropout.backward", "dy")
        self._restore()
        return dy if cache.drop is None else F.dropout_backward(dy, cache.drop)

    def extra_repr(self) -> str:
        return f"p={self.p}"
