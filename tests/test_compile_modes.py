"""Every way of running the training step (eager, tf.function, XLA) computes the same step.

For a model of each family (the benchmark cases of ``benchmarks/train_speed.py``), the trainer's own step runs
from the same weights, optimizer state and iteration on the same batch, a few times per mode (the weights put
back before each). The posterior samples differ from run to run and between modes (each mode draws its own
noise), so the comparison is of means with a tolerance several times the run-to-run spread: the loss, the
gradient norm, and the size of the update the optimizer made.
"""

import importlib

import numpy as np
import pytest
import tensorflow as tf

from hvae.trainer import Trainer

CASES = [("hvae.collection_task", "VAE_mnist"), ("hvae.laplace_task", "VLAE_VAE"),
         ("hvae.laplace_task", "SAVAE"),  # runs in XLA by default (--compile=auto)
         ("hvae.vladder_task", "vladder_mnist")]
MODES = ("eager", "function", "xla")
REPEATS = 4


class _Task:
    def __init__(self, built, run_dir):
        self.model, self.optimizer, self.run_dir, self.batch_size = built["model"], built["optimizer"], run_dir, 16
        self._loss = built["loss_terms"]

    def loss_terms(self, images, labels, iteration):
        return self._loss(images, labels, iteration)


@pytest.mark.parametrize("module, case", CASES, ids=[c for _, c in CASES])
def test_every_compile_mode_computes_the_same_step(module, case, tmp_path):
    tf.random.set_seed(0)
    built = importlib.import_module(module).benchmark_cases()[case](16)
    model, optimizer = built["model"], built["optimizer"]
    weights = [v.numpy() for v in model.variables]
    slots = [v.numpy() for v in optimizer.variables]
    trainable = model.trainable_variables
    stats = {}
    for mode in MODES:
        trainer = Trainer(_Task(built, str(tmp_path / mode)), compile_mode=mode)
        step = trainer._build_step()
        rows = []
        for _ in range(REPEATS):
            for v, w in zip(model.variables, weights):
                v.assign(w)
            for v, w in zip(optimizer.variables, slots):
                v.assign(w)
            trainer.iteration.assign(100)
            before = [v.numpy() for v in trainable]
            terms = step(built["images"], built["labels"])
            update = np.sqrt(sum(float(np.sum((v.numpy() - b) ** 2)) for v, b in zip(trainable, before)))
            rows.append((float(terms["loss"]), float(terms["gradient_norm"]), update))
            assert int(trainer.iteration.numpy()) == 101
        stats[mode] = np.array(rows)
    ref = stats["function"]
    for mode in MODES:
        got = stats[mode]
        for col, name in enumerate(("loss", "gradient norm", "update size")):
            spread = max(ref[:, col].std(), got[:, col].std(), 1e-6 * abs(ref[:, col].mean()))
            diff = abs(got[:, col].mean() - ref[:, col].mean())
            assert diff <= 4 * spread + 0.02 * abs(ref[:, col].mean()), (case, mode, name, got[:, col], ref[:, col])
