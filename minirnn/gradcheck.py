"""Finite-difference gradient checks for hand-written backwards, yours included.

minirnn has no autograd: every backward is derived by hand, so every backward needs a
check. This module compares an analytic gradient with central differences of a
scalar loss, in float64:

    numeric   dL/dp_k  ~  (L(p + eps e_k) - L(p - eps e_k)) / (2 eps)       element-wise
    numeric  <dL/dp, v> ~  (L(p + eps v) - L(p - eps v)) / (2 eps)           directional

The central difference is exact up to ``eps^2 L''' / 6`` (truncation) plus about
``u |L| / eps`` (rounding, u = 2.2e-16 in float64), so eps = 1e-6 balances the two
at roughly 1e-10 * |L|. Small tensors (at most ``max_elements`` entries) are checked
entry by entry; larger ones along ``num_directions`` random unit directions v, where
the analytic side is the inner product <grad, v>. A random direction mixes every
entry, so a wrong entry anywhere shows up (with probability one).

Errors, for each compared pair (a analytic, n numeric):

    abs error  = |a - n|
    rel error  = |a - n| / max(|a| + |n|, atol / rtol)

The floor ``atol / rtol`` keeps pairs whose true value is about zero (where the
rounding noise of the difference dominates) from reporting 100% relative error. A
pair passes when ``rel error <= rtol``, that is when ``|a - n| <= atol`` or
``|a - n| <= rtol * (|a| + |n|)``.

Two entry points:

* ``check_gradients(loss_fn, arrays, analytic)``: the low-level check. ``arrays``
  maps names to the arrays the loss reads; they are perturbed in place (and
  restored bit for bit), and ``loss_fn()`` recomputes the scalar from them.
* ``gradcheck(module, *inputs)``: point it at any Module with a ``backward``. It draws
  a random upstream gradient G for every float output, defines ``L = sum(out * G)``,
  runs the module's backward with G, and checks every parameter and the first float
  input. Dropout must be off (``module.eval()``): the loss has to be a function.

Nothing here prints; ``str(report)`` formats a table for the CLI to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backend import backend_of, get_array_module, is_array, np, to_device, to_numpy
from .checks import check_nonnegative_int, check_number, check_positive_float, check_positive_int
from .nn.module import is_grad_enabled, no_grad
from .nn.rnn import RNNBase

INPUT_MODES = ("first", "all", "none")


# ============================================================================ report


@dataclass(frozen=True)
class GradcheckEntry:
    """The result for one checked array.

    ``checks`` pairs were compared (entries, or directions); ``rel_error`` and
    ``abs_error`` are the worst over them (see the module docstring for the
    formulas), ``failures`` counts pairs outside the tolerance, and ``worst_at``
    (an index, or a direction number), ``analytic`` and ``numeric`` describe the
    pair with the largest relative error.
    """

    name: str
    shape: tuple
    mode: str  # "elementwise" or "directional"
    checks: int
    rel_error: float
    abs_error: float
    failures: int
    worst_at: object
    analytic: float
    numeric: float

    @property
    def ok(self) -> bool:
        return self.failures == 0


@dataclass
class GradcheckReport:
    """Per-array results of a gradient check, with the tolerances they were judged by.

    ``report.ok`` is True when every pair passed; ``report.worst`` is the entry with
    the largest relative error; ``report["weight_ih_l0"]`` looks an entry up by name;
    ``str(report)`` is a readable table.
    """

    entries: list = field(default_factory=list)
    eps: float = 1e-6
    rtol: float = 1e-6
    atol: float = 1e-8

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def worst(self) -> GradcheckEntry | None:
        return max(self.entries, key=lambda e: e.rel_error, default=None)

    @property
    def max_rel_error(self) -> float:
        return max((e.rel_error for e in self.entries), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((e.abs_error for e in self.entries), default=0.0)

    @property
    def failed(self) -> list:
        return [e for e in self.entries if not e.ok]

    def __getitem__(self, name: str) -> GradcheckEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(f"gradcheck report has no entry {name!r}; entries: {', '.join(e.name for e in self.entries)}")

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def raise_if_failed(self) -> GradcheckReport:
        """Raise AssertionError with the table when any pair failed; returns self otherwise."""
        if not self.ok:
            raise AssertionError("gradient check failed:\n" + str(self))
        return self

    def __str__(self) -> str:
        verdict = "ok" if self.ok else f"FAILED ({len(self.failed)} of {len(self.entries)} arrays)"
        header = (
            f"gradcheck: {len(self.entries)} arrays, eps={self.eps:g}, rtol={self.rtol:g}, "
            f"atol={self.atol:g}: {verdict}"
        )
        columns = ("name", "shape", "mode", "checks", "rel error", "abs error", "analytic", "numeric", "worst at", "")
        rows = [
            (
                e.name,
                str(tuple(e.shape)),
                e.mode,
                str(e.checks),
                f"{e.rel_error:.2e}",
                f"{e.abs_error:.2e}",
                f"{e.analytic:.6e}",
                f"{e.numeric:.6e}",
                str(e.worst_at),
                "ok" if e.ok else f"FAIL ({e.failures})",
            )
            for e in self.entries
        ]
        widths = [max(len(r[k]) for r in [columns, *rows]) for k in range(len(columns))]
        right = {3, 4, 5, 6, 7}  # numbers align right

        def line(cells):
            parts = [c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(cells, widths))]
            return "  ".join(parts).rstrip()

        return "\n".join([header, line(columns), line(["-" * w for w in widths]), *(line(r) for r in rows)])

    def __repr__(self) -> str:
        return f"GradcheckReport(ok={self.ok}, arrays={len(self.entries)}, max_rel_error={self.max_rel_error:.2e})"


# ============================================================================ low level


def _require_float64(array, name: str) -> None:
    if not is_array(array):
        raise TypeError(f"gradcheck expects {name!r} to be a numpy or cupy array, got {type(array).__name__}")
    if array.dtype != np.float64:
        raise TypeError(
            f"gradcheck needs float64 arrays, got {array.dtype} for {name!r}; finite differences in "
            f"{array.dtype} are too coarse to check anything"
        )


def _scalar(value) -> float:
    return float(to_numpy(value))


def _elementwise(loss_fn, array, eps: float):
    """Numeric dL/dp_k for every entry k of ``array``: a host float64 array of its shape."""
    numeric = np.empty(array.shape, dtype=np.float64)
    for index in np.ndindex(*array.shape):
        original = float(array[index])
        plus, minus = original + eps, original - eps
        try:
            array[index] = plus
            loss_plus = _scalar(loss_fn())
            array[index] = minus
            loss_minus = _scalar(loss_fn())
        finally:
            array[index] = original
        # (plus - minus) is the step actually taken once rounded to float64, not 2 eps.
        numeric[index] = (loss_plus - loss_minus) / (plus - minus)
    return numeric


def numeric_gradient(loss_fn, array, eps: float = 1e-6):
    """Central differences (L(p + eps e_k) - L(p - eps e_k)) / (2 eps) for every entry k of ``array``.

    ``array`` (float64) is perturbed in place and restored bit for bit; ``loss_fn()``
    recomputes the scalar from it. Returns a host float64 array of ``array``'s shape.
    """
    _require_float64(array, "array")
    return _elementwise(loss_fn, array, eps)


def _directional(loss_fn, array, grad, eps: float, num_directions: int, rng):
    """(analytic <grad, v>, numeric) pairs along random unit directions v, as host arrays."""
    analytic = np.empty(num_directions)
    numeric = np.empty(num_directions)
    original = array.copy()
    try:
        for k in range(num_directions):
            direction = rng.standard_normal(array.shape)
            direction /= np.linalg.norm(direction)
            v = to_device(direction, backend_of(array))
            array[...] = original + eps * v
            loss_plus = _scalar(loss_fn())
            array[...] = original - eps * v
            loss_minus = _scalar(loss_fn())
            array[...] = original
            numeric[k] = (loss_plus - loss_minus) / (2 * eps)
            analytic[k] = _scalar((grad * v).sum())
    finally:
        array[...] = original
    return analytic, numeric


def _compare(name, shape, mode, analytic, numeric, rtol, atol, index_of) -> GradcheckEntry:
    analytic, numeric = analytic.ravel(), numeric.ravel()
    finite = np.isfinite(analytic) & np.isfinite(numeric)
    abs_error = np.where(finite, np.abs(analytic - numeric), np.inf)
    scale = np.abs(analytic) + np.abs(numeric)
    floor = atol / rtol if rtol > 0 else np.finfo(np.float64).tiny
    with np.errstate(invalid="ignore"):
        rel_error = np.where(finite, abs_error / np.maximum(scale, floor), np.inf)
    passed = (abs_error <= atol) | (abs_error <= rtol * scale)
    if analytic.size == 0:
        return GradcheckEntry(name, tuple(shape), mode, 0, 0.0, 0.0, 0, None, 0.0, 0.0)
    worst = int(np.argmax(rel_error))
    return GradcheckEntry(
        name=name,
        shape=tuple(shape),
        mode=mode,
        checks=int(analytic.size),
        rel_error=float(rel_error[worst]),
        abs_error=float(abs_error.max()),
        failures=int((~passed).sum()),
        worst_at=index_of(worst),
        analytic=float(analytic[worst]),
        numeric=float(numeric[worst]),
    )


def check_gradients(
    loss_fn,
    arrays: dict,
    analytic: dict,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_elements: int = 64,
    num_directions: int = 4,
    seed: int = 0,
) -> GradcheckReport:
    """Check analytic gradients of a scalar loss against central differences.

    ===============  ==============================================================
    loss_fn          ``loss_fn() -> scalar``: recomputes L from the current values
                     of ``arrays`` (keep it deterministic: no dropout)
    arrays           ``{name: array}``, float64; each is perturbed *in place* and
                     restored bit for bit, so pass the very arrays (or views of
                     them) that loss_fn reads
    analytic         ``{name: dL/darray}`` of the same shapes (None means zeros)
    eps              the finite-difference step (1e-6 suits float64)
    rtol, atol       a pair passes when |a - n| <= atol or |a - n| <= rtol (|a| + |n|);
                     the numeric side carries rounding noise of about
                     u sum|terms of L| / eps, so the default atol = 1e-8 suits losses
                     whose terms add up to ~100 in absolute value: raise it with
                     the size of the loss, or use a larger eps (1e-5)
    max_elements     arrays with at most this many entries are checked entry by
                     entry; larger ones along ``num_directions`` random unit
                     directions (seeded by ``seed``)
    ===============  ==============================================================

    Returns a ``GradcheckReport``; it raises nothing on a mismatch (see
    ``report.ok`` and ``report.raise_if_failed()``).
    """
    eps = check_positive_float(eps, "check_gradients", "eps")
    rtol = check_number(rtol, "check_gradients", "rtol")
    atol = check_number(atol, "check_gradients", "atol")
    max_elements = check_nonnegative_int(max_elements, "check_gradients", "max_elements")
    num_directions = check_positive_int(num_directions, "check_gradients", "num_directions")
    missing = [name for name in arrays if name not in analytic]
    if missing:
        raise KeyError(f"check_gradients has no analytic gradient for {', '.join(map(repr, missing))}")
    rng = np.random.default_rng(seed)
    report = GradcheckReport(eps=eps, rtol=rtol, atol=atol)
    for name, array in arrays.items():
        _require_float64(array, name)
        grad = analytic[name]
        if grad is None:
            grad = get_array_module(array).zeros_like(array)
        if tuple(grad.shape) != tuple(array.shape):
            raise ValueError(
                f"check_gradients: the analytic gradient of {name!r} has shape {tuple(grad.shape)}, "
                f"expected {tuple(array.shape)}"
            )
        if array.size <= max_elements:
            numeric = _elementwise(loss_fn, array, eps)
            shape = array.shape
            entry = _compare(
                name, shape, "elementwise", to_numpy(grad).astype(np.float64), numeric, rtol, atol,
                lambda k, shape=shape: tuple(int(i) for i in np.unravel_index(k, shape)),
            )
        else:
            pair = _directional(loss_fn, array, grad, eps, num_directions, rng)
            entry = _compare(name, array.shape, "directional", *pair, rtol, atol, lambda k: f"v{k}")
        report.entries.append(entry)
    return report


# ============================================================================ modules


def _is_float_array(a) -> bool:
    return is_array(a) and a.dtype.kind == "f"


def _copy_inputs(value):
    """Copy every float array of a (nested) input so perturbing it never touches the caller's."""
    if _is_float_array(value):
        return value.copy()
    if isinstance(value, (tuple, list)):
        items = [_copy_inputs(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def _float_leaves(value, name: str, out: list) -> list:
    """``[(name, array)]`` for every float array in a nested tuple/list, depth first."""
    if _is_float_array(value):
        out.append((name, value))
    elif isinstance(value, (tuple, list)):
        for k, v in enumerate(value):
            _float_leaves(v, f"{name}[{k}]", out)
    return out


def _grad_leaves(value, out: list) -> list:
    """Every leaf of a nested backward result, None included, depth first."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _grad_leaves(v, out)
    else:
        out.append(value)
    return out


def _upstream(out, rng):
    """A random N(0, 1) gradient with the structure of ``out`` (None for non-float leaves)."""
    if _is_float_array(out):
        return to_device(rng.standard_normal(out.shape), backend_of(out))
    if isinstance(out, (tuple, list)):
        return type(out)(_upstream(v, rng) for v in out)
    return None


def _contract(out, upstream) -> float:
    """L = sum over leaves of sum(out * G), as a Python float."""
    if upstream is None:
        return 0.0
    if isinstance(upstream, (tuple, list)):
        return sum(_contract(o, g) for o, g in zip(out, upstream))
    return _scalar((out * upstream).sum())


def _default_backward(module, upstream):
    """The calling convention of minirnn's layers.

    RNN/GRU/LSTM take the output's gradients as separate arguments,
    ``backward(dout, dh_n)`` or ``backward(dout, (dh_n, dc_n))``; every other module
    takes one argument with the structure of its output: ``backward(dy)`` for an
    array, ``backward((dh, dc))`` for LSTMCell's pair.
    """
    if isinstance(module, RNNBase):
        return module.backward(*upstream)
    return module.backward(upstream)


def _check_module(module, check_inputs: str, backward) -> list:
    """The module's ``(name, Parameter)`` pairs, after checking it can be gradchecked at all."""
    name = type(module).__name__
    if check_inputs not in INPUT_MODES:
        raise ValueError(f"gradcheck check_inputs must be one of {', '.join(INPUT_MODES)}, got {check_inputs!r}")
    if backward is None and not callable(getattr(module, "backward", None)):
        raise TypeError(
            f"gradcheck needs a backward: {name} has no backward method. minirnn has no autograd, so a "
            "module needs a hand-written backward(...), or pass backward=callable(module, G)"
        )
    if not is_grad_enabled():
        raise RuntimeError("gradcheck cannot run inside no_grad(): its analytic pass needs the forward caches")
    params = list(module.named_parameters()) if hasattr(module, "named_parameters") else []
    for pname, p in params:
        if p.dtype != np.float64:
            raise TypeError(
                f"gradcheck needs float64 parameters, got {p.dtype} for {pname!r}; "
                f"build the module with dtype='float64'"
            )
    return params


def _check_deterministic(name: str, loss_fn, loss_analytic: float) -> None:
    """Finite differences need L to be a function: one more forward must give the same loss."""
    loss_again = loss_fn()
    if not abs(loss_again - loss_analytic) <= 1e-10 * (1.0 + abs(loss_analytic)):
        raise RuntimeError(
            f"gradcheck: {name} gave a different output for the same input ({loss_analytic!r} then "
            f"{loss_again!r}); finite differences need a deterministic forward: call module.eval() to "
            "turn dropout off"
        )


def _input_gradients(name: str, float_inputs: list, returned, check_inputs: str) -> list:
    """``[(input name, input, its gradient)]`` pairing the float inputs with what backward returned.

    "first" pairs the first float input with the first array returned; "all" pairs them
    in the same nested order. A None gradient is skipped (the input gets no check).
    """
    grads = _grad_leaves(returned, [])
    pairs = list(zip(float_inputs, grads))
    if check_inputs == "first":
        pairs = pairs[:1]
    checked = []
    for (iname, array), grad in pairs:
        if grad is None:
            continue
        if not is_array(grad) or tuple(grad.shape) != tuple(array.shape):
            got = tuple(grad.shape) if is_array(grad) else type(grad).__name__
            raise ValueError(
                f"gradcheck: {name}'s backward returned {got} where the gradient of {iname} "
                f"{tuple(array.shape)} was expected; pass check_inputs='none' or a backward= override"
            )
        checked.append((iname, array, grad))
    return checked


def gradcheck(
    module,
    *inputs,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_elements: int = 64,
    num_directions: int = 4,
    backward=None,
    check_inputs: str = "first",
    forward_kwargs: dict | None = None,
) -> GradcheckReport:
    """Check a module's backward against finite differences of ``L = sum(out * G)``.

    With G a random N(0, 1) upstream gradient for every float output (for nested
    outputs such as LSTM's ``(out, (h_n, c_n))``, one per array), the analytic
    gradients are what the module's backward produces from G:

        dL/dp      = p.grad after ``module.zero_grad(); module(*inputs); backward(G)``
        dL/dinput  = the first array backward returns

    ===============  ==============================================================
    module           any object with a forward call and a ``backward``; parameters
                     are taken from ``named_parameters()`` and must be float64
                     (build the module with ``dtype="float64"``)
    inputs           the forward's positional arguments; float arrays must be
                     float64 and are copied before being perturbed; other values
                     (ids, lengths, None) are passed through unchanged
    forward_kwargs   keyword arguments of the forward, passed through (``lengths``)
    backward         ``backward(module, G) -> input gradients``, to override the
                     default calling convention (see below) for your own modules
    check_inputs     "first": the first float input against the first array
                     backward returns (skipped when backward returns None, as
                     Embedding does); "all": every float input against backward's
                     results in the same nested order (``x, (h0, c0)`` against
                     ``dx, (dh0, dc0)``); "none": parameters only
    seed             seeds G and the random directions
    eps, rtol, atol, max_elements, num_directions: as in ``check_gradients``
    ===============  ==============================================================

    The default backward call is ``module.backward(*G)`` for RNN/GRU/LSTM (that is
    ``backward(dout, dh_n)`` or ``backward(dout, (dh_n, dc_n))``) and
    ``module.backward(G)`` for everything else (``Linear``: ``backward(dy)``,
    ``LSTMCell``: ``backward((dh, dc))``).

    The caller's responsibilities:

    * Determinism: dropout must be off (``module.eval()``). The loss is evaluated
      once more to confirm it matches the analytic pass, and a mismatch raises.
    * The forward must read its parameters' ``.data`` on every call (they are
      perturbed in place), and must not be at a kink (relu at exactly 0).
    * Quantities that are not derivatives by design fail, as they should: the
      ``padding_idx`` row of an Embedding receives no gradient, so ids that use it
      make that row disagree with finite differences.

    Every forward of the finite-difference passes runs under ``no_grad()``, so no
    caches pile up. On return the parameters hold their original values and their
    ``.grad`` holds the analytic gradient of L. Returns a ``GradcheckReport``.
    """
    name = type(module).__name__
    params = _check_module(module, check_inputs, backward)
    inputs = _copy_inputs(tuple(inputs))
    float_inputs = _float_leaves(inputs, "input", [])
    for iname, array in float_inputs:
        if array.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs, got {array.dtype} for {iname!r}")
    kwargs = dict(forward_kwargs or {})
    call_backward = _default_backward if backward is None else backward

    # The analytic pass: one forward with caches, one backward with G.
    if hasattr(module, "zero_grad"):
        module.zero_grad()
    out = module(*inputs, **kwargs)
    upstream = _upstream(out, np.random.default_rng(seed))
    if all(g is None for g in _grad_leaves(upstream, [])):
        raise ValueError(f"gradcheck found no float output of {name} to differentiate")
    loss_analytic = _contract(out, upstream)
    returned = call_backward(module, upstream)

    def loss_fn():
        with no_grad():
            return _contract(module(*inputs, **kwargs), upstream)

    _check_deterministic(name, loss_fn, loss_analytic)
    arrays = {pname: p.data for pname, p in params}
    analytic = {pname: p.grad for pname, p in params}
    if check_inputs != "none" and returned is not None:
        for iname, array, grad in _input_gradients(name, float_inputs, returned, check_inputs):
            arrays[iname], analytic[iname] = array, grad
    return check_gradients(loss_fn, arrays, analytic, eps=eps, rtol=rtol, atol=atol, max_elements=max_elements,
                           num_directions=num_directions, seed=seed + 1)  # fmt: skip
