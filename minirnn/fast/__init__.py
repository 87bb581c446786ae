"""Fast paths, tested equal to the readable reference in ``minirnn.functional``.

* ``recurrent``: one direction of an RNN/LSTM/GRU layer over a (packed) batch, with
  the weights laid out once per call (reordered, pre-scaled, transposed and
  contiguous), the input projection hoisted into one GEMM, one ``h @ W_hh^T`` per
  step, and the weight gradients as one GEMM each after the backward loop. Same
  signatures as ``functional.recurrent``.
* ``pointwise``: the gate math of one step, written once as plain array expressions;
  NumPy runs the functions as they are, CuPy runs the same functions through
  ``cupy.fuse`` (one kernel per step). There is no CUDA C source.
* ``schedule``: which rows of a packed batch are active at each step.
* ``compiled``: the same step functions as one compiled loop each (numba, the
  optional ``jit`` extra; ``set_kernels("numba")``), generated from their source.
* ``threads``: BLAS threads of the per-step GEMMs, chosen per shape by measurement.
* ``workspace``: the large scratch arrays of the loop, kept between calls so that a
  training step does not fault in fresh pages; ``empty_cache()`` releases them.

The layers in ``minirnn.nn.rnn`` pick this path with ``impl="fast"`` (the default).
"""

from . import recurrent
from .compiled import kernels, set_kernels
from .workspace import empty_cache

__all__ = ["recurrent", "empty_cache", "kernels", "set_kernels"]
