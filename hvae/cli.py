"""The command line of ``train.py`` and ``generate.py``: one parser and one run folder for every model.

    python train.py [MODEL] [MODE] [IMAGE] [flags]
    python generate.py [MODEL] [IMAGE] [flags]

MODEL is ``vladder`` (the default) or one of the VAE collection ``VAE``, ``CVAE``, ``InfoVAE``,
``MMDVAE`` (any case); MODE is ``train`` (default) or ``generate``. The VLadder original's flags are
kept (``--dataset``, ``--db_path``, ``--gpus``, ``--netname``, ``--batch_size``, ``--reg``,
``--denoise_train``, ``--plot_reconstruction``, ``--vis_frequency``, ``--no_train``, ``--use_gui``).
Every run lives in ``model/<netname>/``: ``config.json``, checkpoints, TensorBoard event files and
figures. Bad input ends with one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys

from .errors import ConfigError, HVAEError

MODELS = {"vladder": "vladder", "vae": "VAE", "cvae": "CVAE", "infovae": "InfoVAE", "mmdvae": "MMDVAE"}
COLLECTION = ("VAE", "CVAE", "InfoVAE", "MMDVAE")
MODES = ("train", "generate")
RUNS_DIR = "model"

# Defaults per family. Flags left out of a resumed run take their values from config.json instead.
COMMON_DEFAULTS = dict(db_path=None, gpus="", netname="", seed=None, restart=False, max_iterations=None,
                       dataset_option=[], image_size=None, cpu_devices=None, checkpoint_frequency=2000,
                       log_frequency=20, compile="function", learning_rate=None)
FAMILY_DEFAULTS = {
    "vladder": dict(dataset="celebA", batch_size=100, reg="kl", denoise_train=False, plot_reconstruction=False,
                    vis_frequency=1000, no_train=False, use_gui=False, top_heads="original"),
    "collection": dict(dataset="mnist", batch_size=64, epochs=30, latent_dim=200, label=None, best=False,
                       legacy=False, alpha=None, lambda_=None, mmd_bandwidth=None, likelihood="bernoulli"),
}
FAMILY_FLAGS = {
    "vladder": {"reg", "denoise_train", "plot_reconstruction", "vis_frequency", "no_train", "use_gui", "top_heads"},
    "collection": {"epochs", "latent_dim", "label", "best", "legacy", "alpha", "lambda_", "mmd_bandwidth",
                   "likelihood"},
}
# Settings that define the model or its objective: a resumed run must not change them.
IDENTITY_KEYS = ("model", "dataset", "dataset_option", "image_size", "batch_size", "learning_rate", "reg",
                 "denoise_train", "top_heads", "latent_dim", "legacy", "alpha", "lambda_", "mmd_bandwidth",
                 "likelihood")
# How this invocation runs, not what it trains: never taken from config.json (a store_true switch saved
# there could otherwise never be turned off again).
RUN_CONTROL_KEYS = ("gpus", "cpu_devices", "max_iterations", "checkpoint_frequency", "log_frequency", "compile",
                    "vis_frequency", "plot_reconstruction", "use_gui", "epochs", "label", "best", "no_train",
                    "restart")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and exit status 2)."""

    def error(self, message):
        raise ConfigError(f"{message} (see {self.prog} --help)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
                description=__doc__.split("\n\n")[1] if prog == "train.py" else
                "Restore a trained model and write its figures (python generate.py [MODEL] [IMAGE] [flags]).")
    p.add_argument("positional", nargs="*", metavar="MODEL MODE IMAGE",
                   help="model (vladder, VAE, CVAE, InfoVAE, MMDVAE), mode (train, generate), image path")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="mnist, binarized_mnist, svhn, celebA, lsun, cifar10, folder, digits "
                                     "(default: celebA for vladder, mnist for the VAE collection)")
    g.add_argument("--db_path", help="folder (or file) with the dataset's files")
    g.add_argument("--dataset_option", action="append", metavar="KEY=VALUE",
                   help="a loader option, e.g. train_split=test (mnist), train_split=train (svhn); repeatable")
    g.add_argument("--image_size", type=int, help="resize images to this size (celebA, folder, lsun image files)")
    g = p.add_argument_group("run")
    g.add_argument("--netname", help="run name: the folder model/<netname>/ (default <model>_<dataset>); "
                                     "a built-in name (vladder_mnist, vladder_svhn, vladder_celebA, vladder_lsun) "
                                     "also selects that configuration")
    g.add_argument("--batch_size", type=int, help="images per step (default 100 for vladder, 64 for the collection)")
    g.add_argument("--learning_rate", type=float, help="Adam learning rate (default: the original's)")
    g.add_argument("--max_iterations", type=int, help="stop after this many iterations in total (default: never "
                                                      "for vladder, as the original)")
    g.add_argument("--seed", type=int, help="seed of Python, NumPy, TensorFlow and the data order")
    g.add_argument("--restart", action="store_true", help="delete model/<netname>/ and start from scratch")
    g.add_argument("--gpus", help="GPU numbers to use, e.g. 0,1 (set before TensorFlow starts; several -> mirrored)")
    g.add_argument("--cpu_devices", type=int, help="split the CPU into N logical devices and mirror over them")
    g.add_argument("--checkpoint_frequency", type=int, help="iterations between checkpoints (default 2000)")
    g.add_argument("--log_frequency", type=int, help="iterations between console lines and TensorBoard scalars (20)")
    g.add_argument("--compile", choices=("eager", "function", "xla"),
                   help="how the training step runs: eager, tf.function (default) or XLA")
    g = p.add_argument_group("vladder")
    g.add_argument("--reg", choices=("kl", "mmd"), help="kl: per-layer KL with warm-up (default); mmd: MMD to N(0,I)")
    g.add_argument("--denoise_train", action="store_true", help="corrupt inputs (salt and pepper + Gaussian)")
    g.add_argument("--plot_reconstruction", action="store_true", help="also draw original | noisy | reconstruction")
    g.add_argument("--vis_frequency", type=int, help="iterations between test-and-visualise steps (default 1000)")
    g.add_argument("--no_train", action="store_true", help="restore the newest checkpoint and only draw the figures")
    g.add_argument("--use_gui", action="store_true", help="also show the figures in matplotlib windows")
    g.add_argument("--top_heads", choices=("original", "fixed"),
                   help="Large layers' top mean/scale heads: original ReLU (default) or linear/sigmoid")
    g = p.add_argument_group("VAE collection")
    g.add_argument("--epochs", type=int, help="training epochs (default 30)")
    g.add_argument("--latent_dim", type=int, help="latent size (default 200)")
    g.add_argument("--label", type=int, help="CVAE: class of the image given to generate (default 4)")
    g.add_argument("--best", action="store_true",
                   help="generate: restore the best checkpoint by test loss (model/<netname>/best/), not the newest")
    g.add_argument("--legacy", action="store_true",
                   help="the original's objectives and decoder wiring, bugs included (see docs/fidelity.md)")
    g.add_argument("--alpha", type=float, help="InfoVAE alpha: KL weight 1-alpha")
    g.add_argument("--lambda", dest="lambda_", type=float, help="InfoVAE/MMD-VAE lambda: MMD weight alpha+lambda-1")
    g.add_argument("--mmd_bandwidth", type=float, help="MMD kernel exp(-|a-b|^2/bandwidth) (default: latent size)")
    g.add_argument("--likelihood", choices=("bernoulli", "gaussian"), help="p(x|z) of the collection (bernoulli)")
    return p


