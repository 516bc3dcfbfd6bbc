"""The model families the command line knows: declared once, each in its own task module.

A family is a set of models trained the same way (VLadder; the VAE collection; ...). Each family's task
module (``hvae/<family>_task.py``) declares, at its top and without importing TensorFlow:

    FAMILY = Family(
        name="vladder", title="VLadder: ...", models=("vladder",), task="VLadderTask",
        default_dataset="celebA", defaults={...}, flags=(flag("--reg", choices=...), ...),
        identity_keys=("reg", ...), run_control_keys=("vis_frequency", ...))

and :data:`FAMILY_MODULES` below lists the task modules: adding a family is one model file in
``models/``, one task file in ``hvae/`` and one line here. The command line (:mod:`hvae.cli`) builds its
parser, ``--help``, defaults, resume checks and the task from these declarations; nothing imports the
command line.

The declarations are read before TensorFlow starts (``--gpus`` and the threading environment must be set
first), so a task module keeps TensorFlow imports inside its functions; :func:`families` checks that.
"""

from __future__ import annotations

import importlib

from .family import MODES, Family, Flag, flag  # noqa: F401  (the declarations; re-exported)

# One line per family, in the order of ``--help``.
FAMILY_MODULES = (
    "hvae.vladder_task",
    "hvae.collection_task",
    "hvae.lvae_task",
    "hvae.lvae2_task",
    "hvae.laplace_task",
)


_FAMILIES: list | None = None


def families() -> list:
    """Every declared :class:`Family`, in :data:`FAMILY_MODULES` order.

    Raises:
        RuntimeError: a module without ``FAMILY``, two families claiming one model name, or a model name
            that is also a mode.
    """
    global _FAMILIES
    if _FAMILIES is None:
        found, owners = [], {}
        for module_name in FAMILY_MODULES:
            module = importlib.import_module(module_name)
            fam = getattr(module, "FAMILY", None)
            if not isinstance(fam, Family):
                raise RuntimeError(f"{module_name} declares no FAMILY")
            fam = Family(**{**fam.__dict__, "module": module_name})
            for model in fam.models:
                key = model.lower()
                if key in owners:
                    raise RuntimeError(f"model name {model!r} is claimed by families {owners[key]} and {fam.name}")
                if key in MODES:
                    raise RuntimeError(f"model name {model!r} is also a mode")
                owners[key] = fam.name
            found.append(fam)
        _FAMILIES = found
    return list(_FAMILIES)


def family(name: str) -> Family:
    """The family called ``name``.

    Raises:
        KeyError: no such family.
    """
    for fam in families():
        if fam.name == name:
            return fam
    raise KeyError(name)


def family_of_model(model: str) -> Family | None:
    """The family that trains ``model`` (case-insensitive), or None."""
    for fam in families():
        if fam.canonical_model(model):
            return fam
    return None


def all_models() -> list:
    """Every model name, family by family (for messages)."""
    return [m for fam in families() for m in fam.models]

