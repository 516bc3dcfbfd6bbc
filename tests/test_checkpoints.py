"""Every model's checkpoint holds every weight, batch-norm moving statistics included, and a restore into a
fresh model reproduces it exactly (Keras 3 list attributes are invisible to ``tf.train.Checkpoint``)."""

import numpy as np
import pytest
import tensorflow as tf

from models import vae_collection as vc
from models.vladder import CONFIGS, VLadder


def _vladder(name):
    cfg = CONFIGS[name]

    def deterministic(model, x):  # posterior means through the generative path, moving BN statistics
        return model.decode_mean([q.mean() for q in model.encode(x, training=False)], training=False)

    return lambda: VLadder(cfg, value_range=(0, 1)).build_all(), cfg.shape, deterministic


def _collection(name):
    kwargs = {"num_classes": 10} if name == "CVAE" else {}

    def deterministic(model, x):  # decoder logits at the posterior mean (the code itself for MMD-VAE)
        y = model.condition(tf.constant([1, 7])) if name == "CVAE" else None
        latent = model.infer(x, y)
        return model.decode_logits(latent.z if latent.mean is None else latent.mean, y)

    return lambda: vc.MODELS[name]((28, 28, 1), 8, **kwargs).build_all(), (28, 28, 1), deterministic


FAMILIES = {"vladder_mnist": _vladder("vladder_mnist"), "vladder_svhn": _vladder("vladder_svhn"),
            **{name: _collection(name) for name in vc.MODELS}}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_checkpoint_restores_every_weight(name, tmp_path):
    make, shape, deterministic = FAMILIES[name]
    source = make()
    rng = np.random.default_rng(0)
    for v in source.variables:  # move every weight, moving statistics too, away from its initial value
        value = v.numpy() * rng.uniform(0.8, 1.2, v.shape) + rng.uniform(0.0, 0.01, v.shape)
        v.assign(value.astype(np.dtype(v.dtype)))
    path = tf.train.Checkpoint(model=source).save(str(tmp_path / "ckpt"))

    saved = [key for key, _ in tf.train.list_variables(path) if key.startswith("model/")]
    assert len(saved) == len(source.variables)
    assert any("moving_variance" in key for key in saved) == any("moving_variance" in v.path for v in source.variables)

    restored = make()
    tf.train.Checkpoint(model=restored).restore(path).assert_consumed()
    for a, b in zip(source.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    x = tf.random.uniform((2,) + tuple(shape), seed=1)
    np.testing.assert_allclose(deterministic(source, x).numpy(), deterministic(restored, x).numpy(),
                               rtol=1e-5, atol=1e-5)
