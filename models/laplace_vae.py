"""The Variational Laplace Autoencoder and its four baselines, from yookoon/VLAE (Park, Kim & Kim, "Variational
Laplace Autoencoders", ICML 2019, PMLR 97:5032-5041), as Keras subclassed models (spec
``lvae_and_vlae_laplace.md`` part 2): the model classes (the original's ``models.py``) and their public API.

Every model shares the original's networks (``network.py``, ``initialize_params``; spec 2.3; in
:mod:`hvae.models.laplace_layers`): MLP encoder and decoder with ``hidden_layers`` (2) hidden layers of
``hidden_dim`` H (500) units, Z = ``z_dim`` (50) latent units; a Gaussian output N(a, exp(log_var)) with ONE learned
scalar log-variance (initialised from the data, :meth:`LaplaceModel.set_data_statistics`) or a Bernoulli output
with mean sigmoid(a) clamped to [1e-5, 1 - 1e-5]; prior p(z) = N(0, I).

The models (``models.py``; spec 2.5) differ only in the posterior q(z|x):

| model      | q(z | x)                                                                                   |
|------------|--------------------------------------------------------------------------------------------|
| VLAE_VAE   | the encoder's diagonal Gaussian (the paper's VAE baseline)                                 |
| VLAE       | N(mu_T, Lambda^-1): T damped Newton steps from the encoder mean towards the mode of         |
|            | log p(x, z) with the decoder linearised by its ReLU masks, Lambda = J^T diag(v) J + I at mu_T |
| HF         | the encoder's Gaussian through K Householder reflections (volume-preserving)               |
| IAF        | the encoder's Gaussian through K inverse autoregressive flow steps (one-hidden-layer MADE)  |
| SAVAE      | the encoder's Gaussian refined by K stochastic gradient steps on the ELBO (Kim et al. 2018) |

Objective of all (spec 2.4): the negative one-sample ELBO -[log p(x|z) + log p(z) - log q(z|x)], z ~ q, with a
Monte-Carlo KL (never analytic), averaged over the batch; nats per image, in the model's data space (below).

Data space (``datasets.py``; spec 2.7; the maps in :mod:`hvae.models.laplace_data`): images in the dataset's
``value_range`` become [0, 1] pixels u, flattened; x = u - m for the Gaussian output, m the per-pixel training mean
(with ``logit_transform``: x = logit(0.05 + 0.9 y) - m, y the dequantised u); x = u for the Bernoulli output, or
x ~ Bernoulli(u) drawn afresh at every call with ``binarize`` (grey data).

The numbers are densities of x (Gaussian) or probabilities of the binary x (Bernoulli), as the original's.

Likelihood interface (:mod:`hvae.models.latent`): every model answers ``importance_terms`` with its FINAL posterior
as proposal (VLAE the full-covariance Gaussian after T updates, SA-VAE the refined Gaussian, flows the
transformed q with its log-determinant) and ``importance_proposal``, which computes that posterior (and the
preprocessed, possibly binarised or dequantised, input) once per batch so that the evaluator's chunks of
samples all share it, as the original's one-image-at-a-time evaluation did.

Configs and presets (:mod:`hvae.configs.laplace`, without TensorFlow; every name re-exported here): each model
takes one frozen :class:`hvae.configs.base.ModelConfig`, :class:`LaplaceConfig` (the shared settings: image shape,
value range, ``z_dim``, ``hidden_dim``, ``output_dist``, ``logit_transform``, ``binarize``; the whole config of
``VLAE_VAE``) or its subclasses :class:`VLAEConfig`, :class:`HFConfig`, :class:`IAFConfig`, :class:`SAVAEConfig`
with the model's own settings. :data:`PRESETS` are the original's networks on 28x28x1 images, ``<MODEL>_mnist``
(Gaussian output) and ``<MODEL>_binarized_mnist`` (Bernoulli output on statically binarised pixels):

    from hvae import models
    vlae = models.from_preset("VLAE_binarized_mnist", n_update=2)
    iaf = IAF(IAFConfig(image_shape=(8, 8, 1), z_dim=4, legacy=True)).build_all()

Deviations from the original are listed in ``docs/fidelity.md`` (section: The Laplace family).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from hvae.configs.laplace import (  # noqa: F401  (the configs and presets, re-exported where they were defined)
    CONFIGS,
    INITS,
    OUTPUT_DISTS,
    PRESETS,
    UPDATE_SCHEDULES,
    HFConfig,
    IAFConfig,
    LaplaceConfig,
    SAVAEConfig,
    VLAEConfig,
    models_with_setting,
)

from .base import HVAEModel, config_property, register, zeros_like_input
from .laplace_data import LOGIT_LAMBDA, LaplaceDataSpace, dequantize, logit_squeeze  # noqa: F401
from .laplace_distributions import BERNOULLI_EPS, LaplaceDistributions
from .laplace_flows import MADE, FlowPosterior, HouseholderFlow, _FlowBijector, reflect  # noqa: F401
from .laplace_layers import KAIMING_A, Decoder, Encoder, kaiming_fan_out, linear, torch_bias, torch_default_kernel  # noqa: F401  (the networks, re-exported where they were defined)
from .latent import sample_and_log_prob, standard_normal_noise, terms_from_layers, tile_batch

tfd = tfp.distributions

SVI_CLIP = 5.0                        # models.py: utils.clip_grad_norm(grad, 5)
GEOMETRIC_DECAY = 0.9                 # the first code release's update rate 0.9^t
INFERENCE_SEED = 0                    # the fixed noise of encode / reconstruct / posterior_means (stateless)


# --------------------------------------------------------------------------------------------------
# the models
# --------------------------------------------------------------------------------------------------
@register(LaplaceConfig)
class LaplaceModel(LaplaceDataSpace, LaplaceDistributions, HVAEModel):
    """The plain VAE of yookoon/VLAE (``models.VAE``; here ``VLAE_VAE``) and the base of the other four
    (a :class:`hvae.models.base.HVAEModel`: ``fit``/``evaluate`` on :meth:`loss_terms`, ``save``/``load_model``).

    ``LaplaceModel(config)`` with ``config`` a :class:`LaplaceConfig` (None: its defaults, the original's
    networks on 28x28x1 images with the Gaussian output) and Keras' own keywords (``name``, default the model's
    name, ``VLAE_VAE``). A subclass takes its own config class (exactly that class: a ``VLAEConfig`` given to
    ``LaplaceModel`` is refused, it would save settings the class cannot load). The settings are read from
    ``self.config``; ``image_shape``, ``z_dim``, ... are read-only aliases of its fields. The data-space methods
    (``preprocess``, ``to_images``, ``set_data_statistics``, ...) are
    :class:`hvae.models.laplace_data.LaplaceDataSpace`'s, the distributions (``prior``, ``likelihood``, the default
    posterior, ``decode``, ``sample``, ...) :class:`hvae.models.laplace_distributions.LaplaceDistributions`'s.

    Raises:
        TypeError: a config of another class.
    """

    model_name = "VLAE_VAE"

    image_shape = config_property("image_shape", "``(H, W, C)`` of the images (``config.image_shape``).")
    value_range = config_property("value_range", "``(lo, hi)`` of the images given to the model.")
    z_dim = config_property("z_dim", "Z, latent units.")
    hidden_dim = config_property("hidden_dim", "H, units of the hidden layers.")
    hidden_layers = config_property("hidden_layers", "L, hidden layers of the encoder and of the decoder.")
    output_dist = config_property("output_dist", "``'gaussian'`` or ``'bernoulli'``.")
    logit_transform = config_property("logit_transform", "Gaussian output: dequantised 8-bit pixels' logits.")

    def __init__(self, config: LaplaceConfig | None = None, **kwargs):
        config_class = type(self).config_class
        if config is not None and type(config) is not config_class:
            raise TypeError(f"{type(self).__name__} takes a {config_class.__name__}, not {type(config).__name__}")
        kwargs.setdefault("name", self.model_name)
        super().__init__(config, **kwargs)
        gaussian = self.config.output_dist == "gaussian"
        self.encoder = Encoder(self.pixels, self.hidden_dim, self.z_dim, self.hidden_layers, self.config.init,
                               name="encoder")
        self.decoder = Decoder(self.z_dim, self.hidden_dim, self.pixels, gaussian, self.hidden_layers,
                               self.config.init, name="decoder")
        self.pixel_mean = (self.add_weight(shape=(self.pixels,), initializer="zeros", trainable=False,
                                           name="pixel_mean") if gaussian else None)

    # ---- configuration ---------------------------------------------------------------------------------
    @property
    def binarize(self) -> bool:
        """Whether the Bernoulli model binarises its input afresh at every call (``config.binarize`` resolved:
        None means True for the Bernoulli output); False for the Gaussian output."""
        return self.config.resolved_binarize

    @property
    def pixels(self) -> int:
        """D = H W C, the flattened image size."""
        return int(np.prod(self.config.image_shape))

    def example_inputs(self, n: int = 2):
        """``(n, H, W, C)`` images at the bottom of ``value_range``, and no labels."""
        return zeros_like_input(self.image_shape, self.value_range, n), None

    def build_all(self):
        """Create every weight by running the objective once on two blank images (needed before a checkpoint
        restore). Returns the model."""
        self.loss_terms(self.example_inputs(2)[0])
        self.built = True
        return self

    def describe(self) -> str:
        """One line: the name, :meth:`posterior_description`, the sizes and the data space, e.g. ``VLAE (T = 4
        updates, alpha_t = 0.5/(t+1); z 50, hidden 500; Gaussian output)`` (the command line's header)."""
        c = self.config
        data = ("Bernoulli output" + (", dynamic binarisation" if c.resolved_binarize else "")
                if c.output_dist == "bernoulli" else
                "Gaussian output" + (", logit transform" if c.logit_transform else ""))
        layers_ = "" if c.hidden_layers == 2 else f" x {c.hidden_layers} layer{'s' if c.hidden_layers > 1 else ''}"
        init = "" if c.init == "original" else f"; {c.init} init"
        return (f"{self.name} ({self.posterior_description()}; z {c.z_dim}, hidden {c.hidden_dim}{layers_}; {data}"
                f"{init})")

    def posterior_description(self) -> str:
        """What q(z | x) is, in a few words (each model's own settings)."""
        return "diagonal Gaussian posterior"

    # ---- inherited: the data space (to_unit, preprocess, to_images, set_data_statistics, data_statistics) from
    # LaplaceDataSpace (models/laplace_data.py); the distributions, the default posterior (the subclasses override
    # it), decode, sample, figure_images and elbo_terms from LaplaceDistributions (models/laplace_distributions.py)

    # ---- the public API ----------------------------------------------------------------------------------
    def encode(self, images, labels=None, training=False) -> list:
        """Images ``(B, H, W, C)`` in ``value_range`` -> ``[q(z | x)]``, the final posterior of the one latent
        layer as a ``tfp`` distribution (batch ``(B,)``, event ``(Z,)``). Deterministic: the binarisation or
        dequantisation noise where the config asks for it, and SA-VAE's refinement noise, are the fixed stateless
        draws of :data:`INFERENCE_SEED` (a batch's draws depend on its shape, so an image's posterior may differ
        between batch sizes for those settings). ``labels`` and ``training`` are unused (unconditional; no layer
        behaves differently in training)."""
        x = self.preprocess(images, seed=INFERENCE_SEED)
        return [self.posterior_distribution(self.fit_posterior(x, seed=INFERENCE_SEED))]

    def reconstruct(self, images, labels=None, *, sample: bool = False):
        """Images ``(B, H, W, C)`` in ``value_range`` -> ``(B, H, W, C)`` in ``value_range``: the decoder mean at
        the posterior mean (:meth:`posterior_point`), or with ``sample=True`` at one posterior draw (the
        original's 'reconstruction_z'). Deterministic without ``sample``: binarisation, dequantisation and SA-VAE's
        refinement use the fixed noise of :data:`INFERENCE_SEED`, as :meth:`encode` (with ``sample=True``, fresh
        noise throughout). ``labels`` is unused."""
        seed = None if sample else INFERENCE_SEED
        state = self.fit_posterior(self.preprocess(images, seed=seed), seed=seed)
        z = self.sample_posterior(state, 1)[0][0] if sample else self.posterior_point(state)
        return self.to_images(self.decoder_mean(self.decoder(z)))

    def call(self, images, labels=None, training=False):
        """:meth:`reconstruct`."""
        return self.reconstruct(images)

    def loss_terms(self, images, labels=None, iteration=None, training=True) -> dict:
        """The negative one-sample ELBO and its parts, batch means in nats per image.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; ``labels``, ``iteration``: unused.
            training: the training objective: with ``weight_decay`` w > 0 it adds w/2 |theta|^2 (the term
                ``weight_decay``); no layer behaves differently in training.
        Returns:
            ``loss`` = ``reconstruction`` (-log p(x|z)) + ``kl`` (log q(z|x) - log p(z), one sample) [+ the L2 term].
        """
        x = self.preprocess(images)
        log_likelihood, kl = self.elbo_terms(x, self.fit_posterior(x), 1)
        reconstruction = -tf.reduce_mean(log_likelihood)
        kl = tf.reduce_mean(kl)
        terms = {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}
        if training and self.config.weight_decay:
            # PyTorch's coupled L2 (Adam's weight_decay adds w theta to the gradient): w/2 |theta|^2 in the loss
            penalty = 0.5 * self.config.weight_decay * tf.add_n([tf.reduce_sum(tf.square(v))
                                                                 for v in self.trainable_variables])
            terms = {**terms, "loss": terms["loss"] + penalty, "weight_decay": penalty}
        return terms

    def monitor_terms(self, images) -> dict:
        """:meth:`loss_terms` and ``elbo`` (= -loss), for the per-epoch validation pass."""
        terms = self.loss_terms(images, training=False)
        return {**terms, "elbo": -terms["loss"]}

    # ---- models.latent interface -----------------------------------------------------------------------
    def importance_proposal(self, images, labels=None) -> dict:
        """The preprocessed data ``x`` and the final posterior's parameters for a batch, computed once and shared
        by every chunk of importance samples (see :mod:`hvae.models.latent`)."""
        x = self.preprocess(images)
        return {**self.fit_posterior(x, importance=True), "x": x}

    def importance_terms(self, images, num_samples: int, labels=None, proposal: dict | None = None) -> dict:
        """Log importance weights of K draws from the final posterior (:mod:`hvae.models.latent`): one latent layer.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``.
            num_samples: K.
            proposal: :meth:`importance_proposal` of these images (None: computed here).
        Returns:
            ``log_weights (B, K)``, ``log_likelihood (B, K)``, ``layer_kl (B, K, 1)``, nats per image.
        """
        state = proposal if proposal is not None else self.importance_proposal(images, labels)
        log_likelihood, kl = self.elbo_terms(state["x"], state, int(num_samples))
        return terms_from_layers(tf.transpose(log_likelihood), tf.transpose(kl)[..., None])

    def posterior_means(self, images, labels=None) -> list:
        """``[E_q[z | x] (B, Z)]`` of the final posterior (HF exact; IAF the flow image of the encoder mean), from
        the fixed noise of :data:`INFERENCE_SEED` (deterministic, as :meth:`encode`)."""
        x = self.preprocess(images, seed=INFERENCE_SEED)
        return [self.posterior_point(self.fit_posterior(x, importance=True, seed=INFERENCE_SEED))]


@register(VLAEConfig)
class VLAE(LaplaceModel):
    """The Variational Laplace Autoencoder (``models.VLAE``; Park et al. 2019, section 3; spec 2.5).

    From mu_0 = the encoder mean (its log-variance head is unused), for t = 0 .. T-1, with the decoder linearised
    at mu_t (a ~ J z + b through the ReLU masks):

        v = exp(-log_var) (Gaussian; one scalar) or p(1-p) + 1e-5 with p = clip(sigmoid(a), 1e-5, 1-1e-5)
        Lambda_t = J^T diag(v) J + I                        (the Fisher / Gauss-Newton precision)
        g_t = J^T r - mu_t, r = v (x - a) (Gaussian) or x - sigmoid(a) (Bernoulli, unclamped)
        mu* = mu_t + Lambda_t^-1 g_t                       (Newton step on log p(x, z) of the linear model)
        mu_{t+1} = (1 - alpha_t) mu_t + alpha_t mu*,  alpha_t = update_lr / (t + 1)  (or 0.9^t, 'geometric')

    For the Gaussian output mu* equals the original's Lambda^-1 J^T v (x - b), b = a - J mu_t (the same number,
    written as a step). Then q(z | x) = N(mu_T, Lambda_T^-1) with Lambda_T at mu_T: ``tfd.MultivariateNormal
    LinearOperator`` with scale (chol Lambda)^-T (a Cholesky factor and triangular solves, no inverse). Gradients
    flow through the unrolled iteration and the Cholesky factors into encoder, decoder and log-variance; the
    ReLU masks are constants. T = 0 (``n_update=0``) is the original's code path with no update: the Laplace
    approximation at the encoder mean (not at the mode), q = N(mu_0, Lambda(mu_0)^-1).

    ``VLAE(config)`` with a :class:`VLAEConfig`: ``n_update`` T >= 0 (4), ``update_lr`` alpha_0 > 0 of the
    harmonic schedule (0.5), ``update_schedule`` ``'harmonic'`` (update_lr / (t+1), the current code) or
    ``'geometric'`` (0.9^t, the first release's; update_lr unused; the original README figure's runs also differed
    in their data scaling, docs/fidelity.md).
    """

    model_name = "VLAE"

    n_update = config_property("n_update", "T, the mode updates.")
    update_lr = config_property("update_lr", "alpha_0 of the harmonic schedule.")
    update_schedule = config_property("update_schedule", "``'harmonic'`` or ``'geometric'``.")

    def posterior_description(self) -> str:
        rate = "0.9^t" if self.update_schedule == "geometric" else f"{self.update_lr:g}/(t+1)"
        return f"T = {self.n_update} updates, alpha_t = {rate}"

    def update_rate(self, t: int) -> float:
        """alpha_t: update_lr / (t + 1) (0.5, 0.25, 0.125, 0.083 by default) or 0.9^t."""
        if self.update_schedule == "geometric":
            return GEOMETRIC_DECAY ** t
        return self.update_lr / (t + 1)

    def newton_terms(self, x, mu, a, jt):
        """``(Lambda (B, Z, Z), g (B, Z))`` at ``mu`` from the decoder's ``a (B, D)`` and ``J^T (B, Z, D)``."""
        if self.output_dist == "gaussian":
            v = tf.exp(-self.decoder.log_var)                             # (1,)
            r = v * (x - a)
        else:
            p = tf.sigmoid(a)
            pc = tf.clip_by_value(p, BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
            v = (pc * (1.0 - pc) + BERNOULLI_EPS)[:, None, :]             # (B, 1, D)
            r = x - p
        precision = tf.matmul(jt * v, jt, transpose_b=True) + tf.eye(self.z_dim)
        gradient = tf.linalg.matvec(jt, r) - mu
        return precision, gradient

    def precision_at(self, x, mu):
        """Lambda = J^T diag(v) J + I at ``mu (B, Z)``: the negative Hessian of log p(x, z) in the current linear
        region for the Gaussian output (its Fisher information for the Bernoulli output). ``(B, Z, Z)``."""
        a, jt = self.decoder.call_with_jacobian(mu)
        return self.newton_terms(x, mu, a, jt)[0]

    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """``{"loc": mu_T (B, Z), "chol": chol(Lambda_T) (B, Z, Z)}`` (lower triangular)."""
        mu, _, _ = self.encoder(x)
        for t in range(self.n_update):
            a, jt = self.decoder.call_with_jacobian(mu)
            if trace is not None:
                trace.append(a)
            precision, gradient = self.newton_terms(x, mu, a, jt)
            step = tf.linalg.cholesky_solve(tf.linalg.cholesky(precision), gradient[..., None])[..., 0]
            mu = mu + self.update_rate(t) * step
        a, jt = self.decoder.call_with_jacobian(mu)
        if trace is not None:
            trace.append(a)
        precision, _ = self.newton_terms(x, mu, a, jt)
        return {"loc": mu, "chol": tf.linalg.cholesky(precision)}

    def posterior_distribution(self, state) -> tfd.Distribution:
        """N(mu_T, Lambda^-1) with scale (chol Lambda)^-T: ``log_prob`` = -1/2 [Z log 2 pi - 2 sum log diag
        chol(Lambda) + (z - mu)^T Lambda (z - mu)] (the original's ``distribution.Gaussian``)."""
        scale = tf.linalg.LinearOperatorLowerTriangular(state["chol"]).adjoint().inverse()
        return tfd.MultivariateNormalLinearOperator(loc=state["loc"], scale=scale)

    def sample_posterior(self, state, num_samples: int):
        return sample_and_log_prob(self.posterior_distribution(state), num_samples)

    def monitor_terms(self, images) -> dict:
        """:meth:`LaplaceModel.monitor_terms` and ``reconstruction_mu/t`` = -log p(x | z = mu_t) for t = 0 .. T
        (the original's ``recon_error/t`` after each update; t = T the final mean)."""
        x = self.preprocess(images)
        trace = []
        state = self.fit_posterior(x, trace=trace)
        log_likelihood, kl = self.elbo_terms(x, state, 1)
        reconstruction = -tf.reduce_mean(log_likelihood)
        kl = tf.reduce_mean(kl)
        terms = {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl,
                 "elbo": -(reconstruction + kl)}
        for t, a in enumerate(trace):
            terms[f"reconstruction_mu/{t}"] = -tf.reduce_mean(self.likelihood(a).log_prob(x))
        return terms

    def update_means(self, images):
        """The decoder means at mu_0 .. mu_T as images in ``value_range``: list of T + 1 ``(B, H, W, C)``
        (the original's ``reconstruction_mu/t`` figures), and the data as the model saw it."""
        x = self.preprocess(images)
        trace = []
        self.fit_posterior(x, trace=trace)
        return self.to_images(x), [self.to_images(self.decoder_mean(a)) for a in trace]


@register(HFConfig)
class HF(LaplaceModel):
    """VAE with a Householder flow (``models.HF``; Tomczak & Welling 2016): z_K = H_K ... H_1 z_0, z_0 ~ q_0 the
    encoder's Gaussian, the vectors computed from the encoder's hidden layer h (:class:`HouseholderFlow`).
    Volume-preserving: log q(z_K) = log q_0(z_0).

    ``HF(config)`` with an :class:`HFConfig`: ``n_flow`` K >= 1 reflections (4).
    """

    model_name = "HF"

    n_flow = config_property("n_flow", "K, the Householder reflections.")

    def __init__(self, config: HFConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.householder = HouseholderFlow(self.hidden_dim, self.z_dim, self.n_flow, name="householder")

    def posterior_description(self) -> str:
        return f"{self.n_flow} Householder reflections"

    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """``{"loc", "log_var", "vectors" (K, B, Z)}``."""
        mean, log_var, h = self.encoder(x)
        return {"loc": mean, "log_var": log_var, "vectors": self.householder(h)}

    def sample_posterior(self, state, num_samples: int):
        z0, log_q = sample_and_log_prob(self.base_posterior(state), num_samples)
        return reflect(z0, state["vectors"][:, None]), log_q

    def posterior_point(self, state):
        """E[z_K] = H E[z_0] (H is linear): exact."""
        return reflect(state["loc"], state["vectors"])

    def posterior_distribution(self, state) -> tfd.Distribution:
        """q(z_K | x) = N(H mu, H diag(sigma^2) H^T), a full-covariance Gaussian with scale H diag(sigma)."""
        vectors = state["vectors"]
        eye = tf.eye(self.z_dim, batch_shape=[tf.shape(vectors)[1]])                 # (B, Z, Z)
        columns = reflect(tf.transpose(eye, [1, 0, 2]), vectors[:, None])           # (Z, B, Z): row i = H e_i
        h = tf.transpose(columns, [1, 2, 0])                                          # (B, Z, Z) = H
        scale = h * tf.exp(0.5 * state["log_var"])[:, None, :]
        return tfd.MultivariateNormalLinearOperator(loc=self.posterior_point(state),
                                                    scale=tf.linalg.LinearOperatorFullMatrix(scale))


@register(IAFConfig)
class IAF(LaplaceModel):
    """VAE with an inverse autoregressive flow (``models.IAF``; Kingma et al. 2016): z_0 ~ q_0, then for each of
    K steps (the order of z reversed before every step but the first) (m, s) = MADE(z, h), sigma = sigmoid(s),
    z <- sigma z + (1 - sigma) m, log q -= sum log sigma; the order restored at the end when K is even.

    ``IAF(config)`` with an :class:`IAFConfig`: ``n_flow`` K >= 1 steps (4), ``iaf_dim`` MADE hidden units
    (500), ``legacy`` the original's masks, which cut the encoder context h off the flow (see :class:`MADE`).
    """

    model_name = "IAF"

    n_flow = config_property("n_flow", "K, the flow steps.")
    iaf_dim = config_property("iaf_dim", "MADE hidden units.")
    legacy = config_property("legacy", "The original's masks (no context).")

    def __init__(self, config: IAFConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        from .layers import tracked_list

        tracked_list(self, "made", [MADE(self.z_dim, self.hidden_dim, self.iaf_dim, legacy=self.legacy, seed=i,
                                         name=f"made{i}") for i in range(self.n_flow)])

    def posterior_description(self) -> str:
        return f"{self.n_flow} IAF steps of {self.iaf_dim} units" + (" (legacy masks)" if self.legacy else "")

    def flow(self, z, h):
        """``z_0 (N, Z)``, context ``h (N, C)`` -> ``(z_K (N, Z), log_det (N,))``, log_det = sum log sigma
        (log q(z_K) = log q_0(z_0) - log_det)."""
        log_det = tf.zeros(tf.shape(z)[:1])
        for i, made in enumerate(self.made):
            if i:
                z = tf.reverse(z, axis=[-1])
            m, s = made(z, h)
            sigma = tf.sigmoid(s)
            z = sigma * z + (1.0 - sigma) * m
            log_det += tf.reduce_sum(tf.math.log_sigmoid(s), -1)
        if self.n_flow % 2 == 0:
            z = tf.reverse(z, axis=[-1])
        return z, log_det

    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """``{"loc", "log_var", "context" h (B, C)}``."""
        mean, log_var, h = self.encoder(x)
        return {"loc": mean, "log_var": log_var, "context": h}

    def sample_posterior(self, state, num_samples: int):
        k = int(num_samples)
        z0, log_q = sample_and_log_prob(self.base_posterior(state), k)
        z, log_det = self.flow(tf.reshape(z0, (-1, self.z_dim)), tile_batch(state["context"], k))
        return tf.reshape(z, tf.shape(z0)), log_q - tf.reshape(log_det, tf.shape(log_q))

    def posterior_point(self, state):
        """The flow's image of the encoder mean (E_q[z_K] has no closed form; a Monte-Carlo mean would add noise
        to the active-unit count)."""
        return self.flow(state["loc"], state["context"])[0]

    def posterior_distribution(self, state) -> tfd.Distribution:
        """q(z_K | x) as a :class:`FlowPosterior` of q_0 (forward only: ``sample``,
        ``experimental_sample_and_log_prob``; ``log_prob`` of an arbitrary z would need the flow's inverse;
        ``mean()`` is :meth:`posterior_point`, the flow's image of the encoder mean)."""
        context = state["context"]

        def flow(z):
            shape = tf.shape(z)
            n = tf.reduce_prod(shape[:-1]) // tf.shape(context)[0]
            out, log_det = self.flow(tf.reshape(z, (-1, self.z_dim)), tile_batch(context, n))
            return tf.reshape(out, shape), tf.reshape(log_det, shape[:-1])

        return FlowPosterior(self.base_posterior(state), _FlowBijector(flow, name="iaf"), self.posterior_point(state))


@register(SAVAEConfig)
class SAVAE(LaplaceModel):
    """Semi-amortised VAE (``models.SAVAE``; Kim et al., ICML 2018): the encoder's (mu, log_var) refined by K
    stochastic gradient steps on the one-sample ELBO, differentiated through (second-order terms included):

        z = mu + exp(log_var / 2) eps,  l = -[log p(x|z) + log p(z) - log q(z|x)]  (per example)
        g = clip(dl/dmu), clip(dl/dlog_var) with the original's g / max(1, |g|^2 / 5) per example
        mu <- mu - svi_lr g_mu,  log_var <- log_var - svi_lr g_log_var        (ascend the ELBO)

    ``legacy=True`` keeps the original's two defects (spec 2.5): the step ADDS the gradient (descends the ELBO),
    and l is the batch mean, so each example's gradient is scaled by 1/B in training and validation (B = 1 in the
    original's one-image-at-a-time importance sampling, reproduced in ``importance_terms``).

    ``SAVAE(config)`` with a :class:`SAVAEConfig`: ``n_svi_step`` K >= 0 (4), ``svi_lr`` the inner step size > 0
    (5e-4; the original's help suggests 0.1 for MNIST, 1e-3 for CIFAR-10), ``legacy`` the original's sign and 1/B
    scale.
    """

    model_name = "SAVAE"

    n_svi_step = config_property("n_svi_step", "K, the inner refinement steps.")
    svi_lr = config_property("svi_lr", "The inner step size.")
    legacy = config_property("legacy", "The original's sign and 1/B scale.")

    def posterior_description(self) -> str:
        return f"{self.n_svi_step} inner steps of {self.svi_lr:g}" + (" (legacy)" if self.legacy else "")

    def negative_elbo(self, x, loc, log_var, eps):
        """The one-sample negative ELBO per example ``(B,)`` at z = loc + exp(log_var / 2) eps."""
        state = {"loc": loc, "log_var": log_var}
        q = self.base_posterior(state)
        z = loc + tf.exp(0.5 * log_var) * eps
        log_likelihood = self.likelihood(self.decoder(z)).log_prob(x)
        return -(log_likelihood + self.prior().log_prob(z) - q.log_prob(z))

    def svi_step(self, x, loc, log_var, eps, batch_mean: bool = False):
        """One refinement step with the noise ``eps (B, Z)``: returns the new ``(loc, log_var)``.

        Args:
            batch_mean: differentiate the batch mean (the original's, each gradient scaled by 1/B) instead of the
                per-example sum; the step's sign follows ``legacy``.
        """
        with tf.GradientTape() as tape:
            tape.watch([loc, log_var])
            losses = self.negative_elbo(x, loc, log_var, eps)
            objective = tf.reduce_mean(losses) if batch_mean else tf.reduce_sum(losses)
        g_loc, g_log_var = tape.gradient(objective, [loc, log_var])
        sign = 1.0 if self.legacy else -1.0
        return (loc + sign * self.svi_lr * _clip_per_example(g_loc),
                log_var + sign * self.svi_lr * _clip_per_example(g_log_var))

    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """``{"loc", "log_var"}`` after the K refinement steps (a fresh eps at each; with ``seed``, the stateless
        eps of ``(seed, step)``)."""
        loc, log_var, _ = self.encoder(x)
        batch_mean = self.legacy and not importance
        for step in range(self.n_svi_step):
            eps = (standard_normal_noise(tf.shape(loc)) if seed is None
                   else tf.random.stateless_normal(tf.shape(loc), seed=(int(seed), step)))
            loc, log_var = self.svi_step(x, loc, log_var, eps, batch_mean=batch_mean)
        return {"loc": loc, "log_var": log_var}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _clip_per_example(g, threshold: float = SVI_CLIP):
    """``utils.clip_grad_norm``: g / max(1, |g|^2 / threshold) per example (the SQUARED norm, as the original)."""
    return g / tf.maximum(1.0, tf.reduce_sum(tf.square(g), -1, keepdims=True) / threshold)


MODELS = {"VLAE": VLAE, "VLAE_VAE": LaplaceModel, "HF": HF, "IAF": IAF, "SAVAE": SAVAE}
"""The five models by their command-line names (``MODELS[name].config_class`` is the model's config class)."""
# the configs name their models without the model classes (hvae.configs.laplace.CONFIGS): the same names, in order
assert list(MODELS) == list(CONFIGS) and all(MODELS[n].config_class is c for n, c in CONFIGS.items())
