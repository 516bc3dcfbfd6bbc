"""Shared machinery of the project: errors, the trainer, figures and the command line.

The models live in ``models/`` and the data loaders in ``datasets/``; this package holds what
every model family shares (one trainer, one checkpoint/TensorBoard layer, one figure module).
Importing it gives TensorFlow's start-up settings their defaults (:mod:`hvae.environment`) and makes
``import datasets`` / ``import models`` find this project's packages even where another distribution of the
same top-level name (Hugging Face's ``datasets``) is installed (:class:`_OwnPackages`).

``hvae.load_run(run_dir)`` opens a run of ``train.py`` from Python (:mod:`hvae.api`).
"""

import importlib.abc
import importlib.util
import os
import sys

from .environment import apply as _apply_environment

_apply_environment()

# The project's other top-level packages, beside this one (in the repository, or in site-packages after a
# non-editable install).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN_PACKAGES = ("datasets", "models")


class _OwnPackages(importlib.abc.MetaPathFinder):
    """Finds ``datasets`` and ``models`` in this project's folder before ``sys.path`` is searched.

    ``datasets`` is also the name of Hugging Face's popular package: with both installed, the path search
    could give theirs (an editable install's entry comes after site-packages). This finder, first on
    ``sys.meta_path``, answers only for those two names and only where the project's folder holds them, so
    every other import is untouched. Hugging Face's ``datasets`` cannot be used in the same process as this
    project's (one module name, one module): keep it in another environment.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in OWN_PACKAGES:
            return None
        init = os.path.join(_ROOT, fullname, "__init__.py")
        if not os.path.isfile(init) or not _is_ours(init):
            return None
        return importlib.util.spec_from_file_location(fullname, init,
                                                      submodule_search_locations=[os.path.dirname(init)])


def _is_ours(init: str) -> bool:
    """Whether ``init`` is this project's package (it imports ``hvae``), not another distribution's file."""
    try:
        with open(init, encoding="utf-8") as f:
            return "hvae" in f.read(4096)
    except OSError:
        return False


if not any(isinstance(finder, _OwnPackages) for finder in sys.meta_path):
    sys.meta_path.insert(0, _OwnPackages())


def load_run(run_dir: str, best: bool = False):
    """The model of a ``train.py`` run folder with its newest (or best) checkpoint: see :func:`hvae.api.load_run`."""
    from .api import load_run as _load_run

    return _load_run(run_dir, best=best)
