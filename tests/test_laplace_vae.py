"""The Laplace family (models/laplace_vae.py, hvae/laplace_task.py): VLAE's Laplace posterior against the Hessian
and against a numpy transcription of the original's update, the flows' log-determinants, the SA-VAE step, parameter
counts, importance weights, training on real data and the command line end to end.

Small networks keep the model tests fast; the parameter counts use the original's sizes. Subprocesses are few
(each starts TensorFlow): one training run and its resume, then evaluate and generate concurrently; the other bad
inputs go through ``hvae.cli.main`` in this process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli

from hvae.models import laplace_vae as lv

ROOT = Path(__file__).resolve().parents[1]
SMALL = (4, 4, 1)          # D = 16


def _binary(shape=SMALL, b=5, seed=0, p=0.4):
    return (np.random.RandomState(seed).uniform(size=(b,) + shape) < p).astype(np.float32)


def _grey(shape=SMALL, b=5, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(b,) + shape).astype(np.float32) / 255.0


def _config(name, image_shape=SMALL, **settings):
    """``MODELS[name]``'s config class with ``settings``."""
    return lv.MODELS[name].config_class(image_shape=image_shape, **settings)


def _small(name, output_dist="bernoulli", **kwargs):
    import keras

    keras.utils.set_random_seed(1)   # Python, NumPy, TensorFlow and Keras' initialisers
    kwargs.setdefault("binarize", False if output_dist == "bernoulli" else None)
    kwargs.setdefault("z_dim", 3)
    kwargs.setdefault("hidden_dim", 8)
    model = lv.MODELS[name](_config(name, output_dist=output_dist, **kwargs)).build_all()
    if output_dist == "gaussian":
        model.set_data_statistics(np.full(16, 0.4, np.float32), math.log(0.2))
    return model


# --------------------------------------------------------------------------------------------------
# architecture
# --------------------------------------------------------------------------------------------------
# Trainable parameters at the original's sizes: D = 784, H = 500, Z = 50 (spec 2.3 / 2.5).
#   encoder: Dense 784->500 (392,000 + 500 = 392,500), Dense 500->500 (250,000 + 500 = 250,500),
#            mean and log-variance heads 500->50 (2 x 25,050 = 50,100): 693,100
#   decoder: Dense 50->500 (25,000 + 500 = 25,500), Dense 500->500 (250,500), Dense 500->784
#            (392,000 + 784 = 392,784): 668,784; Gaussian output + 1 log-variance
#   VLAE_VAE, VLAE, SAVAE (no extra weights; VLAE keeps the unused log-variance head, as the original):
#            1,361,884 (Bernoulli), 1,361,885 (Gaussian)
#   HF:  + Dense 500->50 (25,050) + 3 x Dense 50->50 (3 x 2,550 = 7,650) = 32,700 -> 1,394,584
#   IAF: + 4 MADEs of W (50 + 500) x 500 = 275,000, b 500, V_m and V_s 500 x 50 = 2 x 25,000, c_m, c_s 2 x 50,
#            one PReLU slope: 325,601 each, 1,302,404 -> 2,664,288 (the masks are not trainable)
COUNTS = {"VLAE_VAE": 1_361_884, "VLAE": 1_361_884, "SAVAE": 1_361_884, "HF": 1_394_584, "IAF": 2_664_288}


def test_parameter_counts_and_initialisation():
    from hvae import models

    for name, expected in COUNTS.items():
        model = models.from_preset(f"{name}_binarized_mnist")
        assert type(model) is lv.MODELS[name] and model.name == name
        assert model.count_parameters() == expected, name
    gaussian = lv.VLAE(lv.VLAEConfig(output_dist="gaussian")).build_all()
    assert gaussian.count_parameters() == COUNTS["VLAE"] + 1
    assert models.from_preset("VLAE_mnist").count_parameters() == COUNTS["VLAE"] + 1
    assert models.from_preset("IAF_binarized_mnist", legacy=True).count_parameters() == COUNTS["IAF"]
    # Kaiming-uniform fan-out (a = 2^(1/3)) weights, U(+-1/sqrt(fan_in)) biases
    a2 = 2.0 ** (2.0 / 3.0)
    for layer, fan_in, fan_out in ((gaussian.encoder.hidden0, 784, 500), (gaussian.decoder.out, 500, 784),
                                   (gaussian.encoder.mean, 500, 50), (gaussian.decoder.hidden0, 50, 500)):
        w, b = layer.kernel.numpy(), layer.bias.numpy()
        bound = math.sqrt(6.0 / ((1.0 + a2) * fan_out))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3.0), rel=0.05)
        assert np.abs(b).max() <= 1.0 / math.sqrt(fan_in) and np.abs(b).max() > 0.9 / math.sqrt(fan_in)
    made = lv.IAF().build_all().made[0]          # None: the config's defaults, the original's sizes
    assert np.allclose(made.c_s.numpy(), 2.0) and float(made.slope.numpy()) == pytest.approx(0.25)
    assert float(gaussian.decoder.log_var.numpy()[0]) == 0.0   # until set_data_statistics


