"""The one error a checkpoint that cannot be loaded raises."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A file that cannot be loaded as a minirnn checkpoint; the message names the file and says why."""
