"""The run's typed settings (:class:`RunConfig`), run folders (``model/<netname>/`` and its ``config.json``) and
the run's dataset.

Shared by the command line and every family's task, so that no task imports the command line. No TensorFlow here:
the command line builds its flags from :class:`RunConfig` before TensorFlow starts.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os

from .errors import ConfigError
from .family import MODES, Flag, Settings, option

EVAL_PRECISIONS = ("float32", "bfloat16")   # evaluate --eval_precision (hvae.evaluation.Evaluator's precision)

ALL_MODES = MODES
TRAIN = ("train",)
DEFAULT_LR_DECAY = 0.1   # --lr_decay's default, torch.optim.lr_scheduler.MultiStepLR's gamma


def epoch_list(text) -> list:
    """``--lr_milestones``' value: ``"200,350,500"`` -> ``[200, 350, 500]`` (positive integers, epochs; a list
    passes through, as config.json gives it back).

    Raises:
        argparse.ArgumentTypeError: a part that is not an integer (the command line reports it in one line).
    """
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected epochs separated by commas, e.g. 200,350, got {text!r}") from None


@dataclasses.dataclass(frozen=True)
class RunConfig(Settings):
    """The engine's settings of one run, shared by every family: one name, one default, one check each; the common
    command-line flags are made from these fields (:meth:`flags`). A family's declaration may change a default
    (``Family.defaults``: the original's batch size, epochs, learning rate, seed).

    ``None`` means "the family's (or the dataset's) default". Checked on construction (:meth:`validate`).

    Raises:
        ConfigError: a value below its minimum (one line naming the flag).
    """

    # data
    dataset: str | None = option(help="mnist, binarized_mnist, svhn, celebA, lsun, cifar10, folder, digits "
                                      "(default: the family's)", group="data", identity=True)
    db_path: str | None = option(help="folder (or file) with the dataset's files", group="data")
    dataset_option: list = option([], help="a loader option, e.g. train_split=test (mnist), train_split=train "
                                           "(svhn); repeatable", group="data", identity=True, action="append",
                                  metavar="KEY=VALUE")
    image_size: int | None = option(help="resize images to this size (celebA, folder, lsun image files)",
                                    group="data", identity=True, minimum=1, type=int)
    validation_size: int | None = option(
        help="images held out for validation (monitoring and the best checkpoint); default: the dataset's own "
             "validation split, else a fixed random 10%% of the training images (at most 10,000); 0: none",
        group="data", modes=("train", "evaluate"), identity=True, minimum=0, type=int)
    # run
    netname: str = option("", help="run name: the folder model/<netname>/ (default <model>_<dataset>); a built-in "
                                   "name (vladder_mnist, ...) also selects that configuration")
    batch_size: int | None = option(help="images per step (default: the family's)", modes=TRAIN, identity=True,
                                    minimum=1, type=int)
    learning_rate: float | None = option(help="learning rate (default: the original's)", modes=TRAIN,
                                         identity=True, type=float)
    lr_milestones: list | None = option(help="epochs after which the learning rate is multiplied by --lr_decay, "
                                             "e.g. 200,350 (torch's MultiStepLR stepped once per epoch; a function "
                                             "of the optimizer's step, so a resumed run continues it; default: "
                                             "constant)", modes=TRAIN, identity=True, type=epoch_list,
                                        metavar="E1,E2,...")
    lr_decay: float | None = option(help=f"factor applied at each of --lr_milestones (default {DEFAULT_LR_DECAY:g}, "
                                         f"MultiStepLR's gamma; pythae's VAE: 10**(-1/5) = 0.630957)", modes=TRAIN,
                                    identity=True, type=float)
    max_iterations: int | None = option(help="stop after this many iterations in total", modes=TRAIN, control=True,
                                        minimum=1, type=int)
    epochs: int | None = option(help="stop after this many epochs in total (default: the family's; none for the "
                                     "iteration-based VLadder and LVAE)", modes=TRAIN, control=True, minimum=1,
                                type=int)
    seed: int | None = option(help="seed of Python, NumPy, TensorFlow and the data order", type=int)
    restart: bool = option(False, help="delete model/<netname>/ and start from scratch", modes=TRAIN, control=True,
                           action="store_true")
    config: str | None = option(help="start a run from the settings of a config.json: another run's, or one written "
                                     "by hand with the same sections (run, settings, model); flags given win",
                                modes=TRAIN, control=True, metavar="PATH")
    runs_dir: str | None = option(help="the folder that holds the runs, each in <runs_dir>/<netname>/ (default: model/ "
                                       "of the working folder)", control=True, metavar="DIR")
    gpus: str = option("", help="GPU numbers to use, e.g. 0,1 (set before TensorFlow starts; several -> mirrored)",
                       control=True)
    cpu_devices: int | None = option(help="split the CPU into N logical devices and mirror over them", control=True,
                                     type=int)
    checkpoint_frequency: int = option(2000, help="iterations between checkpoints (default 2000)", modes=TRAIN,
                                       control=True, minimum=1, type=int)
    log_frequency: int = option(20, help="iterations between console lines and TensorBoard scalars (20)",
                                modes=TRAIN, control=True, minimum=1, type=int)
    precision: str = option("float32", help="float32 (default, as the originals; TensorFloat-32 off), tf32, "
                                            "mixed_float16 (with a loss scale) or mixed_bfloat16; the loss is "
                                            "computed in float32", modes=TRAIN, control=True,
                            choices=("float32", "tf32", "mixed_float16", "mixed_bfloat16"))
    sync_batch_norm: bool = option(False, help="batch-norm statistics over every replica's batch (all workers and "
                                               "devices) instead of each replica's own (the original's behaviour, "
                                               "the default); models with batch norm only", modes=TRAIN,
                                   control=True, action="store_true")
    compile: str = option("auto", help="how the training step (and evaluate's importance sampling) runs: auto "
                                       "(default: the fastest for the configuration, measured by "
                                       "benchmarks/train_speed.py), eager, tf.function or XLA",
                          modes=("train", "evaluate"), control=True, choices=("auto", "eager", "function", "xla"))
    # evaluate and generate
    split: str = option("test", help="evaluate: the split to measure (test)", group="evaluate", modes=("evaluate",),
                        control=True, choices=("test", "validation", "train"))
    iw_samples: int = option(1000, help="evaluate: importance samples K per image (default 1000; the Laplace "
                                        "family 5000)", group="evaluate", modes=("evaluate",), control=True,
                             minimum=1, type=int)
    eval_precision: str = option("float32", help="evaluate: float32 (default) or bfloat16, the LVAE's residual "
                                                 "convolutions in bfloat16 (faster on CPUs with AVX512-BF16; its "
                                                 "speed and accuracy: docs/performance.md)",
                                 group="evaluate", modes=("evaluate",), control=True, choices=EVAL_PRECISIONS)
    num_images: int | None = option(help="evaluate: a fixed random subset of this many images of the split",
                                    group="evaluate", modes=("evaluate",), control=True, minimum=1, type=int)
    best: bool = option(False, help="generate, evaluate: restore the best checkpoint by validation score "
                                    "(model/<netname>/best/)", group="evaluate", modes=("generate", "evaluate"),
                        control=True, action="store_true")
    export: str | None = option(help="generate: save the restored model as a Keras file (keras.models.load_model "
                                     "reads it) instead of drawing", group="evaluate", modes=("generate",),
                                control=True, metavar="PATH.keras")

    def validate(self) -> None:
        """Each field's range (its ``minimum``), a positive learning rate, a valid schedule.

        Raises:
            ConfigError: one line naming the flag and the value.
        """
        check_values(dataclasses.asdict(self))


def check_values(values: dict) -> None:
    """The ranges of the run settings present in ``values`` (a flat namespace; absent and None skipped).

    Raises:
        ConfigError: a value below its field's minimum, a non-positive learning rate.
    """
    RunConfig.check_ranges(values)
    if values.get("learning_rate") is not None and not values["learning_rate"] > 0:
        raise ConfigError(f"--learning_rate must be positive, got {values['learning_rate']}")
    milestones, decay = values.get("lr_milestones"), values.get("lr_decay")
    if milestones is not None:
        if not milestones or any(int(m) < 1 for m in milestones) or \
                any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ConfigError(f"--lr_milestones must be increasing positive epochs, e.g. 200,350, got "
                              f"{','.join(map(str, milestones)) or 'nothing'}")
    if decay is not None:
        if not (decay > 0 and math.isfinite(decay)):
            raise ConfigError(f"--lr_decay must be positive, got {decay}")
        if milestones is None:
            raise ConfigError(f"--lr_decay {decay:g} needs --lr_milestones (the epochs at which it applies)")


def learning_rate_steps(learning_rate: float, milestones, decay: float | None, steps_per_epoch: int) -> tuple:
    """The piecewise-constant schedule of ``--lr_milestones`` / ``--lr_decay`` in optimizer steps, as
    ``keras.optimizers.schedules.PiecewiseConstantDecay`` takes it.

    The optimizer's step ``t`` (0-based: steps already applied, Keras' ``optimizer.iterations``) trains with
    ``values[i]`` where ``i`` is the number of milestones m with ``t >= m * steps_per_epoch``: the first
    ``m_1 * steps_per_epoch`` steps (epochs 1 .. m_1) at ``learning_rate``, as torch's ``MultiStepLR`` stepped
    after every epoch. Keras keeps ``values[0]`` while ``t <= boundaries[0]``, hence boundaries
    ``m * steps_per_epoch - 1``.

    Args:
        learning_rate: the initial rate (> 0).
        milestones: increasing positive epochs.
        decay: the factor per milestone (None: :data:`DEFAULT_LR_DECAY`).
        steps_per_epoch: optimizer steps per epoch (>= 1).
    Returns:
        ``(boundaries, values)``: lists of ``len(milestones)`` ints and ``len(milestones) + 1`` floats.
    """
    decay = DEFAULT_LR_DECAY if decay is None else float(decay)
    boundaries = [int(m) * int(steps_per_epoch) - 1 for m in milestones]
    values = [float(learning_rate) * decay ** i for i in range(len(boundaries) + 1)]
    return boundaries, values

@dataclasses.dataclass(frozen=True)
class Invocation:
    """What one command line asks for besides the settings (:class:`RunConfig`, the family's ``settings``, the
    model's config): the model, the mode, ``generate``'s image and where the run lives. Never saved in
    ``config.json``."""

    model: str
    mode: str = "train"
    image: str | None = None
    run_dir: str = ""
    family: str = ""

    @classmethod
    def from_settings(cls, settings: dict) -> "Invocation":
        """The invocation of a flat namespace (the command line's resolved configuration)."""
        return cls(**{f.name: settings[f.name] for f in dataclasses.fields(cls) if settings.get(f.name) is not None})


def parse_dataset_options(items) -> dict:
    """``--dataset_option``'s values as loader options: ``['train_split=test', 'minmax_stretch=True']`` ->
    ``{'train_split': 'test', 'minmax_stretch': True}``. Values are read as Python literals where they parse
    (numbers, True/False), strings otherwise.

    Raises:
        ConfigError: an item without ``=``.
    """
    options = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--dataset_option takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            options[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key.strip()] = value
    return options


@dataclasses.dataclass(frozen=True)
class ResolvedRun:
    """One command line, resolved (:func:`hvae.cli.resolve`): what the task runs, typed. The layers are merged
    before it is made (defaults < the run folder's ``config.json`` < ``--config`` < the flags given); a task holds
    this object, never a flat namespace.

    Attributes:
        invocation: the model, the mode, ``generate``'s image, the run folder, the family (:class:`Invocation`).
        run: the engine's settings (:class:`RunConfig`).
        settings: the family's own settings (its ``Family.settings`` dataclass).
        model_flags: the family's model-config flags (``{flag dest: value}``, e.g. ``{"zdims": [32, 32],
            "freebits": None}``; None: not given), as given or as recorded by a run folder written before the typed
            ``model`` section; applied to the family's base config by
            :meth:`hvae.configs.base.ModelConfig.with_flags`.
        model_config: the typed ``model`` section of the run folder's ``config.json`` (or of ``--config``), as
            saved (``ModelConfig.to_dict``), or None.
        image_shape, value_range, num_classes: the data's, as ``config.json`` recorded them (None: a fresh run).
        lr_boundaries: the learning-rate schedule's steps ``config.json`` recorded (None: none recorded).
        derived: the rest of what ``config.json`` recorded beyond the settings (parameter count, the family's
            resolved values), carried unchanged; nothing reads it.
    """

    invocation: Invocation
    run: RunConfig
    settings: Settings
    model_flags: dict = dataclasses.field(default_factory=dict)
    model_config: dict | None = None
    image_shape: tuple | None = None
    value_range: tuple | None = None
    num_classes: int | None = None
    lr_boundaries: tuple | None = None
    derived: dict = dataclasses.field(default_factory=dict)

    RECORDED = ("image_shape", "value_range", "num_classes", "lr_boundaries")

    @classmethod
    def from_flat(cls, flat: dict, family) -> "ResolvedRun":
        """The typed run of a flat namespace (the command line's merged layers, or a ``config.json`` flattened by
        :func:`flatten_config` with the invocation's keys added); ``family``: its :class:`hvae.family.Family`.

        Raises:
            ConfigError: a setting out of its range (the dataclasses' checks).
        """
        model_dests = family.model_flag_dests
        known = (set(RunConfig.field_names()) | set(family.settings.field_names()) | model_dests
                 | {f.name for f in dataclasses.fields(Invocation)} | {"model_config", "dataset_options"}
                 | set(cls.RECORDED))
        recorded = {key: flat.get(key) for key in cls.RECORDED}
        return cls(Invocation.from_settings(flat), RunConfig.from_settings(flat), family.settings.from_settings(flat),
                   {k: flat[k] for k in sorted(model_dests) if k in flat}, flat.get("model_config") or None,
                   *(tuple(v) if isinstance(v, list) else v for v in recorded.values()),
                   {k: v for k, v in flat.items() if k not in known})

    @property
    def dataset_options(self) -> dict:
        """The loader options of ``--dataset_option`` (:func:`parse_dataset_options`)."""
        return parse_dataset_options(self.run.dataset_option)

    def flat(self) -> dict:
        """The flat namespace of this run (every setting by its flag's ``dest``, the invocation's keys, what was
        recorded): what ``config.json``'s sections are written from (:func:`structure_config`)."""
        values = {**self.derived, **self.run.to_dict(), **self.settings.to_dict(),
                  **dataclasses.asdict(self.invocation), **self.model_flags,
                  "dataset_options": self.dataset_options}
        for key in self.RECORDED:
            value = getattr(self, key)
            if value is not None:
                values[key] = list(value) if isinstance(value, tuple) else value
        if self.model_config:
            values["model_config"] = self.model_config
        return values


RUNS_DIR = "model"
# Settings of one invocation that config.json never records.
NOT_SAVED = ("mode", "image", "run_dir", "restart", "no_train", "split", "iw_samples", "num_images", "best",
             "export", "config", "runs_dir")


def run_dir_of(netname: str, runs_dir: str | None = None) -> str:
    """``<runs_dir>/<netname>`` (default ``model/<netname>``, relative to the working folder)."""
    return os.path.join(runs_dir or RUNS_DIR, netname)


CONFIG_FORMAT = 2
# config.json's sections besides the run's (RunConfig's fields) and the family's own settings
DATA_KEYS = ("image_shape", "value_range", "num_classes", "dataset_options", "dataset_option_defaults")
IDENTITY_KEYS = ("family", "model", "netname")


def structure_config(flat: dict, settings_keys=()) -> dict:
    """A run's flat settings -> ``config.json``'s document (format 2)::

        {"format": 2, "family": ..., "model_name": ..., "netname": ...,
         "run": {RunConfig's fields}, "settings": {the family's flags}, "data": {image_shape, value_range, ...},
         "model": {the model's typed config (get_config)}, "derived": {parameters, resolved values, ...}}

    ``settings_keys``: the names of the family's own settings (its flags and defaults)."""
    doc = {"format": CONFIG_FORMAT, "family": flat.get("family"), "model_name": flat.get("model"),
           "netname": flat.get("netname"), "run": {}, "settings": {}, "data": {},
           "model": flat.get("model_config") or {}, "derived": {}}
    run_keys, settings_keys = set(RunConfig.field_names()), set(settings_keys)
    for key, value in flat.items():
        if key in IDENTITY_KEYS or key == "model_config":
            continue
        section = ("run" if key in run_keys else "data" if key in DATA_KEYS else
                   "settings" if key in settings_keys else "derived")
        doc[section][key] = value
    return doc


def flatten_config(doc: dict) -> dict:
    """``config.json``'s document -> the run's flat settings (what the command line resolves and compares).

    Format 2 (:func:`structure_config`) is flattened; an older run folder's file (format 1: every setting at the
    top level, ``model`` the model's name) is returned as it is, so that old run folders still resume, generate
    and evaluate (tested by tests/test_packaging.py)."""
    if doc.get("format") != CONFIG_FORMAT:
        return dict(doc)
    flat = {**doc.get("derived", {}), **doc.get("data", {}), **doc.get("settings", {}), **doc.get("run", {})}
    flat.update(family=doc.get("family"), model=doc.get("model_name"), netname=doc.get("netname"))
    if doc.get("model"):
        flat["model_config"] = doc["model"]
    return flat


def read_config_document(path: str, fix: str = "fix it or use --restart") -> dict:
    """``config.json``'s document as written (sections; an old folder's flat format as it is).

    Raises:
        ConfigError: the file cannot be read, is not valid JSON, or is not a JSON object (one line naming it).
    """
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); {fix}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} must hold a JSON object of settings, not {type(doc).__name__}; {fix}")
    return doc


