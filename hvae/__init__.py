"""Shared machinery of the project: errors, the trainer, figures and the command line.

The models (:mod:`hvae.models`) and the data loaders (:mod:`hvae.datasets`) are installed under this package from
the repository's top-level ``models/`` and ``datasets/`` folders (``pyproject.toml`` maps them), so nothing generic
lands in site-packages: Hugging Face's ``datasets`` and ours live side by side. This package itself holds what every
model family shares (one trainer, one checkpoint/TensorBoard layer, one figure module). Importing it gives
TensorFlow's start-up settings their defaults (:mod:`hvae.environment`).

``hvae.load_run(run_dir)`` opens a run of ``train.py`` from Python (:mod:`hvae.api`).
"""

from .environment import apply as _apply_environment

_apply_environment()


def load_run(run_dir: str, best: bool = False):
    """The model of a ``train.py`` run folder with its newest (or best) checkpoint: see :func:`hvae.api.load_run`."""
    from .api import load_run as _load_run

    return _load_run(run_dir, best=best)
