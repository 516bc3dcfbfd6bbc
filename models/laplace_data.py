"""The Laplace family's data space (:mod:`hvae.models.laplace_vae`), from yookoon/VLAE's ``datasets.py``
(``preprocess``, ``unpreprocess``, the logit transform, dynamic binarisation) and ``experiment.py``
(``initialize_params``: the pixel mean and the initial output variance); spec ``lvae_and_vlae_laplace.md`` 2.7.

Images arrive in the dataset's ``value_range`` and are mapped to [0, 1] pixels u, flattened, then

- Gaussian output: x = u - m, m the per-pixel training mean (a non-trainable weight, so checkpoints keep it);
- Gaussian output with ``logit_transform``: y = (255 u + U(0, 1)) / 256 with fresh noise at every call
  (:func:`dequantize`), s = lambda + (1 - 2 lambda) y with lambda = 0.05, x = logit(s) - m (:func:`logit_squeeze`;
  m the mean of one noisy pass);
- Bernoulli output: x = u, or with ``binarize`` (grey data) x ~ Bernoulli(u) drawn afresh at every call
  (dynamic binarisation); statically binarised data is used as it is.

:class:`LaplaceDataSpace` holds these maps as methods of the family's models (``LaplaceModel`` derives from it).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

LOGIT_LAMBDA = 0.05                   # datasets.py: lamb


def dequantize(u, seed=None):
    """``(255 u + U(0, 1)) / 256``: 8-bit pixels u in [0, 1] spread uniformly over their bins (fresh noise, or
    stateless noise of ``seed``, a pair of ints)."""
    noise = tf.random.uniform(tf.shape(u)) if seed is None else tf.random.stateless_uniform(tf.shape(u), seed=seed)
    return (u * 255.0 + noise) / 256.0


def logit_squeeze(y, lam: float = LOGIT_LAMBDA):
    """``logit(lam + (1 - 2 lam) y)`` (``datasets.py``, lambda 0.05): [0, 1] -> [logit 0.05, logit 0.95]."""
    s = lam + (1.0 - 2.0 * lam) * y
    return tf.math.log(s) - tf.math.log(1.0 - s)


class LaplaceDataSpace:
    """The data-space methods of :class:`hvae.models.laplace_vae.LaplaceModel` (a mixin placed before
    :class:`hvae.models.base.HVAEModel`, whose ``to_unit`` it extends; it holds no state). They read the model's
    ``output_dist``, ``binarize``, ``logit_transform``, ``pixels`` (D), ``value_range``, ``image_shape``, its
    non-trainable ``pixel_mean`` ``(D,)`` (Gaussian output) and its decoder's ``log_var``."""

    def to_unit(self, images):
        """Images in ``value_range`` ``(B, H, W, C)`` -> flattened pixels in [0, 1] ``(B, D)``."""
        return tf.reshape(super().to_unit(images), (-1, self.pixels))

    def preprocess(self, images, seed: int | None = None):
        """Images in ``value_range`` -> the model's data x ``(B, D)`` (module docstring): fresh binarisation or
        dequantisation noise at every call, or with ``seed`` (an int) fixed stateless noise (the same x for the
        same images)."""
        u = self.to_unit(images)
        if self.output_dist == "bernoulli":
            if self.binarize:
                noise = (tf.random.uniform(tf.shape(u)) if seed is None
                         else tf.random.stateless_uniform(tf.shape(u), seed=(int(seed), 0)))
                u = tf.cast(noise < u, tf.float32)
            return u
        if self.logit_transform:
            u = logit_squeeze(dequantize(u, None if seed is None else (int(seed), 1)))
        return u - self.pixel_mean

    def to_images(self, values):
        """Values in the model's data space ``(B, D)`` (data, or a decoder mean) -> images in ``value_range``
        ``(B, H, W, C)``, clipped to the range (the original's ``unpreprocess`` + ``clamp(0, 1)``)."""
        if self.output_dist == "bernoulli":
            u = values
        elif self.logit_transform:
            u = (tf.sigmoid(values + self.pixel_mean) - LOGIT_LAMBDA) / (1.0 - 2.0 * LOGIT_LAMBDA)
        else:
            u = values + self.pixel_mean
        lo, hi = self.value_range
        u = tf.clip_by_value(u, 0.0, 1.0)
        return tf.reshape(lo + (hi - lo) * u, (-1,) + self.image_shape)

    def set_data_statistics(self, pixel_mean, log_variance: float) -> None:
        """Gaussian output: the per-pixel training mean ``(D,)`` subtracted from the data, and the initial decoder
        log-variance, log of the data's average per-pixel variance (``initialize_params``; spec 2.3: then
        sum (x - a)^2 / sigma^2 starts near D, not near 1).

        Raises:
            ValueError: a Bernoulli model (no mean, no variance).
        """
        if self.output_dist != "gaussian":
            raise ValueError("only a Gaussian-output model has a pixel mean and an output variance")
        self.pixel_mean.assign(tf.reshape(tf.cast(pixel_mean, tf.float32), (self.pixels,)))
        self.decoder.log_var.assign([float(log_variance)])

    def data_statistics(self, batches) -> dict:
        """What :meth:`set_data_statistics` takes, from one pass over ``batches`` of images ``(B, H, W, C)`` in
        ``value_range`` (the training split) in the model's data space before the mean is subtracted (with the
        logit transform: one dequantisation draw per image; ``datasets.py``; float64 sums).

        Returns:
            ``pixel_mean`` ``(D,)`` float32, ``variance`` (the average per-pixel variance, a float) and
            ``log_variance`` = log(max(variance, 1e-12)).
        """
        s1 = s2 = None
        n = 0
        for images in batches:
            u = self.to_unit(images)
            if self.logit_transform:
                u = logit_squeeze(dequantize(u))
            u = tf.cast(u, tf.float64).numpy()
            s1 = u.sum(0) if s1 is None else s1 + u.sum(0)
            s2 = (u ** 2).sum(0) if s2 is None else s2 + (u ** 2).sum(0)
            n += len(u)
        mean = s1 / n
        variance = float(np.mean(np.maximum(s2 / n - mean ** 2, 0.0)))
        return {"pixel_mean": mean.astype(np.float32), "log_variance": math.log(max(variance, 1e-12)),
                "variance": variance}
