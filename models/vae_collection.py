"""The VAE collection of ALPHAYA-Japan/vae ("Variational AutoEncoder Models", TF1): VAE, CVAE, InfoVAE
and MMD-VAE as Keras subclassed models (spec ``vae_collection_and_simple_lvae.md`` part A).

Each model is built from its typed config (:class:`VAEConfig`, :class:`CVAEConfig`, :class:`InfoVAEConfig`,
:class:`MMDVAEConfig`; frozen dataclasses, :class:`hvae.models.base.ModelConfig`), whose defaults are the
original's preset: 32x32x3 images, 200 latent dims (10 classes for CVAE). :data:`PRESETS` holds that preset
under each model's name and the same model on 28x28x1 grey digits as ``<name>_mnist``::

    vae = models.from_preset("VAE_mnist", latent_dim=10)            # built, any setting overridden
    info = InfoVAE(InfoVAEConfig(image_shape=(64, 64, 3), alpha=0.5)).build_all()

Every model takes any image shape ``(H, W, C)`` (H and W multiples of 4 for the convolutional pair) and
any latent size. Images enter in the config's ``value_range`` and are mapped to [0, 1] with
``(x - lo) / (hi - lo)``; the decoder gives logits, whose sigmoid is the mean image. Prior N(0, I), posterior
and likelihood are ``tfp.distributions``. Initialisers as the original's helpers (A.4): Glorot-uniform,
N(0, 0.02^2) or truncated N(0, 0.02^2) weights, every bias 0.05; leaky ReLU slope 0.2.

The configs' fields are the ``get_config`` keys the models wrote before the typed configs (a ``.keras`` file
of then holds ``image_shape, latent_dim, value_range, likelihood, legacy`` and, where they applied,
``num_classes`` and the resolved ``alpha, lambda_, mmd_bandwidth``), so those files load unchanged: an omitted
InfoVAE / MMD-VAE weight is None, "the default", exactly what the omission meant.

Layers (A.5), and trainable parameters at 32x32x3, latent 200 (10 classes for CVAE):

| model   | encoder                                              | decoder                                   | params     |
|---------|------------------------------------------------------|-------------------------------------------|------------|
| VAE     | flatten, Dense 392 tanh, Dense 196, mean / log-var   | Dense 196 ReLU, Dense HWC (logits)        | 2,005,024  |
|  legacy | same                                                 | Dense HWC (logits)                        | 1,977,916  |
| CVAE    | label planes concatenated to the channels, as VAE    | [z, y] -> as VAE                          | 6,021,064  |
|  legacy | same                                                 | [z, y] -> Dense HWC                       | 6,022,716  |
| InfoVAE | conv 64 4x4/2 lrelu, conv 128 4x4/2 lrelu, Dense 512 lrelu, mean / max(sigmoid, 0.001) std | Dense 1024 ReLU, Dense (H/4)(W/4)128 ReLU, deconv 64 4x4/2 ReLU, deconv C 4x4/2 | 13,271,187 |
| MMDVAE  | as InfoVAE up to Dense 512 lrelu, then Dense D = z (deterministic) | as InfoVAE                  | 13,168,587 |

Objectives (batch means, nats per image unless stated; ``x`` in [0, 1], R = -log p(x|z) summed over
pixels, Bernoulli on the logits or, with ``likelihood='gaussian'``, Normal(sigmoid(logits), 0.1)):

- VAE, CVAE: ``R + KL(q(z|x) || N(0,I))`` (the negative ELBO; analytic KL).
- InfoVAE: ``R + (1 - alpha) KL + (alpha + lambda - 1) MMD(z, N(0,I) draws)``, alpha 0, lambda 1000.
- MMDVAE: ``R + lambda MMD(z, N(0,I) draws)``, lambda 1000.
- MMD: biased V-statistic with kernel ``exp(-|a - b|^2 / bandwidth)``, bandwidth = latent size by default (the
  WAE heuristic; the original and Zhao et al.'s code use D^2, see ``objectives.gaussian_kernel``).
  lambda = 1000 because the MMD term is at most about 2 while R is hundreds of nats: a weight near 1
  would leave the aggregate posterior unconstrained.
- ``legacy=True`` reproduces the original (A.7): VAE/CVAE summed cross-entropy on the sigmoid output with
  +1e-10 inside the logs plus ``-1/2 sum(1 + l - m^2 - exp(l/2))``, and the decoder without its hidden
  layer; InfoVAE ``mean_(B,H,W,C) (x_hat - x)^2 + 0.001 mean_(B,D) KL_d`` (no MMD); MMDVAE
  ``mean_(B,H,W,C) (x_hat - x)^2 + MMD`` with bandwidth D^2.

``loss_terms`` returns ``loss`` and its parts (``reconstruction``, ``kl``, ``mmd``, ``legacy_kl`` where they
apply); models with a posterior also return ``elbo`` = -(Bernoulli/Gaussian R + true KL), which in
legacy mode is computed beside the legacy objective rather than from it.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from hvae.configs.collection import (  # noqa: F401  (the configs and presets, re-exported)
    LIKELIHOODS,
    MNIST_SHAPE,
    OBJECTIVE_SETTINGS,
    ORIGINAL_SHAPE,
    PRESETS,
    CollectionConfig,
    CVAEConfig,
    InfoVAEConfig,
    MMDVAEConfig,
    VAEConfig,
)

from . import objectives
from .base import HVAEModel, config_property, model_class, register, zeros_like_input
from .latent import per_sample, tile_batch

LEAKY_SLOPE = 0.2           # TF1 tf.nn.leaky_relu default (Keras' default is 0.3)
BIAS_INIT = 0.05            # the original's get_biases default, for every bias
MLP_HIDDEN = (392, 196)     # (28*28)/2 and its half, whatever the image size (A.11-21)
CONV_FILTERS = (64, 128)
CONV_DENSE = 512
DECODER_DENSE = 1024
MIN_STD = 0.001             # InfoVAE std = max(sigmoid(.), 0.001)
GAUSSIAN_SCALE = 0.1        # --likelihood gaussian: Normal(sigmoid(logits), 0.1)
DEFAULT_LAMBDA = 1000.0
DEFAULT_ALPHA = 0.0
LEGACY_EPS = 1e-10
LEGACY_INFO_KL_WEIGHT = 0.001


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------
def _f32(x):
    """float32 whatever the layers compute in (mixed precision): distributions and the loss stay float32."""
    return tf.cast(x, tf.float32)


def glorot():
    return keras.initializers.GlorotUniform()


def normal():
    return keras.initializers.RandomNormal(stddev=0.02)


def truncated():
    return keras.initializers.TruncatedNormal(stddev=0.02)


def _dense(units, act=None, init=glorot, name=None):
    return layers.Dense(units, activation=act, kernel_initializer=init(),
                        bias_initializer=keras.initializers.Constant(BIAS_INIT), name=name)


def _conv(filters, name):
    return layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=truncated(),
                         bias_initializer=keras.initializers.Constant(BIAS_INIT), name=name)


def _deconv(filters, act, name):
    return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation=act,
                                  kernel_initializer=truncated(),
                                  bias_initializer=keras.initializers.Constant(BIAS_INIT), name=name)


class LeakyReLU(layers.Layer):
    """``max(x, slope x)``, TF1's ``tf.nn.leaky_relu`` for 0 < slope < 1 (same values and gradients).

    Written with ``tf.maximum`` rather than the ``LeakyRelu`` op: Grappler's remapper tries to fuse that
    op with the preceding Conv2D + BiasAdd and fails on the gradient graph, logging a "remapper failed"
    error line at every trace (TF 2.21).
    """

    def __init__(self, negative_slope: float = LEAKY_SLOPE, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope)

    def call(self, x):
        return tf.maximum(x, self.negative_slope * x)


class Latent(NamedTuple):
    """What an encoder gives: the code ``z (B, D)``, the posterior q(z|x) (None for MMD-VAE), and the
    posterior's parameters ``mean`` and ``spread`` (log-variance for VAE/CVAE, std for InfoVAE)."""

    z: tf.Tensor
    posterior: object
    mean: tf.Tensor | None
    spread: tf.Tensor | None


