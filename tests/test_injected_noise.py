"""models.latent.injected_noise: the parity harness's way of giving the Laplace family the original's epsilon
(benchmarks/parity/). Without the context nothing changes; inside it every posterior draw takes the next tensor."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hvae import models
from hvae.models.laplace_vae import (
    HF,
    IAF,
    SAVAE,
    VLAE,
    HFConfig,
    IAFConfig,
    LaplaceConfig,
    LaplaceModel,
    SAVAEConfig,
    VLAEConfig,
)
from hvae.models.latent import injected_noise, sample_and_log_prob

SMALL = dict(image_shape=(4, 4, 1), z_dim=3, hidden_dim=8, output_dist="bernoulli", binarize=False)


def _images(n=5, seed=0):
    return tf.constant((np.random.RandomState(seed).rand(n, 4, 4, 1) < 0.3).astype(np.float32))


def _eps(shape, seed=1):
    return tf.constant(np.random.RandomState(seed).randn(*shape).astype(np.float32))


def test_without_the_context_the_draw_is_the_distributions_own():
    dist = models.objectives.diagonal_normal(tf.zeros((4, 3)), tf.ones((4, 3)))
    tf.random.set_seed(7)
    z1, lq1 = sample_and_log_prob(dist, 2)
    tf.random.set_seed(7)
    z2, lq2 = dist.experimental_sample_and_log_prob(2)
    np.testing.assert_array_equal(z1.numpy(), z2.numpy())
    np.testing.assert_array_equal(lq1.numpy(), lq2.numpy())


def test_vae_loss_with_injected_eps_is_the_reparameterised_elbo():
    model = LaplaceModel(LaplaceConfig(**SMALL)).build_all()
    x = _images()
    eps = _eps((1, 5, 3))
    with injected_noise([eps]):
        terms = model.loss_terms(x)
    flat = tf.reshape(x, (5, -1))
    mean, log_var, _ = model.encoder(flat)
    z = mean + tf.exp(0.5 * log_var) * eps[0]
    probs = np.clip(tf.sigmoid(model.decoder(z)).numpy(), 1e-5, 1 - 1e-5)
    xn = flat.numpy()
    recon = -np.mean(np.sum(xn * np.log(probs) + (1 - xn) * np.log(1 - probs), 1))
    log_q = np.sum(-0.5 * (np.log(2 * np.pi) + log_var.numpy() + eps[0].numpy() ** 2), 1)
    log_p = np.sum(-0.5 * (np.log(2 * np.pi) + z.numpy() ** 2), 1)
    np.testing.assert_allclose(float(terms["reconstruction"]), recon, rtol=1e-5)
    np.testing.assert_allclose(float(terms["kl"]), np.mean(log_q - log_p), rtol=1e-4, atol=1e-5)
    with injected_noise([eps]):      # the same eps, the same number
        again = model.loss_terms(x)
    assert float(again["loss"]) == float(terms["loss"])


def test_vlae_draw_is_its_own_square_root_of_the_injected_eps():
    model = VLAE(VLAEConfig(**SMALL, n_update=2)).build_all()
    x = tf.reshape(_images(), (5, -1))
    state = model.fit_posterior(x)
    eps = _eps((1, 5, 3))
    with injected_noise([eps]):
        z, log_q = model.sample_posterior(state, 1)
    chol = state["chol"].numpy()
    expected = state["loc"].numpy() + np.linalg.solve(np.transpose(chol, (0, 2, 1)), eps[0].numpy()[..., None])[..., 0]
    np.testing.assert_allclose(z[0].numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(log_q.numpy(), model.posterior_distribution(state).log_prob(z).numpy(), rtol=1e-5)


@pytest.mark.parametrize("cls,config", [(HF, HFConfig(**SMALL, n_flow=2)), (IAF, IAFConfig(**SMALL, n_flow=2))])
def test_flows_take_the_injected_base_draw(cls, config):
    model = cls(config).build_all()
    x = _images()
    eps = _eps((1, 5, 3))
    with injected_noise([eps]):
        a = model.loss_terms(x)
    with injected_noise([eps]):
        b = model.loss_terms(x)
    assert float(a["loss"]) == float(b["loss"])
    with injected_noise([_eps((1, 5, 3), seed=2)]):
        c = model.loss_terms(x)
    assert float(c["loss"]) != float(a["loss"])


def test_savae_consumes_one_tensor_per_inner_step_then_the_final_draw():
    model = SAVAE(SAVAEConfig(**SMALL, n_svi_step=2, legacy=True)).build_all()
    x = _images()
    noise = [_eps((5, 3), 1), _eps((5, 3), 2), _eps((1, 5, 3), 3)]
    with injected_noise(noise):
        a = model.loss_terms(x)
    with injected_noise(noise):
        b = model.loss_terms(x)
    assert float(a["loss"]) == float(b["loss"])
    with pytest.raises(ValueError, match="unused"):
        with injected_noise(noise + [_eps((5, 3), 4)]):
            model.loss_terms(x)
    with pytest.raises(ValueError, match="more draws"):
        with injected_noise(noise[:2]):
            model.loss_terms(x)


def test_a_wrong_shape_is_refused_and_the_context_does_not_nest():
    model = LaplaceModel(LaplaceConfig(**SMALL)).build_all()
    state = model.fit_posterior(tf.reshape(_images(), (5, -1)))
    with pytest.raises(ValueError, match="shape"):
        with injected_noise([_eps((5, 3))]):          # (B, Z) where the draw of K = 1 needs (1, B, Z)
            model.sample_posterior(state, 1)
    with pytest.raises(ValueError, match="shape"):
        with injected_noise([_eps((5, 3))]):
            injected_noise.take((1, 5, 3))
    with injected_noise([]):
        with pytest.raises(RuntimeError, match="nest"):
            with injected_noise([]):
                pass
    assert injected_noise._active is None


def test_lvae_top_down_draws_take_the_injected_eps_top_layer_first():
    model = models.from_preset("LVAE_mnist_3", image_shape=(8, 8, 1), z_dims=(2, 2), downsample=(1, 1), n_filters=4,
                               blocks_per_layer=1, dropout=None)
    x = tf.constant((np.random.RandomState(0).rand(3, 8, 8, 1) < 0.3).astype(np.float32))
    top, bottom = _eps((3, 1, 1, 2), 1), _eps((3, 2, 2, 2), 2)       # padded 8x8, /2 first, /2 per layer
    with injected_noise([top, bottom]):
        a = model.loss_terms(x, None, 1, training=True)
    with injected_noise([top, bottom]):
        b = model.loss_terms(x, None, 1, training=True)
    assert float(a["loss"]) == float(b["loss"])
    with injected_noise([top, _eps((3, 2, 2, 2), 3)]):
        c = model.loss_terms(x, None, 1, training=True)
    assert float(c["loss"]) != float(a["loss"])
    with pytest.raises(ValueError, match="unused"):
        with injected_noise([top, bottom, bottom]):
            model.loss_terms(x, None, 1, training=True)
