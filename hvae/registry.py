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
from dataclasses import dataclass, field

# One line per family, in the order of ``--help``.
FAMILY_MODULES = (
    "hvae.vladder_task",
    "hvae.collection_task",
    "hvae.lvae_task",
    "hvae.lvae2_task",
    "hvae.laplace_task",
)


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
        model_module: the family's model module (``models.vladder``): it defines ``PRESETS`` (name -> a function
            building that preset) and registers its classes with Keras.
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


MODES = ("train", "generate", "evaluate")
