"""Building blocks shared by the model families.

The VLadder blocks reproduce the helpers of the original ``abstract_network.py`` (Zhao, Song & Ermon,
ICML 2017): 4x4 kernels, 'same' padding, weights N(0, 0.02^2), zero biases, then batch norm with
momentum 0.999, epsilon 1e-3, a learned offset (beta) and no scale (gamma), then the activation.
The original attached an L2 regulariser (2.5e-5) to these layers but never added it to the loss, so
no regulariser is attached here (see docs/fidelity.md).
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import layers

_MOVING_STATISTICS_ONLY = contextvars.ContextVar("moving_statistics_only", default=False)
_SYNCHRONIZED = contextvars.ContextVar("synchronized_batch_norm", default=False)


@contextlib.contextmanager
def synchronized_batch_norm(enabled: bool = True):
    """Batch-norm layers created within this context compute their training statistics over every replica's
    batch (``BatchNormalization(synchronized=True)``: an all-reduce per layer and step) instead of each replica's
    own, the original's behaviour under ``--gpus`` (``--sync_batch_norm``)."""
    token = _SYNCHRONIZED.set(bool(enabled))
    try:
        yield
    finally:
        _SYNCHRONIZED.reset(token)


@contextlib.contextmanager
def moving_statistics_only():
    """Within this context (at trace time), every :class:`NormedBlock` normalises with its moving averages,
    ``always_train_bn`` included: the model is then one fixed function of its input, as a likelihood
    evaluation needs (a batch statistic would make p(x | z) depend on the other images of the batch)."""
    token = _MOVING_STATISTICS_ONLY.set(True)
    try:
        yield
    finally:
        _MOVING_STATISTICS_ONLY.reset(token)

# TF1 contrib.layers.batch_norm defaults used by the original: decay 0.999, epsilon 1e-3, scale=False.
BN_MOMENTUM = 0.999
BN_EPSILON = 1e-3
LEAKY_SLOPE = 0.1  # the original's lrelu(x, rate=0.1)


def normal_init(stddev: float = 0.02):
    """N(0, stddev^2) initialiser of the original's conv / fc helpers."""
    return keras.initializers.RandomNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="hvae")
class BatchNormalization(layers.BatchNormalization):
    """Keras batch norm whose moving statistics stay the same on every replica.

    Keras 3 creates ``moving_mean`` / ``moving_variance`` without an aggregation, so under a ``tf.distribute``
    strategy each replica (device or worker) updates only its own copy from its own batch, the copies drift
    apart, and a checkpoint keeps the first replica's. Here they are created with ``aggregation="mean"`` (as
    ``tf.keras`` did): each step's update is the mean of the replicas' updates, identical everywhere. The
    normalisation itself still uses each replica's own batch statistics unless ``synchronized=True``
    (``--sync_batch_norm``). One device: no difference at all.
    """

    def add_weight(self, *args, **kwargs):
        if kwargs.get("name") in ("moving_mean", "moving_variance"):
            kwargs.setdefault("aggregation", "mean")
        return super().add_weight(*args, **kwargs)


def batch_norm(name: str | None = None, momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON,
               scale: bool = False) -> layers.BatchNormalization:
    """Batch norm as ``tf.contrib.layers.batch_norm`` with its defaults (momentum 0.999, epsilon 1e-3, beta only,
    no gamma), replica-consistent moving statistics (:class:`BatchNormalization`) and synchronised batch
    statistics inside :func:`synchronized_batch_norm`. Other families pass their own momentum / epsilon / scale."""
    return BatchNormalization(momentum=momentum, epsilon=epsilon, center=True, scale=scale, name=name,
                              synchronized=_SYNCHRONIZED.get())


def activation(kind: str):
    """``'lrelu'`` (leaky ReLU, slope 0.1), ``'relu'``, ``'sigmoid'`` or ``None`` (linear)."""
    if kind == "lrelu":
        return layers.LeakyReLU(negative_slope=LEAKY_SLOPE)
    if kind in ("relu", "sigmoid"):
        return layers.Activation(kind)
    if kind is None:
        return None
    raise ValueError(f"unknown activation {kind!r}")


