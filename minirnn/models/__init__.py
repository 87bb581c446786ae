"""Models built from minirnn's layers: a sequence classifier and an attention seq2seq.

Models only glue layers together; the math and its derivatives live in ``nn`` and
``functional``. Decoding (greedy and beam search) is in ``models.decoding``.
"""

from ..nn.bridge import Bridge  # a layer, now in nn; still importable from here
from .classifier import SequenceClassifier
from .decoding import GreedyStep, beam_search, greedy_decode, greedy_steps
from .seq2seq import DecoderState, Encoded, Seq2Seq

__all__ = [
    "Bridge",
    "DecoderState",
    "Encoded",
    "GreedyStep",
    "Seq2Seq",
    "SequenceClassifier",
    "beam_search",
    "greedy_decode",
    "greedy_steps",
]
