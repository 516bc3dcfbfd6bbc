"""Priors, posteriors, likelihoods, divergences and schedules shared by the model families.

Every prior, posterior and likelihood is a ``tfp.distributions`` object; the functions here only
build them and reduce them the way the originals did. Units are nats unless stated otherwise.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


# ---------------------------------------------------------------------------------------------
# Latent distributions
# ---------------------------------------------------------------------------------------------
def diagonal_normal(mean, scale) -> tfd.Distribution:
    """A diagonal Gaussian over the last axis: ``Independent(Normal(mean, scale), 1)``.

    Args:
        mean, scale: float tensors of shape ``(B, D)`` (scale > 0).
    Returns:
        A distribution with batch shape ``(B,)`` and event shape ``(D,)``.
    """
    return tfd.Independent(tfd.Normal(loc=mean, scale=scale), reinterpreted_batch_ndims=1)


def standard_normal(dim: int, dtype=tf.float32) -> tfd.Distribution:
    """The prior N(0, I) over ``dim`` latent dimensions (event shape ``(dim,)``)."""
    return tfd.Independent(tfd.Normal(loc=tf.zeros([dim], dtype), scale=tf.ones([dim], dtype)), 1)


def kl_to_standard_normal(posterior: tfd.Distribution) -> tf.Tensor:
    """Analytic KL(q(z|x) || N(0, I)) per example, in nats: shape ``(B,)``.

    For a diagonal Gaussian this is ``sum_d [-log s_d + (s_d^2 + m_d^2)/2 - 1/2]``, the regulariser of
    the VLadder original (``vladder.py``) and of the standard VAE (Kingma & Welling 2014, eq. 10).
    """
    dim = posterior.event_shape[-1]
    return tfd.kl_divergence(posterior, standard_normal(dim, posterior.dtype))


# ---------------------------------------------------------------------------------------------
# Maximum mean discrepancy
# ---------------------------------------------------------------------------------------------
def gaussian_kernel(x, y, bandwidth) -> tf.Tensor:
    """k(x, y) = exp(-||x - y||^2 / bandwidth) for all pairs: ``(N, D), (M, D) -> (N, M)``.

    The VLadder and VAE-collection originals (and Zhao et al.'s own MMD-VAE code) compute
    ``exp(-mean_d (x_d - y_d)^2 / D)``, which is this kernel with ``bandwidth = D^2``: at D = 200 it is about
    0.99 for any two prior draws. ``bandwidth = D`` is the WAE heuristic (Tolstikhin et al. 2018, C = 2 d
    sigma^2, up to the factor 2); ``benchmarks/mmd_bandwidth.py`` measures how much better it separates a
    mismatched posterior from the prior (docs/fidelity.md).
    """
    sq = tf.reduce_sum(tf.square(x[:, None, :] - y[None, :, :]), axis=-1)
    return tf.exp(-sq / tf.cast(bandwidth, x.dtype))


def mmd(x, y, bandwidth) -> tf.Tensor:
    """Biased (V-statistic) estimate of MMD^2 between samples ``x (N, D)`` and ``y (M, D)``.

    ``mean k(x, x) + mean k(y, y) - 2 mean k(x, y)``, diagonals included, as the originals'
    ``compute_mmd``. Returns a scalar (dimensionless, >= 0).
    """
    return (tf.reduce_mean(gaussian_kernel(x, x, bandwidth)) + tf.reduce_mean(gaussian_kernel(y, y, bandwidth))
            - 2.0 * tf.reduce_mean(gaussian_kernel(x, y, bandwidth)))


# ---------------------------------------------------------------------------------------------
# Likelihoods
# ---------------------------------------------------------------------------------------------
def laplace_likelihood(mean, scale: float) -> tfd.Distribution:
    """Factorised Laplace p(x | z) over an image: event shape ``(H, W, C)``.

    VLadder's L1 reconstruction loss is this likelihood's negative log-density with
    ``scale = 1 / loss_ratio``, minus the constant ``H*W*C * log(2 * scale)``; see
    :func:`scaled_l1_from_laplace`.
    """
    return tfd.Independent(tfd.Laplace(loc=mean, scale=tf.cast(scale, mean.dtype)), reinterpreted_batch_ndims=3)


def scaled_l1_from_laplace(likelihood: tfd.Distribution, x) -> tf.Tensor:
    """``loss_ratio * sum |x - mean|`` per example (shape ``(B,)``), computed from the Laplace likelihood.

    ``-log p(x) = sum |x - mean| / b + D log(2b)`` with ``b = 1/loss_ratio``, so the original's scaled L1
    is ``-log p(x) - D log(2b)``: the same value, obtained from the distribution.
    """
    scale = likelihood.distribution.scale
    dims = tf.cast(tf.reduce_prod(likelihood.event_shape_tensor()), x.dtype)
    return -likelihood.log_prob(x) - dims * tf.math.log(2.0 * scale)


def bernoulli_likelihood(probs=None, eps: float = 0.0, *, logits=None) -> tfd.Distribution:
    """Factorised Bernoulli p(x | z) over an image: event shape ``(H, W, C)``.

    Give either pixel probabilities ``probs (B, H, W, C)`` (optionally clipped to ``[eps, 1 - eps]``) or
    ``logits`` of the same shape; logits are the numerically stable form (``log_prob`` is then
    ``-softplus(-l) x - softplus(l) (1 - x)``, finite for any logit). ``log_prob`` accepts targets in
    [0, 1] (continuous targets give the cross-entropy the originals used).

    Raises:
        ValueError: both or neither of ``probs`` and ``logits`` given.
    """
    if (probs is None) == (logits is None):
        raise ValueError("bernoulli_likelihood takes exactly one of probs and logits")
    if logits is not None:
        return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=logits.dtype), reinterpreted_batch_ndims=3)
    if eps:
        probs = tf.clip_by_value(probs, eps, 1.0 - eps)
    return tfd.Independent(tfd.Bernoulli(probs=probs, dtype=probs.dtype), reinterpreted_batch_ndims=3)


def gaussian_likelihood(mean, scale: float) -> tfd.Distribution:
    """Factorised Normal p(x | z) = N(mean, scale^2) per pixel over an image: event shape ``(H, W, C)``.

    ``-log_prob(x) = sum (x - mean)^2 / (2 scale^2) + D log(scale sqrt(2 pi))`` per example, in nats.
    """
    return tfd.Independent(tfd.Normal(loc=mean, scale=tf.cast(scale, mean.dtype)), reinterpreted_batch_ndims=3)


def bernoulli_cross_entropy_eps(probs, x, eps: float = 1e-10) -> tf.Tensor:
    """The VAE-collection original's reconstruction term, per example (shape ``(B,)``):

    ``-sum_pixels [x log(p + eps) + (1 - x) log(1 - p + eps)]`` on sigmoid outputs ``p`` (``--legacy``).
    Summed over every axis but the first.
    """
    ce = -(x * tf.math.log(probs + eps) + (1.0 - x) * tf.math.log(1.0 - probs + eps))
    return tf.reduce_sum(tf.reshape(ce, (tf.shape(ce)[0], -1)), axis=1)


def legacy_vae_kl(mean, log_var) -> tf.Tensor:
    """The VAE-collection original's (wrong) "KL" of VAE and CVAE, per example (shape ``(B,)``):

    ``-1/2 sum_d (1 + l_d - m_d^2 - exp(l_d / 2))`` with ``l`` the log-variance. The true KL to N(0, I)
    has ``exp(l_d)``; this term is minimised at ``l = 2 ln 2`` (variance 4) and can be negative.
    Reproduced only for ``--legacy``.
    """
    return -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var / 2.0), axis=-1)


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------
def kl_warmup(iteration, tau: float = 2000.0):
    """VLadder's KL warm-up: beta_t = 1 - exp(-t / tau) with t counted from 1 at the first step.

    Works on Python numbers and tensors. beta(1) ~ 0.0005, beta(2000) ~ 0.632, beta(10000) ~ 0.993.
    """
    if isinstance(iteration, (int, float)):
        return 1.0 - math.exp(-iteration / tau)
    t = tf.cast(iteration, tf.float32)
    return 1.0 - tf.exp(-t / tau)
