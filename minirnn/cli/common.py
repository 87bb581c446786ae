"""What every command shares: the user-error type, printing, devices, checkpoints, text in and out."""

from __future__ import annotations

import os
import sys

from .options import (  # noqa: F401  (re-exported: every command module imports them from here)
    Parser,
    UserError,
    add_common_options,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# The rank of this process in a distributed run (--distributed under mpirun): only rank 0
# prints and creates folders; the other ranks train silently.
_rank = 0


def _set_rank(rank: int) -> None:
    global _rank
    _rank = rank


def say(text: str = "") -> None:
    """Print one line of the command's output (the CLI is the only layer that prints).

    When the reader of stdout has gone (``train ... | head``), stdout is pointed at
    os.devnull, as Python's documentation on SIGPIPE recommends, and the command goes on:
    a training run finishes and writes its checkpoints although nobody reads its table.
    """
    if _rank == 0:
        try:
            print(text, flush=True)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the buffered rest (and Python's exit flush) goes nowhere
            os.close(devnull)


def note(text: str) -> None:
    """Print a remark on stderr, so that stdout stays the command's result."""
    if _rank == 0:
        print(text, file=sys.stderr, flush=True)


# =========================================================================== devices and threads


def limit_blas_threads(count: int = 1) -> bool:
    """Cap the BLAS thread pool of the loaded NumPy at ``count`` threads; True when it worked.

    The recurrent matrices are small (a (64, 128) @ (128, 384) product per step), and
    for them OpenBLAS's threads cost more than they save, and on a busy machine a
    threaded epoch can be many times slower than a single-threaded one. Environment
    variables (OPENBLAS_NUM_THREADS, ...) cannot help once NumPy is loaded, so this
    uses threadpoolctl, which finds the loaded BLAS and sets its pool size. A thread
    count set by the user in the environment is left alone.
    """
    if any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return False
    from threadpoolctl import threadpool_limits

    # The limit object restores the old size when it is closed; the CLI keeps it for
    # the life of the process, so it is deliberately not closed.
    limits = threadpool_limits(limits=int(count), user_api="blas")
    return bool(limits.get_original_num_threads())


def set_device(device: str, threads: int = 1) -> str:
    """Switch the backend to ``device`` (cpu or cuda) and cap BLAS threads; returns the backend's name."""
    import minirnn as mr

    try:
        mr.set_backend(device)
    except (RuntimeError, ValueError) as err:
        raise UserError(str(err)) from err
    if threads:
        limit_blas_threads(threads)
    return mr.backend.get_backend()


def kernels_note(backend: str) -> str:
    """" (numba step kernels)" when NumPy's fast path runs its compiled loops
    (``MINIRNN_KERNELS=numba``), so that a run's log says which kernels it used."""
    import minirnn as mr

    return " (numba step kernels)" if backend == "numpy" and mr.fast.kernels() == "numba" else ""


# =========================================================================== distributed runs


LAUNCHER_SIZE = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")  # what mpirun (Open MPI, MPICH) tells each process
LAUNCHER_RANK = ("OMPI_COMM_WORLD_RANK", "PMI_RANK")


def _launched_ranks(names) -> int:
    """The first of the environment variables ``names`` that holds an integer (0 when none does)."""
    for name in names:
        try:
            return int(os.environ[name])
        except (KeyError, ValueError):
            continue
    return 0


def init_world(args, batch_size: int | None = None):
    """The ``minirnn.distributed.World`` of this run: MPI's under ``--distributed``, else one process.

    On ranks other than 0 it silences ``say``/``note``; ``runs.open_run`` lets rank 0 alone choose and
    create the run folder. Several processes started by mpirun without ``--distributed`` would each
    train alone into the same run folder: that is refused (rank 0 says why). ``batch_size`` is the
    global batch, named in the line that says how a distributed run shares it.
    """
    from .. import distributed

    if not getattr(args, "distributed", False):
        if _launched_ranks(LAUNCHER_SIZE) > 1:
            _set_rank(_launched_ranks(LAUNCHER_RANK))
            raise UserError(f"started by mpirun as {_launched_ranks(LAUNCHER_SIZE)} processes without --distributed: "
                            "each would train alone into the same run folder; add --distributed to train one model "
                            "data-parallel, or start one process")
        return distributed.SINGLE
    if not distributed.mpi_available():
        raise UserError(f"--distributed needs mpi4py, which is not installed: {distributed.MPI_EXTRA}")
    try:
        world = distributed.init()
    except distributed.MPIUnavailable as err:
        raise UserError(str(err)) from err
    _set_rank(world.rank)
    if world.size > 1 and batch_size:
        low, high = batch_size // world.size, -(-batch_size // world.size)
        share = f"{world.size} x {low}" if low == high else f"{world.size} x {low} or {high}"
        say(f"distributed: data-parallel over {world.size} MPI ranks, global batch {batch_size} = {share} (every "
            "step each rank takes its share of the batch one process would take; one allreduce sums the gradients)")
    if not distributed.under_launcher():
        note("note: --distributed without mpirun trains in this one process; start it with "
             "mpirun -n K python -m minirnn ... --distributed")
    if getattr(args, "device", "cpu") != "cpu" and world.size > 1:
        distributed.select_device(world)  # one GPU per rank
    return world


# =========================================================================== progress bars


class _TqdmBar:
    """One epoch's tqdm bar behind fit's progress interface: ``update(n, **postfix)``, ``close()``."""

    def __init__(self, bar):
        self.bar = bar

    def update(self, n: int = 1, **postfix) -> None:
        self.bar.update(n)
        if postfix:
            self.bar.set_postfix({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in postfix.items()},
                                 refresh=False)

    def close(self) -> None:
        self.bar.close()


def tqdm_progress(epochs: int, enabled: bool = True, stream=None):
    """fit's ``progress`` factory drawing a tqdm bar per epoch on stderr, or None for no bar.

    The bar is drawn only when ``enabled`` and the stream (stderr) is a terminal: a bar
    redrawn into a log file or a pipe is noise.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled or not (hasattr(stream, "isatty") and stream.isatty()):
        return None

    def progress(total: int, epoch: int) -> _TqdmBar:
        from tqdm import tqdm

        return _TqdmBar(tqdm(total=total, desc=f"epoch {epoch}/{epochs}", file=stream, leave=False,
                             dynamic_ncols=True))

    return progress


# =========================================================================== files


def load_checkpoint_file(path: str, device: str = "cpu"):
    """Load a checkpoint for a command, turning every problem with the file into a UserError.

    The file may be a stranger's: loading it runs no code of its choosing and checks
    every field (see ``minirnn.io``), so whatever is wrong ends in one line naming it.
    """
    from ..io import CheckpointError, load_checkpoint

    if not os.path.exists(path):
        raise UserError(f"checkpoint not found: {path}")
    backend = set_device(device, 1)
    try:
        return load_checkpoint(path, backend=backend)
    except CheckpointError as err:
        raise UserError(str(err)) from err
    except OSError as err:  # unreadable: permissions, a device, a vanished file
        raise UserError(f"cannot read {path}: {err.strerror or err}") from err


def save_pngs(folder: str, history: dict, attention=None) -> list[str]:
    """Loss curves (and an attention heatmap) as PNGs; a note instead when matplotlib is missing."""
    from ..viz import MissingExtraError, save_attention_png, save_history_png

    written = []
    try:
        written.append(save_history_png(os.path.join(folder, "loss.png"), history))
        if attention is not None:
            weights, src_tokens, out_tokens, title = attention
            written.append(save_attention_png(os.path.join(folder, "attention.png"), weights, src_tokens,
                                              out_tokens, title=title))
    except MissingExtraError as err:
        say(f"(no PNGs: {err})")
    return written


# =========================================================================== text in, text out


def read_texts(args) -> list[str]:
    """The sentences to process: the positional arguments, else stdin, one per line.

    Blank lines are kept (as ""), so that output line i answers input line i; a UTF-8
    byte-order mark at the start of stdin (Windows editors write one) and the \\r of
    \\r\\n line ends are dropped. An empty stdin gives no texts (and a note): a pipeline
    like ``grep ... | translate`` that found nothing is not an error.
    """
    texts = list(args.text)
    if not texts:
        if sys.stdin.isatty():
            raise UserError("give the text as arguments, or pipe it in (one sentence per line)")
        texts = [line.strip() for line in sys.stdin]
        if texts:
            texts[0] = texts[0].lstrip("\ufeff").strip()
        else:
            note("note: stdin was empty; nothing to process")
    return texts


def render(result, join=None) -> str:
    """The output text: detokenised words, or the tokens joined by ``join`` (dates: "1998-03-03")."""
    return result.text if join is None else join.join(result.output_tokens)


def output_labels(translation) -> list[str]:
    """Row labels of a heatmap: the output words, plus <eos> when it was generated."""
    labels = list(translation.output_tokens)
    if translation.weights is not None and len(translation.weights) > len(labels):
        labels.append("<eos>")
    return labels


# =========================================================================== training runs


def epoch_printer(total: int):
    """A fit callback that prints one line per finished epoch (a tqdm bar is drawn meanwhile on a terminal)."""

    def callback(record, history):
        parts = [f"epoch {record['epoch']:>2}/{total}", f"loss {record['loss']:.4f}", f"acc {record['accuracy']:.3f}"]
        labels = {"val_loss": "val loss", "val_accuracy": "val acc", "val_exact_match": "val exact"}
        for key, value in record.items():
            if key.startswith("val_") and value is not None:  # fit's own, then val_metrics' (val_bleu, ...)
                label = labels.get(key, key.replace("_", " "))
                parts.append(f"{label} {value:.4f}" if key == "val_loss" else f"{label} {value:.3f}")
        parts.append(f"{record['time']:.1f}s")
        say("  " + "  ".join(parts))
        return False

    return callback


def print_fit_summary(history, monitor: str | None = None, train_loss: str = "") -> None:
    """The epoch table (its "best val so far" following ``monitor``), the ASCII loss chart and why training stopped.

    ``train_loss`` says how the training loss differs from the validation one (label
    smoothing, class weights), in a line under the table: fit's validation loss is always
    plain cross-entropy, so without it the gap between the two columns would mislead.
    """
    from ..viz import ascii_chart, epoch_table

    say()
    say(epoch_table(history, monitor=monitor))
    if train_loss:
        say(f"train loss {train_loss}; val loss is plain cross-entropy")
    say()
    say(ascii_chart(history))
    if history.stopped_early:
        say(f"\nearly stopping: {history.stop_reason}")


def load_user_file(loader, path):
    """Read a user's data file with ``loader``, warning about skipped lines; at least 20 rows."""
    from ..data import DataFormatError

    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}")
    try:
        records = loader(path, errors="skip")
    except DataFormatError as err:
        raise UserError(str(err)) from err
    if records.bad_lines:
        shown = "; ".join(f"line {b.line_number}: {b.reason}" for b in records.bad_lines[:5])
        say(f"warning: skipped {len(records.bad_lines)} bad line(s) in {path}: {shown}")
    if len(records) < 20:
        raise UserError(f"{path} has only {len(records)} usable rows; need at least 20 to train")
    return list(records)
