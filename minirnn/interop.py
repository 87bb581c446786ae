"""Move weights between minirnn and PyTorch, in both directions.

minirnn uses PyTorch's parameter names, shapes and gate layouts, so moving weights
is a copy, not a conversion. This module adds the bookkeeping around that copy:

* ``from_torch(module)`` builds the matching minirnn layer (same constructor
  options, same dtype) and copies the weights in.
* ``to_torch_state_dict(model)`` returns ``{name: torch.Tensor}`` for any minirnn
  module; ``torch_module.load_state_dict(...)`` accepts it when the torch module
  has the same structure (every layer below, and any model built from them with
  the same attribute names).
* ``to_torch(layer)`` builds the equivalent ``torch.nn`` layer with the weights.

It is the way out for users who outgrow one machine: train or prototype here, then
take the weights to PyTorch and its distributed training (or bring a torch model
in to inspect its gradients by hand).

PyTorch is imported inside the functions only, so ``import minirnn`` never needs it.
"""

from __future__ import annotations

from .backend import np, to_numpy
from .nn import GRU, LSTM, RNN, Embedding, GRUCell, Linear, LSTMCell, Module, RNNCell

SUPPORTED = ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Linear", "Embedding")


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise ImportError("minirnn.interop needs PyTorch: pip install torch") from err
    return torch


def _dtype_name(torch_module) -> str:
    params = list(torch_module.parameters())
    if not params:
        return "float32"
    name = str(params[0].dtype).replace("torch.", "")
    if name not in ("float16", "float32", "float64"):
        raise TypeError(f"from_torch supports float16/float32/float64 weights, got {name}")
    return name


def _config_from_torch(module) -> tuple[type, dict]:
    """The minirnn class and constructor arguments that match a torch.nn layer."""
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module (one of torch.nn.{', torch.nn.'.join(SUPPORTED)}), "
                        f"got {type(module).__name__}")
    dtype = _dtype_name(module)
    if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
        config = dict(
            input_size=module.input_size,
            hidden_size=module.hidden_size,
            num_layers=module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=float(module.dropout),
            bidirectional=module.bidirectional,
            dtype=dtype,
        )
        if isinstance(module, nn.LSTM):
            return LSTM, dict(config, proj_size=module.proj_size)
        if isinstance(module, nn.GRU):
            return GRU, config
        return RNN, dict(config, nonlinearity=module.nonlinearity)
    if isinstance(module, (nn.LSTMCell, nn.GRUCell, nn.RNNCell)):
        config = dict(input_size=module.input_size, hidden_size=module.hidden_size, bias=module.bias, dtype=dtype)
        if isinstance(module, nn.LSTMCell):
            return LSTMCell, config
        if isinstance(module, nn.GRUCell):
            return GRUCell, config
        return RNNCell, dict(config, nonlinearity=module.nonlinearity)
    if isinstance(module, nn.Linear):
        return Linear, dict(
            in_features=module.in_features, out_features=module.out_features, bias=module.bias is not None, dtype=dtype
        )
    if isinstance(module, nn.Embedding):
        unsupported = {
            "max_norm": module.max_norm is not None,
            "scale_grad_by_freq": module.scale_grad_by_freq,
            "sparse": module.sparse,
        }
        used = [name for name, on in unsupported.items() if on]
        if used:
            raise ValueError(f"from_torch: minirnn's Embedding does not support {', '.join(used)}")
        return Embedding, dict(
            num_embeddings=module.num_embeddings,
            embedding_dim=module.embedding_dim,
            padding_idx=module.padding_idx,
            dtype=dtype,
        )
    raise TypeError(
        f"from_torch supports torch.nn.{', torch.nn.'.join(SUPPORTED)}; got {type(module).__module__}."
        f"{type(module).__name__}"
    )


def from_torch(module) -> Module:
    """A minirnn layer equal to the ``torch.nn`` layer ``module``, weights copied.

    Every constructor option carries over (layers, directions, ``batch_first``,
    ``proj_size``, ``nonlinearity``, ``bias``, ``padding_idx``, dropout) and the dtype
    follows the torch weights. The new layer lives on the current backend.
    """
    cls, config = _config_from_torch(module)
    layer = cls(**config)
    state = {name: t.detach().cpu().numpy() for name, t in module.state_dict().items()}
    layer.load_state_dict(state)
    return layer


def to_torch_state_dict(model: Module) -> dict:
    """``{name: torch.Tensor}`` (CPU, same dtype) for every parameter of ``model``.

    The names are PyTorch's, so ``torch_module.load_state_dict(to_torch_state_dict(m))``
    loads a minirnn layer's weights into the equivalent torch layer.
    """
    torch = _torch()
    if not isinstance(model, Module):
        raise TypeError(f"to_torch_state_dict expects a minirnn Module, got {type(model).__name__}")
    return {name: torch.from_numpy(np.ascontiguousarray(to_numpy(p.data)).copy())
            for name, p in model.named_parameters()}


def to_torch(layer: Module):
    """The ``torch.nn`` layer equivalent to a minirnn layer, with its weights loaded."""
    torch = _torch()
    nn = torch.nn
    if not isinstance(layer, Module):
        raise TypeError(f"to_torch expects a minirnn layer, got {type(layer).__name__}")
    dtype = getattr(torch, str(layer.dtype)) if layer.dtype is not None else torch.float32
    if isinstance(layer, (LSTM, GRU, RNN)):
        common = dict(
            input_size=layer.input_size,
            hidden_size=layer.hidden_size,
            num_layers=layer.num_layers,
            bias=layer.bias,
            batch_first=layer.batch_first,
            dropout=layer.dropout,
            bidirectional=layer.bidirectional,
            dtype=dtype,
        )
        if isinstance(layer, LSTM):
            out = nn.LSTM(proj_size=layer.proj_size, **common)
        elif isinstance(layer, GRU):
            out = nn.GRU(**common)
        else:
            out = nn.RNN(nonlinearity=layer.nonlinearity, **common)
    elif isinstance(layer, (LSTMCell, GRUCell, RNNCell)):
        common = dict(input_size=layer.input_size, hidden_size=layer.hidden_size, bias=layer.bias, dtype=dtype)
        if isinstance(layer, LSTMCell):
            out = nn.LSTMCell(**common)
        elif isinstance(layer, GRUCell):
            out = nn.GRUCell(**common)
        else:
            out = nn.RNNCell(nonlinearity=layer.nonlinearity, **common)
    elif isinstance(layer, Linear):
        out = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=dtype)
    elif isinstance(layer, Embedding):
        out = nn.Embedding(layer.num_embeddings, layer.embedding_dim, padding_idx=layer.padding_idx, dtype=dtype)
    else:
        raise TypeError(
            f"to_torch supports minirnn {', '.join(SUPPORTED)}; got {type(layer).__name__} "
            "(for a whole model, build its torch twin and load to_torch_state_dict(model))"
        )
    out.load_state_dict(to_torch_state_dict(layer))
    return out


__all__ = ["from_torch", "to_torch", "to_torch_state_dict"]
