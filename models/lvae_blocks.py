"""The Ladder VAE's deterministic building blocks (:mod:`hvae.models.lvae`): convolutions with PyTorch's geometry and
initialisation, boilr's data-dependent initialisation, the fused element-wise kernels of inference passes, and the
residual block (from addtt/ladder-vae-pytorch's ``lib/nn.py``: ``ResidualBlock``, ``ResidualGatedBlock``; boilr's
``data_dependent_init``).

Residual block (``residual_type``): ``bacdbacd`` = [BN -> act -> conv 3x3 -> channel dropout] x 2 (default);
``bacdbac`` (no second dropout); ``cabdcabd`` = [conv -> act -> BN -> dropout] x 2; with ``gated`` a gate
(1x1 conv to 2C, ``act(a) * sigmoid(g)``) ends the branch; output = input + branch.

Convolutions reproduce PyTorch's alignment exactly (explicit symmetric zero padding then 'valid'; the
stride-2 transposed conv is Keras' 'valid' one with its first row and column cropped), so weights of the
original can be transferred one-to-one (kernel ``(out, in, kh, kw)`` -> ``(kh, kw, in, out)``; transposed
``(in, out, kh, kw)`` -> ``(kh, kw, out, in)``). Default initialisation is PyTorch's (uniform
``+-1/sqrt(fan_in)`` weights and biases); batch norm momentum 0.9 (PyTorch 0.1), epsilon 1e-5.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from hvae.configs.lvae import NONLINEARITIES, RESIDUAL_TYPES

from .layers import tracked_list

BN_MOMENTUM = 0.9        # PyTorch BatchNorm2d momentum 0.1
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.01       # PyTorch nn.LeakyReLU default
DDI_SCALE = 0.1          # boilr data_dependent_init init_scale
DDI_EPSILON = 1e-5

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
# The residual block
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
