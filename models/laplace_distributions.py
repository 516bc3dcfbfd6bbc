"""The Laplace family's distributions (:mod:`hvae.models.laplace_vae`, whose models derive from
:class:`LaplaceDistributions`), from yookoon/VLAE's ``distribution.py`` (the Gaussian and Bernoulli outputs) and
``models.py`` (the plain VAE's posterior, decoding, sampling and ELBO terms); spec ``lvae_and_vlae_laplace.md``
2.4-2.5:

- p(z) = N(0, I) and p(x | z): N(a, exp(log_var)) with the decoder's one scalar log-variance, or Bernoulli with the
  mean sigmoid(a) clamped to [1e-5, 1 - 1e-5] (:data:`BERNOULLI_EPS`);
- q(z | x): the encoder's diagonal Gaussian q_0, the default that VLAE, HF, IAF and SA-VAE replace by overriding
  ``fit_posterior``, ``sample_posterior``, ``posterior_point`` and ``posterior_distribution``;
- ``decode``, ``sample``, ``figure_images`` (the command line's figures) and ``elbo_terms``, built of those.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from . import objectives
from .latent import sample_and_log_prob, tile_batch

tfd = tfp.distributions

BERNOULLI_EPS = 1e-5                  # distribution.py: Bernoulli clamp; network.py: p(1-p) + 1e-5


class LaplaceDistributions:
    """The distribution methods of :class:`hvae.models.laplace_vae.LaplaceModel` (a mixin placed before
    :class:`hvae.models.base.HVAEModel`, whose ``decode`` and ``sample`` it implements; it holds no state). They
    read the model's ``z_dim``, ``output_dist``, ``image_shape``, its ``encoder``, its ``decoder`` (with the
    Gaussian output's ``log_var``) and its data-space ``preprocess`` and ``to_images``."""

    # ---- distributions ---------------------------------------------------------------------------------
    def prior(self) -> tfd.Distribution:
        """p(z) = N(0, I), event shape ``(Z,)``."""
        return objectives.standard_normal(self.z_dim)

    def likelihood(self, a, event_ndims: int = 1) -> tfd.Distribution:
        """p(x | z) from the decoder's ``a``: ``Independent(Normal(a, exp(log_var / 2)))`` or
        ``Independent(Bernoulli(clip(sigmoid(a), 1e-5, 1 - 1e-5)))`` (``distribution.py``) over the last
        ``event_ndims`` axes (``a (..., D)``, event ``(D,)``; or ``a (B, H, W, C)`` with ``event_ndims=3``)."""
        if self.output_dist == "gaussian":
            scale = tf.exp(0.5 * self.decoder.log_var)
            normal = tfd.Normal(loc=a, scale=scale * tf.ones_like(a))
            return tfd.Independent(normal, reinterpreted_batch_ndims=event_ndims)
        probs = tf.clip_by_value(tf.sigmoid(a), BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
        return tfd.Independent(tfd.Bernoulli(probs=probs, dtype=a.dtype), reinterpreted_batch_ndims=event_ndims)

    def decoder_mean(self, a):
        """E[x | z] in the model's data space: ``a`` (Gaussian) or ``sigmoid(a)`` (Bernoulli)."""
        return a if self.output_dist == "gaussian" else tf.sigmoid(a)

    @property
    def data_density(self) -> str:
        """``'gaussian'`` (a density of the preprocessed values) or ``'bernoulli'``."""
        return self.output_dist

    # ---- the posterior (subclasses override fit_posterior, sample_posterior, posterior_point) -------------
    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """q(z | x)'s parameters for the data ``x (B, D)``, as a dict of tensors.

        Args:
            importance: for the importance-sampling evaluation (only SA-VAE's ``--legacy`` step differs).
            trace: VLAE appends the decoder output ``a`` at every mode iterate here (figures, monitoring).
            seed: SA-VAE: fixed stateless refinement noise (an int) instead of fresh draws; unused by the others.
        """
        mean, log_var, _ = self.encoder(x)
        return {"loc": mean, "log_var": log_var}

    def base_posterior(self, state) -> tfd.Distribution:
        """The encoder's diagonal Gaussian q_0 = N(loc, exp(log_var)), event shape ``(Z,)``."""
        return objectives.diagonal_normal(state["loc"], tf.exp(0.5 * state["log_var"]))

    def sample_posterior(self, state, num_samples: int):
        """``num_samples`` K draws z ~ q(z | x) and their log q: ``(z (K, B, Z), log_q (K, B))``."""
        return sample_and_log_prob(self.base_posterior(state), num_samples)

    def posterior_point(self, state):
        """E_q[z | x] ``(B, Z)`` (flows: the image of the encoder mean, see the subclasses)."""
        return state["loc"]

    def posterior_distribution(self, state) -> tfd.Distribution:
        """q(z | x) as a ``tfp`` distribution (batch ``(B,)``, event ``(Z,)``)."""
        return self.base_posterior(state)

    # ---- decode, sample, the figures and the ELBO's terms --------------------------------------------------
    def decode(self, codes, labels=None) -> tfd.Distribution:
        """``z (B, Z)`` (or a one-element list of it) -> p(x | z), event shape ``(H, W, C)``, over the model's data
        space (pixels in [0, 1] for the Bernoulli output; pixels minus the training mean, or their logits minus
        the mean, for the Gaussian output: :meth:`to_images` maps a mean back to images)."""
        z = codes[0] if isinstance(codes, (list, tuple)) else codes
        return self.likelihood(tf.reshape(self.decoder(z), (-1,) + self.image_shape), event_ndims=3)

    def sample(self, n: int, labels=None, seed=None):
        """``n`` decoder means at prior draws z ~ N(0, I) (the original's 'generated'), as images in
        ``value_range`` ``(n, H, W, C)``."""
        z = self.prior().sample(n, seed=seed)
        return self.to_images(self.decoder_mean(self.decoder(z)))

    def figure_images(self, images, prior) -> tuple:
        """The command line's figures, as images ``(N, H, W, C)`` in ``value_range``: ``images`` as the model sees
        them (binarised or dequantised afresh), the decoder mean at one fresh posterior draw of each, and the
        decoder means at the prior draws ``prior`` ``(M, Z)``."""
        x = self.preprocess(tf.constant(images))
        z, _ = self.sample_posterior(self.fit_posterior(x), 1)
        reconstruction = self.to_images(self.decoder_mean(self.decoder(z[0])))
        return self.to_images(x), reconstruction, self.to_images(self.decoder_mean(self.decoder(tf.constant(prior))))

    def elbo_terms(self, x, state, num_samples: int = 1):
        """``log p(x | z_k) (K, B)`` and ``log q(z_k | x) - log p(z_k) (K, B)`` for K posterior draws."""
        k = int(num_samples)
        z, log_q = self.sample_posterior(state, k)
        a = self.decoder(tf.reshape(z, (-1, self.z_dim)))
        log_likelihood = tf.reshape(self.likelihood(a).log_prob(tile_batch(x, k)), (k, -1))
        return log_likelihood, log_q - self.prior().log_prob(z)
