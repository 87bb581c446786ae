"""How minirnn checks a hand-written backward: central differences, step by step.

minirnn has no autograd, so every backward is derived by hand and must be checked.
This walkthrough does it three ways, from the bare idea to the library tool:

1. By hand, for one weight of one GRU step: nudge it by +-eps, recompute the loss,
   and compare (L(w + eps) - L(w - eps)) / (2 eps) with the analytic gradient.
2. With ``mr.check_gradients`` for every entry of every GRU-cell weight.
3. With ``mr.gradcheck`` on a whole layer and on the attention seq2seq model, and
   on a deliberately broken backward, to see a failure reported.

Everything is float64: with eps = 1e-6 the central difference is accurate to about
1e-10, so a relative error above 1e-6 means a real bug, not rounding.

    python examples/gradcheck_walkthrough.py            # a few seconds
    python examples/gradcheck_walkthrough.py --quick    # the same, smaller
"""

import argparse

import numpy as np

import minirnn as mr

# ----------------------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="smaller shapes, for CI")
args = parser.parse_args()

N, D, H, T = (2, 3, 4, 3) if args.quick else (3, 5, 6, 5)
EPS, SEED = 1e-6, 0
rng = np.random.default_rng(SEED)
mr.manual_seed(SEED)

# ----------------------------------------------------------------------------- 1. by hand
cell = mr.GRUCell(D, H, dtype="float64")
x, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
upstream = rng.standard_normal((N, H))  # a random dL/dh: L = sum(h * upstream)


def loss():
    with mr.no_grad():
        return float((cell(x, h_prev) * upstream).sum())


cell.zero_grad()
cell(x, h_prev)
cell.backward(upstream)  # analytic: fills weight_hh.grad
analytic = cell.weight_hh.grad[2 * H + 1, 0]  # one entry of W_hn (the candidate gate's recurrent weight)

w = cell.weight_hh.data
w[2 * H + 1, 0] += EPS
plus = loss()
w[2 * H + 1, 0] -= 2 * EPS
minus = loss()
w[2 * H + 1, 0] += EPS  # restore
numeric = (plus - minus) / (2 * EPS)
print("1. one weight by hand, dL/dW_hn[1, 0]:")
print(f"   analytic {analytic:+.12f}\n   numeric  {numeric:+.12f}\n   |difference| {abs(analytic - numeric):.1e}")

# ----------------------------------------------------------------------------- 2. every entry of the cell
arrays = {name: p.data for name, p in cell.named_parameters()}
grads = {name: p.grad for name, p in cell.named_parameters()}
report = mr.check_gradients(loss, arrays, grads)
print(f"\n2. every entry of the GRU cell's weights ({sum(a.size for a in arrays.values())} numbers):")
print(report)

# ----------------------------------------------------------------------------- 3. whole layers and models
lstm = mr.LSTM(D, H, num_layers=2, bidirectional=True, dtype="float64")
lengths = np.array([T] + [max(1, T - 1 - i) for i in range(N - 1)])
report = mr.gradcheck(lstm, rng.standard_normal((T, N, D)), forward_kwargs={"lengths": lengths}, seed=SEED)
print(f"\n3a. a 2-layer bidirectional LSTM with lengths {lengths.tolist()}: worst relative error "
      f"{report.max_rel_error:.1e} over {len(report)} arrays -> {'ok' if report.ok else 'FAILED'}")

model = mr.models.Seq2Seq(9, 8, embed_dim=3, hidden_size=H, cell="gru", attention="bahdanau", dtype="float64").eval()
src, tgt_in = rng.integers(1, 9, size=(N, T)), rng.integers(1, 8, size=(N, T))
report = mr.gradcheck(model, src, lengths, tgt_in, seed=SEED)
worst = report.worst
print(f"3b. the attention seq2seq ({len(report)} parameter arrays): worst relative error {report.max_rel_error:.1e} "
      f"in {worst.name} -> {'ok' if report.ok else 'FAILED'}")


class BrokenLinear(mr.Linear):
    """A slip a reviewer can miss: the weight gradient off by a factor of 2 (a dropped term in a derivation)."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.weight.grad = self.weight.grad * 0.5
        return dx


broken = BrokenLinear(D, H, dtype="float64")
report = mr.gradcheck(broken, rng.standard_normal((N, D)), seed=SEED)
print(f"\n3c. a deliberately broken backward is caught: {'ok' if report.ok else 'FAILED'} -> "
      f"{', '.join(e.name for e in report.failed)} (relative error {report.max_rel_error:.2f})")
