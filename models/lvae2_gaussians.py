"""The small Ladder VAE's Gaussian algebra and the records of its two passes (:mod:`hvae.models.lvae2`, which
re-exports every name here), from ahmeterdem1/lvae's ``laddervae.py``; spec ``vae_collection_and_simple_lvae.md``
part B:

- :func:`precision_weighted_merge` (Sonderby et al. 2016, eq. 18-19, computed stably) and :func:`legacy_merge` (the
  original's "common" distribution, ``LatentLayer.forward``; spec B.4, B.9 item 3), with :func:`logaddexp`;
- :func:`gaussian` (a diagonal Gaussian over the last axes) and :func:`gaussian_kl` (the analytic KL, the original's
  ``kld_loss`` / ``kld_loss_multiple``);
- :class:`Encoding`, :class:`Decoding`, :class:`Forward`: what the bottom-up pass, the top-down pass and one whole
  pass give (spec B.8: the encoder returns its statistics; nothing is stored between calls).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
import tensorflow_probability as tfp

from .latent import tile_batch

tfd = tfp.distributions


# --------------------------------------------------------------------------------------------------
# Gaussian algebra
# --------------------------------------------------------------------------------------------------
def logaddexp(a, b):
    """log(exp(a) + exp(b)), elementwise and stable for any finite a, b."""
    return tf.maximum(a, b) + tf.math.softplus(-tf.abs(a - b))


def precision_weighted_merge(mean_e, logvar_e, mean_d, logvar_d):
    """The Ladder VAE's posterior: the product of the bottom-up N(mean_e, v_e) and the top-down
    N(mean_d, v_d), normalised (Sonderby et al., "Ladder Variational Autoencoders", NIPS 2016, eq. 18-19):

        v_c = 1 / (1/v_e + 1/v_d),    mean_c = (mean_e / v_e + mean_d / v_d) v_c

    computed as logvar_c = -logaddexp(-logvar_e, -logvar_d) and mean_c = mean_e sigmoid(logvar_d - logvar_e)
    + mean_d sigmoid(logvar_e - logvar_d), finite for any finite log-variances (spec B.9 item 3).

    Args:
        mean_e, logvar_e, mean_d, logvar_d: float tensors of one shape (log-variances in nats).
    Returns:
        ``(mean_c, logvar_c)``, the same shape.
    """
    logvar = -logaddexp(-logvar_e, -logvar_d)
    mean = mean_e * tf.sigmoid(logvar_d - logvar_e) + mean_d * tf.sigmoid(logvar_e - logvar_d)
    return mean, logvar


def legacy_merge(mean_e, logvar_e, mean_d, logvar_d):
    """The original's "common" distribution (``LatentLayer.forward``, spec B.4), wrong in three places:

        s = 1 / (v_e + v_d),    mean_c = (mean_e / v_e + mean_d / v_d) s,    logvar_c = log(s^2)

    The same values, computed without forming 1/v: s = exp(-logaddexp(logvar_e, logvar_d)), so where the
    original overflows to inf/NaN (log-variances beyond about +-88 in float32) this stays finite.

    Returns:
        ``(mean_c, logvar_c)``.
    """
    log_s = -logaddexp(logvar_e, logvar_d)
    mean = (mean_e * tf.exp(-logvar_e + log_s) + mean_d * tf.exp(-logvar_d + log_s))
    return mean, 2.0 * log_s


def gaussian(mean, logvar, event_ndims: int) -> tfd.Distribution:
    """``Independent(Normal(mean, exp(logvar / 2)), event_ndims)``: a diagonal Gaussian whose event is the
    last ``event_ndims`` axes (1 for z_top ``(B, 2)``, 3 for z_ladder ``(B, 13, 13, 64)``)."""
    return tfd.Independent(tfd.Normal(loc=mean, scale=tf.exp(0.5 * logvar)), reinterpreted_batch_ndims=event_ndims)


def gaussian_kl(mean_q, logvar_q, mean_p, logvar_p, event_ndims: int):
    """Analytic KL(N(mean_q, v_q) || N(mean_p, v_p)) per example, in nats, summed over the event axes:
    ``sum [ (logvar_p - logvar_q)/2 + (v_q + (mean_q - mean_p)^2) / (2 v_p) - 1/2 ]`` (the original's
    ``kld_loss_multiple`` with (q, p) = (common, encoder); ``kld_loss`` with p = N(0, I))."""
    return tfd.kl_divergence(gaussian(mean_q, logvar_q, event_ndims), gaussian(mean_p, logvar_p, event_ndims))


# --------------------------------------------------------------------------------------------------
# What the two passes give
# --------------------------------------------------------------------------------------------------
class Encoding(NamedTuple):
    """The bottom-up pass (spec B.8: the encoder returns its statistics).

    Attributes:
        features: ``a (B, 13, 13, 64)``, the ladder layer's deterministic activation.
        ladder_mean, ladder_logvar: ``(B, 13, 13, 64)``, the bottom-up Gaussian (mu_e, logvar_e).
        top_mean, top_logvar: ``(B, 2)``, q(z_top | x).
    """

    features: tf.Tensor
    ladder_mean: tf.Tensor
    ladder_logvar: tf.Tensor
    top_mean: tf.Tensor
    top_logvar: tf.Tensor

    @property
    def top_posterior(self) -> tfd.Distribution:
        """q(z_top | x): event shape ``(2,)``."""
        return gaussian(self.top_mean, self.top_logvar, 1)

    def tiled(self, k: int) -> Encoding:
        """K copies of every statistic, copy-major (:func:`hvae.models.latent.tile_batch`)."""
        return Encoding(*[tile_batch(t, k) for t in self])


class Decoding(NamedTuple):
    """The top-down pass from z_top.

    Attributes:
        logits: ``(B, 28, 28, 1)``; ``sigmoid(logits)`` is the original's output image in [0, 1].
        z_ladder: ``(B, 13, 13, 64)``, the ladder code the rest of the decoder was given.
        prior_mean, prior_logvar: p(z_ladder | z_top) = N(mu_d, v_d).
        posterior_mean, posterior_logvar: the merged (mu_c, logvar_c), or None without encoder statistics.
    """

    logits: tf.Tensor
    z_ladder: tf.Tensor
    prior_mean: tf.Tensor
    prior_logvar: tf.Tensor
    posterior_mean: tf.Tensor | None
    posterior_logvar: tf.Tensor | None

    @property
    def mean_image(self):
        """The decoder's output image ``sigmoid(logits)`` in [0, 1]."""
        return tf.sigmoid(self.logits)

    @property
    def ladder_prior(self) -> tfd.Distribution:
        """p(z_ladder | z_top): event shape ``(13, 13, 64)``."""
        return gaussian(self.prior_mean, self.prior_logvar, 3)

    @property
    def ladder_posterior(self) -> tfd.Distribution | None:
        """The merged N(mu_c, v_c), or None."""
        if self.posterior_mean is None:
            return None
        return gaussian(self.posterior_mean, self.posterior_logvar, 3)


class Forward(NamedTuple):
    """One pass through the model: the encoding, the top code drawn from q(z_top | x) and the decoding."""

    encoding: Encoding
    z_top: tf.Tensor
    decoding: Decoding