# --------------------------------------------------------------------------------------------------
# Resolving the command line into a run configuration
# --------------------------------------------------------------------------------------------------
def _canonical_model(name: str) -> str | None:
    return MODELS.get(str(name).lower())


def split_positionals(positional: list, script_mode: str | None):
    """``[MODEL] [MODE] [IMAGE]`` (train.py) or ``[MODEL] [IMAGE]`` (generate.py) -> (model, mode, image).

    Raises:
        ConfigError: unknown model or mode, or too many arguments.
    """
    args = list(positional)
    model = "vladder"
    if args:
        canonical = _canonical_model(args[0])
        if canonical is None:
            if script_mode is None and args[0] in MODES:
                canonical = "vladder"
                args.insert(0, "vladder")
            else:
                raise ConfigError(f"unknown model {args[0]!r}; valid models: vladder, {', '.join(COLLECTION)}")
        model = canonical
        args = args[1:]
    if script_mode is None:
        mode = "train"
        if args:
            if args[0] not in MODES:
                raise ConfigError(f"unknown mode {args[0]!r}; valid modes: train, generate")
            mode, args = args[0], args[1:]
    else:
        mode = script_mode
    image = None
    if args:
        if mode != "generate":
            raise ConfigError(f"unexpected argument {args[0]!r}: only 'generate' takes an image path")
        image, args = args[0], args[1:]
    if args:
        raise ConfigError(f"unexpected arguments: {' '.join(args)}")
    return model, mode, image