class CollectionModel(HVAEModel):
    """Shared part of the four models: value-range mapping, likelihood, sampling and the step's terms.

    ``Model(config=None, **keras_kwargs)``: ``config`` the model's own config class (:data:`MODELS` ->
    ``config_class``; None: its defaults, the original's preset); Keras' ``name`` defaults to the class name.
    The settings are read from ``self.config`` (and, for convenience, the properties below).

    Raises:
        TypeError: a config of another model (e.g. a :class:`CVAEConfig` given to :class:`VAE`).
    """

    has_posterior = True
    conditional = False
    learning_rate = 1e-4

    def __init__(self, config: CollectionConfig | None = None, **kwargs):
        kwargs.setdefault("name", type(self).__name__)
        super().__init__(config, **kwargs)
        owner = model_class(self.config)
        if not issubclass(type(self), owner):
            raise TypeError(f"{type(self).__name__} takes a {type(self).config_class.__name__}, not "
                            f"{type(self.config).__name__} ({owner.__name__}'s)")

    # ---- the settings ------------------------------------------------------------------------------
    image_shape = config_property("image_shape", "``(H, W, C)`` of the images.")
    latent_dim = config_property("latent_dim", "D, the latent size.")
    value_range = config_property("value_range", "``(lo, hi)`` of the images given to the model.")

    @property
    def num_classes(self) -> int | None:
        """K, the number of classes (CVAE), else None."""
        return getattr(self.config, "num_classes", None)

    likelihood_kind = config_property("likelihood", "``'bernoulli'`` or ``'gaussian'`` (the ``likelihood`` setting).")
    legacy = config_property("legacy", "The original's objective (``legacy`` setting).")

    @property
    def alpha(self) -> float:
        """InfoVAE's alpha (KL weight 1 - alpha): the setting, else 0."""
        value = getattr(self.config, "alpha", None)
        return DEFAULT_ALPHA if value is None else value

    @property
    def lambda_(self) -> float:
        """InfoVAE's / MMD-VAE's lambda: the setting, else 1000."""
        value = getattr(self.config, "lambda_", None)
        return DEFAULT_LAMBDA if value is None else value

    @property
    def mmd_bandwidth(self) -> float:
        """The MMD kernel's bandwidth: the setting, else the latent size D."""
        value = getattr(self.config, "mmd_bandwidth", None)
        return float(self.latent_dim) if value is None else value

    @property
    def pixels(self) -> int:
        """H * W * C."""
        return int(np.prod(self.image_shape))

    def condition(self, labels):
        """One-hot labels ``(B, K)`` for a conditional model, else None (the labels are ignored).

        Raises:
            ValueError: a conditional model without labels.
        """
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(f"{type(self).__name__} needs labels")
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, dtype=tf.float32)

    # ---- the networks (subclasses) ----------------------------------------------------------------
    def infer(self, x, y=None) -> Latent:
        """``x (B, H, W, C)`` in [0, 1] (and one-hot ``y``) -> :class:`Latent` with one posterior sample."""
        raise NotImplementedError

    def decode_logits(self, z, y=None):
        """``z (B, D)`` (and one-hot ``y``) -> logits ``(B, H, W, C)``."""
        raise NotImplementedError

    # ---- distributions -------------------------------------------------------------------------------
    def prior(self):
        return objectives.standard_normal(self.latent_dim)

    def likelihood(self, logits):
        """p(x | z) from the decoder's logits: event shape ``(H, W, C)``."""
        if self.likelihood_kind == "gaussian":
            return objectives.gaussian_likelihood(tf.sigmoid(logits), GAUSSIAN_SCALE)
        return objectives.bernoulli_likelihood(logits=logits)

    def negative_log_likelihood(self, logits, x):
        """``-log p(x | z)`` per example ``(B,)``, summed over pixels, ``x`` in [0, 1]."""
        return -self.likelihood(logits).log_prob(x)

    def describe_objective(self) -> str:
        """The training objective in words, with the values its defaults resolved to (the command line's header:
        ``negative ELBO, Bernoulli likelihood``, ...)."""
        raise NotImplementedError

    def _likelihood_name(self) -> str:
        return "Bernoulli" if self.likelihood_kind == "bernoulli" else "Gaussian(sigma 0.1)"

    # ---- use ---------------------------------------------------------------------------------------------
    def call(self, images, labels=None, training=False):
        """Reconstruct ``images`` through one posterior sample (MMD-VAE: its deterministic code).
        Returns the mean image ``sigmoid(logits)`` in ``value_range``."""
        y = self.condition(labels)
        latent = self.infer(self.to_unit(images), y)
        return self.from_unit(tf.sigmoid(self.decode_logits(latent.z, y)))

    def encode(self, images, labels=None, training=False) -> list:
        """The posterior of the one latent layer, as a list: ``[q(z | x[, y])]``, a diagonal Gaussian with batch
        shape ``(B,)`` and event shape ``(D,)``; MMD-VAE: ``[tfd.Deterministic(z)]`` (its encoder has no noise).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``.
            labels: ``(B,)`` class indices (CVAE; ignored by the others).
            training: unused (no layer behaves differently in training).
        Raises:
            ValueError: CVAE without labels.
        """
        latent = self.infer(self.to_unit(images), self.condition(labels))
        if latent.posterior is None:
            return [objectives.tfd.Independent(objectives.tfd.Deterministic(latent.z), 1)]
        return [latent.posterior]

    def decode(self, codes, labels=None):
        """The likelihood p(x | z[, y]) over images mapped to [0, 1] (Bernoulli on the logits, or Normal(sigmoid,
        0.1)), batch shape ``(B,)``, event shape ``(H, W, C)``.

        Args:
            codes: ``(B, D)`` or a one-element list of it.
            labels: ``(B,)`` class indices (CVAE; ignored by the others).
        """
        z = codes[0] if isinstance(codes, (list, tuple)) else codes
        return self.likelihood(self.decode_logits(z, self.condition(labels)))

    def sample(self, n: int, labels=None, seed=None):
        """``n`` mean images ``(n, H, W, C)`` decoded from prior draws (``labels (n,)`` for CVAE), in
        ``value_range``."""
        z = self.prior().sample(n, seed=seed)
        return self.from_unit(tf.sigmoid(self.decode_logits(z, self.condition(labels))))

    def reconstruct(self, images, labels=None, *, sample: bool = False):
        """``images (B, H, W, C)`` -> the likelihood's mean at the posterior mean, ``(B, H, W, C)`` in
        ``value_range`` (MMD-VAE: at its deterministic code).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``.
            labels: ``(B,)`` class indices (CVAE; ignored by the others).
            sample: decode one posterior sample instead of the mean (the command line's grids, as the original).
        """
        y = self.condition(labels)
        latent = self.infer(self.to_unit(images), y)
        z = latent.z if (sample or latent.mean is None) else latent.mean
        return self.from_unit(tf.sigmoid(self.decode_logits(z, y)))

    def build_all(self):
        """Create every weight by running the model once (needed before a checkpoint restore)."""
        self.call(*self.example_inputs(2))
        self.built = True
        return self

    def example_inputs(self, n: int = 2):
        """``(n, H, W, C)`` images at the bottom of ``value_range``; CVAE: class-0 labels."""
        images = zeros_like_input(self.image_shape, self.value_range, n)
        return images, (tf.zeros((n,), tf.int64) if self.conditional else None)

    def loss_terms(self, images, labels=None, iteration=None, training=True):
        """The objective and its parts for one batch (see the module docstring).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``.
            labels: int class indices ``(B,)`` (used by CVAE only).
            iteration: unused (no schedule).
        Returns:
            dict of scalar tensors with ``loss``.
        """
        x = self.to_unit(images)
        y = self.condition(labels)
        latent = self.infer(x, y)
        logits = self.decode_logits(latent.z, y)
        return self.objective(x, latent, logits)

    def objective(self, x, latent: Latent, logits) -> dict:
        raise NotImplementedError

    def _elbo_terms(self, x, latent, logits):
        """True negative log-likelihood and KL (batch means, nats) and the ELBO."""
        nll = tf.reduce_mean(self.negative_log_likelihood(logits, x))
        kl = tf.reduce_mean(objectives.kl_to_standard_normal(latent.posterior))
        return nll, kl, -(nll + kl)

    def _mmd_to_prior(self, z, bandwidth):
        draws = self.prior().sample(tf.shape(z)[0])
        return objectives.mmd(z, draws, bandwidth)

    def _squared_error(self, x, logits):
        """Legacy reconstruction of the conv models: mean over (B, H, W, C) of (sigmoid(logits) - x)^2."""
        return tf.reduce_mean(tf.square(tf.sigmoid(logits) - x))

    # ---- likelihood (models.latent interface) ---------------------------------------------------------
    @property
    def data_density(self) -> str:
        """``'bernoulli'`` or ``'gaussian'`` (the ``likelihood`` option)."""
        return self.likelihood_kind

    def importance_terms(self, images, num_samples: int, labels=None) -> dict:
        """Log importance weights of K posterior draws (see :mod:`hvae.models.latent`): one latent layer,
        q(z | x[, y]) the encoder's diagonal Gaussian, p(z) = N(0, I), p(x | z[, y]) the likelihood of the
        images mapped to [0, 1]. CVAE: a bound on log p(x | y).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; ``labels`` ``(B,)`` class indices (CVAE).
            num_samples: K.
        Returns:
            ``log_weights (B, K)``, ``log_likelihood (B, K)``, ``layer_kl (B, K, 1)``, nats per image.
        Raises:
            NotImplementedError: MMD-VAE (a deterministic encoder has no posterior).
        """
        if not self.has_posterior:
            raise NotImplementedError(f"{type(self).__name__} has a deterministic encoder: no posterior q(z|x)")
        k = int(num_samples)
        x = self.to_unit(images)
        y = self.condition(labels)
        posterior = self.infer(x, y).posterior
        z = posterior.sample(k)  # (K, B, D)
        logits = self.decode_logits(tf.reshape(z, (-1, self.latent_dim)), None if y is None else tile_batch(y, k))
        log_likelihood = per_sample(self.likelihood(logits).log_prob(tile_batch(x, k)), k)
        kl = posterior.log_prob(z) - self.prior().log_prob(z)  # (K, B)
        layer_kl = tf.transpose(kl)[..., None]
        return {"log_weights": log_likelihood - layer_kl[..., 0], "log_likelihood": log_likelihood,
                "layer_kl": layer_kl}

    def posterior_means(self, images, labels=None) -> list:
        """``[E_q[z | x]]``: one ``(B, D)`` layer. Raises NotImplementedError for MMD-VAE."""
        if not self.has_posterior:
            raise NotImplementedError(f"{type(self).__name__} has a deterministic encoder: no posterior q(z|x)")
        return [self.infer(self.to_unit(images), self.condition(labels)).posterior.mean()]


