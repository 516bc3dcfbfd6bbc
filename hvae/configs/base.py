"""The typed configuration every model family builds on, without TensorFlow: :class:`ModelConfig` (a frozen
dataclass per model), :func:`setting` (a field with the metadata its command-line flag is made from) and the
preset registry (:func:`register_presets`, :func:`preset`, :func:`preset_names`).

Nothing here imports TensorFlow or Keras, so the command line can read every family's configs, their fields, checks
and presets before TensorFlow starts (as pythae keeps ``vae_config.py`` apart from ``vae_model.py``). The model
classes (:mod:`hvae.models`) import their configs from here.
"""

from __future__ import annotations

import dataclasses
import keyword


def setting(default=dataclasses.MISSING, *, help: str = "", choices: tuple | None = None, flag: str | None = None,
            default_factory=dataclasses.MISSING, minimum=None, negatable: bool = False, data: bool = False,
            takes_value: bool = False):
    """A field of a :class:`ModelConfig` with what the command line makes its flag of (``hvae.family.config_flags``):

    - ``help``: the flag's help (and the field's documentation);
    - ``choices``: the allowed values (checked on construction, and by the flag);
    - ``flag``: the flag's spelling where it differs from the field name (the originals' ``--zdims`` for
      ``z_dims``); a boolean field spelled ``--no_<...>`` is set to False by its flag (``--no_bn``); False: no
      flag (the preset decides, e.g. VLadder's layer set, chosen by ``--netname`` or the data);
    - ``minimum``: the smallest allowed number (checked on construction, and by the flag);
    - ``negatable``: a boolean field gets ``--<name>`` and ``--no_<name>`` (a preset may turn it on);
    - ``takes_value``: a boolean field's flag also takes a value (``--logit_transform=false``), as the original's;
    - ``data``: the value comes from the data (image shape, value range, classes): no flag.
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "flag": flag,
                "minimum": minimum, "negatable": negatable, "data": data, "takes_value": takes_value}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_option(f) -> str:
    """The command-line spelling of field ``f`` (``--zdims`` for ``z_dims``, ``--latent_dim`` for ``latent_dim``)."""
    return f.metadata.get("flag") or f"--{f.name}"


def flag_dest(f) -> str:
    """The key of field ``f``'s flag in the parsed command line and in ``config.json``'s ``settings``: the
    spelling without dashes, ``_`` after a Python keyword (``--lambda`` -> ``lambda_``)."""
    dest = flag_option(f).lstrip("-").replace("-", "_")
    return dest + "_" if keyword.iskeyword(dest) else dest


def _negation(f) -> bool:
    return flag_dest(f).startswith("no_") and not f.name.startswith("no_")


def _frozen(value):
    """Lists (as JSON gives them back) become tuples, recursively, so that configs stay hashable and comparable."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Base of every model's typed configuration (one frozen dataclass per model; a variant is a subclass, as in
    pythae's ``BaseConfig``). The fields are everything that defines the model and its objective: building a model
    from the same config gives the same architecture, and ``model.get_config()`` is :meth:`to_dict`.

    A subclass adds fields with :func:`setting` (help, choices, flag spelling) and may override :meth:`validate`
    (raise ``ValueError`` with one line naming the setting). Lists given for tuple fields (JSON) become tuples.

    Raises:
        ValueError: a value outside its ``choices``, or what :meth:`validate` rejects.
    """

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            frozen = _frozen(value)
            if frozen is not value:
                object.__setattr__(self, f.name, frozen)
            choices = f.metadata.get("choices") if f.metadata else None
            if choices is not None and frozen not in choices:
                raise ValueError(f"{type(self).__name__}.{f.name} must be one of "
                                 f"{', '.join(map(repr, choices))}, not {frozen!r}")
        self.validate()   # the family's own checks (and messages) first; then each field's minimum
        for f in dataclasses.fields(self):
            minimum, value = (f.metadata.get("minimum") if f.metadata else None), getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if minimum is not None and any(isinstance(v, (int, float)) and not v >= minimum for v in values):
                raise ValueError(f"{type(self).__name__}.{f.name} must be at least {minimum}, not {value!r}")

    def validate(self) -> None:
        """Check the fields together (a subclass overrides it); raise ``ValueError`` with one line."""

    @classmethod
    def flag_fields(cls) -> tuple:
        """The fields the command line sets (every field but the data's), as ``dataclasses.Field``."""
        return tuple(f for f in dataclasses.fields(cls)
                     if not f.metadata.get("data") and f.metadata.get("flag") is not False)

    def with_flags(self, flags: dict, **data):
        """The config of a command line: this config (the family's base for the run: its preset, or the model's
        defaults), then the flags actually given (``flags``: the parsed values keyed by each flag's ``dest``; None or absent: not
        given, the base's value stays), then ``data`` (the data's image shape, value range, classes). The one
        path from a command line to a model config, for every family.

        Raises:
            ValueError: an invalid value (one line naming the setting).
        """
        return self.replace(**self.given_flags(flags), **data)

    @classmethod
    def given_flags(cls, flags: dict) -> dict:
        """The fields the command-line values ``flags`` set (keyed by each flag's ``dest``; None or absent: not
        given): ``{field: value}``, a ``--no_<...>`` flag's value negated."""
        given = {}
        for f in cls.flag_fields():
            value = flags.get(flag_dest(f))
            if value is not None:
                given[f.name] = (not value) if _negation(f) else value
        return given

    def flag_values(self) -> dict:
        """The inverse of :meth:`with_flags`: ``{flag dest: value}`` of every field with a flag (lists for tuples)."""
        values = self.to_dict()
        return {flag_dest(f): (not values[f.name]) if _negation(f) else values[f.name] for f in self.flag_fields()}

    @classmethod
    def field_names(cls) -> tuple:
        """The settings' names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict:
        """Every field, JSON-able (tuples as lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict):
        """The config of ``values`` (e.g. :meth:`to_dict`'s or a ``config.json``'s).

        Raises:
            ValueError: a key that is not a setting of ``cls`` (the message lists the settings).
        """
        cls._check_names(values)
        return cls(**values)

    def replace(self, **overrides):
        """A copy with ``overrides`` (``dataclasses.replace``), checked like a new config.

        Raises:
            ValueError: an unknown setting name (the message lists the settings) or an invalid value.
        """
        type(self)._check_names(overrides)
        return dataclasses.replace(self, **overrides)

    @classmethod
    def _check_names(cls, values: dict) -> None:
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"{cls.__name__} has no setting {', '.join(map(repr, unknown))}; its settings: "
                             f"{', '.join(cls.field_names())}")


_PRESETS: dict = {}         # preset name -> ModelConfig


def register_presets(presets: dict) -> dict:
    """Add a module's ``PRESETS`` (``{name: ModelConfig}``) to the table :func:`preset` reads; returns it.

    Raises:
        ValueError: a name that another module already registered with a different config.
    """
    for name, config in presets.items():
        if name in _PRESETS and _PRESETS[name] != config:
            raise ValueError(f"preset {name!r} is defined twice")
        _PRESETS[name] = config
    return presets


def preset_names() -> list:
    """Every registered preset's name, in registration order."""
    return list(_PRESETS)


def preset(name: str):
    """The :class:`ModelConfig` of preset ``name``.

    Raises:
        ValueError: no such preset (the message lists them).
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(_PRESETS)}")
    return _PRESETS[name]
