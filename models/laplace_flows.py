"""The Laplace family's posterior flows (:mod:`hvae.models.laplace_vae`'s ``HF`` and ``IAF``), from yookoon/VLAE's
``network.py`` (``HouseHolderFlow``, ``MADE``); spec ``lvae_and_vlae_laplace.md`` 2.5:

- :class:`HouseholderFlow` and :func:`reflect`: K Householder reflections of the encoder's Gaussian, their vectors
  computed from the encoder's hidden layer h (Tomczak & Welling 2016; volume-preserving);
- :class:`MADE`: the masked autoregressive network of one inverse autoregressive flow step (Germain et al. 2015;
  Kingma et al. 2016), with the original's masks (``legacy``) or masks that let the context h in;
- :class:`FlowPosterior`: q(z_K | x) of a non-linear flow as a ``tfp`` distribution (the IAF's, for ``encode``).

The layers' attribute names (``flows``, ``W``, ``V_m``, ...) are the checkpoints' variable paths.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from .laplace_layers import kaiming_fan_out, linear

tfd = tfp.distributions
tfb = tfp.bijectors


class HouseholderFlow(layers.Layer):
    """``network.HouseHolderFlow``: v_1 = Dense(H->Z)(h), v_k = Dense(Z->Z)(v_{k-1}) (no nonlinearity);
    H_k = I - 2 v_k v_k^T / |v_k|^2; z_K = H_K ... H_1 z_0 (Tomczak & Welling 2016). ``vectors(h)`` gives the
    ``K`` vectors ``(K, B, Z)``; :func:`reflect` applies them."""

    def __init__(self, hidden_dim: int, z_dim: int, n_flow: int, **kwargs):
        super().__init__(**kwargs)
        from .layers import tracked_list

        tracked_list(self, "flows", [linear(z_dim, hidden_dim if i == 0 else z_dim, f"flow{i}")
                                     for i in range(n_flow)])

    def call(self, h):
        vs = []
        v = h
        for flow in self.flows:
            v = flow(v)
            vs.append(v)
        return tf.stack(vs)


def reflect(z, vectors):
    """Apply the Householder reflections ``vectors (K, ..., Z)`` in order to ``z (..., Z)`` (broadcasting):
    z <- z - 2 v (v . z) / |v|^2. Volume-preserving (|det| = 1)."""
    for k in range(vectors.shape[0]):
        v = vectors[k]
        z = z - 2.0 * v * tf.reduce_sum(v * z, -1, keepdims=True) / tf.reduce_sum(tf.square(v), -1, keepdims=True)
    return z


class MADE(layers.Layer):
    """``network.MADE`` (Germain et al. 2015), the autoregressive network of one IAF step (Kingma et al. 2016):

        u = PReLU(W_masked [z; h] + b),  m = V_m,masked u + c_m,  s = V_s,masked u + c_s

    with W ``(Z + C, hidden)`` and V ``(hidden, Z)`` without biases (Kaiming fan-out), b, c_m ~ N(0, 1), c_s = 2,
    one PReLU slope (0.25). Hidden degrees m(k) ~ U{1, ..., Z-1} (seeded by ``seed``; stored with the weights as
    non-trainable masks); W keeps z-input d for hidden k iff m(k) >= d + 1, V keeps hidden k for output d iff
    d + 1 > m(k), so m_d and s_d depend on z_<d only.

    Context h (the encoder's last hidden layer, C units): fed to every hidden unit (Kingma et al.'s IAF); with
    ``legacy=True`` the original's mask rule is applied to the context columns too, which masks them all out
    (m(k) <= Z - 1 < index + 1), so the flow never sees h.

    Raises:
        ValueError: ``z_dim < 2`` (no autoregressive order).
    """

    def __init__(self, z_dim: int, context_dim: int, hidden_dim: int, legacy: bool = False, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        if z_dim < 2:
            raise ValueError(f"IAF needs z_dim >= 2 (MADE degrees are drawn from 1..z_dim-1), got {z_dim}")
        degrees = np.random.RandomState(seed).randint(1, z_dim, size=hidden_dim)
        d = np.arange(z_dim)
        z_mask = degrees[None, :] >= d[:, None] + 1                                 # (Z, hidden)
        c = np.arange(z_dim, z_dim + context_dim)
        context_mask = (degrees[None, :] >= c[:, None] + 1) if legacy else np.ones((context_dim, hidden_dim), bool)
        w_mask = np.concatenate([z_mask, context_mask]).astype(np.float32)
        v_mask = (d[None, :] + 1 > degrees[:, None]).astype(np.float32)             # (hidden, Z)
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.w = self.add_weight(shape=(z_dim + context_dim, hidden_dim), initializer=kaiming_fan_out(), name="W")
        self.b = self.add_weight(shape=(hidden_dim,), initializer=normal, name="b")
        self.v_m = self.add_weight(shape=(hidden_dim, z_dim), initializer=kaiming_fan_out(), name="V_m")
        self.v_s = self.add_weight(shape=(hidden_dim, z_dim), initializer=kaiming_fan_out(), name="V_s")
        self.c_m = self.add_weight(shape=(z_dim,), initializer=normal, name="c_m")
        self.c_s = self.add_weight(shape=(z_dim,), initializer=keras.initializers.Constant(2.0), name="c_s")
        self.slope = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.25), name="prelu_slope")
        self.w_mask = self.add_weight(shape=w_mask.shape, initializer=keras.initializers.Constant(w_mask),
                                      trainable=False, name="W_mask")
        self.v_mask = self.add_weight(shape=v_mask.shape, initializer=keras.initializers.Constant(v_mask),
                                      trainable=False, name="V_mask")

    def call(self, z, h):
        """``z (N, Z)``, ``h (N, C)`` -> ``(m, s)``, each ``(N, Z)``."""
        u = tf.matmul(tf.concat([z, h], axis=-1), self.w * self.w_mask) + self.b
        u = tf.maximum(u, 0.0) + self.slope * tf.minimum(u, 0.0)
        return tf.matmul(u, self.v_m * self.v_mask) + self.c_m, tf.matmul(u, self.v_s * self.v_mask) + self.c_s


class _FlowBijector(tfb.Bijector):
    """A posterior flow as a ``tfp`` bijector, for :meth:`hvae.models.laplace_vae.LaplaceModel.encode` (the public
    API): ``flow(z)`` -> ``(z_K, log_det)``. Forward only (the IAF has no cheap inverse)."""

    def __init__(self, flow, name="flow"):
        self._flow = flow
        super().__init__(forward_min_event_ndims=1, validate_args=False, name=name)

    def _forward(self, x):
        return self._flow(x)[0]

    def _forward_log_det_jacobian(self, x):
        return self._flow(x)[1]


class FlowPosterior(tfd.TransformedDistribution):
    """q(z_K | x) of a non-linear flow (IAF): ``TransformedDistribution(q_0, flow)`` whose ``mean()`` is ``point``,
    the flow's image of q_0's mean, z_K(mu_0) ``(B, Z)``: E_q[z_K] has no closed form, and this is the point that
    :meth:`hvae.models.laplace_vae.LaplaceModel.posterior_means` and
    :meth:`hvae.models.laplace_vae.LaplaceModel.reconstruct` use (NOT the exact mean; a Monte-Carlo mean of
    ``sample`` differs). Forward only, as the flow: ``sample``, ``experimental_sample_and_log_prob``."""

    def __init__(self, distribution, bijector, point, validate_args=False, name="FlowPosterior"):
        parameters = dict(locals())
        self._point = point
        super().__init__(distribution=distribution, bijector=bijector, validate_args=validate_args,
                         parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(tfd.TransformedDistribution._parameter_properties(dtype, num_classes),
                    point=tfp.util.ParameterProperties(event_ndims=1))

    @property
    def point(self):
        """z_K(mu_0) ``(B, Z)``, what :meth:`mean` returns."""
        return self._point

    def _mean(self, **kwargs):
        return tf.identity(self._point)