# --------------------------------------------------------------------------------------------------
# VAE and CVAE: the MLP pair
# --------------------------------------------------------------------------------------------------
@register(VAEConfig)
class VAE(CollectionModel):
    """Vanilla VAE (original ``src/VAE.py``): MLP encoder with a log-variance head, MLP decoder.

    ``VAE(VAEConfig(...))``. ``legacy=True`` wires the decoder as the original (z -> Dense HWC; its Dense 196
    ReLU is not created); otherwise z -> Dense 196 ReLU -> Dense HWC, the evident intent.
    """

    learning_rate = 1e-4

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.encoder_hidden1 = _dense(MLP_HIDDEN[0], "tanh", name="encoder_hidden1")
        self.encoder_hidden2 = _dense(MLP_HIDDEN[1], None, name="encoder_hidden2")
        self.mean_head = _dense(self.latent_dim, name="mean")
        self.log_var_head = _dense(self.latent_dim, name="log_variance")
        self.decoder_hidden = None if self.legacy else _dense(MLP_HIDDEN[1], "relu", name="decoder_hidden")
        self.decoder_out = _dense(self.pixels, name="decoder_out")

    def encoder_input(self, x, y):
        return tf.reshape(x, (tf.shape(x)[0], self.pixels))

    def infer(self, x, y=None) -> Latent:
        h = self.encoder_hidden2(self.encoder_hidden1(self.encoder_input(x, y)))
        mean, log_var = _f32(self.mean_head(h)), _f32(self.log_var_head(h))
        posterior = objectives.diagonal_normal(mean, tf.exp(0.5 * log_var))
        return Latent(posterior.sample(), posterior, mean, log_var)

    def decode_logits(self, z, y=None):
        h = z if y is None else tf.concat([z, y], axis=-1)
        if self.decoder_hidden is not None:
            h = self.decoder_hidden(h)
        return tf.reshape(_f32(self.decoder_out(h)), (-1,) + self.image_shape)

    def objective(self, x, latent, logits):
        nll, kl, elbo = self._elbo_terms(x, latent, logits)
        if not self.legacy:
            return {"loss": nll + kl, "reconstruction": nll, "kl": kl, "elbo": elbo}
        reconstruction = tf.reduce_mean(objectives.bernoulli_cross_entropy_eps(tf.sigmoid(logits), x, LEGACY_EPS))
        legacy_kl = tf.reduce_mean(objectives.legacy_vae_kl(latent.mean, latent.spread))
        return {"loss": reconstruction + legacy_kl, "reconstruction": reconstruction, "legacy_kl": legacy_kl,
                "kl": kl, "elbo": elbo}

    def describe_objective(self) -> str:
        if self.legacy:
            return "the original's summed cross-entropy + its exp(l/2) 'KL' (--legacy)"
        return f"negative ELBO, {self._likelihood_name()} likelihood"


