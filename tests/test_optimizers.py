"""hvae.optimizers.FusedAdam: the training default for the Adam families, so it must be Keras's Adam in all but speed.

Checked: the same weights as ``keras.optimizers.Adam`` after several steps (both epsilon conventions the tasks use,
a learning rate that changes), the same optimizer variables (a checkpoint of one restores into the other and
the next step agrees), and the tasks build it.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hvae.optimizers import FusedAdam


def _train(optimizer_cls, steps=6, **kwargs):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"), keras.layers.Dense(1)])
    optimizer = optimizer_cls(**kwargs)
    optimizer.build(model.trainable_variables)
    x = tf.random.stateless_normal((16, 5), seed=(1, 2))
    y = tf.random.stateless_normal((16, 1), seed=(3, 4))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(steps)]
    return model, optimizer, losses, step


@pytest.mark.parametrize("kwargs", [dict(learning_rate=1e-2, beta_1=0.9, beta_2=0.999, epsilon=1e-8),
                                    dict(learning_rate=3e-3, beta_1=0.5, beta_2=0.999, epsilon=1e-8)])
def test_fused_adam_is_keras_adam(kwargs):
    ref_model, _, ref_losses, _ = _train(keras.optimizers.Adam, **kwargs)
    model, _, losses, _ = _train(FusedAdam, **kwargs)
    assert losses[-1] < losses[0]  # it trains
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for a, b in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_checkpoints_are_interchangeable(tmp_path):
    model, optimizer, _, _ = _train(keras.optimizers.Adam, steps=3, learning_rate=1e-2)
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).save(str(tmp_path / "ckpt"))
    _, _, expected, _ = _train(keras.optimizers.Adam, steps=4, learning_rate=1e-2)

    fused_model, fused, _, step = _train(FusedAdam, steps=0, learning_rate=1e-2)
    tf.train.Checkpoint(model=fused_model, optimizer=fused).restore(path).assert_consumed()
    assert int(fused.iterations) == 3
    assert float(step()) == pytest.approx(expected[3], rel=1e-5)  # the 4th step from the Keras Adam state


def test_the_command_line_trains_with_fused_adam(tmp_path, monkeypatch):
    from hvae import registry, runtime
    from hvae.cli import main
    from hvae.runs import ResolvedRun, load_config_json

    monkeypatch.chdir(tmp_path)
    assert main(["VAE", "train", "--dataset=digits", "--epochs=1", "--latent_dim=8", "--seed=1"]) == 0
    saved = {**load_config_json("model/VAE_digits"), "run_dir": "model/VAE_digits", "mode": "generate",
             "best": False, "netname": "VAE_digits"}
    family = registry.family(saved["family"])
    strategy, _ = runtime.setup()
    task = family.task_class()(ResolvedRun.from_flat(saved, family), strategy)
    trainer = task.restore_for_use()
    assert type(task.optimizer) is FusedAdam and int(trainer.iteration.numpy()) == int(task.optimizer.iterations) > 0
