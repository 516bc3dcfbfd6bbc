"""Run folders: ``model/<netname>/`` and its ``config.json``, and the run's dataset.

Shared by the command line and every family's task, so that no task imports the command line.
"""

from __future__ import annotations

import json
import os

from .errors import ConfigError

RUNS_DIR = "model"
# Settings of one invocation that config.json never records.
NOT_SAVED = ("mode", "image", "run_dir", "restart", "no_train", "split", "iw_samples", "num_images", "best",
             "export")


def run_dir_of(netname: str) -> str:
    """``model/<netname>``."""
    return os.path.join(RUNS_DIR, netname)


def load_config_json(run_dir: str) -> dict | None:
    """The ``config.json`` of a run folder, or None.

    Raises:
        ConfigError: the file exists but is not valid JSON.
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); fix it or use --restart") from None


def save_config_json(config: dict, extra: dict) -> str:
    """Write every setting of the run (and what was derived from them) to ``run_dir/config.json``.

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
        json.dump(keep, f, indent=2, sort_keys=True, default=str)
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
                    if json.load(f).get("model") == model:
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