@register(CVAEConfig)
class CVAE(VAE):
    """Conditional VAE (original ``src/CVAE.py``): the VAE with the one-hot label y tiled as K constant
    HxW planes concatenated to the image channels, and concatenated to z for the decoder. Prior N(0, I).
    ``CVAE(CVAEConfig(num_classes=K, ...))``; every method takes labels ``(B,)`` and raises ValueError without.
    """

    conditional = True

    def encoder_input(self, x, y):
        h, w, _ = self.image_shape
        planes = tf.reshape(y, (-1, 1, 1, self.num_classes)) * tf.ones((1, h, w, self.num_classes))
        xy = tf.concat([x, planes], axis=-1)
        return tf.reshape(xy, (tf.shape(x)[0], h * w * (self.image_shape[2] + self.num_classes)))


# --------------------------------------------------------------------------------------------------
# InfoVAE and MMD-VAE: the DCGAN-style pair
# --------------------------------------------------------------------------------------------------
class _ConvModel(CollectionModel):
    """Conv encoder up to Dense 512 + leaky ReLU, and the deconv decoder, shared by InfoVAE and MMD-VAE
    (image sides divisible by 4: :class:`_ConvConfig` checks it)."""

    learning_rate = 1e-3

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        h, w, c = self.image_shape
        self.conv1 = _conv(CONV_FILTERS[0], "encoder_conv1")
        self.conv2 = _conv(CONV_FILTERS[1], "encoder_conv2")
        self.encoder_dense = _dense(CONV_DENSE, None, normal, name="encoder_dense")
        self.lrelu = LeakyReLU(LEAKY_SLOPE)
        self.decoder_dense1 = _dense(DECODER_DENSE, "relu", normal, name="decoder_dense1")
        self.decoder_dense2 = _dense((h // 4) * (w // 4) * CONV_FILTERS[1], "relu", normal, name="decoder_dense2")
        self.deconv1 = _deconv(CONV_FILTERS[0], "relu", "decoder_deconv1")
        self.deconv2 = _deconv(c, None, "decoder_deconv2")

    def features(self, x):
        h = self.lrelu(self.conv2(self.lrelu(self.conv1(x))))
        h = tf.reshape(h, (tf.shape(x)[0], int(np.prod(h.shape[1:]))))
        return self.lrelu(self.encoder_dense(h))

    def decode_logits(self, z, y=None):
        h, w, _ = self.image_shape
        g = self.decoder_dense2(self.decoder_dense1(z))
        g = tf.reshape(g, (-1, h // 4, w // 4, CONV_FILTERS[1]))
        return _f32(self.deconv2(self.deconv1(g)))


@register(InfoVAEConfig)
class InfoVAE(_ConvModel):
    """InfoVAE (original ``src/infoVAE.py``, objective of Zhao et al. 2017 as the README states it).

    ``InfoVAE(InfoVAEConfig(...))``. Posterior N(mean, std^2) with ``std = max(sigmoid(Dense), 0.001)``.
    Objective ``R + (1 - alpha) KL + (alpha + lambda - 1) MMD``; ``legacy=True``: the original's
    ``mean (x_hat - x)^2 + 0.001 mean_(B,D) KL_d`` (no MMD). Multiplied by H*W*C this is the summed squared
    error + (0.001 H W C / D) x the summed KL: alpha = 1 - 0.001 H W C / D (about 0.985 at 32x32x3, D = 200) and
    lambda = 1 - alpha, with a squared error in place of the negative log-likelihood.
    """

    def __init__(self, config: InfoVAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.mean_head = _dense(self.latent_dim, name="mean")
        self.std_head = _dense(self.latent_dim, "sigmoid", name="std")

    def infer(self, x, y=None) -> Latent:
        f = self.features(x)
        mean, std = _f32(self.mean_head(f)), tf.maximum(_f32(self.std_head(f)), MIN_STD)
        posterior = objectives.diagonal_normal(mean, std)
        return Latent(posterior.sample(), posterior, mean, std)

    def objective(self, x, latent, logits):
        nll, kl, elbo = self._elbo_terms(x, latent, logits)
        if self.legacy:
            mean, std = latent.mean, latent.spread
            legacy_kl = tf.reduce_mean(-0.5 * (1.0 + 2.0 * tf.math.log(std) - tf.square(mean) - tf.square(std)))
            reconstruction = self._squared_error(x, logits)
            return {"loss": reconstruction + LEGACY_INFO_KL_WEIGHT * legacy_kl, "reconstruction": reconstruction,
                    "legacy_kl": legacy_kl, "kl": kl, "elbo": elbo}
        mmd = self._mmd_to_prior(latent.z, self.mmd_bandwidth)
        loss = nll + (1.0 - self.alpha) * kl + (self.alpha + self.lambda_ - 1.0) * mmd
        return {"loss": loss, "reconstruction": nll, "kl": kl, "mmd": mmd, "elbo": elbo}

    def describe_objective(self) -> str:
        if self.legacy:
            return "the original's mean squared error + 0.001 x mean KL (--legacy)"
        return (f"{self._likelihood_name()} NLL + {1 - self.alpha:g} KL + {self.alpha + self.lambda_ - 1:g} MMD "
                f"(alpha {self.alpha:g}, lambda {self.lambda_:g}, bandwidth {self.mmd_bandwidth:g})")


@register(MMDVAEConfig)
class MMDVAE(_ConvModel):
    """MMD-VAE (original ``src/MMDVAE.py``): a deterministic encoder ``z = Dense(D)`` (N(0, 0.02^2)) and
    the objective ``R + lambda MMD(z, N(0, I))``; ``legacy=True``: ``mean (x_hat - x)^2 + MMD`` with
    bandwidth D^2. No posterior, hence no ELBO. ``MMDVAE(MMDVAEConfig(...))``."""

    has_posterior = False

    def __init__(self, config: MMDVAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.code = _dense(self.latent_dim, None, normal, name="code")

    def infer(self, x, y=None) -> Latent:
        return Latent(_f32(self.code(self.features(x))), None, None, None)

    def objective(self, x, latent, logits):
        if self.legacy:
            reconstruction = self._squared_error(x, logits)
            mmd = self._mmd_to_prior(latent.z, float(self.latent_dim) ** 2)
            return {"loss": reconstruction + mmd, "reconstruction": reconstruction, "mmd": mmd}
        reconstruction = tf.reduce_mean(self.negative_log_likelihood(logits, x))
        mmd = self._mmd_to_prior(latent.z, self.mmd_bandwidth)
        return {"loss": reconstruction + self.lambda_ * mmd, "reconstruction": reconstruction, "mmd": mmd}

    def describe_objective(self) -> str:
        if self.legacy:
            return f"the original's mean squared error + MMD, bandwidth {self.latent_dim ** 2} (--legacy)"
        return f"{self._likelihood_name()} NLL + {self.lambda_:g} MMD (bandwidth {self.mmd_bandwidth:g})"


# The command line's model names -> classes (``MODELS[name].config_class`` is the config).
MODELS = {"VAE": VAE, "CVAE": CVAE, "InfoVAE": InfoVAE, "MMDVAE": MMDVAE}