def load_config_json(run_dir: str) -> dict | None:
    """The settings of a run folder's ``config.json`` as one flat dict (:func:`flatten_config`), or None.

    Raises:
        ConfigError: the file exists but is not valid JSON.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    return flatten_config(read_config_document(path))


def recorded_settings(saved: dict, config_class=None) -> dict:
    """A run folder's flat settings (:func:`load_config_json`) with its typed model section's values added under
    their flags' names (``zdims`` for ``z_dims``): everything the run was trained with, as a command line would give
    it, for comparing a new command line with it. ``config_class``: the run's model config class (None, or a
    section of an older layout: the flat settings as they are)."""
    if not saved.get("model_config") or config_class is None:
        return dict(saved)
    try:
        return {**saved, **config_class.from_dict(saved["model_config"]).flag_values()}
    except (TypeError, ValueError):
        return dict(saved)


SECTIONS = ("format", "family", "model_name", "netname", "run", "settings", "data", "model", "derived")


def _type_name(annotation: str) -> str:
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
            "list": "a list"}.get(annotation, annotation)


def _value_fits(value, annotation: str) -> bool:
    """Whether a JSON value fits a field's annotation (``int | None``, ``float``, ``str``, ``bool``, ``list``)."""
    kinds = [a.strip() for a in str(annotation).split("|")]
    if value is None:
        return "None" in kinds
    checks = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
              "list": lambda v: isinstance(v, list)}
    return any(checks.get(k, lambda v: True)(value) for k in kinds if k != "None")


