"""A model family's declaration: :class:`Family` and its command-line flags (:func:`flag`).

A family's task module (``hvae/<family>_task.py``) declares ``FAMILY = Family(...)`` at its top, without importing
TensorFlow; :mod:`hvae.registry` lists the task modules and the command line reads their declarations. This module
sits below the tasks and the registry (imports point one way: the tasks import it, it imports no task).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

MODES = ("train", "generate", "evaluate")


@dataclass(frozen=True)
class Flag:
    """One command-line flag: ``option`` (``--reg``), its ``dest``, the ``argparse`` keywords and the modes
    it applies to (``generate.py --help`` lists only the flags of ``generate``)."""

    option: str
    dest: str
    kwargs: dict
    modes: tuple = ("train", "generate", "evaluate")

    def add_to(self, group) -> None:
        """Add this flag to an ``argparse`` parser or argument group."""
        group.add_argument(self.option, dest=self.dest, **self.kwargs)


def flag(option: str, dest: str | None = None, modes: tuple = ("train", "generate", "evaluate"), **kwargs) -> Flag:
    """Declare a flag as ``argparse.add_argument`` would take it: ``flag("--lambda", dest="lambda_", type=float)``;
    ``modes``: the modes it applies to (default all three)."""
    return Flag(option, dest or option.lstrip("-").replace("-", "_"), kwargs, tuple(modes))


@dataclass(frozen=True)
class Family:
    """A model family's declaration (see the module docstring).

    Attributes:
        name: the family's key (``vladder``, ``collection``, ...); stored in ``config.json`` as ``family``.
        title: one line for ``--help`` (the models and where they come from).
        models: the canonical model names this family trains; matched case-insensitively on the command line.
        task: the name of the task class in the family's module.
        default_dataset: ``--dataset`` when none is given.
        defaults: the family's settings and their defaults (family flags and common ones it overrides,
            e.g. ``batch_size``).
        flags: the family's own flags.
        identity_keys: settings that define the model or its objective; a resumed run may not change them.
        run_control_keys: how one invocation runs (never taken from ``config.json``).
        netname_prefix: the default run name is ``<prefix>_<dataset>``; None: the model's name.
        model_help: one line per model for ``--help`` (model -> description).
        generate_image: whether ``generate IMAGE`` means something for this family (it reconstructs the image).
        model_module: the family's model module (``models.vladder``, one of ``models.MODEL_MODULES``): it defines
            the typed configs, ``PRESETS`` (name -> config) and the model classes, registered on import.
        dataset_options: loader options this family's original used, per dataset (``{"celebA": {"crop": 148}}``),
            applied unless the run's ``--dataset_option`` sets them (and recorded in ``config.json``).
    """

    name: str
    title: str
    models: tuple
    task: str
    default_dataset: str
    defaults: dict = field(default_factory=dict)
    flags: tuple = ()
    identity_keys: tuple = ()
    run_control_keys: tuple = ()
    netname_prefix: str | None = None
    model_help: dict = field(default_factory=dict)
    generate_image: bool = False
    model_module: str = ""
    dataset_options: dict = field(default_factory=dict)
    module: str = ""

    @property
    def flag_dests(self) -> set:
        """The ``dest`` of every flag the family declares."""
        return {f.dest for f in self.flags}

    def canonical_model(self, name: str) -> str | None:
        """This family's spelling of a model name (case-insensitive), or None."""
        for model in self.models:
            if model.lower() == str(name).lower():
                return model
        return None

    def prefix(self, model: str) -> str:
        """The default netname's prefix for ``model``."""
        return self.netname_prefix or model

    def task_class(self):
        """The family's task class (imports the module's heavy parts only when the task runs)."""
        return getattr(importlib.import_module(self.module), self.task)
