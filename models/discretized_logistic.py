"""Discretized logistic likelihoods of 8-bit images, as ``tfp.distributions``.

Two distributions over images of 8-bit pixels, given as values ``k / 255`` in [0, 1] (``k`` = 0..255),
with event shape ``(H, W, C)`` and log-probabilities in nats per image:

* :class:`DiscretizedLogistic` -- one logistic per sub-pixel, its mass over 256 equal bins of [0, 1] with
  open-ended edge bins: the ``discr_log`` likelihood of addtt/ladder-vae-pytorch
  (``lib/likelihoods.py: DiscretizedLogisticLikelihood``, ``log_discretized_logistic``; spec
  ``lvae_and_vlae_laplace.md`` §1.6).
* :class:`DiscretizedLogisticMixture` -- the discretized mixture of logistics of PixelCNN++ (Salimans,
  Karpathy, Chen & Kingma, ICLR 2017, section 2.1-2.2) with its linear colour conditioning, in the
  parameter layout of the ``discr_log_mix`` likelihood of the same repository (which took it from
  pclucas14/pixel-cnn-pp). RGB only.

TFP has no identical distribution (``tfd.PixelCNN`` parameterises the mixture differently and
``tfd.QuantizedDistribution`` has no colour conditioning), so both are written here from the spec's
formulas. Neither is reparameterised (samples carry no gradient). ``mean()`` of the mixture is not
implemented, as in the original (its reconstructions show a sample).
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

MIXTURE_PARAMS_PER_COMPONENT = 10   # 1 logit + 3 x (mean, log-scale, coefficient) for RGB
MIN_LOG_SCALE = -7.0
EDGE = 0.999                        # |x| > 0.999 in [-1, 1] units: the first / last bin
SMALL_PROBABILITY = 1e-5            # below it the bin mass is replaced by the mid-bin density
SAMPLE_EPS = 1e-5                   # uniform draws of the mixture sampler in [1e-5, 1 - 1e-5]


# ------------------------------------------------------------------------------------------------
# The mixture (PixelCNN++)
# ------------------------------------------------------------------------------------------------
def unpack_mixture_params(params, num_components: int = 10):
    """Split the head's ``10 K`` channels into the mixture's parameters.

    Layout of the last axis (the original's, after moving channels last): ``[0:K]`` mixture logits
    (shared by the 3 colours of a pixel); ``[K:10K]`` read as ``(3 colours, 3K)``, each colour's ``3K`` =
    K means, K log-scales, K raw coefficients.

    Args:
        params: ``(..., H, W, 10 K)`` float.
    Returns:
        ``logits (..., H, W, K)``, ``means (..., H, W, 3, K)``, ``log_scales (..., H, W, 3, K)`` (clamped at
        -7), ``coeffs (..., H, W, 3, K)`` (tanh of the raw values; colour slot 0 holds c_RG, slot 1 c_RB,
        slot 2 c_GB).
    """
    k = num_components
    params = tf.convert_to_tensor(params)
    logits = params[..., :k]
    rest = tf.reshape(params[..., k:], tf.concat([tf.shape(params)[:-1], [3, 3 * k]], axis=0))
    means = rest[..., :k]
    log_scales = tf.maximum(rest[..., k:2 * k], MIN_LOG_SCALE)
    coeffs = tf.tanh(rest[..., 2 * k:3 * k])
    return logits, means, log_scales, coeffs


def mixture_log_prob_per_pixel(x01, params, num_components: int = 10):
    """log p(x) of every pixel (the 3 colours together) under the discretized logistic mixture.

    The data ``x01 = k / 255`` is mapped to ``x = 2 x01 - 1`` in [-1, 1]; bins have half-width 1/255 there.
    Colour conditioning: mean_G += c_RG x_R, mean_B += c_RB x_R + c_GB x_G (the observed values).
    Per sub-pixel and component: ``x < -0.999`` (k = 0): log sigmoid of the upper bin edge;
    ``x > 0.999`` (k = 255): log(1 - sigmoid of the lower edge); otherwise log(CDF+ - CDF-) if that mass
    exceeds 1e-5, else the mid-bin density times the bin width (log pdf - log 127.5). Then the 3 colours'
    log-probabilities are summed, the log-softmax of the logits added and the components log-sum-exp'd.

    Args:
        x01: ``(..., H, W, 3)`` in [0, 1].
        params: ``(..., H, W, 10 K)``.
    Returns:
        ``(..., H, W)`` log-probabilities in nats.
    """
    logits, means, log_scales, coeffs = unpack_mixture_params(params, num_components)
    x = 2.0 * tf.convert_to_tensor(x01, means.dtype) - 1.0          # (..., H, W, 3)
    xr, xg = x[..., 0:1], x[..., 1:2]                                # (..., H, W, 1): broadcast over K
    mean_r = means[..., 0, :]
    mean_g = means[..., 1, :] + coeffs[..., 0, :] * xr
    mean_b = means[..., 2, :] + coeffs[..., 1, :] * xr + coeffs[..., 2, :] * xg
    means = tf.stack([mean_r, mean_g, mean_b], axis=-2)              # (..., H, W, 3, K)
    xk = x[..., None]                                                # (..., H, W, 3, 1)
    centered = xk - means
    inv_scale = tf.exp(-log_scales)
    plus_in = inv_scale * (centered + 1.0 / 255.0)
    min_in = inv_scale * (centered - 1.0 / 255.0)
    cdf_delta = tf.sigmoid(plus_in) - tf.sigmoid(min_in)
    log_cdf_plus = plus_in - tf.nn.softplus(plus_in)                 # log sigmoid(plus_in): left edge bin
    log_one_minus_cdf_min = -tf.nn.softplus(min_in)                  # log(1 - sigmoid(min_in)): right edge bin
    mid_in = inv_scale * centered
    log_pdf_mid = mid_in - log_scales - 2.0 * tf.nn.softplus(mid_in)
    interior = tf.where(cdf_delta > SMALL_PROBABILITY, tf.math.log(tf.maximum(cdf_delta, 1e-12)),
                        log_pdf_mid - math.log(127.5))
    xk = tf.broadcast_to(xk, tf.shape(centered))
    log_probs = tf.where(xk < -EDGE, log_cdf_plus, tf.where(xk > EDGE, log_one_minus_cdf_min, interior))
    log_probs = tf.reduce_sum(log_probs, axis=-2) + tf.nn.log_softmax(logits, axis=-1)   # (..., H, W, K)
    return tf.reduce_logsumexp(log_probs, axis=-1)


def sample_mixture(params, num_components: int = 10, seed=None):
    """One draw of the discretized logistic mixture, in [0, 1] (not quantised to 8 bits, as the original).

    Component per pixel by the Gumbel-max trick (uniforms in [1e-5, 1 - 1e-5]); a logistic draw per colour;
    R clamped to [-1, 1], then G and B conditioned on the clamped values of the colours before them and
    clamped; mapped back with (s + 1) / 2.

    Args:
        params: ``(..., H, W, 10 K)``.
        seed: a TFP seed (int, stateless pair or None).
    Returns:
        ``(..., H, W, 3)`` float in [0, 1].
    """
    logits, means, log_scales, coeffs = unpack_mixture_params(params, num_components)
    component_seed, logistic_seed = tfp.random.split_seed(tfp.random.sanitize_seed(seed), 2)
    u = tf.random.stateless_uniform(tf.shape(logits), component_seed, SAMPLE_EPS, 1.0 - SAMPLE_EPS, logits.dtype)
    choice = tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1)           # (..., H, W)
    select = tf.one_hot(choice, num_components, dtype=means.dtype)[..., None, :]  # (..., H, W, 1, K)
    mean = tf.reduce_sum(means * select, axis=-1)                                # (..., H, W, 3)
    log_scale = tf.maximum(tf.reduce_sum(log_scales * select, axis=-1), MIN_LOG_SCALE)
    coeff = tf.reduce_sum(coeffs * select, axis=-1)
    u = tf.random.stateless_uniform(tf.shape(mean), logistic_seed, SAMPLE_EPS, 1.0 - SAMPLE_EPS, mean.dtype)
    s = mean + tf.exp(log_scale) * (tf.math.log(u) - tf.math.log(1.0 - u))
    r = tf.clip_by_value(s[..., 0], -1.0, 1.0)
    g = tf.clip_by_value(s[..., 1] + coeff[..., 0] * r, -1.0, 1.0)
    b = tf.clip_by_value(s[..., 2] + coeff[..., 1] * r + coeff[..., 2] * g, -1.0, 1.0)
    return tf.clip_by_value((tf.stack([r, g, b], axis=-1) + 1.0) / 2.0, 0.0, 1.0)


class DiscretizedLogisticMixture(tfd.Distribution):
    """PixelCNN++'s discretized mixture of logistics over RGB images of 8-bit pixels.

    Args:
        params: ``(B, H, W, 10 K)`` the likelihood head's output (layout: :func:`unpack_mixture_params`).
        num_components: K (10 in the original).

    Batch shape ``(B,)``, event shape ``(H, W, 3)``. ``log_prob(x)`` takes ``x (B, H, W, 3)`` with values
    ``k / 255`` in [0, 1] and returns ``(B,)`` nats per image (:func:`mixture_log_prob_per_pixel` summed over
    pixels). ``sample()`` gives [0, 1] images (:func:`sample_mixture`).

    Raises:
        ValueError: the last axis of ``params`` is not a multiple of 10 matching ``num_components``.
    """

    def __init__(self, params, num_components: int = 10, validate_args: bool = False, allow_nan_stats: bool = True,
                 name: str = "DiscretizedLogisticMixture"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._params = tf.convert_to_tensor(params, dtype_hint=tf.float32, name="params")
            self._num_components = int(num_components)
            channels = self._params.shape[-1]
            if channels is not None and channels != MIXTURE_PARAMS_PER_COMPONENT * self._num_components:
                raise ValueError(f"a {self._num_components}-component RGB mixture takes "
                                 f"{MIXTURE_PARAMS_PER_COMPONENT * self._num_components} parameter channels, "
                                 f"got {channels}")
            super().__init__(dtype=self._params.dtype, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats, parameters=parameters,
                             name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(params=tfp.util.ParameterProperties(event_ndims=3))

    @property
    def params(self):
        """The head's output ``(B, H, W, 10 K)``."""
        return self._params

    @property
    def num_components(self) -> int:
        return self._num_components

    def _event_shape(self):
        return tf.TensorShape(self._params.shape[-3:-1]).concatenate([3])

    def _event_shape_tensor(self):
        return tf.concat([tf.shape(self._params)[-3:-1], [3]], axis=0)

    def _batch_shape(self):
        return self._params.shape[:-3]

    def _batch_shape_tensor(self):
        return tf.shape(self._params)[:-3]

    def _log_prob(self, x):
        per_pixel = mixture_log_prob_per_pixel(x, self._params, self._num_components)
        return tf.reduce_sum(per_pixel, axis=[-2, -1])

    def _sample_n(self, n, seed=None):
        params = tf.broadcast_to(self._params, tf.concat([[n], tf.shape(self._params)], axis=0))
        return sample_mixture(params, self._num_components, seed=seed)


# ------------------------------------------------------------------------------------------------
# A single discretized logistic per sub-pixel
# ------------------------------------------------------------------------------------------------
def discretized_logistic_log_prob_per_subpixel(x01, loc, log_scale, num_bins: int = 256, eps: float = 1e-7):
    """log P(x) of each sub-pixel under a logistic(loc, exp(log_scale)) discretized to ``num_bins`` bins.

    As the original ``log_discretized_logistic``: the data ``k / 255`` is moved to bin centres
    ``x * 255/256 + 1/512`` then to the bin's left edge ``floor(x * n) / n``; the mass is
    ``sigmoid((x + 1/n - loc) / s) - sigmoid((x - loc) / s)`` with the upper CDF set to 1 in the last bin
    and the lower CDF to 0 in the first (open-ended edge bins), plus ``eps`` inside the log.

    Args:
        x01: values ``k / 255`` in [0, 1], any shape.
        loc, log_scale: the logistic's location and log-scale in [0, 1] units, broadcastable to ``x01``.
    Returns:
        log-probabilities (nats), the broadcast shape.
    """
    x01 = tf.convert_to_tensor(x01)
    n = float(num_bins)
    x = x01 * (255.0 / 256.0) + 1.0 / 512.0
    x = tf.floor(x * n) / n
    scale = tf.exp(log_scale)
    cdf_plus = tf.where(x < (n - 1.0) / n, tf.sigmoid((x + 1.0 / n - loc) / scale), 1.0)
    cdf_minus = tf.where(x >= 1.0 / n, tf.sigmoid((x - loc) / scale), 0.0)
    return tf.math.log(cdf_plus - cdf_minus + eps)


class DiscretizedLogistic(tfd.Distribution):
    """A logistic per sub-pixel, discretized to 256 bins of [0, 1] (the original's ``discr_log``).

    Args:
        loc: ``(B, H, W, C)`` logistic locations in [0, 1] units (the head adds 0.5 to its raw output).
        log_scale: ``(B, H, W, C)`` log-scales (the head adds -1 and clamps at -7).
        num_bins: 256.

    Batch shape ``(B,)``, event shape ``(H, W, C)``; ``log_prob`` in nats per image; ``mean()`` is ``loc``
    (the original's "mean" and "mode": the continuous logistic's, not the discretized one's); ``sample()``
    a logistic draw (uniform in [1e-7, 1 - 1e-7]) clamped to [0, 1], not quantised.
    """

    def __init__(self, loc, log_scale, num_bins: int = 256, validate_args: bool = False,
                 allow_nan_stats: bool = True, name: str = "DiscretizedLogistic"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._loc = tf.convert_to_tensor(loc, dtype_hint=tf.float32, name="loc")
            self._log_scale = tf.convert_to_tensor(log_scale, dtype=self._loc.dtype, name="log_scale")
            self._num_bins = int(num_bins)
            super().__init__(dtype=self._loc.dtype, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                             validate_args=validate_args, allow_nan_stats=allow_nan_stats, parameters=parameters,
                             name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(loc=tfp.util.ParameterProperties(event_ndims=3),
                    log_scale=tfp.util.ParameterProperties(event_ndims=3))

    @property
    def loc(self):
        return self._loc

    @property
    def log_scale(self):
        return self._log_scale

    def _event_shape(self):
        return self._loc.shape[-3:]

    def _event_shape_tensor(self):
        return tf.shape(self._loc)[-3:]

    def _batch_shape(self):
        return self._loc.shape[:-3]

    def _batch_shape_tensor(self):
        return tf.shape(self._loc)[:-3]

    def _log_prob(self, x):
        lp = discretized_logistic_log_prob_per_subpixel(x, self._loc, self._log_scale, self._num_bins)
        return tf.reduce_sum(lp, axis=[-3, -2, -1])

    def _mean(self):
        return self._loc

    def _mode(self):
        return self._loc

    def _sample_n(self, n, seed=None):
        shape = tf.concat([[n], tf.shape(self._loc)], axis=0)
        u = tf.random.stateless_uniform(shape, tfp.random.sanitize_seed(seed), 1e-7, 1.0 - 1e-7, self._loc.dtype)
        s = self._loc + tf.exp(self._log_scale) * (tf.math.log(u) - tf.math.log(1.0 - u))
        return tf.clip_by_value(s, 0.0, 1.0)


__all__ = ["DiscretizedLogistic", "DiscretizedLogisticMixture", "discretized_logistic_log_prob_per_subpixel",
           "mixture_log_prob_per_pixel", "sample_mixture", "unpack_mixture_params"]
