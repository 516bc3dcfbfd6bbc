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

Residual block (``residual_type``): ``bacdbacd`` = [BN -> act -> conv 3x3 -> channel dropout] x 2 (default);
``bacdbac`` (no second dropout); ``cabdcabd`` = [conv -> act -> BN -> dropout] x 2; with ``gated`` a gate
(1x1 conv to 2C, ``act(a) * sigmoid(g)``) ends the branch; output = input + branch. Merge (``residual``):
concat -> 1x1 conv -> a residual block that is always gated; ``linear``: concat -> 1x1 conv.

Convolutions reproduce PyTorch's alignment exactly (explicit symmetric zero padding then 'valid'; the
stride-2 transposed conv is Keras' 'valid' one with its first row and column cropped), so weights of the
original can be transferred one-to-one (kernel ``(out, in, kh, kw)`` -> ``(kh, kw, in, out)``; transposed
``(in, out, kh, kw)`` -> ``(kh, kw, out, in)``). Default initialisation is PyTorch's (uniform
``+-1/sqrt(fan_in)`` weights and biases); batch norm momentum 0.9 (PyTorch 0.1), epsilon 1e-5.

Objective (spec §1.5), per image: reconstruction R = -log p(x | z); per-layer KL = log q(z_l) - log p(z_l) at
the sampled z_l (one Monte-Carlo sample; closed form with ``analytical_kl``); ELBO = -R - sum_l KL_l; free bits
per layer and per image, ``KL_fb = sum_l mean_n max(KL_nl, lambda)`` in nats; loss = mean R + beta KL_fb
(+ the L2 weight-decay term ``weight_decay/2 * |theta|^2``, which gives PyTorch Adamax's coupled decay),
beta = min(1, (t - 1) / beta_anneal) at 1-based iteration t.

Shapes: images ``(B, H, W, C)`` in ``value_range``; latents z_l ``(B, h_l, w_l, z_dims[l])`` (bottom to top).

Configuration: :class:`LVAEConfig` (a frozen dataclass: the architecture, the objective, the data's image shape
and value range, and whether training starts with the data-dependent initialisation) and :data:`PRESETS`, the
README command lines (``LVAE_mnist_3`` ... ``LVAE_celeba_20``, ``LVAE_original_defaults``) on their datasets'
images; :meth:`LVAEConfig.from_flags` resolves a command line (a preset completed by the flags given)::

    model = LVAE.from_preset("LVAE_mnist_3", free_bits=1.0)          # built, with an override
    model = LVAE(PRESETS["LVAE_cifar10_15"].replace(n_filters=32))    # unbuilt until build_all()
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from . import objectives
from .base import HVAEModel, ModelConfig, config_property, register, register_presets, setting, zeros_like_input
from .discretized_logistic import DiscretizedLogistic, DiscretizedLogisticMixture, unpack_mixture_params
from .latent import injected_noise, per_sample, terms_from_layers, tile_batch
from .layers import tracked_list

tfd = tfp.distributions

NONLINEARITIES = ("relu", "leakyrelu", "elu", "selu")
RESIDUAL_TYPES = ("bacdbacd", "bacdbac", "cabdcabd")
MERGE_TYPES = ("residual", "linear")
LIKELIHOODS = ("bernoulli", "gaussian", "discr_log", "discr_log_mix")
DATA_DENSITY = {"bernoulli": "bernoulli", "gaussian": "gaussian", "discr_log": "discretized_logistic",
                "discr_log_mix": "discretized_logistic_mixture"}
MIXTURE_COMPONENTS = 10
BN_MOMENTUM = 0.9        # PyTorch BatchNorm2d momentum 0.1
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.01       # PyTorch nn.LeakyReLU default
DDI_SCALE = 0.1          # boilr data_dependent_init init_scale
DDI_EPSILON = 1e-5
FREE_BITS_EPSILON = 1e-6  # boilr free_bits_kl: below this, no free bits

_DDI = contextvars.ContextVar("lvae_data_dependent_init", default=None)
_CONV_DTYPE = contextvars.ContextVar("lvae_residual_convolution_dtype", default=None)


@contextlib.contextmanager
def _data_dependent_init(scale: float):
    token = _DDI.set(float(scale))
    try:
        yield
    finally:
        _DDI.reset(token)


# In inference passes (evaluation, generation, monitoring) the residual blocks' element-wise chains run as one XLA
# kernel each (nested XLA clusters inside the tf.function pass; the convolutions stay oneDNN's): the same arithmetic
# up to float32 rounding (tests/test_lvae.py compares both paths), faster importance sampling (measured in
# docs/performance.md). Training passes keep Keras' ops: fused there, the step was no faster.
FUSED_ELEMENTWISE = True


@functools.lru_cache(maxsize=None)
def _gated_residual(nonlin: str):
    """``x + act(a) * sigmoid(g)`` with ``(a, g) = split(y)``: the gate and the residual sum in one kernel."""
    act = _activation(nonlin)

    def fused(x, y):
        a, g = tf.split(tf.cast(y, x.dtype), 2, axis=-1)
        return x + act(a) * tf.sigmoid(g)
    return tf.function(fused, jit_compile=True, autograph=False, reduce_retracing=True)


@functools.lru_cache(maxsize=None)
def _affine_activation(nonlin: str):
    """``act(h * scale + offset)`` in float32, cast to ``out_dtype``, in one kernel."""
    act = _activation(nonlin)

    def fused(h, scale, offset, out_dtype):
        return tf.cast(act(tf.cast(h, scale.dtype) * scale + offset), out_dtype)
    return tf.function(fused, jit_compile=True, autograph=False, reduce_retracing=True)


def _batch_norm_activation(bn, nonlin: str, h, out_dtype):
    """``act(bn(h))`` of a batch norm in inference mode (moving statistics) in one kernel, as
    ``tf.nn.batch_normalization`` computes it: ``h * s + (beta - mean * s)``, ``s = gamma / sqrt(var + eps)``."""
    scale = tf.math.rsqrt(bn.moving_variance + bn.epsilon) * bn.gamma
    offset = bn.beta - bn.moving_mean * scale
    return _affine_activation(nonlin)(h, scale, offset, out_dtype)


def _convolve(conv, h):
    """``conv(h)``; a bfloat16 ``h`` (inside :meth:`LVAE.reduced_precision`) goes to the layer's ``call`` directly,
    as Keras' ``__call__`` would cast it back to the layer's float32."""
    return conv.call(h) if h.dtype == tf.bfloat16 else conv(h)


def _activation(name: str):
    """The nonlinearity ``name`` as a function (PyTorch defaults: ELU alpha 1, LeakyReLU slope 0.01)."""
    if name == "elu":
        return keras.activations.elu
    if name == "relu":
        return keras.activations.relu
    if name == "selu":
        return keras.activations.selu
    if name == "leakyrelu":
        return lambda x: keras.activations.leaky_relu(x, negative_slope=LEAKY_SLOPE)
    raise ValueError(f"unknown nonlinearity {name!r}; choose one of {', '.join(NONLINEARITIES)}")


# --------------------------------------------------------------------------------------------------
# Convolutions with PyTorch's geometry, PyTorch's default initialisation and data-dependent initialisation
# --------------------------------------------------------------------------------------------------
class _TorchConvMixin:
    """PyTorch's default initialisation and boilr's data-dependent initialisation for a Keras conv.

    Default: kernel and bias uniform in +-1/sqrt(fan_in) (``kaiming_uniform_(a=sqrt(5))`` and the bias rule
    of ``_ConvNd.reset_parameters``). Inside :func:`_data_dependent_init` (boilr ``data_dependent_init``, spec
    §1.4) every call first redraws the kernel Kaiming-normal (fan_in, gain sqrt 2, untruncated) with a zero
    bias, then rescales kernel and bias so that this batch's output has, per channel, mean 0 and standard
    deviation ``scale`` (unbiased variance + 1e-5), and returns the output normalised the same way.
    """

    _out_axis = -1  # output-channel axis of the kernel

    def _fan_in(self, input_shape) -> int:
        raise NotImplementedError

    def _torch_initialisers(self, input_shape) -> None:
        bound = 1.0 / math.sqrt(self._fan_in(input_shape))
        self.kernel_initializer = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
        self.bias_initializer = keras.initializers.RandomUniform(-bound, bound)

    def _ddi_reinitialise(self) -> None:
        he = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")
        self.kernel.assign(he(self.kernel.shape, self.kernel.dtype))
        self.bias.assign(tf.zeros_like(self.bias))

    def _ddi_rescale(self, y, scale: float):
        mean, var = tf.nn.moments(y, axes=[0, 1, 2])
        n = tf.cast(tf.reduce_prod(tf.shape(y)[:3]), y.dtype)
        var = var * n / tf.maximum(n - 1.0, 1.0)  # unbiased, as torch.var
        s = tf.sqrt(var + DDI_EPSILON)
        self.bias.assign(scale * (self.bias - mean) / s)
        shape = [1] * len(self.kernel.shape)
        shape[self._out_axis] = -1
        self.kernel.assign(self.kernel * tf.reshape(scale / s, shape))
        return (y - mean) * (scale / s)


@keras.saving.register_keras_serializable(package="hvae")
class Conv2d(_TorchConvMixin, layers.Conv2D):
    """PyTorch ``nn.Conv2d``: symmetric zero padding ``pad`` then a 'valid' convolution, with bias.

    ``(B, H, W, C_in) -> (B, (H + 2 pad - k) // stride + 1, ..., filters)``.
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, pad: int = 0, **kwargs):
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, strides=strides, padding="valid", **kwargs)
        self.pad = int(pad)

    def _fan_in(self, input_shape) -> int:
        return int(input_shape[-1]) * int(np.prod(self.kernel_size))

    def build(self, input_shape):
        self._torch_initialisers(input_shape)
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] = padded[axis] + 2 * self.pad
        super().build(tuple(padded))

    def call(self, inputs):
        if self.pad:
            p = self.pad
            inputs = tf.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        scale = _DDI.get()
        if inputs.dtype != self.kernel.dtype and scale is None:
            # a bfloat16 input (LVAE.reduced_precision): bfloat16 multiplies, float32 sums (oneDNN), bfloat16 out
            low = inputs.dtype
            y = tf.nn.conv2d(inputs, tf.cast(self.kernel, low), self.strides, "VALID")
            return tf.nn.bias_add(y, tf.cast(self.bias, low))
        if scale is None:
            return super().call(inputs)
        self._ddi_reinitialise()
        return self._ddi_rescale(super().call(inputs), scale)

    def compute_output_shape(self, input_shape):
        padded = list(input_shape)
        for axis in (1, 2):
            if padded[axis] is not None:
                padded[axis] = padded[axis] + 2 * self.pad
        return super().compute_output_shape(tuple(padded))

    def get_config(self):
        config = super().get_config()
        config.update(pad=self.pad)
        return config


@keras.saving.register_keras_serializable(package="hvae")
class ConvTranspose2x(_TorchConvMixin, layers.Conv2DTranspose):
    """PyTorch ``nn.ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)``: doubles H and W.

    Keras' 'valid' transposed conv gives ``2H + 1`` rows with output row ``o = 2 i + k``; PyTorch's is the
    same sum at ``o = 2 i + k - 1``, i.e. the 'valid' output without its first row and column.
    ``(B, H, W, C_in) -> (B, 2H, 2W, filters)``.
    """

    _out_axis = -2  # Keras transposed kernels are (kh, kw, out, in)

    def __init__(self, filters: int, **kwargs):
        for key in ("padding", "kernel_size", "strides"):
            kwargs.pop(key, None)
        super().__init__(filters, 3, strides=2, padding="valid", **kwargs)

    def _fan_in(self, input_shape) -> int:
        return self.filters * int(np.prod(self.kernel_size))  # PyTorch: weight.size(1) * k * k

    def build(self, input_shape):
        self._torch_initialisers(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        scale = _DDI.get()
        if scale is not None:
            self._ddi_reinitialise()
        y = super().call(inputs)[:, 1:, 1:, :]
        return y if scale is None else self._ddi_rescale(y, scale)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)


def _channels(c: int) -> tuple:
    """A 4-D input shape with only the channels known: kernels and batch norms depend on nothing else."""
    return (None, None, None, int(c))


def _batch_norm():
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)


# --------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="hvae")
class ResidualBlock(layers.Layer):
    """``out = x + branch(x)`` (original ``lib/nn.py: ResidualBlock``), channels unchanged.

    Args:
        channels: C (input = output channels).
        nonlin: ``elu``, ``relu``, ``leakyrelu`` or ``selu``.
        batch_norm: include the batch norms.
        block_type: ``bacdbacd``, ``bacdbac`` or ``cabdcabd`` (b = batch norm, a = activation,
            c = 3x3 conv, d = channel dropout).
        dropout: channel-dropout rate, or None (no dropout layer at all).
        gated: end the branch with the gate ``act(a) * sigmoid(g)``, (a, g) = 1x1 conv to 2C.

    ``(B, H, W, C) -> (B, H, W, C)``.
    """

    def __init__(self, channels: int, nonlin: str = "elu", batch_norm: bool = True, block_type: str = "bacdbacd",
                 dropout: float | None = None, gated: bool = False, **kwargs):
        super().__init__(**kwargs)
        if block_type not in RESIDUAL_TYPES:
            raise ValueError(f"unknown residual block type {block_type!r}; choose one of {', '.join(RESIDUAL_TYPES)}")
        self.channels, self.nonlin, self.batch_norm = int(channels), nonlin, bool(batch_norm)
        self.block_type, self.dropout, self.gated = block_type, dropout, bool(gated)
        self._act = _activation(nonlin)
        plan, ops = [], []
        for i in range(2):
            unit = "cabd" if block_type == "cabdcabd" else "bacd"
            for op in unit:
                if op == "b" and not batch_norm:
                    continue
                if op == "d" and (dropout is None or (block_type == "bacdbac" and i == 1)):
                    continue
                plan.append(op)
                if op == "b":
                    ops.append(_batch_norm())
                elif op == "c":
                    ops.append(Conv2d(channels, 3, pad=1))
                elif op == "d":
                    ops.append(layers.SpatialDropout2D(dropout))
        self._plan = "".join(plan)
        tracked_list(self, "ops", ops)
        self.gate = Conv2d(2 * channels, 1) if gated else None

    def build(self, input_shape=None):
        """Create the weights from the channel count alone (no forward pass)."""
        for op in self.ops:
            if not isinstance(op, layers.SpatialDropout2D):
                op.build(_channels(self.channels))
        if self.gate is not None:
            self.gate.build(_channels(self.channels))
        self.built = True

    def call(self, x, training=False):
        h, ops, plan = x, list(self.ops), self._plan
        fused = FUSED_ELEMENTWISE and not training and not _DDI.get()
        i = j = 0
        while i < len(plan):
            op = plan[i]
            if op == "b" and fused and plan[i + 1:i + 2] == "a":
                h = _batch_norm_activation(ops[j], self.nonlin, h, _CONV_DTYPE.get() or h.dtype)
                i, j = i + 2, j + 1
                continue
            if op == "a":
                h = self._act(h)
            elif op == "c":
                h = _convolve(ops[j], h)
            elif op == "b" or training:
                h = ops[j](h, training=training)
            # (channel dropout is the identity in inference mode)
            j += op != "a"
            i += 1
        if self.gate is None:
            return x + tf.cast(h, x.dtype)
        if fused:
            return _gated_residual(self.nonlin)(x, _convolve(self.gate, h))
        a, g = tf.split(tf.cast(self.gate(h), x.dtype), 2, axis=-1)
        return x + self._act(a) * tf.sigmoid(g)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, nonlin=self.nonlin, batch_norm=self.batch_norm,
                      block_type=self.block_type, dropout=self.dropout, gated=self.gated)
        return config


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
        params: ``(..., H, W, 10 K)`` (:func:`models.discretized_logistic.unpack_mixture_params`).
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

    See the module docstring. ``z_dim`` latent channels; ``downsample`` transposed convs among the
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


# --------------------------------------------------------------------------------------------------
# Geometry and checks
# --------------------------------------------------------------------------------------------------
def downscale_factor(downsample, initial_downscaling: bool = True) -> int:
    """F = 2^sum(downsample), x 2 with the initial stride-2 stem."""
    return 2 ** int(sum(downsample)) * (2 if initial_downscaling else 1)


def padded_size(size: int, factor: int) -> int:
    """The smallest multiple of ``factor`` that is >= ``size`` (original ``get_padded_size``)."""
    return ((int(size) - 1) // factor + 1) * factor


def check_architecture(image_shape, z_dims, downsample, blocks_per_layer: int, n_filters: int = 64,
                       initial_downscaling: bool = True, free_bits: float = 0.0, dropout=None,
                       likelihood: str = "bernoulli", nonlin: str = "elu", residual_type: str = "bacdbacd",
                       merge_layers: str = "residual", beta_anneal: int = 0, weight_decay: float = 0.0) -> None:
    """Check a configuration before building it (:meth:`LVAEConfig.validate`; the messages name the command
    line's flags). ``image_shape`` ``(H, W, C)``, or None before the data is known: the checks that need the
    image (the downscale factor against its size, the mixture's RGB channels) are then left out.

    Raises:
        ValueError: one line naming the problem: ``z_dims`` and ``downsample`` of different lengths, an empty
            or non-positive ``z_dims``, a negative downsample entry or one larger than ``blocks_per_layer``,
            a downscale factor larger than the image (the top feature map would be smaller than one pixel of
            the image), negative free bits, a dropout outside [0, 1), an unknown choice, or a likelihood that
            does not fit the image's channels (the mixture of logistics is RGB only).
    """
    z_dims, downsample = list(z_dims), list(downsample)
    if not z_dims:
        raise ValueError("--zdims needs at least one entry (latent channels per stochastic layer, bottom to top)")
    if len(z_dims) != len(downsample):
        raise ValueError(f"--zdims has {len(z_dims)} entries but --downsample has {len(downsample)}: give one "
                         f"downsampling count per stochastic layer")
    if any(int(z) < 1 for z in z_dims):
        raise ValueError(f"--zdims entries must be at least 1, got {' '.join(map(str, z_dims))}")
    if int(blocks_per_layer) < 1:
        raise ValueError(f"--blocks_per_layer must be at least 1, got {blocks_per_layer}")
    if int(n_filters) < 1:
        raise ValueError(f"--nfilters must be at least 1, got {n_filters}")
    for i, d in enumerate(downsample):
        if int(d) < 0:
            raise ValueError(f"--downsample entries must be 0 or more, got {d} for layer {i}")
        if int(d) > int(blocks_per_layer):
            raise ValueError(f"--downsample {d} for layer {i} exceeds --blocks_per_layer {blocks_per_layer}: each "
                             f"downsampling needs its own residual block")
    h, w, c = (None, None, None) if image_shape is None else (int(s) for s in image_shape)
    factor = downscale_factor(downsample, initial_downscaling)
    if image_shape is not None and (factor > h or factor > w):
        allowed = int(math.log2(min(h, w))) - (1 if initial_downscaling else 0)
        raise ValueError(f"--downsample {' '.join(map(str, downsample))} (overall factor {factor}) leaves the top "
                         f"feature map smaller than one pixel of the {h}x{w} image; the downsample entries may add up "
                         f"to at most {max(allowed, 0)}")
    if not free_bits >= 0:
        raise ValueError(f"--freebits must be 0 or more (nats per layer and image), got {free_bits}")
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {dropout}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
    if likelihood == "discr_log_mix" and image_shape is not None and c != 3:
        raise ValueError(f"--likelihood discr_log_mix (PixelCNN++ mixture of logistics) models RGB images, but the "
                         f"data has {c} channel(s); use bernoulli, gaussian or discr_log")
    if nonlin not in NONLINEARITIES:
        raise ValueError(f"unknown nonlinearity {nonlin!r}; choose one of {', '.join(NONLINEARITIES)}")
    if residual_type not in RESIDUAL_TYPES:
        raise ValueError(f"unknown residual block type {residual_type!r}; choose one of {', '.join(RESIDUAL_TYPES)}")
    if merge_layers not in MERGE_TYPES:
        raise ValueError(f"unknown merge type {merge_layers!r}; choose one of {', '.join(MERGE_TYPES)}")
    if int(beta_anneal) < 0:
        raise ValueError(f"--beta_anneal must be 0 (off) or more steps, got {beta_anneal}")
    if not weight_decay >= 0:
        raise ValueError(f"--weight_decay must be 0 or more, got {weight_decay}")


_ARCHITECTURE_ARGS = ("z_dims", "downsample", "blocks_per_layer", "n_filters", "initial_downscaling", "free_bits",
                      "dropout", "likelihood", "nonlin", "residual_type", "merge_layers", "beta_anneal", "weight_decay")


def check_settings(settings, image_shape=None) -> None:
    """:func:`check_architecture` of a dict of :class:`LVAEConfig` fields (the image-dependent checks only with
    ``image_shape``), e.g. a preset completed by command-line flags before the data is read.

    Raises:
        ValueError: one line, see :func:`check_architecture`.
    """
    check_architecture(image_shape, **{key: settings[key] for key in _ARCHITECTURE_ARGS})


# --------------------------------------------------------------------------------------------------
# The typed configuration and the README presets
# --------------------------------------------------------------------------------------------------
_INT_TUPLES = ("image_shape", "z_dims", "downsample")
_INTS = ("blocks_per_layer", "n_filters", "beta_anneal")
_FLOATS = ("free_bits", "weight_decay")
_BOOLS = ("batch_norm", "skip", "gated", "learn_top_prior", "analytical_kl", "initial_downscaling", "data_dep_init")
# Fields set from the data, not from a command-line flag.
DATA_FIELDS = ("image_shape", "value_range")


def _coerce(name: str, value, convert):
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"LVAEConfig.{name} cannot be {value!r}") from None


@dataclasses.dataclass(frozen=True)
class LVAEConfig(ModelConfig):
    """Everything that defines an :class:`LVAE` and its objective (the constructor arguments of the original's
    ``main.py`` / ``models/lvae.py``; defaults: the original's argparse defaults on 28x28 binary MNIST, i.e.
    the preset ``LVAE_original_defaults``). Field names are the keys of the model's ``get_config`` (earlier
    versions wrote the same keys, without ``data_dep_init``, which then takes its default). ``flag`` metadata
    gives today's command-line spelling where it differs; a flag spelled ``--no_<...>`` is the field's
    negation (``--no_bn`` sets ``batch_norm=False``). ``image_shape`` and ``value_range`` come from the data
    (:data:`DATA_FIELDS`). Numbers and lists are normalised (ints, floats, tuples) on construction.

    Raises:
        ValueError: one line naming the setting (:func:`check_architecture`; a value outside its choices).
    """

    image_shape: tuple = setting((28, 28, 1), help="(H, W, C) of the images (from the data)")
    z_dims: tuple = setting((32, 32, 32), flag="--zdims",
                            help="latent channels per stochastic layer, bottom to top (its length = number of layers)")
    downsample: tuple = setting((1, 1, 1), help="x2 downsamplings of each layer's bottom-up segment, bottom to "
                                                "top (one per layer)")
    blocks_per_layer: int = setting(2, help="residual blocks per segment (presets 4; original 2)")
    n_filters: int = setting(64, flag="--nfilters", help="channels of every deterministic feature map (64)")
    batch_norm: bool = setting(True, flag="--no_bn", help="batch norm in the residual blocks (--no_bn: off)")
    skip: bool = setting(False, help="skip connections in the generative path")
    gated: bool = setting(False, help="gated residual blocks (the stem's never; merge blocks always)")
    learn_top_prior: bool = setting(False, help="learn the top layer's prior (else fixed at N(0, I))")
    residual_type: str = setting("bacdbacd", choices=RESIDUAL_TYPES,
                                 help="residual block: b batch norm, a activation, c conv, d dropout (bacdbacd)")
    merge_layers: str = setting("residual", choices=MERGE_TYPES,
                                help="merge of bottom-up and top-down features (residual)")
    nonlin: str = setting("elu", choices=NONLINEARITIES, help="nonlinearity (elu)")
    dropout: float | None = setting(0.2, help="channel-dropout rate in the residual blocks (None or < 1e-5: none)")
    free_bits: float = setting(0.0, flag="--freebits", help="free bits in nats, per layer and per image (presets: "
                                                            "0.5 up to 6 layers, 1.0 above)")
    analytical_kl: bool = setting(False, help="closed-form KL in the training objective (evaluation stays Monte Carlo)")
    initial_downscaling: bool = setting(True, flag="--no_initial_downscaling",
                                        help="the stride-2 stem and the final x2 upsampling "
                                             "(--no_initial_downscaling: off)")
    likelihood: str = setting("bernoulli", choices=LIKELIHOODS,
                              help="p(x|z): bernoulli (binary data), gaussian, discr_log, discr_log_mix (RGB)")
    value_range: tuple = setting((0.0, 1.0), help="(lo, hi) of the images (from the data); mapped to [0, 1] inside")
    beta_anneal: int = setting(0, help="steps of linear KL warm-up 0 -> 1 (0: off)")
    weight_decay: float = setting(0.0, help="L2 weight decay, PyTorch Adamax's coupled form (0)")
    data_dep_init: bool = setting(False, help="data-dependent initialisation on the first training batch of a "
                                              "fresh run (LVAE.data_dependent_init; the trainer runs it)")

    def __post_init__(self):
        values = {}
        for name in _INT_TUPLES:
            values[name] = _coerce(name, getattr(self, name), lambda v: tuple(int(x) for x in v))
        values["value_range"] = _coerce("value_range", self.value_range, lambda v: tuple(float(x) for x in v))
        for name in _INTS:
            values[name] = _coerce(name, getattr(self, name), int)
        for name in _FLOATS:
            values[name] = _coerce(name, getattr(self, name), float)
        for name in _BOOLS:
            values[name] = bool(getattr(self, name))
        if self.dropout is not None:
            values["dropout"] = _coerce("dropout", self.dropout, float)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        super().__post_init__()

    def validate(self) -> None:
        """:func:`check_architecture` on the image shape and the settings."""
        if len(self.value_range) != 2 or not self.value_range[1] > self.value_range[0]:
            raise ValueError(f"LVAEConfig.value_range must be (lo, hi) with hi > lo, got {self.value_range}")
        if len(self.image_shape) != 3:
            raise ValueError(f"LVAEConfig.image_shape must be (H, W, C), got {self.image_shape}")
        check_settings(self.to_dict(), self.image_shape)

    # ---- the command line's spelling (hvae/lvae_task.py) -------------------------------------------------
    @classmethod
    def flag_overrides(cls, flags: dict) -> dict:
        """The fields set by command-line values ``flags`` (keyed by the flags' ``dest``: ``zdims``, ``no_bn``,
        ...; a value of None means not given): ``{field: value}``, ``--no_<...>`` flags negated. The data
        fields (:data:`DATA_FIELDS`) and other keys are ignored."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.name in DATA_FIELDS:
                continue
            dest = (f.metadata.get("flag") or f"--{f.name}").lstrip("-")
            value = flags.get(dest)
            if value is None:
                continue
            out[f.name] = (not value) if dest.startswith("no_") else value
        return out

    def flag_values(self) -> dict:
        """The inverse of :meth:`flag_overrides`: ``{flag dest: value}`` of every field with a flag (lists for
        tuples), as ``config.json`` records them."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in DATA_FIELDS:
                continue
            dest = (f.metadata.get("flag") or f"--{f.name}").lstrip("-")
            value = self.to_dict()[f.name]
            out[dest] = (not value) if dest.startswith("no_") else value
        return out

    @classmethod
    def check_flags(cls, flags: dict) -> str:
        """What can be checked of a command line before the data is read (the image-dependent checks follow in
        :meth:`from_flags`): the preset of ``flags`` (:func:`resolve_preset` by ``flags["dataset"]``) completed by
        the flags given. Returns the preset's full name.

        Raises:
            ValueError: ``--zdims`` given without ``--downsample`` and of another length than the preset's
                downsample list; a setting :func:`check_settings` rejects (a downsample entry larger than
                ``--blocks_per_layer`` or negative, negative free bits, dropout outside [0, 1), ...).
        """
        name = resolve_preset(flags.get("preset"), flags.get("dataset") or "")
        given = cls.flag_overrides(flags)
        settings = {**PRESETS[name].to_dict(), **given}
        zdims, downsample = settings["z_dims"], settings["downsample"]
        if "z_dims" in given and "downsample" not in given and len(zdims) != len(downsample):
            raise ValueError(f"--zdims has {len(zdims)} entries but preset {name[len(PRESET_PREFIX):]}'s downsample "
                             f"list has {len(downsample)} ({' '.join(map(str, downsample))}): give --downsample too, "
                             f"one entry per layer")
        check_settings(settings)
        return name

    @classmethod
    def from_flags(cls, flags: dict, image_shape=None, value_range=None) -> LVAEConfig:
        """The configuration of a command line: the preset ``flags["preset"]`` (default by
        ``flags["dataset"]`` and ``image_shape``, :func:`resolve_preset`) with the flags given
        (:meth:`flag_overrides`), on the data's ``image_shape`` / ``value_range`` when given. Without
        ``--likelihood``: Bernoulli for one-channel images, the mixture of logistics for RGB (by
        ``image_shape``; without it, the preset's).

        Raises:
            ValueError: an unknown preset, or a configuration :meth:`validate` rejects.
        """
        name = resolve_preset(flags.get("preset"), flags.get("dataset") or "", image_shape)
        overrides = cls.flag_overrides(flags)
        if image_shape is not None:
            overrides["image_shape"] = tuple(image_shape)
            if flags.get("likelihood") is None:
                overrides["likelihood"] = "discr_log_mix" if tuple(image_shape)[-1] == 3 else "bernoulli"
        if value_range is not None:
            overrides["value_range"] = tuple(value_range)
        return PRESETS[name].replace(**overrides)


# The README configurations (addtt/ladder-vae-pytorch), each on its dataset's images as this project's loaders
# give them: MNIST 28x28x1 in [0, 1] (Bernoulli), CIFAR-10 / SVHN 32x32x3 in [0, 1] and CelebA 64x64x3 in
# [-1, 1] (the 10-component discretized logistic mixture).
ORIGINAL = LVAEConfig()
README = ORIGINAL.replace(blocks_per_layer=4, skip=True, gated=True, learn_top_prior=True, data_dep_init=True)
_CIFAR = README.replace(image_shape=(32, 32, 3), likelihood="discr_log_mix")
_CELEBA = _CIFAR.replace(image_shape=(64, 64, 3), value_range=(-1.0, 1.0))
_DOWNSAMPLE_15 = (0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
PRESETS: dict = register_presets({
    "LVAE_mnist_3": README.replace(z_dims=(32,) * 3, downsample=(1, 1, 1), free_bits=0.5),
    "LVAE_mnist_6": README.replace(z_dims=(32,) * 6, downsample=(0, 1, 0, 1, 0, 1), free_bits=0.5),
    "LVAE_mnist_12": README.replace(z_dims=(32,) * 12, downsample=(0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0), free_bits=1.0),
    "LVAE_cifar10_3": _CIFAR.replace(z_dims=(32,) * 3, downsample=(1, 1, 1), free_bits=0.5),
    "LVAE_cifar10_6": _CIFAR.replace(z_dims=(32,) * 6, downsample=(0, 1, 0, 1, 0, 1), free_bits=0.5),
    "LVAE_cifar10_15": _CIFAR.replace(z_dims=(32,) * 15, downsample=_DOWNSAMPLE_15, free_bits=1.0),
    "LVAE_svhn_15": _CIFAR.replace(z_dims=(32,) * 15, downsample=_DOWNSAMPLE_15, free_bits=1.0),
    "LVAE_celeba_20": _CELEBA.replace(z_dims=(32,) * 20, downsample=(0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                                                                     0, 0, 0), free_bits=1.0),
    "LVAE_original_defaults": ORIGINAL,
})
PRESET_SOURCES = {
    "LVAE_mnist_3": "current README command (git HEAD a27d45c)",
    "LVAE_mnist_6": "README table row (6 layers); downsample list derived from the README recipe (not in the "
                    "repository or its history): one layer at 16x16, two at 8x8, two at 4x4, one at 2x2",
    "LVAE_mnist_12": "README command before commit cc3bf68",
    "LVAE_cifar10_3": "README recipe for the CIFAR-10 3-layer row (the MNIST 3-layer list on 32x32)",
    "LVAE_cifar10_6": "README recipe for the CIFAR-10 6-layer row (derived downsample list, as mnist_6)",
    "LVAE_cifar10_15": "README recipe (15 layers, 3 downsamplings after the stem, ~equal layers per resolution: "
                       "4/4/4/3; the exact list is not stated)",
    "LVAE_svhn_15": "README recipe (as cifar10_15)",
    "LVAE_celeba_20": "README recipe (20 layers, 4 downsamplings after the stem, 4 layers per resolution; the exact "
                      "list is not stated)",
    "LVAE_original_defaults": "the original's argparse defaults, without the README flags",
}
# The preset a dataset trains without --preset (by name; else by image shape, resolve_preset).
DATASET_PRESETS = {"binarized_mnist": "LVAE_mnist_3", "mnist": "LVAE_mnist_3", "digits": "LVAE_mnist_3",
                   "cifar10": "LVAE_cifar10_15", "svhn": "LVAE_svhn_15", "celebA": "LVAE_celeba_20",
                   "lsun": "LVAE_celeba_20"}
PRESET_PREFIX = "LVAE_"


def resolve_preset(name=None, dataset: str = "", image_shape=None) -> str:
    """The full name (``LVAE_<...>``) of preset ``name`` (the ``LVAE_`` prefix may be left out, as
    ``--preset`` spells it), or, without one, of the preset a dataset gets: by name
    (:data:`DATASET_PRESETS`), else by image shape (small grey images -> mnist_3, small colour -> cifar10_15,
    larger -> celeba_20).

    Raises:
        ValueError: an unknown preset (the message lists them).
    """
    if name:
        full = name if name.startswith(PRESET_PREFIX) else PRESET_PREFIX + name
        if full not in PRESETS:
            raise ValueError(f"unknown LVAE preset {name!r}; presets: {', '.join(PRESETS)}")
        return full
    if dataset in DATASET_PRESETS:
        return DATASET_PRESETS[dataset]
    if image_shape is not None:
        h, w, c = image_shape
        if min(h, w) <= 32:
            return "LVAE_mnist_3" if c == 1 else "LVAE_cifar10_15"
    return "LVAE_celeba_20"


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------
@register(LVAEConfig)
class LVAE(HVAEModel):
    """The Ladder VAE of addtt/ladder-vae-pytorch (see the module docstring).

    ``LVAE(config)`` with an :class:`LVAEConfig` (None: its defaults, the original's argparse defaults on
    28x28 MNIST); ``LVAE.from_preset("LVAE_mnist_3", free_bits=1.0)`` builds a README configuration with
    overrides. A Keras model (:class:`models.base.HVAEModel`): ``compile(optimizer=keras.optimizers.Adamax(3e-4))``
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
        (:mod:`models.latent`): ``{"bu<i>": d_i (B, h_i, w_i, C)}`` bottom to top, inference mode."""
        bu = self.bottom_up(self.to_unit(images), training=False)
        return {f"bu{i}": value for i, value in enumerate(bu)}

    def importance_terms(self, images, num_samples: int, labels=None, proposal: dict | None = None,
                         seeds=None) -> dict:
        """K joint top-down posterior draws per image (see :mod:`models.latent`).

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


# Every setting is a read-only attribute of the model, read from its config (``model.dropout`` is normalised).
for _name in LVAEConfig.field_names():
    if _name != "dropout":
        setattr(LVAE, _name, config_property(_name))
del _name

__all__ = ["LVAE", "LVAEConfig", "PRESETS", "PRESET_PREFIX", "PRESET_SOURCES", "DATASET_PRESETS", "DATA_FIELDS",
           "resolve_preset", "check_architecture", "check_settings", "downscale_factor", "mixture_mean", "padded_size",
           "Conv2d", "ConvTranspose2x", "ResidualBlock", "ResampleBlock", "Merge", "TopDownLayer", "LIKELIHOODS"]
