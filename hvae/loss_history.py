"""Every training iteration's loss, kept beside the checkpoints: a trainer callback (:mod:`hvae.trainer`).

LVAE2's original notebook (ahmeterdem1/lvae) plots the loss of every training batch; a family whose task sets
``keep_loss_history`` gets this callback, which appends each step's loss and writes
``model/<netname>/loss_history.npy`` (float32, one value per iteration, nats per image) at every checkpoint, after
every monitoring pass and at the end, so that a resumed run continues the curve.
"""

from __future__ import annotations

import os

import numpy as np


class LossHistory:
    """The per-iteration training loss of one run (``values``: a list of floats, entry i = the loss of iteration
    i + 1; NaN where unknown) and its file ``<run_dir>/loss_history.npy``.

    A trainer callback: :meth:`on_step` appends ``state.values["loss"]`` and saves at every checkpoint.
    """

    FILE = "loss_history.npy"

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.values: list = []

    @property
    def path(self) -> str:
        return os.path.join(self.run_dir, self.FILE)

    def load(self, iteration: int) -> None:
        """The saved losses, cut or padded (NaN) to ``iteration`` entries (a resumed run continues the curve; a
        checkpoint older than the file cuts it)."""
        values = np.load(self.path).astype(np.float64).tolist() if os.path.exists(self.path) else []
        self.values = values[:iteration] + [float("nan")] * (iteration - len(values[:iteration]))

    def save(self) -> None:
        """Write the history (float32, one per iteration) atomically."""
        os.makedirs(self.run_dir, exist_ok=True)
        np.save(self.path + ".tmp.npy", np.asarray(self.values, np.float32))
        os.replace(self.path + ".tmp.npy", self.path)

    def on_step(self, state) -> None:
        """The trainer's callback after each step: the step's loss, saved with every checkpoint."""
        self.values.append(state.values.get("loss", float("nan")))
        if state.iteration % state.checkpoint_frequency == 0:
            self.save()
