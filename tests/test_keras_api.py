"""Every model family as a Keras model: save / load_model round trips, fit / evaluate on the model's own
objective, summary with output shapes, presets, load_run and --export, and the README's Python example."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from hvae import models
from hvae.models import vae_collection as vc
from hvae.models.vladder import VLadder

ROOT = Path(__file__).resolve().parents[1]


def _perturb_batch_norm(model, seed=0):
    """Give every batch-norm moving statistic a random value, so that a round trip that lost them shows."""
    rng = np.random.RandomState(seed)
    for v in model.non_trainable_variables:
        if "moving" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32))


def test_vladder_fit_warm_up_and_round_trip(tmp_path):
    """fit drives the KL warm-up by the optimizer's iteration count; save / load_model keep every weight, every
    batch-norm statistic and the objective's settings."""
    from hvae import datasets

    model = VLadder.from_preset("vladder_mnist")
    model.compile(optimizer=keras.optimizers.Adam(2e-4, epsilon=1e-8))
    batches = datasets.load("digits").batches("train", 16, with_labels=False, drop_remainder=True).take(3)
    history = model.fit(batches, epochs=1, verbose=0)
    # beta_t = 1 - exp(-t / 2000) at t = 1, 2, 3: the tracker's mean over the three steps
    expected = np.mean([1 - np.exp(-t / 2000) for t in (1, 2, 3)])
    assert history.history["beta"][0] == pytest.approx(expected, rel=1e-4)
    assert {"loss", "reconstruction", "regularization", "kl/layer0", "kl/layer2"} <= set(history.history)

    _perturb_batch_norm(model)
    path = str(tmp_path / "vl.keras")
    model.save(path)
    loaded = models.load_model(path)
    assert type(loaded) is VLadder and loaded.config == model.config and loaded.config.reg == "kl"
    codes = model.prior_codes(4, seed=1)
    np.testing.assert_array_equal(model.decode_mean(codes).numpy(), loaded.decode_mean(codes).numpy())
    x = tf.random.stateless_uniform((4, 28, 28, 1), seed=(1, 2))
    np.testing.assert_array_equal(model.reconstruct(x).numpy(), loaded.reconstruct(x).numpy())
    assert loaded.count_parameters() == 25_907_853 and int(loaded.optimizer.iterations) == 3
    # the objective's settings travel in the config
    other = VLadder.from_config(VLadder(model.config.replace(reg="mmd", denoise=True, top_heads="fixed")).get_config())
    assert (other.config.reg, other.config.denoise, other.config.top_heads) == ("mmd", True, "fixed")


@pytest.mark.parametrize("name, options", [("VAE_mnist", {}), ("CVAE_mnist", {}), ("InfoVAE_mnist", {"alpha": 0.5}),
                                           ("MMDVAE_mnist", {"lambda_": 10.0, "mmd_bandwidth": 50.0}),
                                           ("VAE_mnist", {"legacy": True})])
def test_collection_round_trip(tmp_path, name, options):
    model = models.from_preset(name, **options)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = models.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    images, labels = model.example_inputs(3)
    images = images + tf.random.stateless_uniform(images.shape, seed=(0, 1))
    np.testing.assert_array_equal(model.reconstruct(images, labels).numpy(), loaded.reconstruct(images, labels).numpy())


def test_fit_and_evaluate_train_the_models_own_objective():
    from hvae import datasets

    tf.random.set_seed(0)
    data = datasets.load("digits")
    model = vc.VAE.from_preset("VAE_mnist", latent_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batches = data.batches("train", 64, shuffle=True, seed=0, drop_remainder=True)
    before = model.evaluate(data.batches("test", 64), return_dict=True, verbose=0)
    history = model.fit(batches, epochs=3, verbose=0)
    after = model.evaluate(data.batches("test", 64), return_dict=True, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl", "elbo"}
    assert after["loss"] < 0.8 * before["loss"] and after["elbo"] == pytest.approx(-after["loss"], rel=1e-5)
    assert int(model.optimizer.iterations) == 3 * (data.train_size // 64)


def test_summary_shows_output_shapes():
    lines = []
    models.from_preset("InfoVAE_mnist").summary(print_fn=lines.append)
    VLadder.from_preset("vladder_mnist").summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "?" not in text
    assert "(None, 28, 28, 1)" in text and "(None, 1024)" in text and "((None, 2), (None, 2))" in text


def test_presets_and_public_api():
    names = models.preset_names()
    assert {"vladder_mnist", "vladder_celebA", "VAE", "CVAE_mnist"} <= set(names)
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        models.from_preset("nope")
    cvae = models.from_preset("CVAE_mnist")
    labels = tf.constant([1, 2])
    q = cvae.encode(tf.zeros((2, 28, 28, 1)), labels)
    assert len(q) == 1 and q[0].event_shape == (200,)
    p = cvae.decode(q[0].sample(), labels)
    assert p.event_shape == (28, 28, 1) and p.log_prob(tf.zeros((2, 28, 28, 1))).shape == (2,)
    assert cvae.sample(2, labels=labels).shape == (2, 28, 28, 1)
    vl = VLadder.from_preset("vladder_mnist")
    assert vl.decode(vl.prior_codes(3)).event_shape == (28, 28, 1) and vl.sample(3).shape == (3, 28, 28, 1)
    mmd = models.from_preset("MMDVAE_mnist")
    assert mmd.encode(tf.zeros((2, 28, 28, 1)))[0].sample().shape == (2, 200)  # deterministic code


def _readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs(tmp_path):
    """The README's example as a user pastes it: in a fresh folder and a fresh process, nothing prepared (the block
    trains the run it opens itself); no TensorFlow start-up lines and no Keras shuffle warning on stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HVAE_TF_VERBOSE")}
    proc = subprocess.run([sys.executable, "-c", _readme_python_example()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "shuffle" not in proc.stderr and "oneDNN" not in proc.stderr and "cuInit" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert "'elbo':" in out
    assert re.search(r"^32 200$", out, re.M), out
    assert re.search(r"^\d+ digits \(4, 28, 28, 1\)$", out, re.M), out[-2000:]
    assert (tmp_path / "vae.keras").is_file() and (tmp_path / "model" / "VAE_digits" / "config.json").is_file()


def test_export_from_the_command_line(tmp_path, monkeypatch, capsys):
    from hvae.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["VAE", "train", "--dataset=digits", "--epochs=1", "--max_iterations=3", "--latent_dim=8"]) == 0
    assert main(["VAE", "--export", "vae.keras"], script_mode="generate", prog="generate.py") == 0
    loaded = models.load_model(str(tmp_path / "vae.keras"))
    import hvae

    run = hvae.load_run("model/VAE_digits")
    x = tf.random.stateless_uniform((2, 28, 28, 1), seed=(3, 4))
    np.testing.assert_array_equal(loaded.reconstruct(x).numpy(), run.model.reconstruct(x).numpy())
    assert run.iteration == 3 and run.model.config.latent_dim == 8
    capsys.readouterr()
    assert main(["VAE", "--export", "vae.h5"], script_mode="generate", prog="generate.py") == 2
    assert "ending in .keras" in capsys.readouterr().err
