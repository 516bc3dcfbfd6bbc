"""The shared likelihood evaluation (hvae.evaluation) against a model whose marginal likelihood is known in
closed form, the chunked accumulation, units, and the families' importance weights against their own ELBOs.

The closed-form model is linear-Gaussian: z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D), so that
p(x) = N(b, W W^T + s^2 I) exactly. Its proposal q(z | x) is deliberately imperfect (the true posterior's
mean shifted, its marginal scales widened), so the bound is strictly below log p(x) for small K and
approaches it as K grows.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from hvae.errors import ConfigError
from hvae.evaluation import Evaluator, density_kind
from hvae.models.latent import LatentVariableModel, per_sample, terms_from_layers, tile_batch

tfd = tfp.distributions

D, LATENT = 6, 2


class LinearGaussian(LatentVariableModel, keras.Model):
    """The closed-form test model (see the module docstring); images are ``(B, 1, D, 1)``."""

    data_density = "gaussian"

    def __init__(self, seed=0, shift=0.4, widen=1.6):
        super().__init__()
        rng = np.random.RandomState(seed)
        self.W = rng.normal(size=(D, LATENT)).astype(np.float32)
        self.b = rng.normal(size=D).astype(np.float32)
        self.s = 0.5
        prec = np.eye(LATENT) + self.W.T @ self.W / self.s ** 2
        self.post_cov = np.linalg.inv(prec).astype(np.float32)
        self.shift, self.widen = shift, widen

    def marginal(self):
        cov = self.W @ self.W.T + self.s ** 2 * np.eye(D)
        return tfd.MultivariateNormalFullCovariance(self.b, cov.astype(np.float32))

    def proposal(self, x):
        mean = tf.matmul(x - self.b, self.W / self.s ** 2) @ self.post_cov + self.shift
        scale = np.sqrt(np.diag(self.post_cov)).astype(np.float32) * self.widen
        return tfd.Independent(tfd.Normal(mean, scale), 1)

    def importance_terms(self, images, num_samples, labels=None):
        k = int(num_samples)
        x = tf.reshape(images, (-1, D))
        q = self.proposal(x)
        z = q.sample(k)  # (K, B, d)
        flat = tf.reshape(z, (-1, LATENT))
        mean = tf.matmul(flat, self.W, transpose_b=True) + self.b
        log_lik = tfd.Independent(tfd.Normal(mean, self.s), 1).log_prob(tile_batch(x, k))
        prior = tfd.Independent(tfd.Normal(tf.zeros(LATENT), 1.0), 1)
        kl = q.log_prob(z) - prior.log_prob(z)  # (K, B)
        return terms_from_layers(per_sample(log_lik, k), tf.transpose(kl)[..., None])

    def posterior_means(self, images, labels=None):
        return [self.proposal(tf.reshape(images, (-1, D))).mean()]


def _data(model, n=400, seed=1):
    x = model.marginal().sample(n, seed=seed).numpy().astype(np.float32)
    return x.reshape(n, 1, D, 1)


def _batches(x, batch=50):
    return [(tf.constant(x[i:i + batch]), tf.zeros(len(x[i:i + batch]), tf.int64)) for i in range(0, len(x), batch)]


def _evaluate(model, x, k, **kwargs):
    ev = Evaluator(model, k, **kwargs)
    return ev.evaluate(_batches(x), len(x), levels=None, image_shape=(1, D, 1), progress=False)


def test_bound_is_below_log_px_rises_with_k_and_reaches_it():
    tf.random.set_seed(0)
    model = LinearGaussian()
    x = _data(model)
    exact = float(tf.reduce_mean(model.marginal().log_prob(x.reshape(-1, D))))
    bounds = {k: _evaluate(model, x, k) for k in (1, 10, 100, 3000)}
    means = [bounds[k]["iw_bound"]["mean"] for k in (1, 10, 100, 3000)]
    sems = [bounds[k]["iw_bound"]["sem"] for k in (1, 10, 100, 3000)]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert means[0] < exact - 0.3  # the proposal is poor: the one-sample bound is well below
    assert all(m < exact + 0.02 for m in means), (means, exact)
    assert abs(means[-1] - exact) < 0.03, (means[-1], exact)
    # the K = 1 bound is the ELBO; the ELBO (mean of the log weights) does not depend on K
    assert bounds[1]["iw_bound"]["mean"] == pytest.approx(bounds[1]["elbo"]["mean"], abs=1e-9)
    assert abs(bounds[3000]["elbo"]["mean"] - bounds[1]["elbo"]["mean"]) < 3 * sems[0]
    assert bounds[3000]["num_images"] == 400 and bounds[3000]["bits_per_dim"] is None
    assert bounds[3000]["density"]["kind"] == "density"
    # KL per layer: the mean of log q - log p, and ELBO = E log p(x|z) - KL
    r = bounds[100]
    assert r["elbo"]["mean"] == pytest.approx(r["log_likelihood_given_z"]["mean"] - r["kl_total"]["mean"], abs=1e-6)


def test_chunked_and_unchunked_evaluation_agree():
    tf.random.set_seed(1)
    model = LinearGaussian()
    x = _data(model, n=200)
    whole = _evaluate(model, x, 400)  # chunks of 81 samples for batches of 50 images
    tiny = _evaluate(model, x, 400, max_images_per_pass=50)  # one sample per pass: 400 passes per batch
    assert Evaluator(model, 400, max_images_per_pass=50).chunk_size(50) == 1
    se = math.hypot(whole["iw_bound"]["sem"], tiny["iw_bound"]["sem"])
    assert abs(whole["iw_bound"]["mean"] - tiny["iw_bound"]["mean"]) < 0.02 + 0.2 * se


class _FixedWeights(LatentVariableModel):
    """Returns predetermined log weights, chunk after chunk, to check the logsumexp accumulation exactly."""

    name = "fixed"
    data_density = "bernoulli"

    def __init__(self, weights):
        self.weights, self.drawn = weights, 0

    def importance_terms(self, images, num_samples, labels=None):
        w = self.weights[:, self.drawn:self.drawn + num_samples]
        self.drawn += num_samples
        w = tf.constant(w, tf.float32)
        return {"log_weights": w, "log_likelihood": w + 1.0, "layer_kl": tf.ones(tf.concat([tf.shape(w), [1]], 0))}


def test_logsumexp_accumulates_exactly_across_chunks():
    rng = np.random.RandomState(0)
    weights = (rng.normal(size=(3, 1000)) * 30 - 500).astype(np.float32)  # far from 0: needs the max shift
    model = _FixedWeights(weights)
    ev = Evaluator(model, 1000, max_images_per_pass=3 * 64, compile_mode="eager")
    assert ev.chunk_size(3) == 64  # 16 chunks, the last of 40
    out = ev.batch_terms(tf.zeros((3, 1, 1, 1)))
    w = weights.astype(np.float64)
    m = w.max(axis=1, keepdims=True)
    expected = (m + np.log(np.exp(w - m).sum(axis=1, keepdims=True)))[:, 0] - math.log(1000)
    np.testing.assert_allclose(out["log_px"], expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["elbo"], w.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(out["layer_kl"], np.ones((3, 1)))


def test_bits_per_dimension_and_labels():
    rng = np.random.RandomState(0)
    weights = rng.normal(size=(4, 10)).astype(np.float32) - 300.0
    model = _FixedWeights(weights)
    ev = Evaluator(model, 10, compile_mode="eager")
    images = tf.zeros((4, 28, 28, 1))
    r = ev.evaluate([(images, None)], 4, levels=2, image_shape=(28, 28, 1), progress=False)
    assert r["density"]["kind"] == "log-probability"
    assert r["bits_per_dim"]["iw_bound"] == pytest.approx(-r["iw_bound"]["mean"] / (784 * math.log(2)))
    assert r["nll"]["mean"] == pytest.approx(-r["iw_bound"]["mean"])
    grey = density_kind(model, 256)
    assert grey["kind"] == "cross-entropy" and "not a log-likelihood" in grey["note"]


def test_xla_passes_are_bounded():
    """Under XLA a pass decodes at most XLA_MAX_IMAGES_PER_PASS images (its memory grows with the pass); the
    other modes keep the bound they are given."""
    from hvae.evaluation import XLA_MAX_IMAGES_PER_PASS

    model = LinearGaussian()
    assert Evaluator(model, 1000, compile_mode="xla").chunk_size(100) == XLA_MAX_IMAGES_PER_PASS // 100
    assert Evaluator(model, 1000, compile_mode="xla", max_images_per_pass=200).chunk_size(100) == 2
    assert Evaluator(model, 1000, compile_mode="function").chunk_size(100) == 40


def test_bad_inputs():
    model = LinearGaussian()
    with pytest.raises(ConfigError, match="at least 1"):
        Evaluator(model, 0)

    class NoPosterior(LinearGaussian):
        has_posterior = False

    with pytest.raises(ConfigError, match="deterministic encoder"):
        Evaluator(NoPosterior(), 10)


def test_active_units_count_posterior_mean_variance():
    model = LinearGaussian()
    x = _data(model, n=300)
    au = Evaluator(model, 1).active_units(_batches(x))
    assert au == {"active": [2], "units": [2], "threshold": 0.01}
    model.W[:, 1] = 0.0  # the second unit no longer depends on x
    model.post_cov = np.linalg.inv(np.eye(LATENT) + model.W.T @ model.W / model.s ** 2).astype(np.float32)
    assert Evaluator(model, 1).active_units(_batches(x))["active"] == [1]


# --------------------------------------------------------------------------------------------------
# the families' importance weights against their own objectives
# --------------------------------------------------------------------------------------------------
def test_collection_vae_weights_match_its_elbo():
    """The K = 1 bound is the ELBO the trainer reports: equal in expectation (the trainer's KL is analytic)."""
    from hvae.models import objectives
    from hvae.models import vae_collection as vc

    tf.random.set_seed(0)
    model = vc.VAE.from_preset("VAE_mnist", latent_dim=16)
    x = tf.cast(tf.random.uniform((8, 28, 28, 1)) < 0.3, tf.float32)
    terms = model.importance_terms(x, 4000)
    assert terms["log_weights"].shape == (8, 4000) and terms["layer_kl"].shape == (8, 4000, 1)
    analytic_kl = objectives.kl_to_standard_normal(model.infer(x).posterior).numpy()
    mc = terms["layer_kl"][..., 0].numpy()
    se = mc.std(axis=1) / np.sqrt(mc.shape[1])  # Monte-Carlo standard error of each image's KL estimate
    assert (np.abs(mc.mean(axis=1) - analytic_kl) < 4 * se + 1e-3).all(), (mc.mean(axis=1), analytic_kl, se)
    # the trainer's one-sample ELBO, averaged over many draws, against the mean log weight
    trainer = np.mean([float(model.loss_terms(x)["elbo"]) for _ in range(300)])
    assert abs(trainer - float(tf.reduce_mean(terms["log_weights"]))) < 0.5, trainer
    with pytest.raises(NotImplementedError):
        vc.MMDVAE.from_preset("MMDVAE_mnist", latent_dim=8).importance_terms(x, 2)


def test_vladder_weights_match_its_objective():
    from hvae.models import objectives
    from hvae.models.layers import moving_statistics_only
    from hvae.models.vladder import PRESETS, VLadder

    tf.random.set_seed(0)
    model = VLadder(PRESETS["vladder_mnist"]).build_all()
    x = tf.random.uniform((4, 28, 28, 1))
    terms = model.importance_terms(x, 300)
    assert terms["layer_kl"].shape == (4, 300, 3)
    # per-layer MC KL -> the analytic KL of each layer
    with moving_statistics_only():
        posteriors = model.encode(x, training=False)
    for layer, q in enumerate(posteriors):
        analytic = objectives.kl_to_standard_normal(q).numpy()
        mc = terms["layer_kl"][..., layer].numpy()
        se = mc.std(axis=1) / np.sqrt(mc.shape[1])
        assert (np.abs(mc.mean(axis=1) - analytic) < 4 * se + 1e-3).all(), (layer, mc.mean(axis=1), analytic)
    # log p(x|z) is the Laplace density: -(scaled L1) - D log(2b)
    assert float(tf.reduce_max(terms["log_likelihood"])) < 0
    means = model.posterior_means(x)
    assert [m.shape for m in means] == [(4, 2)] * 3
