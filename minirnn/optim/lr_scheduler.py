"""Learning-rate schedules that set ``optimizer.lr`` once per epoch, like ``torch.optim.lr_scheduler``.

Call ``scheduler.step()`` after the epoch's ``optimizer.step()`` calls. As in PyTorch
the schedules are chainable: each step multiplies the optimizer's *current* lr, so the
numbers match PyTorch bit for bit (``lr * gamma * gamma``, not ``lr * gamma**2``).
"""

from __future__ import annotations

from ..checks import check_positive_float, check_positive_int
from .optimizer import Optimizer

SCHEDULER_STATE_FORMAT = "minirnn.lr_scheduler.v1"


class LRScheduler:
    """Base class: subclasses implement ``_next_lr`` (the lr for epoch ``last_epoch``)."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} expects a minirnn optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = -1
        self._last_lr = [optimizer.lr]
        self.step()  # epoch 0: PyTorch's initial step, which keeps the lr

    def _next_lr(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's lr for it."""
        self.last_epoch += 1
        lr = self._next_lr()
        self.optimizer.lr = lr
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list[float]:
        """The lr set by the last ``step()``, as a one-element list (PyTorch's shape: one per group)."""
        return list(self._last_lr)

    def _hyperparameters(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        """A JSON-able dict: format, scheduler name, its settings, base_lr, last_epoch, last_lr.

        Like PyTorch, it does not hold the optimizer's lr: restore the optimizer's state
        dict too (it holds the current lr).
        """
        return {
            "format": SCHEDULER_STATE_FORMAT,
            "scheduler": type(self).__name__,
            **self._hyperparameters(),
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
            "last_lr": list(self._last_lr),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        name = type(self).__name__
        if state_dict.get("format") != SCHEDULER_STATE_FORMAT or state_dict.get("scheduler") != name:
            raise ValueError(
                f"{name}.load_state_dict got the state of a {state_dict.get('scheduler')!r} "
                f"scheduler in format {state_dict.get('format')!r}"
            )
        settings = {key: state_dict[key] for key in self._hyperparameters()}
        self._set_hyperparameters(**settings)
        self.base_lr = float(state_dict["base_lr"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._last_lr = [float(lr) for lr in state_dict["last_lr"]]

    def _set_hyperparameters(self, **settings) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


def _check_gamma(gamma, where: str) -> float:
    return check_positive_float(gamma, where, "gamma")


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    With lr_0 the optimizer's lr when the scheduler is created::

        lr_epoch = lr_{epoch-1} * gamma   if epoch > 0 and epoch % step_size == 0
        lr_epoch = lr_{epoch-1}           otherwise
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self._set_hyperparameters(step_size=step_size, gamma=gamma)
        super().__init__(optimizer)

    def _set_hyperparameters(self, step_size, gamma) -> None:
        self.step_size = check_positive_int(step_size, "StepLR", "step_size")
        self.gamma = _check_gamma(gamma, "StepLR")

    def _hyperparameters(self) -> dict:
        return {"step_size": self.step_size, "gamma": self.gamma}

    def _next_lr(self) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch.

    With lr_0 the optimizer's lr when the scheduler is created::

        lr_epoch = lr_{epoch-1} * gamma   for epoch > 0
    """

    def __init__(self, optimizer: Optimizer, gamma: float):
        self._set_hyperparameters(gamma=gamma)
        super().__init__(optimizer)

    def _set_hyperparameters(self, gamma) -> None:
        self.gamma = _check_gamma(gamma, "ExponentialLR")

    def _hyperparameters(self) -> dict:
        return {"gamma": self.gamma}

    def _next_lr(self) -> float:
        if self.last_epoch == 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma
