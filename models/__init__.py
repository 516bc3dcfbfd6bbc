"""The model families (one module each) and the pieces they share (layers, objectives, the likelihood
interface, the Keras base class and typed configs). Importing it registers every model class with Keras and
every preset (and gives TensorFlow's start-up settings their defaults, :mod:`hvae.environment`).

    from hvae import models
    vae = models.from_preset("VAE_mnist", latent_dim=10)   # any family's preset, with overrides, built
    config = models.preset("LVAE_mnist_3")                  # its typed config (a frozen dataclass)
    model = models.build(config.replace(free_bits=0.5))      # the model of any config, built
    model = keras.models.load_model("vae.keras")             # any .keras file of ours, once models is imported

A family's model module defines one :class:`~models.base.ModelConfig` subclass per model, its ``PRESETS``
(``{name: config}``, registered with :func:`hvae.models.base.register_presets`) and the model classes (registered with
:func:`hvae.models.base.register`). Adding a family: one module here, listed in :data:`MODEL_MODULES`.
"""

import importlib

import hvae  # noqa: F401  (sets TensorFlow's environment defaults before TensorFlow is imported)
from hvae.environment import quiet_start

quiet_start()  # TensorFlow started without its C++ start-up lines, as on the command line


from .base import HVAEModel, ModelConfig, build, model_class, preset, preset_names  # noqa: E402, F401

# Every family's model module, imported here so that its classes and presets are registered.
MODEL_MODULES = ("hvae.models.vladder", "hvae.models.vae_collection", "hvae.models.lvae", "hvae.models.lvae2",
                 "hvae.models.laplace_vae")

for _module in MODEL_MODULES:
    importlib.import_module(_module)


def from_preset(name: str, **overrides):
    """The preset ``name`` of whichever family defines it, with ``overrides`` of its settings, built.

    Raises:
        ValueError: no such preset (the message lists them), an unknown setting or an invalid value.
    """
    return build(preset(name), **overrides)


def load_model(path: str):
    """``keras.models.load_model(path)`` (every family is registered once :mod:`models` is imported)."""
    import keras

    return keras.models.load_model(path)


__all__ = ["HVAEModel", "ModelConfig", "MODEL_MODULES", "build", "from_preset", "load_model", "model_class",
           "preset", "preset_names"]
