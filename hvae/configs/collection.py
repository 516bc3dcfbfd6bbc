"""The VAE collection's typed configurations and presets (TensorFlow-free; the models are
:mod:`hvae.models.vae_collection`): one frozen config per model (VAE, CVAE, InfoVAE, MMD-VAE), their checks, and
the original's preset (32x32x3 images in [0, 1], latent 200) under each model's name with a ``<name>_mnist`` twin on
28x28x1. Source: the original ``src/VAE.py``, ``src/CVAE.py``, ``src/infoVAE.py``, ``src/MMDVAE.py`` and their
``train.py`` flags.
"""

from __future__ import annotations

import dataclasses

from .base import ModelConfig, register_presets, setting

LIKELIHOODS = ("bernoulli", "gaussian")
ORIGINAL_SHAPE = (32, 32, 3)    # the original's preset
MNIST_SHAPE = (28, 28, 1)       # the <name>_mnist presets (mnist, binarized_mnist, digits)
# The objective's weights of InfoVAE / MMD-VAE (a model's config has the ones it uses), in config.json's order.
OBJECTIVE_SETTINGS = ("alpha", "lambda_", "mmd_bandwidth")


# --------------------------------------------------------------------------------------------------
# The settings
# --------------------------------------------------------------------------------------------------
def _coerce(config, name: str, convert) -> None:
    """Give field ``name`` the type today's constructor gave it (JSON gives lists, the data pipeline numpy
    numbers); None stays None. Raises ValueError (one line) for a value of the wrong kind."""
    value = getattr(config, name)
    if value is None:
        return
    try:
        converted = convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"{type(config).__name__}.{name}: {value!r} is not a valid value") from None
    object.__setattr__(config, name, converted)


@dataclasses.dataclass(frozen=True)
class CollectionConfig(ModelConfig):
    """The settings every model of the collection has (the base of the four models' configs; no model of its
    own). Defaults: the original's preset (32x32x3 images in [0, 1], latent 200, Bernoulli likelihood).

    Attributes:
        image_shape: ``(H, W, C)`` of the images (the data's).
        latent_dim: D, the latent size.
        value_range: ``(lo, hi)`` of the images given to the model (the data's), mapped to [0, 1].
        likelihood: ``bernoulli`` (on the decoder's logits) or ``gaussian`` (Normal(sigmoid(logits), 0.1)).
        legacy: the original's objective (A.7) and, for VAE/CVAE, its decoder wiring.

    Raises:
        ValueError (one line): an image shape that is not three positive sizes, a latent size below 1, a value
            range with lo >= hi, a likelihood outside its choices or other than bernoulli with ``legacy``, an
            InfoVAE / MMD-VAE weight given with ``legacy`` or a bandwidth that is not positive.
    """

    image_shape: tuple = setting(ORIGINAL_SHAPE, help="image shape (H, W, C) (the data's)", data=True)
    latent_dim: int = setting(200, help="latent size (default 200)", minimum=1)
    value_range: tuple = setting((0.0, 1.0), help="(lo, hi) of the images given to the model (the data's), "
                                                  "mapped to [0, 1]", data=True)
    likelihood: str = setting("bernoulli", choices=LIKELIHOODS, help="p(x|z) of the collection (bernoulli)")
    legacy: bool = setting(False, help="the original's objectives and decoder wiring, bugs included "
                                       "(see docs/fidelity.md)")

    def __post_init__(self):
        _coerce(self, "image_shape", lambda v: tuple(int(s) for s in v))
        _coerce(self, "latent_dim", int)
        _coerce(self, "value_range", lambda v: tuple(float(s) for s in v))
        _coerce(self, "legacy", bool)
        for key in ("num_classes",):
            if hasattr(self, key):
                _coerce(self, key, int)
        for key in OBJECTIVE_SETTINGS:
            if hasattr(self, key):
                _coerce(self, key, float)
        super().__post_init__()

    def validate(self) -> None:
        kind = type(self).__name__
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"{kind}.image_shape must be three positive sizes (H, W, C), not {self.image_shape}")
        if self.latent_dim < 1:
            raise ValueError(f"{kind}.latent_dim must be at least 1, not {self.latent_dim}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"{kind}.value_range must be (lo, hi) with lo < hi, not {self.value_range}")
        if self.legacy and self.likelihood != "bernoulli":
            raise ValueError("legacy=True reproduces the original's objective; it takes no likelihood option")
        for key in OBJECTIVE_SETTINGS:
            if getattr(self, key, None) is not None and self.legacy:
                raise ValueError(f"{key.rstrip('_')} does not apply with legacy=True (the original's weights are "
                                 f"fixed)")
        bandwidth = getattr(self, "mmd_bandwidth", None)
        if bandwidth is not None and not bandwidth > 0:
            raise ValueError(f"mmd_bandwidth must be positive, got {bandwidth}")


@dataclasses.dataclass(frozen=True)
class VAEConfig(CollectionConfig):
    """The vanilla VAE (original ``src/VAE.py``): the settings of :class:`CollectionConfig`, nothing more."""


@dataclasses.dataclass(frozen=True)
class CVAEConfig(VAEConfig):
    """The conditional VAE (original ``src/CVAE.py``): the VAE's settings and the number of classes K.

    Raises:
        ValueError: ``num_classes`` missing (None) or below 1, or what :class:`CollectionConfig` rejects.
    """

    num_classes: int | None = setting(10, help="number of classes K of the labels (the data's)", data=True)

    def validate(self) -> None:
        super().validate()
        if self.num_classes is None or self.num_classes < 1:
            raise ValueError(f"CVAE needs num_classes >= 1, got {self.num_classes}")


@dataclasses.dataclass(frozen=True)
class _ConvConfig(CollectionConfig):
    """The convolutional pair's common check: two stride-2 convolutions need image sides divisible by 4."""

    def validate(self) -> None:
        super().validate()
        h, w, _ = self.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"{type(self).__name__.removesuffix('Config')} needs image sides divisible by 4 "
                             f"(two stride-2 convolutions), got {h}x{w}")


