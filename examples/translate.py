"""Translate English to French with an attention seq2seq, then compare greedy and beam search.

The data comes from minirnn's own grammar (no download): pronouns with être/avoir,
adjective agreement, negation ne ... pas, and adjectives that move after the noun
("a red car" -> "une voiture rouge"). The model is an encoder GRU, Bahdanau attention
and a decoder GRUCell, trained with teacher forcing by ``mr.fit``.

    python examples/translate.py            # ~1 minute on a laptop CPU
    python examples/translate.py --quick    # a few seconds (CI)
"""

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only add overhead

import minirnn as mr  # noqa: E402
from minirnn.data import BucketIterator, prepare_seq2seq, train_val_split, translation_pairs  # noqa: E402
from minirnn.train.inference import translate  # noqa: E402

# ----------------------------------------------------------------------------- settings
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="little data and 3 epochs, for CI")
args = parser.parse_args()

PAIRS = 1500 if args.quick else 8000
EPOCHS = 3 if args.quick else 6
EMBED_DIM, HIDDEN_SIZE = (16, 32) if args.quick else (48, 96)
LR, BATCH_SIZE, CLIP, SEED = 4e-3, 64, 1.0, 0
SENTENCES = ["i am happy", "she is not tired", "we have two red cars"]  # plus a few validation sentences below

# ----------------------------------------------------------------------------- data
train, val = train_val_split(translation_pairs(PAIRS, seed=SEED), val_fraction=0.1, seed=SEED)
train_data = prepare_seq2seq(train)
val_data = prepare_seq2seq(val, src_vocab=train_data.src_vocab, tgt_vocab=train_data.tgt_vocab)
src_vocab, tgt_vocab = train_data.src_vocab, train_data.tgt_vocab
train_batches = BucketIterator(train_data.src_ids, targets=train_data.tgt_ids, batch_size=BATCH_SIZE, seed=SEED)
val_batches = BucketIterator(val_data.src_ids, targets=val_data.tgt_ids, batch_size=BATCH_SIZE, shuffle=False)
print(f"{len(train)} training pairs, e.g. {train[0][0]!r} -> {train[0][1]!r}")
print(f"vocabularies: {len(src_vocab)} English and {len(tgt_vocab)} French tokens")

# ----------------------------------------------------------------------------- model
mr.manual_seed(SEED)
model = mr.models.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=EMBED_DIM, hidden_size=HIDDEN_SIZE, cell="gru",
                          attention="bahdanau")
optimizer = mr.optim.Adam(model.parameters(), lr=LR)

# ----------------------------------------------------------------------------- train
history = mr.fit(model, train_batches, val_batches, optimizer=optimizer, epochs=EPOCHS, clip=CLIP, seed=SEED,
                 vocabs={"src": src_vocab, "tgt": tgt_vocab}, progress=False)
print(mr.viz.epoch_table(history))
print(mr.viz.ascii_chart(history))

# ----------------------------------------------------------------------------- evaluate
print(f"\nvalidation exact match (greedy): {history['val_exact_match'][-1]:.1%}")

# ----------------------------------------------------------------------------- show
reference = dict(translation_pairs())
sentences = SENTENCES + [source for source, _ in val[:4]]
greedy = translate(model, src_vocab, tgt_vocab, sentences)
beam = translate(model, src_vocab, tgt_vocab, sentences, beam_size=4)
for g, b in zip(greedy, beam):
    mark = "ok" if g.text == reference[g.source] else f"expected {reference[g.source]!r}"
    print(f"  {g.source:<36} greedy: {g.text:<34} beam(4): {b.text:<34} {mark}")
