"""Optimisers, gradient clipping and learning-rate schedules that follow ``torch.optim`` step for step.

Every update happens in place on ``Parameter.data`` with ``xp = get_array_module(p.data)``,
so the same code runs on NumPy and CuPy. State dicts hold no pickled objects: a JSON-able
``meta`` dict and a flat dict of NumPy ``arrays`` (format in ``optimizer.py``).
"""

from .adam import Adam, AdamW
from .clip import clip_grad_norm, clip_grad_norm_
from .lr_scheduler import ExponentialLR, LRScheduler, StepLR
from .optimizer import STATE_DICT_FORMAT, Optimizer
from .sgd import SGD

__all__ = [
    "SGD",
    "STATE_DICT_FORMAT",
    "Adam",
    "AdamW",
    "ExponentialLR",
    "LRScheduler",
    "Optimizer",
    "StepLR",
    "clip_grad_norm",
    "clip_grad_norm_",
]