def _flag_value_fits(value, flag: Flag):
    """Whether a JSON value is one the flag could have given (None: not given)."""
    if value is None:
        return True
    kw = flag.kwargs
    if kw.get("action") in ("store_true", "store_false"):
        return isinstance(value, bool)
    if kw.get("choices") is not None:
        return value in kw["choices"]
    convert = kw.get("type")
    values = value if kw.get("nargs") in ("+", "*") and isinstance(value, list) else [value]
    if kw.get("nargs") in ("+", "*") and not isinstance(value, list):
        return False
    if convert is None:
        return all(isinstance(v, str) for v in values)
    try:
        for v in values:
            if isinstance(v, (list, dict)):
                return False
            parsed = convert(str(v))
            if isinstance(parsed, bool) != isinstance(v, bool) or parsed != v:
                return False
    except Exception:
        return False
    return True


def check_config_document(doc: dict, path: str, family, model: str | None = None) -> None:
    """Check a ``config.json`` document (format 2) before any of it is used: every section known, every key a
    setting of its section, every value of its setting's type and range; the ``model`` section a valid config of
    the run's model. An old folder's flat format (format 1) is not checked (it is read as it always was).

    Args:
        doc: the document (:func:`read_config_document`).
        path: the file, for the messages.
        family: the run's :class:`hvae.family.Family`.
        model: the run's model (None: the document's ``model_name``).
    Raises:
        ConfigError: one line naming the file, the key and what is allowed.
    """
    if doc.get("format") != CONFIG_FORMAT:
        return
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r}; the sections are {', '.join(SECTIONS)}")
    for section in ("run", "settings", "data", "model", "derived"):
        if not isinstance(doc.get(section, {}), dict):
            raise ConfigError(f"{path}: section {section!r} must be a JSON object")
    fields = {f.name: f for f in RunConfig.fields()}
    for key, value in doc.get("run", {}).items():
        if key not in fields:
            raise ConfigError(f"{path}: run has no setting {key!r}; its settings: {', '.join(fields)}")
        if not _value_fits(value, fields[key].type):
            kinds = " or ".join(_type_name(k.strip()) for k in str(fields[key].type).split("|"))
            raise ConfigError(f"{path}: run.{key} must be {kinds.replace('None', 'null')}, got {value!r}")
    try:
        check_values(doc.get("run", {}))
    except ConfigError as err:
        raise ConfigError(f"{path}: run: {err}") from None
    flags = {f.dest: f for f in family.flags}
    allowed = set(flags) | set(family.defaults)
    for key, value in doc.get("settings", {}).items():
        if key not in allowed:
            raise ConfigError(f"{path}: settings has no setting {key!r} for {family.name}; its settings: "
                              f"{', '.join(sorted(allowed))}")
        if key in flags and not _flag_value_fits(value, flags[key]):
            choices = flags[key].kwargs.get("choices")
            what = f"one of {', '.join(map(str, choices))}" if choices else "a value its flag takes"
            raise ConfigError(f"{path}: settings.{key} must be {what} ({flags[key].option}), got {value!r}")
    model = model or doc.get("model_name")
    config_class = family.configs.get(model)
    if doc.get("model") and config_class is not None:
        try:
            config_class.from_dict(doc["model"])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: model: {err}") from None