@dataclasses.dataclass(frozen=True)
class InfoVAEConfig(_ConvConfig):
    """InfoVAE (original ``src/infoVAE.py``): the collection's settings and the objective's weights
    ``R + (1 - alpha) KL + (alpha + lambda - 1) MMD`` and kernel bandwidth; None: alpha 0, lambda 1000, bandwidth
    the latent size. None of the three applies with ``legacy`` (the original's weights are fixed).

    Raises:
        ValueError: image sides not divisible by 4, or what :class:`CollectionConfig` rejects.
    """

    alpha: float | None = setting(None, help="InfoVAE alpha: KL weight 1-alpha")
    lambda_: float | None = setting(None, flag="--lambda", help="InfoVAE/MMD-VAE lambda: MMD weight alpha+lambda-1")
    mmd_bandwidth: float | None = setting(None, help="MMD kernel exp(-|a-b|^2/bandwidth) (default: latent size)")


@dataclasses.dataclass(frozen=True)
class MMDVAEConfig(_ConvConfig):
    """MMD-VAE (original ``src/MMDVAE.py``): the collection's settings and the objective's weight
    ``R + lambda MMD`` and kernel bandwidth; None: lambda 1000, bandwidth the latent size. Neither applies with
    ``legacy`` (the original's MMD has weight 1 and bandwidth D^2).

    Raises:
        ValueError: image sides not divisible by 4, or what :class:`CollectionConfig` rejects.
    """

    lambda_: float | None = setting(None, flag="--lambda", help="InfoVAE/MMD-VAE lambda: MMD weight alpha+lambda-1")
    mmd_bandwidth: float | None = setting(None, help="MMD kernel exp(-|a-b|^2/bandwidth) (default: latent size)")


# The original's preset (32x32x3, latent 200, 10 classes for CVAE) under each model's name, and the same models on
# 28x28x1 grey digits (mnist, binarized_mnist, digits) as <name>_mnist.
_ORIGINAL = {"VAE": VAEConfig(), "CVAE": CVAEConfig(num_classes=10), "InfoVAE": InfoVAEConfig(),
             "MMDVAE": MMDVAEConfig()}
PRESETS: dict[str, CollectionConfig] = register_presets({
    "VAE": _ORIGINAL["VAE"],
    "VAE_mnist": _ORIGINAL["VAE"].replace(image_shape=MNIST_SHAPE),
    "CVAE": _ORIGINAL["CVAE"],
    "CVAE_mnist": _ORIGINAL["CVAE"].replace(image_shape=MNIST_SHAPE),
    "InfoVAE": _ORIGINAL["InfoVAE"],
    "InfoVAE_mnist": _ORIGINAL["InfoVAE"].replace(image_shape=MNIST_SHAPE),
    "MMDVAE": _ORIGINAL["MMDVAE"],
    "MMDVAE_mnist": _ORIGINAL["MMDVAE"].replace(image_shape=MNIST_SHAPE),
})

# The command line's model names -> their configs (the family's models, in its order).
CONFIGS = {"VAE": VAEConfig, "CVAE": CVAEConfig, "InfoVAE": InfoVAEConfig, "MMDVAE": MMDVAEConfig}
