"""Layers that hold parameters and caches; all math is delegated to ``functional``."""

from .cells import GRUCell, LSTMCell, RNNCell
from .linear import Dropout, Embedding, Linear
from .module import Module, Parameter, is_grad_enabled, no_grad
from .rnn import GRU, LSTM, RNN, RNNBase

__all__ = [
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
    "is_grad_enabled",
    "no_grad",
]
