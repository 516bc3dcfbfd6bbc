"""Every model family's typed configuration, checks and presets, in modules that import no TensorFlow (the command
line reads them before TensorFlow starts): :mod:`hvae.configs.base` (the :class:`ModelConfig` base, :func:`setting`,
the preset registry) and one module per family. The models (:mod:`hvae.models`) import their configs from here.

Why not beside the models, in ``models/``: Python runs a package's ``__init__`` before any of its modules, and
``hvae.models`` registers every Keras class on import (so that ``keras.models.load_model`` finds them), which
starts TensorFlow.
"""

import importlib

# The families' config modules, imported in this order so that the preset registry's order does not depend on
# which module a program imports first.
FAMILY_CONFIGS = ("vladder", "collection", "lvae", "lvae2", "laplace")

for _name in FAMILY_CONFIGS:
    importlib.import_module(f"{__name__}.{_name}")
