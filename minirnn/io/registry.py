"""The model classes a checkpoint may name, and the only constructors loading ever calls.

A checkpoint stores the name of its model's class as a string. Loading looks that
string up here, by exact match, and refuses anything not registered, before calling
anything: a file cannot make minirnn import a module or call a function of its
choosing. minirnn registers its own layers and models below; a user registers a
class of their own with the decorator::

    @minirnn.register_model
    class MyTagger(minirnn.Module):
        def __init__(self, vocab_size: int, hidden_size: int = 64, dtype=None): ...

The name defaults to ``"<module>.<QualName>"`` (``"mypackage.tagger.MyTagger"``);
``register_model(name="tagger")`` picks another. ``vocab_sizes`` maps a vocabulary
of the checkpoint to the config field its size must equal, e.g.
``{"src": "vocab_size"}``; loading checks it.
"""

from __future__ import annotations

from typing import NamedTuple

from ..nn import Module
from .errors import CheckpointError


class ModelEntry(NamedTuple):
    """One registered class: the name checkpoints store, the class, and its vocabulary checks."""

    name: str
    cls: type
    vocab_sizes: dict


_BY_NAME: dict[str, ModelEntry] = {}
_BY_CLASS: dict[type, ModelEntry] = {}


def register_model(cls=None, *, name: str | None = None, vocab_sizes: dict | None = None, replace: bool = False):
    """Allow checkpoints to name ``cls`` (a ``Module`` subclass); usable as ``@register_model``.

    ``name`` is what checkpoints store (default ``"<module>.<QualName>"``). A name
    already bound to another class is an error unless ``replace=True``. Registering
    the same class again with the same name changes nothing. Returns ``cls``.
    """
    if cls is None:  # @register_model(name=...)
        return lambda c: register_model(c, name=name, vocab_sizes=vocab_sizes, replace=replace)
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise TypeError(f"register_model expects a subclass of minirnn.Module, got {cls!r}")
    name = f"{cls.__module__}.{cls.__qualname__}" if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_model expects name to be a non-empty str, got {name!r}")
    vocab_sizes = dict(vocab_sizes or {})
    for vocab, field in vocab_sizes.items():
        if not (isinstance(vocab, str) and isinstance(field, str)):
            raise TypeError(f"register_model expects vocab_sizes to map str to str, got {vocab!r}: {field!r}")
    known = _BY_NAME.get(name)
    if known is not None and known.cls is not cls and not replace:
        raise ValueError(f"the model name {name!r} is already registered for {known.cls.__qualname__}; "
                         "pass replace=True to rebind it, or register under another name")
    entry = ModelEntry(name, cls, vocab_sizes)
    _BY_NAME[name] = entry
    _BY_CLASS.setdefault(cls, entry)  # the first name is the one checkpoints are written with
    return cls


def registered_models() -> dict[str, type]:
    """Every name a checkpoint may use, and the class it builds."""
    return {name: entry.cls for name, entry in _BY_NAME.items()}


def entry_for_class(cls) -> ModelEntry:
    """The registration of ``cls``; saving a model of an unregistered class is refused."""
    entry = _BY_CLASS.get(cls)
    if entry is None:
        raise TypeError(
            f"save_checkpoint: {cls.__qualname__} is not a registered model class, so a checkpoint of it could "
            f"not be loaded; decorate it with @minirnn.register_model"
        )
    return entry


def entry_for_name(name, where: str) -> ModelEntry:
    """The registration a checkpoint's class name refers to (exact match), or a CheckpointError."""
    if not isinstance(name, str):
        raise CheckpointError(f"{where}: the model class must be named by a string, got {type(name).__name__}")
    entry = _BY_NAME.get(name)
    if entry is None or not issubclass(entry.cls, Module):
        raise CheckpointError(
            f"{where}: refusing the model class {name[:200]!r}: it is not a registered model class "
            "(loading only calls the constructors of classes registered with minirnn.register_model)"
        )
    return entry


def _register_builtins() -> None:
    """minirnn's own layers and models: every Module with parameters that one might save alone."""
    from .. import models, nn

    for layer in (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.GRUCell, nn.LSTMCell, nn.Linear, nn.Embedding,
                  nn.BahdanauAttention, nn.LuongAttention, nn.Bridge):
        register_model(layer)
    register_model(nn.Bridge, name="minirnn.models.seq2seq.Bridge")  # where it lived until issue 8 moved it
    register_model(models.SequenceClassifier, vocab_sizes={"src": "vocab_size"})
    register_model(models.Seq2Seq, vocab_sizes={"src": "src_vocab_size", "tgt": "tgt_vocab_size"})


_register_builtins()
