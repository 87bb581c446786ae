"""Linear, Embedding and Dropout layers (the math lives in ``functional.linear``)."""

from __future__ import annotations

import math

from ..backend import bernoulli_keep_mask, normal, resolve_dtype, uniform
from ..checks import check_finite, check_float, check_ids, check_last_dim
from ..functional import linear as F
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b over any leading axes, like ``torch.nn.Linear``.

    Parameters ``weight`` (out_features, in_features) and ``bias`` (out_features,),
    both initialised U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = resolve_dtype(dtype)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
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
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding padding_idx must be in [-{num_embeddings}, {num_embeddings - 1}], got {padding_idx}"
                )
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


class Dropout(Module):
    """Inverted dropout with drop probability ``p`` in train mode; identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._save(None)
            return x
        if self.p == 1.0:
            self._save(F.DropoutCache(x * 0))
            return x * 0
        keep = bernoulli_keep_mask(x.shape, 1.0 - self.p, x.dtype, like=x)
        y, cache = F.dropout_forward(x, self.p, keep)
        self._save(cache)
        return y

    def backward(self, dy):
        cache = self._restore()
        return dy if cache is None else F.dropout_backward(dy, cache)

    def extra_repr(self) -> str:
        return f"p={self.p}"
