"""Checkpoints: one ``.npz`` file, NumPy arrays plus JSON metadata, never pickle, never code.

Layout of a checkpoint file (a plain zip archive written by ``numpy.savez``):

==================  =====================================================================
``__minirnn__``     uint8 array: the UTF-8 bytes of the JSON metadata (below)
``param/<name>``    every model parameter, by its PyTorch-style name
``optim/<key>``     every array of the optimiser's state (moments, step buffers)
==================  =====================================================================

The JSON metadata holds::

    {"format": "minirnn-checkpoint", "version": 1,
     "model": {"class": "minirnn.models.seq2seq.Seq2Seq", "config": {...}},
     "vocabs": {"src": <Vocab.to_dict()>, "tgt": ...},
     "optimizer": {"class": "Adam", "state": {"meta": {...}, "array_keys": [...]}},
     "epoch": 12, "history": {...}, "rng": {...}, "extra": {...}}

Keeping the metadata inside the archive means a checkpoint is one file that can be
copied, renamed or deleted as a unit. A save writes to a temporary file in the same
directory and ``os.replace``s it over the target, so a crash mid-save leaves either
the old checkpoint or the new one, never half of one.

A checkpoint is data. Loading one never unpickles, never imports a module the file
names, and calls exactly one constructor: that of the registered model class the
file names (``registry``), with a config whose parameter shapes were first compared
with the stored arrays, without allocating them (``checkpoint``). Every other field
is checked for type and value (``fields``), and the archive's sizes are checked
before anything is decompressed (``archive``).
"""

from .archive import MAX_EXPANSION, MAX_META_BYTES
from .checkpoint import FORMAT_NAME, FORMAT_VERSION, Checkpoint, load_checkpoint, model_config, save_checkpoint
from .errors import CheckpointError
from .registry import register_model, registered_models

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_EXPANSION",
    "MAX_META_BYTES",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "model_config",
    "register_model",
    "registered_models",
    "save_checkpoint",
]
