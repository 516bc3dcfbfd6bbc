"""A model family's declaration: :class:`Family` and its command-line flags (:func:`flag`).

A family's task module (``hvae/<family>_task.py``) declares ``FAMILY = Family(...)`` at its top, without importing
TensorFlow; :mod:`hvae.registry` lists the task modules and the command line reads their declarations. This module
sits below the tasks and the registry (imports point one way: the tasks import it, it imports no task).
"""

from __future__ import annotations

import argparse
import dataclasses
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
    models: tuple = ()    # the models of the family it applies to (empty: all)
    model_help: tuple = ()   # (model, help) where its meaning differs between the family's models

    def help_for(self, model: str | None) -> str:
        """The help text for ``model`` (its own meaning where the models differ), else the flag's."""
        return dict(self.model_help).get(model) or self.kwargs.get("help", "")

    def add_to(self, group) -> None:
        """Add this flag to an ``argparse`` parser or argument group."""
        group.add_argument(self.option, dest=self.dest, **self.kwargs)


def flag(option: str, dest: str | None = None, modes: tuple = ("train", "generate", "evaluate"), **kwargs) -> Flag:
    """Declare a flag as ``argparse.add_argument`` would take it: ``flag("--lambda", dest="lambda_", type=float)``;
    ``modes``: the modes it applies to (default all three)."""
    return Flag(option, dest or option.lstrip("-").replace("-", "_"), kwargs, tuple(modes))


def option(default=None, *, help: str, group: str = "run", modes: tuple = MODES, identity: bool = False,
           control: bool = False, minimum=None, positive: bool = False, **argparse_kwargs):
    """A field of a typed settings dataclass (:class:`Settings`: :class:`hvae.runs.RunConfig`, a family's
    ``settings``) with what its command-line flag is made of: ``help``, the flag's ``group`` (``data``, ``run``,
    ``evaluate``; a family's own flags are listed under the family's title), the ``modes`` it applies to, whether it
    defines the run (``identity``: a resumed run may not change it) or only how one invocation runs (``control``:
    never taken from ``config.json``), the smallest allowed value (``minimum``) or that it must be above 0
    (``positive``), both checked by :meth:`Settings.check_ranges`, and ``argparse`` keywords (``type``,
    ``choices``, ``action``, ``metavar``)."""
    metadata = dict(help=help, group=group, modes=tuple(modes), identity=identity, control=control,
                    minimum=minimum, positive=positive, argparse=argparse_kwargs)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Settings:
    """Base of a frozen dataclass of typed run settings whose fields are made with :func:`option`: one name, one
    default, one check and one command-line flag (``--<name>``) each. :class:`hvae.runs.RunConfig` holds the
    settings every family shares; a family declares the few of its own that are not model settings (``Family.
    settings``: ``--vis_frequency``, ``--preset``, ...). ``None`` as a default means "the family's, the dataset's
    or the preset's".

    Raises:
        ConfigError: (on construction) a value below its field's minimum, or not positive where it must be.
    """

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """The fields' ranges (:meth:`check_ranges`). Raises ConfigError: one line naming the flag."""
        self.check_ranges(dataclasses.asdict(self))

    @classmethod
    def fields(cls) -> tuple:
        return dataclasses.fields(cls)

    @classmethod
    def field_names(cls) -> tuple:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict:
        """Every field's default (a list default as a new list)."""
        return {f.name: (f.default_factory() if f.default is dataclasses.MISSING else f.default)
                for f in dataclasses.fields(cls)}

    @classmethod
    def keys(cls, kind: str) -> tuple:
        """The fields marked ``identity`` or ``control``."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata[kind])

    @classmethod
    def flags(cls, group: str | None = None) -> tuple:
        """The command-line flags of the fields (of one ``group``): ``--<name>``, with the field's help, modes and
        argparse keywords."""
        return tuple(Flag(f"--{f.name}", f.name, dict(help=f.metadata["help"], **f.metadata["argparse"]),
                          f.metadata["modes"])
                     for f in dataclasses.fields(cls) if group is None or f.metadata["group"] == group)

    @classmethod
    def check_ranges(cls, values: dict) -> None:
        """The ranges of the fields present in ``values`` (a flat namespace; absent and None skipped).

        Raises:
            ConfigError: a value below its field's ``minimum``, or not above 0 for a ``positive`` field.
        """
        from .errors import ConfigError

        for f in dataclasses.fields(cls):
            minimum, value = f.metadata["minimum"], values.get(f.name)
            if value is None:
                continue
            if minimum is not None and value < minimum:
                what = "at least 1" if minimum == 1 else f"{minimum} or more"
                raise ConfigError(f"--{f.name} must be {what}, got {value}")
            if f.metadata["positive"] and not value > 0:
                raise ConfigError(f"--{f.name} must be positive, got {value}")

    @classmethod
    def from_settings(cls, settings: dict):
        """The fields of a flat namespace (the command line's resolved configuration; other keys ignored, absent
        ones default)."""
        values = {k: settings[k] for k in cls.field_names() if k in settings}
        for f in dataclasses.fields(cls):   # a list field given as None: its default
            if f.default is dataclasses.MISSING and values.get(f.name, 0) is None:
                values.pop(f.name)
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NoSettings(Settings):
    """A family without settings of its own besides its models' (the Laplace family, LVAE2)."""


