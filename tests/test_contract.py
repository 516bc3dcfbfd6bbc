"""The contract every model answers, tested over every registered family x every preset.

A preset registered by a model module (``models.base.register_presets``) is covered here without a line of
test code: it builds, trains one step, saves to ``.keras`` and loads back with identical weights and identical
deterministic outputs (the encoder means and the reconstruction), takes an override through ``from_preset``,
round-trips its config, is evaluated by the shared importance-weighted evaluator with a small K, and restores
from a ``tf.train.Checkpoint`` with every weight, batch-norm moving statistics included. The interface methods
have one signature in every family (``models.base.HVAEModel``)."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from hvae import models
from hvae.models.base import HVAEModel, ModelConfig

PRESETS = models.preset_names()
BATCH = 2

# One real override per family: a setting that changes the model or its objective (checked to take effect).
OVERRIDES = {
    "hvae.models.vladder": {"reg": "mmd"},
    "hvae.models.vae_collection": {"latent_dim": 10},
    "hvae.models.lvae": {"free_bits": 0.25},
    "hvae.models.lvae2": {"beta_constant": 0.5},
    "hvae.models.laplace_vae": {"z_dim": 8},
}


# Presets whose full size is slow on a CPU are built on the smallest images their architecture takes
# ("small shapes where a preset is big"); the architecture (layers, filters, blocks) stays the preset's.
SMALL = {"LVAE_cifar10_15": {"image_shape": (16, 16, 3)}, "LVAE_svhn_15": {"image_shape": (16, 16, 3)},
         "LVAE_celeba_20": {"image_shape": (32, 32, 3)}, "LVAE_mnist_12": {"image_shape": (16, 16, 1)}}
# The deepest presets (12-20 latent layers) take minutes each even so: their whole contract runs with
# HVAE_SLOW_TESTS=1; by default they get every check but the model-building one (config, signature, override).
# the deep LVAE presets (6 layers and more) run with HVAE_SLOW_TESTS=1; the suite keeps the 3-layer ones, which
# exercise the same code paths (every layer is the same block), and the pins compare the 6-layer one's first loss
SLOW = {"LVAE_mnist_6", "LVAE_cifar10_6", "LVAE_mnist_12", "LVAE_cifar10_15", "LVAE_svhn_15", "LVAE_celeba_20"}
RUN_SLOW = os.environ.get("HVAE_SLOW_TESTS") == "1"


def _family(name: str) -> str:
    return models.model_class(models.preset(name)).__module__


def _batch(model, n: int = BATCH, seed: int = 0):
    """``n`` images in the model's value range on 8-bit levels (random, fixed), and its labels (or None)."""
    images, labels = model.example_inputs(n)
    lo, hi = (float(v) for v in getattr(model, "value_range", (0.0, 1.0)))
    rng = np.random.default_rng(seed)
    levels = np.round(rng.uniform(0.0, 1.0, images.shape) * 255.0) / 255.0
    x = tf.constant(lo + (hi - lo) * levels, tf.float32)
    if labels is not None:
        labels = tf.constant(np.arange(n) % 3, tf.int64)
    return x, labels


def _deterministic(model, x, labels) -> list:
    """The encoder means per layer and the reconstruction (inference mode: moving batch-norm statistics)."""
    means = [q.mean() for q in model.encode(x, labels, training=False)]
    return [np.asarray(m) for m in means] + [np.asarray(model.reconstruct(x, labels))]


def test_every_family_registers_presets():
    families = {_family(name) for name in PRESETS}
    assert families == set(models.MODEL_MODULES), "a model module registers no preset"
    assert set(OVERRIDES) == families, "give every family an override in OVERRIDES"


@pytest.mark.parametrize("name", PRESETS)
def test_config_is_typed_and_round_trips(name):
    config = models.preset(name)
    assert isinstance(config, ModelConfig) and dataclasses.is_dataclass(config)
    cls = models.model_class(config)
    assert issubclass(cls, HVAEModel) and cls.config_class is not None and isinstance(config, cls.config_class)
    assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for f in dataclasses.fields(config):
        assert f.metadata.get("help"), f"{type(config).__name__}.{f.name} has no help"
    with pytest.raises(ValueError, match="no setting"):
        config.replace(no_such_setting=1)
    with pytest.raises(ValueError, match="no setting"):
        models.from_preset(name, no_such_setting=1)


@pytest.mark.parametrize("name", PRESETS)
def test_one_interface_signature(name):
    cls = models.model_class(models.preset(name))
    expected = {
        "encode": ["images", "labels", "training"], "decode": ["codes", "labels"],
        "sample": ["n", "labels", "seed"], "reconstruct": ["images", "labels"],
        "loss_terms": ["images", "labels", "iteration", "training"],
        "log_importance_weights": ["images", "num_samples", "labels"],
    }
    for method, names in expected.items():
        params = list(inspect.signature(getattr(cls, method)).parameters.values())[1:]
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert positional == names, f"{cls.__name__}.{method}{inspect.signature(getattr(cls, method))}"
        assert getattr(cls, method) is not getattr(HVAEModel, method) or method == "log_importance_weights", \
            f"{cls.__name__} does not implement {method}"


