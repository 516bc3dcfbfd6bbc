"""The Ladder VAE's typed configuration, its checks and its presets, without TensorFlow (the command line reads them
before TensorFlow starts; the model, :mod:`hvae.models.lvae`, imports them from here and re-exports every name).

From addtt/ladder-vae-pytorch: the settings are the constructor arguments of the original's ``models/lvae.py`` and the
flags of its ``main.py`` (:func:`padded_size` is its ``get_padded_size``); the presets are its README command lines.

* the choices: :data:`LIKELIHOODS`, :data:`NONLINEARITIES`, :data:`RESIDUAL_TYPES`, :data:`MERGE_TYPES`; what each
  likelihood is (:data:`DATA_DENSITY`, :data:`MIXTURE_COMPONENTS`);
* geometry and checks: :func:`downscale_factor`, :func:`padded_size`, :func:`check_architecture`,
  :func:`check_settings`;
* :class:`LVAEConfig` (a frozen dataclass: the architecture, the objective, the data's image shape and value range,
  and whether training starts with the data-dependent initialisation) with the command line's spelling
  (its flags are made from the fields by :func:`hvae.family.config_flags`; :meth:`~LVAEConfig.check_flags`,
  :meth:`~LVAEConfig.from_flags`);
* the presets: :data:`PRESETS` (registered with :func:`hvae.configs.base.register_presets`), :data:`PRESET_SOURCES`,
  :data:`DATASET_PRESETS`, :data:`PRESET_PREFIX`, :func:`resolve_preset`::

    config = PRESETS["LVAE_cifar10_15"].replace(n_filters=32)
    config = LVAEConfig.from_flags({"preset": "mnist_12", "freebits": 0.5}, image_shape=(28, 28, 1))
"""

from __future__ import annotations

import dataclasses
import math

from .base import ModelConfig, register_presets, setting

NONLINEARITIES = ("relu", "leakyrelu", "elu", "selu")
RESIDUAL_TYPES = ("bacdbacd", "bacdbac", "cabdcabd")
MERGE_TYPES = ("residual", "linear")
LIKELIHOODS = ("bernoulli", "gaussian", "discr_log", "discr_log_mix")
DATA_DENSITY = {"bernoulli": "bernoulli", "gaussian": "gaussian", "discr_log": "discretized_logistic",
                "discr_log_mix": "discretized_logistic_mixture"}
MIXTURE_COMPONENTS = 10


# --------------------------------------------------------------------------------------------------
# Geometry and checks
# --------------------------------------------------------------------------------------------------
def downscale_factor(downsample, initial_downscaling: bool = True) -> int:
    """F = 2^sum(downsample), x 2 with the initial stride-2 stem."""
    return 2 ** int(sum(downsample)) * (2 if initial_downscaling else 1)