class NormedBlock(layers.Layer):
    """A linear layer (Dense, Conv2D or Conv2DTranspose) followed by batch norm and an activation.

    The ``training`` argument of :meth:`call` selects batch statistics (True) or the moving averages
    (False). ``always_train_bn=True`` makes the batch norm use batch statistics whatever ``training``
    says: the original's MNIST z0 embedding was built without its ``is_training`` argument.

    Input/output shapes follow the wrapped layer: ``(B, n_in) -> (B, n)`` for Dense,
    ``(B, H, W, C) -> (B, H/s, W/s, n)`` for Conv2D and ``(B, H*s, W*s, n)`` for Conv2DTranspose.
    """

    def __init__(self, linear: layers.Layer, act: str, always_train_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.linear = linear
        self.bn = batch_norm()
        self.act = activation(act)
        self.always_train_bn = always_train_bn

    def call(self, x, training=False):
        if _MOVING_STATISTICS_ONLY.get():
            training = False
        elif self.always_train_bn:
            training = True
        x = self.bn(self.linear(x), training=training)
        return self.act(x) if self.act is not None else x


def conv_bn_lrelu(filters: int, stride: int, name: str | None = None) -> NormedBlock:
    """Original ``conv2d_bn_lrelu``: Conv2D(filters, 4x4, stride, same, N(0,0.02^2)) -> BN -> leaky ReLU 0.1."""
    conv = layers.Conv2D(filters, 4, strides=stride, padding="same", kernel_initializer=normal_init())
    return NormedBlock(conv, "lrelu", name=name)


def conv_t_bn_lrelu(filters: int, stride: int, name: str | None = None) -> NormedBlock:
    """Original ``conv2d_t_bn_relu``, whose activation is in fact leaky ReLU 0.1 (kept; see fidelity notes).

    Conv2DTranspose(filters, 4x4, stride, same, N(0,0.02^2)) -> BN -> leaky ReLU 0.1."""
    conv = layers.Conv2DTranspose(filters, 4, strides=stride, padding="same", kernel_initializer=normal_init())
    return NormedBlock(conv, "lrelu", name=name)


def fc_bn(units: int, act: str, always_train_bn: bool = False, name: str | None = None) -> NormedBlock:
    """Original ``fc_bn_lrelu`` (``act='lrelu'``) or ``fc_bn_relu`` (``act='relu'``): Dense(N(0,0.02^2)) -> BN -> act."""
    dense = layers.Dense(units, kernel_initializer=normal_init())
    return NormedBlock(dense, act, always_train_bn=always_train_bn, name=name)


def dense(units: int, act: str | None = None, name: str | None = None) -> layers.Dense:
    """A plain contrib ``fully_connected`` layer: Glorot-uniform weights, zero bias, no batch norm."""
    return layers.Dense(units, activation=act, name=name)


def tracked_list(owner: layers.Layer, name: str, items) -> list:
    """Store the layers ``items`` as ``owner.<name>`` (a list) so that checkpoints see them.

    Keras 3 wraps a list attribute in a ``TrackedList``, which finds its weights for ``owner.variables``
    but is invisible to ``tf.train.Checkpoint``: the weights (and batch-norm moving statistics) of layers
    held only in a list would silently be left out of every checkpoint. Each item is therefore also set as
    the attribute ``<name>_<i>``, which ``tf.train.Checkpoint`` follows (Keras counts each weight once).

    Returns:
        the list, as stored.
    """
    items = list(items)
    setattr(owner, name, items)
    for i, item in enumerate(items):
        setattr(owner, f"{name}_{i}", item)
    return getattr(owner, name)


class Sequence(layers.Layer):
    """Layers applied in order, passing ``training`` to those that take it (NormedBlock, BatchNormalization)."""

    def __init__(self, blocks, **kwargs):
        super().__init__(**kwargs)
        tracked_list(self, "blocks", blocks)

    def call(self, x, training=False):
        for block in self.blocks:
            if isinstance(block, (NormedBlock, layers.BatchNormalization, Sequence)):  # our BatchNormalization too
                x = block(x, training=training)
            else:
                x = block(x)
        return x