def parse_dataset_options(items) -> dict:
    """``['train_split=test', 'minmax_stretch=True']`` -> ``{'train_split': 'test', 'minmax_stretch': True}``.

    Values are read as Python literals where they parse (numbers, True/False), strings otherwise.
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


def family_of(model: str) -> str:
    return "vladder" if model == "vladder" else "collection"


def _netname_prefix(model: str) -> str:
    return "vladder" if model == "vladder" else model


def _check_netname(netname: str) -> None:
    if not netname or "/" in netname or "\\" in netname or netname.startswith("."):
        raise ConfigError(f"--netname must be a plain folder name, got {netname!r}")


def _find_single_run(model: str) -> str | None:
    """For ``generate`` without --netname: the only run folder of this model, if there is exactly one."""
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


def resolve(argv: list, script_mode: str | None = None, prog: str = "train.py") -> dict:
    """Turn the command line into the complete run configuration.

    Precedence: family defaults < the run folder's ``config.json`` (when resuming or generating; all but
    :data:`RUN_CONTROL_KEYS`) < flags given on the command line. A given flag that contradicts ``config.json`` on a setting that
    defines the model (:data:`IDENTITY_KEYS`) is an error.

    Raises:
        ConfigError: unknown model/mode/flag, a flag of the other family, conflicting settings, bad values.
    """
    explicit = vars(build_parser(prog).parse_args(argv))
    model, mode, image = split_positionals(explicit.pop("positional", []), script_mode)
    family = family_of(model)
    other = FAMILY_FLAGS["collection" if family == "vladder" else "vladder"]
    misplaced = sorted(k for k in explicit if k in other)
    if misplaced:
        flag = "--" + misplaced[0].rstrip("_")
        raise ConfigError(f"{flag} does not apply to {model}")
    if explicit.get("no_train"):
        mode = "generate"
    defaults = {**COMMON_DEFAULTS, **FAMILY_DEFAULTS[family]}

    netname = explicit.get("netname") or ""
    if not netname:
        dataset_guess = explicit.get("dataset")
        if dataset_guess is None and mode == "generate":
            netname = _find_single_run(model) or ""
        if not netname:
            from datasets import canonical_name

            netname = f"{_netname_prefix(model)}_{canonical_name(dataset_guess or defaults['dataset'])}"
    _check_netname(netname)
    run_dir = os.path.join(RUNS_DIR, netname)

    saved = None if explicit.get("restart") else load_config_json(run_dir)
    if saved is not None:
        if saved.get("model") not in (None, model):
            raise ConfigError(f"{run_dir} holds a {saved.get('model')} run, not {model}: use another --netname "
                              f"or --restart")
        for key in IDENTITY_KEYS:
            if key in explicit and key in saved and _normalise(key, explicit[key]) != _normalise(key, saved[key]):
                raise ConfigError(f"{run_dir}/config.json has {_flag(key)}={_show(saved[key])} but this run asks for "
                                  f"{_flag(key)}={_show(explicit[key])}: use another --netname, or --restart to "
                                  f"start over")
    elif mode == "generate":
        raise ConfigError(f"no trained model in {run_dir} (no config.json): train it first, or give the "
                          f"--netname of an existing run")

    config = dict(defaults)
    if saved:
        config.update({k: v for k, v in saved.items() if k not in RUN_CONTROL_KEYS})
    config.update(explicit)
    config.update(model=model, mode=mode, image=image, netname=netname, run_dir=run_dir, family=family)
    from datasets import canonical_name

    config["dataset"] = canonical_name(config["dataset"])
    config["dataset_options"] = parse_dataset_options(config.get("dataset_option"))
    _validate(config)
    return config


def _normalise(key, value):
    if key == "dataset" and value is not None:
        return str(value).lower()
    if key == "dataset_option":
        return sorted(value or [])
    return value


def _flag(key: str) -> str:
    return "--" + key.rstrip("_")


def _show(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _validate(config: dict) -> None:
    for key in ("batch_size", "vis_frequency", "checkpoint_frequency", "log_frequency", "epochs", "latent_dim",
                "max_iterations", "image_size"):
        value = config.get(key)
        if value is not None and value < 1:
            raise ConfigError(f"{_flag(key)} must be at least 1, got {value}")
    if config.get("learning_rate") is not None and not config["learning_rate"] > 0:
        raise ConfigError(f"--learning_rate must be positive, got {config['learning_rate']}")


def load_dataset(config: dict):
    """The run's dataset: ``--dataset``, ``--db_path``, ``--dataset_option`` and ``--image_size``.

    Raises:
        DatasetError: see :func:`datasets.load`.
    """
    import datasets

    options = dict(config["dataset_options"])
    if config.get("image_size"):
        options["image_size"] = config["image_size"]
    return datasets.load(config["dataset"], config.get("db_path"), **options)


def save_config_json(config: dict, extra: dict) -> str:
    """Write every setting of the run (and what was derived from them) to ``run_dir/config.json``."""
    keep = {k: v for k, v in config.items() if k not in ("mode", "image", "run_dir", "restart", "no_train")}
    keep.update(extra)
    path = os.path.join(config["run_dir"], "config.json")
    os.makedirs(config["run_dir"], exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(keep, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def run(config: dict) -> int:
    """Set up devices, build the task and train or generate. Returns the exit status."""
    from . import runtime

    if config.get("restart") and config["mode"] == "train" and os.path.isdir(config["run_dir"]):
        shutil.rmtree(config["run_dir"])
        print(f"--restart: removed {config['run_dir']}")
    if config.get("use_gui"):
        _check_display()
    strategy, devices = runtime.setup(config.get("gpus"), config.get("cpu_devices"), config.get("seed"))
    if config["family"] == "vladder":
        from .vladder_task import VLadderTask as Task
    else:
        from .collection_task import CollectionTask as Task
    task = Task(config, strategy)
    return task.main(devices)


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("--use_gui needs a display (DISPLAY is not set); leave it out to write the figures to files")


def main(argv=None, script_mode: str | None = None, prog: str = "train.py") -> int:
    """Run the command line; returns the process exit status (0 success, 2 bad input, 3 diverged, 130 aborted)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = resolve(argv, script_mode=script_mode, prog=prog)
        return run(config)
    except HVAEError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        if "tensorflow" in sys.modules:
            # a failed checkpoint restore leaves deferred values that TensorFlow lists, one warning each,
            # when they are garbage-collected at exit: the error line above says it all
            sys.modules["tensorflow"].get_logger().setLevel("ERROR")
        return err.exit_code
    except KeyboardInterrupt:
        print(f"\n{prog}: aborted", file=sys.stderr)
        return 130
