"""VLadder's typed configuration and presets (TensorFlow-free; the model is :mod:`hvae.models.vladder`).

The original ``main.py`` chose one of three layer sets by the dataset (``small`` for MNIST, ``medium`` for SVHN,
``large`` for CelebA and LSUN); :data:`PRESETS` holds its four configurations, :func:`config_for_run` the command
line's choice among them (by ``--netname`` or by the data's image shape). Source: ShengjiaZhao/Variational-Ladder-
Autoencoder, ``main.py`` and ``vladder.py``.
"""

from __future__ import annotations

import dataclasses

from hvae.errors import ConfigError

from .base import ModelConfig, register_presets, setting

# The three layer sets of the original: how many latent layers each has and the image shape it is built for
# (the decoder's reshapes and output channels fix it).
LAYER_SETS = {"small": (3, (28, 28, 1)), "medium": (4, (32, 32, 3)), "large": (4, (64, 64, 3))}
FIGURE_KINDS = ("manifold", "conditional", "samples")


def _coerce(config, name: str, convert) -> None:
    """Normalise a field in place (JSON's lists and ints -> the field's tuple of ints / floats)."""
    value = getattr(config, name)
    try:
        converted = convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"VLadderConfig.{name} cannot be {value!r}") from None
    object.__setattr__(config, name, converted)


def _shape(shape) -> str:
    return "x".join(str(s) for s in shape)