def _number(convert, minimum):
    """argparse ``type`` of a numeric field: ``convert`` (int or float), then at least ``minimum`` (if not None);
    a bad value is one line (``argument --z_dim: must be at least 1, got 0``)."""
    def parse(text):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            kind = "an integer" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if minimum is not None and not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = convert.__name__
    return parse


def boolean(text) -> bool:
    """``true/false`` (also 1/0, yes/no, on/off) -> bool, for a boolean flag that takes a value; the originals'
    ``type=bool`` read "False" as True."""
    value = str(text).strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("1", "true", "yes", "on")


def _kind(f):
    """The Python type a field's flag parses: int, float, str, bool, or (tuple, element type)."""
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    annotation = str(f.type)
    if "bool" in annotation:
        return bool
    if isinstance(default, tuple) or annotation.startswith("tuple"):
        return (tuple, type(default[0]) if default else int)
    for kind in (int, float, str):
        if annotation.split(" ")[0] == kind.__name__:
            return kind
    raise TypeError(f"field {f.name}: no flag type for annotation {annotation!r}")


def config_flags(configs: dict, modes: tuple = ("train",)) -> tuple:
    """The flags of a family's model settings, made from its configs' fields (:func:`hvae.configs.base.setting`):
    the spelling, help, choices, type and minimum come from the field; ``--<name>`` / ``--no_<name>`` for a
    negatable boolean; no flag for a data field. Every flag's default is "not given": the family's base config
    decides (its preset, or the config's default; the help says which). A field that only some models' configs have applies to those models only (``Flag.models``; the
    command line rejects it for the others, and its help names them).

    Args:
        configs: model name -> config class (TensorFlow-free, :mod:`hvae.configs`), in the family's model order.
        modes: the modes the flags apply to.
    Returns:
        tuple of :class:`Flag`, in field order (the first config's fields first).
    """
    from hvae.configs.base import flag_dest, flag_option

    owners, fields, helps, per_model = {}, {}, {}, {}
    for model, config_class in configs.items():
        for f in config_class.flag_fields():
            owners.setdefault(f.name, []).append(model)
            fields.setdefault(f.name, f)
            if f.metadata.get("help"):
                per_model.setdefault(f.name, {})[model] = f.metadata["help"]
                if f.metadata["help"] not in helps.setdefault(f.name, []):
                    helps[f.name].append(f.metadata["help"])   # one meaning per model where models differ
    out = []
    for name, f in fields.items():
        models = tuple(owners[name]) if len(owners[name]) < len(configs) else ()
        meta = f.metadata
        text = "; ".join(helps.get(name) or [name])
        if models and not text.startswith(models[0]):
            text = f"{'/'.join(models)}: {text}"
        text = text.replace("%", "%%")
        own = tuple((m, h.replace("%", "%%")) for m, h in per_model.get(name, {}).items()) \
            if len(helps.get(name, [])) > 1 else ()
        option, dest, kind = flag_option(f), flag_dest(f), _kind(f)
        if kind is bool and meta.get("takes_value"):
            out.append(Flag(option, dest, dict(type=boolean, nargs="?", const=True, metavar="BOOL", help=text),
                            tuple(modes), models, own))
            continue
        if kind is bool:
            if dest.startswith("no_") and not name.startswith("no_"):
                out.append(Flag(option, dest, dict(action="store_true", help=text), tuple(modes), models, own))
                continue
            out.append(Flag(option, dest, dict(action="store_true", help=text), tuple(modes), models, own))
            if meta.get("negatable"):
                out.append(Flag(f"--no_{dest}", dest, dict(action="store_false", help=f"not --{dest}"),
                                tuple(modes), models))
            continue
        kwargs = dict(help=text, metavar=dest.rstrip("_").upper())
        if meta.get("choices") is not None:
            kwargs["choices"] = meta["choices"]
            del kwargs["metavar"]
        elif isinstance(kind, tuple):
            kwargs.update(nargs="+", type=_number(kind[1], meta.get("minimum")), metavar=dest.upper()[:1])
        elif kind in (int, float):
            kwargs["type"] = _number(kind, meta.get("minimum"))
        out.append(Flag(option, dest, kwargs, tuple(modes), models, own))
    return tuple(out)


