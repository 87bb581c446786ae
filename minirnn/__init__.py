"""minirnn: an autograd-free recurrent-network engine in NumPy/CuPy.

Every derivative is written by hand next to its forward pass and checked against
finite differences and PyTorch. Read the math in this order: ``functional/cells.py``
(one step), ``functional/recurrent.py`` (BPTT over padded batches), then the layers
in ``nn/``.
"""

from . import backend, data, functional, interop, io, models, nn, optim, train, viz
from .backend import get_default_dtype, manual_seed, set_backend, set_default_dtype, to_device, to_numpy
from .gradcheck import GradcheckReport, check_gradients, gradcheck
from .gradflow import GradientFlow, gradient_flow, trace_gradient_flow
from .interop import from_torch, to_torch, to_torch_state_dict
from .io import load_checkpoint, register_model, save_checkpoint
from .nn import (
    GRU,
    LSTM,
    RNN,
    AttentionMemory,
    BahdanauAttention,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    GRUCell,
    Linear,
    LSTMCell,
    LuongAttention,
    Module,
    Parameter,
    RNNCell,
    inference_mode,
    no_grad,
)
from .train import fit

__version__ = "0.1.0"

__all__ = [
    "AttentionMemory",
    "BahdanauAttention",
    "CrossEntropyLoss",
    "LuongAttention",
    "GRU",
    "LSTM",
    "RNN",
    "Dropout",
    "Embedding",
    "GRUCell",
    "GradcheckReport",
    "GradientFlow",
    "LSTMCell",
    "Linear",
    "Module",
    "Parameter",
    "RNNCell",
    "backend",
    "data",
    "check_gradients",
    "fit",
    "from_torch",
    "interop",
    "io",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
    "to_torch",
    "to_torch_state_dict",
    "trace_gradient_flow",
    "train",
    "viz",
    "functional",
    "get_default_dtype",
    "gradcheck",
    "inference_mode",
    "gradient_flow",
    "manual_seed",
    "models",
    "nn",
    "no_grad",
    "optim",
    "set_backend",
    "set_default_dtype",
    "to_device",
    "to_numpy",
]
