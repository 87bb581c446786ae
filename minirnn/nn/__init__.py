"""Layers that hold parameters and caches; all math is delegated to ``functional``."""

from .attention import AttentionMemory, BahdanauAttention, LuongAttention
from .bridge import Bridge
from .cells import GRUCell, LSTMCell, RNNCell
from .linear import Dropout, Embedding, Linear
from .loss import CrossEntropyLoss
from .module import Module, Parameter, inference_mode, is_grad_enabled, no_grad
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = [
    "AttentionMemory",
    "BahdanauAttention",
    "Bridge",
    "CrossEntropyLoss",
    "LuongAttention",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNBase",
    "RNNCell",
    "Dropout",
    "Embedding",
    "Linear",
    "Module",
    "Parameter",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
]
