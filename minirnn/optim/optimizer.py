"""``Optimizer``: the base class of SGD and Adam (parameter list, state, checkpoints).

An optimizer holds one list of Parameters, one group of hyperparameters and, per
parameter, a small dict of state (momentum buffers, moment estimates, step counts).
``step()`` walks the parameters in order and hands each one with a gradient to the
subclass's ``_update``; parameters whose ``grad`` is None are skipped, as in PyTorch.

The single hyperparameter group lives in ``param_groups[0]`` (PyTorch's layout with
one group), so ``opt.lr``, ``opt.param_groups[0]["lr"]`` and a scheduler all read and
write the same number.

State dict format (no pickle; a checkpoint stores ``meta`` as JSON and ``arrays`` in
an ``.npz``)::

    {
      "meta": {                                   # JSON-able: str, int, float, bool, list, dict
        "format": "minirnn.optim.v1",
        "optimizer": "Adam",                      # the class name; loading checks it
        "hyperparameters": {"lr": 0.001, "betas": [0.9, 0.999], ...},
        "num_params": 4,                          # loading checks it
        "step_count": 10,                         # calls of opt.step()
        "state": {"0": {"step": 10}, "1": {"step": 10}, ...},
                                                  # one entry per parameter that has state,
                                                  # keyed by its index in the parameter list,
                                                  # holding its scalar (int/float) state
      },
      "arrays": {                                 # flat: name -> NumPy array (copies)
        "state.0.exp_avg": ndarray, "state.0.exp_avg_sq": ndarray, ...
      },                                          # "state.{param_index}.{buffer_name}"
    }

Buffer names: SGD ``momentum_buffer`` (only when momentum != 0); Adam/AdamW
``exp_avg``, ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``. Arrays are saved
in the dtype of their parameter and loaded onto the device of their parameter, so a
run resumed from a state dict continues bit for bit.
"""

from __future__ import annotations

from ..backend import backend_of, get_array_module, is_array, np, to_device, to_numpy
from ..checks import check_number
from ..nn.module import Module, Parameter

STATE_DICT_FORMAT = "minirnn.optim.v1"


def as_parameter_list(params, where: str) -> list[Parameter]:
    """``params`` (a Parameter or an iterable of them) as a non-empty list without repeats."""
    if isinstance(params, Module):
        raise TypeError(
            f"{where} expects an iterable of Parameters, got a {type(params).__name__} module; pass model.parameters()"
        )
    if isinstance(params, Parameter):
        params = [params]
    try:
        params = list(params)
    except TypeError as err:
        raise TypeError(f"{where} expects an iterable of Parameters, got {type(params).__name__}") from err
    if not params:
        raise ValueError(f"{where} got an empty parameter list")
    seen = set()
    for index, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"{where} expects Parameters, got {type(p).__name__} at index {index}")
        if id(p) in seen:
            raise ValueError(f"{where} got the same Parameter twice (index {index}); each may appear once")
        seen.add(id(p))
    return params


