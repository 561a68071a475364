"""A character-level language model: a GRU reads Shakespeare and writes more of it.

Run: python examples/char_language_model.py [STEPS] [SEED] [TEMPERATURE]

The text is tiny-shakespeare (``examples/data/shakespeare.txt``, 1.1 MB of Shakespeare's plays,
public domain), the data set of Karpathy's char-rnn. The network: Embedding(vocabulary, 48) ->
GRU(48 -> 256) -> Dense(256 -> vocabulary) at every step, trained with cross-entropy to predict
each next character on windows of 100 characters (the last 10% of the text is held out, as
char-rnn does). It is judged against what counting gives: a bigram model (the next character
given only the current one, fitted on the training text). Generation runs the GRU one character
at a time, carrying its state, and samples from the softmax at a temperature (lower: safer, more
repetitive; higher: more surprising).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

import tinynet as tn

TEXT = Path(__file__).parent / "data" / "shakespeare.txt"
WINDOW = 100


def windows(codes: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random windows of WINDOW characters and the same windows shifted by one (targets)."""
    starts = rng.integers(0, len(codes) - WINDOW - 1, count)
    index = starts[:, None] + np.arange(WINDOW)
    return codes[index], codes[index + 1]


def bigram_loss(train: np.ndarray, test: np.ndarray, vocabulary: int) -> float:
    """Cross-entropy (nats per character) of next-character counts, add-one smoothed."""
    counts = np.ones((vocabulary, vocabulary))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(probabilities[test[:-1], test[1:]]).mean())


def model(vocabulary: int, rng: np.random.Generator) -> tn.Sequential:
    f32 = np.float32  # twice as fast as float64, and plenty for a language model
    return tn.Sequential(
        tn.Embedding(vocabulary, 48, dtype=f32, rng=rng),  # (N, L) codes -> (N, L, 48)
        tn.GRU(48, 256, dtype=f32, rng=rng),  # [output (N, L, 256), h_n]
        tn.Select(0),
        tn.Dense(256, vocabulary, init="xavier", dtype=f32, rng=rng),  # (N, L, vocabulary) logits
        tn.Permute((0, 2, 1)),  # classes on axis 1, as CrossEntropyLoss (and PyTorch) expect
    )


def generate(
    network: tn.Sequential, start: str, length: int, temperature: float, alphabet: str, seed: int
) -> str:
    """Sample ``length`` characters after ``start``, feeding each one back with the GRU's state."""
    embedding, gru, dense = network[0], network[1], network[3]
    network.eval()
    rng = np.random.default_rng(seed)
    state = np.zeros((1, 1, 256), np.float32)
    codes = [alphabet.index(c) for c in start]
    text = list(start)
    for step in range(len(codes) + length - 1):
        code = codes[step] if step < len(codes) else int(alphabet.index(text[-1]))
        out, state = gru([embedding(np.array([[code]])), state])
        if step < len(codes) - 1:
            continue  # still reading the prompt
        logits = dense(out)[0, -1] / temperature
        probabilities = np.exp(logits - logits.max())
        text.append(alphabet[rng.choice(len(alphabet), p=probabilities / probabilities.sum())])
    return "".join(text)


def main(steps: int = 1000, seed: int = 0, temperature: float = 0.7) -> tuple[float, float]:
    text = TEXT.read_text(encoding="utf-8")
    alphabet = "".join(sorted(set(text)))
    codes = np.array([alphabet.index(c) for c in text])
    split = int(len(codes) * 0.9)
    train, test = codes[:split], codes[split:]
    rng = np.random.default_rng(seed)
    batch = 32
    x, y = windows(train, steps * batch, rng)
    x_test, y_test = windows(test, 200, rng)
    network = model(len(alphabet), rng)
    start = time.perf_counter()
    tn.fit(
        network,
        x,
        y,
        loss=tn.CrossEntropyLoss(),
        optimizer=tn.Adam(network.parameters(), lr=3e-3),
        clipper=tn.ClipGlobalNorm(5.0),
        epochs=1,  # every window is new: one pass is `steps` updates
        batch_size=batch,
        rng=seed,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    loss = tn.evaluate(network, x_test, y_test, loss=tn.CrossEntropyLoss())["loss"]
    counted = bigram_loss(train, test, len(alphabet))
    print(
        f"{len(text):,} characters, {len(alphabet)} distinct; "
        f"{steps} steps of {batch} windows ({seconds:.0f}s)"
    )
    print(
        f"held-out loss: GRU {loss:.3f} nats/char ({loss / math.log(2):.2f} bits), "
        f"bigram counts {counted:.3f} ({counted / math.log(2):.2f} bits)"
    )
    sample = generate(network, "MENENIUS:\n", 300, temperature, alphabet, seed)
    print(f"--- sample at temperature {temperature}, seed {seed} ---\n{sample}")
    return loss, counted


if __name__ == "__main__":
    arguments = sys.argv[1:4]
    main(*(int(a) for a in arguments[:2]), *(float(a) for a in arguments[2:3]))
