"""The step functions as compiled loops: the optional ``jit`` extra (numba).

On NumPy, one call of a step function in ``pointwise.py`` is 2 to 22 ufunc calls,
each a pass over the step's (n, H) blocks: fast SIMD passes, but each pays NumPy's
call overhead and reads and writes memory again. This module turns each step
function into one loop that computes every value of an element at once::

    for r in range(rows):
        for j in range(width):
            <the function's own statements, on the scalars of element (r, j)>
            out0[r, j] = ...

The loop is not written by hand: ``loop_source`` derives it from the function's
source with ``ast``, like ``pointwise.into_form`` does, so the gate math still
exists once (``print(loop_source(pointwise.lstm_forward))`` shows what numba
compiles). In the statements, ``xp.tanh`` becomes the scalar ``tanh`` below,
``xp.maximum`` a scalar maximum, a comparison 1 or 0, and each number a constant of
the outputs' dtype (so float32 stays float32 in the loop, as it does in NumPy).

float32, the dtype the benchmarks run, uses a rational tanh, ``x P(x^2) / Q(x^2)``
clamped to [-1, 1], which LLVM vectorises. Three things keep the loop vectorised,
each measured by ``benchmarks/bench_step_kernels.py --variants`` (LSTM forward step
at N64 H256, float32: NumPy 64 µs, this loop 34 µs):

* the rational tanh: libm's ``tanhf`` is a call per element (1,345 µs);
* numba's ``error_model="numpy"``: its default checks each division for zero, which
  forces scalar code (286 µs);
* C layout: a gate's columns of an (n, 4H) block, as numba sees them (layout "A",
  strides known at run time), index too generally to vectorise (246 µs), so they are
  retyped as C-layout arrays in place (``c_rows``) and read through row views.

The tanh's coefficients are fitted when the kernels are built (``fit_tanh``, a
weighted least squares on [0, 9]; no typed-in numbers; the fit goes through the local
LAPACK, so the last bits of float32 results may differ between machines) and its
error is bounded by a test: at most 8 units in the last place of float32 over
[-10, 10], where NumPy's float32 tanh is within 2. NaN and infinities behave as
tanh's. Every other dtype calls ``math.tanh``, so the float64 loop computes what
NumPy computes to the last bits or so; that is how the tests prove the generated loop
is the function (float64 against NumPy to 1e-13), and separately that the float32
tanh is accurate.

The extra is off by default: NumPy is the default path. Switch it on with
``minirnn.fast.set_kernels("numba")`` or ``MINIRNN_KERNELS=numba`` in the
environment; ``pip install "minirnn[jit]"`` installs numba. Each function compiles
at its first call (under a second each; not cached on disk), then float32 calls of
the fast loop run compiled and the other dtypes keep NumPy's ``into`` form (their
loops would call libm's tanh per element and stay scalar; not timed). CuPy arrays
never reach this module (``cupy.fuse`` serves them).
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import textwrap
import warnings
from types import SimpleNamespace

from ..backend import np

KERNELS = ("numpy", "numba")
_state = {"kernels": "numpy", "helpers": None, "ops": None}
_SCALAR_OF = {"tanh": "_tanh", "maximum": "_maximum"}  # xp.<ufunc> -> its scalar form in the loop


def set_kernels(name: str) -> None:
    """Choose the NumPy step kernels: ``"numpy"`` (the default: ``pointwise.py``'s
    ufuncs, written in place) or ``"numba"`` (this module; needs the ``jit`` extra)."""
    if name not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {name!r}")
    if name == "numba":
        _require_numba()
    _state["kernels"] = name


def kernels() -> str:
    """The NumPy step kernels in use: ``"numpy"`` or ``"numba"``."""
    return _state["kernels"]


def _require_numba():
    try:
        import numba
    except ImportError as err:
        raise ImportError('the "numba" kernels need numba: pip install "minirnn[jit]" (or pip install numba)') from err
    return numba


# ============================================================================ the float32 tanh


def fit_tanh(limit: float = 9.0, p_terms: int = 6, q_terms: int = 4, rounds: int = 60):
    """Coefficients ``(p, q)``, lowest power first, of ``tanh(x) ~ x P(x^2) / Q(x^2)`` on
    [0, limit] with ``Q(0) = 1``: the least-squares fit of ``x P - tanh(x) Q``, weighted
    for relative error and reweighted ``rounds`` times towards the worst points (Loeb's
    linearisation with Lawson's weights). float64 throughout; about 0.2 s."""
    x = np.concatenate([np.linspace(1e-6, limit, 20000), np.geomspace(1e-6, 1, 2000)])
    t, s = np.tanh(x), x * x
    columns = [x * s**k for k in range(p_terms)] + [-t * s**k for k in range(1, q_terms)]
    design = np.stack(columns, axis=1)
    weights, denominator = np.ones_like(x), np.ones_like(x)
    for _ in range(rounds):
        scale = weights / (denominator * t)
        coef = np.linalg.lstsq(design * scale[:, None], t * scale, rcond=None)[0]
        p, q = coef[:p_terms], np.concatenate([[1.0], coef[p_terms:]])
        denominator = np.polyval(q[::-1], s)
        error = np.abs(x * np.polyval(p[::-1], s) / denominator - t) / t
        weights = weights * (1 + error / error.max())
    return p, q


def _stand_in(name):
    """A Python function that only names a helper; ``numba.extending.overload`` gives
    it its compiled body."""
    def helper(*args):
        raise NotImplementedError(f"{name} runs only inside a compiled loop")

    helper.__name__ = helper.__qualname__ = name
    return helper


def _build_helpers():
    """The helpers the generated loops call, as numba overloads (built once)."""
    numba = _require_numba()
    helpers = {name: _stand_in(name) for name in ("_tanh", "_maximum", "_typed", "_row", "_rows")}
    _overload_scalars(numba, helpers)
    _overload_blocks(numba, helpers)
    return helpers


def _float32_tanh(numba, error_model="numpy"):
    """The rational float32 tanh (module docstring), compiled. ``error_model="python"``
    (numba's default: a zero check per division) is there for the benchmark that shows
    what it costs (``benchmarks/bench_step_kernels.py --variants``)."""
    p, q = (tuple(np.float32(c) for c in coef) for coef in fit_tanh())
    limit, one = np.float32(9.0), np.float32(1.0)

    @numba.njit(error_model=error_model, fastmath={"contract"})  # fused multiply-adds, no NaN/inf shortcuts
    def tanh32(x):
        if x > limit:  # written so that a NaN passes through unchanged
            x = limit
        if x < -limit:
            x = -limit
        s = x * x
        num = ((((p[5] * s + p[4]) * s + p[3]) * s + p[2]) * s + p[1]) * s + p[0]
        y = x * num / (((q[3] * s + q[2]) * s + q[1]) * s + q[0])
        if y > one:
            y = one
        if y < -one:
            y = -one
        return y

    return tanh32


def _overload_scalars(numba, helpers):
    """``_tanh(x)``, ``_maximum(a, b)`` and ``_typed(like, value)`` (``value`` in
    ``like``'s dtype) on scalars."""
    from numba.extending import overload

    tanh32 = _float32_tanh(numba)

    @overload(helpers["_tanh"])
    def _tanh(x):
        if x == numba.types.float32:
            return lambda x: tanh32(x)
        return lambda x: math.tanh(x)

    @overload(helpers["_maximum"])
    def _maximum(a, b):
        def impl(a, b):  # NumPy's maximum: a NaN on either side wins
            if a != a or a >= b:
                return a
            return b

        return impl

    @overload(helpers["_typed"])
    def _typed(like, value):
        dtype = like.dtype
        return lambda like, value: dtype(value)


def _overload_blocks(numba, helpers):
    """``_rows(a, rows, width)``: ``a`` checked against out[0]'s shape and seen in C
    layout; ``_row(a, r, width)``: its row r as a (width,) array (a broadcast row: itself).

    The loop reads and writes through the (width,) row views, not through ``a[r, j]``:
    with the gates of dG as C-layout views, each reaching across the whole row, LLVM's
    runtime overlap check saw the views overlap and ran the scalar loop (LSTM backward
    at N64 H256: 45 µs; through row views: 14 µs; NumPy 60 µs)."""
    from numba.core import cgutils
    from numba.core.imputils import impl_ret_borrowed
    from numba.extending import intrinsic, overload
    from numba.np.arrayobj import make_array, populate_array

    @intrinsic
    def c_rows(typingctx, a):
        """An (n, H) block whose rows are contiguous (a gate's columns of an (n, k*H)
        array), seen as the C-layout (n, row_stride) array that starts where it does;
        the loop reads only its first H columns. C layout is what lets LLVM vectorise."""
        def codegen(context, builder, sig, args):
            src = make_array(sig.args[0])(context, builder, args[0])
            dst = make_array(sig.return_type)(context, builder)
            rows, _ = cgutils.unpack_tuple(builder, src.shape)
            row_stride, _ = cgutils.unpack_tuple(builder, src.strides)
            shape = cgutils.pack_array(builder, [rows, builder.sdiv(row_stride, src.itemsize)])
            populate_array(dst, data=src.data, shape=shape, strides=src.strides, itemsize=src.itemsize,
                           meminfo=src.meminfo, parent=src.parent)
            return impl_ret_borrowed(context, builder, sig.return_type, dst._getvalue())

        return a.copy(layout="C")(a), codegen

    keep = numba.njit(lambda a: a)

    @overload(helpers["_rows"])
    def _rows(a, rows, width):
        if a.ndim == 1:
            def check_row(a, rows, width):
                if a.shape[0] != width:
                    raise ValueError("compiled step: a 1-D argument must have out[0]'s width")
                return a

            return check_row
        as_c = keep if a.layout == "C" else c_rows

        def check_block(a, rows, width):
            if a.shape[0] != rows or a.shape[1] != width:
                raise ValueError("compiled step: every block must have out[0]'s shape")
            if rows > 0 and width > 1 and a.strides[1] != a.itemsize:
                raise ValueError("compiled step: every block needs contiguous rows")
            if rows > 1 and (a.strides[0] <= 0 or a.strides[0] % a.itemsize != 0):
                raise ValueError("compiled step: every block needs a positive row stride, a multiple of its itemsize")
            return as_c(a)

        return check_block

    @overload(helpers["_row"])
    def _row(a, r, width):
        if a.ndim == 2:
            return lambda a, r, width: a[r, :width]
        return lambda a, r, width: a  # a (width,) row, broadcast down the rows (the GRU's b_hn)


# ============================================================================ the generated loop


class _Scalarise(ast.NodeTransformer):
    """The statements of a step function, rewritten for one element: ``xp.f(...)`` as
    its scalar helper, a comparison as 1 or 0, each number as a constant ``_KN`` of
    the arrays' dtype (collected in ``constants``)."""

    def __init__(self):
        self.constants = []

    def _constant(self, value):
        if value not in self.constants:
            self.constants.append(value)
        return ast.Name(f"_K{self.constants.index(value)}", ast.Load())

    def visit_Constant(self, node):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ValueError(f"loop_source: cannot compile the constant {node.value!r}")
        return self._constant(node.value)

    def visit_Call(self, node):
        self.generic_visit(node)
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "xp"
                and func.attr in _SCALAR_OF and not node.keywords):
            raise ValueError(f"loop_source: no scalar form for {ast.unparse(node)!r}")
        return ast.Call(ast.Name(_SCALAR_OF[func.attr], ast.Load()), node.args, [])

    def visit_Compare(self, node):
        self.generic_visit(node)
        return ast.IfExp(node, self._constant(1), self._constant(0))


