"""A DNA classification task: does a sequence contain a promoter-like motif?

Each example is a random A/C/G/T sequence and a label, 1 when some window matches
``motif`` (the -10 box of bacterial promoters, ``TATAAT``, by default) with at most
``max_mismatches`` substitutions, else 0:

* positives carry a planted copy of the motif (with up to ``max_mismatches`` random
  substitutions) at a random position;
* negatives are checked to contain no such window; a fraction ``decoy_rate`` of them
  carries a near miss (``max_mismatches + 1`` substitutions), so that base composition
  alone cannot give the answer and the model has to find the motif.

Classes are balanced (``n // 2`` negatives, the rest positives) and shuffled.
"""

from __future__ import annotations

from ...backend import np
from ...checks import check_nonnegative_int, check_positive_int, check_probability

DNA_ALPHABET = "ACGT"


def contains_motif(sequence: str, motif: str = "TATAAT", max_mismatches: int = 0) -> bool:
    """True when some window of ``sequence`` differs from ``motif`` in at most ``max_mismatches`` places."""
    k = len(motif)
    for start in range(len(sequence) - k + 1):
        window = sequence[start : start + k]
        if sum(a != b for a, b in zip(window, motif)) <= max_mismatches:
            return True
    return False


def _mutate(motif: str, count: int, rng) -> str:
    """``motif`` with exactly ``count`` positions changed to another base."""
    letters = list(motif)
    for pos in rng.choice(len(motif), size=count, replace=False).tolist():
        others = [b for b in DNA_ALPHABET if b != letters[pos]]
        letters[pos] = others[int(rng.integers(len(others)))]
    return "".join(letters)


def dna_motif(
    n: int,
    seed: int = 0,
    min_len: int = 20,
    max_len: int = 40,
    motif: str = "TATAAT",
    max_mismatches: int = 0,
    decoy_rate: float = 0.5,
) -> list[tuple[str, int]]:
    """``n`` (sequence, label) pairs, label 1 = the motif is present; balanced and deterministic in ``seed``."""
    n = check_nonnegative_int(n, "dna_motif", "n")
    min_len = check_positive_int(min_len, "dna_motif", "min_len")
    max_len = check_positive_int(max_len, "dna_motif", "max_len")
    max_mismatches = check_nonnegative_int(max_mismatches, "dna_motif", "max_mismatches")
    if not motif or set(motif) - set(DNA_ALPHABET):
        raise ValueError(f"motif must be a non-empty string over {DNA_ALPHABET}, got {motif!r}")
    if not len(motif) <= min_len <= max_len:
        raise ValueError(f"need len(motif) <= min_len <= max_len, got {len(motif)}, {min_len}, {max_len}")
    if not 0 <= max_mismatches < len(motif) - 1:
        raise ValueError(f"max_mismatches must be between 0 and {len(motif) - 2}, got {max_mismatches}")
    decoy_rate = check_probability(decoy_rate, "dna_motif", "decoy_rate")
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(DNA_ALPHABET))

    def background(length: int) -> str:
        return "".join(alphabet[rng.integers(0, 4, size=length)].tolist())

    def planted(core: str) -> str:
        seq = background(int(rng.integers(min_len, max_len + 1)))
        at = int(rng.integers(0, len(seq) - len(core) + 1))
        return seq[:at] + core + seq[at + len(core) :]

    examples = []
    n_neg = n // 2
    while len(examples) < n_neg:
        if rng.random() < decoy_rate:
            seq = planted(_mutate(motif, max_mismatches + 1, rng))
        else:
            seq = background(int(rng.integers(min_len, max_len + 1)))
        if not contains_motif(seq, motif, max_mismatches):  # a negative must not hold the motif by chance
            examples.append((seq, 0))
    for _ in range(n - n_neg):
        examples.append((planted(_mutate(motif, int(rng.integers(0, max_mismatches + 1)), rng)), 1))
    return [examples[i] for i in rng.permutation(len(examples))]
