"""A training run with a checkpoint, for the kill-and-resume tests (run as a script, not collected).

    python checkpointed_run.py DIRECTORY OUT OPTIMIZER [KILL_AT] [EVERY_STEPS]

DIRECTORY "-" trains without a checkpoint (the uninterrupted reference). KILL_AT "epoch:N" kills
this process (SIGKILL) when epoch N ends, before its checkpoint is written; "step:T" after the T-th
training step; "write:NAME" in the middle of writing the checkpoint file NAME (its temporary file
written, not yet renamed into place); "-" never. EVERY_STEPS also checkpoints every that many steps.
The final weights go to OUT and the history to OUT.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

import tinynet as tn
import tinynet.io.model_file as model_file

directory, out, name = sys.argv[1:4]
kill_at = sys.argv[4] if len(sys.argv) > 4 else ""
every_steps = int(sys.argv[5]) if len(sys.argv) > 5 else None
kind, _, when = kill_at.partition(":")


class KillAt(tn.Callback):
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if kind == "epoch" and epoch == int(when):
            os.kill(os.getpid(), signal.SIGKILL)

    def on_step_end(self, run: tn.training.callbacks.Run) -> None:
        if kind == "step" and run.optimizer.t == int(when):
            os.kill(os.getpid(), signal.SIGKILL)


if kind == "write":
    real = model_file.atomic_write

    def killed_while_writing(path: str, write: object) -> None:
        def write_then_die(handle: object) -> None:
            write(handle)  # type: ignore[operator]
            if os.path.basename(path) == when:
                os.kill(os.getpid(), signal.SIGKILL)

        real(path, write_then_die)

    model_file.atomic_write = killed_while_writing  # type: ignore[assignment]

rng = np.random.default_rng(0)
model = tn.Sequential(
    tn.Dense(6, 48, rng=rng), tn.ReLU(), tn.Dropout(0.3, rng=rng),
    tn.Dense(48, 48, rng=rng), tn.Tanh(), tn.Dense(48, 3, rng=rng),
)  # fmt: skip
x = np.random.default_rng(1).standard_normal((2000, 6))
y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
rates = {"sgd": 0.05, "adam": 0.003, "adamw": 0.003, "rmsprop": 0.002, "adagrad": 0.05}
optimizers = {
    "sgd": lambda p: tn.SGD(p, lr=rates["sgd"], momentum=0.9, nesterov=True),
    "adam": lambda p: tn.Adam(p, lr=rates["adam"]),
    "adamw": lambda p: tn.AdamW(p, lr=rates["adamw"], weight_decay=0.01),
    "rmsprop": lambda p: tn.RMSprop(p, lr=rates["rmsprop"], momentum=0.5),
    "adagrad": lambda p: tn.Adagrad(p, lr=rates["adagrad"]),
}
epochs = 30
callbacks: list[tn.Callback] = [KillAt()]
checkpoint = tn.Checkpoint(directory, every_steps=every_steps)
if directory != "-":
    callbacks.append(checkpoint)
history = tn.fit(
    model, x, y, loss=tn.CrossEntropyLoss(), optimizer=optimizers[name](model.parameters()), epochs=epochs,
    batch_size=32, rng=7, verbose=0, schedule=tn.Warmup(3, tn.CosineDecay(rates[name], epochs)),
    clipper=tn.ClipGlobalNorm(1.0), validation_split=0.2, early_stopping=tn.EarlyStopping(patience=4),
    metrics=["accuracy"], callbacks=callbacks,
)  # fmt: skip
print("resumed from", os.path.basename(checkpoint.resumed_from or "nothing"), flush=True)
tn.save(model, out)
with open(out + ".json", "w", encoding="utf-8") as handle:
    json.dump(history.to_dict(), handle)
