"""Adam (with L2 weight decay and AMSGrad) and AdamW (decoupled weight decay)."""

from __future__ import annotations

from ..backend import get_array_module
from ..checks import check_number
from ..nn.module import Parameter
from .optimizer import Optimizer


class Adam(Optimizer):
    """``torch.optim.Adam``, step for step, including where ``eps`` is added.

    For each parameter p with gradient g, with lr, betas (beta1, beta2), eps and weight
    decay lambda; m, v (and v_max) start at zero and t counts this parameter's steps::

        t = t + 1
        g = g + lambda * p                                  # if lambda != 0 (L2, Adam only)
        p = p * (1 - lr * lambda)                           # instead, for AdamW (decoupled)
        m = m + (1 - beta1) * (g - m)                       # = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                               # amsgrad only; then v_max replaces v below
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        denom = sqrt(v) / sqrt(bias_correction2) + eps      # eps outside the bias correction
        p = p - (lr / bias_correction1) * (m / denom)

    Buffers ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (v_max) and the
    integer ``step`` (t) are kept per parameter, created at its first gradient.
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad}
        )

    def _check_hyperparameters(self, hp: dict) -> dict:
        where = type(self).__name__
        hp["lr"] = check_number(hp["lr"], where, "learning rate (lr)")
        hp["eps"] = check_number(hp["eps"], where, "eps")
        try:
            beta1, beta2 = hp["betas"]
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} expects betas to be a pair (beta1, beta2), got {hp['betas']!r}") from err
        hp["betas"] = (
            check_number(beta1, where, "beta1 (betas[0])", high=1.0, high_inclusive=False),
            check_number(beta2, where, "beta2 (betas[1])", high=1.0, high_inclusive=False),
        )
        hp["weight_decay"] = check_number(hp["weight_decay"], where, "weight_decay")
        hp["amsgrad"] = bool(hp["amsgrad"])
        return hp

    def _state_array_names(self) -> tuple[str, ...]:
        names = ("exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if self.param_groups[0]["amsgrad"] else names

    def _update(self, param: Parameter, state: dict, group: dict) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
        xp = get_array_module(param.data)
        if not state:
            state["step"] = 0
            for name in self._state_array_names():
                state[name] = xp.zeros_like(param.data)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        grad = param.grad

        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                param.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param.data
        # PyTorch updates m with lerp, which is this form (not beta1 * m + ...) for beta1 > 0.5.
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if amsgrad:
            xp.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second_moment = state["max_exp_avg_sq"]
        else:
            second_moment = exp_avg_sq
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denom = xp.sqrt(second_moment) / bias_correction2**0.5 + eps
        param.data -= (lr / bias_correction1) * (exp_avg / denom)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay ``p = p * (1 - lr * lambda)``.

    The equations are Adam's (see ``Adam``) with the L2 line replaced by the decoupled
    one; the default weight decay is 1e-2, as in PyTorch.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