@pytest.mark.parametrize("name", PRESETS)
def test_override_config(name):
    """``from_preset``'s override reaches the config (without building: for every preset, the slow ones too)."""
    preset = models.preset(name)
    overrides = OVERRIDES[_family(name)]
    assert all(getattr(preset, k) != v for k, v in overrides.items()), "the override must change the preset"
    config = preset.replace(**{**SMALL.get(name, {}), **overrides})
    assert all(getattr(config, k) == v for k, v in overrides.items()) and models.model_class(config) is \
        models.model_class(preset)


@pytest.mark.parametrize("name", PRESETS)
def test_contract(name, tmp_path):
    """Everything a model of a preset must do, on one model (built once: some presets have 50 M parameters)."""
    from hvae.evaluation import Evaluator

    if name in SLOW and not RUN_SLOW:
        pytest.skip(f"{name} has {len(models.preset(name).z_dims)} latent layers: its contract runs with "
                    f"HVAE_SLOW_TESTS=1 (a minute or more on a CPU)")
    # from_preset with an override (one that changes the model or its objective)
    preset = models.preset(name)
    overrides = OVERRIDES[_family(name)]
    keras.utils.set_random_seed(0)
    model = models.from_preset(name, **SMALL.get(name, {}), **overrides)
    assert all(getattr(model.config, k) == v and model.get_config()[k] == v for k, v in overrides.items())
    assert models.preset(name) == preset  # the preset itself is unchanged
    assert type(model).from_config(model.get_config()).config == model.config

    # the interface on real shapes
    x, labels = _batch(model)
    posteriors = model.encode(x, labels, training=False)
    assert isinstance(posteriors, list) and posteriors
    likelihood = model.decode([q.mean() for q in posteriors], labels)
    assert tuple(likelihood.mean().shape) == tuple(x.shape)
    assert tuple(model.reconstruct(x, labels).shape) == tuple(x.shape)
    sample_labels = None if labels is None else labels[:2]
    assert tuple(model.sample(2, sample_labels, seed=1).shape) == (2,) + tuple(x.shape[1:])

    # one training step (Keras' train_step on the model's own objective; eager: tracing the deep models' step
    # takes longer than the step, and the command line's compiled step is tested by each family) changes the weights
    model.compile(optimizer=keras.optimizers.Adam(1e-4), run_eagerly=True)
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_on_batch(x, labels, return_dict=True)
    assert np.isfinite(logs["loss"]), logs
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables))
    del before

    # .keras round trip: every weight (batch-norm statistics too) and the deterministic outputs
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    assert len(loaded.weights) == len(model.weights)
    for a, b in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(_deterministic(model, x, labels), _deterministic(loaded, x, labels), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    del loaded
    os.remove(path)

    # the shared evaluator with a small K
    if model.has_posterior:
        log_w = np.asarray(model.log_importance_weights(x, 3, labels))
        assert log_w.shape == (BATCH, 3) and np.isfinite(log_w).all()
        result = Evaluator(model, 3).evaluate([(x, labels)], BATCH, levels=256, image_shape=tuple(x.shape[1:]),
                                              progress=False)
        assert np.isfinite(result["iw_bound"]["mean"]) and np.isfinite(result["elbo"]["mean"])
    else:
        with pytest.raises(NotImplementedError):
            model.log_importance_weights(x, 2, labels)

    # a checkpoint holds every weight, batch-norm moving statistics included; model.weights (model.variables adds
    # dropout's random-number state, which a checkpoint does not hold)
    rng = np.random.default_rng(0)
    for v in model.weights:  # move every weight, moving statistics too, away from its trained value
        value = v.numpy() * rng.uniform(0.8, 1.2, v.shape) + rng.uniform(0.0, 0.01, v.shape)
        v.assign(value.astype(np.dtype(v.dtype)))
    ckpt = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = [key for key, _ in tf.train.list_variables(ckpt)]
    assert any("moving_variance" in k for k in saved) == any("moving_variance" in v.path for v in model.weights)
    keras.utils.set_random_seed(2)
    restored = models.build(model.config)
    tf.train.Checkpoint(model=restored).restore(ckpt).assert_existing_objects_matched()
    for a, b in zip(model.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(_deterministic(model, x, labels), _deterministic(restored, x, labels), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    del model, restored
    keras.backend.clear_session()
    gc.collect()


def test_import_models_is_enough_for_load_model(tmp_path):
    """In a new process, ``from hvae import models`` (nothing else of ours) lets ``keras.models.load_model`` read a file of
    every family, with the weights it was saved with."""
    expected = {}
    for module in models.MODEL_MODULES:
        name = next(n for n in PRESETS if _family(n) == module and "celeb" not in n.lower() and "lsun" not in n)
        keras.utils.set_random_seed(0)
        model = models.from_preset(name)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        expected[path] = float(sum(float(np.sum(v.numpy(), dtype=np.float64)) for v in model.weights))
    code = ("import json, sys, numpy as np, keras\nfrom hvae import models\n"
            "out = {p: float(sum(float(np.sum(v.numpy(), dtype=np.float64)) for v in keras.models.load_model(p).weights))"
            " for p in json.loads(sys.argv[1])}\nprint(json.dumps(out))")
    r = subprocess.run([sys.executable, "-c", code, json.dumps(list(expected))], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    for path, total in expected.items():
        assert got[path] == pytest.approx(total, rel=1e-9), path
