"""minirnn.optim against torch.optim in float64: SGD, Adam/AdamW, clip_grad_norm, LR schedules.

Each optimizer test builds the same random parameters in both libraries, feeds them the
same sequence of random gradients (one parameter gets no gradient on some steps, which
both must skip) and compares the parameters after every step and the buffers at the end.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import minirnn as mr
from minirnn.optim import SGD, Adam, AdamW, ExponentialLR, StepLR, clip_grad_norm

SHAPES = [(4, 3), (3,), (2, 3, 2), (5,)]
STEPS = 25
TOL = 1e-12

TORCH_CLASSES = {SGD: torch.optim.SGD, Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}


def make_params(rng, dtype=np.float64):
    return [mr.Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]


def make_grads(rng, steps=STEPS, dtype=np.float64):
    """A list over steps of per-parameter gradients; parameter 3 gets None on steps 0-2 and 10."""
    grads = []
    for step in range(steps):
        row = [rng.standard_normal(shape).astype(dtype) * (1.0 + step % 3) for shape in SHAPES]
        if step < 3 or step == 10:
            row[3] = None
        grads.append(row)
    return grads


def set_grads(params, row):
    for p, g in zip(params, row):
        p.grad = None if g is None else g.copy()


def set_torch_grads(tparams, row):
    for p, g in zip(tparams, row):
        p.grad = None if g is None else torch.from_numpy(g.copy())


def assert_close(actual, expected, tol=TOL, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=what)


def run_parity(cls, kwargs, seed=0):
    rng = np.random.default_rng(seed)
    params = make_params(rng)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    grads = make_grads(rng)
    opt = cls(params, **kwargs)
    topt = TORCH_CLASSES[cls](tparams, **kwargs)
    for step, row in enumerate(grads):
        set_grads(params, row)
        set_torch_grads(tparams, row)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(params, tparams)):
            assert_close(p.data, tp.detach().numpy(), what=f"{cls.__name__}{kwargs} step {step} param {i}")
    return opt, topt, params, tparams


SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.05, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True},
    {"lr": 0.02, "momentum": 0.8, "dampening": 0.5, "weight_decay": 0.05},
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_matches_torch(kwargs):
    opt, topt, params, tparams = run_parity(SGD, kwargs)
    for i, tp in enumerate(tparams):
        tstate = topt.state[tp]
        if kwargs.get("momentum", 0) != 0:
            assert_close(opt.state[i]["momentum_buffer"], tstate["momentum_buffer"].numpy())
        else:
            assert not opt.state[i]


ADAM_CASES = [
    {"lr": 0.01},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05},
    {"lr": 0.03, "betas": (0.8, 0.99), "eps": 1e-6},
]


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_adam_matches_torch(cls, kwargs):
    opt, topt, params, tparams = run_parity(cls, kwargs)
    for i, tp in enumerate(tparams):
        tstate = topt.state[tp]
        assert opt.state[i]["step"] == int(tstate["step"])
        names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if kwargs.get("amsgrad") else [])
        for name in names:
            assert_close(opt.state[i][name], tstate[name].numpy(), what=name)
    # parameter 3 missed 4 gradients, so its own step count lags, as in torch
    assert opt.state[3]["step"] == STEPS - 4


def test_adam_with_decaying_lr_matches_torch():
    """The lr is read at every step, so a schedule changes the update as in torch."""
    rng = np.random.default_rng(3)
    params = make_params(rng)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    opt, topt = Adam(params, lr=0.05), torch.optim.Adam(tparams, lr=0.05)
    sched, tsched = StepLR(opt, step_size=3, gamma=0.5), torch.optim.lr_scheduler.StepLR(topt, 3, 0.5)
    for row in make_grads(rng, steps=12):
        set_grads(params, row)
        set_torch_grads(tparams, row)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    for p, tp in zip(params, tparams):
        assert_close(p.data, tp.detach().numpy())


# --------------------------------------------------------------------------- state dict


def roundtrip_through_files(state_dict, tmp_path):
    """What a checkpoint does: meta as JSON, arrays as .npz loaded without pickle."""
    meta_path, arrays_path = tmp_path / "optim.json", tmp_path / "optim.npz"
    meta_path.write_text(json.dumps(state_dict["meta"]))
    np.savez(arrays_path, **state_dict["arrays"])
    with np.load(arrays_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return {"meta": json.loads(meta_path.read_text()), "arrays": arrays}


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        (SGD, {"lr": 0.05}),
        (Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
        (Adam, {"lr": 0.01, "betas": (0.8, 0.95)}),
        (AdamW, {"lr": 0.01}),
    ],
)
def test_state_dict_resumes_bit_for_bit(cls, kwargs, tmp_path):
    rng = np.random.default_rng(7)
    start = make_params(rng)
    grads = make_grads(rng, steps=10)

    straight = [mr.Parameter(p.data.copy()) for p in start]
    opt = cls(straight, **kwargs)
    for row in grads:
        set_grads(straight, row)
        opt.step()

    first = [mr.Parameter(p.data.copy()) for p in start]
    opt_first = cls(first, **kwargs)
    for row in grads[:5]:
        set_grads(first, row)
        opt_first.step()
    saved = roundtrip_through_files(opt_first.state_dict(), tmp_path)  # fails unless meta is plain JSON

    resumed = [mr.Parameter(p.data.copy()) for p in first]
    opt_resumed = cls(resumed, lr=123.0) if cls is SGD else cls(resumed)  # hyperparameters come from the state
    opt_resumed.load_state_dict(saved)
    assert opt_resumed.hyperparameters == opt.hyperparameters
    for row in grads[5:]:
        set_grads(resumed, row)
        opt_resumed.step()

    for p, q in zip(resumed, straight):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt_resumed.step_count == opt.step_count == 10
    assert opt_resumed.state_dict()["meta"] == opt.state_dict()["meta"]


def test_state_dict_format():
    rng = np.random.default_rng(0)
    params = make_params(rng)
    opt = Adam(params, lr=0.01, amsgrad=True)
    set_grads(params, [rng.standard_normal(s) for s in SHAPES[:3]] + [None])
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"meta", "arrays"}
    meta = sd["meta"]
    assert meta["optimizer"] == "Adam" and meta["num_params"] == 4 and meta["step_count"] == 1
    assert meta["hyperparameters"]["betas"] == [0.9, 0.999]
    assert meta["state"] == {"0": {"step": 1}, "1": {"step": 1}, "2": {"step": 1}}
    assert sorted(sd["arrays"]) == sorted(
        f"state.{i}.{name}" for i in range(3) for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    )
    assert all(isinstance(a, np.ndarray) for a in sd["arrays"].values())
    # the arrays are copies: stepping again leaves a saved state dict alone
    before = sd["arrays"]["state.0.exp_avg"].copy()
    set_grads(params, [rng.standard_normal(s) for s in SHAPES])
    opt.step()
    np.testing.assert_array_equal(sd["arrays"]["state.0.exp_avg"], before)


def test_load_state_dict_errors():
    rng = np.random.default_rng(0)
    params = make_params(rng)
    opt = Adam(params)
    set_grads(params, [rng.standard_normal(s) for s in SHAPES])
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="'Adam' optimizer"):
        SGD(make_params(rng), lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="4 parameters, this optimizer has 2"):
        Adam(make_params(rng)[:2]).load_state_dict(sd)
    bad = {"meta": sd["meta"], "arrays": dict(sd["arrays"])}
    bad["arrays"]["state.1.exp_avg"] = np.zeros(7)
    fresh = Adam(make_params(rng))
    with pytest.raises(ValueError, match=r"state.1.exp_avg.*shape \(7,\)"):
        fresh.load_state_dict(bad)
    assert fresh.step_count == 0 and not any(fresh.state)  # a failed load changes nothing
    missing = {"meta": sd["meta"], "arrays": {k: v for k, v in sd["arrays"].items() if k != "state.2.exp_avg_sq"}}
    with pytest.raises(KeyError, match="state.2.exp_avg_sq"):
        Adam(make_params(rng)).load_state_dict(missing)
    extra = {"meta": sd["meta"], "arrays": {**sd["arrays"], "state.0.momentum_buffer": np.zeros(SHAPES[0])}}
    with pytest.raises(KeyError, match=r"unexpected arrays \['state.0.momentum_buffer'\]"):
        Adam(make_params(rng)).load_state_dict(extra)
    for meta, message in [
        ({**sd["meta"], "format": "v0"}, "expects format 'minirnn.optim.v1', got 'v0'"),
        ({**sd["meta"], "hyperparameters": {**sd["meta"]["hyperparameters"], "rho": 0.9}}, r"unknown .*\['rho'\]"),
        ({**sd["meta"], "state": {**sd["meta"]["state"], "9": {"step": 1}}}, r"parameter 9, which is outside \[0, 3\]"),
    ]:
        fresh = Adam(make_params(rng))
        with pytest.raises(ValueError, match=message):
            fresh.load_state_dict({"meta": meta, "arrays": sd["arrays"]})
        assert fresh.step_count == 0 and not any(fresh.state)
    resumed = Adam(make_params(rng), lr=0.5, betas=(0.5, 0.6))
    resumed.load_state_dict(sd)
    assert resumed.hyperparameters == opt.hyperparameters and resumed.step_count == 1
    assert resumed.param_groups[0]["betas"] == (0.9, 0.999)  # JSON's list comes back a tuple


# --------------------------------------------------------------------------- stepping details


def test_zero_grad_and_lr_property():
    rng = np.random.default_rng(0)
    params = make_params(rng)
    opt = SGD(params, lr=0.1)
    set_grads(params, [rng.standard_normal(s) for s in SHAPES])
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    before = [p.data.copy() for p in params]
    opt.step()  # no gradients: nothing moves
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
    opt.lr = 0.5
    assert opt.lr == 0.5 == opt.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="-1.0"):
        opt.lr = -1.0


def test_step_does_not_modify_grad_and_updates_in_place():
    rng = np.random.default_rng(0)
    params = make_params(rng)
    data_ids = [id(p.data) for p in params]
    grads = [rng.standard_normal(s) for s in SHAPES]
    set_grads(params, grads)
    opt = SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    opt.step()
    assert [id(p.data) for p in params] == data_ids
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad, g)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    for cls in (SGD, Adam):
        params = make_params(rng, np.float32)
        opt = cls(params, lr=0.01, weight_decay=0.1) if cls is Adam else cls(params, lr=0.01, momentum=0.9)
        for row in make_grads(rng, steps=3, dtype=np.float32):
            set_grads(params, row)
            opt.step()
        assert all(p.data.dtype == np.float32 for p in params)
        assert all(a.dtype == np.float32 for a in opt.state_dict()["arrays"].values())


def test_grad_mismatch_errors():
    p = mr.Parameter(np.zeros(3))
    opt = SGD([p], lr=0.1)
    p.grad = np.zeros(4)
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(4,\)"):
        opt.step()
    p.grad = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError, match="float32"):
        opt.step()


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda ps: SGD(ps, lr=-0.1), "-0.1"),
        (lambda ps: SGD(ps, lr=float("nan")), "nan"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.5), "momentum to be a real number >= 0.0, got -0.5"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1), "weight_decay to be a real number >= 0.0, got -1"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov.*momentum=0.0"),
        (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
        (lambda ps: Adam(ps, lr=-1e-3), "-0.001"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), r"beta1 .*1.0"),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), r"beta2 .*-0.1"),
        (lambda ps: Adam(ps, betas=0.9), "pair"),
        (lambda ps: Adam(ps, eps=-1e-8), "eps to be a real number >= 0.0, got -1e-08"),
        (lambda ps: AdamW(ps, weight_decay=-0.01), "weight_decay to be a real number >= 0.0, got -0.01"),
        (lambda ps: Adam([]), "empty parameter list"),
        (lambda ps: SGD(iter([]), lr=0.1), "empty parameter list"),
        (lambda ps: SGD(ps + ps[:1], lr=0.1), "twice"),
    ],
)
def test_bad_hyperparameters(make, match):
    params = make_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match=match):
        make(params)


def test_bad_parameter_types():
    with pytest.raises(TypeError, match=r"model.parameters\(\)"):
        SGD(mr.Linear(2, 2), lr=0.1)
    with pytest.raises(TypeError, match="ndarray at index 0"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="real number"):
        SGD(make_params(np.random.default_rng(0)), lr="0.1")


# --------------------------------------------------------------------------- clip_grad_norm


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(5)
    params = make_params(rng)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    row = [rng.standard_normal(s) * 3 for s in SHAPES]
    row[1] = None
    set_grads(params, row)
    set_torch_grads(tparams, row)
    total = clip_grad_norm(params, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert_close(total, ttotal.item())
    clipped = any(not np.array_equal(p.grad, g) for p, g in zip(params, row) if g is not None)
    assert clipped == (max_norm < ttotal.item())
    for p, tp in zip(params, tparams):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, tp.grad.numpy())


def test_clip_grad_norm_edge_cases():
    p = mr.Parameter(np.ones(3))
    assert clip_grad_norm([p], 1.0) == 0.0  # no gradients at all
    p.grad = np.array([3.0, 4.0, 0.0])
    assert clip_grad_norm(p, 10.0) == 5.0  # a single Parameter is accepted
    np.testing.assert_array_equal(p.grad, [3.0, 4.0, 0.0])
    p.grad = np.array([np.inf, 1.0, 0.0])
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm to be a real number >= 0.0, got -1.0"):
        clip_grad_norm([p], -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm([p], 1.0, norm_type=0)


def test_clip_grad_norm_float32_matches_torch():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    params = [mr.Parameter(np.zeros(s, np.float32)) for s in SHAPES]
    tparams = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float32)) for s in SHAPES]
    set_grads(params, grads)
    set_torch_grads(tparams, grads)
    total = clip_grad_norm(params, 0.1)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.1)
    assert abs(total - ttotal.item()) <= 1e-6 * ttotal.item()
    for p, tp in zip(params, tparams):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- LR schedules


def make_scheduler_pair(kind, kwargs, lr=0.3):
    params = make_params(np.random.default_rng(0))
    tparams = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    opt, topt = SGD(params, lr=lr), torch.optim.SGD(tparams, lr=lr)
    mine = {"step": StepLR, "exp": ExponentialLR}[kind](opt, **kwargs)
    theirs = {"step": torch.optim.lr_scheduler.StepLR, "exp": torch.optim.lr_scheduler.ExponentialLR}[kind](
        topt, **kwargs
    )
    return opt, topt, mine, theirs


SCHEDULE_CASES = [
    ("step", {"step_size": 3, "gamma": 0.1}),
    ("step", {"step_size": 1, "gamma": 0.7}),
    ("step", {"step_size": 4}),
    ("exp", {"gamma": 0.9}),
    ("exp", {"gamma": 1.05}),
]


@pytest.mark.parametrize("kind,kwargs", SCHEDULE_CASES)
def test_schedules_match_torch(kind, kwargs):
    opt, topt, mine, theirs = make_scheduler_pair(kind, kwargs)
    assert mine.get_last_lr() == theirs.get_last_lr()
    for _ in range(15):
        opt.step()
        topt.step()
        mine.step()
        theirs.step()
        assert mine.get_last_lr() == theirs.get_last_lr()  # exact: the same chain of products
        assert opt.lr == topt.param_groups[0]["lr"]


@pytest.mark.parametrize("kind,kwargs", SCHEDULE_CASES[:1] + SCHEDULE_CASES[3:4])
def test_schedule_state_dict_resumes(kind, kwargs):
    opt, _, mine, _ = make_scheduler_pair(kind, kwargs)
    straight = []
    for _ in range(12):
        mine.step()
        straight.append(mine.get_last_lr()[0])

    opt_a, _, first, _ = make_scheduler_pair(kind, kwargs)
    for _ in range(5):
        first.step()
    sched_state = json.loads(json.dumps(first.state_dict()))
    opt_state = opt_a.state_dict()
    opt_b, _, resumed, _ = make_scheduler_pair(kind, kwargs, lr=0.01)
    opt_b.load_state_dict(opt_state)
    resumed.load_state_dict(sched_state)
    assert resumed.get_last_lr() == first.get_last_lr()
    lrs = []
    for _ in range(7):
        resumed.step()
        lrs.append(resumed.get_last_lr()[0])
    assert lrs == straight[5:]


def test_schedule_errors():
    opt = SGD(make_params(np.random.default_rng(0)), lr=0.1)
    with pytest.raises(ValueError, match="step_size to be a positive integer, got 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="step_size to be a positive integer, got 2.5"):
        StepLR(opt, step_size=2.5)
    with pytest.raises(ValueError, match="gamma to be a finite positive number, got -0.5"):
        ExponentialLR(opt, gamma=-0.5)
    with pytest.raises(TypeError, match="minirnn optimizer"):
        ExponentialLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), gamma=0.9)
    with pytest.raises(ValueError, match="'StepLR'"):
        ExponentialLR(opt, gamma=0.9).load_state_dict(StepLR(opt, step_size=2).state_dict())


# --------------------------------------------------------------------------- in use


def test_adam_fits_linear_regression():
    """Adam with clipping and a decaying lr recovers the weights of a noiseless linear map."""
    rng = np.random.default_rng(11)
    inputs = rng.standard_normal((64, 5))
    true_weight, true_bias = rng.standard_normal((3, 5)), rng.standard_normal(3)
    targets = inputs @ true_weight.T + true_bias
    model = mr.Linear(5, 3, dtype="float64")
    opt = Adam(model.parameters(), lr=0.05)
    sched = ExponentialLR(opt, gamma=0.995)
    losses = []
    for _ in range(600):
        predictions = model(inputs)  # (N, 3)
        residual = predictions - targets
        losses.append(float(np.mean(residual**2)))
        model.backward(2.0 * residual / residual.size)
        clip_grad_norm(model.parameters(), max_norm=5.0)
        opt.step()
        opt.zero_grad()
        sched.step()
    assert losses[-1] < 1e-6 * losses[0]
    np.testing.assert_allclose(model.weight.data, true_weight, atol=1e-3)
    np.testing.assert_allclose(model.bias.data, true_bias, atol=1e-3)
