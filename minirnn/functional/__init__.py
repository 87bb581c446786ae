"""Pure math: every forward returns ``(out, cache)`` and its backward sits below it."""

from .activations import (
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from .attention import (
    bahdanau_attention_backward,
    bahdanau_attention_forward,
    luong_attention_backward,
    luong_attention_forward,
    masked_softmax,
)
from .cells import (
    gru_cell_backward,
    gru_cell_forward,
    lstm_cell_backward,
    lstm_cell_forward,
    rnn_cell_backward,
    rnn_cell_forward,
)
from .linear import (
    affine_backward,
    affine_forward,
    dropout_backward,
    dropout_forward,
    embedding_backward,
    embedding_forward,
)
from .loss import cross_entropy_backward, cross_entropy_forward
from .recurrent import recurrent_backward, recurrent_forward

__all__ = [
    "affine_backward",
    "affine_forward",
    "bahdanau_attention_backward",
    "bahdanau_attention_forward",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "dropout_backward",
    "dropout_forward",
    "embedding_backward",
    "embedding_forward",
    "gru_cell_backward",
    "gru_cell_forward",
    "log_softmax",
    "log_softmax_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "luong_attention_backward",
    "luong_attention_forward",
    "masked_softmax",
    "recurrent_backward",
    "recurrent_forward",
    "relu",
    "relu_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]
