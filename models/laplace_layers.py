"""The Laplace family's networks (:mod:`hvae.models.laplace_vae`), from yookoon/VLAE's ``network.py``
(``BaseEncoder``, ``BaseDecoder``, ``compute_jacobian``) and ``experiment.py`` (``initialize_params``); spec
``lvae_and_vlae_laplace.md`` 2.3. Images are flattened to D values;

- encoder (:class:`Encoder`): Dense(D->H) ReLU, Dense(H->H) ReLU = h; mean = Dense(H->Z)(h), log-variance =
  Dense(H->Z)(h);
- decoder (:class:`Decoder`): Dense(Z->H) ReLU, Dense(H->H) ReLU, Dense(H->D) = a (the pre-output activation)
  (two hidden layers each, the original's; ``hidden_layers`` L changes that, L = 1 being Rezende & Mohamed's VAE),
  with the Gaussian output's ONE learned scalar log-variance shared by every pixel, and the decoder's transposed
  Jacobian through its ReLU masks (:meth:`Decoder.call_with_jacobian`, VLAE's linearisation);
- initialisation (``experiment.py: initialize_params``): every linear weight Kaiming-uniform with a = 2^(1/3),
  mode fan-out, i.e. U(+-sqrt(6 / ((1 + a^2) fan_out))) = ``VarianceScaling(2 / (1 + 2^(2/3)), 'fan_out',
  'uniform')`` (:func:`kaiming_fan_out`); biases PyTorch's default U(+-1/sqrt(fan_in)) (:func:`torch_bias`); or,
  with ``init='torch_default'``, PyTorch's ``nn.Linear`` weights (:func:`torch_default_kernel`).

The posterior flows (Householder, MADE / IAF) are in :mod:`hvae.models.laplace_flows`. The layers' attribute names
(``hidden0``, ``mean``, ``log_var``, ``out``) are the checkpoints' variable paths.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

KAIMING_A = 2.0 ** (1.0 / 3.0)       # initialize_params: kaiming_uniform_(a=2^(1/3), mode='fan_out')


# --------------------------------------------------------------------------------------------------
# initialisers and layers
# --------------------------------------------------------------------------------------------------
def kaiming_fan_out() -> keras.initializers.Initializer:
    """PyTorch ``kaiming_uniform_(w, a=2^(1/3), mode='fan_out')``: U(+-sqrt(6 / ((1 + a^2) fan_out)))."""
    return keras.initializers.VarianceScaling(scale=2.0 / (1.0 + KAIMING_A ** 2), mode="fan_out",
                                              distribution="uniform")


def torch_bias(fan_in: int) -> keras.initializers.Initializer:
    """PyTorch's default ``nn.Linear`` bias: U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def torch_default_kernel() -> keras.initializers.Initializer:
    """PyTorch's default ``nn.Linear`` weight, ``kaiming_uniform_(w, a=sqrt(5))`` with mode fan-in:
    U(+-1/sqrt(fan_in)) = ``VarianceScaling(1/3, 'fan_in', 'uniform')`` (what pythae's VAE starts from)."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def linear(units: int, fan_in: int, name: str, init: str = "original") -> layers.Dense:
    """The original's ``nn.Linear(fan_in, units)`` (Keras kernel ``(fan_in, units)``) with its initialisation
    (``init='original'``: :func:`kaiming_fan_out` weights) or PyTorch's default (``'torch_default'``:
    :func:`torch_default_kernel`); biases U(+-1/sqrt(fan_in)) either way."""
    kernel = torch_default_kernel() if init == "torch_default" else kaiming_fan_out()
    return layers.Dense(units, kernel_initializer=kernel, bias_initializer=torch_bias(fan_in), name=name)


def _hidden_stack(owner: layers.Layer, fan_in: int, hidden_dim: int, hidden_layers: int, init: str) -> None:
    """Give ``owner`` the attributes ``hidden0 .. hidden<L-1>``: L = ``hidden_layers`` Dense layers of
    ``hidden_dim`` units, the first from ``fan_in`` (the attribute names are the checkpoints' variable paths, so
    L = 2 keeps the original's); :func:`_hiddens` lists them in order."""
    owner.hidden_layers = int(hidden_layers)
    for i in range(owner.hidden_layers):
        setattr(owner, f"hidden{i}", linear(hidden_dim, fan_in if i == 0 else hidden_dim, f"hidden{i}", init))


def _hiddens(owner: layers.Layer) -> list:
    """``owner``'s hidden layers ``[hidden0, ..., hidden<L-1>]`` (:func:`_hidden_stack`)."""
    return [getattr(owner, f"hidden{i}") for i in range(owner.hidden_layers)]


class Encoder(layers.Layer):
    """``network.BaseEncoder``: ``x (B, D) -> (mean (B, Z), log_var (B, Z), h (B, H))``, through
    ``hidden_layers`` (the original's 2) Dense + ReLU layers of ``hidden_dim`` units."""

    def __init__(self, input_dim: int, hidden_dim: int, z_dim: int, hidden_layers: int = 2, init: str = "original",
                 **kwargs):
        super().__init__(**kwargs)
        _hidden_stack(self, input_dim, hidden_dim, hidden_layers, init)
        self.mean = linear(z_dim, hidden_dim, "mean", init)
        self.log_var = linear(z_dim, hidden_dim, "log_var", init)

    def call(self, x):
        h = x
        for hidden in _hiddens(self):
            h = tf.nn.relu(hidden(h))
        return self.mean(h), self.log_var(h), h


class Decoder(layers.Layer):
    """``network.BaseDecoder``: ``z (B, Z) -> a (B, D)``, the pre-output activation (the Gaussian mean, or the
    Bernoulli logits), through ``hidden_layers`` (the original's 2) Dense + ReLU layers of ``hidden_dim`` units.
    A Gaussian decoder owns the scalar ``log_var`` (shape ``(1,)``, initialised to 0 as the original's
    ``nn.Parameter(torch.Tensor([0.0]))`` until :meth:`hvae.models.laplace_vae.LaplaceModel.set_data_statistics`)."""

    def __init__(self, z_dim: int, hidden_dim: int, output_dim: int, gaussian: bool, hidden_layers: int = 2,
                 init: str = "original", **kwargs):
        super().__init__(**kwargs)
        _hidden_stack(self, z_dim, hidden_dim, hidden_layers, init)
        self.out = linear(output_dim, hidden_dim, "out", init)
        self.log_var = self.add_weight(shape=(1,), initializer="zeros", name="log_var") if gaussian else None

    def call(self, z):
        h = z
        for hidden in _hiddens(self):
            h = tf.nn.relu(hidden(h))
        return self.out(h)

    def call_with_jacobian(self, z):
        """``a(z) (B, D)`` and the transposed Jacobian ``J^T = (da/dz)^T (B, Z, D)`` by propagating the ReLU masks
        (``network.py: compute_jacobian``): J = W_out diag(m_L) W_L ... diag(m_1) W_1 with m_k = 1[h_k > 0] at z
        (L = ``hidden_layers``, the original's 2). The masks are constants for the gradient (piecewise-linear
        network). Cost B Z H ((L - 1) H + D) multiply-adds; about 13x faster than
        ``tf.GradientTape.batch_jacobian`` here (see ``benchmarks/vlae_cost.py``)."""
        h, jt = z, None
        for hidden in _hiddens(self):
            h = tf.nn.relu(hidden(h))
            mask = tf.cast(h > 0.0, z.dtype)[:, None, :]
            jt = (hidden.kernel[None] if jt is None else tf.matmul(jt, hidden.kernel)) * mask   # (B, Z, H)
        return self.out(h), tf.matmul(jt, self.out.kernel)                                    # (B, D), (B, Z, D)
