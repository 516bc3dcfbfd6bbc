"""The deep convolutional Ladder VAE of addtt/ladder-vae-pytorch (after Sønderby, Raiko, Maaløe, Sønderby &
Winther, "Ladder Variational Autoencoders", NIPS 2016), as a Keras 3 model (spec ``lvae_and_vlae_laplace.md``
part 1, original ``models/lvae.py``, ``models/lvae_layers.py``, ``lib/nn.py``, ``lib/stochastic.py``).

Architecture (NHWC; ``C`` = ``n_filters``; every layer count, kernel, stride and channel as the original):

* input (in ``value_range``) mapped to [0, 1], zero-padded (split evenly, the extra pixel bottom/right) so
  that H and W are multiples of the overall downscale factor ``F = 2^sum(downsample) x 2`` (x 1 with
  ``initial_downscaling=False``): 28 -> 32 for MNIST with F = 16;
* stem: conv 5x5 stride 2 (1 without initial downscaling) -> nonlinearity -> one residual block (never gated);
* bottom-up layer i = 0..L-1: ``blocks_per_layer`` residual blocks, the first ``downsample[i]`` of them
  preceded by a 3x3 stride-2 conv; its output d_i feeds layer i + 1 and the posterior of layer i;
* top-down layer i = L-1..0: prior parameters (top: a (1, h, w, 2 z_L) tensor of zeros, trainable with
  ``learn_top_prior``; else a 3x3 conv of the top-down state h_{i+1}); posterior parameters by a 3x3 conv of
  d_{L-1} (top) or of Merge(d_i, h_{i+1}) -- a fresh diagonal Gaussian, NOT the precision-weighted
  combination of the paper (faithful to the code); z_i drawn by reparameterisation; y = conv 3x3(z_i);
  with ``skip``: y = SkipMerge(y, h_{i+1}); h_i = ``blocks_per_layer`` residual blocks, the first
  ``downsample[i]`` preceded by a 3x3 stride-2 transposed conv;
* final: bilinear x2 (half-pixel centres) -> ``blocks_per_layer`` residual blocks -> crop -> a 3x3 conv
  giving the likelihood's parameters (Bernoulli logits; Gaussian mean / log-variance; discretized logistic
  location / log-scale; PixelCNN++ mixture of 10 logistics, 100 channels).

The residual blocks (``residual_type``), with the convolutions' PyTorch alignment and initialisation:
:mod:`hvae.models.lvae_blocks`; the merges (``merge_layers``), the bottom-up segments and the
top-down stochastic layers: :mod:`hvae.models.lvae_layers`.

Objective (spec §1.5), per image: reconstruction R = -log p(x | z); per-layer KL = log q(z_l) - log p(z_l) at
the sampled z_l (one Monte-Carlo sample; closed form with ``analytical_kl``); ELBO = -R - sum_l KL_l; free bits
per layer and per image, ``KL_fb = sum_l mean_n max(KL_nl, lambda)`` in nats; loss = mean R + beta KL_fb
(+ the L2 weight-decay term ``weight_decay/2 * |theta|^2``, which gives PyTorch Adamax's coupled decay),
beta = min(1, (t - 1) / beta_anneal) at 1-based iteration t.

Shapes: images ``(B, H, W, C)`` in ``value_range``; latents z_l ``(B, h_l, w_l, z_dims[l])`` (bottom to top).

Configuration (:mod:`hvae.configs.lvae`, which imports no TensorFlow; every name re-exported here):
:class:`LVAEConfig` (a frozen dataclass: the architecture, the objective, the data's image shape
and value range, and whether training starts with the data-dependent initialisation) and :data:`PRESETS`, the
README command lines (``LVAE_mnist_3`` ... ``LVAE_celeba_20``, ``LVAE_original_defaults``) on their datasets'
images; :meth:`LVAEConfig.from_flags` resolves a command line (a preset completed by the flags given)::

    model = LVAE.from_preset("LVAE_mnist_3", free_bits=1.0)          # built, with an override
    model = LVAE(PRESETS["LVAE_cifar10_15"].replace(n_filters=32))    # unbuilt until build_all()
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from hvae.configs.lvae import (  # noqa: F401  (re-exported: the configuration's names were defined here)
    DATA_DENSITY,
    DATA_FIELDS,
    DATASET_PRESETS,
    LIKELIHOODS,
    MERGE_TYPES,
    MIXTURE_COMPONENTS,
    NONLINEARITIES,
    ORIGINAL,
    PRESET_PREFIX,
    PRESET_SOURCES,
    PRESETS,
    README,
    RESIDUAL_TYPES,
    LVAEConfig,
    check_architecture,
    check_settings,
    downscale_factor,
    padded_size,
    resolve_preset,
)

from . import objectives
from .base import HVAEModel, config_property, register, zeros_like_input
from .discretized_logistic import DiscretizedLogistic
from .latent import per_sample, terms_from_layers, tile_batch
from .layers import tracked_list
from .lvae_blocks import (  # noqa: F401  (re-exported)
    _CONV_DTYPE,
    BN_EPSILON,
    BN_MOMENTUM,
    DDI_EPSILON,
    DDI_SCALE,
    LEAKY_SLOPE,
    Conv2d,
    ConvTranspose2x,
    ResidualBlock,
    _activation,
    _channels,
    _data_dependent_init,
)
from .lvae_layers import Merge, ResampleBlock, TopDownLayer, _Mixture, _Segment, mixture_mean  # noqa: F401

tfd = tfp.distributions

FREE_BITS_EPSILON = 1e-6  # boilr free_bits_kl: below this, no free bits


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
@register(LVAEConfig)
class LVAE(HVAEModel):
    """The Ladder VAE of addtt/ladder-vae-pytorch (see the module docstring).

    ``LVAE(config)`` with an :class:`LVAEConfig` (None: its defaults, the original's argparse defaults on
    28x28 MNIST); ``LVAE.from_preset("LVAE_mnist_3", free_bits=1.0)`` builds a README configuration with
    overrides. A Keras model (:class:`hvae.models.base.HVAEModel`): ``compile(optimizer=keras.optimizers.Adamax(3e-4))``
    then ``fit`` trains it on its own objective.

    Every field of the config is also a read-only attribute (``model.z_dims``, ``model.likelihood``, ...;
    ``model.dropout`` is None below 1e-5); derived: ``num_layers`` (L), ``factor`` (overall downscale factor),
    ``padded_shape`` ``(H', W')``, ``top_shape`` ``(h, w)`` of the top latent, ``data_density``.

    Args:
        config: the architecture and objective (:class:`LVAEConfig`; validated on its construction).
        **kwargs: Keras' (``name``, default ``LVAE``).

    ``count_parameters()`` counts the top prior only with ``learn_top_prior`` (PyTorch's ``requires_grad``).

    Raises:
        TypeError: ``config`` is not an :class:`LVAEConfig`.
    """

    def __init__(self, config: LVAEConfig | None = None, **kwargs):
        kwargs.setdefault("name", "LVAE")
        super().__init__(config, **kwargs)
        c = self.config
        self.num_layers = len(c.z_dims)
        self.data_density = DATA_DENSITY[c.likelihood]
        h, w, channels = c.image_shape
        self.factor = downscale_factor(c.downsample, c.initial_downscaling)
        self.padded_shape = (padded_size(h, self.factor), padded_size(w, self.factor))
        self.top_shape = (self.padded_shape[0] // self.factor, self.padded_shape[1] // self.factor)
        res = dict(nonlin=c.nonlin, batch_norm=c.batch_norm, block_type=c.residual_type, dropout=self.dropout)
        C = c.n_filters
        self._act = _activation(c.nonlin)
        self.stem_conv = Conv2d(C, 5, strides=2 if c.initial_downscaling else 1, pad=2)
        self.stem_block = ResampleBlock("bottom-up", C, gated=False, **res)
        tracked_list(self, "bottom_up_layers", [
            _Segment([ResampleBlock("bottom-up", C, resample=b < d, gated=c.gated, **res)
                      for b in range(c.blocks_per_layer)], name=f"bottom_up_{i}")
            for i, d in enumerate(c.downsample)])
        tracked_list(self, "top_down_layers", [
            TopDownLayer(z, C, c.blocks_per_layer, d, top=(i == self.num_layers - 1),
                         top_prior_shape=self.top_shape + (2 * z,), learn_top_prior=c.learn_top_prior,
                         skip=c.skip, merge_type=c.merge_layers, gated=c.gated, name=f"top_down_{i}", **res)
            for i, (z, d) in enumerate(zip(c.z_dims, c.downsample))])
        self.upsample = layers.UpSampling2D(2, interpolation="bilinear") if c.initial_downscaling else None
        tracked_list(self, "final_blocks", [ResampleBlock("top-down", C, gated=c.gated, **res)
                                            for _ in range(c.blocks_per_layer)])
        out_channels = {"bernoulli": channels, "gaussian": 2 * channels, "discr_log": 2 * channels,
                        "discr_log_mix": 10 * MIXTURE_COMPONENTS}[c.likelihood]
        self.likelihood_conv = Conv2d(out_channels, 3, pad=1)

    @property
    def dropout(self):
        """``config.dropout``, None when below 1e-5 (no dropout layers at all, as the original)."""
        d = self.config.dropout
        return None if d is None or d < 1e-5 else d

    def latent_shapes(self) -> list:
        """``(h_l, w_l, z_l)`` per layer, bottom to top."""
        s = 2 if self.initial_downscaling else 1
        h, w = self.padded_shape[0] // s, self.padded_shape[1] // s
        out = []
        for z, d in zip(self.z_dims, self.downsample):
            h, w = h // 2 ** d, w // 2 ** d
            out.append((h, w, z))
        return out

    def describe(self) -> str:
        """One line: the layers and their latent shapes, the blocks, the options on, the likelihood and the parameter
        count, e.g. ``3 stochastic layers (8x8x32, 4x4x32, 2x2x32, bottom to top), 4 blocks/layer, 64 filters, skip,
        ..., bernoulli likelihood; 3,209,153 parameters`` (the command line's header)."""
        shapes = ", ".join(f"{h}x{w}x{z}" for h, w, z in self.latent_shapes())
        on = [name for name, value in (("skip", self.skip), ("gated", self.gated),
                                       ("learned top prior", self.learn_top_prior),
                                       ("data-dependent init", self.data_dep_init),
                                       ("no batch norm", not self.batch_norm), ("analytic KL", self.analytical_kl))
              if value]
        return (f"{self.num_layers} stochastic layers ({shapes}, bottom to top), {self.blocks_per_layer} blocks/layer, "
                f"{self.n_filters} filters, {', '.join(on) or 'plain'}, {self.residual_type}, {self.nonlin}, "
                f"dropout {self.dropout or 0:g}, free bits {self.free_bits:g} nats, {self.likelihood} likelihood; "
                f"{self.count_parameters():,} parameters")

    def likelihood_warnings(self, levels, data_name: str) -> list:
        """One-line warnings about the likelihood on data of ``levels`` distinct pixel values (2 binary, 256 8-bit,
        None continuous) that it fits only loosely (the command line prints them; nothing is raised)."""
        out, like = [], self.likelihood
        if like == "bernoulli" and levels != 2:
            out.append(f"--likelihood bernoulli on the {'grey levels' if levels else 'continuous values'} of "
                       f"{data_name}: the loss and every 'log-likelihood' are cross-entropies, not log-probabilities "
                       f"of the data (use binarized data, or --likelihood discr_log)")
        if like in ("discr_log", "discr_log_mix") and levels != 256:
            out.append(f"--likelihood {like} assumes 8-bit pixels but {data_name} has "
                       f"{'binary pixels' if levels == 2 else 'continuous values'}: values are binned to k/255")
        return out

    def example_inputs(self, n: int = 2):
        """``(n, H, W, C)`` images at the bottom of ``value_range``, no labels."""
        return zeros_like_input(self.image_shape, self.value_range, n), None

    def build(self, input_shape=None):
        if not self.built:
            self.build_all()

    def build_all(self):
        """Create every weight from the channel counts alone, without running the model (a few seconds even
        for the 20-layer model); returns the model."""
        C = self.n_filters
        self.stem_conv.build(_channels(self.image_shape[-1]))
        self.stem_block.build()
        for segment in self.bottom_up_layers:
            segment.build()
        for layer in self.top_down_layers:
            layer.build()
        for block in self.final_blocks:
            block.build()
        self.likelihood_conv.build(_channels(C))
        self.built = True
        return self

    # ---- pixels: to_unit / from_unit are models.base.HVAEModel's ------------------------------------
    def _pad(self, x):
        h, w = self.image_shape[:2]
        dr, dc = self.padded_shape[0] - h, self.padded_shape[1] - w
        if not dr and not dc:
            return x
        return tf.pad(x, [[0, 0], [dr // 2, dr - dr // 2], [dc // 2, dc - dc // 2], [0, 0]])

    def _crop(self, x):
        h, w = self.image_shape[:2]
        dr, dc = self.padded_shape[0] - h, self.padded_shape[1] - w
        return x[:, dr // 2:dr // 2 + h, dc // 2:dc // 2 + w, :]

    # ---- the two passes -------------------------------------------------------------------------------
    def bottom_up(self, x01, training=False):
        """Deterministic bottom-up pass on [0, 1] images: list of d_i (bottom to top), ``(B, h_i, w_i, C)``."""
        h = self.stem_block(self._act(self.stem_conv(self._pad(x01))), training=training)
        values = []
        for segment in self.bottom_up_layers:
            h = segment(h, training=training)
            values.append(h)
        return values

    def top_down(self, bu_values=None, n=None, training=False, mean_layers=(), constant_layers=(),
                 constant_group=None, forced_latents=None, analytical_kl=False, seeds=None):
        """The top-down pass: inference (``bu_values`` given: z ~ q) or generation (``n`` images: z ~ p).

        Args:
            mean_layers: layers whose z is the mean of the distribution sampled from.
            constant_layers / constant_group: layers whose draw is copied over each group of
                ``constant_group`` images (the per-layer figures; generation only).
            forced_latents: list (bottom to top) of z to use instead of draws (entries may be None).
            seeds: one stateless seed per layer (bottom to top), or None (TensorFlow's global random state).
        Returns:
            ``(features, infos)``: the final feature map before the likelihood head ``(B, H, W, C)`` (cropped)
            and the per-layer infos of :meth:`TopDownLayer.forward`, bottom to top.
        """
        infos = [None] * self.num_layers
        h = None
        for i in reversed(range(self.num_layers)):
            h, infos[i] = self.top_down_layers[i].forward(
                h, bu_value=None if bu_values is None else bu_values[i], n=n, training=training,
                use_mean=i in mean_layers, constant_group=constant_group if i in constant_layers else None,
                forced_z=None if forced_latents is None else forced_latents[i], analytical_kl=analytical_kl,
                seed=None if seeds is None else seeds[i])
        if self.upsample is not None:
            h = self.upsample(h)
        for block in self.final_blocks:
            h = block(h, training=training)
        return self._crop(h), infos

    def likelihood_distribution(self, features) -> tfd.Distribution:
        """p(x | z) over [0, 1] pixel values from the final feature map: event shape ``(H, W, C)``.

        Bernoulli (logits); Gaussian (mean, log-variance); discretized logistic (location = raw + 0.5,
        log-scale = max(raw - 1, -7)); discretized mixture of 10 logistics (100 channels, RGB).
        """
        params = self.likelihood_conv(features)
        if self.likelihood == "bernoulli":
            return objectives.bernoulli_likelihood(logits=params)
        if self.likelihood == "gaussian":
            mean, log_var = tf.split(params, 2, axis=-1)
            return tfd.Independent(tfd.Normal(mean, tf.exp(log_var / 2.0)), reinterpreted_batch_ndims=3)
        if self.likelihood == "discr_log":
            loc, log_scale = tf.split(params, 2, axis=-1)
            return DiscretizedLogistic(loc + 0.5, tf.maximum(log_scale - 1.0, -7.0))
        return _Mixture(params, MIXTURE_COMPONENTS)

    def _inference(self, images, training=False, mean_layers=(), analytical_kl=False):
        x01 = self.to_unit(images)
        bu = self.bottom_up(x01, training=training)
        features, infos = self.top_down(bu, training=training, mean_layers=mean_layers, analytical_kl=analytical_kl)
        return x01, self.likelihood_distribution(features), infos

    def generate_features(self, n: int, training=False, **kwargs):
        """Top-down generation of ``n`` images: ``(features, infos)`` (see :meth:`top_down`)."""
        return self.top_down(None, n=n, training=training, **kwargs)

    # ---- public API (models.base.HVAEModel) -----------------------------------------------------------------
    def encode(self, images, labels=None, training=False) -> list:
        """The approximate posteriors of one top-down inference pass, bottom to top, each layer's given the
        layers above at their posterior means (the top one: q(z_{L-1} | x)).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; labels ignored (unconditional).
            training: batch norm and dropout in training mode.
        Returns:
            list of L ``tfd.Distribution`` q(z_l | E[z_{>l}], x), batch shape ``(B,)``, event shape
            ``(h_l, w_l, z_dims[l])`` (:meth:`latent_shapes`).
        """
        _, _, infos = self._inference(images, training=training, mean_layers=tuple(range(self.num_layers)))
        return [info["q"] for info in infos]

    def _codes(self, codes) -> list:
        """``codes`` as ``(B, h_l, w_l, z_l)`` tensors: flattened channels-first ``(B, z_l h_l w_l)`` entries
        (as :meth:`posterior_means` gives them) reshaped."""
        if len(codes) != self.num_layers:
            raise ValueError(f"decode takes one code per latent layer ({self.num_layers}), got {len(codes)}")
        out = []
        for code, (h, w, z) in zip(codes, self.latent_shapes()):
            code = tf.convert_to_tensor(code, tf.float32)
            if code.shape.rank == 2:
                code = tf.transpose(tf.reshape(code, (-1, z, h, w)), (0, 2, 3, 1))
            out.append(code)
        return out

    def decode(self, codes, labels=None) -> tfd.Distribution:
        """p(x | z) at given latents (inference mode): the top-down pass with every z_l forced to ``codes[l]``.

        Args:
            codes: list (bottom to top) of ``(B, h_l, w_l, z_dims[l])``, or of ``(B, z_dims[l] h_l w_l)``
                flattened channels-first; labels ignored.
        Returns:
            the likelihood over [0, 1]-mapped pixel values (:meth:`to_unit`), batch shape ``(B,)``, event
            shape ``(H, W, C)``.

        Raises:
            ValueError: not one code per layer.
        """
        codes = self._codes(codes)
        n = tf.shape(codes[-1])[0]
        features, _ = self.top_down(None, n=n, training=False, forced_latents=codes)
        return self.likelihood_distribution(features)

    def _mean_image(self, dist):
        """The likelihood's mean in [0, 1]: Bernoulli probabilities, the Gaussian mean, the discretized
        logistic's location clipped, the mixture's :func:`mixture_mean`."""
        if self.likelihood == "discr_log_mix":
            return dist.mean()
        return self._display_image(dist)

    def _display_image(self, dist):
        """The original's reconstruction figures: the likelihood's mean, or a sample for the mixture, in [0, 1]."""
        if self.likelihood == "discr_log_mix":
            return dist.sample()
        if self.likelihood == "bernoulli":
            return tf.sigmoid(dist.distribution.logits)
        return tf.clip_by_value(dist.mean(), 0.0, 1.0) if self.likelihood == "discr_log" else dist.mean()

    def sample(self, n: int, labels=None, seed=None):
        """``n`` images from the model: z ~ p top-down, then a draw of p(x | z).

        Args:
            n: number of images; labels ignored.
            seed: int or stateless TFP seed: the same seed gives the same images (every latent draw and the
                image draw are seeded); None: TensorFlow's global random state.
        Returns:
            ``(n, H, W, C)`` in ``value_range`` (binary images for Bernoulli, as the original's sample grids;
            Gaussian draws clipped).
        """
        seeds = None
        if seed is not None:
            if isinstance(seed, (int, np.integer)):
                seed = tf.constant([int(seed) % 2 ** 31, 0], tf.int32)   # stateless (sanitize_seed of an int is not)
            seeds = tfp.random.split_seed(tfp.random.sanitize_seed(seed), n=self.num_layers + 1)
        features, _ = self.generate_features(int(n), training=False, seeds=None if seeds is None else seeds[:-1])
        return self.from_unit(self._image_draw(self.likelihood_distribution(features),
                                               None if seeds is None else seeds[-1]))

    def _image_draw(self, dist, seed=None):
        """A draw of p(x | z) in [0, 1] (Gaussian draws clipped to [0, 1] for display; the other likelihoods'
        draws are there already)."""
        x = dist.sample(seed=seed)
        return tf.clip_by_value(x, 0.0, 1.0) if self.likelihood == "gaussian" else x

    def reconstruct(self, images, labels=None, *, sample_latents: bool = False):
        """The likelihood's mean (:meth:`_mean_image`) at the posterior means, deterministic.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; labels ignored.
            sample_latents: instead, the original's reconstruction figures: one posterior draw of every layer
                (top-down), then the likelihood's mean, a draw for the mixture of logistics (random).
        Returns:
            ``(B, H, W, C)`` in ``value_range``.
        """
        if sample_latents:
            _, dist, _ = self._inference(images, training=False)
            return self.from_unit(self._display_image(dist))
        _, dist, _ = self._inference(images, training=False, mean_layers=tuple(range(self.num_layers)))
        return self.from_unit(self._mean_image(dist))

    def call(self, images, training=False):
        """``reconstruct(images, sample_latents=True)`` (with ``training`` passed to batch norm and dropout)."""
        _, dist, _ = self._inference(images, training=training)
        return self.from_unit(self._display_image(dist))

    def layer_samples(self, layer: int, rows: int = 12, cols: int = 12):
        """The original's ``sample_mode_layer<layer>`` figure (spec §1.11): ``(rows * cols, H, W, C)`` in
        ``value_range``, row-major.

        Per row: every layer above ``layer`` drawn once from the prior and shared by the row; ``layer`` drawn
        independently for each image from p(z_layer | z_above); every layer below at the mean of its prior;
        the image a draw of p(x | z). With ``layer = L - 1`` all images are independent prior samples.
        """
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer must be in 0..{self.num_layers - 1}, got {layer}")
        features, _ = self.generate_features(rows * cols, training=False, mean_layers=tuple(range(layer)),
                                             constant_layers=tuple(range(layer + 1, self.num_layers)),
                                             constant_group=cols)
        return self.from_unit(self._image_draw(self.likelihood_distribution(features)))

    # ---- objective ------------------------------------------------------------------------------------------
    def beta(self, iteration):
        """KL weight at 1-based ``iteration``: linear 0 -> 1 over ``beta_anneal`` steps (boilr ``linear_anneal``
        of the 0-based global step), 1 when off."""
        if not self.beta_anneal:
            return tf.constant(1.0)
        step = tf.cast(1 if iteration is None else iteration, tf.float32) - 1.0
        return tf.clip_by_value(step / float(self.beta_anneal), 0.0, 1.0)

    def free_bits_kl(self, layer_kl):
        """boilr ``free_bits_kl`` (batch_average=False): ``sum_l mean_n max(KL_nl, lambda)``; ``layer_kl (B, L)``."""
        if self.free_bits < FREE_BITS_EPSILON:
            return tf.reduce_sum(tf.reduce_mean(layer_kl, axis=0))
        return tf.reduce_sum(tf.reduce_mean(tf.maximum(layer_kl, self.free_bits), axis=0))

    def loss_terms(self, images, labels=None, iteration=1, training=True) -> dict:
        """The training objective and its parts for one batch (spec §1.5), scalars in nats per image.

        Returns:
            ``loss`` (mean R + beta KL_fb [+ weight decay]), ``elbo`` (-R - sum KL, batch mean),
            ``reconstruction`` (mean R), ``kl`` (mean sum_l KL), ``kl/layer<i>`` (mean per layer),
            ``kl_free_bits`` (KL_fb), ``beta``; ``weight_decay`` (the L2 term) when it is on. KL is Monte
            Carlo (log q - log p at the draw) or closed form with ``analytical_kl``.
        """
        x01, dist, infos = self._inference(images, training=training, analytical_kl=self.analytical_kl)
        reconstruction = -dist.log_prob(x01)                                  # (B,)
        layer_kl = tf.stack([info["kl"] for info in infos], axis=1)           # (B, L)
        kl = tf.reduce_sum(layer_kl, axis=1)
        kl_fb = self.free_bits_kl(layer_kl)
        beta = self.beta(iteration)
        loss = tf.reduce_mean(reconstruction) + beta * kl_fb
        terms = {}
        if self.weight_decay:
            l2 = 0.5 * self.weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.trainable_variables])
            loss = loss + l2
            terms["weight_decay"] = l2
        terms.update(loss=loss, elbo=-tf.reduce_mean(reconstruction + kl), reconstruction=tf.reduce_mean(reconstruction),
                     kl=tf.reduce_mean(kl), kl_free_bits=kl_fb, beta=beta)
        means = tf.reduce_mean(layer_kl, axis=0)
        for i in range(self.num_layers):
            terms[f"kl/layer{i}"] = means[i]
        return terms

    # ---- likelihood (models.latent interface) ---------------------------------------------------------------
    @contextlib.contextmanager
    def reduced_precision(self, dtype="bfloat16"):
        """Inside this context (entered where the pass is traced), inference passes run the residual blocks'
        convolutions in ``dtype`` (``bfloat16``): their inputs (batch norm + nonlinearity, fused) are rounded to
        bfloat16, oneDNN multiplies in bfloat16 and sums in float32, and their outputs stay bfloat16 up to the
        gate; the residual stream, the merges, every distribution's parameters (the prior, posterior and
        likelihood convolutions) and every log-probability stay float32. Training passes are unaffected. Faster
        importance sampling on CPUs with AVX512-BF16, at a small shift of the bound (both measured in
        ``docs/performance.md``, "The LVAE's evaluation"); ``evaluate --eval_precision=bfloat16``.

        Raises:
            ValueError: a ``dtype`` other than bfloat16 or float32; bfloat16 for a model without batch norm or with
                the ``cabdcabd`` residual type (no batch norm + nonlinearity before its convolutions to round).
        """
        dtype = tf.as_dtype(dtype)
        if dtype not in (tf.bfloat16, tf.float32):
            raise ValueError(f"reduced precision is bfloat16 (or float32: none), not {dtype.name}")
        if dtype == tf.bfloat16 and (not self.batch_norm or self.residual_type == "cabdcabd"):
            raise ValueError(f"bfloat16 convolutions need batch norm and a residual type that starts with it "
                             f"(bacdbacd or bacdbac); this model has "
                             f"{'no batch norm' if not self.batch_norm else self.residual_type}")
        token = _CONV_DTYPE.set(None if dtype == tf.float32 else dtype)
        try:
            yield
        finally:
            _CONV_DTYPE.reset(token)

    def importance_proposal(self, images, labels=None) -> dict:
        """The deterministic bottom-up pass of a batch, computed once and shared by all its chunks of samples
        (:mod:`hvae.models.latent`): ``{"bu<i>": d_i (B, h_i, w_i, C)}`` bottom to top, inference mode."""
        bu = self.bottom_up(self.to_unit(images), training=False)
        return {f"bu{i}": value for i, value in enumerate(bu)}

    def importance_terms(self, images, num_samples: int, labels=None, proposal: dict | None = None,
                         seeds=None) -> dict:
        """K joint top-down posterior draws per image (see :mod:`hvae.models.latent`).

        The bottom-up pass is deterministic: it runs once on the B images (or comes from ``proposal``, see
        :meth:`importance_proposal`) and its features are tiled K times; the top-down pass runs on the K * B
        copies in inference mode (batch-norm moving averages, no dropout): each copy draws z_{L-1} ~ q(. | x),
        then every z_l ~ q(. | z_{>l}, x) top-down. ``layer_kl`` is the Monte-Carlo log q(z_l | .) -
        log p(z_l | z_{>l}) at those draws (never the analytic KL, whatever ``analytical_kl`` says),
        ``log_likelihood`` is log p(x | z) of the [0, 1]-mapped pixels. The same as running the whole inference
        pass on the tiled batch (which repeated the bottom-up pass K times; tested within float32 tolerance).

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; labels ignored.
            num_samples: K.
            proposal: the batch's :meth:`importance_proposal` (None: computed here).
            seeds: one stateless seed per layer (bottom to top), or None (TensorFlow's global random state).
        Returns:
            ``log_weights (B, K)``, ``log_likelihood (B, K)``, ``layer_kl (B, K, L)``, nats per image.
        """
        k = int(num_samples)
        proposal = proposal if proposal is not None else self.importance_proposal(images, labels)
        bu = [tile_batch(proposal[f"bu{i}"], k) for i in range(self.num_layers)]
        x01 = tile_batch(self.to_unit(images), k)
        features, infos = self.top_down(bu, training=False, seeds=seeds)
        log_likelihood = per_sample(self.likelihood_distribution(features).log_prob(x01), k)
        layer_kl = per_sample(tf.stack([info["kl_mc"] for info in infos], axis=1), k)
        return terms_from_layers(log_likelihood, layer_kl)

    def posterior_means(self, images, labels=None) -> list:
        """E_q[z_l | x] per layer, bottom to top, each layer's mean computed given the posterior means of the
        layers above: list of ``(B, z_l * h_l * w_l)`` (flattened channels-first, channel x row x column)."""
        _, _, infos = self._inference(images, training=False, mean_layers=tuple(range(self.num_layers)))
        out = []
        for info in infos:
            m = tf.transpose(info["q"].mean(), (0, 3, 1, 2))
            out.append(tf.reshape(m, (tf.shape(m)[0], -1)))
        return out

    # ---- data-dependent initialisation ----------------------------------------------------------------------
    def data_dependent_init(self, images, scale: float = DDI_SCALE) -> None:
        """boilr's ``data_dependent_init`` (spec §1.4): one eager training-mode forward pass on ``images``
        (the first training batch) during which every convolution (stochastic, merge, gate, likelihood and
        transposed convs included) is redrawn Kaiming-normal with zero bias and rescaled so that its output
        on this batch has per-channel mean 0 and standard deviation ``scale``; later layers see the corrected
        activations. Batch norms keep weight 1 and bias 0 (their moving averages take one update, as the
        original's train-mode pass); the top prior stays zeros.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``.
        """
        if not self.built:
            self.build_all()
        with _data_dependent_init(scale):
            x01, dist, _ = self._inference(images, training=True)
            dist.log_prob(x01)


# Every setting is a read-only attribute of the model, read from its config (``model.dropout`` is normalised).
for _name in LVAEConfig.field_names():
    if _name != "dropout":
        setattr(LVAE, _name, config_property(_name))
del _name


__all__ = ["LVAE", "LVAEConfig", "PRESETS", "PRESET_PREFIX", "PRESET_SOURCES", "DATASET_PRESETS", "DATA_FIELDS",
           "resolve_preset", "check_architecture", "check_settings", "downscale_factor", "mixture_mean", "padded_size",
           "Conv2d", "ConvTranspose2x", "ResidualBlock", "ResampleBlock", "Merge", "TopDownLayer", "LIKELIHOODS"]
