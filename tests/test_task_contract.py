"""The contract every family's command line answers, over every registered family (:mod:`hvae.registry`).

One tiny run per family on scikit-learn's ``digits``, through the one task template: train two iterations, resume to
three (from the checkpoint, with the same settings), ``generate`` its figures, ``evaluate`` an importance-weighted
bound, ``--export`` a ``.keras`` file, and open the run with ``hvae.load_run`` (from ``config.json``'s typed model
section, without a task): the exported model, the restored one and the run agree. A new family is covered by one
entry in ``TINY`` (a test fails until it has one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from hvae import registry

# family -> (a model of it, the flags of a tiny configuration of it)
TINY = {
    "vladder": ("vladder", ["--compile=eager"]),
    "collection": ("VAE", ["--latent_dim=8"]),
    "lvae": ("LVAE", ["--zdims", "3", "4", "--downsample", "1", "1", "--blocks_per_layer=1", "--nfilters=8",
                      "--test_batch_size=200", "--compile=eager"]),
    "lvae2": ("LVAE2", []),
    "laplace": ("VLAE_VAE", ["--output_dist=bernoulli", "--z_dim=4", "--hidden_dim=16", "--hidden_layers=1"]),
}


def _figures() -> dict:
    """Every PNG under the working folder -> its modification time."""
    return {str(p): p.stat().st_mtime_ns for p in Path(".").rglob("*.png")}


def test_every_registered_family_has_a_tiny_run():
    assert set(TINY) == {f.name for f in registry.families()}


@pytest.mark.parametrize("family", sorted(TINY))
def test_train_resume_generate_evaluate_export_and_load(family, in_tmp, capsys):
    import keras

    import hvae
    from hvae import models  # noqa: F401  (registers every model class for load_model)

    model, flags = TINY[family]
    train = [model, "train", "--dataset=digits", "--netname=c", "--seed=1", "--batch_size=16", "--log_frequency=1",
             *flags]
    code, out, err = run_cli(train + ["--max_iterations=2"], capsys)
    assert code == 0, err
    assert "done at iteration 2" in out
    code, out, err = run_cli(train + ["--max_iterations=3"], capsys)
    assert code == 0, err
    assert "resumed from model/c/ckpt-2 at iteration 2" in out and "done at iteration 3" in out
    before = _figures()
    code, out, err = run_cli([model, "generate", "--netname=c"], capsys)
    assert code == 0, err
    drawn = _figures()
    written = [path for path, when in drawn.items() if before.get(path) != when]
    assert written, "generate wrote no figure"
    overwritten = [path for path in before if drawn.get(path) != before[path]]
    assert not overwritten, f"generate overwrote a training figure: {overwritten}"
    code, out, err = run_cli([model, "evaluate", "--netname=c", "--iw_samples=2", "--num_images=8"], capsys)
    assert code == 0, err
    assert "importance-weighted bound, K = 2" in out
    code, out, err = run_cli([model, "--netname=c", "--export", "c.keras"], capsys, script_mode="generate",
                             prog="generate.py")
    assert code == 0, err
    exported = keras.models.load_model("c.keras")
    run = hvae.load_run("model/c")
    assert run.iteration == 3 and run.checkpoint.endswith("ckpt-3")
    assert type(run.model) is type(exported)
    for a, b in zip(run.model.weights, exported.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