def _statements(fn):
    """``(parameters, statements, returned values)`` of ``fn``'s source, without its
    docstring and its ``xp = get_array_module(...)`` line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    returned = tree.body[-1].value
    values = returned.elts if isinstance(returned, ast.Tuple) else [returned]
    body = [s for s in tree.body[:-1] if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            and not (isinstance(s, ast.Assign) and s.targets[0].id == "xp")]
    return [a.arg for a in tree.args.args], body, values


def loop_source(fn) -> str:
    """The source of ``fn_loop(out0, ..., outK, *args)``: ``fn``'s statements run for
    each element (r, j) of ``out0``'s shape, value k stored in ``outk[r, j]`` (see the
    module docstring). Every argument is an (n, H) block with contiguous rows, or an
    (H,) row that broadcasts; the loop checks the shapes and strides. As with
    ``fn.into``, an output may be the very array of an input (each element is read
    before it is written) but must not overlap one at an offset. The constants take
    ``out0``'s dtype."""
    params, body, values = _statements(fn)
    names = params + [t.id for s in body for t in getattr(s, "targets", ()) if isinstance(t, ast.Name)]
    if any(name.startswith(("_", "out")) for name in names):
        raise ValueError(f"loop_source: {fn.__name__} uses names that start with '_' or 'out', the loop's own")
    scalarise = _Scalarise()
    body = [scalarise.visit(s) for s in body]
    values = [scalarise.visit(v) for v in values]
    outs = [f"out{k}" for k in range(len(values))]
    lines = [f"def {fn.__name__}_loop({', '.join(outs + params)}):", "    _N, _W = out0.shape[0], out0.shape[1]"]
    lines += [f"    _A_{name} = _rows({name}, _N, _W)" for name in outs + params]
    lines += [f"    _K{k} = _typed(out0, {value!r})" for k, value in enumerate(scalarise.constants)]
    lines += ["    for _R in range(_N):"]
    lines += [f"        _R_{name} = _row(_A_{name}, _R, _W)" for name in outs + params]
    lines += ["        for _J in range(_W):"]
    lines += [f"            {name} = _R_{name}[_J]" for name in params]
    lines += [f"            {ast.unparse(s)}" for s in body]
    lines += [f"            _R_{out}[_J] = {ast.unparse(v)}" for out, v in zip(outs, values)]
    return "\n".join(lines) + "\n"