def test_jacobian_by_relu_masks_equals_autodiff():
    model = _small("VLAE", hidden_dim=12)
    z = tf.random.normal((6, 3))
    a, jt = model.decoder.call_with_jacobian(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        a2 = model.decoder(z)
    np.testing.assert_allclose(a.numpy(), a2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.transpose(jt.numpy(), (0, 2, 1)), tape.batch_jacobian(a2, z).numpy(), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# VLAE: the Laplace posterior
# --------------------------------------------------------------------------------------------------
def _relu(v):
    return np.maximum(v, 0.0)


def original_vlae(model, x, n_update, update_lr):
    """models.py VLAE.forward up to q(z|x), transcribed in float64 numpy (explicit inverses, as the original)."""
    d = model.decoder
    k1, b1 = d.hidden0.kernel.numpy().astype(np.float64), d.hidden0.bias.numpy().astype(np.float64)
    k2, b2 = d.hidden1.kernel.numpy().astype(np.float64), d.hidden1.bias.numpy().astype(np.float64)
    k3, b3 = d.out.kernel.numpy().astype(np.float64), d.out.bias.numpy().astype(np.float64)
    e = model.encoder
    h = _relu(_relu(x @ e.hidden0.kernel.numpy() + e.hidden0.bias.numpy()) @ e.hidden1.kernel.numpy()
              + e.hidden1.bias.numpy())
    mu = (h @ e.mean.kernel.numpy() + e.mean.bias.numpy()).astype(np.float64)
    z_dim = mu.shape[1]

    def decoder(mu):
        h1 = _relu(mu @ k1 + b1)
        h2 = _relu(h1 @ k2 + b2)
        a = h2 @ k3 + b3
        # J = W3 diag(m2) W2 diag(m1) W1 with W = kernel^T (PyTorch's weight layout)
        w = (h1 > 0)[:, :, None] * k1.T[None]
        w = (h2 > 0)[:, :, None] * np.matmul(k2.T[None], w)
        return a, np.matmul(k3.T[None], w)                             # (B, D, Z)

    def solve(mu):
        a, j = decoder(mu)
        if model.output_dist == "gaussian":
            var_inv = np.exp(-float(d.log_var.numpy()[0])) * np.ones_like(a)
        else:
            p = np.clip(1 / (1 + np.exp(-a)), 1e-5, 1 - 1e-5)
            var_inv = p * (1 - p) + 1e-5
        precision = np.matmul(np.transpose(j, (0, 2, 1)) * var_inv[:, None, :], j) + np.eye(z_dim)
        if model.output_dist == "gaussian":
            bias = a - np.einsum("bdz,bz->bd", j, mu)                   # the local affine model a ~ J z + b
            rhs = np.einsum("bdz,bd->bz", j, var_inv * (x - bias))
            new = np.einsum("bzy,by->bz", np.linalg.inv(precision), rhs)
        else:
            p = 1 / (1 + np.exp(-a))
            new = mu + np.einsum("bzy,by->bz", np.linalg.inv(precision), np.einsum("bdz,bd->bz", j, x - p) - mu)
        return new, precision

    for t in range(n_update):
        new, _ = solve(mu)
        lr = update_lr / (t + 1)
        mu = (1 - lr) * mu + lr * new
    _, precision = solve(mu)
    return mu, precision


@pytest.mark.parametrize("output_dist", ["gaussian", "bernoulli"])
def test_vlae_update_matches_the_original(output_dist):
    model = _small("VLAE", output_dist, n_update=3, update_lr=0.7, hidden_dim=10)
    images = _binary(b=4) if output_dist == "bernoulli" else _grey(b=4)
    x = model.preprocess(images)
    state = model.fit_posterior(x)
    mu, precision = original_vlae(model, x.numpy().astype(np.float64), 3, 0.7)
    np.testing.assert_allclose(state["loc"].numpy(), mu, rtol=2e-4, atol=2e-5)
    chol = state["chol"].numpy().astype(np.float64)
    np.testing.assert_allclose(chol @ np.transpose(chol, (0, 2, 1)), precision, rtol=2e-4, atol=2e-4)
    # the posterior N(mu_T, Lambda^-1): the original's log-density and covariance, from the Cholesky factor
    q = model.posterior_distribution(state)
    np.testing.assert_allclose(q.covariance().numpy(), np.linalg.inv(precision), rtol=1e-3, atol=1e-5)
    z, log_q = model.sample_posterior(state, 7)
    diff = z.numpy().astype(np.float64) - mu[None]
    ref = -0.5 * (3 * math.log(2 * math.pi) - np.linalg.slogdet(precision)[1][None]
                  + np.einsum("kbi,bij,kbj->kb", diff, precision, diff))
    np.testing.assert_allclose(log_q.numpy(), ref, rtol=1e-4, atol=1e-4)
    # T = 0: the Laplace approximation at the encoder mean
    plain = lv.VLAE(model.config.replace(n_update=0)).build_all()
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(plain.fit_posterior(x)["loc"].numpy(), plain.encoder(x)[0].numpy(), rtol=1e-6)


def _log_joint(model, x, z):
    return model.likelihood(model.decoder(z)).log_prob(x) + model.prior().log_prob(z)


def _hessian(model, x, mu):
    """(-d^2 log p(x, z)/dz^2 at mu (B, Z, Z), d log p/dz (B, Z)) by a double GradientTape."""
    with tf.GradientTape() as outer:
        outer.watch(mu)
        with tf.GradientTape() as inner:
            inner.watch(mu)
            value = tf.reduce_sum(_log_joint(model, x, mu))
        gradient = inner.gradient(value, mu)
    return -outer.batch_jacobian(gradient, mu).numpy(), gradient.numpy()


def test_laplace_precision_is_the_negative_hessian_at_the_mode():
    """Gaussian output, ReLU MLP: Lambda = J^T J / sigma^2 + I is -d^2 log p(x, z)/dz^2 inside a linear region (the
    iterate mu_T lies in one); where the decoder is affine around the data's posterior, one undamped step reaches
    the mode exactly (gradient 0) and q is the exact posterior N(Lambda^-1 J^T (x - c) / sigma^2, Lambda^-1)."""
    model = _small("VLAE", "gaussian", n_update=4, hidden_dim=16)
    x = model.preprocess(_grey(b=3, seed=3))
    state = model.fit_posterior(x)
    precision = tf.matmul(state["chol"], state["chol"], transpose_b=True).numpy()
    np.testing.assert_allclose(precision, _hessian(model, x, state["loc"])[0], rtol=1e-4, atol=1e-3)
    # an affine decoder around the posterior (every ReLU active): the mode and the exact posterior
    model = _small("VLAE", "gaussian", n_update=3, update_lr=1.0, hidden_dim=16)
    model.decoder.hidden0.bias.assign(tf.fill([16], 10.0))
    model.decoder.hidden1.bias.assign(tf.fill([16], 60.0))
    model.decoder.out.bias.assign(model.decoder.out.bias - model.decoder(tf.zeros((1, 3)))[0])  # a(0) = 0
    x = model.preprocess(_grey(b=3, seed=3))
    state = model.fit_posterior(x)
    mu = state["loc"]
    a, jt = model.decoder.call_with_jacobian(mu)
    assert float(tf.reduce_min(model.decoder.hidden1(tf.nn.relu(model.decoder.hidden0(mu))))) > 0  # one region
    hessian, gradient = _hessian(model, x, mu)
    precision = tf.matmul(state["chol"], state["chol"], transpose_b=True).numpy()
    np.testing.assert_allclose(precision, hessian, rtol=1e-4, atol=1e-3)
    mu0 = model.encoder(x)[0]
    g0 = np.abs(_hessian(model, x, mu0)[1]).max()
    assert np.abs(gradient).max() < 1e-4 * g0, (g0, gradient)  # float32 rounding
    j = np.transpose(jt.numpy().astype(np.float64), (0, 2, 1))                     # (B, D, Z)
    c = a.numpy() - np.einsum("bdz,bz->bd", j, mu.numpy())
    v = 1.0 / 0.2
    exact_precision = v * np.matmul(np.transpose(j, (0, 2, 1)), j) + np.eye(3)
    exact_mean = np.linalg.solve(exact_precision, v * np.einsum("bdz,bd->bz", j, x.numpy() - c)[..., None])[..., 0]
    np.testing.assert_allclose(mu.numpy(), exact_mean, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(precision, exact_precision, rtol=1e-4, atol=1e-3)
    # the Bernoulli output: Lambda is the Fisher information J^T diag(p(1-p)) J + I, also -Hessian (logit link)
    model = _small("VLAE", "bernoulli", n_update=2, hidden_dim=16)
    x = model.preprocess(_binary(b=3, seed=4))
    state = model.fit_posterior(x)
    precision = tf.matmul(state["chol"], state["chol"], transpose_b=True).numpy()
    np.testing.assert_allclose(precision, _hessian(model, x, state["loc"])[0], rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------------------------------------------
# flows
# --------------------------------------------------------------------------------------------------
def test_householder_flow_keeps_volume():
    model = _small("HF", n_flow=3, z_dim=4)
    x = model.preprocess(_binary(b=3))
    state = model.fit_posterior(x)
    z0 = tf.random.normal((3, 4))
    with tf.GradientTape() as tape:
        tape.watch(z0)
        zk = lv.reflect(z0, state["vectors"])
    jac = tape.batch_jacobian(zk, z0).numpy()
    sign, logdet = np.linalg.slogdet(jac)
    np.testing.assert_allclose(logdet, 0.0, atol=1e-5)
    np.testing.assert_allclose(np.matmul(np.transpose(jac, (0, 2, 1)), jac), np.eye(4)[None].repeat(3, 0), atol=1e-5)
    assert (sign == -1).all()  # three reflections: det -1
    # log q(z_K) = log q_0(z_0), and the closed form N(H mu, H Sigma H^T) of encode() agrees
    z, log_q = model.sample_posterior(state, 5)
    np.testing.assert_allclose(model.posterior_distribution(state).log_prob(z).numpy(), log_q.numpy(), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(model.posterior_distribution(state).mean().numpy(), model.posterior_point(state).numpy(),
                               atol=1e-6)


def test_iaf_log_det_context_and_autoregressive_masks():
    for legacy in (False, True):
        model = _small("IAF", n_flow=3, z_dim=5, iaf_dim=9, legacy=legacy)
        x = model.preprocess(_binary(b=3))
        h = model.fit_posterior(x)["context"]
        z0 = tf.random.normal((3, 5))
        with tf.GradientTape() as tape:
            tape.watch(z0)
            zk, log_det = model.flow(z0, h)
        jac = tape.batch_jacobian(zk, z0).numpy()
        np.testing.assert_allclose(np.linalg.slogdet(jac)[1], log_det.numpy(), rtol=1e-4, atol=1e-4)
        # a central finite-difference Jacobian agrees too
        eps = 1e-3
        fd = np.stack([(model.flow(z0 + eps * np.eye(5, dtype=np.float32)[i], h)[0]
                        - model.flow(z0 - eps * np.eye(5, dtype=np.float32)[i], h)[0]).numpy() / (2 * eps)
                       for i in range(5)], axis=-1)
        np.testing.assert_allclose(fd, jac, atol=2e-3)
        # MADE: m_d and s_d depend on z_<d only (strictly lower-triangular Jacobians)
        made = model.made[0]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z0)
            m, s = made(z0, h)
        for out in (m, s):
            j = tape.batch_jacobian(out, z0).numpy()
            assert np.abs(np.triu(j, 0)).max() == 0.0
            assert np.abs(np.tril(j, -1)).max() > 0.0
        # the encoder context reaches the flow (fixed) or is cut off (legacy, the original)
        with tf.GradientTape() as tape:
            tape.watch(h)
            out = tf.reduce_sum(model.flow(z0, h)[0] ** 2)
        reach = np.abs(tape.gradient(out, h).numpy()).max()
        assert (reach == 0.0) if legacy else (reach > 1e-4), (legacy, reach)


# --------------------------------------------------------------------------------------------------
# SA-VAE
# --------------------------------------------------------------------------------------------------
def test_savae_step_ascends_the_elbo_per_example():
    model = _small("SAVAE", "gaussian", svi_lr=1e-3, hidden_dim=12)
    legacy = _small("SAVAE", "gaussian", svi_lr=1e-3, hidden_dim=12, legacy=True)
    x = model.preprocess(_grey(b=4, seed=2))
    loc, log_var, _ = model.encoder(x)
    eps = tf.random.normal(loc.shape, seed=3)
    before = model.negative_elbo(x, loc, log_var, eps).numpy()
    new_loc, new_lv = model.svi_step(x, loc, log_var, eps)
    after = model.negative_elbo(x, new_loc, new_lv, eps).numpy()
    assert (after < before).all(), (before, after)            # each example's ELBO rises (fixed)
    old_loc, old_lv = legacy.svi_step(x, loc, log_var, eps, batch_mean=True)
    assert (model.negative_elbo(x, old_loc, old_lv, eps).numpy() > before).all()   # the original descends it
    # fixed: an example's step does not depend on the rest of the batch; legacy: it is scaled by 1/B
    alone = model.svi_step(x[:1], loc[:1], log_var[:1], eps[:1])[0].numpy()
    np.testing.assert_allclose(alone, new_loc.numpy()[:1], rtol=1e-5, atol=1e-7)
    alone = legacy.svi_step(x[:1], loc[:1], log_var[:1], eps[:1], batch_mean=True)[0].numpy()
    assert not np.allclose(alone - loc.numpy()[:1], old_loc.numpy()[:1] - loc.numpy()[:1], rtol=0.1)
    # the "clip" divides by max(1, |g|^2 / 5)
    g = tf.constant([[3.0, 4.0], [0.1, 0.2]])
    np.testing.assert_allclose(lv._clip_per_example(g).numpy(), [[3.0 / 5.0, 4.0 / 5.0], [0.1, 0.2]], rtol=1e-6)
    # gradients reach the encoder's log-variance head through the refined posterior (second order included)
    with tf.GradientTape() as tape:
        loss = model.loss_terms(_grey(b=4, seed=2))["loss"]
    grads = tape.gradient(loss, model.encoder.log_var.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


# --------------------------------------------------------------------------------------------------
# data space, importance weights, serialisation
# --------------------------------------------------------------------------------------------------
def test_preprocessing_and_its_inverse():
    images = _grey(b=3)
    mean = np.linspace(0.1, 0.9, 16).astype(np.float32)
    g = lv.LaplaceModel(_config("VLAE_VAE", z_dim=2, hidden_dim=4, output_dist="gaussian")).build_all()
    g.set_data_statistics(mean, -1.0)
    x = g.preprocess(images).numpy()
    np.testing.assert_allclose(x, images.reshape(3, -1) - mean, atol=1e-6)
    np.testing.assert_allclose(g.to_images(x).numpy(), images, atol=1e-6)
    assert float(g.decoder.log_var.numpy()[0]) == -1.0
    logit = lv.LaplaceModel(_config("VLAE_VAE", z_dim=2, hidden_dim=4, output_dist="gaussian",
                                    logit_transform=True)).build_all()
    logit.set_data_statistics(np.zeros(16, np.float32), 0.0)
    a, b = logit.preprocess(images).numpy(), logit.preprocess(images).numpy()
    assert not np.allclose(a, b)                                   # fresh dequantisation noise at every call
    assert a.min() >= math.log(0.05 / 0.95) - 1e-5 and a.max() <= math.log(0.95 / 0.05) + 1e-5
    np.testing.assert_allclose(logit.to_images(a).numpy(), images, atol=1.0 / 256 + 1e-5)
    grey = lv.LaplaceModel(_config("VLAE_VAE", z_dim=2, hidden_dim=4, output_dist="bernoulli")).build_all()
    many = grey.preprocess(np.repeat(images[:1], 4000, 0)).numpy()
    assert set(np.unique(many)) <= {0.0, 1.0}
    np.testing.assert_allclose(many.mean(0), images[0].reshape(-1), atol=0.03)  # dynamic binarisation
    static = lv.LaplaceModel(_config("VLAE_VAE", z_dim=2, hidden_dim=4, output_dist="bernoulli",
                                     binarize=False)).build_all()
    np.testing.assert_array_equal(static.preprocess(images).numpy(), images.reshape(3, -1))
    with pytest.raises(ValueError, match="logit_transform"):
        lv.LaplaceConfig(image_shape=SMALL, output_dist="bernoulli", logit_transform=True)
    with pytest.raises(ValueError, match="n_update"):
        lv.VLAEConfig(image_shape=SMALL, n_update=-1)
    with pytest.raises(ValueError, match="z_dim >= 2"):
        lv.IAFConfig(image_shape=SMALL, z_dim=1)


@pytest.mark.parametrize("name", ["VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE"])
def test_importance_weights_and_the_elbo(name):
    model = _small(name, "bernoulli", hidden_dim=10)
    images = _binary(b=4, seed=5)
    k = 2000
    terms = model.importance_terms(images, k)
    w, ll, kl = (terms[key].numpy().astype(np.float64) for key in ("log_weights", "log_likelihood", "layer_kl"))
    assert w.shape == (4, k) and kl.shape == (4, k, 1)
    np.testing.assert_allclose(w, ll - kl[..., 0], rtol=1e-5, atol=1e-4)
    elbo = w.mean(1)
    bound = np.log(np.exp(w - w.max(1, keepdims=True)).mean(1)) + w.max(1)
    assert (bound >= elbo).all()
    # the training objective is the one-sample estimate of the same ELBO (the mean over 800 draws)
    losses = [float(model.loss_terms(np.repeat(images, 400, 0))["loss"]) for _ in range(2)]
    assert np.mean(losses) == pytest.approx(-elbo.mean(), abs=max(0.02 * abs(elbo.mean()), 0.3))
    # the proposal is computed once and shared: a given proposal gives the same q for every chunk
    proposal = model.importance_proposal(images)
    a = model.importance_terms(images, 3, proposal=proposal)
    assert a["log_weights"].shape == (4, 3)
    means = model.posterior_means(images)
    assert len(means) == 1 and means[0].shape == (4, 3)


def test_evaluator_shares_one_binarisation_per_batch(monkeypatch):
    from hvae.evaluation import Evaluator

    model = lv.LaplaceModel(_config("VLAE_VAE", z_dim=2, hidden_dim=6, output_dist="bernoulli",
                                    binarize=True)).build_all()
    seen = []
    real = model.importance_terms

    def spy(images, k, labels=None, proposal=None):
        seen.append(proposal["x"].numpy())
        return real(images, k, labels, proposal=proposal)

    monkeypatch.setattr(model, "importance_terms", spy)
    evaluator = Evaluator(model, 30, max_images_per_pass=40, compile_mode="eager")   # chunks of 10 samples
    out = evaluator.batch_terms(tf.constant(_grey(b=4)))
    assert len(seen) == 3 and all(np.array_equal(seen[0], s) for s in seen[1:])
    assert (out["log_px"] >= out["elbo"]).all()


def test_keras_serialisation_presets_fit_and_public_api(tmp_path):
    import keras

    from hvae import models

    model = _small("IAF", "gaussian", n_flow=2, legacy=True)
    path = str(tmp_path / "iaf.keras")
    model.save(path)
    loaded = models.load_model(path)
    assert type(loaded) is lv.IAF and loaded.get_config() == model.get_config()
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    images = _grey(b=2)
    np.testing.assert_array_equal(loaded.reconstruct(images).numpy(), model.reconstruct(images).numpy())
    # presets with the original's sizes, and the public API
    assert {"VLAE_mnist", "VLAE_VAE_binarized_mnist", "IAF_binarized_mnist"} <= set(models.preset_names())
    hf = models.from_preset("HF_binarized_mnist")
    assert hf.count_parameters() == COUNTS["HF"] and hf.output_dist == "bernoulli" and not hf.binarize
    q = hf.encode(tf.zeros((2, 28, 28, 1)))
    assert len(q) == 1 and q[0].event_shape == (50,)
    p = hf.decode(q[0].sample())
    assert p.event_shape == (28, 28, 1) and p.log_prob(tf.zeros((2, 28, 28, 1))).shape == (2,)
    assert hf.sample(3).shape == (3, 28, 28, 1)
    assert hf.reconstruct(tf.zeros((2, 28, 28, 1)), sample=True).shape == (2, 28, 28, 1)
    # keras fit / evaluate on the model's own objective (models.base.HVAEModel)
    small = _small("VLAE_VAE", "bernoulli")
    small.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = small.fit(tf.data.Dataset.from_tensor_slices(_binary(b=8)).batch(4), epochs=1, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"} and int(small.optimizer.iterations) == 2


def test_checkpoints_keep_the_data_statistics_and_the_masks(tmp_path):
    model = _small("IAF", "gaussian", n_flow=2)
    model.set_data_statistics(np.linspace(0, 1, 16).astype(np.float32), -2.5)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    other = lv.IAF(model.config).build_all()
    for made in other.made:
        made.w_mask.assign(tf.zeros_like(made.w_mask))
    tf.train.Checkpoint(model=other).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(other.pixel_mean.numpy(), model.pixel_mean.numpy())
    assert float(other.decoder.log_var.numpy()[0]) == -2.5
    for a, b in zip(model.made, other.made):
        np.testing.assert_array_equal(a.w_mask.numpy(), b.w_mask.numpy())


# --------------------------------------------------------------------------------------------------
# typed configs, presets, migration of old files, the interface
# --------------------------------------------------------------------------------------------------
# get_config() as the code before the typed configs wrote it into .keras files (run in the pinned copy): the
# constructor's arguments, binarize resolved, and the model's name
OLD_CONFIGS = {
    "VLAE": {"name": "VLAE", "image_shape": [4, 4, 1], "value_range": [-1.0, 1.0], "z_dim": 3, "hidden_dim": 8,
             "output_dist": "gaussian", "logit_transform": False, "binarize": False, "n_update": 4, "update_lr": 0.5,
             "update_schedule": "geometric"},
    "VLAE_VAE": {"name": "VLAE_VAE", "image_shape": [4, 4, 1], "value_range": [0.0, 1.0], "z_dim": 3,
                 "hidden_dim": 8, "output_dist": "gaussian", "logit_transform": False, "binarize": False},
    "HF": {"name": "HF", "image_shape": [4, 4, 1], "value_range": [0.0, 1.0], "z_dim": 3, "hidden_dim": 8,
           "output_dist": "gaussian", "logit_transform": False, "binarize": False, "n_flow": 4},
    "IAF": {"name": "IAF", "image_shape": [4, 4, 1], "value_range": [0.0, 1.0], "z_dim": 3, "hidden_dim": 8,
            "output_dist": "bernoulli", "logit_transform": False, "binarize": True, "n_flow": 2, "iaf_dim": 500,
            "legacy": True},
    "SAVAE": {"name": "SAVAE", "image_shape": [4, 4, 1], "value_range": [0.0, 1.0], "z_dim": 3, "hidden_dim": 8,
              "output_dist": "bernoulli", "logit_transform": False, "binarize": True, "n_svi_step": 4,
              "svi_lr": 0.0005, "legacy": False},
}


def test_presets_are_typed_configs_of_the_originals_networks():
    from hvae import models

    assert list(lv.PRESETS) == [f"{m}_{d}" for m in ("VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE")
                                for d in ("mnist", "binarized_mnist")]
    for name, config in lv.PRESETS.items():
        model = name.removesuffix("_binarized_mnist").removesuffix("_mnist")
        assert type(config) is lv.MODELS[model].config_class and models.preset(name) is config
        assert (config.image_shape, config.value_range, config.z_dim, config.hidden_dim) == ((28, 28, 1), (0.0, 1.0),
                                                                                              50, 500)
        binary = name.endswith("_binarized_mnist")
        assert config.output_dist == ("bernoulli" if binary else "gaussian") and config.resolved_binarize is False
        assert config == type(config)().replace(**(dict(output_dist="bernoulli", binarize=False) if binary else {}))


def test_from_preset_with_overrides():
    from hvae import models

    vlae = models.from_preset("VLAE_binarized_mnist", n_update=2, z_dim=10)
    assert type(vlae) is lv.VLAE and vlae.name == "VLAE"
    assert vlae.config == lv.PRESETS["VLAE_binarized_mnist"].replace(n_update=2, z_dim=10)
    assert vlae.n_update == 2 and vlae.z_dim == 10
    # z 50 -> 10: the encoder heads lose 2 x (500 x 40 + 40), the decoder's first layer 40 x 500
    assert vlae.count_parameters() == COUNTS["VLAE"] - 2 * 20_040 - 20_000
    hf = lv.HF.from_preset("HF_mnist", n_flow=2)
    assert type(hf) is lv.HF and hf.count_parameters() == COUNTS["HF"] + 1 - 2 * 2_550
    with pytest.raises(ValueError, match="HFConfig has no setting 'n_update'; its settings: image_shape"):
        models.from_preset("HF_mnist", n_update=2)
    with pytest.raises(ValueError, match="builds a VLAE, not a HF"):
        lv.HF.from_preset("VLAE_mnist")
    with pytest.raises(ValueError, match="n_update must be an integer >= 0, got -1"):
        models.from_preset("VLAE_mnist", n_update=-1)
    with pytest.raises(TypeError, match="VLAE takes a VLAEConfig, not LaplaceConfig"):
        lv.VLAE(lv.LaplaceConfig())
    with pytest.raises(TypeError, match="LaplaceModel takes a LaplaceConfig, not IAFConfig"):
        lv.LaplaceModel(lv.IAFConfig())


def test_config_round_trip_validation_and_settings():
    for config in lv.PRESETS.values():
        d = config.to_dict()
        assert json.loads(json.dumps(d)) == d and type(config).from_dict(json.loads(json.dumps(d))) == config
    # NumPy scalars and arrays (as data loaders give them) become plain Python values: JSON-able
    custom = lv.SAVAEConfig(image_shape=np.array([4, 4, 1]), value_range=(np.float32(-1), 1), z_dim=np.int64(3),
                            svi_lr=1, legacy=np.bool_(True))
    assert custom.image_shape == (4, 4, 1) and custom.value_range == (-1.0, 1.0)
    assert type(custom.z_dim) is int and type(custom.svi_lr) is float and custom.legacy is True
    assert lv.SAVAEConfig.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom
    with pytest.raises(ValueError, match="SAVAEConfig has no setting 'n_flow'"):
        custom.replace(n_flow=2)
    bad = [(lv.LaplaceConfig, dict(output_dist="laplace"), "output_dist must be one of 'gaussian', 'bernoulli'"),
           (lv.LaplaceConfig, dict(binarize=True), "binarize applies to the Bernoulli output only"),
           (lv.LaplaceConfig, dict(image_shape=(28, 28)), "image_shape must be three positive integers"),
           (lv.LaplaceConfig, dict(value_range=(1.0, 0.0)), "value_range must be two finite numbers lo < hi"),
           (lv.LaplaceConfig, dict(z_dim=2.5), "z_dim must be an integer >= 1, got 2.5"),
           (lv.LaplaceConfig, dict(hidden_dim=True), "hidden_dim must be an integer >= 1"),
           (lv.VLAEConfig, dict(update_schedule="cosine"), "update_schedule must be one of"),
           (lv.VLAEConfig, dict(update_lr=0.0), "update_lr must be positive"),
           (lv.HFConfig, dict(n_flow=0), "n_flow must be an integer >= 1"),
           (lv.IAFConfig, dict(iaf_dim=0), "iaf_dim must be an integer >= 1"),
           (lv.SAVAEConfig, dict(n_svi_step=-1), "n_svi_step must be an integer >= 0"),
           (lv.SAVAEConfig, dict(svi_lr=float("inf")), "svi_lr must be positive")]
    for cls, settings, message in bad:
        with pytest.raises(ValueError, match=message):
            cls(**settings)
    # every field has a one-line help; the choices are the ones checked
    import dataclasses

    for cls in (lv.MODELS[m].config_class for m in lv.MODELS):
        for f in dataclasses.fields(cls):
            assert f.metadata["help"] and "\n" not in f.metadata["help"], (cls, f.name)
    assert dataclasses.fields(lv.VLAEConfig)[-1].metadata["choices"] == lv.UPDATE_SCHEDULES
    # a flat namespace of settings (the command line's): None -> the default, other keys left out
    flags = dict(model="VLAE", dataset="digits", z_dim=4, hidden_dim=None, n_flow=None, legacy=False, n_update=2,
                 update_lr=None, update_schedule="geometric", binarize=None)
    config = lv.VLAEConfig().with_flags(flags, image_shape=(8, 8, 1), binarize=None)
    assert config == lv.VLAEConfig(image_shape=(8, 8, 1), z_dim=4, n_update=2, update_schedule="geometric")
    assert config.own_settings() == {"n_update": 2, "update_schedule": "geometric"}    # update_lr unused
    assert lv.VLAEConfig().own_settings() == {"n_update": 4, "update_lr": 0.5, "update_schedule": "harmonic"}
    assert lv.IAFConfig().with_flags(flags).own_settings() == {"n_flow": 4, "iaf_dim": 500, "legacy": False}
    assert lv.LaplaceConfig().with_flags(flags).own_settings() == {}
    assert lv.models_with_setting("n_flow") == ("HF", "IAF") and lv.models_with_setting("legacy") == ("IAF", "SAVAE")
    # the model's get_config is its config and its name; from_config gives the same config back
    model = _small("HF", "gaussian", n_flow=2)
    assert model.get_config() == {**model.config.to_dict(), "name": "HF"}
    again = lv.HF.from_config(model.get_config())
    assert again.config == model.config and again.name == "HF" and again.n_flow == 2


@pytest.mark.parametrize("name", list(OLD_CONFIGS))
def test_old_get_config_dicts_still_load(name):
    """Today's get_config keys are the config's fields: the old dicts need no migration (binarize was written
    resolved, which the config accepts)."""
    old = OLD_CONFIGS[name]
    cls = lv.MODELS[name]
    fields = {k: v for k, v in old.items() if k != "name"}
    assert cls.migrate_config(dict(fields)) == fields
    model = cls.from_config(dict(old))
    assert type(model) is cls and model.name == name
    assert model.config == cls.config_class.from_dict(fields)
    assert model.image_shape == (4, 4, 1) and model.binarize == old["binarize"]


def test_old_keras_file_loads(tmp_path):
    """A .keras file whose config.json holds the get_config dict exactly as the code before the typed configs
    wrote it loads, with every weight."""
    import zipfile

    from hvae import models

    for name in ("IAF", "VLAE"):
        old = OLD_CONFIGS[name]
        model = lv.MODELS[name](lv.MODELS[name].config_class.from_dict(
            {k: v for k, v in old.items() if k != "name"})).build_all()
        new_path, old_path = tmp_path / f"{name}_new.keras", tmp_path / f"{name}_old.keras"
        model.save(str(new_path))
        with zipfile.ZipFile(new_path) as src, zipfile.ZipFile(old_path, "w") as dst:
            for item in src.namelist():
                data = src.read(item)
                if item == "config.json":
                    saved = json.loads(data)
                    assert saved["registered_name"] == f"hvae>{name}"
                    data = json.dumps({**saved, "config": old}).encode()
                dst.writestr(item, data)
        loaded = models.load_model(str(old_path))
        assert type(loaded) is lv.MODELS[name] and loaded.config == model.config
        for a, b in zip(model.weights, loaded.weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_interface_has_one_signature():
    import inspect

    from hvae.models.base import HVAEModel

    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for cls in lv.MODELS.values():
        for method in ("encode", "decode", "sample", "reconstruct"):
            ours = list(inspect.signature(getattr(cls, method)).parameters.values())
            base = list(inspect.signature(getattr(HVAEModel, method)).parameters.values())
            assert [(p.name, p.default) for p in ours if p.kind in positional] == \
                   [(p.name, p.default) for p in base], (cls, method)
            assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ours[len(base):]), (cls, method)
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "config", "kwargs"]
    model = _small("HF", "bernoulli")       # static binary data: no noise in reconstruct
    images = tf.constant(_binary(b=2))
    q = model.encode(images, None, training=True)
    assert len(q) == 1 and q[0].event_shape == (3,)
    assert model.decode([q[0].sample()], None).event_shape == SMALL and model.sample(2, None, seed=3).shape == (2,) + SMALL
    np.testing.assert_array_equal(model.reconstruct(images, None).numpy(), model.reconstruct(images).numpy())
    assert model.reconstruct(images, sample=True).shape == (2,) + SMALL
    with pytest.raises(TypeError):
        model.reconstruct(images, None, True)    # sample is keyword-only


@pytest.mark.parametrize("name, settings", [("SAVAE", dict(output_dist="bernoulli", binarize=True)),
                                            ("IAF", dict(output_dist="gaussian", logit_transform=True)),
                                            ("VLAE", dict(output_dist="bernoulli", binarize=True))])
def test_encode_reconstruct_and_posterior_means_are_deterministic(name, settings):
    """The inference API draws its binarisation, dequantisation and SA-VAE refinement noise from a fixed
    stateless seed (two calls agree bit for bit); the training objective keeps fresh noise. IAF's q.mean() is the
    flow image of the encoder mean, the point posterior_means and reconstruct use."""
    model = _small(name, **settings)
    images = tf.constant(_grey(b=3, seed=4))
    first, second = model.encode(images)[0], model.encode(images)[0]
    np.testing.assert_array_equal(first.mean().numpy(), second.mean().numpy())
    np.testing.assert_array_equal(first.mean().numpy(), model.posterior_means(images)[0].numpy())
    np.testing.assert_array_equal(model.reconstruct(images).numpy(), model.reconstruct(images).numpy())
    assert not np.array_equal(model.reconstruct(images, sample=True).numpy(),
                              model.reconstruct(images, sample=True).numpy())
    a, b = (float(model.loss_terms(images)["loss"]) for _ in range(2))
    assert a != b                                                   # fresh noise in the objective
    if name == "IAF":
        assert isinstance(first, lv.FlowPosterior) and first.sample(4).shape == (4, 3, 3)


# --------------------------------------------------------------------------------------------------
# training on real data
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def binarized_mnist(shared_data):
    from hvae import datasets
    from tests.conftest import shared_subdir

    return datasets.load("binarized_mnist", str(shared_subdir(shared_data, "binarized_mnist")))


@pytest.mark.parametrize("name", ["VLAE", "VLAE_VAE", "HF", "IAF", "SAVAE"])
def test_loss_falls_on_binarized_mnist(binarized_mnist, name):
    import keras

    keras.utils.set_random_seed(0)
    options = {"SAVAE": dict(svi_lr=0.1)}.get(name, {})
    model = lv.MODELS[name](_config(name, (28, 28, 1), z_dim=8, hidden_dim=64, output_dist="bernoulli",
                                    binarize=False, **options)).build_all()
    opt = keras.optimizers.Adam(2e-3, epsilon=1e-8)
    held = binarized_mnist.take("validation", 256, seed=0)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = model.loss_terms(x)["loss"]
        grads = tape.gradient(loss, model.trainable_variables)   # VLAE: None for the unused log-variance head
        opt.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None])
        return loss

    before = float(model.loss_terms(held)["loss"])
    batches = binarized_mnist.batches("train", 64, shuffle=True, seed=0, drop_remainder=True, with_labels=False)
    for x in batches.take(12):
        assert np.isfinite(float(step(x)))
    after = float(model.loss_terms(held)["loss"])
    assert before > 400 and after < before - 100, (before, after)


def test_data_statistics_of_the_task(tmp_path):
    from hvae import datasets
    from hvae.laplace_task import FAMILY, LaplaceTask
    from hvae.runs import ResolvedRun

    config = dict(model="VLAE_VAE", mode="train", run_dir=str(tmp_path), batch_size=64, output_dist="gaussian",
                  logit_transform=False, z_dim=4, hidden_dim=8, weight_decay=0.0, legacy=False, dataset="digits")
    data = datasets.load("digits").with_validation()
    task = LaplaceTask(ResolvedRun.from_flat(config, FAMILY), tf.distribute.get_strategy())
    task.dataset = data
    task.build(data.shape, data.value_range)
    pixels = np.concatenate([b.numpy().reshape(len(b), -1) for b in data.batches("train", 500, with_labels=False)])
    assert task.on_start(resumed=True) == [] and not task.recorded().get("initial_output_log_variance")
    lines = task.on_start(resumed=False)      # a fresh Gaussian-output run: the statistics, set before training
    stats = task.model.data_statistics(data.batches("train", 1000, with_labels=False))
    np.testing.assert_allclose(stats["pixel_mean"], pixels.mean(0), atol=1e-5)
    assert stats["log_variance"] == pytest.approx(math.log(((pixels - pixels.mean(0)) ** 2).mean()), rel=1e-5)
    np.testing.assert_allclose(task.model.pixel_mean.numpy(), stats["pixel_mean"], atol=1e-6)
    assert float(task.model.decoder.log_var.numpy()[0]) == pytest.approx(stats["log_variance"], rel=1e-6)
    assert task.recorded()["initial_output_log_variance"] == pytest.approx(stats["log_variance"], rel=1e-12)
    assert lines == [f"data statistics (training split): average per-pixel variance {stats['variance']:.5g} -> "
                     f"initial output log-variance {stats['log_variance']:.4f}"]
    task.resolved = ResolvedRun.from_flat({**config, "logit_transform": True}, FAMILY)
    task.build(data.shape, data.value_range)
    logit = task.model.data_statistics(data.batches("train", 1000, with_labels=False))
    s = 0.05 + 0.9 * (pixels * 255 + 0.5) / 256
    assert np.abs(logit["pixel_mean"] - np.log(s / (1 - s)).mean(0)).max() < 0.05
    # weight decay is PyTorch's coupled L2: w/2 |theta|^2 added to the loss
    # (a setting of the model's objective: Keras' fit and the command line train the same loss)
    task.resolved = ResolvedRun.from_flat({**config, "weight_decay": 0.01}, FAMILY)
    task.build(data.shape, data.value_range)
    assert task.model.config.weight_decay == 0.01
    terms = task.loss_terms(tf.constant(_grey((28, 28, 1), b=2)), None, 1)
    l2 = sum(float(tf.reduce_sum(v ** 2)) for v in task.model.trainable_variables)
    assert float(terms["weight_decay"]) == pytest.approx(0.005 * l2, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------
def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("HVAE_TF_VERBOSE", None)
    return env


def _run(args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "train.py")] + args, cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=600)


def _one_error_line(status, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert status != 0
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_cli_train_resume_evaluate_generate(tmp_path, capsys, monkeypatch):
    """``train`` in a subprocess (the real start-up), then resume, evaluate, generate and the bad inputs through
    ``hvae.cli.main`` in this process. scikit-learn's digits (grey, 8-bit) with the Bernoulli output exercise the
    dynamic binarisation."""
    small = ["--z_dim=4", "--hidden_dim=32", "--output_dist=bernoulli", "--n_update=2", "--batch_size=64"]
    proc = _run(["VLAE", "train", "--dataset=digits", "--max_iterations=4", "--checkpoint_frequency=2",
                 "--seed=1"] + small, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "VLAE (T = 2 updates, alpha_t = 0.5/(t+1); z 4, hidden 32; Bernoulli output, dynamic binarisation)" in out
    assert "-log p(x|mu_t), t = 0..T:" in out and "end of training (iteration 4): test loss" in out
    run = tmp_path / "model" / "VLAE_digits"
    from hvae.runs import load_config_json

    config = load_config_json(str(run))           # config.json's settings, flat; the model's in its typed section
    assert config["model_config"]["binarize"] is True and config["model_config"]["n_update"] == 2
    assert config["learning_rate"] == 5e-4 and "n_update" not in config
    assert (run / "best" / "checkpoint").exists()
    for name in ("data", "reconstruction", "samples", "overview", "updates"):
        assert (run / "figures" / name / "epoch1.png").exists(), name
    monkeypatch.chdir(tmp_path)
    # resume: continues from iteration 4; a changed model flag is refused
    status, out, err = run_cli(["VLAE", "train", "--netname=VLAE_digits", "--max_iterations=6"], capsys)
    assert status == 0, err
    assert "resumed from" in out and "iteration 4" in out and "done at iteration 6" in out
    status, out, err = run_cli(["VLAE", "train", "--netname=VLAE_digits", "--n_update=3"], capsys)
    assert "--n_update=2 but this run asks for --n_update=3" in _one_error_line(status, err)
    status, out, err = run_cli(["VLAE", "evaluate", "--iw_samples=20", "--num_images=30", "--best"], capsys)
    assert status == 0, err
    result = json.loads((run / "evaluation" / "test_k20_n30.json").read_text())
    assert result["density"]["kind"] == "log-probability" and result["bits_per_dim"] is not None  # binarised
    assert result["elbo"]["mean"] <= result["iw_bound"]["mean"] < 0 and result["iteration"] in (4, 6)
    status, out, err = run_cli(["VLAE", "generate"], capsys)
    assert status == 0, err
    assert "wrote" in out and (run / "figures" / "updates" / "generated.png").exists()
    from hvae.figures import read_png

    assert read_png(str(run / "figures" / "samples" / "generated.png")).shape == (224, 224, 1)
    assert read_png(str(run / "figures" / "updates" / "generated.png")).shape == (4 * 28, 16 * 28, 1)

    # bad inputs: one line each
    folder = tmp_path / "colour" / "train_data" / "a"
    folder.mkdir(parents=True)
    import cv2

    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), (np.random.RandomState(i).rand(8, 8, 3) * 255).astype(np.uint8))
    data = ["--dataset=digits", "--netname=other"]
    bad = [
        (["VLAE", "train", "--n_update=-1"] + data, "argument --n_update: must be at least 0, got -1"),
        (["VLAE", "train", "--n_update=1.5"] + data, "argument --n_update: expected an integer, got '1.5'"),
        (["HF", "train", "--n_flow=0"] + data, "argument --n_flow: must be at least 1, got 0"),
        (["SAVAE", "train", "--svi_lr=0"] + data, "--svi_lr must be positive"),
        (["HF", "train", "--n_update=2"] + data, "--n_update does not apply to HF (only to VLAE)"),
        (["VLAE", "train", "--legacy"] + data, "--legacy does not apply to VLAE"),
        (["VLAE", "train", "--output_dist=bernoulli", "--logit_transform"] + data, "--logit_transform applies to"),
        (["VLAE", "train", "--logit_transform=maybe"] + data, "expected true or false, got 'maybe'"),
        (["IAF", "train", "--z_dim=1"] + data, "IAF needs z_dim >= 2"),
        (["VLAE", "train", "--update_schedule=geometric", "--update_lr=0.3"] + data, "--update_lr does not apply"),
        (["VLAE", "train", "--output_dist=bernoulli", "--dataset=folder", f"--db_path={tmp_path / 'colour'}",
          "--netname=colour"], "--output_dist bernoulli takes grey images"),
        (["VLAE", "generate", "x.png"], "takes no image"),
        (["VLAE", "evaluate", "--n_update=2"], "--n_update applies to 'train'"),
    ]
    for argv, expected in bad:
        status, _, err = run_cli(argv, capsys)
        assert expected in _one_error_line(status, err), (argv, err)


def test_logit_transform_needs_8_bit_data(shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_cli(["VLAE", "train", "--logit_transform=true", "--dataset=binarized_mnist",
                            f"--db_path={shared_data / 'binarized_mnist'}"], capsys)
    assert "binarized_mnist's pixels are binary" in _one_error_line(status, err)
