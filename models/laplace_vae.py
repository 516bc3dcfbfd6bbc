"""The Variational Laplace Autoencoder and its four baselines, from yookoon/VLAE (Park, Kim & Kim, "Variational
Laplace Autoencoders", ICML 2019, PMLR 97:5032-5041), as Keras subclassed models (spec
``lvae_and_vlae_laplace.md`` part 2).

Every model shares the original's networks (``network.py``; spec 2.3): images flattened to D values,

- encoder: Dense(D->H) ReLU, Dense(H->H) ReLU = h; mean = Dense(H->Z)(h), log-variance = Dense(H->Z)(h);
- decoder: Dense(Z->H) ReLU, Dense(H->H) ReLU, Dense(H->D) = a (the pre-output activation) (two hidden layers
  each, the original's; ``hidden_layers`` L changes that, L = 1 being Rezende & Mohamed's VAE); Gaussian output
  N(a, exp(log_var)) with ONE learned scalar log-variance shared by every pixel (initialised from the data,
  see :meth:`LaplaceModel.set_data_statistics`), or Bernoulli output with mean sigmoid(a) clamped to
  [1e-5, 1 - 1e-5];
- prior p(z) = N(0, I); H = ``hidden_dim`` (500), Z = ``z_dim`` (50);
- initialisation (``experiment.py: initialize_params``): every linear weight Kaiming-uniform with a = 2^(1/3),
  mode fan-out, i.e. U(+-sqrt(6 / ((1 + a^2) fan_out))) = ``VarianceScaling(2 / (1 + 2^(2/3)), 'fan_out',
  'uniform')``; biases PyTorch's default U(+-1/sqrt(fan_in)).

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

Data space (``datasets.py``; spec 2.7). Images arrive in the dataset's ``value_range`` and are mapped to [0, 1]
pixels u, flattened, then

- Gaussian output: x = u - m, m the per-pixel training mean (a non-trainable weight, so checkpoints keep it);
- Gaussian output with ``logit_transform``: y = (255 u + U(0, 1)) / 256 with fresh noise at every call,
  s = lambda + (1 - 2 lambda) y with lambda = 0.05, x = logit(s) - m (m the mean of one noisy pass);
- Bernoulli output: x = u, or with ``binarize`` (grey data) x ~ Bernoulli(u) drawn afresh at every call
  (dynamic binarisation); statically binarised data is used as it is.

The numbers are densities of x (Gaussian) or probabilities of the binary x (Bernoulli), as the original's.

Likelihood interface (:mod:`models.latent`): every model answers ``importance_terms`` with its FINAL posterior
as proposal (VLAE the full-covariance Gaussian after T updates, SA-VAE the refined Gaussian, flows the
transformed q with its log-determinant) and ``importance_proposal``, which computes that posterior (and the
preprocessed, possibly binarised or dequantised, input) once per batch so that the evaluator's chunks of
samples all share it, as the original's one-image-at-a-time evaluation did.

Configs and presets: each model takes one frozen :class:`models.base.ModelConfig`, :class:`LaplaceConfig` (the
shared settings: image shape, value range, ``z_dim``, ``hidden_dim``, ``output_dist``, ``logit_transform``,
``binarize``; the whole config of ``VLAE_VAE``) or its subclasses :class:`VLAEConfig`, :class:`HFConfig`,
:class:`IAFConfig`, :class:`SAVAEConfig` with the model's own settings. :data:`PRESETS` are the original's
networks on 28x28x1 images, ``<MODEL>_mnist`` (Gaussian output) and ``<MODEL>_binarized_mnist`` (Bernoulli output
on statically binarised pixels):

    import models
    vlae = models.from_preset("VLAE_binarized_mnist", n_update=2)
    iaf = IAF(IAFConfig(image_shape=(8, 8, 1), z_dim=4, legacy=True)).build_all()

Deviations from the original are listed in ``docs/fidelity.md`` (section: The Laplace family).
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from . import objectives
from .base import (
    HVAEModel,
    ModelConfig,
    config_property,
    register,
    register_presets,
    setting,
    zeros_like_input,
)
from .latent import sample_and_log_prob, standard_normal_noise, terms_from_layers, tile_batch

tfd = tfp.distributions
tfb = tfp.bijectors

KAIMING_A = 2.0 ** (1.0 / 3.0)       # initialize_params: kaiming_uniform_(a=2^(1/3), mode='fan_out')
LOGIT_LAMBDA = 0.05                   # datasets.py: lamb
BERNOULLI_EPS = 1e-5                  # distribution.py: Bernoulli clamp; network.py: p(1-p) + 1e-5
SVI_CLIP = 5.0                        # models.py: utils.clip_grad_norm(grad, 5)
GEOMETRIC_DECAY = 0.9                 # the first code release's update rate 0.9^t
INFERENCE_SEED = 0                    # the fixed noise of encode / reconstruct / posterior_means (stateless)
OUTPUT_DISTS = ("gaussian", "bernoulli")
INITS = ("original", "torch_default")  # LaplaceConfig.init: the original's initialize_params, or nn.Linear's default
UPDATE_SCHEDULES = ("harmonic", "geometric")


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
    ``nn.Parameter(torch.Tensor([0.0]))`` until :meth:`LaplaceModel.set_data_statistics`)."""

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
    """A posterior flow as a ``tfp`` bijector, for :meth:`LaplaceModel.encode` (the public API): ``flow(z)`` ->
    ``(z_K, log_det)``. Forward only (the IAF has no cheap inverse)."""

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
    :meth:`LaplaceModel.posterior_means` and :meth:`LaplaceModel.reconstruct` use (NOT the exact mean; a
    Monte-Carlo mean of ``sample`` differs). Forward only, as the flow: ``sample``,
    ``experimental_sample_and_log_prob``."""

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


def _clip_per_example(g, threshold: float = SVI_CLIP):
    """``utils.clip_grad_norm``: g / max(1, |g|^2 / threshold) per example (the SQUARED norm, as the original)."""
    return g / tf.maximum(1.0, tf.reduce_sum(tf.square(g), -1, keepdims=True) / threshold)


# --------------------------------------------------------------------------------------------------
# typed configs (one per model; the original's run.py flags, and what the data decides)
# --------------------------------------------------------------------------------------------------
def _check_count(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive, got {value!r}")


def _plain(kind: str, value):
    """NumPy scalars (and, for float fields, ints) -> the field's Python type, so configs stay JSON-able;
    anything else is left for :meth:`LaplaceConfig.validate` to judge."""
    if kind == "int" and isinstance(value, np.integer):
        return int(value)
    if kind == "float" and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    if kind.startswith("bool") and isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclasses.dataclass(frozen=True)
class LaplaceConfig(ModelConfig):
    """The settings every model of the family shares, and the whole config of the plain VAE (``VLAE_VAE``,
    :class:`LaplaceModel`; the original's ``run.py`` flags and ``datasets.py``'s data space, spec 2.3 / 2.7).

    Fields:
        image_shape: ``(H, W, C)`` of the images, flattened to D = H W C (from the data on the command line).
        value_range: ``(lo, hi)`` of the pixel values given to the model (from the data).
        z_dim: Z, latent units (50).
        hidden_dim: H, units of each hidden layer of encoder and decoder (500).
        hidden_layers: L >= 1, hidden Dense + ReLU layers of the encoder and of the decoder (2, the original's;
            1 is Rezende & Mohamed's (2015) one-hidden-layer VAE, as pythae reproduces it).
        init: the encoder's and decoder's weight initialisation: ``'original'`` (``initialize_params``:
            :func:`kaiming_fan_out`) or ``'torch_default'`` (PyTorch's ``nn.Linear`` default,
            :func:`torch_default_kernel`, which pythae's VAE keeps); biases U(+-1/sqrt(fan_in)) either way.
        output_dist: ``'gaussian'`` (pixels minus the training mean, one learned variance) or ``'bernoulli'``.
        logit_transform: Gaussian output only: dequantise 8-bit pixels and model logit(0.05 + 0.9 y).
        binarize: Bernoulli output only: draw x ~ Bernoulli(pixel) afresh at every call (grey data); False for
            data that is already binary; None: True for the Bernoulli output, False for the Gaussian one
            (:attr:`resolved_binarize`).

    Raises:
        ValueError: (one line naming the setting) an image shape that is not three positive integers, a value
            range that is not ``lo < hi``, a count below its minimum, an unknown output distribution,
            ``logit_transform`` with the Bernoulli output or ``binarize`` with the Gaussian one.
    """

    image_shape: tuple = setting((28, 28, 1), help="(H, W, C) of the images, flattened to D = H W C values (set "
                                                   "from the data)")
    value_range: tuple = setting((0.0, 1.0), help="(lo, hi) of the pixel values given to the model (set from the "
                                                  "data)")
    z_dim: int = setting(50, help="latent units (default 50)")
    hidden_dim: int = setting(500, help="hidden units of encoder and decoder layers (default 500)")
    hidden_layers: int = setting(2, help="hidden layers of encoder and of decoder (default 2, the original's; 1: "
                                         "Rezende & Mohamed's and pythae's VAE)")
    init: str = setting("original", choices=INITS,
                        help="encoder and decoder weights: original (yookoon/VLAE's Kaiming-uniform, fan-out, "
                             "a = 2^(1/3)) or torch_default (PyTorch's nn.Linear default U(+-1/sqrt(fan_in)), as "
                             "pythae's VAE)")
    output_dist: str = setting("gaussian", choices=OUTPUT_DISTS,
                               help="p(x|z): gaussian (default; pixels minus the training mean, one learned "
                                    "variance) or bernoulli (grey images; binarised afresh at every use unless "
                                    "already binary)")
    logit_transform: bool = setting(False, help="gaussian output: dequantise 8-bit pixels and model "
                                                "logit(0.05 + 0.9 x)")
    binarize: bool | None = setting(None, help="bernoulli output: binarise grey pixels afresh at every use (None: "
                                               "True for the Bernoulli output; False for binary data; set from "
                                               "the data)")

    def __post_init__(self):
        if isinstance(self.image_shape, (list, tuple, np.ndarray)):
            object.__setattr__(self, "image_shape", tuple(_plain("int", s) for s in self.image_shape))
        if isinstance(self.value_range, (list, tuple, np.ndarray)):
            object.__setattr__(self, "value_range", tuple(_plain("float", v) for v in self.value_range))
        for f in dataclasses.fields(self):
            if f.name not in ("image_shape", "value_range"):
                object.__setattr__(self, f.name, _plain(str(f.type), getattr(self, f.name)))
        super().__post_init__()

    def validate(self) -> None:
        shape = self.image_shape
        if not (isinstance(shape, tuple) and len(shape) == 3
                and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)):
            raise ValueError(f"image_shape must be three positive integers (H, W, C), got {shape!r}")
        lo_hi = self.value_range
        if not (isinstance(lo_hi, tuple) and len(lo_hi) == 2 and all(isinstance(v, float) for v in lo_hi)
                and math.isfinite(lo_hi[0]) and math.isfinite(lo_hi[1]) and lo_hi[0] < lo_hi[1]):
            raise ValueError(f"value_range must be two finite numbers lo < hi, got {lo_hi!r}")
        _check_count("z_dim", self.z_dim, 1)
        _check_count("hidden_dim", self.hidden_dim, 1)
        _check_count("hidden_layers", self.hidden_layers, 1)
        for name in ("logit_transform",) + (("binarize",) if self.binarize is not None else ()):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.logit_transform and self.output_dist != "gaussian":
            raise ValueError("logit_transform applies to the Gaussian output only (Bernoulli data are binary)")
        if self.binarize and self.output_dist != "bernoulli":
            raise ValueError("binarize applies to the Bernoulli output only")

    @property
    def resolved_binarize(self) -> bool:
        """``binarize`` with None resolved: True for the Bernoulli output, False for the Gaussian one."""
        return (self.output_dist == "bernoulli") if self.binarize is None else self.binarize

    @classmethod
    def from_settings(cls, settings: dict, **overrides):
        """The config of the settings in a flat namespace such as the command line's (``hvae.cli.resolve``,
        where every model's flags share one dict): each field of ``cls`` whose value in ``settings`` or
        ``overrides`` (which win) is not None; None and absent mean the default, other keys are ignored.

        Raises:
            ValueError: an invalid value (:meth:`validate`).
        """
        return cls().with_settings({**settings, **{k: v for k, v in overrides.items() if v is not None}})

    def own_settings(self) -> dict:
        """The settings the model adds to :class:`LaplaceConfig`'s (``{}`` for the plain VAE) and that are in
        effect, JSON-able, in declaration order (what the command line records in ``config.json``)."""
        shared = set(LaplaceConfig.field_names())
        return {k: v for k, v in self.to_dict().items() if k not in shared}


@dataclasses.dataclass(frozen=True)
class VLAEConfig(LaplaceConfig):
    """:class:`VLAE`'s config: the shared settings and the mode iteration's (``run.py``'s ``--n_update``,
    ``--update_lr``; the first release's geometric rate as ``update_schedule``).

    Fields:
        n_update: T >= 0 damped Newton updates of the posterior mode (4; 0: Laplace at the encoder mean).
        update_lr: alpha_0 > 0 of the harmonic schedule alpha_t = update_lr / (t + 1) (0.5; unused by the
            geometric schedule).
        update_schedule: ``'harmonic'`` (the current code) or ``'geometric'`` (0.9^t, the first release's).
    """

    n_update: int = setting(4, help="VLAE: damped Newton updates of the posterior mode (default 4; 0: Laplace at "
                                    "the encoder mean)")
    update_lr: float = setting(0.5, help="VLAE: update damping alpha_t = update_lr/(t+1) (0.5)")
    update_schedule: str = setting("harmonic", choices=UPDATE_SCHEDULES,
                                   help="VLAE: harmonic update_lr/(t+1) (default, the current code) or geometric "
                                        "0.9^t (the first release's rule)")

    def validate(self) -> None:
        super().validate()
        _check_count("n_update", self.n_update, 0)
        _check_positive("update_lr", self.update_lr)

    def own_settings(self) -> dict:
        """n_update, update_lr (left out under the geometric schedule, which does not use it), update_schedule."""
        settings = super().own_settings()
        if self.update_schedule == "geometric":
            settings.pop("update_lr")
        return settings


@dataclasses.dataclass(frozen=True)
class HFConfig(LaplaceConfig):
    """:class:`HF`'s config: the shared settings and the number of Householder reflections (``--n_flow``)."""

    n_flow: int = setting(4, help="HF: Householder reflections (default 4)")

    def validate(self) -> None:
        super().validate()
        _check_count("n_flow", self.n_flow, 1)


@dataclasses.dataclass(frozen=True)
class IAFConfig(LaplaceConfig):
    """:class:`IAF`'s config: the shared settings and the flow's (``--n_flow``, ``--iaf_dim``; ``legacy``: the
    original's masks, which cut the encoder context off the flow, see :class:`MADE`).

    Raises:
        ValueError: also ``z_dim < 2`` (MADE's degrees are drawn from 1 .. z_dim - 1).
    """

    n_flow: int = setting(4, help="IAF: flow steps (default 4)")
    iaf_dim: int = setting(500, help="IAF: MADE hidden units (default 500)")
    legacy: bool = setting(False, help="IAF: the original's masks, which cut the encoder context off the flow "
                                       "(see docs/fidelity.md)")

    def validate(self) -> None:
        super().validate()
        if self.z_dim < 2:
            raise ValueError(f"IAF needs z_dim >= 2 (MADE degrees are drawn from 1..z_dim-1), got {self.z_dim}")
        _check_count("n_flow", self.n_flow, 1)
        _check_count("iaf_dim", self.iaf_dim, 1)
        if not isinstance(self.legacy, bool):
            raise ValueError(f"legacy must be true or false, got {self.legacy!r}")


@dataclasses.dataclass(frozen=True)
class SAVAEConfig(LaplaceConfig):
    """:class:`SAVAE`'s config: the shared settings and the inner refinement's (``--n_svi_step``, ``--svi_lr``;
    ``legacy``: the original's step, which descends the ELBO and is scaled by 1/batch)."""

    n_svi_step: int = setting(4, help="SAVAE: inner gradient steps on the ELBO (default 4)")
    svi_lr: float = setting(5e-4, help="SAVAE: inner step size (default 5e-4; the original's help suggests 0.1 for "
                                       "MNIST)")
    legacy: bool = setting(False, help="SAVAE: the original's inner step, which descends the ELBO and is scaled "
                                       "by 1/batch (see docs/fidelity.md)")

    def validate(self) -> None:
        super().validate()
        _check_count("n_svi_step", self.n_svi_step, 0)
        _check_positive("svi_lr", self.svi_lr)
        if not isinstance(self.legacy, bool):
            raise ValueError(f"legacy must be true or false, got {self.legacy!r}")


# --------------------------------------------------------------------------------------------------
# the models
# --------------------------------------------------------------------------------------------------
@register(LaplaceConfig)
class LaplaceModel(HVAEModel):
    """The plain VAE of yookoon/VLAE (``models.VAE``; here ``VLAE_VAE``) and the base of the other four
    (a :class:`models.base.HVAEModel`: ``fit``/``evaluate`` on :meth:`loss_terms`, ``save``/``load_model``).

    ``LaplaceModel(config)`` with ``config`` a :class:`LaplaceConfig` (None: its defaults, the original's
    networks on 28x28x1 images with the Gaussian output) and Keras' own keywords (``name``, default the model's
    name, ``VLAE_VAE``). A subclass takes its own config class (exactly that class: a ``VLAEConfig`` given to
    ``LaplaceModel`` is refused, it would save settings the class cannot load). The settings are read from
    ``self.config``; ``image_shape``, ``z_dim``, ... are read-only aliases of its fields.

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

    @property
    def data_density(self) -> str:
        """``'gaussian'`` (a density of the preprocessed values) or ``'bernoulli'``."""
        return self.output_dist

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

    # ---- data space ------------------------------------------------------------------------------------
    def to_unit(self, images):
        """Images in ``value_range`` ``(B, H, W, C)`` -> flattened pixels in [0, 1] ``(B, D)``."""
        return tf.reshape(super().to_unit(images), (-1, self.pixels))

    def preprocess(self, images, seed: int | None = None):
        """Images in ``value_range`` -> the model's data x ``(B, D)`` (module docstring): fresh binarisation or
        dequantisation noise at every call, or with ``seed`` (an int) fixed stateless noise (the same x for the
        same images)."""
        u = self.to_unit(images)
        if self.output_dist == "bernoulli":
            if self.binarize:
                noise = (tf.random.uniform(tf.shape(u)) if seed is None
                         else tf.random.stateless_uniform(tf.shape(u), seed=(int(seed), 0)))
                u = tf.cast(noise < u, tf.float32)
            return u
        if self.logit_transform:
            u = logit_squeeze(dequantize(u, None if seed is None else (int(seed), 1)))
        return u - self.pixel_mean

    def to_images(self, values):
        """Values in the model's data space ``(B, D)`` (data, or a decoder mean) -> images in ``value_range``
        ``(B, H, W, C)``, clipped to the range (the original's ``unpreprocess`` + ``clamp(0, 1)``)."""
        if self.output_dist == "bernoulli":
            u = values
        elif self.logit_transform:
            u = (tf.sigmoid(values + self.pixel_mean) - LOGIT_LAMBDA) / (1.0 - 2.0 * LOGIT_LAMBDA)
        else:
            u = values + self.pixel_mean
        lo, hi = self.value_range
        u = tf.clip_by_value(u, 0.0, 1.0)
        return tf.reshape(lo + (hi - lo) * u, (-1,) + self.image_shape)

    def set_data_statistics(self, pixel_mean, log_variance: float) -> None:
        """Gaussian output: the per-pixel training mean ``(D,)`` subtracted from the data, and the initial decoder
        log-variance, log of the data's average per-pixel variance (``initialize_params``; spec 2.3: then
        sum (x - a)^2 / sigma^2 starts near D, not near 1).

        Raises:
            ValueError: a Bernoulli model (no mean, no variance).
        """
        if self.output_dist != "gaussian":
            raise ValueError("only a Gaussian-output model has a pixel mean and an output variance")
        self.pixel_mean.assign(tf.reshape(tf.cast(pixel_mean, tf.float32), (self.pixels,)))
        self.decoder.log_var.assign([float(log_variance)])

    def data_statistics(self, batches) -> dict:
        """What :meth:`set_data_statistics` takes, from one pass over ``batches`` of images ``(B, H, W, C)`` in
        ``value_range`` (the training split) in the model's data space before the mean is subtracted (with the
        logit transform: one dequantisation draw per image; ``datasets.py``; float64 sums).

        Returns:
            ``pixel_mean`` ``(D,)`` float32, ``variance`` (the average per-pixel variance, a float) and
            ``log_variance`` = log(max(variance, 1e-12)).
        """
        s1 = s2 = None
        n = 0
        for images in batches:
            u = self.to_unit(images)
            if self.logit_transform:
                u = logit_squeeze(dequantize(u))
            u = tf.cast(u, tf.float64).numpy()
            s1 = u.sum(0) if s1 is None else s1 + u.sum(0)
            s2 = (u ** 2).sum(0) if s2 is None else s2 + (u ** 2).sum(0)
            n += len(u)
        mean = s1 / n
        variance = float(np.mean(np.maximum(s2 / n - mean ** 2, 0.0)))
        return {"pixel_mean": mean.astype(np.float32), "log_variance": math.log(max(variance, 1e-12)),
                "variance": variance}

    # ---- distributions ---------------------------------------------------------------------------------
    def prior(self) -> tfd.Distribution:
        """p(z) = N(0, I), event shape ``(Z,)``."""
        return objectives.standard_normal(self.z_dim)

    def likelihood(self, a, event_ndims: int = 1) -> tfd.Distribution:
        """p(x | z) from the decoder's ``a``: ``Independent(Normal(a, exp(log_var / 2)))`` or
        ``Independent(Bernoulli(clip(sigmoid(a), 1e-5, 1 - 1e-5)))`` (``distribution.py``) over the last
        ``event_ndims`` axes (``a (..., D)``, event ``(D,)``; or ``a (B, H, W, C)`` with ``event_ndims=3``)."""
        if self.output_dist == "gaussian":
            scale = tf.exp(0.5 * self.decoder.log_var)
            normal = tfd.Normal(loc=a, scale=scale * tf.ones_like(a))
            return tfd.Independent(normal, reinterpreted_batch_ndims=event_ndims)
        probs = tf.clip_by_value(tf.sigmoid(a), BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
        return tfd.Independent(tfd.Bernoulli(probs=probs, dtype=a.dtype), reinterpreted_batch_ndims=event_ndims)

    def decoder_mean(self, a):
        """E[x | z] in the model's data space: ``a`` (Gaussian) or ``sigmoid(a)`` (Bernoulli)."""
        return a if self.output_dist == "gaussian" else tf.sigmoid(a)

    # ---- the posterior (subclasses override fit_posterior, sample_posterior, posterior_point) -------------
    def fit_posterior(self, x, importance: bool = False, trace: list | None = None,
                      seed: int | None = None) -> dict:
        """q(z | x)'s parameters for the data ``x (B, D)``, as a dict of tensors.

        Args:
            importance: for the importance-sampling evaluation (only SA-VAE's ``--legacy`` step differs).
            trace: VLAE appends the decoder output ``a`` at every mode iterate here (figures, monitoring).
            seed: SA-VAE: fixed stateless refinement noise (an int) instead of fresh draws; unused by the others.
        """
        mean, log_var, _ = self.encoder(x)
        return {"loc": mean, "log_var": log_var}

    def base_posterior(self, state) -> tfd.Distribution:
        """The encoder's diagonal Gaussian q_0 = N(loc, exp(log_var)), event shape ``(Z,)``."""
        return objectives.diagonal_normal(state["loc"], tf.exp(0.5 * state["log_var"]))

    def sample_posterior(self, state, num_samples: int):
        """``num_samples`` K draws z ~ q(z | x) and their log q: ``(z (K, B, Z), log_q (K, B))``."""
        return sample_and_log_prob(self.base_posterior(state), num_samples)

    def posterior_point(self, state):
        """E_q[z | x] ``(B, Z)`` (flows: the image of the encoder mean, see the subclasses)."""
        return state["loc"]

    def posterior_distribution(self, state) -> tfd.Distribution:
        """q(z | x) as a ``tfp`` distribution (batch ``(B,)``, event ``(Z,)``)."""
        return self.base_posterior(state)

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

    def decode(self, codes, labels=None) -> tfd.Distribution:
        """``z (B, Z)`` (or a one-element list of it) -> p(x | z), event shape ``(H, W, C)``, over the model's data
        space (pixels in [0, 1] for the Bernoulli output; pixels minus the training mean, or their logits minus
        the mean, for the Gaussian output: :meth:`to_images` maps a mean back to images)."""
        z = codes[0] if isinstance(codes, (list, tuple)) else codes
        return self.likelihood(tf.reshape(self.decoder(z), (-1,) + self.image_shape), event_ndims=3)

    def sample(self, n: int, labels=None, seed=None):
        """``n`` decoder means at prior draws z ~ N(0, I) (the original's 'generated'), as images in
        ``value_range`` ``(n, H, W, C)``."""
        z = self.prior().sample(n, seed=seed)
        return self.to_images(self.decoder_mean(self.decoder(z)))

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

    def elbo_terms(self, x, state, num_samples: int = 1):
        """``log p(x | z_k) (K, B)`` and ``log q(z_k | x) - log p(z_k) (K, B)`` for K posterior draws."""
        k = int(num_samples)
        z, log_q = self.sample_posterior(state, k)
        a = self.decoder(tf.reshape(z, (-1, self.z_dim)))
        log_likelihood = tf.reshape(self.likelihood(a).log_prob(tile_batch(x, k)), (k, -1))
        return log_likelihood, log_q - self.prior().log_prob(z)

    def loss_terms(self, images, labels=None, iteration=None, training=True) -> dict:
        """The negative one-sample ELBO and its parts, batch means in nats per image.

        Args:
            images: ``(B, H, W, C)`` in ``value_range``; ``labels``, ``iteration``, ``training``: unused (no
                layer behaves differently in training).
        Returns:
            ``loss`` = ``reconstruction`` (-log p(x|z)) + ``kl`` (log q(z|x) - log p(z), one sample).
        """
        x = self.preprocess(images)
        log_likelihood, kl = self.elbo_terms(x, self.fit_posterior(x), 1)
        reconstruction = -tf.reduce_mean(log_likelihood)
        kl = tf.reduce_mean(kl)
        return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}

    def monitor_terms(self, images) -> dict:
        """:meth:`loss_terms` and ``elbo`` (= -loss), for the per-epoch validation pass."""
        terms = self.loss_terms(images, training=False)
        return {**terms, "elbo": -terms["loss"]}

    # ---- models.latent interface -----------------------------------------------------------------------
    def importance_proposal(self, images, labels=None) -> dict:
        """The preprocessed data ``x`` and the final posterior's parameters for a batch, computed once and shared
        by every chunk of importance samples (see :mod:`models.latent`)."""
        x = self.preprocess(images)
        return {**self.fit_posterior(x, importance=True), "x": x}

    def importance_terms(self, images, num_samples: int, labels=None, proposal: dict | None = None) -> dict:
        """Log importance weights of K draws from the final posterior (:mod:`models.latent`): one latent layer.

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

    def figure_images(self, images, prior) -> tuple:
        """The command line's figures, as images ``(N, H, W, C)`` in ``value_range``: ``images`` as the model sees
        them (binarised or dequantised afresh), the decoder mean at one fresh posterior draw of each, and the
        decoder means at the prior draws ``prior`` ``(M, Z)``."""
        x = self.preprocess(tf.constant(images))
        z, _ = self.sample_posterior(self.fit_posterior(x), 1)
        reconstruction = self.to_images(self.decoder_mean(self.decoder(z[0])))
        return self.to_images(x), reconstruction, self.to_images(self.decoder_mean(self.decoder(tf.constant(prior))))


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
def dequantize(u, seed=None):
    """``(255 u + U(0, 1)) / 256``: 8-bit pixels u in [0, 1] spread uniformly over their bins (fresh noise, or
    stateless noise of ``seed``, a pair of ints)."""
    noise = tf.random.uniform(tf.shape(u)) if seed is None else tf.random.stateless_uniform(tf.shape(u), seed=seed)
    return (u * 255.0 + noise) / 256.0


def logit_squeeze(y, lam: float = LOGIT_LAMBDA):
    """``logit(lam + (1 - 2 lam) y)`` (``datasets.py``, lambda 0.05): [0, 1] -> [logit 0.05, logit 0.95]."""
    s = lam + (1.0 - 2.0 * lam) * y
    return tf.math.log(s) - tf.math.log(1.0 - s)


MODELS = {"VLAE": VLAE, "VLAE_VAE": LaplaceModel, "HF": HF, "IAF": IAF, "SAVAE": SAVAE}
"""The five models by their command-line names (``MODELS[name].config_class`` is the model's config class)."""


def models_with_setting(name: str) -> tuple:
    """The names (in :data:`MODELS`' order) of the models whose config has the setting ``name``."""
    return tuple(model for model, cls in MODELS.items() if name in cls.config_class.field_names())


# presets: the original's networks on 28x28x1 images: <MODEL>_mnist with its default Gaussian output (the pixel
# mean and output variance then come from set_data_statistics or a checkpoint), <MODEL>_binarized_mnist with the
# Bernoulli output on statically binarised pixels
_BINARIZED = dict(output_dist="bernoulli", binarize=False)
PRESETS: dict[str, LaplaceConfig] = register_presets({
    "VLAE_mnist": VLAEConfig(),
    "VLAE_binarized_mnist": VLAEConfig().replace(**_BINARIZED),
    "VLAE_VAE_mnist": LaplaceConfig(),
    "VLAE_VAE_binarized_mnist": LaplaceConfig().replace(**_BINARIZED),
    "HF_mnist": HFConfig(),
    "HF_binarized_mnist": HFConfig().replace(**_BINARIZED),
    "IAF_mnist": IAFConfig(),
    "IAF_binarized_mnist": IAFConfig().replace(**_BINARIZED),
    "SAVAE_mnist": SAVAEConfig(),
    "SAVAE_binarized_mnist": SAVAEConfig().replace(**_BINARIZED),
})
