"""Every way of running the training step (eager, tf.function, XLA) computes the same step.

For a model of each family (the benchmark cases of ``benchmarks/cases.py``, built from the presets), the trainer's own step runs
from the same weights, optimizer state and iteration on the same batch, a few times per mode (the weights put
back before each). The posterior samples differ from run to run and between modes (each mode draws its own
noise), so the comparison is of means with a tolerance several times the run-to-run spread: the loss, the
gradient norm, and the size of the update the optimizer made.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hvae.trainer import Trainer

CASES = ["VAE_mnist", "VLAE_VAE", "SAVAE",  # SA-VAE runs in XLA by default (--compile=auto)
         "vladder_mnist"]
MODES = ("eager", "function", "xla")
REPEATS = 4


def _cases():
    spec = importlib.util.spec_from_file_location("benchmark_cases", Path(__file__).parents[1] / "benchmarks" / "cases.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", CASES)
def test_every_compile_mode_computes_the_same_step(case, tmp_path):
    tf.random.set_seed(0)
    built = _cases().build_case(case, 16)
    model, optimizer = built["model"], built["optimizer"]
    weights = [v.numpy() for v in model.variables]
    slots = [v.numpy() for v in optimizer.variables]
    trainable = model.trainable_variables
    stats = {}
    for mode in MODES:
        trainer = Trainer(model, optimizer, None, built["loss_terms"], batch_size=16, run_dir=str(tmp_path / mode),
                          compile_mode=mode)
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


def test_every_case_builds_from_its_preset_with_the_runs_optimizer():
    """Each benchmark case is its preset's model (the same parameter count as ``models.from_preset``) with the
    family's optimizer and learning rate, and one step of the trainer's objective gives a finite loss."""
    import keras

    from hvae import models

    cases = _cases()
    expected = {"vladder_mnist": ("Adam", 2e-4, 0.9), "VAE_mnist": ("Adam", 1e-4, 0.5),
                "lvae_mnist_3": ("Adamax", 3e-4, 0.9), "LVAE2": ("Adam", 1e-3, 0.9), "VLAE": ("Adam", 5e-4, 0.9)}
    for name, (kind, lr, beta_1) in expected.items():
        built = cases.build_case(name, 4)
        model, optimizer = built["model"], built["optimizer"]
        assert type(optimizer).__name__ == kind, name
        assert abs(float(keras.ops.convert_to_numpy(optimizer.learning_rate)) - lr) < 1e-9, name
        assert abs(optimizer.beta_1 - beta_1) < 1e-9, name
        preset = cases.CASES[name].preset
        assert model.count_parameters() == models.from_preset(preset).count_parameters(), name
        assert tuple(built["images"].shape) == (4,) + tuple(model.image_shape)
        terms = built["loss_terms"](built["images"], built["labels"], tf.constant(1, tf.int64))
        assert np.isfinite(float(terms["loss"])), name
    assert set(cases.CASES) >= {"vladder_lsun", "CVAE_mnist", "lvae_mnist_12", "LVAE2_paper_nll", "SAVAE"}
