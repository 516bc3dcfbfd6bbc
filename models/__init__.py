"""The model families (one module each) and the pieces they share (layers, objectives, the likelihood
interface, the Keras base class). Importing it gives TensorFlow's start-up settings their defaults
(:mod:`hvae.environment`).

    import models
    vae = models.from_preset("VAE_mnist")           # any family's preset, built (models.preset_names())
    model = models.load_model("vae.keras")           # keras.models.load_model with every family registered

The families' model modules are found through the one registry of families (:mod:`hvae.registry`).
"""

import hvae  # noqa: F401  (sets TensorFlow's environment defaults before TensorFlow is imported)


def _model_modules() -> list:
    import importlib

    from hvae import registry

    return [importlib.import_module(f.model_module) for f in registry.families() if f.model_module]


def preset_names() -> list:
    """Every family's presets (``vladder_mnist``, ``VAE_mnist``, ...), family by family."""
    return [name for module in _model_modules() for name in getattr(module, "PRESETS", {})]


def from_preset(name: str, **kwargs):
    """Build the preset ``name`` of whichever family defines it (a built Keras model).

    Raises:
        ValueError: no family has that preset (the message lists them).
    """
    for module in _model_modules():
        presets = getattr(module, "PRESETS", {})
        if name in presets:
            return presets[name](**kwargs)
    raise ValueError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")


def load_model(path: str):
    """``keras.models.load_model(path)`` after every family's classes are registered with Keras (a ``.keras``
    file written by ``model.save`` or ``python generate.py --export``)."""
    import keras

    _model_modules()
    return keras.models.load_model(path)
