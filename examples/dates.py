"""Normalise human-readable dates to ISO dates with attention, and look at the attention.

"tuesday 3 march 1998", "3/3/98" and "march 3rd, 1998" all become "1998-03-03". The
decoder must pick the year, month and day out of wherever the format put them, so
the attention heatmap shows it jumping around the source: the classic attention demo.

    python examples/dates.py            # ~1 minute on a laptop CPU
    python examples/dates.py --quick    # a few seconds (CI)
"""

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add overhead

import minirnn as mr  # noqa: E402
from minirnn.data import BucketIterator, date_pairs, prepare_seq2seq, train_val_split  # noqa: E402
from minirnn.train.inference import translate  # noqa: E402

# ----------------------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="little data and 3 epochs, for CI")
parser.add_argument("--png", default=os.path.join("runs", "dates_example", "attention.png"),
                    help="where to write the attention PNG (needs matplotlib; default "
                    "runs/dates_example/attention.png, which git ignores)")
args = parser.parse_args()

PAIRS = 1500 if args.quick else 8000
EPOCHS = 3 if args.quick else 8
EMBED_DIM, HIDDEN_SIZE = (16, 32) if args.quick else (32, 96)
LR, BATCH_SIZE, CLIP, SEED = 4e-3, 64, 1.0, 0
EXAMPLES = ["tuesday 3 march 1998", "3/3/98", "march 3rd, 1998", "1 jan 2001"]

# ----------------------------------------------------------------------------- data
# Word tokens: "march 3rd, 1998" -> ["march", "3rd", ",", "1998"]; "1998-03-03" -> ["1998", "-", "03", "-", "03"].
train, val = train_val_split(date_pairs(PAIRS, seed=SEED), val_fraction=0.1, seed=SEED)
train_data = prepare_seq2seq(train)
val_data = prepare_seq2seq(val, src_vocab=train_data.src_vocab, tgt_vocab=train_data.tgt_vocab)
src_vocab, tgt_vocab = train_data.src_vocab, train_data.tgt_vocab
train_batches = BucketIterator(train_data.src_ids, targets=train_data.tgt_ids, batch_size=BATCH_SIZE, seed=SEED)
val_batches = BucketIterator(val_data.src_ids, targets=val_data.tgt_ids, batch_size=BATCH_SIZE, shuffle=False)
print("some pairs:", "; ".join(f"{s!r} -> {t!r}" for s, t in train[:3]))

# ----------------------------------------------------------------------------- model
mr.manual_seed(SEED)
model = mr.models.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=EMBED_DIM, hidden_size=HIDDEN_SIZE,
                          cell="gru", attention="bahdanau", bidirectional_encoder=True)
optimizer = mr.optim.Adam(model.parameters(), lr=LR)

# ----------------------------------------------------------------------------- train
history = mr.fit(model, train_batches, val_batches, optimizer=optimizer, epochs=EPOCHS, clip=CLIP, seed=SEED,
                 vocabs={"src": src_vocab, "tgt": tgt_vocab}, progress=False)
print(mr.viz.epoch_table(history))

# ----------------------------------------------------------------------------- evaluate
print(f"\nvalidation exact match (greedy): {history['val_exact_match'][-1]:.1%}")
results = translate(model, src_vocab, tgt_vocab, EXAMPLES)
for r in results:
    print(f"  {r.source:<24} -> {''.join(r.output_tokens)}")  # ISO dates: tokens joined without spaces

# ----------------------------------------------------------------------------- show the attention
shown = results[2]
rows = shown.output_tokens + (["<eos>"] if len(shown.weights) > len(shown.output_tokens) else [])
print(f"\nattention while writing {''.join(shown.output_tokens)!r} from {shown.source!r}:")
print(mr.viz.attention_heatmap(shown.weights, shown.source_tokens, rows))
try:
    print("PNG written to", mr.viz.save_attention_png(args.png, shown.weights, shown.source_tokens, rows))
except mr.viz.MissingExtraError as err:
    print(err)
