"""The small interface every model family answers, and its importance-weighted likelihood.

Every model (VLadder, the VAE collection, the Ladder VAEs, the Laplace family) is a ``keras.Model`` that
also implements :class:`LatentVariableModel`:

- ``importance_terms(images, num_samples, labels=None)`` -> dict of

  * ``log_weights`` ``(B, K)``: log p(x, z_k) - log q(z_k | x) for K joint draws z_k ~ q(z | x) of every
    latent layer (drawn as the model's q factorises: bottom-up or top-down), with Monte-Carlo latent
    terms, never an analytic KL, so that exp(log_weights) are proper importance weights;
  * ``log_likelihood`` ``(B, K)``: log p(x | z_k);
  * ``layer_kl`` ``(B, K, L)``: each latent layer's log q(z_l | .) - log p(z_l | .) at z_k, so that
    ``log_weights = log_likelihood - sum(layer_kl, -1)``.

  All in nats per image, float32, with every layer in inference mode (batch-norm moving averages, no
  dropout). The density is the model's likelihood of its input values (``data_density`` says which).
- ``log_importance_weights(images, num_samples, labels=None)`` -> ``(B, K)``: the ``log_weights`` above.
- ``importance_proposal(images, labels=None)`` (optional) -> None, or a dict of tensors: what
  ``importance_terms`` computes once per batch before drawing (an iteratively fitted posterior, a dynamically
  binarised input). The evaluator then computes it once per batch and passes it back as
  ``importance_terms(images, k, labels, proposal=...)`` for every chunk of samples, so that all K samples of
  an image share one proposal and one input. The default (None) leaves ``importance_terms`` as it is.
- ``posterior_means(images, labels=None)`` -> list (one per layer, bottom to top) of ``(B, units_l)``:
  E_q[z_l | x] (for top-down posteriors, given the posterior means of the layers above), for counting
  active units.
- ``data_density`` (str): ``'bernoulli'``, ``'laplace'``, ``'gaussian'``, ``'discretized_logistic'`` or
  ``'discretized_logistic_mixture'``; ``has_posterior`` (bool): False for a deterministic encoder (no
  likelihood can be estimated).

The shared evaluator (:mod:`hvae.evaluation`) turns these into the ELBO, the importance-weighted bound of
Burda, Grosse & Salakhutdinov (ICLR 2016, eq. 8), per-layer KL and active units.
"""

from __future__ import annotations

import tensorflow as tf

DISCRETE_DENSITIES = ("bernoulli", "discretized_logistic", "discretized_logistic_mixture")


class LatentVariableModel:
    """Mixin: the likelihood interface of the module docstring, with defaults derived from
    :meth:`importance_terms`. Subclasses implement ``importance_terms`` and ``posterior_means``."""

    has_posterior = True
    data_density = "bernoulli"

    def importance_terms(self, images, num_samples: int, labels=None) -> dict:
        """See the module docstring. Raises NotImplementedError for a model without a posterior."""
        raise NotImplementedError(f"{type(self).__name__} has no posterior to importance-sample")

    def importance_proposal(self, images, labels=None):
        """Optional per-batch part of :meth:`importance_terms` (see the module docstring); None: none."""
        return None

    def log_importance_weights(self, images, num_samples: int, labels=None):
        """log p(x, z_k) - log q(z_k | x) for K = ``num_samples`` posterior draws: ``(B, K)`` nats per image."""
        return self.importance_terms(images, num_samples, labels)["log_weights"]

    def posterior_means(self, images, labels=None) -> list:
        """E_q[z_l | x] per latent layer, bottom to top: list of ``(B, units_l)``."""
        raise NotImplementedError(f"{type(self).__name__} has no posterior")


def tile_batch(x, num_samples: int):
    """``(B, ...) -> (K * B, ...)``: K copies of the batch, copy-major (row ``k * B + b`` is image b)."""
    return tf.tile(x, tf.concat([[num_samples], tf.ones(tf.rank(x) - 1, tf.int32)], axis=0))


