"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

from ..checks import check_number
from ..nn.module import Parameter
from .optimizer import Optimizer


class SGD(Optimizer):
    """``torch.optim.SGD``, step for step.

    For each parameter p with gradient g, with lr, momentum mu, dampening tau and
    weight decay lambda (b is the momentum buffer, kept per parameter)::

        g = g + lambda * p                      # if lambda != 0 (L2 penalty in the gradient)
        b = g                                   # first step with mu != 0: the buffer starts at g
        b = mu * b + (1 - tau) * g              # later steps (dampening applies from step 2)
        g = g + mu * b   if nesterov   else b   # if mu != 0
        p = p - lr * g

    Nesterov needs mu > 0 and tau == 0, as in PyTorch. ``p.grad`` itself is never changed.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
            },
        )

    def _check_hyperparameters(self, hp: dict) -> dict:
        where = type(self).__name__
        hp["lr"] = check_number(hp["lr"], where, "learning rate (lr)")
        hp["momentum"] = check_number(hp["momentum"], where, "momentum")
        hp["dampening"] = check_number(hp["dampening"], where, "dampening", low=-float("inf"))
        hp["weight_decay"] = check_number(hp["weight_decay"], where, "weight_decay")
        hp["nesterov"] = bool(hp["nesterov"])
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True requires momentum > 0 and dampening == 0, "
                f"got momentum={hp['momentum']!r}, dampening={hp['dampening']!r}"
            )
        return hp

    def _state_array_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.param_groups[0]["momentum"] != 0 else ()

    def _update(self, param: Parameter, state: dict, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        grad = param.grad
        if weight_decay != 0:
            grad = grad + weight_decay * param.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - dampening) * grad
            grad = grad + momentum * buf if nesterov else buf
        param.data -= lr * grad