def flag_message(message: str, configs: dict) -> str:
    """A config's one-line ``ValueError`` message as the command line says it: a leading setting name
    (``n_flow must ...`` or ``HFConfig.n_flow must ...``) becomes its flag (``--n_flow must ...``)."""
    from hvae.configs.base import flag_option

    for config_class in configs.values():
        for f in config_class.flag_fields():
            for prefix in (f"{config_class.__name__}.{f.name} ", f"{f.name} "):
                if message.startswith(prefix):
                    return f"{flag_option(f)} {message[len(prefix):]}"
    return message


@dataclass(frozen=True)
class Family:
    """A model family's declaration (see the module docstring).

    Attributes:
        name: the family's key (``vladder``, ``collection``, ...); stored in ``config.json`` as ``family``.
        title: one line for ``--help`` (the models and where they come from).
        models: the canonical model names this family trains; matched case-insensitively on the command line.
        task: the name of the task class in the family's module.
        default_dataset: ``--dataset`` when none is given.
        settings: the family's typed settings that are not model settings (a frozen :class:`Settings` dataclass
            of :func:`option` fields: ``--vis_frequency``, ``--preset``, ...): their flags, defaults, checks and
            whether they define the run (``identity``) or only how one invocation runs (``control``) come from
            its fields, and the task reads them typed (``Task.settings``).
        defaults: the defaults the family changes among the common settings (:class:`hvae.runs.RunConfig`:
            ``batch_size``, ``epochs``, ...); the family's own settings' defaults are added from ``settings``.
        flags: the family's model flags (:func:`config_flags` of its configs); the flags of ``settings`` are added
            before them.
        identity_keys: settings besides the model configs' that define the run (the model settings are identity by
            themselves, :attr:`identity`); a resumed run may not change them. ``settings``' identity fields are
            added.
        run_control_keys: how one invocation runs (never taken from ``config.json``); ``settings``' control fields
            are added.
        netname_prefix: the default run name is ``<prefix>_<dataset>``; None: the model's name.
        model_help: one line per model for ``--help`` (model -> description).
        generate_image: whether ``generate IMAGE`` means something for this family (it reconstructs the image).
        model_module: the family's model module (``hvae.models.vladder``, one of ``hvae.models.MODEL_MODULES``): it defines
            the typed configs, ``PRESETS`` (name -> config) and the model classes, registered on import.
        configs: model name -> its typed config class (TensorFlow-free, :mod:`hvae.configs`): the flags of
            :func:`config_flags` are made from them, and a run's ``config.json`` ``model`` section is read back
            into them.
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
    configs: dict = field(default_factory=dict)
    module: str = ""
    settings: type = NoSettings

    def __post_init__(self):
        own = self.settings   # (idempotent: the registry re-creates a declaration with its module's name)
        object.__setattr__(self, "flags", tuple(f for f in own.flags() if f not in self.flags) + tuple(self.flags))
        object.__setattr__(self, "defaults", {**own.defaults(), **self.defaults})
        object.__setattr__(self, "identity_keys", tuple(dict.fromkeys((*own.keys("identity"), *self.identity_keys))))
        object.__setattr__(self, "run_control_keys",
                           tuple(dict.fromkeys((*own.keys("control"), *self.run_control_keys))))

    @property
    def model_flag_dests(self) -> set:
        """The ``dest`` of every flag made from the family's model configs (:func:`config_flags` of
        :attr:`configs`): model settings, so they define the run (identity) and live in ``config.json``'s typed
        ``model`` section."""
        from hvae.configs.base import flag_dest

        return {flag_dest(f) for c in self.configs.values() for f in c.flag_fields()}

    @property
    def identity(self) -> tuple:
        """Every setting a resumed run may not change: :attr:`identity_keys` and the model settings."""
        return tuple(dict.fromkeys((*self.identity_keys, *sorted(self.model_flag_dests))))

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