def padded_size(size: int, factor: int) -> int:
    """The smallest multiple of ``factor`` that is >= ``size`` (original ``get_padded_size``)."""
    return ((int(size) - 1) // factor + 1) * factor


def check_architecture(image_shape, z_dims, downsample, blocks_per_layer: int, n_filters: int = 64,
                       initial_downscaling: bool = True, free_bits: float = 0.0, dropout=None,
                       likelihood: str = "bernoulli", nonlin: str = "elu", residual_type: str = "bacdbacd",
                       merge_layers: str = "residual", beta_anneal: int = 0, weight_decay: float = 0.0) -> None:
    """Check a configuration before building it (:meth:`LVAEConfig.validate`; the messages name the command
    line's flags). ``image_shape`` ``(H, W, C)``, or None before the data is known: the checks that need the
    image (the downscale factor against its size, the mixture's RGB channels) are then left out.

    Raises:
        ValueError: one line naming the problem: ``z_dims`` and ``downsample`` of different lengths, an empty
            or non-positive ``z_dims``, a negative downsample entry or one larger than ``blocks_per_layer``,
            a downscale factor larger than the image (the top feature map would be smaller than one pixel of
            the image), negative free bits, a dropout outside [0, 1), an unknown choice, or a likelihood that
            does not fit the image's channels (the mixture of logistics is RGB only).
    """
    z_dims, downsample = list(z_dims), list(downsample)
    if not z_dims:
        raise ValueError("--zdims needs at least one entry (latent channels per stochastic layer, bottom to top)")
    if len(z_dims) != len(downsample):
        raise ValueError(f"--zdims has {len(z_dims)} entries but --downsample has {len(downsample)}: give one "
                         f"downsampling count per stochastic layer")
    if any(int(z) < 1 for z in z_dims):
        raise ValueError(f"--zdims entries must be at least 1, got {' '.join(map(str, z_dims))}")
    if int(blocks_per_layer) < 1:
        raise ValueError(f"--blocks_per_layer must be at least 1, got {blocks_per_layer}")
    if int(n_filters) < 1:
        raise ValueError(f"--nfilters must be at least 1, got {n_filters}")
    for i, d in enumerate(downsample):
        if int(d) < 0:
            raise ValueError(f"--downsample entries must be 0 or more, got {d} for layer {i}")
        if int(d) > int(blocks_per_layer):
            raise ValueError(f"--downsample {d} for layer {i} exceeds --blocks_per_layer {blocks_per_layer}: each "
                             f"downsampling needs its own residual block")
    h, w, c = (None, None, None) if image_shape is None else (int(s) for s in image_shape)
    factor = downscale_factor(downsample, initial_downscaling)
    if image_shape is not None and (factor > h or factor > w):
        allowed = int(math.log2(min(h, w))) - (1 if initial_downscaling else 0)
        raise ValueError(f"--downsample {' '.join(map(str, downsample))} (overall factor {factor}) leaves the top "
                         f"feature map smaller than one pixel of the {h}x{w} image; the downsample entries may add up "
                         f"to at most {max(allowed, 0)}")
    if not free_bits >= 0:
        raise ValueError(f"--freebits must be 0 or more (nats per layer and image), got {free_bits}")
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {dropout}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
    if likelihood == "discr_log_mix" and image_shape is not None and c != 3:
        raise ValueError(f"--likelihood discr_log_mix (PixelCNN++ mixture of logistics) models RGB images, but the "
                         f"data has {c} channel(s); use bernoulli, gaussian or discr_log")
    if nonlin not in NONLINEARITIES:
        raise ValueError(f"unknown nonlinearity {nonlin!r}; choose one of {', '.join(NONLINEARITIES)}")
    if residual_type not in RESIDUAL_TYPES:
        raise ValueError(f"unknown residual block type {residual_type!r}; choose one of {', '.join(RESIDUAL_TYPES)}")
    if merge_layers not in MERGE_TYPES:
        raise ValueError(f"unknown merge type {merge_layers!r}; choose one of {', '.join(MERGE_TYPES)}")
    if int(beta_anneal) < 0:
        raise ValueError(f"--beta_anneal must be 0 (off) or more steps, got {beta_anneal}")
    if not weight_decay >= 0:
        raise ValueError(f"--weight_decay must be 0 or more, got {weight_decay}")


_ARCHITECTURE_ARGS = ("z_dims", "downsample", "blocks_per_layer", "n_filters", "initial_downscaling", "free_bits",
                      "dropout", "likelihood", "nonlin", "residual_type", "merge_layers", "beta_anneal", "weight_decay")


def check_settings(settings, image_shape=None) -> None:
    """:func:`check_architecture` of a dict of :class:`LVAEConfig` fields (the image-dependent checks only with
    ``image_shape``), e.g. a preset completed by command-line flags before the data is read.

    Raises:
        ValueError: one line, see :func:`check_architecture`.
    """
    check_architecture(image_shape, **{key: settings[key] for key in _ARCHITECTURE_ARGS})


# --------------------------------------------------------------------------------------------------
# The typed configuration and the README presets
# --------------------------------------------------------------------------------------------------
_INT_TUPLES = ("image_shape", "z_dims", "downsample")
_INTS = ("blocks_per_layer", "n_filters", "beta_anneal")
_FLOATS = ("free_bits", "weight_decay")
_BOOLS = ("batch_norm", "skip", "gated", "learn_top_prior", "analytical_kl", "initial_downscaling", "data_dep_init")
# Fields set from the data, not from a command-line flag.
DATA_FIELDS = ("image_shape", "value_range")


def _coerce(name: str, value, convert):
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise ValueError(f"LVAEConfig.{name} cannot be {value!r}") from None


@dataclasses.dataclass(frozen=True)
class LVAEConfig(ModelConfig):
    """Everything that defines an :class:`LVAE` and its objective (the constructor arguments of the original's
    ``main.py`` / ``models/lvae.py``; defaults: the original's argparse defaults on 28x28 binary MNIST, i.e.
    the preset ``LVAE_original_defaults``). Field names are the keys of the model's ``get_config`` (earlier
    versions wrote the same keys, without ``data_dep_init``, which then takes its default). ``flag`` metadata
    gives today's command-line spelling where it differs; a flag spelled ``--no_<...>`` is the field's
    negation (``--no_bn`` sets ``batch_norm=False``). ``image_shape`` and ``value_range`` come from the data
    (:data:`DATA_FIELDS`). Numbers and lists are normalised (ints, floats, tuples) on construction.

    Raises:
        ValueError: one line naming the setting (:func:`check_architecture`; a value outside its choices).
    """

    image_shape: tuple = setting((28, 28, 1), data=True, help="(H, W, C) of the images (from the data)")
    z_dims: tuple = setting((32, 32, 32), flag="--zdims", minimum=1,
                            help="latent channels per stochastic layer, bottom to top (its length = number of layers)")
    downsample: tuple = setting((1, 1, 1), minimum=0, help="x2 downsamplings of each layer's bottom-up segment, bottom to "
                                                "top (one per layer)")
    blocks_per_layer: int = setting(2, minimum=1, help="residual blocks per segment (presets 4; original 2)")
    n_filters: int = setting(64, flag="--nfilters", minimum=1, help="channels of every deterministic feature map (64)")
    batch_norm: bool = setting(True, flag="--no_bn", help="batch norm in the residual blocks (--no_bn: off)")
    skip: bool = setting(False, negatable=True, help="skip connections in the generative path")
    gated: bool = setting(False, negatable=True, help="gated residual blocks (the stem's never; merge blocks always)")
    learn_top_prior: bool = setting(False, negatable=True, help="learn the top layer's prior (else fixed at N(0, I))")
    residual_type: str = setting("bacdbacd", choices=RESIDUAL_TYPES,
                                 help="residual block: b batch norm, a activation, c conv, d dropout (bacdbacd)")
    merge_layers: str = setting("residual", choices=MERGE_TYPES,
                                help="merge of bottom-up and top-down features (residual)")
    nonlin: str = setting("elu", choices=NONLINEARITIES, help="nonlinearity (elu)")
    dropout: float | None = setting(0.2, help="channel-dropout rate in the residual blocks (None or < 1e-5: none)")
    free_bits: float = setting(0.0, flag="--freebits", help="free bits in nats, per layer and per image (presets: "
                                                            "0.5 up to 6 layers, 1.0 above)")
    analytical_kl: bool = setting(False, help="closed-form KL in the training objective (evaluation stays Monte Carlo)")
    initial_downscaling: bool = setting(True, flag="--no_initial_downscaling",
                                        help="the stride-2 stem and the final x2 upsampling "
                                             "(--no_initial_downscaling: off)")
    likelihood: str = setting("bernoulli", choices=LIKELIHOODS,
                              help="p(x|z): bernoulli (binary data), gaussian, discr_log, discr_log_mix (RGB)")
    value_range: tuple = setting((0.0, 1.0), data=True,
                                 help="(lo, hi) of the images (from the data); mapped to [0, 1] inside")
    beta_anneal: int = setting(0, minimum=0, help="steps of linear KL warm-up 0 -> 1 (0: off)")
    weight_decay: float = setting(0.0, help="L2 weight decay, PyTorch Adamax's coupled form (0)")
    data_dep_init: bool = setting(False, negatable=True, help="data-dependent initialisation on the first training batch of a "
                                              "fresh run (LVAE.data_dependent_init; the trainer runs it)")

    def __post_init__(self):
        values = {}
        for name in _INT_TUPLES:
            values[name] = _coerce(name, getattr(self, name), lambda v: tuple(int(x) for x in v))
        values["value_range"] = _coerce("value_range", self.value_range, lambda v: tuple(float(x) for x in v))
        for name in _INTS:
            values[name] = _coerce(name, getattr(self, name), int)
        for name in _FLOATS:
            values[name] = _coerce(name, getattr(self, name), float)
        for name in _BOOLS:
            values[name] = bool(getattr(self, name))
        if self.dropout is not None:
            values["dropout"] = _coerce("dropout", self.dropout, float)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        super().__post_init__()

    def validate(self) -> None:
        """:func:`check_architecture` on the image shape and the settings."""
        if len(self.value_range) != 2 or not self.value_range[1] > self.value_range[0]:
            raise ValueError(f"LVAEConfig.value_range must be (lo, hi) with hi > lo, got {self.value_range}")
        if len(self.image_shape) != 3:
            raise ValueError(f"LVAEConfig.image_shape must be (H, W, C), got {self.image_shape}")
        check_settings(self.to_dict(), self.image_shape)

    # ---- the command line (hvae/lvae_task.py): flags made from the fields, hvae.family.config_flags -----------
    @classmethod
    def check_flags(cls, flags: dict) -> str:
        """What can be checked of a command line before the data is read (the image-dependent checks follow in
        :meth:`from_flags`): the preset of ``flags`` (:func:`resolve_preset` by ``flags["dataset"]``) completed by
        the flags given. Returns the preset's full name.

        Raises:
            ValueError: ``--zdims`` given without ``--downsample`` and of another length than the preset's
                downsample list; a setting :func:`check_settings` rejects (a downsample entry larger than
                ``--blocks_per_layer`` or negative, negative free bits, dropout outside [0, 1), ...).
        """
        name = resolve_preset(flags.get("preset"), flags.get("dataset") or "")
        given = cls.given_flags(flags)
        settings = {**PRESETS[name].to_dict(), **given}
        zdims, downsample = settings["z_dims"], settings["downsample"]
        if "z_dims" in given and "downsample" not in given and len(zdims) != len(downsample):
            raise ValueError(f"--zdims has {len(zdims)} entries but preset {name[len(PRESET_PREFIX):]}'s downsample "
                             f"list has {len(downsample)} ({' '.join(map(str, downsample))}): give --downsample too, "
                             f"one entry per layer")
        check_settings(settings)
        return name

    @classmethod
    def from_flags(cls, flags: dict, image_shape=None, value_range=None, base: LVAEConfig | None = None) -> LVAEConfig:
        """The configuration of a command line: ``base`` (a saved run's config), else the preset ``flags["preset"]``
        (default by ``flags["dataset"]`` and ``image_shape``, :func:`resolve_preset`), then the flags given
        (:meth:`~hvae.configs.base.ModelConfig.with_flags`), on the data's ``image_shape`` / ``value_range`` when
        given. A fresh run without ``--likelihood`` gets Bernoulli for one-channel images, the mixture of logistics
        for RGB (by ``image_shape``; without it, the preset's).

        Raises:
            ValueError: an unknown preset, or a configuration :meth:`validate` rejects.
        """
        data = {}
        if image_shape is not None:
            data["image_shape"] = tuple(image_shape)
        if value_range is not None:
            data["value_range"] = tuple(value_range)
        if base is None:
            base = PRESETS[resolve_preset(flags.get("preset"), flags.get("dataset") or "", image_shape)]
            if image_shape is not None and flags.get("likelihood") is None:
                data["likelihood"] = "discr_log_mix" if tuple(image_shape)[-1] == 3 else "bernoulli"
        return base.with_flags(flags, **data)


# The README configurations (addtt/ladder-vae-pytorch), each on its dataset's images as this project's loaders
# give them: MNIST 28x28x1 in [0, 1] (Bernoulli), CIFAR-10 / SVHN 32x32x3 in [0, 1] and CelebA 64x64x3 in
# [-1, 1] (the 10-component discretized logistic mixture).
ORIGINAL = LVAEConfig()
README = ORIGINAL.replace(blocks_per_layer=4, skip=True, gated=True, learn_top_prior=True, data_dep_init=True)
_CIFAR = README.replace(image_shape=(32, 32, 3), likelihood="discr_log_mix")
_CELEBA = _CIFAR.replace(image_shape=(64, 64, 3), value_range=(-1.0, 1.0))
_DOWNSAMPLE_15 = (0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
PRESETS: dict = register_presets({
    "LVAE_mnist_3": README.replace(z_dims=(32,) * 3, downsample=(1, 1, 1), free_bits=0.5),
    "LVAE_mnist_6": README.replace(z_dims=(32,) * 6, downsample=(0, 1, 0, 1, 0, 1), free_bits=0.5),
    "LVAE_mnist_12": README.replace(z_dims=(32,) * 12, downsample=(0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0), free_bits=1.0),
    "LVAE_cifar10_3": _CIFAR.replace(z_dims=(32,) * 3, downsample=(1, 1, 1), free_bits=0.5),
    "LVAE_cifar10_6": _CIFAR.replace(z_dims=(32,) * 6, downsample=(0, 1, 0, 1, 0, 1), free_bits=0.5),
    "LVAE_cifar10_15": _CIFAR.replace(z_dims=(32,) * 15, downsample=_DOWNSAMPLE_15, free_bits=1.0),
    "LVAE_svhn_15": _CIFAR.replace(z_dims=(32,) * 15, downsample=_DOWNSAMPLE_15, free_bits=1.0),
    "LVAE_celeba_20": _CELEBA.replace(z_dims=(32,) * 20, downsample=(0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                                                                     0, 0, 0), free_bits=1.0),
    "LVAE_original_defaults": ORIGINAL,
})
PRESET_SOURCES = {
    "LVAE_mnist_3": "current README command (git HEAD a27d45c)",
    "LVAE_mnist_6": "README table row (6 layers); downsample list derived from the README recipe (not in the "
                    "repository or its history): one layer at 16x16, two at 8x8, two at 4x4, one at 2x2",
    "LVAE_mnist_12": "README command before commit cc3bf68",
    "LVAE_cifar10_3": "README recipe for the CIFAR-10 3-layer row (the MNIST 3-layer list on 32x32)",
    "LVAE_cifar10_6": "README recipe for the CIFAR-10 6-layer row (derived downsample list, as mnist_6)",
    "LVAE_cifar10_15": "README recipe (15 layers, 3 downsamplings after the stem, ~equal layers per resolution: "
                       "4/4/4/3; the exact list is not stated)",
    "LVAE_svhn_15": "README recipe (as cifar10_15)",
    "LVAE_celeba_20": "README recipe (20 layers, 4 downsamplings after the stem, 4 layers per resolution; the exact "
                      "list is not stated)",
    "LVAE_original_defaults": "the original's argparse defaults, without the README flags",
}
# The preset a dataset trains without --preset (by name; else by image shape, resolve_preset).
DATASET_PRESETS = {"binarized_mnist": "LVAE_mnist_3", "mnist": "LVAE_mnist_3", "digits": "LVAE_mnist_3",
                   "cifar10": "LVAE_cifar10_15", "svhn": "LVAE_svhn_15", "celebA": "LVAE_celeba_20",
                   "lsun": "LVAE_celeba_20"}
PRESET_PREFIX = "LVAE_"


def resolve_preset(name=None, dataset: str = "", image_shape=None) -> str:
    """The full name (``LVAE_<...>``) of preset ``name`` (the ``LVAE_`` prefix may be left out, as
    ``--preset`` spells it), or, without one, of the preset a dataset gets: by name
    (:data:`DATASET_PRESETS`), else by image shape (small grey images -> mnist_3, small colour -> cifar10_15,
    larger -> celeba_20).

    Raises:
        ValueError: an unknown preset (the message lists them).
    """
    if name:
        full = name if name.startswith(PRESET_PREFIX) else PRESET_PREFIX + name
        if full not in PRESETS:
            raise ValueError(f"unknown LVAE preset {name!r}; presets: {', '.join(PRESETS)}")
        return full
    if dataset in DATASET_PRESETS:
        return DATASET_PRESETS[dataset]
    if image_shape is not None:
        h, w, c = image_shape
        if min(h, w) <= 32:
            return "LVAE_mnist_3" if c == 1 else "LVAE_cifar10_15"
    return "LVAE_celeba_20"


__all__ = ["LVAEConfig", "PRESETS", "PRESET_PREFIX", "PRESET_SOURCES", "DATASET_PRESETS", "DATA_FIELDS", "ORIGINAL",
           "README", "resolve_preset", "check_architecture", "check_settings", "downscale_factor", "padded_size",
           "LIKELIHOODS", "NONLINEARITIES", "RESIDUAL_TYPES", "MERGE_TYPES", "DATA_DENSITY", "MIXTURE_COMPONENTS"]

# The command line's model name -> its config (the family's one model).
CONFIGS = {"LVAE": LVAEConfig}
