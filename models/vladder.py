"""The Variational Ladder Autoencoder (VLadder) of Zhao, Song & Ermon, "Learning Hierarchical Features
from Generative Models", ICML 2017 (arXiv 1702.08396); a port of ``vladder.py``,
``vladder_{small,medium,large}.py`` and ``abstract_network.py`` of ermongroup/Variational-Ladder-Autoencoder.

A ladder of latent layers z_0 (bottom) ... z_L (top). Inference is bottom-up: level k reads the
deterministic feature h_k (h_0 = x) and gives q(z_k | h_k) = N(mu_k, sigma_k^2) and h_{k+1}.
Generation is top-down: g_L = f_L(z_L), g_k = f_k(g_{k+1}, z_k), and x_hat = f_0(g_1, z_0). Every
layer's prior is N(0, I); posteriors, priors and the likelihood are ``tfp.distributions``.

One typed configuration, :class:`VLadderConfig`, holds the architecture and the objective. Four presets
(``PRESETS``, registered with :mod:`hvae.models.base`), layer for layer as the original:

| preset         | layers | latent dims | loss_ratio | image    | value range |
|----------------|--------|-------------|------------|----------|-------------|
| vladder_mnist  | Small  | 2/2/2       | 8.0        | 28x28x1  | [0, 1]      |
| vladder_svhn   | Medium | 5/5/5/10    | 8.0        | 32x32x3  | [0, 1]      |
| vladder_celebA | Large  | 10/10/10/10 | 0.5        | 64x64x3  | [-1, 1]     |
| vladder_lsun   | Large  | 20/20/20/40 | 0.5        | 64x64x3  | [-1, 1]     |

    model = VLadder.from_preset("vladder_mnist", reg="mmd")        # or models.from_preset(...)
    model = VLadder(PRESETS["vladder_svhn"].replace(denoise=True)).build_all()

Objective (``reg='kl'``): ``loss = beta_t * sum_k KL(q(z_k|x) || N(0,I)) + loss_ratio * sum_pixels |x - x_hat|``
(batch mean), with warm-up ``beta_t = 1 - exp(-t/2000)``. The reconstruction term is the negative
log-density of a factorised Laplace likelihood with scale ``1/loss_ratio`` minus its constant. With
``reg='mmd'``: ``loss = 100 * sum_k MMD(z_k, N(0,I)) + 100 * mean |x - x_hat|``, no warm-up.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from hvae.configs.vladder import (  # noqa: F401  (the config and presets, re-exported)
    FIGURE_KINDS,
    LAYER_SETS,
    PRESETS,
    VLadderConfig,
    builtin_config,
    config_for_run,
    config_for_shape,
)

from . import objectives
from .base import HVAEModel, config_property, register, zeros_like_input
from .latent import per_sample, terms_from_layers, tile_batch
from .layers import Sequence, conv_bn_lrelu, conv_t_bn_lrelu, dense, fc_bn, moving_statistics_only, tracked_list

SIGMA_OFFSET = 0.001  # sigma = head + 0.001, as the original


# --------------------------------------------------------------------------------------------------
# Pieces of a ladder
# --------------------------------------------------------------------------------------------------
class LadderHead(layers.Layer):
    """q(z_k | h_k): a feature extractor, then a linear mean head and a sigmoid scale head.

    ``(B, ...) -> (mean (B, d), scale (B, d))`` with ``scale = head + 0.001``. ``head_activation``
    overrides both heads' activations: the original Large ``ladder3`` leaves them to the contrib
    default, ReLU.
    """

    def __init__(self, body, dim: int, head_activation: str | None = "default", **kwargs):
        super().__init__(**kwargs)
        self.body = Sequence(list(body) + [layers.Flatten()])
        if head_activation == "default":
            self.mean = dense(dim)
            self.scale = dense(dim, "sigmoid")
        else:
            self.mean = dense(dim, head_activation)
            self.scale = dense(dim, head_activation)

    def call(self, h, training=False):
        f = self.body(h, training=training)
        # float32 whatever the layers compute in (mixed precision): the posterior and the loss stay float32
        return tf.cast(self.mean(f), tf.float32), tf.cast(self.scale(f), tf.float32) + SIGMA_OFFSET


class GatedAdd(layers.Layer):
    """Small layers' ``combine_noise(..., 'gated_add')``: ``g + gate * e`` with a learned gate (1024,) set to 0.1."""

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(0.1), name="gate")

    def call(self, g, e):
        return g + self.gate * e


