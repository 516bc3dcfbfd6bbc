"""The run's typed settings (:class:`RunConfig`), run folders (``model/<netname>/`` and its ``config.json``) and
the run's dataset.

Shared by the command line and every family's task, so that no task imports the command line. No TensorFlow here:
the command line builds its flags from :class:`RunConfig` before TensorFlow starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os

from .errors import ConfigError
from .family import MODES, Flag

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


def option(default=None, *, help: str, group: str = "run", modes: tuple = ALL_MODES, identity: bool = False,
           control: bool = False, minimum=None, **argparse_kwargs):
    """A field of :class:`RunConfig` with what its command-line flag is made of: ``help``, the flag's ``group``
    (``data``, ``run``, ``evaluate``), the ``modes`` it applies to, whether it defines the run (``identity``: a
    resumed run may not change it) or only how one invocation runs (``control``: never taken from
    ``config.json``), the smallest allowed value (``minimum``, checked by :meth:`RunConfig.validate`), and
    ``argparse`` keywords (``type``, ``choices``, ``action``, ``metavar``)."""
    metadata = dict(help=help, group=group, modes=tuple(modes), identity=identity, control=control,
                    minimum=minimum, argparse=argparse_kwargs)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class RunConfig:
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

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Each field's range (its ``minimum``) and a positive learning rate.

        Raises:
            ConfigError: one line naming the flag and the value.
        """
        check_values(dataclasses.asdict(self))

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
        out = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            if group is None or m["group"] == group:
                out.append(Flag(f"--{f.name}", f.name, dict(help=m["help"], **m["argparse"]), m["modes"]))
        return tuple(out)

    @classmethod
    def from_settings(cls, settings: dict) -> "RunConfig":
        """The run settings of a flat namespace (the command line's resolved configuration; other keys ignored,
        absent ones default)."""
        values = {k: settings[k] for k in cls.field_names() if k in settings}
        if values.get("dataset_option") is None:
            values.pop("dataset_option", None)
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_values(values: dict) -> None:
    """The ranges of the run settings present in ``values`` (a flat namespace; absent and None skipped).

    Raises:
        ConfigError: a value below its field's minimum, a non-positive learning rate.
    """
    for f in dataclasses.fields(RunConfig):
        minimum, value = f.metadata["minimum"], values.get(f.name)
        if minimum is not None and value is not None and value < minimum:
            what = "at least 1" if minimum == 1 else f"{minimum} or more"
            raise ConfigError(f"--{f.name} must be {what}, got {value}")
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

RUNS_DIR = "model"
# Settings of one invocation that config.json never records.
NOT_SAVED = ("mode", "image", "run_dir", "restart", "no_train", "split", "iw_samples", "num_images", "best",
             "export")


def run_dir_of(netname: str) -> str:
    """``model/<netname>``."""
    return os.path.join(RUNS_DIR, netname)


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


def load_config_json(run_dir: str) -> dict | None:
    """The settings of a run folder's ``config.json`` as one flat dict (:func:`flatten_config`), or None.

    Raises:
        ConfigError: the file exists but is not valid JSON.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return flatten_config(json.load(f))
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); fix it or use --restart") from None


def save_config_json(config: dict, extra: dict, settings_keys=()) -> str:
    """Write every setting of the run (and what was derived from them) to ``run_dir/config.json`` in sections
    (:func:`structure_config`; ``settings_keys``: the family's own settings).

    Written to a temporary file and renamed, so a killed run never leaves half a file; not written on a non-chief
    worker of a multi-worker job. Returns the path.
    """
    from .runtime import is_chief

    keep = {k: v for k, v in config.items() if k not in NOT_SAVED}
    keep.update(extra)
    path = os.path.join(config["run_dir"], "config.json")
    if not is_chief():
        return path
    os.makedirs(config["run_dir"], exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(structure_config(keep, settings_keys), f, indent=2, default=str)
    os.replace(tmp, path)
    return path


def find_single_run(model: str) -> str | None:
    """The only run folder of ``model`` under ``model/``, if there is exactly one (for ``generate`` and
    ``evaluate`` without ``--netname``).

    Raises:
        ConfigError: several runs of the model exist.
    """
    if not os.path.isdir(RUNS_DIR):
        return None
    runs = []
    for name in sorted(os.listdir(RUNS_DIR)):
        path = os.path.join(RUNS_DIR, name, "config.json")
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


def load_dataset(config: dict, validation: bool = True):
    """The run's dataset: ``--dataset``, ``--db_path``, ``--dataset_option``, ``--image_size`` and the
    validation split of ``--validation_size`` (see :meth:`datasets.base.ImageDataset.with_validation`).

    Args:
        config: the resolved run configuration.
        validation: apply the validation policy (False: the loader's splits as they are).

    Raises:
        DatasetError: see :func:`datasets.load` and ``with_validation``.
    """
    import datasets

    options = dict(config.get("dataset_options") or {})
    if config.get("image_size"):
        options["image_size"] = config["image_size"]
    data = datasets.load(config["dataset"], config.get("db_path"), **options)
    if validation:
        data = data.with_validation(config.get("validation_size"))
    return data
