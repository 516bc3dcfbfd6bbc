"""The small two-level convolutional Ladder VAE of ahmeterdem1/lvae ("Ladder Variational Autoencoder",
PyTorch, one file ``laddervae.py`` + ``train.ipynb``), spec ``vae_collection_and_simple_lvae.md`` part B.

A Keras port for 28x28x1 images (MNIST), NHWC, stateless (spec B.8): :meth:`LVAE2.bottom_up` returns every
statistic of the bottom-up pass, :meth:`LVAE2.top_down` takes the top code and, optionally, those
statistics; nothing is stored between calls, so the original's ``flush()`` has no counterpart. The
project's public API (:class:`hvae.models.base.HVAEModel`): ``LVAE2(LVAE2Config(...))``, ``encode(images)`` -> the
posteriors ``[q(z_ladder | x, z_top), q(z_top | x)]``, ``decode([z_ladder, z_top])`` -> the likelihood
p(x | z_ladder), ``sample(n)``, ``reconstruct(images)``, ``loss_terms(images, iteration=t)``, ``build_all()``,
``get_config()`` (= ``config.to_dict()`` and the name); presets :data:`PRESETS`, typed configs
(``hvae.models.from_preset("LVAE2_mnist", merge="legacy")``, ``PRESETS["LVAE2_mnist"].replace(recon="nll")``).

Layers (spec B.3; PyTorch -> Keras padding mapping of B.8), with output shapes and trainable parameters:

| part    | layer                                                      | output    | params |
|---------|------------------------------------------------------------|-----------|--------|
| encoder | Conv 1->32 3x3 s1 'same', leaky ReLU 0.2                   | 28x28x32  |    320 |
|         | ladder: Conv 32->64 3x3 s2 'valid', leaky ReLU -> ``a``      | 13x13x64  | 18,496 |
|         | ladder heads mu_e, logvar_e: Conv 1x1 64->64 on ``a``         | 13x13x64  |  8,320 |
|         | Conv 64->64 3x3 s2 'same' (on ``a``), leaky ReLU             | 7x7x64    | 36,928 |
|         | Conv 64->64 3x3 s1 'same', leaky ReLU                        | 7x7x64    | 36,928 |
|         | flatten in PyTorch's (C, H, W) order                          | 3136      |      0 |
|         | top: Dense 3136->2, leaky ReLU -> ``t``                       | 2         |  6,274 |
|         | top heads mu_z, logvar_z: Dense 2->2 on ``t``                 | 2         |     12 |
| decoder | Dense 2->3136 (no activation), reshape to (C, H, W) = (64, 7, 7) | 7x7x64 |  9,408 |
|         | ConvT 64->64 3x3 s1 'same', leaky ReLU                       | 7x7x64    | 36,928 |
|         | ladder: ConvT 64->64 3x3 s2 'valid' (15x15), crop 1 -> ``b``, leaky ReLU | 13x13x64 | 36,928 |
|         | ladder heads mu_d, logvar_d: Conv 1x1 64->64 on ``b``         | 13x13x64  |  8,320 |
|         | ConvT 64->32 3x3 s2 'valid', leaky ReLU (on z_ladder)        | 27x27x32  | 18,464 |
|         | Conv 32->32 3x3 s1 'same', leaky ReLU                        | 27x27x32  |  9,248 |
|         | ConvT 32->16 2x2 s1 'valid', leaky ReLU                      | 28x28x16  |  2,064 |
|         | Conv 16->1 3x3 s1 'same' -> logits (sigmoid = the original's output) | 28x28x1 | 145 |

228,783 trainable parameters: the original's 237,103 less its two unused 1x1 convolutions
``upper_mu_network`` / ``upper_logvar_network`` (2 x 4,160; spec B.9 item 6). Initialisation is
PyTorch's default: weights U(+-1/sqrt(fan_in)) (``VarianceScaling(1/3, 'fan_in', 'uniform')``), biases
U(+-1/sqrt(fan_in)), with fan_in = out_channels * k * k for transposed convolutions as in PyTorch.

The probabilistic model (what ``evaluate`` measures; z_top is the original's 2-d "core" latent, z_ladder
its 13x13x64 inner "ladder" latent):

    p(z_top) = N(0, I_2),   p(z_ladder | z_top) = N(mu_d, exp(logvar_d)),   p(x | z_ladder) = the likelihood
    q(z_top | x) = N(mu_z, exp(logvar_z)),   q(z_ladder | x, z_top) = the distribution the decoder samples:

- ``sampling='repo'`` (default, the original's): the decoder samples its own N(mu_d, exp(logvar_d)) in
  training and evaluation, so q(z_ladder | x, z_top) = p(z_ladder | z_top) and the ladder layer's
  log q - log p is exactly 0; the objective's ladder term is KL(N(mu_c, v_c) || N(mu_e, v_e)), the
  "common" distribution against the encoder's (spec B.4-B.5, B.9 item 4);
- ``sampling='paper'`` (Sonderby et al., NIPS 2016, eq. 17-21): the decoder samples the precision-weighted
  merge q = N(mu_c, v_c) of the bottom-up (mu_e, v_e) and top-down (mu_d, v_d) Gaussians, and the ladder
  term is KL(q || p(z_ladder | z_top)).

The merge (``merge='precision'``, default; in :mod:`hvae.models.lvae2_gaussians`) is Sonderby et al. eq. 18-19,
computed stably:
logvar_c = -logaddexp(-logvar_e, -logvar_d), mu_c = mu_e sigmoid(logvar_d - logvar_e) + mu_d
sigmoid(logvar_e - logvar_d) (= (mu_e / v_e + mu_d / v_d) v_c). ``merge='legacy'`` is the original's
formula: s = 1 / (v_e + v_d), mu_c = (mu_e / v_e + mu_d / v_d) s, logvar_c = log(s^2) (spec B.9 item 3).

Training objective (``loss_terms``; beta from :class:`BetaSchedule`; KL terms analytic, as the original):

- ``recon='l2norm'`` (default, the original's): ``||x_hat - x||_2`` over the whole batch tensor (the square
  root of the summed squared error) + beta (sum over the batch of KL_top + KL_ladder): the original's
  number, which depends on the batch size;
- ``recon='mse'``: per image, the summed squared error + beta (KL_top + KL_ladder), averaged over the batch
  (a Gaussian negative log-likelihood with variance 1/2, up to a constant);
- ``recon='nll'``: per image, -log p(x | z_ladder) under ``likelihood`` + beta (KL_top + KL_ladder), averaged
  over the batch: with ``sampling='paper'`` and beta = 1 the negative ELBO.

``likelihood`` is ``'bernoulli'`` (logits = the decoder's output before its sigmoid) or ``'gaussian'``
(N(sigmoid(logits), 0.1^2) per pixel); it is what ``importance_terms`` and ``elbo`` use in every mode.
Images enter in the dataset's ``value_range`` and are mapped to [0, 1].
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from hvae.configs.lvae2 import (  # noqa: F401  (the config, schedule and presets, re-exported)
    BETA_GROWTH,
    BETA_MAX,
    BETA_START,
    HEAD_BETA,
    IMAGE_SHAPE,
    LIKELIHOODS,
    MERGES,
    ORIGINAL,
    PRESETS,
    RECONS,
    SAMPLINGS,
    BetaSchedule,
    LVAE2Config,
)

from . import objectives
from .base import HVAEModel, config_property, register
from .latent import per_sample, tile_batch
from .lvae2_gaussians import (  # noqa: F401  (the Gaussian algebra and the passes' records, re-exported)
    Decoding,
    Encoding,
    Forward,
    gaussian,
    gaussian_kl,
    legacy_merge,
    logaddexp,
    precision_weighted_merge,
)
from .vae_collection import LeakyReLU

tfd = tfp.distributions

LADDER_SHAPE = (13, 13, 64)
TOP_DIM = 2
LEAKY_SLOPE = 0.2             # nn.LeakyReLU(0.2), one module shared by every layer
GAUSSIAN_SCALE = 0.1          # likelihood='gaussian': N(sigmoid(logits), 0.1^2), as the VAE collection


# --------------------------------------------------------------------------------------------------
# PyTorch's default initialisation
# --------------------------------------------------------------------------------------------------
def torch_kernel_init():
    """PyTorch's default weight init, Kaiming-uniform with a = sqrt(5): U(+-1/sqrt(fan_in)).

    Keras' fan_in of a ``Conv2DTranspose`` kernel ``(k, k, out, in)`` is ``k k out``, the same as
    PyTorch's for ``ConvTranspose2d`` (weight dim 1), so one initialiser serves every layer."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def torch_bias_init(fan_in: int):
    """PyTorch's default bias init: U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def _conv(filters, kernel, stride, padding, in_channels, name):
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding, kernel_initializer=torch_kernel_init(),
                         bias_initializer=torch_bias_init(in_channels * kernel * kernel), name=name)


def _conv_t(filters, kernel, stride, padding, name):
    return layers.Conv2DTranspose(filters, kernel, strides=stride, padding=padding,
                                  kernel_initializer=torch_kernel_init(),
                                  bias_initializer=torch_bias_init(filters * kernel * kernel), name=name)


def _dense(units, in_units, name):
    return layers.Dense(units, kernel_initializer=torch_kernel_init(), bias_initializer=torch_bias_init(in_units),
                        name=name)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
@register(LVAE2Config)
class LVAE2(HVAEModel):
    """The two-level convolutional Ladder VAE of ahmeterdem1/lvae (see the module docstring).

    Args:
        config: an :class:`LVAE2Config` (None: its defaults, the original's); ``image_shape`` must be
            ``(28, 28, 1)``, images in ``value_range`` are mapped to [0, 1].
        **kwargs: Keras' (``name``, default ``'LVAE2'``).

    Attributes (from the config): ``beta`` (:class:`BetaSchedule`), ``image_shape``, ``value_range``,
    ``data_density`` (``config.likelihood``).

    Raises:
        TypeError: ``config`` is not an :class:`LVAE2Config` (invalid settings raise ValueError when the config
            is made).
    """

    has_posterior = True

    def __init__(self, config: LVAE2Config | None = None, **kwargs):
        kwargs.setdefault("name", "LVAE2")
        super().__init__(config, **kwargs)
        config = self.config
        self.beta = config.beta_schedule()
        self._merge_fn = precision_weighted_merge if config.merge == "precision" else legacy_merge
        self.lrelu = LeakyReLU(LEAKY_SLOPE)
        # encoder
        self.enc_conv1 = _conv(32, 3, 1, "same", 1, "enc_conv1")
        self.enc_ladder = _conv(64, 3, 2, "valid", 32, "enc_ladder")
        self.enc_ladder_mean = _conv(64, 1, 1, "valid", 64, "enc_ladder_mean")
        self.enc_ladder_logvar = _conv(64, 1, 1, "valid", 64, "enc_ladder_logvar")
        self.enc_conv2 = _conv(64, 3, 2, "same", 64, "enc_conv2")
        self.enc_conv3 = _conv(64, 3, 1, "same", 64, "enc_conv3")
        self.enc_top = _dense(TOP_DIM, 3136, "enc_top")
        self.top_mean = _dense(TOP_DIM, TOP_DIM, "top_mean")
        self.top_logvar = _dense(TOP_DIM, TOP_DIM, "top_logvar")
        # decoder
        self.dec_dense = _dense(3136, TOP_DIM, "dec_dense")
        self.dec_deconv1 = _conv_t(64, 3, 1, "same", "dec_deconv1")
        self.dec_ladder = _conv_t(64, 3, 2, "valid", "dec_ladder")
        self.dec_crop = layers.Cropping2D(1, name="dec_crop")   # PyTorch ConvTranspose2d padding=1
        self.dec_ladder_mean = _conv(64, 1, 1, "valid", 64, "dec_ladder_mean")
        self.dec_ladder_logvar = _conv(64, 1, 1, "valid", 64, "dec_ladder_logvar")
        self.dec_deconv2 = _conv_t(32, 3, 2, "valid", "dec_deconv2")
        self.dec_conv = _conv(32, 3, 1, "same", 32, "dec_conv")
        self.dec_deconv3 = _conv_t(16, 2, 1, "valid", "dec_deconv3")
        self.dec_out = _conv(1, 3, 1, "same", 16, "dec_out")

    # ---- configuration -----------------------------------------------------------------------------
    image_shape = config_property("image_shape", "``(28, 28, 1)`` (``config.image_shape``).")
    value_range = config_property("value_range", "``(lo, hi)`` of the images given to the model "
                                                  "(``config.value_range``).")

    def example_inputs(self, n: int = 2):
        """``(n, 28, 28, 1)`` images at the bottom of ``value_range``, no labels."""
        return tf.fill((n,) + self.image_shape, float(self.value_range[0])), None

    def build_all(self):
        """Create every weight by running both passes once (needed before a checkpoint restore). Returns self."""
        images, _ = self.example_inputs(2)
        enc = self.bottom_up(images)
        self.top_down(enc.top_mean, enc, ladder="mean")
        self.built = True
        return self

    # ---- the two passes ------------------------------------------------------------------------------
    def bottom_up(self, images) -> Encoding:
        """The deterministic bottom-up pass (README: "a fully deterministic pass through the encoder").

        The ladder layer passes its activation ``a`` on in training and inference alike (the original
        passed a sample of N(mu_e, v_e) in eval mode: spec B.9 item 5).

        Args:
            images: ``(B, 28, 28, 1)`` in ``value_range``.
        Returns:
            :class:`Encoding` (q(z_top | x) is ``.top_posterior``).
        """
        x = self.to_unit(images)
        h = self.lrelu(self.enc_conv1(x))
        a = self.lrelu(self.enc_ladder(h))
        mean_e, logvar_e = self.enc_ladder_mean(a), self.enc_ladder_logvar(a)
        h = self.lrelu(self.enc_conv3(self.lrelu(self.enc_conv2(a))))
        h = tf.reshape(tf.transpose(h, (0, 3, 1, 2)), (-1, 3136))   # nn.Flatten of (C, H, W)
        t = self.lrelu(self.enc_top(h))                               # LeakyReLU on the 2-unit bottleneck (B.9 #7)
        return Encoding(a, mean_e, logvar_e, self.top_mean(t), self.top_logvar(t))

    def ladder_prior(self, z_top):
        """The top-down half: ``z_top (B, 2)`` -> ``(mu_d, logvar_d)`` of p(z_ladder | z_top), ``(B, 13, 13, 64)``."""
        h = tf.reshape(self.dec_dense(z_top), (-1, 64, 7, 7))          # Reshape(-1, 64, 7, 7)
        h = self.lrelu(self.dec_deconv1(tf.transpose(h, (0, 2, 3, 1))))
        b = self.lrelu(self.dec_crop(self.dec_ladder(h)))
        return self.dec_ladder_mean(b), self.dec_ladder_logvar(b)

    def ladder_to_logits(self, z_ladder):
        """The bottom half of the decoder: ``z_ladder (B, 13, 13, 64)`` -> logits ``(B, 28, 28, 1)``."""
        h = self.lrelu(self.dec_deconv2(z_ladder))
        h = self.lrelu(self.dec_conv(h))
        h = self.lrelu(self.dec_deconv3(h))
        return self.dec_out(h)

    def top_down(self, z_top, encoding: Encoding | None = None, *, ladder="sample", noise=None) -> Decoding:
        """The top-down pass (spec B.8: z and the optional encoder statistics in, x_hat and (mu_c, logvar_c) out).

        Args:
            z_top: ``(B, 2)``.
            encoding: the :class:`Encoding` of the same images (tiled alike), or None (generation).
            ladder: ``'sample'``: z_ladder drawn from the mode's distribution (``sampling='repo'``: the
                decoder's own N(mu_d, v_d); ``'paper'``: the merged posterior when ``encoding`` is given,
                else N(mu_d, v_d)); ``'mean'``: that distribution's mean; or a tensor ``(B, 13, 13, 64)``
                used as z_ladder.
            noise: optional standard-normal ``(B, 13, 13, 64)`` for ``ladder='sample'`` (fixed figures).
        Returns:
            :class:`Decoding`; the likelihood is :meth:`likelihood` of its logits.
        """
        mean_d, logvar_d = self.ladder_prior(z_top)
        mean_c = logvar_c = None
        if encoding is not None:
            mean_c, logvar_c = self._merge_fn(encoding.ladder_mean, encoding.ladder_logvar, mean_d, logvar_d)
        if isinstance(ladder, str):
            if self.config.sampling == "paper" and mean_c is not None:
                mean, logvar = mean_c, logvar_c
            else:
                mean, logvar = mean_d, logvar_d
            if ladder == "mean":
                z_ladder = mean
            elif ladder == "sample":
                eps = tf.random.normal(tf.shape(mean)) if noise is None else tf.cast(noise, mean.dtype)
                z_ladder = mean + tf.exp(0.5 * logvar) * eps
            else:
                raise ValueError(f"ladder must be 'sample', 'mean' or a tensor, not {ladder!r}")
        else:
            z_ladder = tf.cast(ladder, tf.float32)
        return Decoding(self.ladder_to_logits(z_ladder), z_ladder, mean_d, logvar_d, mean_c, logvar_c)

    def forward(self, images, top_noise=None) -> Forward:
        """Encode, draw z_top = mu_z + exp(logvar_z / 2) eps from q(z_top | x), decode with the mode's ladder draw."""
        enc = self.bottom_up(images)
        eps = tf.random.normal(tf.shape(enc.top_mean)) if top_noise is None else top_noise
        z_top = enc.top_mean + tf.exp(0.5 * enc.top_logvar) * eps
        return Forward(enc, z_top, self.top_down(z_top, enc))

    # ---- distributions -------------------------------------------------------------------------------
    def prior(self) -> tfd.Distribution:
        """p(z_top) = N(0, I_2)."""
        return objectives.standard_normal(TOP_DIM)

    def likelihood(self, logits) -> tfd.Distribution:
        """p(x | z_ladder) from the decoder's logits, over x in [0, 1]: event shape ``(28, 28, 1)``."""
        if self.config.likelihood == "gaussian":
            return objectives.gaussian_likelihood(tf.sigmoid(logits), GAUSSIAN_SCALE)
        return objectives.bernoulli_likelihood(logits=logits)

    @property
    def data_density(self) -> str:
        """``'bernoulli'`` or ``'gaussian'`` (the ``likelihood`` option)."""
        return self.config.likelihood

    # ---- the objective -------------------------------------------------------------------------------
    def ladder_kl(self, fwd: Forward):
        """The objective's ladder term per image ``(B,)``, analytic, nats: ``repo`` KL(N(mu_c, v_c) ||
        N(mu_e, v_e)) (the original's ``kld_loss_multiple``); ``paper`` KL(N(mu_c, v_c) || N(mu_d, v_d))."""
        dec, enc = fwd.decoding, fwd.encoding
        if self.config.sampling == "repo":
            return gaussian_kl(dec.posterior_mean, dec.posterior_logvar, enc.ladder_mean, enc.ladder_logvar, 3)
        return gaussian_kl(dec.posterior_mean, dec.posterior_logvar, dec.prior_mean, dec.prior_logvar, 3)

    def objective(self, images, fwd: Forward, iteration=1) -> dict:
        """The training objective and its parts for one pass (see the module docstring).

        Returns:
            dict of float32 scalars: ``loss``; ``reconstruction`` (the objective's term: the batch's L2 norm,
            or the per-image mean of the summed squared error or of -log p(x|z)); ``kl_top``, ``kl_ladder``
            (nats per image, analytic); ``elbo`` (nats per image: -(-log p(x|z) + KL_top [+ KL(q||p) of
            the ladder layer in paper mode]), one sample); ``squared_error`` (per image, summed over pixels);
            ``beta``.
        """
        x = self.to_unit(images)
        dec = fwd.decoding
        kl_top = objectives.kl_to_standard_normal(fwd.encoding.top_posterior)    # kld_loss, per image
        kl_ladder = self.ladder_kl(fwd)
        nll = -self.likelihood(dec.logits).log_prob(x)
        diff = dec.mean_image - x
        sse = tf.reduce_sum(tf.reshape(tf.square(diff), (tf.shape(x)[0], -1)), axis=1)
        beta = self.beta(iteration)
        kl = kl_top + kl_ladder
        if self.config.recon == "l2norm":
            reconstruction = tf.sqrt(tf.reduce_sum(sse))                  # torch.norm(|x_hat - x|, p=2)
            loss = reconstruction + beta * tf.reduce_sum(kl)              # KL summed over the batch
        elif self.config.recon == "mse":
            reconstruction = tf.reduce_mean(sse)
            loss = tf.reduce_mean(sse + beta * kl)
        else:
            reconstruction = tf.reduce_mean(nll)
            loss = tf.reduce_mean(nll + beta * kl)
        elbo_kl = kl_top + (kl_ladder if self.config.sampling == "paper" else 0.0)
        return {"loss": loss, "reconstruction": reconstruction, "kl_top": tf.reduce_mean(kl_top),
                "kl_ladder": tf.reduce_mean(kl_ladder), "elbo": -tf.reduce_mean(nll + elbo_kl),
                "squared_error": tf.reduce_mean(sse), "beta": beta}

    def loss_terms(self, images, labels=None, iteration=None, training=True) -> dict:
        """The objective for one batch (one reparameterised sample of each latent) at 1-based training
        ``iteration`` (None: 1). ``labels`` are unused; ``training`` changes nothing (the model has no batch
        norm or dropout, and the bottom-up pass is the same in both modes). See :meth:`objective` for the
        keys; ``loss`` is the original's number with ``recon='l2norm'`` and nats per image (beta-weighted)
        with ``'nll'``."""
        return self.objective(images, self.forward(images), 1 if iteration is None else iteration)

    # ---- use: the public API -----------------------------------------------------------------------------
    def call(self, images, training=False):
        """:meth:`reconstruct`."""
        return self.reconstruct(images)

    def encode(self, images, labels=None, training=False, *, sample: bool = False) -> list:
        """The posteriors, bottom to top: ``[q(z_ladder | x, z_top), q(z_top | x)]``.

        q(z_ladder | x, z_top) is the distribution the decoder draws z_ladder from for that z_top: the merged
        posterior (``sampling='paper'``) or p(z_ladder | z_top) itself (``'repo'``); z_top is the mean of
        q(z_top | x) (``sample=True``: one draw of it, as in training).

        Args:
            images: ``(B, 28, 28, 1)`` in ``value_range``; ``labels`` unused; ``training`` changes nothing (no
                batch norm or dropout).
            sample: keyword-only; draw z_top instead of taking its mean.
        Returns:
            two ``tfd.Distribution``: event shapes ``(13, 13, 64)`` and ``(2,)``, batch shape ``(B,)``.
        """
        enc = self.bottom_up(images)
        z_top = enc.top_posterior.sample() if sample else enc.top_mean
        dec = self.top_down(z_top, enc, ladder="mean")
        ladder = dec.ladder_posterior if self.config.sampling == "paper" else dec.ladder_prior
        return [ladder, enc.top_posterior]

    def decode(self, codes, labels=None) -> tfd.Distribution:
        """The likelihood p(x | z_ladder) over images mapped to [0, 1], event shape ``(28, 28, 1)``.

        Args:
            codes: ``[z_ladder (B, 13, 13, 64), z_top (B, 2)]`` bottom to top (z_ladder alone decides x; None:
                the mean of p(z_ladder | z_top)), or a top code ``(B, 2)`` alone (z_ladder at that mean).
        """
        if isinstance(codes, (list, tuple)):
            z_ladder, z_top = codes
        else:
            z_ladder, z_top = None, codes
        if z_ladder is None:
            return self.likelihood(self.top_down(tf.convert_to_tensor(z_top, tf.float32), None, ladder="mean").logits)
        return self.likelihood(self.ladder_to_logits(tf.convert_to_tensor(z_ladder, tf.float32)))

    def reconstruct(self, images, labels=None, *, sample: bool = False, ladder=None):
        """The decoder's output image in ``value_range`` ``(B, 28, 28, 1)``: from z_top = mu_z and the mean of the
        ladder distribution (deterministic). Keyword-only extras: ``sample=True``: a draw of q(z_top | x) and of
        the mode's ladder distribution, as in training; ``ladder`` overrides the ladder choice: ``'mean'`` or
        ``'sample'``. ``labels`` unused.

        Raises:
            ValueError: another ``ladder``.
        """
        enc = self.bottom_up(images)
        z_top = enc.top_posterior.sample() if sample else enc.top_mean
        ladder = ladder or ("sample" if sample else "mean")
        return self.from_unit(self.top_down(z_top, enc, ladder=ladder).mean_image)

    def sample(self, n: int, labels=None, seed=None, *, scale: float = 1.0, ladder="sample"):
        """``n`` images from the prior: z_top ~ N(0, scale^2 I) (``seed``: the op seed of that draw; keyword-only
        ``scale=0.5``: the notebook's "shrinked" space), z_ladder ~ p(z_ladder | z_top) (keyword-only
        ``ladder='mean'``: its mean); the decoder's mean image in ``value_range`` ``(n, 28, 28, 1)``, as the
        notebook shows. ``labels`` unused.

        Raises:
            ValueError: another ``ladder``.
        """
        z_top = scale * tf.random.normal((int(n), TOP_DIM), seed=seed)
        return self.from_unit(self.top_down(z_top, None, ladder=ladder).mean_image)

    def decode_top(self, z_top, ladder="mean", noise=None):
        """Images ``(n, 28, 28, 1)`` in ``value_range`` for given top codes ``(n, 2)`` (figures)."""
        z_top = tf.convert_to_tensor(np.asarray(z_top, np.float32))
        return self.from_unit(self.top_down(z_top, None, ladder=ladder, noise=noise).mean_image)

    def layer_shapes(self, images) -> dict:
        """Output shape of every layer for ``images``, in the order of the module docstring's table."""
        x = self.to_unit(images)
        out = {}
        h = self.lrelu(self.enc_conv1(x)); out["enc_conv1"] = h.shape
        a = self.lrelu(self.enc_ladder(h)); out["enc_ladder"] = a.shape
        out["enc_ladder_mean"] = self.enc_ladder_mean(a).shape
        h = self.lrelu(self.enc_conv2(a)); out["enc_conv2"] = h.shape
        h = self.lrelu(self.enc_conv3(h)); out["enc_conv3"] = h.shape
        h = tf.reshape(tf.transpose(h, (0, 3, 1, 2)), (-1, 3136)); out["flatten"] = h.shape
        t = self.lrelu(self.enc_top(h)); out["enc_top"] = t.shape
        out["top_mean"] = self.top_mean(t).shape
        h = self.dec_dense(self.top_mean(t)); out["dec_dense"] = h.shape
        h = tf.transpose(tf.reshape(h, (-1, 64, 7, 7)), (0, 2, 3, 1)); out["reshape"] = h.shape
        h = self.lrelu(self.dec_deconv1(h)); out["dec_deconv1"] = h.shape
        h = self.dec_ladder(h); out["dec_ladder_uncropped"] = h.shape
        b = self.lrelu(self.dec_crop(h)); out["dec_ladder"] = b.shape
        out["dec_ladder_mean"] = self.dec_ladder_mean(b).shape
        h = self.lrelu(self.dec_deconv2(b)); out["dec_deconv2"] = h.shape
        h = self.lrelu(self.dec_conv(h)); out["dec_conv"] = h.shape
        h = self.lrelu(self.dec_deconv3(h)); out["dec_deconv3"] = h.shape
        out["dec_out"] = self.dec_out(h).shape
        return {k: tuple(v) for k, v in out.items()}

    # ---- likelihood (models.latent interface) --------------------------------------------------------------
    def importance_terms(self, images, num_samples: int, labels=None) -> dict:
        """Log importance weights of K joint draws from q(z_top | x) q(z_ladder | x, z_top) (see
        :mod:`hvae.models.latent` and the module docstring), Monte-Carlo log q - log p per layer.

        Layers bottom to top: 0 = z_ladder (10,816 units), 1 = z_top (2 units). With ``sampling='repo'``
        the ladder draw is the decoder's own p(z_ladder | z_top), so layer 0's log q - log p is 0 and the
        weights are log p(x | z_ladder) + log p(z_top) - log q(z_top | x); with ``'paper'`` it is the merged
        posterior. The bottom-up pass runs once per image and is tiled K times.

        Args:
            images: ``(B, 28, 28, 1)`` in ``value_range``; ``labels`` unused.
            num_samples: K.
        Returns:
            ``log_weights (B, K)``, ``log_likelihood (B, K)``, ``layer_kl (B, K, 2)``, nats per image.
        """
        k = int(num_samples)
        x = self.to_unit(images)
        enc = self.bottom_up(images).tiled(k)
        q_top = enc.top_posterior
        z_top = q_top.sample()
        dec = self.top_down(z_top, enc, ladder="sample")
        log_likelihood = self.likelihood(dec.logits).log_prob(tile_batch(x, k))
        kl_top = q_top.log_prob(z_top) - self.prior().log_prob(z_top)
        if self.config.sampling == "paper":
            kl_ladder = dec.ladder_posterior.log_prob(dec.z_ladder) - dec.ladder_prior.log_prob(dec.z_ladder)
        else:
            kl_ladder = tf.zeros_like(kl_top)
        layer_kl = per_sample(tf.stack([kl_ladder, kl_top], axis=-1), k)
        log_likelihood = per_sample(log_likelihood, k)
        return {"log_weights": log_likelihood - tf.reduce_sum(layer_kl, axis=-1), "log_likelihood": log_likelihood,
                "layer_kl": layer_kl}

    def posterior_means(self, images, labels=None) -> list:
        """``[E_q[z_ladder | x, z_top = mu_z] (B, 10816), E_q[z_top | x] (B, 2)]``, bottom to top."""
        enc = self.bottom_up(images)
        dec = self.top_down(enc.top_mean, enc, ladder="mean")
        return [tf.reshape(dec.z_ladder, (tf.shape(images)[0], -1)), enc.top_mean]