def per_sample(values, num_samples: int):
    """``(K * B, ...) -> (B, K, ...)``: undo :func:`tile_batch` for per-image values."""
    shape = tf.shape(values)
    v = tf.reshape(values, tf.concat([[num_samples, shape[0] // num_samples], shape[1:]], axis=0))
    perm = tf.concat([[1, 0], tf.range(2, tf.rank(v))], axis=0)
    return tf.transpose(v, perm)


def terms_from_layers(log_likelihood, layer_kl):
    """Assemble the ``importance_terms`` dict from ``log_likelihood (B, K)`` and ``layer_kl (B, K, L)``."""
    return {"log_weights": log_likelihood - tf.reduce_sum(layer_kl, axis=-1), "log_likelihood": log_likelihood,
            "layer_kl": layer_kl}


# --------------------------------------------------------------------------------------------------
# injected noise: the parity harness (benchmarks/parity/) gives a model the same reparameterisation noise as the
# original it ports; without the context manager nothing changes
# --------------------------------------------------------------------------------------------------
class injected_noise:
    """Context manager: inside it, the posterior draws of a model that supports injection (the Laplace family:
    :func:`sample_and_log_prob` and SA-VAE's refinement noise, via :func:`standard_normal_noise`; the LVAE's
    top-down draws, ``(B, h, w, z)`` each, the top layer first) take their
    standard-normal noise from ``noise``, a list of tensors consumed in the order the draws happen, instead of
    drawing it. Each tensor must have the shape of the draw (``(K, B, Z)`` for K samples, ``(B, Z)`` for SA-VAE's
    inner steps). Used by ``benchmarks/parity/`` to feed the original and the port the same epsilon; inside a
    ``tf.function`` open it in the traced function with the function's tensor arguments. Not thread-safe, not
    nested. On leaving, every tensor must have been used (else ValueError)."""

    _active = None

    def __init__(self, noise):
        self.noise = list(noise)

    def __enter__(self):
        if injected_noise._active is not None:
            raise RuntimeError("injected_noise is already active (it does not nest)")
        injected_noise._active = self
        return self

    def __exit__(self, *exc):
        injected_noise._active = None
        if exc[0] is None and self.noise:
            raise ValueError(f"{len(self.noise)} injected noise tensor(s) left unused")
        return False

    @classmethod
    def take(cls, shape):
        """The next injected tensor (checked against ``shape`` where that is static), or None outside the
        context."""
        active = cls._active
        if active is None:
            return None
        if not active.noise:
            raise ValueError("more draws than injected noise tensors")
        eps = tf.convert_to_tensor(active.noise.pop(0))
        static = tf.TensorShape(shape) if not isinstance(shape, tf.Tensor) else None
        if static is not None and static.is_fully_defined() and eps.shape.is_fully_defined() \
                and static != eps.shape:
            raise ValueError(f"injected noise of shape {eps.shape}, the draw needs {static}")
        return eps


def standard_normal_noise(shape):
    """``tf.random.normal(shape)``, or the next :class:`injected_noise` tensor inside that context."""
    eps = injected_noise.take(shape)
    return tf.random.normal(shape) if eps is None else eps


def sample_and_log_prob(distribution, num_samples: int):
    """``distribution.experimental_sample_and_log_prob(num_samples)``: ``(z (K, ...), log q(z) (K, ...))``; inside
    :class:`injected_noise`, z is the distribution's own reparameterisation of the injected eps ``(K, B, Z)``
    (a diagonal Gaussian ``Independent(Normal)``: loc + scale eps; a ``MultivariateNormalLinearOperator``:
    loc + scale eps as a matrix-vector product) and log q its ``log_prob(z)``."""
    eps = injected_noise.take(None)
    if eps is None:
        return distribution.experimental_sample_and_log_prob(num_samples)
    if eps.shape.rank is not None and eps.shape[0] is not None and eps.shape[0] != int(num_samples):
        raise ValueError(f"injected noise of shape {eps.shape} for {num_samples} sample(s): (K, B, Z) expected")
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    if isinstance(distribution, tfd.Independent) and isinstance(distribution.distribution, tfd.Normal):
        base = distribution.distribution
        z = base.loc + base.scale * eps
    elif isinstance(distribution, tfd.MultivariateNormalLinearOperator):
        z = distribution.loc + distribution.scale.matvec(eps)
    else:
        raise TypeError(f"no noise injection for a {type(distribution).__name__}")
    return z, distribution.log_prob(z)
