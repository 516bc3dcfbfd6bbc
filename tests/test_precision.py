"""--precision: float32 by default with TensorFloat-32 off; mixed precision computes the layers in 16 bits but the
loss, the distributions and the weights in float32, with a loss scale for float16."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hvae import runtime
from hvae.errors import ConfigError


@pytest.fixture
def restore_policy():
    yield
    runtime.apply_precision("float32")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_the_loss_in_float32(policy, restore_policy):
    from hvae.models import vae_collection as vc
    from hvae.models.vladder import PRESETS, VLadder

    assert runtime.apply_precision(policy) == policy and keras.mixed_precision.global_policy().name == policy
    x = tf.cast(tf.random.stateless_uniform((4, 28, 28, 1), seed=(0, 1)) < 0.3, tf.float32)
    for model in (vc.VAE.from_preset("VAE_mnist", latent_dim=8), VLadder(PRESETS["vladder_mnist"]).build_all()):
        assert model.trainable_variables[0].dtype == tf.float32  # float32 weights
        terms = model.loss_terms(x, iteration=tf.constant(1, tf.int64))
        assert all(v.dtype == tf.float32 for v in terms.values()) and np.isfinite(float(terms["loss"]))
        assert model.importance_terms(x, 3)["log_weights"].dtype == tf.float32


def test_float32_turns_tensorfloat32_off_and_bad_values_fail(restore_policy):
    runtime.apply_precision("tf32")
    assert tf.config.experimental.tensor_float_32_execution_enabled()
    runtime.apply_precision("float32")
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ConfigError, match="--precision must be one of"):
        runtime.apply_precision("float8")


def test_the_trainer_scales_the_loss_under_float16(tmp_path, monkeypatch, capsys, restore_policy):
    from hvae.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["VAE", "train", "--dataset=digits", "--epochs=1", "--max_iterations=6", "--latent_dim=8",
                 "--precision=mixed_float16", "--log_frequency=3"]) == 0
    out = capsys.readouterr().out
    assert "done at iteration 6" in out  # overflowing first steps are skipped by the loss scale, not fatal
    events = list((tmp_path / "model/VAE_digits").glob("events.out.tfevents.*"))
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events[0])) for v in e.summary.value}
    assert "loss_scale" in tags