class Optimizer:
    """Base class: subclasses implement ``_check_hyperparameters``, ``_state_array_names`` and ``_update``."""

    def __init__(self, params, hyperparameters: dict):
        name = type(self).__name__
        self.params = as_parameter_list(params, name)
        self.param_groups = [{"params": self.params, **self._check_hyperparameters(dict(hyperparameters))}]
        self.state: list[dict] = [{} for _ in self.params]
        self.step_count = 0

    # ------------------------------------------------------------------ hyperparameters
    @property
    def hyperparameters(self) -> dict:
        """The hyperparameter group without its parameter list (a copy)."""
        return {k: v for k, v in self.param_groups[0].items() if k != "params"}

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        self.param_groups[0]["lr"] = check_number(value, type(self).__name__, "learning rate (lr)")

    def _check_hyperparameters(self, hyperparameters: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _state_array_names(self) -> tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, param: Parameter, state: dict, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ stepping
    def step(self) -> None:
        """Update every parameter that has a gradient, in place on ``p.data``."""
        group = self.param_groups[0]
        for index, p in enumerate(self.params):
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {index} has shape {tuple(p.data.shape)} "
                    f"but its grad has shape {tuple(p.grad.shape)}"
                )
            if p.grad.dtype != p.data.dtype:
                raise TypeError(
                    f"{type(self).__name__}: parameter {index} has dtype {p.data.dtype} "
                    f"but its grad has dtype {p.grad.dtype}"
                )
            self._update(p, self.state[index], group)
        self.step_count += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient (to None, PyTorch's default, or to zeros)."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """``{"meta": JSON-able dict, "arrays": {"state.{i}.{name}": ndarray}}`` (see the module docstring)."""
        hyperparameters = {k: list(v) if isinstance(v, tuple) else v for k, v in self.hyperparameters.items()}
        meta_state, arrays = {}, {}
        for index, state in enumerate(self.state):
            if not state:
                continue
            scalars = {}
            for key, value in state.items():
                if is_array(value):
                    arrays[f"state.{index}.{key}"] = np.array(to_numpy(value), copy=True)
                else:
                    scalars[key] = value
            meta_state[str(index)] = scalars
        meta = {
            "format": STATE_DICT_FORMAT,
            "optimizer": type(self).__name__,
            "hyperparameters": hyperparameters,
            "num_params": len(self.params),
            "step_count": self.step_count,
            "state": meta_state,
        }
        return {"meta": meta, "arrays": arrays}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters, step count and buffers saved by ``state_dict``.

        Everything is checked before anything is written, so a failed load changes nothing.
        """
        name = type(self).__name__
        try:
            meta, arrays = state_dict["meta"], state_dict["arrays"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"{name}.load_state_dict expects a dict with keys 'meta' and 'arrays'") from err
        self._check_meta(meta)
        hyperparameters = self._loaded_hyperparameters(meta["hyperparameters"])
        state = self._loaded_state(meta["state"], arrays, self._required_buffers(hyperparameters))
        self.param_groups[0] = {"params": self.params, **hyperparameters}
        self.state = state
        self.step_count = int(meta["step_count"])

    def _check_meta(self, meta: dict) -> None:
        """The saved format, optimizer class and parameter count must match this optimizer."""
        name = type(self).__name__
        if meta.get("format") != STATE_DICT_FORMAT:
            raise ValueError(f"{name}.load_state_dict expects format {STATE_DICT_FORMAT!r}, got {meta.get('format')!r}")
        if meta.get("optimizer") != name:
            raise ValueError(f"{name}.load_state_dict got the state of a {meta.get('optimizer')!r} optimizer")
        if meta.get("num_params") != len(self.params):
            raise ValueError(
                f"{name}.load_state_dict: the state is for {meta.get('num_params')} parameters, "
                f"this optimizer has {len(self.params)}"
            )

    def _loaded_hyperparameters(self, saved: dict) -> dict:
        """The saved hyperparameters over the current ones, checked as the constructor checks them."""
        saved = dict(saved)
        current = self.hyperparameters
        for key, value in current.items():  # restore tuples (JSON turns them into lists)
            if isinstance(value, tuple) and key in saved:
                saved[key] = tuple(saved[key])
        unknown = sorted(set(saved) - set(current))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: unknown hyperparameters {unknown}")
        return self._check_hyperparameters({**current, **saved})

    def _required_buffers(self, hyperparameters: dict) -> tuple[str, ...]:
        """The buffer names each parameter's state holds under ``hyperparameters`` (momentum on or off...)."""
        previous_group = self.param_groups[0]
        self.param_groups[0] = {"params": self.params, **hyperparameters}
        try:
            return self._state_array_names()
        finally:
            self.param_groups[0] = previous_group

    def _loaded_state(self, meta_state: dict, arrays: dict, required: tuple) -> list[dict]:
        """Per-parameter state dicts from the saved scalars and arrays, on each parameter's device and dtype."""
        name = type(self).__name__
        new_state: list[dict] = [{} for _ in self.params]
        used = set()
        for key, scalars in meta_state.items():
            index = int(key)
            if not 0 <= index < len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, which is outside [0, {len(self.params) - 1}]"
                )
            new_state[index] = dict(scalars)
            for buffer in required:
                array_name = f"state.{index}.{buffer}"
                new_state[index][buffer] = self._loaded_buffer(arrays, array_name, index)
                used.add(array_name)
        unexpected = sorted(set(arrays) - used)
        if unexpected:
            raise KeyError(f"{name}.load_state_dict: unexpected arrays {unexpected}")
        return new_state

    def _loaded_buffer(self, arrays: dict, array_name: str, index: int):
        """``arrays[array_name]`` checked against parameter ``index``'s shape, as a copy on its device."""
        name = type(self).__name__
        if array_name not in arrays:
            raise KeyError(f"{name}.load_state_dict: missing array {array_name!r}")
        param = self.params[index]
        value = np.asarray(to_numpy(arrays[array_name]))
        if value.shape != tuple(param.shape):
            raise ValueError(
                f"{name}.load_state_dict: {array_name!r} has shape {value.shape}, "
                f"parameter {index} has shape {tuple(param.shape)}"
            )
        xp = get_array_module(param.data)
        return xp.array(to_device(value.astype(param.dtype), backend_of(param.data)), copy=True)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"
