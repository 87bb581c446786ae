"""``Parameter`` and ``Module``: the small object model every layer is built on.

A Module holds Parameters and sub-modules (registered in assignment order, as in
PyTorch), and a stack of forward caches. Each forward call pushes one cache and
each backward call pops one, so a module called T times in a decoder loop is
backpropagated by T backward calls in reverse order.

Every Module also records the arguments it was built with (``config``), so that
``type(m)(**m.config)`` builds the same architecture; checkpoints store it as JSON.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections import OrderedDict

from ..backend import backend_of, check_backend_name, get_array_module, np, resolve_dtype, to_device, to_numpy

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block forward calls keep no caches (inference: decoding, evaluation).

    A backward call after a forward run under ``no_grad`` raises, as in PyTorch.
    """
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


@contextlib.contextmanager
def inference_mode(model):
    """``eval()`` mode and ``no_grad()`` for the block; the model's previous mode comes back after.

    For prediction, decoding and evaluation: dropout is off and no caches pile up.
    ``with inference_mode(model): logits = model(ids)``.
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        model.train(was_training)


class Parameter:
    """A trainable array ``data`` and its accumulated gradient ``grad``.

    ``grad`` is None until the first backward, and backward calls *add* to it until
    ``zero_grad()``, as in PyTorch.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data = data
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def accumulate(self, grad) -> None:
        """grad += g (the first gradient is copied, never aliased)."""
        if grad is None:
            return
        if self.grad is None:
            self.grad = grad.copy()
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


_SIGNATURES: dict = {}  # Module subclass -> the inspect.Signature of its __init__


def _constructor_arguments(cls, args, kwargs) -> dict | None:
    """The call ``cls(*args, **kwargs)`` as keyword arguments with the defaults filled in.

    None when the call cannot be written as keywords (positional-only parameters,
    extra ``*args``) or does not fit the signature (``__init__`` then raises the
    real error). A ``dtype`` is recorded by name, resolved now, because ``None``
    means whatever the default dtype is at the time.
    """
    signature = _SIGNATURES.get(cls)
    if signature is None:
        signature = _SIGNATURES[cls] = inspect.signature(cls.__init__)
    try:
        bound = signature.bind(None, *args, **kwargs)  # None stands for self
    except TypeError:
        return None
    bound.apply_defaults()
    config = {}
    for name, param in list(signature.parameters.items())[1:]:  # [0] is self
        value = bound.arguments[name]
        if param.kind is param.VAR_POSITIONAL:
            if value:
                return None
        elif param.kind is param.VAR_KEYWORD:
            config.update(value)
        elif param.kind is param.POSITIONAL_ONLY:
            return None
        else:
            config[name] = value
    if "dtype" in config:
        try:
            config["dtype"] = resolve_dtype(config["dtype"]).name
        except (TypeError, ValueError):
            pass  # __init__ rejects it with its own message
    return config


def _device_or_dtype(arg):
    """``("device", name)`` or ``("dtype", dtype)`` for one positional argument of ``Module.to``."""
    if isinstance(arg, str):
        try:
            return "device", check_backend_name(arg)
        except ValueError:
            pass
        try:
            return "dtype", resolve_dtype(arg)
        except TypeError:
            raise ValueError(
                f"unknown backend {arg!r}; expected one of 'numpy' (cpu) or 'cupy' (cuda), or a floating dtype "
                "such as 'float64'"
            ) from None
    if arg is None:
        raise TypeError("Module.to expects a device ('cpu', 'cuda') or a floating dtype (np.float64), got None")
    return "dtype", resolve_dtype(arg)


