"""The gate math of one time step, written once for NumPy and CuPy alike.

Each function below is the pointwise part of one cell step (no matmul), written as
plain array expressions on (n, H) blocks, one block per gate, that returns new
arrays. The fast loop (``recurrent.py``) calls the very same functions on both
backends:

* on NumPy, directly, or as ``fn.into(out, *args)``, the same statements with each
  result written into an array the loop gives (derived from this text by
  ``into_form``, below), or, with ``set_kernels("numba")``, as one compiled loop per
  function, generated from this text too (``compiled.py``, the optional jit extra);
* on CuPy, through ``cupy.fuse`` (``ops_for(cupy)``), which compiles each function
  into one elementwise kernel per step instead of ten to twenty separate launches.

So there is no second copy of the math (no CUDA C strings): the readable reference
is ``functional/cells.py``, and this is the only fast form. Python scalar constants
(``0.5``, ``1``) are "weak" under NumPy 2 and CuPy promotion rules: a float32 block
stays float32.

Layouts (internal to the fast path, see ``recurrent.py``):

* The gates keep PyTorch's order, LSTM ``[i | f | g | o]`` and GRU ``[r | z | n]``.
* The weight and bias rows of the sigmoid gates (i, f, o; r, z) are pre-scaled by
  1/2, so a sigmoid costs one tanh: ``sigma(a) = 0.5 * tanh(a / 2) + 0.5``.

Argument names: ``x_k`` is gate k's part of the input projection ``x W_ih^T + b``,
``hh_k`` its part of ``h_prev W_hh^T``, and ``a_k = x_k + hh_k`` its pre-activation
(all halved for sigmoid gates; the loop adds the blocks in one call per step, three
fewer than per gate); the activations are named as in ``cells.py`` (i, f, g, o;
r, z, n); ``d_k`` is the gradient of gate k's (unscaled) pre-activation, which the
weight GEMMs need.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import warnings
from types import SimpleNamespace

from ..backend import fuse, get_array_module, np
from .compiled import compiled_ops, kernels

# ============================================================================ Elman RNN


def rnn_tanh_forward(x_part, hh):
    """h = tanh(x_part + hh)."""
    xp = get_array_module(x_part, hh)
    return xp.tanh(x_part + hh)


def rnn_relu_forward(x_part, hh):
    """h = max(x_part + hh, 0)."""
    xp = get_array_module(x_part, hh)
    return xp.maximum(x_part + hh, 0)


def rnn_tanh_backward(dh, h):
    """d_a = dh * (1 - h^2)   (tanh' from its output)."""
    return dh * (1 - h * h)


def rnn_relu_backward(dh, h):
    """d_a = dh * [h > 0]   (relu' from its output)."""
    return dh * (h > 0)


# ============================================================================ LSTM


def lstm_forward(a_i, a_f, a_g, a_o, c_prev):
    """One LSTM step's gate math (halved i, f, o pre-activations). Returns
    ``(i, f, g, o, c, tanh_c, m)``:

    i, f, o = 0.5 * tanh(a) + 0.5               (= sigma of the unhalved a)
    g       = tanh(a_g)
    c       = f * c_prev + i * g
    m       = o * tanh(c)
    """
    xp = get_array_module(a_i, c_prev)
    i = 0.5 * xp.tanh(a_i) + 0.5
    f = 0.5 * xp.tanh(a_f) + 0.5
    g = xp.tanh(a_g)
    o = 0.5 * xp.tanh(a_o) + 0.5
    c = f * c_prev + i * g
    tanh_c = xp.tanh(c)
    return i, f, g, o, c, tanh_c, o * tanh_c


def lstm_backward(dm, dc, i, f, g, o, c_prev, tanh_c):
    """Backward of one LSTM step's gate math. ``dc`` is the gradient reaching c from
    the next step. Returns ``(d_i, d_f, d_g, d_o, dc_prev)``:

    dc      = dc + dm * o * (1 - tanh_c^2)       (through m = o * tanh(c))
    d_i     = dc * g * i(1 - i)                  d_f = dc * c_prev * f(1 - f)
    d_g     = dc * i * (1 - g^2)                 d_o = dm * tanh_c * o(1 - o)
    dc_prev = dc * f
    """
    dc = dc + dm * o * (1 - tanh_c * tanh_c)
    d_i = dc * g * i * (1 - i)
    d_f = dc * c_prev * f * (1 - f)
    d_g = dc * i * (1 - g * g)
    d_o = dm * tanh_c * o * (1 - o)
    return d_i, d_f, d_g, d_o, dc * f


# ============================================================================ GRU


def gru_forward(a_r, a_z, x_n, hh_n, b_hn, h_prev):
    """One GRU step's gate math (halved r, z pre-activations). ``hh_n`` is
    h_prev W_hn^T and ``b_hn`` (H,) the bias that the reset gate scales with it.
    Returns ``(r, z, n, hn, h)``:

    r, z = 0.5 * tanh(a) + 0.5
    hn   = hh_n + b_hn                           (kept: backward needs it)
    n    = tanh(x_n + r * hn)
    h    = n + z * (h_prev - n)                  (= (1 - z) * n + z * h_prev)
    """
    xp = get_array_module(a_r, hh_n)
    r = 0.5 * xp.tanh(a_r) + 0.5
    z = 0.5 * xp.tanh(a_z) + 0.5
    hn = hh_n + b_hn
    n = xp.tanh(x_n + r * hn)
    return r, z, n, hn, n + z * (h_prev - n)


def gru_backward(dh, r, z, n, hn, h_prev):
    """Backward of one GRU step's gate math. Returns ``(d_r, d_z, d_n, d_hn, dh_z)``:

    d_n  = dh * (1 - z) * (1 - n^2)              (gradient of x_n + r * hn)
    d_r  = d_n * hn * r(1 - r)                   d_z = dh * (h_prev - n) * z(1 - z)
    d_hn = d_n * r                               (the n part of dgh)
    dh_z = dh * z                                (the direct path to h_prev)
    """
    d_n = dh * (1 - z) * (1 - n * n)
    d_r = d_n * hn * r * (1 - r)
    d_z = dh * (h_prev - n) * z * (1 - z)
    return d_r, d_z, d_n, d_n * r, dh * z


# ============================================================================ per backend

STEP_FUNCTIONS = (
    rnn_tanh_forward,
    rnn_relu_forward,
    rnn_tanh_backward,
    rnn_relu_backward,
    lstm_forward,
    lstm_backward,
    gru_forward,
    gru_backward,
)


# ============================================================================ written in place

# Each step function also has an ``into`` form, ``fn.into(out, *args)``: the same
# statements, in the same order, with the last operation of each returned value
# writing straight into ``out[k]`` (``xp.multiply(a, b, out=out[k])`` for ``a * b``).
# The fast loop passes views of its own arrays as ``out`` (the step's rows of the
# activations, of the state slots, of dG), so NumPy writes each result once, where it
# is kept, instead of into a new array that the loop then copies. The form is not
# written by hand: ``into_form`` derives it from the function's source, so the math
# still exists once. It computes bit for bit what ``fn`` does (the same ufuncs on
# the same operands; tested), provided no ``out[k]`` overlaps an argument that is
# read after ``out[k]`` is written (the loop's outputs never do).

_UFUNC_OF_OPERATOR = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "true_divide",
                      ast.Gt: "greater"}