@dataclasses.dataclass(frozen=True)
class VLadderConfig(ModelConfig):
    """Everything that defines a VLadder and its objective (original ``VLadder.__init__``, ``main.py`` flags).
    The defaults are the ``vladder_mnist`` preset.

    Attributes:
        architecture: the built-in configuration this one is (or derives from): the model's default name and
            ``config.json``'s ``architecture``.
        layers: ``small`` (MNIST), ``medium`` (SVHN) or ``large`` (CelebA, LSUN): the original's layer sets.
        latent_dims: latent size of each layer, bottom to top (3 sizes for ``small``, 4 otherwise).
        loss_ratio: weight of the L1 reconstruction term (the Laplace likelihood's inverse scale, per data unit).
        image_shape: ``(H, W, C)`` the layers are built for: 28x28x1 (small), 32x32x3 (medium), 64x64x3 (large).
        figures: the visualisers the original ran for this configuration (``manifold``, ``conditional``,
            ``samples``).
        value_range: ``(lo, hi)`` of the data, (0, 1) or (-1, 1); the decoder's sigmoid is mapped onto it.
        reg: ``kl`` (analytic KL with warm-up) or ``mmd`` (MMD to N(0, I), weights 100/100).
        denoise: corrupt the inputs (salt and pepper plus Gaussian) during training and testing; the targets
            stay clean (original ``--denoise_train``).
        top_heads: ``original`` keeps the Large layers' ReLU mean and scale heads of the top layer (the contrib
            default the original left in place); ``fixed`` makes them linear and sigmoid like every other
            layer. No effect on the Small and Medium layers.
        warmup_steps: tau of the KL warm-up beta_t = 1 - exp(-t/tau), in iterations.

    Raises:
        ValueError: a value outside its choices, latent sizes or an image shape that do not fit the layer set,
            an empty or reversed value range, a non-positive loss_ratio or warmup_steps, an unknown figure.
    """

    architecture: str = setting("vladder_mnist", flag=False, help="the built-in configuration this one is or derives from "
                                                      "(the model's default name)")
    layers: str = setting("small", choices=tuple(LAYER_SETS), flag=False,
                          help="the original's layer set: small (MNIST), medium (SVHN) or large (CelebA, LSUN)")
    latent_dims: tuple = setting((2, 2, 2), minimum=1,
                                 help="latent size of each layer, bottom to top (3 for the small layers, 4 otherwise)")
    loss_ratio: float = setting(8.0, help="weight of the L1 reconstruction term (inverse scale of the Laplace "
                                          "likelihood)")
    image_shape: tuple = setting((28, 28, 1), data=True, help="image shape (H, W, C) the layers are built for")
    figures: tuple = setting(("manifold",), flag=False, help="the visualisers the original ran for this configuration "
                                                 "(manifold, conditional, samples)")
    value_range: tuple = setting((0.0, 1.0), data=True, help="(lo, hi) of the data; the decoder's sigmoid is mapped onto it")
    reg: str = setting("kl", choices=("kl", "mmd"),
                       help="kl: per-layer KL with warm-up (default); mmd: MMD to N(0,I)")
    denoise: bool = setting(False, flag="--denoise_train", help="corrupt inputs (salt and pepper + Gaussian)")
    top_heads: str = setting("original", choices=("original", "fixed"),
                             help="Large layers' top mean/scale heads: original ReLU (default) or linear/sigmoid")
    warmup_steps: float = setting(2000.0, help="tau of the KL warm-up beta_t = 1 - exp(-t/tau), in iterations")

    def __post_init__(self):
        _coerce(self, "latent_dims", lambda v: tuple(int(d) for d in v))
        _coerce(self, "image_shape", lambda v: tuple(int(d) for d in v))
        _coerce(self, "value_range", lambda v: tuple(float(d) for d in v))
        _coerce(self, "figures", lambda v: (v,) if isinstance(v, str) else tuple(str(f) for f in v))
        _coerce(self, "loss_ratio", float)
        _coerce(self, "warmup_steps", float)
        super().__post_init__()

    def validate(self) -> None:
        count, shape = LAYER_SETS[self.layers]
        if len(self.latent_dims) != count or min(self.latent_dims) < 1:
            raise ValueError(f"VLadderConfig.latent_dims must be {count} positive sizes for the {self.layers} "
                             f"layers, not {self.latent_dims}")
        if self.image_shape != shape:
            raise ValueError(f"VLadderConfig.image_shape must be {_shape(shape)} for the {self.layers} layers, "
                             f"not {_shape(self.image_shape)}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"VLadderConfig.value_range must be (lo, hi) with lo < hi, not {self.value_range}")
        if not self.loss_ratio > 0:
            raise ValueError(f"VLadderConfig.loss_ratio must be positive, not {self.loss_ratio}")
        if not self.warmup_steps > 0:
            raise ValueError(f"VLadderConfig.warmup_steps must be positive, not {self.warmup_steps}")
        unknown = [f for f in self.figures if f not in FIGURE_KINDS]
        if unknown:
            raise ValueError(f"VLadderConfig.figures must be among {', '.join(FIGURE_KINDS)}, not "
                             f"{', '.join(map(repr, unknown))}")


_MNIST = VLadderConfig()
_CELEBA = _MNIST.replace(architecture="vladder_celebA", layers="large", latent_dims=(10, 10, 10, 10), loss_ratio=0.5,
                         image_shape=(64, 64, 3), value_range=(-1.0, 1.0), figures=("conditional", "samples"))

# The original's four configurations (value range [0, 1] for 28x28 and 32x32 data, [-1, 1] for 64x64).
PRESETS: dict[str, VLadderConfig] = register_presets({
    "vladder_mnist": _MNIST,
    "vladder_svhn": _MNIST.replace(architecture="vladder_svhn", layers="medium", latent_dims=(5, 5, 5, 10),
                                   image_shape=(32, 32, 3), figures=("conditional",)),
    "vladder_celebA": _CELEBA,
    "vladder_lsun": _CELEBA.replace(architecture="vladder_lsun", latent_dims=(20, 20, 20, 40), figures=("conditional",)),
})


def builtin_config(netname: str) -> VLadderConfig | None:
    """The preset named ``netname`` (case-insensitive), or None."""
    for name, cfg in PRESETS.items():
        if name.lower() == str(netname).lower():
            return cfg
    return None


def config_for_shape(shape, dataset_name: str = "") -> VLadderConfig | None:
    """The preset a dataset of this image shape trains: 28x28x1 -> mnist, 32x32x3 -> svhn, 64x64x3 -> celebA
    (lsun for the ``lsun`` dataset). None for any other shape."""
    shape = tuple(int(s) for s in shape)
    if dataset_name.lower() == "lsun" and shape == PRESETS["vladder_lsun"].image_shape:
        return PRESETS["vladder_lsun"]
    for key in ("vladder_mnist", "vladder_svhn", "vladder_celebA"):
        if PRESETS[key].image_shape == shape:
            return PRESETS[key]
    return None


def config_for_run(netname: str, dataset_name: str, image_shape, value_range, **overrides) -> VLadderConfig:
    """The configuration a command-line run trains (the original ``main.py``'s choice of layers).

    A preset netname (case-insensitive) selects its configuration, and the dataset must have its image shape;
    any other netname takes the configuration of the dataset's image shape (:func:`config_for_shape`). The
    value range is the data's; ``overrides`` (``reg``, ``denoise``, ``top_heads``, ...) replace settings.

    Args:
        netname: the run's ``--netname``.
        dataset_name: the run's ``--dataset``.
        image_shape: the data's ``(H, W, C)``.
        value_range: the data's ``(lo, hi)``.
    Raises:
        ConfigError: the shape does not fit the named configuration, or no configuration takes it (one line).
        ValueError: an unknown or invalid override.
    """
    shape = tuple(int(s) for s in image_shape)
    cfg = builtin_config(netname)
    if cfg is not None:
        if cfg.image_shape != shape:
            raise ConfigError(f"{cfg.architecture} takes {_shape(cfg.image_shape)} images but dataset {dataset_name} "
                              f"gives {_shape(shape)}: choose another --netname (the architecture then follows the "
                              f"data)")
    else:
        cfg = config_for_shape(shape, dataset_name)
        if cfg is None:
            sizes = ", ".join(sorted({_shape(c.image_shape) for c in PRESETS.values()}))
            raise ConfigError(f"VLadder has layers for {sizes} images; dataset {dataset_name} gives {_shape(shape)} "
                              f"(use --image_size or a dataset option to resize)")
    return cfg.replace(value_range=tuple(float(v) for v in value_range), **overrides)

# The command line's model name -> its config (the family's one model).
CONFIGS = {"vladder": VLadderConfig}