class Module:
    """Base class of every layer and model.

    Subclasses assign Parameters and Modules as attributes in ``__init__``, implement
    ``forward`` (pushing a cache with ``_save``) and ``backward`` (popping it with
    ``_restore``), and keep all array math in ``minirnn.functional``.

    ``config`` is recorded before ``__init__`` runs, from the arguments of the call
    that built the module, so no subclass has to list its fields a second time.
    """

    def __new__(cls, *args, **kwargs):
        module = super().__new__(cls)
        object.__setattr__(module, "_config", _constructor_arguments(cls, args, kwargs))
        return module

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_caches", [])
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> dict | None:
        """The constructor arguments that rebuild this module: ``type(m)(**m.config)``.

        Every argument is there, defaults included. ``dtype`` is the dtype the
        parameters have now (after a cast, the new one). None when the constructor
        call cannot be written as keyword arguments; assign a dict to set it by hand.
        """
        if self._config is None:
            return None
        config = copy.deepcopy(self._config)
        if "dtype" in config and self.dtype is not None:
            config["dtype"] = np.dtype(self.dtype).name
        return config

    @config.setter
    def config(self, value) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"{type(self).__name__}.config must be a dict of constructor arguments, "
                            f"got {type(value).__name__}")
        object.__setattr__(self, "_config", dict(value))

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param):
        """Register ``param`` (or None, for an absent bias) under a computed name."""
        if param is None:
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix: str = ""):
        """Yield ``(name, Parameter)`` pairs, with PyTorch's dotted names."""
        for name, param in self._parameters.items():
            yield (f"{prefix}.{name}" if prefix else name), param
        for name, module in self._modules.items():
            yield from module.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter as NumPy arrays, keyed by PyTorch-style names."""
        return OrderedDict((name, to_numpy(p.data).copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """Copy arrays into the parameters, checking names and shapes first.

        Values are cast to each parameter's dtype and moved to its device, so a
        PyTorch ``state_dict`` converted with ``.numpy()`` loads directly. With
        ``strict=True`` a missing or unexpected key is an error naming the key.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys: {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {', '.join(unexpected)}")
            raise KeyError(f"{type(self).__name__}.load_state_dict: " + "; ".join(parts))
        staged = {}
        for name, value in state_dict.items():
            if name not in params:
                continue
            param = params[name]
            value = to_numpy(value)
            if hasattr(value, "detach"):  # a torch tensor passed directly
                value = value.detach().cpu().numpy()
            value = np.asarray(value)
            if value.shape != tuple(param.shape):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: key {name!r} expects shape "
                    f"{tuple(param.shape)}, got {value.shape}"
                )
            staged[name] = value
        # Only write once every key has been checked, so a failed load changes nothing.
        for name, value in staged.items():
            param = params[name]
            xp = get_array_module(param.data)
            param.data = xp.asarray(to_device(value.astype(param.dtype), backend_of(param.data)))

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every gradient (to None, PyTorch's default, or to zeros)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def to(self, *args, device=None, dtype=None):
        """Move and/or cast every parameter and gradient, as torch's ``Module.to``; returns self.

        ======================================  ======================================
        ``m.to("cuda")``, ``m.to("cpu")``       the backend: 'numpy'/'cpu', 'cupy'/'cuda'
        ``m.to(np.float64)``, ``m.to("float64")``  the dtype: float16, float32, float64
        ``m.to("cuda", np.float32)``            both; also ``to(device=..., dtype=...)``
        ======================================  ======================================

        A cast also updates what records a dtype besides the arrays (an attention's
        ``_dtype``, a model's ``config``), and a move or a cast drops the pending
        forward caches, which hold arrays of the old kind. Build optimizers after a
        cast: their moment buffers keep the dtype they were made with (as in PyTorch).
        """
        for arg in args:
            kind, value = _device_or_dtype(arg)
            if (device if kind == "device" else dtype) is not None:
                raise TypeError(f"{type(self).__name__}.to got two {kind}s, the second {arg!r}")
            device, dtype = (value, dtype) if kind == "device" else (device, value)
        if device is not None:
            self._move(check_backend_name(device))
        if dtype is not None:
            self._cast(resolve_dtype(dtype))
        return self

    def double(self):
        """Cast every parameter and gradient to float64 (``to(np.float64)``); returns self."""
        return self.to(dtype="float64")

    def float(self):
        """Cast every parameter and gradient to float32 (``to(np.float32)``); returns self."""
        return self.to(dtype="float32")

    def half(self):
        """Cast every parameter and gradient to float16 (``to(np.float16)``); returns self."""
        return self.to(dtype="float16")

    def _move(self, backend: str) -> None:
        for p in self.parameters():
            p.data = to_device(p.data, backend)
            if p.grad is not None:
                p.grad = to_device(p.grad, backend)
        self.clear_caches()

    def _cast(self, dtype) -> None:
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = p.grad.astype(dtype, copy=False)
        for module in self.modules():
            # What records a dtype besides the arrays: the checks made against it must see the new one.
            if "_dtype" in module.__dict__:
                object.__setattr__(module, "_dtype", dtype)
            config = module.__dict__.get("_config")  # a module without parameters keeps its dtype here
            if isinstance(config, dict) and "dtype" in config:
                config["dtype"] = dtype.name
        self.clear_caches()

    @property
    def dtype(self):
        params = self.parameters()
        return params[0].dtype if params else None

    # ------------------------------------------------------------------ caches
    def _save(self, cache) -> None:
        """Push a forward cache (skipped under ``no_grad``)."""
        if _grad_enabled:
            self._caches.append(cache)

    def _restore(self):
        """Pop the cache of the most recent forward call that has no backward yet."""
        cache = self._peek()
        self._caches.pop()
        return cache

    def _peek(self):
        """The cache ``_restore`` would pop, left in place.

        A backward validates its upstream gradients against this and pops only once
        they pass, so a rejected call can be retried with corrected arguments.
        """
        if not self._caches:
            raise RuntimeError(
                f"{type(self).__name__}.backward called without a matching forward "
                "(every forward call allows one backward call, in reverse order; "
                "forwards run under no_grad() keep nothing)"
            )
        return self._caches[-1]

    def clear_caches(self) -> None:
        """Drop every pending forward cache of this module and its children."""
        for module in self.modules():
            module._caches.clear()

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