def compile_step(fn):
    """``fn``'s loop (``loop_source``), compiled by numba; it specialises per dtype
    and layout at its first call with each."""
    numba = _require_numba()
    if _state["helpers"] is None:
        _state["helpers"] = _build_helpers()
    namespace = dict(_state["helpers"])
    exec(compile(loop_source(fn), f"<minirnn.fast.compiled: {fn.__name__}>", "exec"), namespace)
    return numba.njit(error_model="numpy", boundscheck=False)(namespace[f"{fn.__name__}_loop"])


class CompiledStep:
    """One step function with a compiled ``into``: float32 calls run ``fn``'s loop
    (compiled at the first one); other dtypes run ``fn.into``. Calling it runs ``fn``."""

    def __init__(self, fn):
        self.fn, self.into_numpy, self.loop = fn, fn.into, None

    def __call__(self, *arrays):
        return self.fn(*arrays)

    def into(self, out, *arrays):
        if out[0].dtype != np.float32:
            return self.into_numpy(out, *arrays)
        if self.loop is None:
            self.loop = compile_step(self.fn)
        self.loop(*out, *arrays)


def compiled_ops(functions):
    """The namespace of ``CompiledStep``s for ``functions`` (built once)."""
    if _state["ops"] is None:
        _state["ops"] = SimpleNamespace(**{fn.__name__: CompiledStep(fn) for fn in functions})
    return _state["ops"]


def _kernels_from_environment():
    """``MINIRNN_KERNELS`` applied at import; a value that cannot be used warns (naming
    what was expected) and leaves the NumPy kernels, so that ``import minirnn`` and
    every command still work."""
    value = os.environ.get("MINIRNN_KERNELS", "").strip().lower()
    if value:
        try:
            set_kernels(value)
        except (ValueError, ImportError) as err:
            warnings.warn(f"the environment variable MINIRNN_KERNELS={os.environ['MINIRNN_KERNELS']!r} is "
                          f"ignored, using the NumPy kernels: {err}", RuntimeWarning, stacklevel=2)


_kernels_from_environment()
