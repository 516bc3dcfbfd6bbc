"""The Ladder VAE's layers (:mod:`hvae.models.lvae`), built of :mod:`hvae.models.lvae_blocks`: the resampling residual
block, the merge of two feature maps, a bottom-up segment, the top-down stochastic layer and the mean of the mixture
likelihood (from addtt/ladder-vae-pytorch's ``models/lvae_layers.py``: ``ResBlockWithResampling``, ``MergeLayer``,
``SkipConnectionMerger``, ``BottomUpLayer``, ``TopDownLayer``; ``lib/stochastic.py``: ``NormalStochasticBlock2d``).

Merge (``residual``): concat -> 1x1 conv -> a residual block that is always gated; ``linear``: concat -> 1x1 conv.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from hvae.configs.lvae import MERGE_TYPES, MIXTURE_COMPONENTS

from .discretized_logistic import DiscretizedLogisticMixture, unpack_mixture_params
from .latent import injected_noise
from .layers import tracked_list
from .lvae_blocks import Conv2d, ConvTranspose2x, ResidualBlock, _channels

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="hvae")
class ResampleBlock(layers.Layer):
    """Optional resampling conv, then a :class:`ResidualBlock` (original ``ResBlockWithResampling``).

    ``mode='bottom-up'`` with ``resample``: 3x3 stride-2 conv (H/2); ``'top-down'``: 3x3 stride-2 transposed
    conv (2H). The resampling conv is outside the residual. Other arguments: :class:`ResidualBlock`.
    """

    def __init__(self, mode: str, channels: int, resample: bool = False, nonlin: str = "elu",
                 batch_norm: bool = True, block_type: str = "bacdbacd", dropout: float | None = None,
                 gated: bool = False, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("bottom-up", "top-down"):
            raise ValueError(f"mode must be 'bottom-up' or 'top-down', not {mode!r}")
        self.mode, self.channels, self.resample = mode, int(channels), bool(resample)
        self._res_args = dict(nonlin=nonlin, batch_norm=batch_norm, block_type=block_type, dropout=dropout,
                              gated=gated)
        if not resample:
            self.pre = None
        elif mode == "bottom-up":
            self.pre = Conv2d(channels, 3, strides=2, pad=1)
        else:
            self.pre = ConvTranspose2x(channels)
        self.res = ResidualBlock(channels, **self._res_args)

    def build(self, input_shape=None):
        if self.pre is not None:
            self.pre.build(_channels(self.channels))
        self.res.build()
        self.built = True

    def call(self, x, training=False):
        if self.pre is not None:
            x = self.pre(x)
        return self.res(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, channels=self.channels, resample=self.resample, **self._res_args)
        return config


@keras.saving.register_keras_serializable(package="hvae")
class Merge(layers.Layer):
    """Merge two feature maps (original ``MergeLayer`` / ``SkipConnectionMerger``).

    ``concat([a, b], channels) (2C) -> 1x1 conv to C``, then (``merge_type='residual'``) a residual block
    that is always gated. ``(B, H, W, C), (B, H, W, C) -> (B, H, W, C)``.
    """

    def __init__(self, channels: int, merge_type: str = "residual", nonlin: str = "elu", batch_norm: bool = True,
                 block_type: str = "bacdbacd", dropout: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if merge_type not in MERGE_TYPES:
            raise ValueError(f"unknown merge type {merge_type!r}; choose one of {', '.join(MERGE_TYPES)}")
        self.channels, self.merge_type = int(channels), merge_type
        self._res_args = dict(nonlin=nonlin, batch_norm=batch_norm, block_type=block_type, dropout=dropout)
        self.conv = Conv2d(channels, 1)
        self.res = ResidualBlock(channels, gated=True, **self._res_args) if merge_type == "residual" else None

    def build(self, input_shape=None):
        self.conv.build(_channels(2 * self.channels))
        if self.res is not None:
            self.res.build()
        self.built = True

    def call(self, a, b, training=False):
        h = self.conv(tf.concat([a, b], axis=-1))
        return h if self.res is None else self.res(h, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, merge_type=self.merge_type, **self._res_args)
        return config


def mixture_mean(params, num_components: int = MIXTURE_COMPONENTS):
    """The mean in [0, 1] of PixelCNN++'s discretized logistic mixture (whose ``mean()`` the original did not
    implement): per component, each colour's expectation under the linear colour conditioning given the
    expectations of the colours before it (R = mu_R, G = mu_G + c_RG R, B = mu_B + c_RB R + c_GB G), weighted by
    the mixture weights; exact for the continuous mixture, the edge bins' clipping aside; then clipped.

    Args:
        params: ``(..., H, W, 10 K)`` (:func:`hvae.models.discretized_logistic.unpack_mixture_params`).
    Returns:
        ``(..., H, W, 3)`` in [0, 1].
    """
    logits, means, _, coeffs = unpack_mixture_params(params, num_components)
    r = means[..., 0, :]
    g = means[..., 1, :] + coeffs[..., 0, :] * r
    b = means[..., 2, :] + coeffs[..., 1, :] * r + coeffs[..., 2, :] * g
    weights = tf.nn.softmax(logits, axis=-1)[..., None, :]
    x = tf.reduce_sum(tf.stack([r, g, b], axis=-2) * weights, axis=-1)
    return tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0)


class _Mixture(DiscretizedLogisticMixture):
    """The ``discr_log_mix`` likelihood: :class:`DiscretizedLogisticMixture` with ``mean()`` = :func:`mixture_mean`."""

    def _mean(self):
        return mixture_mean(self.params, self.num_components)


def _normal(params):
    """Diagonal Gaussian over a spatial latent from ``(B, h, w, 2 z)`` parameters: first half mean, second
    half log-variance; event shape ``(h, w, z)``."""
    mean, log_var = tf.split(params, 2, axis=-1)
    return tfd.Independent(tfd.Normal(loc=mean, scale=tf.exp(log_var / 2.0)), reinterpreted_batch_ndims=3)


@keras.saving.register_keras_serializable(package="hvae")
class TopDownLayer(layers.Layer):
    """One stochastic layer of the top-down pass (original ``TopDownLayer`` + ``NormalStochasticBlock2d``).

    See :mod:`hvae.models.lvae`'s docstring. ``z_dim`` latent channels; ``downsample`` transposed convs among the
    ``blocks`` residual blocks; ``top``: the layer's prior is the (possibly learned) parameter tensor of
    shape ``top_prior_shape`` = ``(h, w, 2 z_dim)`` and its posterior reads d_{L-1} directly.
    """

    def __init__(self, z_dim: int, channels: int, blocks: int, downsample: int, top: bool = False,
                 top_prior_shape=None, learn_top_prior: bool = False, skip: bool = False,
                 merge_type: str = "residual", nonlin: str = "elu", batch_norm: bool = True,
                 block_type: str = "bacdbacd", dropout: float | None = None, gated: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.z_dim, self.channels, self.blocks, self.downsample = int(z_dim), int(channels), int(blocks), int(downsample)
        self.top, self.learn_top_prior, self.skip = bool(top), bool(learn_top_prior), bool(skip)
        self.top_prior_shape = None if top_prior_shape is None else tuple(int(s) for s in top_prior_shape)
        self.merge_type = merge_type
        self._res_args = dict(nonlin=nonlin, batch_norm=batch_norm, block_type=block_type, dropout=dropout)
        self.gated = bool(gated)
        if self.top:
            self.top_prior = self.add_weight(shape=(1,) + self.top_prior_shape, initializer="zeros",
                                             trainable=self.learn_top_prior, name="top_prior_params")
            self.conv_in_p = None
            self.merge = None
            self.skip_merge = None
        else:
            self.conv_in_p = Conv2d(2 * z_dim, 3, pad=1)
            self.merge = Merge(channels, merge_type, **self._res_args)
            self.skip_merge = Merge(channels, "residual", **self._res_args) if skip else None
        self.conv_in_q = Conv2d(2 * z_dim, 3, pad=1)
        self.conv_out = Conv2d(channels, 3, pad=1)
        tracked_list(self, "deterministic", [
            ResampleBlock("top-down", channels, resample=b < self.downsample, gated=gated, **self._res_args)
            for b in range(self.blocks)])

    def build(self, input_shape=None):
        """Create the weights from the channel counts alone (no forward pass)."""
        C = self.channels
        for conv in (self.conv_in_p, self.conv_in_q):
            if conv is not None:
                conv.build(_channels(C))
        self.conv_out.build(_channels(self.z_dim))
        for merge in (self.merge, self.skip_merge):
            if merge is not None:
                merge.build()
        for block in self.deterministic:
            block.build()
        self.built = True

    def prior_params(self, h_above, n=None):
        """Prior parameters ``(B or n, h, w, 2 z)``: the top tensor (``(1, h, w, 2 z)`` in inference, broadcast
        to ``n`` images in generation), or conv(h_{i+1})."""
        if self.top:
            if n is None:
                return tf.convert_to_tensor(self.top_prior)
            return tf.broadcast_to(self.top_prior, tf.concat([[n], tf.shape(self.top_prior)[1:]], axis=0))
        return self.conv_in_p(h_above)

    def forward(self, h_above, bu_value=None, n=None, training=False, use_mean=False, constant_group=None,
                forced_z=None, analytical_kl=False, seed=None):
        """One layer of the top-down pass.

        Args:
            h_above: h_{i+1} ``(B, h, w, C)`` (None for the top layer).
            bu_value: d_i, the bottom-up feature (inference); None samples from the prior (generation).
            n: batch size of a generation pass (the top prior is broadcast to it).
            use_mean: take z = the mean of the distribution sampled from (q in inference, p in generation).
            constant_group: copy the first draw of every group of this many images over the group (the
                original's ``force_constant_output``, per row of a figure).
            forced_z: use this z instead of drawing one.
            analytical_kl: ``kl`` is the closed-form KL (else log q - log p at z).
            seed: a stateless TFP seed of the draw (None: TensorFlow's global random state).
        Returns:
            ``(h_i, info)``: h_i ``(B, h', w', C)``; info with ``z``, ``p`` (prior), ``q`` (posterior or
            None), and in inference ``log_q``, ``log_p``, ``kl_mc``, ``kl`` (``(B,)`` nats).
        """
        p_params = self.prior_params(h_above, n)
        p = _normal(p_params)
        q = None
        if bu_value is not None:
            q_input = bu_value if self.top else self.merge(bu_value, h_above, training=training)
            q = _normal(self.conv_in_q(q_input))
        dist = q if q is not None else p
        if forced_z is not None:
            z = tf.convert_to_tensor(forced_z, p_params.dtype)
        elif use_mean:
            z = dist.mean()
        else:
            eps = injected_noise.take(None) if seed is None else None   # the parity harness's noise, if given
            z = dist.sample(seed=seed) if eps is None else dist.distribution.loc + dist.distribution.scale * eps
        if constant_group:
            shape = tf.shape(z)
            grouped = tf.reshape(z, tf.concat([[-1, constant_group], shape[1:]], axis=0))
            z = tf.reshape(tf.repeat(grouped[:, :1], constant_group, axis=1), shape)
        info = {"z": z, "p": p, "q": q}
        if q is not None:
            log_q, log_p = q.log_prob(z), p.log_prob(z)
            info.update(log_q=log_q, log_p=log_p, kl_mc=log_q - log_p)
            info["kl"] = tfd.kl_divergence(q, p) if analytical_kl else info["kl_mc"]
        y = self.conv_out(z)
        if self.skip_merge is not None:
            y = self.skip_merge(y, h_above, training=training)
        for block in self.deterministic:
            y = block(y, training=training)
        return y, info

    def get_config(self):
        config = super().get_config()
        config.update(z_dim=self.z_dim, channels=self.channels, blocks=self.blocks, downsample=self.downsample,
                      top=self.top, top_prior_shape=self.top_prior_shape, learn_top_prior=self.learn_top_prior,
                      skip=self.skip, merge_type=self.merge_type, gated=self.gated, **self._res_args)
        return config


@keras.saving.register_keras_serializable(package="hvae")
class _Segment(layers.Layer):
    """A sequence of :class:`ResampleBlock` (a bottom-up layer of the original)."""

    def __init__(self, blocks, **kwargs):
        super().__init__(**kwargs)
        tracked_list(self, "blocks", blocks)

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build()
        self.built = True

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x, training=training)
        return x
