"""``evaluate``: loss, accuracy and exact match of a model over batches, in inference mode."""

from __future__ import annotations

from ..backend import backend_of
from ..checks import check_choice
from ..nn import CrossEntropyLoss, inference_mode
from .batches import TASKS, batches_for_epoch, forward, on_device, unpack_batch
from .metrics import exact_match_counts, token_counts


def evaluate(model, batches, task: str = "seq2seq", pad_id: int = 0, bos_id=None, eos_id=None,
             exact_match: bool = True, max_decode_len=None) -> dict:
    """Loss, accuracy (and exact match for seq2seq) of ``model`` over ``batches``, in eval mode.

    Returns ``{"loss", "accuracy"[, "exact_match"]}``; the model's train/eval mode is restored.
    ``loss`` and ``accuracy`` are means over real tokens (seq2seq) or examples (classify)
    across all batches; ``exact_match`` is the share of rows whose greedy decoding, up to
    EOS, equals the target.
    """
    check_choice(task, TASKS, "evaluate", "task")
    backend = backend_of(model.parameters()[0].data)
    criterion = CrossEntropyLoss(ignore_index=pad_id if task == "seq2seq" else -100)
    loss_sum, tokens, correct, exact, rows = 0.0, 0, 0, 0, 0
    decode = task == "seq2seq" and exact_match and bos_id is not None and eos_id is not None
    with inference_mode(model):
        for batch in batches_for_epoch(batches, 0, None, shuffle=False):
            fields = on_device(unpack_batch(batch, task), backend)
            logits, targets = forward(model, fields, task)
            c, n = token_counts(logits, targets, pad_id if task == "seq2seq" else None)
            if n:
                loss_sum += criterion(logits, targets) * n
            correct, tokens = correct + c, tokens + n
            if decode:
                max_len = max_decode_len or targets.shape[1] + 2
                decoded, _ = model.greedy_decode(fields["src"], fields["src_lengths"], max_len, bos_id, eos_id)
                c, n = exact_match_counts(decoded, targets, eos_id, pad_id)
                exact, rows = exact + c, rows + n
    result = {"loss": loss_sum / max(tokens, 1), "accuracy": correct / max(tokens, 1)}
    if decode:
        result["exact_match"] = exact / max(rows, 1)
    return result
