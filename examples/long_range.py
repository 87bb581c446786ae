"""Why gated cells won: an Elman RNN, a GRU and an LSTM on the adding problem.

The adding problem (Hochreiter & Schmidhuber, 1997) is a long-range dependency with
nothing else to learn. Each step carries two numbers, a value in [0, 1] and a marker;
exactly two markers are 1, one in the first half of the sequence and one in the
second, and the target is the sum of the two marked values:

    t       0     1     2    ...    31    ...    49
    value   0.31  0.87  0.12  ...   0.55  ...    0.08
    marker  0     1     0     ...   1     ...    0          target = 0.87 + 0.55

Predicting the mean (1.0) gives a mean squared error of 1/6 = 0.167; anything well
below that means the model carries the first marked value across up to T steps.

Each cell reads the sequence, a linear head maps h_n to the prediction, and the
loss is MSE. The training loop is written out: forward, loss, backward layer by
layer, clip, Adam. The PNG shows the validation loss of the three cells (left) and,
at initialisation (dotted) and after training (solid), how much of the loss's
gradient reaches each step t (right, ``mr.gradient_flow`` with dh_n = dL/dh_n from
the head). The RNN's fades by many orders of magnitude before it reaches the first
half, where the first marker is, so it never learns to use it; the gated cells'
reaches every step, and training makes their gates carry it further.

    python examples/long_range.py            # about a minute on a laptop CPU
    python examples/long_range.py --quick    # seconds (CI)
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add overhead

import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402

# ----------------------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="short sequences and few steps, for CI")
parser.add_argument("--png", default=os.path.join("runs", "long_range", "long_range.png"), help="where to save")
args = parser.parse_args()

STEPS_T = 12 if args.quick else 50  # sequence length T
TRAIN_STEPS = 40 if args.quick else 1500
EVAL_EVERY = 10 if args.quick else 50
BATCH, VAL_BATCH, HIDDEN = 32, 500, 32
LR, CLIP, SEED = 1e-2, 1.0, 0
CELLS = {"RNN (tanh)": mr.RNN, "GRU": mr.GRU, "LSTM": mr.LSTM}
MEAN_BASELINE = 1 / 6  # the MSE of always predicting 1.0


# ----------------------------------------------------------------------------- data
def adding_batch(rng, n):
    """x (T, N, 2): [value, marker] per step; y (N,): the sum of the two marked values."""
    values = rng.uniform(0.0, 1.0, size=(STEPS_T, n))
    first = rng.integers(0, STEPS_T // 2, size=n)
    second = rng.integers(STEPS_T // 2, STEPS_T, size=n)
    markers = np.zeros((STEPS_T, n))
    markers[first, np.arange(n)] = 1.0
    markers[second, np.arange(n)] = 1.0
    x = np.stack([values, markers], axis=2).astype(np.float32)
    y = (values[first, np.arange(n)] + values[second, np.arange(n)]).astype(np.float32)
    return x, y


rng = np.random.default_rng(SEED)
val_x, val_y = adding_batch(rng, VAL_BATCH)


# ----------------------------------------------------------------------------- model
def forward(layer, head, x):
    """h_n of the last step -> a scalar prediction per sequence, (N,)."""
    _, state = layer(x)
    h_n = state[0] if isinstance(layer, mr.LSTM) else state
    return head(h_n[0])[:, 0]


def backward(layer, head, dpred):
    """dL/dpred (N,) back through the head and the recurrent layer; returns dL/dh_n (1, N, H)."""
    dh_n = head.backward(dpred[:, None])[None]
    layer.backward(None, (dh_n, None) if isinstance(layer, mr.LSTM) else dh_n)
    return dh_n


def mse(pred, y):
    """L = mean((pred - y)^2), dL/dpred = 2 (pred - y) / N."""
    diff = pred - y
    return float((diff * diff).mean()), 2 * diff / len(y)


def gradient_reaching_each_step(layer, head, x, y):
    """||dL/dh_t|| for t = 0..T-1 of the validation loss, from minirnn's BPTT."""
    pred = forward(layer, head, x)
    _, dpred = mse(pred, y)
    dh_n = backward(layer, head, dpred)
    layer.zero_grad()
    head.zero_grad()
    return mr.gradient_flow(layer, x, dh_n)


# ----------------------------------------------------------------------------- train
history, flows, flows_at_init = {}, {}, {}
print(f"adding problem: T = {STEPS_T}, hidden {HIDDEN}, batch {BATCH}, {TRAIN_STEPS} Adam steps (lr {LR}), "
      f"clip {CLIP}; the MSE of predicting the mean is {MEAN_BASELINE:.3f}")
for name, cell in CELLS.items():
    mr.manual_seed(SEED)
    layer, head = cell(2, HIDDEN), mr.Linear(HIDDEN, 1)
    params = layer.parameters() + head.parameters()
    opt = mr.optim.Adam(params, lr=LR)
    data_rng = np.random.default_rng(SEED + 1)  # every cell sees the same batches
    flows_at_init[name] = gradient_reaching_each_step(layer, head, val_x, val_y)
    curve, started = [], time.perf_counter()
    for step in range(1, TRAIN_STEPS + 1):
        x, y = adding_batch(data_rng, BATCH)
        loss, dpred = mse(forward(layer, head, x), y)
        backward(layer, head, dpred)
        mr.optim.clip_grad_norm(params, CLIP)
        opt.step()
        opt.zero_grad()
        if step % EVAL_EVERY == 0:
            with mr.no_grad():
                val_loss, _ = mse(forward(layer, head, val_x), val_y)
            curve.append((step, val_loss))
    history[name] = curve
    flows[name] = gradient_reaching_each_step(layer, head, val_x, val_y)
    print(f"  {name:<11} val MSE {curve[-1][1]:.4f} (best {min(v for _, v in curve):.4f})  "
          f"||dL/dh_0|| / ||dL/dh_T-1|| = {flows[name][0] / flows[name][-1]:.1e}  "
          f"({time.perf_counter() - started:.0f}s)")

# ----------------------------------------------------------------------------- show
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, curve in history.items():
    left.plot(*zip(*curve), label=name)
left.axhline(MEAN_BASELINE, color="gray", linestyle="--", label="predict the mean")
left.set(xlabel="training step", ylabel="validation MSE", title=f"adding problem, T = {STEPS_T}", ylim=(0, 0.25))
for k, (name, norms) in enumerate(flows.items()):
    color = f"C{k}"
    right.semilogy(np.arange(STEPS_T), norms, color=color, label=f"{name}  ({norms[0] / norms[-1]:.0e} at t = 0)")
    right.semilogy(np.arange(STEPS_T), flows_at_init[name], color=color, linestyle=":", linewidth=1)
right.axvspan(0, STEPS_T // 2 - 1, color="orange", alpha=0.1, label="where the first marker is")
right.set(xlabel="time step t", ylabel="||dL/dh_t||",
          title="gradient reaching step t: trained (solid), at init (dotted)")
for ax in (left, right):
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
fig.tight_layout()
os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
fig.savefig(args.png, dpi=120)
print(f"saved {args.png}")
