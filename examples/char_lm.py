"""A character language model in the style of min-char-rnn, with the backward pass written out.

min-char-rnn (Karpathy, 2015) trains a vanilla RNN on characters and samples text from
it, with every gradient written by hand. This is the same idea with minirnn's layers,
and the training loop is spelled out instead of hidden in ``mr.fit``:

    e = Embedding(x)                  (N, T, E)   x: character ids
    out, _ = LSTM(e)                  (N, T, H)
    logits = Linear(out)              (N, T, V)
    loss = CrossEntropyLoss(logits, y)            y: x shifted by one character

and backward is the same chain in reverse, one call per layer. Unlike min-char-rnn the
softmax is log-sum-exp stable and the gradient is clipped by its total norm (not per
element). The text is the English side of minirnn's built-in translation grammar, so
good samples look like "she has two red cars".

    python examples/char_lm.py            # ~1 minute on a laptop CPU
    python examples/char_lm.py --quick    # a few seconds (CI)
"""

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add overhead

import numpy as np  # noqa: E402

import minirnn as mr  # noqa: E402
from minirnn.data import translation_pairs  # noqa: E402

# ----------------------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a few hundred steps, for CI")
args = parser.parse_args()

SENTENCES = 300 if args.quick else 3000
STEPS = 60 if args.quick else 1500
SEQ_LEN, BATCH_SIZE = 48, 32
EMBED_DIM, HIDDEN_SIZE = 16, 64 if args.quick else 128
LR, CLIP, TEMPERATURE, SEED = 5e-3, 1.0, 0.7, 0

# ----------------------------------------------------------------------------- data
text = ". ".join(english for english, _ in translation_pairs(SENTENCES, seed=SEED)) + "."
chars = sorted(set(text))
char_to_id = {c: i for i, c in enumerate(chars)}
data = np.array([char_to_id[c] for c in text], dtype=np.int64)
V = len(chars)
print(f"text: {len(text):,} characters, {V} distinct; it starts {text[:60]!r}")
rng = np.random.default_rng(SEED)


def random_batch():
    """(N, T) inputs and the same characters shifted by one as targets."""
    starts = rng.integers(0, len(data) - SEQ_LEN - 1, size=BATCH_SIZE)
    x = np.stack([data[s : s + SEQ_LEN] for s in starts])
    y = np.stack([data[s + 1 : s + SEQ_LEN + 1] for s in starts])
    return x, y


# ----------------------------------------------------------------------------- model
mr.manual_seed(SEED)
embedding = mr.Embedding(V, EMBED_DIM)
lstm = mr.LSTM(EMBED_DIM, HIDDEN_SIZE, batch_first=True)
head = mr.Linear(HIDDEN_SIZE, V)
criterion = mr.CrossEntropyLoss()
params = embedding.parameters() + lstm.parameters() + head.parameters()
optimizer = mr.optim.Adam(params, lr=LR)
print(f"model: Embedding({V}, {EMBED_DIM}) -> LSTM({EMBED_DIM}, {HIDDEN_SIZE}) -> Linear({HIDDEN_SIZE}, {V}); "
      f"{sum(p.size for p in params):,} parameters")


def sample(length=120, prompt="i "):
    """Feed the prompt, then draw one character at a time from softmax(logits / temperature)."""
    state, out = None, list(prompt)
    x = np.array([[char_to_id[c] for c in prompt]])
    with mr.no_grad():
        for _ in range(length):
            hidden, state = lstm(embedding(x), state)  # the (h, c) state carries over between calls
            logits = head(hidden[:, -1])[0].astype(np.float64) / TEMPERATURE
            probs = mr.functional.softmax(logits)
            next_id = int(rng.choice(V, p=probs / probs.sum()))
            out.append(chars[next_id])
            x = np.array([[next_id]])
    return "".join(out)


# ----------------------------------------------------------------------------- train
smooth = np.log(V)  # the loss of a uniform guess
for step in range(1, STEPS + 1):
    x, y = random_batch()
    optimizer.zero_grad()  # gradients accumulate across backward calls, as in PyTorch
    # forward
    emb = embedding(x)  # (N, T, E)
    out, _ = lstm(emb)  # (N, T, H)
    logits = head(out)  # (N, T, V)
    loss = criterion(logits, y)
    # backward: the same chain in reverse
    dlogits = criterion.backward()  # (N, T, V) = (softmax - onehot) / (N T)
    dout = head.backward(dlogits)  # (N, T, H)
    demb, _ = lstm.backward(dout)  # BPTT through every step; (N, T, E)
    embedding.backward(demb)  # scatter-adds into the rows that were looked up
    mr.optim.clip_grad_norm(params, CLIP)
    optimizer.step()
    smooth = 0.95 * smooth + 0.05 * loss
    if step % max(1, STEPS // 5) == 0 or step == 1:
        print(f"step {step:>5}  loss {smooth:.3f}")

# ----------------------------------------------------------------------------- show
print("\nsamples:")
for prompt in ("i ", "the ", "she "):
    print("  " + sample(prompt=prompt).split(".")[0] + ".")
