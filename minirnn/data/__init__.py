"""The data layer: text -> tokens -> ids -> padded batches, and built-in datasets.

Host-side only: everything here produces NumPy int64 arrays; move a batch to the GPU
with ``minirnn.to_device``. Nothing is downloaded.

    tokens = tokenize("I am happy")                 # ["i", "am", "happy"]
    vocab = Vocab.build([tokens])
    ids = vocab.encode(tokens)                      # [4, 5, 6]
    padded, lengths = pad_sequences([ids, ids[:2]]) # (2, 3) int64, [3, 2]
    vocab.decode(ids)                               # ["i", "am", "happy"]
"""

from . import datasets
from .batching import BucketIterator, ClassificationBatch, Seq2SeqBatch, batches, make_mask, pad_sequences
from .columns import ColumnLayout
from .datasets import date_pairs, dna_motif, name_origins, translation_pairs
from .errors import BadLine, DataFormatError
from .loaders import Records, load_labeled_text, load_parallel_tsv
from .pipeline import (
    ClassificationData,
    Seq2SeqData,
    SourceGroup,
    group_references,
    prepare_classification,
    prepare_seq2seq,
    split_by_source,
    train_val_split,
)
from .tokenizer import DEFAULT_SPACING, Spacing, detokenize, tokenize
from .vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab, encode_labels

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "BadLine",
    "BucketIterator",
    "DEFAULT_SPACING",
    "ClassificationBatch",
    "ClassificationData",
    "ColumnLayout",
    "DataFormatError",
    "Records",
    "Seq2SeqBatch",
    "Seq2SeqData",
    "SourceGroup",
    "Spacing",
    "Vocab",
    "batches",
    "datasets",
    "date_pairs",
    "detokenize",
    "dna_motif",
    "encode_labels",
    "group_references",
    "load_labeled_text",
    "load_parallel_tsv",
    "make_mask",
    "name_origins",
    "pad_sequences",
    "prepare_classification",
    "prepare_seq2seq",
    "split_by_source",
    "tokenize",
    "train_val_split",
    "translation_pairs",
]
