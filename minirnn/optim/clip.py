"""Gradient clipping by the global norm (PyTorch's ``clip_grad_norm_``)."""

from __future__ import annotations

import math

from ..backend import get_array_module
from ..checks import check_number
from ..nn.module import Parameter


def _vector_norm(xp, x, norm_type: float):
    """||x||_p of all elements of x (p = inf: max |x|)."""
    if x.size == 0:
        return xp.zeros((), dtype=x.dtype)
    if norm_type == math.inf:
        return xp.max(xp.abs(x))
    if norm_type == 2.0:
        return xp.sqrt(xp.sum(x * x))
    if norm_type == 1.0:
        return xp.sum(xp.abs(x))
    return xp.sum(xp.abs(x) ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm(params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    Exactly ``torch.nn.utils.clip_grad_norm_``: with g_i the gradients that are not None::

        total_norm = || (||g_1||_p, ..., ||g_k||_p) ||_p    # = the p-norm of all grads joined
        clip_coef = max_norm / (total_norm + 1e-6)
        g_i = g_i * min(clip_coef, 1.0)                      # in place on p.grad

    ``norm_type`` is any p > 0 or ``float("inf")`` (max |g|). The arithmetic happens in
    the gradients' dtype on their device. Returns the total norm before clipping as a
    Python float (0.0 when no parameter has a gradient). With ``error_if_nonfinite``
    a NaN or infinite total norm raises instead of spreading into the gradients.
    """
    if isinstance(params, Parameter):
        params = [params]
    max_norm = check_number(max_norm, "clip_grad_norm", "max_norm")
    norm_type = check_number(norm_type, "clip_grad_norm", "norm_type", low=0.0)
    if norm_type == 0:
        raise ValueError(f"clip_grad_norm expects norm_type to be a positive number or inf, got {norm_type!r}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    xp = get_array_module(*grads)
    norms = xp.stack([_vector_norm(xp, g, norm_type) for g in grads])  # (k,)
    total_norm = _vector_norm(xp, norms, norm_type)
    if error_if_nonfinite and not math.isfinite(float(total_norm)):
        raise RuntimeError(
            f"clip_grad_norm: the total norm of order {norm_type} of the gradients is "
            f"{float(total_norm)}, so they cannot be clipped; set error_if_nonfinite=False to allow it"
        )
    clip_coef = max_norm / (total_norm + 1e-6)
    clip_coef_clamped = xp.minimum(clip_coef, 1.0)
    for g in grads:
        # Always multiply (by exactly 1.0 when below the threshold): no host sync on a GPU.
        g *= clip_coef_clamped.astype(g.dtype)
    return float(total_norm)


clip_grad_norm_ = clip_grad_norm