class Reshape(layers.Layer):
    """``(B, H*W*C) -> (B, H, W, C)``."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.target = tuple(shape)

    def call(self, x):
        return tf.reshape(x, (-1,) + self.target)


class OutputLayer(layers.Layer):
    """The last transposed conv: 4x4, Glorot-uniform, sigmoid, then the affine map to ``value_range``."""

    def __init__(self, channels: int, stride: int, value_range, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2DTranspose(channels, 4, strides=stride, padding="same", activation="sigmoid")
        self.lo, self.hi = (float(v) for v in value_range)

    def call(self, x):
        return self.lo + (self.hi - self.lo) * tf.cast(self.conv(x), tf.float32)


class Generative(layers.Layer):
    """One step of the top-down path, ``f_k(g_{k+1}, z_k)``.

    The code z_k is embedded by ``embed`` (None: used raw), merged with the upper feature (``concat`` on
    the last axis, or ``gated_add``), then passed through ``body``. The top step has no upper input.
    """

    def __init__(self, body, embed=None, merge: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.embed = embed
        self.merge = merge
        self.gate = GatedAdd() if merge == "gated_add" else None
        self.body = Sequence(body)

    def call(self, upper, z, training=False):
        e = z if self.embed is None else self.embed(z, training=training)
        if upper is None:
            u = e
        elif self.merge == "gated_add":
            u = self.gate(upper, e)
        else:
            u = tf.concat([upper, e], axis=-1)
        return self.body(u, training=training)


# --------------------------------------------------------------------------------------------------
# The three layer sets of the original (vladder_small.py, vladder_medium.py, vladder_large.py)
# --------------------------------------------------------------------------------------------------
def _small(cfg: VLadderConfig):
    d = cfg.latent_dims
    ladders = [
        LadderHead([conv_bn_lrelu(64, 2), conv_bn_lrelu(128, 2)], d[0], name="ladder0"),
        LadderHead([fc_bn(1024, "lrelu"), fc_bn(1024, "lrelu")], d[1], name="ladder1"),
        LadderHead([fc_bn(1024, "lrelu"), fc_bn(1024, "lrelu")], d[2], name="ladder2"),
    ]
    inferences = [
        Sequence([conv_bn_lrelu(64, 2), conv_bn_lrelu(128, 2), layers.Flatten(), dense(1024)], name="inference0"),
        Sequence([fc_bn(1024, "lrelu"), fc_bn(1024, "lrelu"), dense(1024)], name="inference1"),
    ]
    generatives = [
        Generative([fc_bn(7 * 7 * 128, "relu"), Reshape((7, 7, 128)), conv_t_bn_lrelu(64, 2),
                    OutputLayer(1, 2, cfg.value_range)],
                   embed=fc_bn(1024, "lrelu", always_train_bn=True), merge="gated_add", name="generative0"),
        Generative([fc_bn(1024, "relu"), fc_bn(1024, "relu"), dense(1024)],
                   embed=fc_bn(1024, "relu"), merge="gated_add", name="generative1"),
        Generative([fc_bn(1024, "relu"), fc_bn(1024, "relu"), dense(1024)], name="generative2"),
    ]
    return ladders, inferences, generatives


def _medium(cfg: VLadderConfig):
    d = cfg.latent_dims
    ladders = [
        LadderHead([conv_bn_lrelu(64, 2), conv_bn_lrelu(64, 1)], d[0], name="ladder0"),
        LadderHead([conv_bn_lrelu(128, 2), conv_bn_lrelu(128, 1)], d[1], name="ladder1"),
        LadderHead([conv_bn_lrelu(256, 2), conv_bn_lrelu(256, 1)], d[2], name="ladder2"),
        LadderHead([fc_bn(1024, "lrelu"), fc_bn(1024, "lrelu")], d[3], name="ladder3"),
    ]
    inferences = [
        Sequence([conv_bn_lrelu(64, 2), conv_bn_lrelu(64, 1)], name="inference0"),
        Sequence([conv_bn_lrelu(128, 2), conv_bn_lrelu(128, 1)], name="inference1"),
        Sequence([conv_bn_lrelu(256, 2), conv_bn_lrelu(256, 1), layers.Flatten()], name="inference2"),
    ]
    generatives = [
        Generative([conv_t_bn_lrelu(64, 2), OutputLayer(3, 1, cfg.value_range)],
                   embed=Sequence([fc_bn(16 * 16 * 64, "relu"), Reshape((16, 16, 64))]), merge="concat",
                   name="generative0"),
        Generative([conv_t_bn_lrelu(128, 2), conv_t_bn_lrelu(64, 1)],
                   embed=Sequence([fc_bn(8 * 8 * 128, "relu"), Reshape((8, 8, 128))]), merge="concat",
                   name="generative1"),
        # generative2 concatenates the raw z2 with g3 before its first fc layer.
        Generative([fc_bn(4 * 4 * 256, "relu"), Reshape((4, 4, 256)), conv_t_bn_lrelu(256, 2), conv_t_bn_lrelu(128, 1)],
                   embed=None, merge="concat", name="generative2"),
        Generative([fc_bn(1024, "relu"), fc_bn(1024, "relu"), fc_bn(1024, "relu")], name="generative3"),
    ]
    return ladders, inferences, generatives


def _large(cfg: VLadderConfig):
    d = cfg.latent_dims
    ladders = [
        LadderHead([conv_bn_lrelu(64, 2), conv_bn_lrelu(64, 1)], d[0], name="ladder0"),
        LadderHead([conv_bn_lrelu(128, 2), conv_bn_lrelu(128, 1), conv_bn_lrelu(256, 2)], d[1], name="ladder1"),
        LadderHead([conv_bn_lrelu(256, 1), conv_bn_lrelu(512, 2), conv_bn_lrelu(512, 1)], d[2], name="ladder2"),
        LadderHead([layers.Flatten(), fc_bn(1024, "lrelu"), fc_bn(1024, "lrelu")], d[3],
                   head_activation="relu" if cfg.top_heads == "original" else "default", name="ladder3"),
    ]
    inferences = [
        Sequence([conv_bn_lrelu(64, 2), conv_bn_lrelu(64, 1)], name="inference0"),
        Sequence([conv_bn_lrelu(128, 2), conv_bn_lrelu(128, 1), conv_bn_lrelu(256, 2)], name="inference1"),
        Sequence([conv_bn_lrelu(256, 1), conv_bn_lrelu(512, 2), conv_bn_lrelu(512, 1)], name="inference2"),
    ]
    generatives = [
        Generative([conv_t_bn_lrelu(64, 2), OutputLayer(3, 1, cfg.value_range)],
                   embed=Sequence([fc_bn(32 * 32 * 64, "relu"), Reshape((32, 32, 64))]), merge="concat",
                   name="generative0"),
        Generative([conv_t_bn_lrelu(128, 2), conv_t_bn_lrelu(128, 1), conv_t_bn_lrelu(64, 2)],
                   embed=Sequence([fc_bn(8 * 8 * 256, "relu"), Reshape((8, 8, 256))]), merge="concat",
                   name="generative1"),
        Generative([conv_t_bn_lrelu(512, 1), conv_t_bn_lrelu(256, 2), conv_t_bn_lrelu(256, 1)],
                   embed=Sequence([fc_bn(4 * 4 * 512, "relu"), Reshape((4, 4, 512))]), merge="concat",
                   name="generative2"),
        Generative([fc_bn(1024, "relu"), fc_bn(1024, "relu"), fc_bn(4 * 4 * 512, "relu"), Reshape((4, 4, 512))],
                   name="generative3"),
    ]
    return ladders, inferences, generatives


_BUILDERS = {"small": _small, "medium": _medium, "large": _large}


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
@register(VLadderConfig)
class VLadder(HVAEModel):
    """The Variational Ladder Autoencoder as a Keras subclassed model.

    Args:
        config: a :class:`VLadderConfig` (layer set, latent sizes, loss_ratio, image shape, value range and the
            objective's settings); None: the defaults (``vladder_mnist``). See :data:`PRESETS`.
        **kwargs: Keras' own (``name``; default ``config.architecture``).

    Shapes: images ``(B, H, W, C)`` float32 in ``config.value_range``; codes a list (bottom to top) of
    ``(B, d_k)`` float32.

    Raises:
        TypeError: ``config`` is not a :class:`VLadderConfig`.
    """

    def __init__(self, config: VLadderConfig | None = None, **kwargs):
        if config is None:
            config = VLadderConfig()
        if isinstance(config, VLadderConfig):
            kwargs.setdefault("name", config.architecture)
        super().__init__(config, **kwargs)
        ladders, inferences, generatives = _BUILDERS[self.config.layers](self.config)
        tracked_list(self, "ladders", ladders)
        tracked_list(self, "inferences", inferences)
        tracked_list(self, "generatives", generatives)

    # ---- settings read from the config ------------------------------------------------------------
    image_shape = config_property("image_shape", "``(H, W, C)`` of the images (``config.image_shape``).")
    value_range = config_property("value_range", "``(lo, hi)`` of the images (``config.value_range``).")
    latent_dims = config_property("latent_dims", "Latent size of each layer, bottom to top (``config.latent_dims``).")

    @property
    def num_layers(self) -> int:
        """The number of latent layers."""
        return len(self.config.latent_dims)

    @property
    def likelihood_scale(self) -> float:
        """The Laplace likelihood's scale, ``1 / loss_ratio`` (data units)."""
        return 1.0 / self.config.loss_ratio

    # ---- building ---------------------------------------------------------------------------------
    def build_all(self):
        """Create every weight by running both paths once on zeros (needed before a checkpoint restore)."""
        x = tf.zeros((2,) + tuple(self.config.image_shape))
        self.encode(x, training=False)
        self.decode_mean(self.prior_codes(2), training=False)
        self.built = True
        return self

    def example_inputs(self, n: int = 2):
        """``(n, H, W, C)`` images at the bottom of ``value_range``, no labels."""
        return zeros_like_input(self.config.image_shape, self.value_range, n), None

    # The base class runs loss_terms once on example_inputs for the metric names (also while
    # keras.models.load_model restores a compiled model, after the weights) and for summary's output shapes. The
    # Small layers' z_0 embedding normalises with batch statistics in every mode and would move its moving
    # averages (which the likelihood evaluation uses) on those calls: they use the moving averages instead.
    def _trackers(self) -> dict:
        with moving_statistics_only():
            return super()._trackers()

    def output_shapes(self) -> dict:
        with moving_statistics_only():
            return super().output_shapes()

    @classmethod
    def migrate_config(cls, config: dict) -> dict:
        """The earlier ``get_config`` (``.keras`` files) -> the fields of :class:`VLadderConfig`.

        The earlier dict nested the architecture, ``{"config": {"netname", "layers", "latent_dims",
        "loss_ratio", "shape", "figures"}, "value_range", "reg", "denoise", "top_heads", "warmup_steps"}``;
        ``netname`` is now ``architecture`` and ``shape`` ``image_shape``. A dict of today's fields is returned
        unchanged.
        """
        config = dict(config)
        nested = config.pop("config", None)
        if isinstance(nested, dict):
            renamed = {"netname": "architecture", "shape": "image_shape"}
            config = {**{renamed.get(k, k): v for k, v in nested.items()}, **config}
        return config

    # ---- inference and generation --------------------------------------------------------------
    def encode(self, images, labels=None, training=False):
        """Bottom-up inference: the posteriors q(z_k | x), bottom to top.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; ``labels`` ignored (VLadder is unsupervised).
            training: batch statistics (True) or moving averages (False) in the batch norms.
        Returns:
            list of ``tfd.Distribution`` with batch shape ``(B,)`` and event shape ``(d_k,)``.
        """
        posteriors = []
        h = images
        for k in range(self.num_layers):
            mean, scale = self.ladders[k](h, training=training)
            posteriors.append(objectives.diagonal_normal(mean, scale))
            if k < self.num_layers - 1:
                h = self.inferences[k](h, training=training)
        return posteriors

    def decode(self, codes, labels=None, *, training=False):
        """Top-down generation: the likelihood p(x | z), a factorised ``tfd.Laplace(x_hat, 1/loss_ratio)``
        with batch shape ``(B,)`` and event shape ``(H, W, C)``, from one code per layer (list, bottom to top,
        of ``(B, d_k)``); ``labels`` ignored. ``training``: as :meth:`decode_mean`'s (moving averages by
        default)."""
        return self.likelihood(self.decode_mean(codes, training=training))

    def decode_mean(self, codes, training=False):
        """Top-down generation: ``x_hat`` (the likelihood's location) from one code per layer.

        Args:
            codes: list (bottom to top) of ``(B, d_k)`` codes.
            training: batch statistics (True, the reconstruction path during training) or moving
                averages (False, the sampling path). The Small layers' z_0 embedding always uses batch
                statistics, as the original.
        Returns:
            ``(B, H, W, C)`` in ``value_range``.
        """
        g = None
        for k in reversed(range(self.num_layers)):
            g = self.generatives[k](g, codes[k], training=training)
        return g

    def sample_images(self, codes):
        """``decode_mean(codes, training=False)`` compiled with ``tf.function`` (the sampling path of the figures)."""
        if getattr(self, "_sample_fn", None) is None:
            self._sample_fn = tf.function(lambda c: self.decode_mean(c, training=False), autograph=False,
                                          reduce_retracing=True)
        return self._sample_fn([tf.convert_to_tensor(c, tf.float32) for c in codes])

    def likelihood(self, x_hat):
        """p(x | z): factorised Laplace with location ``x_hat`` and scale ``1/loss_ratio`` (event ``(H, W, C)``)."""
        return objectives.laplace_likelihood(x_hat, self.likelihood_scale)

    # ---- likelihood (models.latent interface) -----------------------------------------------------
    data_density = "laplace"

    def importance_terms(self, images, num_samples: int, labels=None) -> dict:
        """Log importance weights of K joint posterior draws (see :mod:`hvae.models.latent`).

        q(z | x) = prod_k q(z_k | x) factorises bottom-up given x (every ladder head reads a deterministic
        feature of x), so the encoder runs once and each layer is sampled K times; p(z) = prod_k N(0, I);
        p(x | z) is the factorised Laplace of scale 1/loss_ratio, a *density* of the input values
        (``value_range``). Inference mode throughout, the Small layers' z_0 embedding included (its
        batch statistics would make p(x | z) depend on the rest of the batch; see docs/fidelity.md).
        The input is not corrupted (``denoise``): this is the likelihood of the clean images.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; ``labels`` ignored.
            num_samples: K.
        Returns:
            ``log_weights (B, K)``, ``log_likelihood (B, K)``, ``layer_kl (B, K, L)``, nats per image.
        """
        k = int(num_samples)
        with moving_statistics_only():
            posteriors = self.encode(images, training=False)
            codes = [q.sample(k) for q in posteriors]  # (K, B, d_l)
            flat = [tf.reshape(c, (-1, d)) for c, d in zip(codes, self.latent_dims)]
            x_hat = self.decode_mean(flat, training=False)
        log_likelihood = per_sample(self.likelihood(x_hat).log_prob(tile_batch(images, k)), k)
        layer_kl = tf.stack([q.log_prob(c) - objectives.standard_normal(d).log_prob(c)
                             for q, c, d in zip(posteriors, codes, self.latent_dims)], axis=-1)  # (K, B, L)
        return terms_from_layers(log_likelihood, tf.transpose(layer_kl, (1, 0, 2)))

    def posterior_means(self, images, labels=None) -> list:
        """The posterior means of the layers, bottom to top: list of ``(B, d_k)``."""
        with moving_statistics_only():
            return [q.mean() for q in self.encode(images, training=False)]

    def call(self, x, training=False):
        """Reconstruct ``x`` through one posterior sample per layer: ``(B,H,W,C) -> (B,H,W,C)``."""
        codes = [q.sample() for q in self.encode(x, training=training)]
        return self.decode_mean(codes, training=training)

    def sample(self, n: int, labels=None, seed=None):
        """``n`` images from the prior (every layer N(0, I)), the likelihood's location: ``(n, H, W, C)`` in
        ``value_range`` (the figures' sampling path); ``labels`` ignored, ``seed`` an int or None."""
        return self.sample_images(self.prior_codes(n, seed=seed))

    def reconstruct(self, images, labels=None, *, sample: bool = False):
        """``images (B, H, W, C)`` -> their reconstructions ``(B, H, W, C)`` in ``value_range``: the likelihood's
        location decoded from the posterior means (``sample=True``: one posterior sample per layer), inference
        mode; ``labels`` ignored."""
        posteriors = self.encode(images, training=False)
        codes = [q.sample() if sample else q.mean() for q in posteriors]
        return self.decode_mean(codes, training=False)

    def prior_codes(self, n: int, seed=None):
        """``n`` codes per layer drawn from the prior N(0, I): list of ``(n, d_k)``."""
        return [objectives.standard_normal(d).sample(n, seed=seed) for d in self.latent_dims]

    # ---- denoising corruption (original trainer.get_noisy_input) --------------------------------
    def corrupt(self, x):
        """Salt-and-pepper plus Gaussian noise, element-wise, clipped to ``value_range``.

        ``x * Bernoulli(0.9) + Bernoulli(0.1) + N(0, 0.1^2)``; for [-1, 1] data the "pepper" is 0 and the
        "salt" adds 1, as the original. Returns ``x`` unchanged when ``denoise`` is off.
        """
        if not self.config.denoise:
            return x
        keep = tf.cast(tf.random.uniform(tf.shape(x)) < 0.9, x.dtype)
        salt = tf.cast(tf.random.uniform(tf.shape(x)) < 0.1, x.dtype)
        noisy = x * keep + salt + tf.random.normal(tf.shape(x), stddev=0.1)
        return tf.clip_by_value(noisy, self.value_range[0], self.value_range[1])

    # ---- objective -----------------------------------------------------------------------------
    def loss_terms(self, images, labels=None, iteration=None, training=True):
        """The training objective and its parts, for one batch.

        Args:
            images: clean images ``(B, H, W, C)`` in ``value_range`` (corrupted here when ``denoise``).
            labels: ignored (VLadder is unsupervised).
            iteration: 1-based step count t of the warm-up beta_t = 1 - exp(-t/warmup_steps) (None: 1).
            training: batch-norm mode of the inference and reconstruction paths.

        Returns:
            dict of scalars: ``loss`` (what is minimised), ``reconstruction`` (scaled L1 as the original),
            ``regularization`` (unweighted sum over layers; x100 for mmd), ``kl/layerK`` or
            ``mmd/layerK`` per layer (nats for KL), and ``beta`` (kl only).
        """
        if iteration is None:
            iteration = 1
        noisy = self.corrupt(images)
        posteriors = self.encode(noisy, training=training)
        codes = [q.sample() for q in posteriors]
        x_hat = self.decode_mean(codes, training=training)
        l1_scaled = objectives.scaled_l1_from_laplace(self.likelihood(x_hat), images)  # (B,) loss_ratio * sum|err|
        terms = {}
        if self.config.reg == "kl":
            per_layer = [tf.reduce_mean(objectives.kl_to_standard_normal(q)) for q in posteriors]
            for k, v in enumerate(per_layer):
                terms[f"kl/layer{k}"] = v
            regularization = tf.add_n(per_layer)
            beta = objectives.kl_warmup(iteration, self.config.warmup_steps)
            reconstruction = tf.reduce_mean(l1_scaled)
            loss = beta * regularization + reconstruction
            terms["beta"] = tf.convert_to_tensor(beta, tf.float32)
        else:
            per_layer = []
            for k, (z, d) in enumerate(zip(codes, self.latent_dims)):
                prior_draw = tf.random.normal(tf.shape(z))
                per_layer.append(objectives.mmd(z, prior_draw, bandwidth=float(d * d)))
                terms[f"mmd/layer{k}"] = per_layer[-1]
            regularization = 100.0 * tf.add_n(per_layer)
            pixels = float(np.prod(self.config.image_shape))
            reconstruction = 100.0 * tf.reduce_mean(l1_scaled) / (self.config.loss_ratio * pixels)
            loss = regularization + reconstruction
        terms.update(loss=loss, reconstruction=reconstruction, regularization=regularization)
        return terms

    def reconstruction_error(self, images):
        """The original's test metric for one batch: ``sum (x_hat - x)^2 / (H*W) / B``.

        Per-pixel squared error summed over channels, in data units, with the (possibly corrupted) input
        reconstructed through posterior samples in inference mode. Returns ``(error, noisy, x_hat)``.
        """
        if getattr(self, "_test_fn", None) is None:
            def test_batch(clean):
                noisy = self.corrupt(clean)
                x_hat = self(noisy, training=False)
                h, w = self.config.image_shape[:2]
                err = tf.reduce_sum(tf.square(x_hat - clean)) / float(h * w) / tf.cast(tf.shape(clean)[0], tf.float32)
                return err, noisy, x_hat

            self._test_fn = tf.function(test_batch, autograph=False, reduce_retracing=True)
        return self._test_fn(images)

    # ---- figures (original visualize.py) --------------------------------------------------------
    def manifold_samples(self, layer: int, num_rows: int = 30, extent: float = 2.0, seed=None):
        """One layer on a 2-D grid, the other layers random (original ManifoldSampleVisualizer).

        Code ``r * num_rows + c`` holds ``(v[c], v[r])`` with ``v = linspace(-extent, extent, num_rows)``:
        dim 0 varies along columns, dim 1 along rows. The other layers get independent N(0, I) codes per
        cell. All ``num_rows^2`` images are generated in one call (sampling path).

        Returns:
            ``(num_rows^2, H, W, C)`` in ``value_range``.
        Raises:
            ValueError: the layer's latent size is not 2.
        """
        if self.latent_dims[layer] != 2:
            raise ValueError(f"a manifold needs a 2-d layer; layer {layer} has {self.latent_dims[layer]} dims")
        v = np.linspace(-extent, extent, num_rows, dtype=np.float32)
        cols, rows = np.meshgrid(v, v)  # cols[r, c] = v[c], rows[r, c] = v[r]
        grid = np.stack([cols.ravel(), rows.ravel()], axis=1)
        codes = self.prior_codes(num_rows * num_rows, seed=seed)
        codes[layer] = tf.constant(grid)
        return self.sample_images(codes).numpy()

    def conditional_samples(self, layer: int, fixed_codes, n: int = 100, seed=None):
        """Sample one layer from the prior while the others stay at ``fixed_codes`` (original
        ConditionalSampleVisualizer). ``fixed_codes``: list of ``(d_k,)`` codes. Returns ``(n, H, W, C)``."""
        codes = self.prior_codes(n, seed=seed)
        for k in range(self.num_layers):
            if k != layer:
                codes[k] = tf.repeat(tf.reshape(tf.cast(fixed_codes[k], tf.float32), (1, -1)), n, axis=0)
        return self.sample_images(codes).numpy()

    def prior_samples(self, n: int = 100, seed=None):
        """``n`` images from the prior, every layer N(0, I) (original SampleVisualizer): ``(n, H, W, C)``."""
        return self.sample_images(self.prior_codes(n, seed=seed)).numpy()

