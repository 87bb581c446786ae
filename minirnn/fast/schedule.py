"""The packed-batch schedule of one recurrent direction: who is active at each step.

The batch is sorted by length, longest first, once per call. Then the rows active at
step t are always a prefix ``[:n_t]`` of the sorted batch (``n_t`` = number of
sequences longer than t), in both directions, so each step's matmul and gate math run
on ``n_t`` contiguous rows and the work is proportional to ``sum(lengths)``, not N*T.

Per-step arrays (gates, tanh(c), ...) are stored *packed*, like PyTorch's
``PackedSequence``: step t owns rows ``offsets[t] : offsets[t] + n_t`` of an (R, .)
array, R = sum(lengths). States are stored in a dense (T+1, N, .) array of *slots*:

* forward direction: slot 0 holds the initial state, slot t+1 the state after step t;
* reverse direction: slot T holds the initial state, slot t the state after step t,
  and every sequence shorter than T also gets its initial state in slot
  ``lengths[n]``, where the reverse walk starts it.

So the previous state of the active rows is always the prefix of one slot: slot t
(forward) or t+1 (reverse). Without lengths the schedule is dense (n_t = N) and
packing is a reshape.

All index arrays are computed on the host once per call, then moved to the device.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backend import np


class Schedule(NamedTuple):
    steps: int  # T
    batch: int  # N
    reverse: bool
    order: tuple  # the time steps in the order they run
    batch_sizes: tuple  # n_t for t = 0 .. T-1 (host ints, non-increasing)
    offsets: tuple  # packed row of (t, 0); offsets[T] = R
    perm: object  # (N,) device: sorted position -> batch index; None when dense
    inv_perm: object  # (N,) device: batch index -> sorted position; None when dense
    pack_index: object  # (R,) device: row of x.reshape(T*N, .) for each packed row; None when dense
    state_index: object  # (R,) device: row of states.reshape((T+1)*N, .) holding each packed step's output
    prev_index: object  # (R,) device: row of states.reshape((T+1)*N, .) holding its previous state
    init_index: object  # (N,) device: where the initial state of each sorted row goes
    final_index: object  # (N,) device: where each *batch* row's final state is (sorted and un-permuted)

    @property
    def rows(self) -> int:
        return self.offsets[-1]

    @property
    def dense(self) -> bool:
        return self.perm is None

    def slot(self, t: int) -> int:
        """The state slot written by step t."""
        return t if self.reverse else t + 1

    def prev_slot(self, t: int) -> int:
        """The state slot read by step t."""
        return t + 1 if self.reverse else t

    def plan(self) -> list:
        """Per step, in the order the steps run: ``(n_t, packed rows, slot, prev_slot)``."""
        return [
            (n, slice(self.offsets[t], self.offsets[t] + n), self.slot(t), self.prev_slot(t))
            for t, n in ((t, self.batch_sizes[t]) for t in self.order)
        ]


def build_schedule(lengths, steps: int, batch: int, reverse: bool, xp) -> Schedule:
    """The schedule for ``lengths`` (host ints, or None: every sequence has T steps)."""
    order = tuple(range(steps - 1, -1, -1)) if reverse else tuple(range(steps))
    if lengths is None:
        sizes = (batch,) * steps
        offsets = tuple(t * batch for t in range(steps + 1))
        return Schedule(steps, batch, reverse, order, sizes, offsets, *(None,) * 7)
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    perm = np.argsort(-lengths, kind="stable")
    inv_perm = np.argsort(perm, kind="stable")
    sorted_lengths = lengths[perm]
    active = np.arange(steps)[:, None] < sorted_lengths[None, :]  # (T, N), each row a prefix
    sizes = tuple(int(s) for s in active.sum(axis=1))
    offsets = (0,) + tuple(int(o) for o in np.cumsum(sizes))
    time_of, row_of = np.nonzero(active)  # row-major: packed order (t, then sorted row)
    slot_of = time_of if reverse else time_of + 1
    prev_of = time_of + 1 if reverse else time_of
    positions = np.arange(batch)
    init_slots = sorted_lengths if reverse else np.zeros(batch, dtype=np.int64)
    final_slots = np.zeros(batch, dtype=np.int64) if reverse else sorted_lengths
    final_sorted = final_slots * batch + positions
    indices = (
        perm,
        inv_perm,
        time_of * batch + perm[row_of],
        slot_of * batch + row_of,
        prev_of * batch + row_of,
        init_slots * batch + positions,
        final_sorted[inv_perm],
    )
    return Schedule(steps, batch, reverse, order, sizes, offsets, *(xp.asarray(i) for i in indices))


def pack(a, schedule: Schedule):
    """(T, N, F) time-major array -> (R, F) packed rows (a reshape when dense)."""
    flat = a.reshape(schedule.steps * schedule.batch, a.shape[2])
    if schedule.dense:
        return flat if flat.flags.c_contiguous else flat.copy()
    return flat[schedule.pack_index]


def unpack(packed, schedule: Schedule, xp):
    """(R, F) packed rows -> (T, N, F) time-major array, zero at padded steps."""
    steps, batch = schedule.steps, schedule.batch
    if schedule.dense:
        return packed.reshape(steps, batch, packed.shape[1])
    out = xp.zeros((steps * batch, packed.shape[1]), dtype=packed.dtype)
    out[schedule.pack_index] = packed
    return out.reshape(steps, batch, packed.shape[1])


def new_states(initial, schedule: Schedule, workspace):
    """A (T+1, N, F) slot array holding ``initial`` (N, F) where each sorted row starts
    (taken from ``workspace``, see ``workspace.py``)."""
    steps, batch = schedule.steps, schedule.batch
    states = workspace.take((steps + 1, batch, initial.shape[1]), initial.dtype)
    if schedule.dense:
        states[steps if schedule.reverse else 0] = initial
    else:
        states.reshape(-1, initial.shape[1])[schedule.init_index] = initial[schedule.perm]
    return states


def step_outputs(states, schedule: Schedule, xp):
    """(T, N, F) outputs of every step in batch order, zero at padded steps."""
    steps, batch, width = schedule.steps, schedule.batch, states.shape[2]
    if schedule.dense:
        return (states[:steps] if schedule.reverse else states[1:]).copy()
    out = xp.zeros((steps * batch, width), dtype=states.dtype)
    out[schedule.pack_index] = states.reshape(-1, width)[schedule.state_index]
    return out.reshape(steps, batch, width)


def previous_states(states, schedule: Schedule):
    """(R, F) packed: the state each packed step read (for dW_hh = dG^T H_prev)."""
    steps, width = schedule.steps, states.shape[2]
    if schedule.dense:
        prev = states[1:] if schedule.reverse else states[:steps]
        return prev.reshape(-1, width)
    return states.reshape(-1, width)[schedule.prev_index]


def final_state(states, schedule: Schedule):
    """(N, F) in batch order: each sequence's state after its last real step."""
    if schedule.dense:
        return states[0 if schedule.reverse else schedule.steps].copy()
    return states.reshape(-1, states.shape[2])[schedule.final_index]


def sort_batch(a, schedule: Schedule):
    """(N, F) batch-order array -> a fresh contiguous copy in sorted order."""
    return a.copy() if schedule.dense else a[schedule.perm]


def unsort_batch(a, schedule: Schedule):
    """(N, F) sorted-order array -> batch order."""
    return a if schedule.dense else a[schedule.inv_perm]
