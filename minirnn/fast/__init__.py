"""Fast paths, tested equal to the readable reference in ``minirnn.functional``.

* ``recurrent``: one direction of an RNN/LSTM/GRU layer over a (packed) batch, with
  the input projection hoisted into one GEMM, one ``h @ W_hh^T`` per step into a
  preallocated buffer, in-place gate math, and the weight gradients as one GEMM each
  after the backward loop. Same signatures as ``functional.recurrent``.
* ``cuda_kernels``: fused CuPy elementwise kernels for each cell's pointwise forward
  and backward step, imported only when CuPy arrays come in.

The layers in ``minirnn.nn.rnn`` pick this path with ``impl="fast"``.
"""

from . import recurrent

__all__ = ["recurrent"]
