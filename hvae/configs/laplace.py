"""The Laplace family's typed configs, checks and presets (yookoon/VLAE, Park, Kim & Kim, "Variational Laplace
Autoencoders", ICML 2019: the original's ``run.py`` flags and ``datasets.py``'s data space; spec
``lvae_and_vlae_laplace.md`` part 2), without TensorFlow: the models are in :mod:`hvae.models.laplace_vae`, which
re-exports every name defined here.

Each model takes one frozen :class:`hvae.configs.base.ModelConfig`, :class:`LaplaceConfig` (the shared settings:
image shape, value range, ``z_dim``, ``hidden_dim``, ``output_dist``, ``logit_transform``, ``binarize``; the whole
config of ``VLAE_VAE``) or its subclasses :class:`VLAEConfig`, :class:`HFConfig`, :class:`IAFConfig`,
:class:`SAVAEConfig` with the model's own settings. Each config class names its model (``model_name``, the
command-line name); :data:`CONFIGS` maps the five names to their config classes and :func:`models_with_setting`
says which models take a setting, so the command line checks its flags without the model classes.
:data:`PRESETS` are the original's networks on 28x28x1 images, ``<MODEL>_mnist`` (Gaussian output) and
``<MODEL>_binarized_mnist`` (Bernoulli output on statically binarised pixels):

    from hvae.configs.laplace import PRESETS, VLAEConfig
    config = PRESETS["VLAE_binarized_mnist"].replace(n_update=2)

Imports only the standard library and :mod:`hvae.configs.base`: NumPy scalars and arrays given as settings are
recognised without importing NumPy (a value can only be a NumPy object once NumPy is loaded).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import ClassVar

from .base import ModelConfig, register_presets, setting

OUTPUT_DISTS = ("gaussian", "bernoulli")
INITS = ("original", "torch_default")  # LaplaceConfig.init: the original's initialize_params, or nn.Linear's default
UPDATE_SCHEDULES = ("harmonic", "geometric")


# --------------------------------------------------------------------------------------------------
# typed configs (one per model; the original's run.py flags, and what the data decides)
# --------------------------------------------------------------------------------------------------
def _numpy_types(*names: str) -> tuple:
    """NumPy's types ``names`` (``"integer"``, ``"floating"``, ``"bool_"``, ``"ndarray"``) for ``isinstance``, or
    ``()`` when NumPy is not loaded (then no value is a NumPy object). NumPy is never imported here."""
    numpy = sys.modules.get("numpy")
    return tuple(getattr(numpy, name) for name in names) if numpy is not None else ()


def _check_count(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, *_numpy_types("integer"))) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive, got {value!r}")


def _plain(kind: str, value):
    """NumPy scalars (and, for float fields, ints) -> the field's Python type, so configs stay JSON-able;
    anything else is left for :meth:`LaplaceConfig.validate` to judge."""
    if kind == "int" and isinstance(value, _numpy_types("integer")):
        return int(value)
    if (kind == "float" and isinstance(value, (int, float, *_numpy_types("integer", "floating")))
            and not isinstance(value, bool)):
        return float(value)
    if kind.startswith("bool") and isinstance(value, _numpy_types("bool_")):
        return bool(value)
    return value


@dataclasses.dataclass(frozen=True)
class LaplaceConfig(ModelConfig):
    """The settings every model of the family shares, and the whole config of the plain VAE (``VLAE_VAE``,
    :class:`hvae.models.laplace_vae.LaplaceModel`; the original's ``run.py`` flags and ``datasets.py``'s data
    space, spec 2.3 / 2.7).

    Fields:
        image_shape: ``(H, W, C)`` of the images, flattened to D = H W C (from the data on the command line).
        value_range: ``(lo, hi)`` of the pixel values given to the model (from the data).
        z_dim: Z, latent units (50).
        hidden_dim: H, units of each hidden layer of encoder and decoder (500).
        hidden_layers: L >= 1, hidden Dense + ReLU layers of the encoder and of the decoder (2, the original's;
            1 is Rezende & Mohamed's (2015) one-hidden-layer VAE, as pythae reproduces it).
        init: the encoder's and decoder's weight initialisation: ``'original'`` (``initialize_params``:
            :func:`hvae.models.laplace_layers.kaiming_fan_out`) or ``'torch_default'`` (PyTorch's ``nn.Linear``
            default, :func:`hvae.models.laplace_layers.torch_default_kernel`, which pythae's VAE keeps); biases
            U(+-1/sqrt(fan_in)) either way.
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

    model_name: ClassVar[str] = "VLAE_VAE"     # the model's command-line name (not a setting)

    image_shape: tuple = setting((28, 28, 1), data=True, help="(H, W, C) of the images, flattened to D = H W C values (set "
                                                   "from the data)")
    value_range: tuple = setting((0.0, 1.0), data=True, help="(lo, hi) of the pixel values given to the model (set from the "
                                                  "data)")
    z_dim: int = setting(50, minimum=1, help="latent units (default 50)")
    hidden_dim: int = setting(500, minimum=1, help="hidden units of encoder and decoder layers (default 500)")
    hidden_layers: int = setting(2, minimum=1, help="hidden layers of encoder and of decoder (default 2, the original's; 1: "
                                         "Rezende & Mohamed's and pythae's VAE)")
    init: str = setting("original", choices=INITS,
                        help="encoder and decoder weights: original (yookoon/VLAE's Kaiming-uniform, fan-out, "
                             "a = 2^(1/3)) or torch_default (PyTorch's nn.Linear default U(+-1/sqrt(fan_in)), as "
                             "pythae's VAE)")
    output_dist: str = setting("gaussian", choices=OUTPUT_DISTS,
                               help="p(x|z): gaussian (default; pixels minus the training mean, one learned "
                                    "variance) or bernoulli (grey images; binarised afresh at every use unless "
                                    "already binary)")
    logit_transform: bool = setting(False, takes_value=True,
                                    help="gaussian output: dequantise 8-bit pixels and model logit(0.05 + 0.9 x) "
                                         "(--logit_transform or --logit_transform=true/false)")
    weight_decay: float = setting(0.0, minimum=0.0, help="Adam L2 weight decay, PyTorch-style: the training "
                                                         "objective adds weight_decay/2 |theta|^2 (default 0)")
    binarize: bool | None = setting(None, data=True, help="bernoulli output: binarise grey pixels afresh at every use (None: "
                                               "True for the Bernoulli output; False for binary data; set from "
                                               "the data)")

    def __post_init__(self):
        if isinstance(self.image_shape, (list, tuple, *_numpy_types("ndarray"))):
            object.__setattr__(self, "image_shape", tuple(_plain("int", s) for s in self.image_shape))
        if isinstance(self.value_range, (list, tuple, *_numpy_types("ndarray"))):
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

    def own_settings(self) -> dict:
        """The settings the model adds to :class:`LaplaceConfig`'s (``{}`` for the plain VAE) and that are in
        effect, JSON-able, in declaration order (what the command line records in ``config.json``)."""
        shared = set(LaplaceConfig.field_names())
        return {k: v for k, v in self.to_dict().items() if k not in shared}


@dataclasses.dataclass(frozen=True)
class VLAEConfig(LaplaceConfig):
    """:class:`hvae.models.laplace_vae.VLAE`'s config: the shared settings and the mode iteration's (``run.py``'s
    ``--n_update``, ``--update_lr``; the first release's geometric rate as ``update_schedule``).

    Fields:
        n_update: T >= 0 damped Newton updates of the posterior mode (4; 0: Laplace at the encoder mean).
        update_lr: alpha_0 > 0 of the harmonic schedule alpha_t = update_lr / (t + 1) (0.5; unused by the
            geometric schedule).
        update_schedule: ``'harmonic'`` (the current code) or ``'geometric'`` (0.9^t, the first release's).
    """

    model_name: ClassVar[str] = "VLAE"

    n_update: int = setting(4, minimum=0, help="VLAE: damped Newton updates of the posterior mode (default 4; 0: Laplace at "
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
    """:class:`hvae.models.laplace_vae.HF`'s config: the shared settings and the number of Householder reflections
    (``--n_flow``)."""

    model_name: ClassVar[str] = "HF"

    n_flow: int = setting(4, minimum=1, help="HF: Householder reflections (default 4)")

    def validate(self) -> None:
        super().validate()
        _check_count("n_flow", self.n_flow, 1)


@dataclasses.dataclass(frozen=True)
class IAFConfig(LaplaceConfig):
    """:class:`hvae.models.laplace_vae.IAF`'s config: the shared settings and the flow's (``--n_flow``,
    ``--iaf_dim``; ``legacy``: the original's masks, which cut the encoder context off the flow, see
    :class:`hvae.models.laplace_flows.MADE`).

    Raises:
        ValueError: also ``z_dim < 2`` (MADE's degrees are drawn from 1 .. z_dim - 1).
    """

    model_name: ClassVar[str] = "IAF"

    n_flow: int = setting(4, minimum=1, help="IAF: flow steps (default 4)")
    iaf_dim: int = setting(500, minimum=1, help="IAF: MADE hidden units (default 500)")
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
    """:class:`hvae.models.laplace_vae.SAVAE`'s config: the shared settings and the inner refinement's
    (``--n_svi_step``, ``--svi_lr``; ``legacy``: the original's step, which descends the ELBO and is scaled by
    1/batch)."""

    model_name: ClassVar[str] = "SAVAE"

    n_svi_step: int = setting(4, minimum=0, help="SAVAE: inner gradient steps on the ELBO (default 4)")
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


CONFIGS = {config.model_name: config for config in (VLAEConfig, LaplaceConfig, HFConfig, IAFConfig, SAVAEConfig)}
"""The five models' config classes by the models' command-line names, in the order of
:data:`hvae.models.laplace_vae.MODELS` (``CONFIGS[name] is MODELS[name].config_class``)."""


def models_with_setting(name: str) -> tuple:
    """The names (in :data:`CONFIGS`' order, that of :data:`hvae.models.laplace_vae.MODELS`) of the models whose
    config has the setting ``name``."""
    return tuple(model for model, config in CONFIGS.items() if name in config.field_names())


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