def save_config_json(resolved: ResolvedRun, extra: dict, settings_keys=(), leave_out=()) -> str:
    """Write every setting of the run ``resolved`` (its :meth:`ResolvedRun.flat` namespace but ``leave_out`` and
    what one invocation alone asks for, :data:`NOT_SAVED`) and what was derived from them (``extra``) to
    ``<run_dir>/config.json`` in sections (:func:`structure_config`; ``settings_keys``: the family's own settings).

    Written to a temporary file and renamed, so a killed run never leaves half a file; not written on a non-chief
    worker of a multi-worker job. Returns the path.
    """
    from .runtime import is_chief

    keep = {k: v for k, v in resolved.flat().items() if k not in NOT_SAVED and k not in leave_out}
    keep.update(extra)
    run_dir = resolved.invocation.run_dir
    path = os.path.join(run_dir, "config.json")
    if not is_chief():
        return path
    os.makedirs(run_dir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(structure_config(keep, settings_keys), f, indent=2, default=str)
    os.replace(tmp, path)
    return path


def find_single_run(model: str, runs_dir: str | None = None) -> str | None:
    """The only run folder of ``model`` under ``runs_dir`` (default ``model/``), if there is exactly one (for
    ``generate`` and ``evaluate`` without ``--netname``).

    Raises:
        ConfigError: several runs of the model exist.
    """
    runs_dir = runs_dir or RUNS_DIR
    if not os.path.isdir(runs_dir):
        return None
    runs = []
    for name in sorted(os.listdir(runs_dir)):
        path = os.path.join(runs_dir, name, "config.json")
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    if flatten_config(json.load(f)).get("model") == model:
                        runs.append(name)
            except (OSError, ValueError):
                continue
    if len(runs) > 1:
        raise ConfigError(f"several runs of {model} exist ({', '.join(runs)}): choose one with --netname")
    return runs[0] if runs else None


def load_dataset(run: RunConfig, options: dict, validation: bool = True):
    """The run's dataset: ``--dataset``, ``--db_path``, the loader ``options`` (``--dataset_option``'s and the
    family's), ``--image_size`` and the validation split of ``--validation_size`` (see
    :meth:`hvae.datasets.base.ImageDataset.with_validation`).

    Args:
        run: the run's settings.
        options: loader options (``{"train_split": "test"}``).
        validation: apply the validation policy (False: the loader's splits as they are).

    Raises:
        DatasetError: see :func:`hvae.datasets.load` and ``with_validation``.
    """
    from hvae import datasets

    options = dict(options)
    if run.image_size:
        options["image_size"] = run.image_size
    data = datasets.load(run.dataset, run.db_path, **options)
    if validation:
        data = data.with_validation(run.validation_size)
    return data