def _into_call(expr, destination):
    """``expr``, whose outermost node is an operator or an ``xp`` ufunc call, as that
    ufunc called with ``out=destination``."""
    if isinstance(expr, ast.BinOp) and type(expr.op) in _UFUNC_OF_OPERATOR:
        func, args = _UFUNC_OF_OPERATOR[type(expr.op)], [expr.left, expr.right]
    elif isinstance(expr, ast.Compare) and len(expr.ops) == 1 and type(expr.ops[0]) in _UFUNC_OF_OPERATOR:
        func, args = _UFUNC_OF_OPERATOR[type(expr.ops[0])], [expr.left, expr.comparators[0]]
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and not expr.keywords:
        func, args = expr.func.attr, expr.args
    else:
        raise ValueError(f"into_form: cannot write {ast.unparse(expr)!r} in place")
    return ast.Call(func=ast.Attribute(value=ast.Name("xp", ast.Load()), attr=func, ctx=ast.Load()),
                    args=args, keywords=[ast.keyword("out", destination)])


def into_form(fn):
    """``fn(*args) -> values`` rewritten as ``fn_into(out, *args)``, which writes value k
    into ``out[k]`` (see above) and returns None. Its text is ``fn_into.source``.

    Where the source cannot be read (a frozen application, say), the into form calls
    ``fn`` and copies its values into ``out``: the same values, one copy more.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError):
        return _copying_into(fn)
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)  # tracebacks point into this file
    func = tree.body[0]
    returned = func.body[-1].value
    values = returned.elts if isinstance(returned, ast.Tuple) else [returned]
    slot_of = {v.id: k for k, v in enumerate(values) if isinstance(v, ast.Name)}
    assigned = [t.id for s in func.body for t in getattr(s, "targets", ()) if isinstance(t, ast.Name)]
    for name in slot_of:
        if assigned.count(name) != 1:
            raise ValueError(f"into_form: {fn.__name__} returns {name!r}, which it must assign exactly once "
                             f"(assigned {assigned.count(name)} times)")

    def out_k(k):
        return ast.Subscript(value=ast.Name("out", ast.Load()), slice=ast.Constant(k), ctx=ast.Load())

    body = [] if "xp" in {n.id for n in ast.walk(func) if isinstance(n, ast.Name)} else [
        ast.parse("xp = get_array_module(out[0])").body[0]]
    for statement in func.body[:-1]:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the docstring
        target = statement.targets[0].id if isinstance(statement, ast.Assign) else None
        if target in slot_of:
            statement = ast.Assign(targets=statement.targets, value=_into_call(statement.value, out_k(slot_of[target])))
        body.append(statement)
    body += [ast.Expr(_into_call(v, out_k(k))) for k, v in enumerate(values) if not isinstance(v, ast.Name)]
    func.body, func.name, func.decorator_list = body, f"{fn.__name__}_into", []
    func.args.args.insert(0, ast.arg("out"))
    namespace = {}
    exec(compile(ast.fix_missing_locations(tree), inspect.getsourcefile(fn), "exec"), fn.__globals__, namespace)
    into = namespace[func.name]
    into.source = ast.unparse(tree)  # to read what was generated: print(lstm_forward.into.source)
    return into


def _copy_into(out, values):
    """out[k][...] = values[k] for each value (a single value or a tuple)."""
    for destination, value in zip(out, values if isinstance(values, tuple) else (values,)):
        destination[...] = value


def _copying_into(fn):
    def into(out, *args):
        _copy_into(out, fn(*args))

    into.source = None
    return into


for _fn in STEP_FUNCTIONS:
    _fn.into = into_form(_fn)


class FusedStep:
    """``cupy.fuse(fn)`` for one step function, created at its first call.

    ``fn`` is the NumPy function itself (the same object, not a copy). If CuPy cannot
    fuse it (an unsupported CuPy version, say), the call runs ``fn`` unfused on the
    CuPy arrays instead, which gives the same values with one launch per operation,
    and warns once; ``error`` then holds the reason.
    """

    def __init__(self, fn):
        self.fn = fn
        self.kernel = None
        self.error = None

    def __call__(self, *arrays):
        if self.error is None:
            try:
                if self.kernel is None:
                    self.kernel = fuse(self.fn)
                return self.kernel(*arrays)
            except Exception as err:  # noqa: BLE001 - any fusion failure falls back
                self.error = err
                warnings.warn(f"cupy.fuse failed for {self.fn.__name__} ({err!r}); running it unfused",
                              RuntimeWarning, stacklevel=2)
        return self.fn(*arrays)

    def into(self, out, *arrays):
        """Like ``fn.into``: the fused kernel's results, copied into ``out`` (one copy
        launch per value; to be measured on a GPU against writing them in the kernel)."""
        _copy_into(out, self(*arrays))


PLAIN = SimpleNamespace(**{fn.__name__: fn for fn in STEP_FUNCTIONS})
_fused = None  # the same functions wrapped in FusedStep, built at the first CuPy call


def ops_for(xp):
    """The step functions for array module ``xp``: the functions above, called
    directly on NumPy (or as compiled loops, ``compiled.py``, when the kernels are
    set to ``"numba"``) and through ``FusedStep`` (one kernel each) on CuPy."""
    global _fused
    if xp is np:
        return compiled_ops(STEP_FUNCTIONS) if kernels() == "numba" else PLAIN
    if _fused is None:
        _fused = SimpleNamespace(**{fn.__name__: FusedStep(fn) for fn in STEP_FUNCTIONS})
    return _fused
