"""Models built from minirnn's layers: a sequence classifier and an attention seq2seq.

Models only glue layers together; the math and its derivatives live in ``nn`` and
``functional``. Decoding (greedy and beam search) is in ``models.decoding``.
"""

from .classifier import SequenceClassifier
from .decoding import beam_search, greedy_decode
from .seq2seq import Bridge, DecoderState, Encoded, Seq2Seq, select_state

__all__ = [
    "Bridge",
    "DecoderState",
    "Encoded",
    "Seq2Seq",
    "SequenceClassifier",
    "beam_search",
    "greedy_decode",
    "select_state",
]
