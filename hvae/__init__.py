"""Shared machinery of the project: errors, the trainer, figures and the command line.

The models live in ``models/`` and the data loaders in ``datasets/``; this package holds what
every model family shares (one trainer, one checkpoint/TensorBoard layer, one figure module).
Importing it gives TensorFlow's start-up settings their defaults (:mod:`hvae.environment`).
"""

from .environment import apply as _apply_environment

_apply_environment()
