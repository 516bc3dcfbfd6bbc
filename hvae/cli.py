"""The command line of ``train.py`` and ``generate.py``: one parser and one run folder for every model.

    python train.py [MODEL] [MODE] [IMAGE] [flags]
    python generate.py [MODEL] [IMAGE] [flags]

MODEL names a model of one of the families declared in :mod:`hvae.registry` (``vladder`` by default;
``VAE``, ``CVAE``, ``InfoVAE``, ``MMDVAE``, ...; any case); MODE is ``train`` (default), ``generate`` or
``evaluate``. Flags are the common ones below plus the model's family's own. The VLadder original's flags
are kept (``--dataset``, ``--db_path``, ``--gpus``, ``--netname``, ``--batch_size``, ``--reg``, ...).
Every run lives in ``model/<netname>/``: ``config.json``, checkpoints, TensorBoard event files and
figures. Bad input ends with one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys

from . import originals, registry
from .errors import ConfigError, HVAEError, unwritable
from .registry import MODES
from .runs import (
    CONFIG_FORMAT,
    ResolvedRun,
    RunConfig,
    check_config_document,
    check_values,
    find_single_run,
    flatten_config,
    parse_dataset_options,
    read_config_document,
    recorded_settings,
    run_dir_of,
)

# The settings every family has: RunConfig's fields, with their defaults, checks and flags (a family's ``defaults``
# may override a default, e.g. ``batch_size``).
COMMON_DEFAULTS = RunConfig.defaults()
# Settings that define the model or its objective: a resumed run must not change them.
COMMON_IDENTITY_KEYS = ("model",) + RunConfig.keys("identity")
# How this invocation runs, not what it trains: never taken from config.json (a store_true switch saved
# there could otherwise never be turned off again).
COMMON_RUN_CONTROL_KEYS = RunConfig.keys("control")
DATA_FLAGS = RunConfig.flags("data")
RUN_FLAGS = RunConfig.flags("run")
EVALUATION_FLAGS = RunConfig.flags("evaluate")
COMMON_FLAGS = DATA_FLAGS + RUN_FLAGS + EVALUATION_FLAGS
EXAMPLES = {
    "train.py": """examples:
  python train.py --dataset=digits --max_iterations=1500 --seed=1      VLadder on scikit-learn's digits
  python train.py VAE train --dataset=binarized_mnist --db_path=DATA/binarized_mnist --epochs=30
  python train.py VAE evaluate --iw_samples=1000 --best                 importance-weighted log-likelihood
  the originals' README commands work too (python train.py in place of main.py, run.py, eval.py):
  docs/coming_from_the_originals.md""",
    "generate.py": """examples:
  python generate.py --netname=vladder_mnist        VLadder's figures from the newest checkpoint
  python generate.py VAE --best                      reconstruction grid and samples of the best checkpoint
  python generate.py CVAE face.png --label=3         one image beside its reconstruction""",
}


# The console scripts of ``pip install``: the same command lines as ``python train.py`` / ``python generate.py``.
GENERATE_PROGS = ("generate.py", "hvae-generate")


def _is_generate(prog: str) -> bool:
    return prog in GENERATE_PROGS


def _examples(prog: str) -> str:
    if prog in EXAMPLES:
        return EXAMPLES[prog]
    script = "generate.py" if _is_generate(prog) else "train.py"
    return EXAMPLES[script].replace(f"python {script}", prog)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and exit status 2)."""

    def error(self, message):
        raise ConfigError(f"{message} (see {self.prog} --help)")


def _description(prog: str) -> str:
    run = "python " + prog if prog.endswith(".py") else prog
    if _is_generate(prog):
        train = "python train.py" if prog.endswith(".py") else "hvae-train"
        return (f"Restore a trained model and write its figures: {run} [MODEL] [IMAGE] [flags] "
                f"(the same as {train} MODEL generate [IMAGE]).")
    return (f"Train, evaluate or draw a hierarchical VAE: {run} [MODEL] [MODE] [IMAGE] [flags], "
            "MODE = train (default), generate or evaluate.")


def _models_epilog() -> str:
    lines = ["models (MODEL, any case), by family:"]
    for fam in registry.families():
        lines.append(f"  {fam.title}")
        for model in fam.models:
            lines.append(f"    {model:<12s} {fam.model_help.get(model, '')}".rstrip())
    return "\n".join(lines)


def _shown(f, prog: str) -> bool:
    """Whether ``--help`` of ``prog`` lists the flag (generate.py: only the flags of ``generate``)."""
    return not _is_generate(prog) or "generate" in f.modes


def _add(group, f, prog: str, model: str | None = None) -> None:
    if _shown(f, prog) and not (model and f.models and model not in f.models):
        group.add_argument(f.option, dest=f.dest, **{**f.kwargs, "help": f.help_for(model)})
    else:   # parsed (so that a flag of another model is named as such) but not listed
        group.add_argument(f.option, dest=f.dest, **{**f.kwargs, "help": argparse.SUPPRESS})


def build_parser(prog: str, fam: registry.Family | None, model: str | None = None) -> argparse.ArgumentParser:
    """The parser for one family's models (``fam``), or the help-only parser of every family (None). With
    ``model``, its ``--help`` lists the common flags and that model's own, each with its meaning for that model."""
    p = _Parser(prog=prog, argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
                description=_description(prog), epilog=_models_epilog() + "\n\n" + _examples(prog))
    if _is_generate(prog):
        p.add_argument("positional", nargs="*", metavar="MODEL IMAGE",
                       help="model (see below) and, for the models that take one, an image to reconstruct")
    else:
        p.add_argument("positional", nargs="*", metavar="MODEL MODE IMAGE",
                       help="model (see below), mode (train, generate, evaluate), image path (generate)")
    titles = ("data", "run", "generate" if _is_generate(prog) else "evaluate and generate")
    for title, flags in zip(titles, (DATA_FLAGS, RUN_FLAGS, EVALUATION_FLAGS)):
        g = p.add_argument_group(title)
        for f in flags:
            _add(g, f, prog)
    if fam is not None:
        g = p.add_argument_group(fam.title)
        common = {f.option for f in COMMON_FLAGS}
        for f in fam.flags:
            if f.option not in common:
                _add(g, f, prog, model)
    return p


def full_help(prog: str) -> str:
    """``--help`` without a model: the common flags, then each family's flags under its title."""
    text = build_parser(prog, None).format_help()
    head, _, epilog = text.partition("models (MODEL, any case)")
    parts = [head.rstrip()]
    for fam in registry.families():
        p = argparse.ArgumentParser(add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter)
        g = p.add_argument_group(f"{fam.title} ({', '.join(fam.models)})")
        common = {f.option for f in COMMON_FLAGS}
        shown = [f for f in fam.flags if _shown(f, prog) and f.option not in common]
        for f in shown:
            f.add_to(g)
        if not shown:
            continue
        section = p.format_help()
        parts.append(section[section.index("\n\n") + 2:].rstrip() if "\n\n" in section else section.rstrip())
    return "\n\n".join(parts) + "\n\nmodels (MODEL, any case)" + epilog


# --------------------------------------------------------------------------------------------------
# Resolving the command line into a run configuration
# --------------------------------------------------------------------------------------------------
def _option_table() -> dict:
    """Every option string -> whether it takes a value (to find positionals before parsing): False, True, or
    ``"+"`` for a list of values (``nargs='+'``, e.g. the Ladder VAE's ``--zdims 32 32 32``)."""
    table = {}
    for f in COMMON_FLAGS + tuple(x for fam in registry.families() for x in fam.flags):
        takes = f.kwargs.get("action") not in ("store_true", "store_false")
        if takes and f.kwargs.get("nargs") in ("+", "*"):
            takes = "+"
        table[f.option] = takes
    return table


def _positionals(argv: list) -> list:
    """The positional arguments of ``argv`` (tokens that are neither options nor an option's value)."""
    table = _option_table()
    out, skip = [], False
    for token in argv:
        if skip == "+" and not (token.startswith("-") and len(token) > 1 and not _is_number(token)):
            continue  # one more value of a list option
        if skip is True:
            skip = False
            continue
        skip = False
        if token == "--":
            continue
        if token.startswith("-") and len(token) > 1:
            skip = "=" not in token and table.get(token, False)
            continue
        out.append(token)
    return out


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def split_positionals(positional: list, script_mode: str | None):
    """``[MODEL] [MODE] [IMAGE]`` (train.py) or ``[MODEL] [IMAGE]`` (generate.py) -> (model, mode, image).

    Raises:
        ConfigError: unknown model or mode, or too many arguments.
    """
    args = list(positional)
    model = "vladder"
    if args:
        fam = registry.family_of_model(args[0])
        if fam is None:
            if script_mode is None and args[0] in MODES:
                args.insert(0, "vladder")
                fam = registry.family_of_model("vladder")
            else:
                raise ConfigError(f"unknown model {args[0]!r}; valid models: {', '.join(registry.all_models())}")
        model = fam.canonical_model(args[0])
        args = args[1:]
    if script_mode is None:
        mode = "train"
        if args:
            if args[0] not in MODES:
                raise ConfigError(f"unknown mode {args[0]!r}; valid modes: {', '.join(MODES)}")
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


NETNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _check_netname(netname: str) -> None:
    """A run folder's name that every filesystem and shell takes as it is: letters, digits, ``_ - .``."""
    if not NETNAME.fullmatch(netname or ""):
        raise ConfigError(f"--netname must be a folder name of ASCII letters, digits, '_', '-' and '.' (not "
                          f"starting with '.' or '-'), got {netname!r}")


def _parse(argv: list, fam, model: str, prog: str) -> dict:
    """Parse ``argv`` with the common flags and ``fam``'s; a flag of another family is named as such."""
    try:
        return vars(build_parser(prog, fam, model).parse_args(argv))
    except ConfigError as err:
        message = str(err)
        if "unrecognized arguments:" in message:
            unknown = message.split("unrecognized arguments:", 1)[1].split("(see")[0].split()
            for token in unknown:
                option = token.split("=", 1)[0]
                owners = [f.title.split(":")[0] for f in registry.families()
                          if f is not fam and any(x.option == option for x in f.flags)]
                if owners:
                    raise ConfigError(f"{option} does not apply to {model} (it is a flag of {owners[0]}; "
                                      f"see {prog} {model} --help)") from None
        raise


def resolve(argv: list, script_mode: str | None = None, prog: str = "train.py") -> ResolvedRun:
    """Turn the command line into the typed run (:class:`hvae.runs.ResolvedRun`: the invocation, the run's and the
    family's settings, the model flags given, what the run folder recorded).

    Precedence: common and family defaults < the run folder's ``config.json`` (when resuming, generating or
    evaluating; all but the run-control keys) < flags given on the command line. A given flag that
    contradicts ``config.json`` on a setting that defines the model (identity keys) is an error.

    Raises:
        ConfigError: unknown model/mode/flag, a flag of another family, conflicting settings, bad values.
    """
    argv, _ = originals.translate(list(argv), prog)   # the originals' spellings (README commands) as ours
    model, mode, image = split_positionals(_positionals(argv), script_mode)
    fam = registry.family_of_model(model)
    explicit = _parse(argv, fam, model, prog)
    explicit.pop("positional", None)
    _check_values(explicit, fam)  # a bad value is reported as such, before any comparison with config.json
    from_file, file_model = _config_file(explicit["config"], fam, model) if explicit.get("config") else ({}, None)
    explicit = {**from_file, **explicit}   # --config's settings, as if given; the flags given win
    if explicit.get("no_train"):
        mode = "generate"
    defaults = {**COMMON_DEFAULTS, "dataset": fam.default_dataset, **fam.defaults}

    netname = explicit.get("netname") or ""
    if not netname:
        dataset_guess = explicit.get("dataset")
        if dataset_guess is None and mode in ("generate", "evaluate"):
            netname = find_single_run(model, explicit.get("runs_dir")) or ""
        if not netname:
            from hvae.datasets import canonical_name

            netname = f"{fam.prefix(model)}_{canonical_name(dataset_guess or defaults['dataset'])}"
    _check_netname(netname)
    run_dir = run_dir_of(netname, explicit.get("runs_dir"))
    identity = COMMON_IDENTITY_KEYS + fam.identity
    run_control = COMMON_RUN_CONTROL_KEYS + tuple(fam.run_control_keys)

    if mode != "train" and explicit.get("restart"):
        raise ConfigError(f"--restart starts training from scratch; it does not apply to {mode}")
    saved = None if explicit.get("restart") else _saved_config(run_dir, fam, model)
    if saved is not None:
        if saved.get("model") not in (None, model):
            raise ConfigError(f"{run_dir} holds a {saved.get('model')} run, not {model}: use another --netname "
                              f"or --restart")
        recorded = recorded_settings(saved, fam.configs.get(model))   # the typed model section's values too
        for key in identity:
            if key in explicit and key in recorded and \
                    _normalise(key, explicit[key]) != _normalise(key, recorded[key]):
                raise ConfigError(f"{run_dir}/config.json has {_flag(key)}={_show(recorded[key])} but this run asks "
                                  f"for {_flag(key)}={_show(explicit[key])}: use another --netname, or --restart to "
                                  f"start over")
    elif mode in ("generate", "evaluate"):
        raise ConfigError(f"no trained model in {run_dir} (no config.json at {os.path.abspath(run_dir)}): train it "
                          f"first, give the --netname of an existing run, or --runs_dir the folder that holds the "
                          f"runs (or run from the folder that holds its model/)")

    config = dict(defaults)
    if file_model:
        config["model_config"] = file_model   # the model's typed config of --config (a saved run's own wins)
    if saved:
        config.update({k: v for k, v in saved.items() if k not in run_control})
    config.update(explicit)
    config.update(model=model, mode=mode, image=image, netname=netname, run_dir=run_dir, family=fam.name)
    from hvae.datasets import canonical_name

    config["dataset"] = canonical_name(config["dataset"])
    parse_dataset_options(config.get("dataset_option"))   # a malformed KEY=VALUE: one line now, not at data loading
    _validate(config, explicit, fam)
    return ResolvedRun.from_flat(config, fam)


def _saved_config(run_dir: str, fam, model: str) -> dict | None:
    """The run folder's ``config.json`` as flat settings (None: none), checked first
    (:func:`hvae.runs.check_config_document`) where it is a run of ``model``.

    Raises:
        ConfigError: invalid JSON, or a section, key, type or value the check rejects (one line naming the file).
    """
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return None
    doc = read_config_document(path)
    flat = flatten_config(doc)
    if flat.get("model") in (None, model):
        check_config_document(doc, path, fam, model)
    return flat


# What --config does not carry over to the new run: where the run lives and how that run was invoked.
FILE_EXCLUDED = ("netname", "run_dir", "family", "model", "mode", "image", "restart", "gpus", "cpu_devices",
                 "model_config", "config", "runs_dir")


def _config_file(path: str, fam, model: str) -> tuple:
    """``--config PATH``: its run and family settings (as if given on the command line) and its typed model section.

    Raises:
        ConfigError: a file that cannot be read or is not a config of ``model``; what
            :func:`hvae.runs.check_config_document` rejects.
    """
    doc = read_config_document(path, fix="fix the file")
    if doc.get("format") != CONFIG_FORMAT:
        raise ConfigError(f"--config {path}: not a config.json of this version (its 'format' must be "
                          f"{CONFIG_FORMAT}; the sections are run, settings and model)")
    named = doc.get("model_name")
    if named not in (None, model):
        raise ConfigError(f"--config {path} is a config of {named}, not {model}: name {named} on the command line, "
                          f"or give a config of {model}")
    check_config_document(doc, path, fam, model)
    given = {**doc.get("settings", {}), **doc.get("run", {})}
    for key in FILE_EXCLUDED:
        given.pop(key, None)
    # what trains: the flags of 'train' (an evaluation's K or split, recorded in the other run's file, is not)
    modes = {f.dest: f.modes for f in COMMON_FLAGS + tuple(fam.flags)}
    return ({k: v for k, v in given.items() if v is not None and "train" in modes.get(k, ("train",))},
            doc.get("model") or None)


def _normalise(key, value):
    if key == "dataset" and value is not None:
        return str(value).lower()
    if key == "dataset_option":
        return sorted(value or [])
    return value


def _flag(key: str) -> str:
    return "--" + key.rstrip("_")


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _check_values(config: dict, fam=None) -> None:
    """The ranges of the run settings (:func:`hvae.runs.check_values`) and of the family's own
    (``fam.settings``' fields), each one line.

    Raises:
        ConfigError: a count below 1, a negative validation size, a non-positive learning rate.
    """
    check_values(config)
    if fam is not None:
        fam.settings.check_ranges(config)


def _validate(config: dict, explicit: dict, fam=None) -> None:
    _check_values(config, fam)
    mode = config["mode"]
    if explicit.get("best") and mode == "train":
        raise ConfigError("--best chooses the checkpoint that 'generate' and 'evaluate' restore; it does not apply "
                          "to training")
    if explicit.get("no_train"):
        return  # --no_train turns train.py's flags into a generate run: the training flags are left unused
    for f in COMMON_FLAGS + (tuple(fam.flags) if fam is not None else ()):
        if f.dest in explicit and f.models and config["model"] not in f.models:
            raise ConfigError(f"{f.option} does not apply to {config['model']} (only to {' and '.join(f.models)})")
        if f.dest in explicit and mode not in f.modes:
            what = " and ".join(f"'{m}'" for m in f.modes)
            raise ConfigError(f"{f.option} applies to {what}, not to '{mode}'")
    if config.get("image") and fam is not None and not fam.generate_image:
        raise ConfigError(f"{config['model']}'s generate takes no image (it draws its figures from the prior); "
                          f"only {', '.join(m for f2 in registry.families() if f2.generate_image for m in f2.models)} "
                          f"reconstruct an image given to generate")


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def run(resolved: ResolvedRun) -> int:
    """Set up devices, build the family's task of ``resolved`` (:func:`resolve`) and train, generate or evaluate.
    Returns the exit status."""
    from . import lock, runtime

    invocation, settings, own = resolved.invocation, resolved.run, resolved.settings
    fam = registry.family(invocation.family)
    cluster = runtime.cluster_spec()
    owner = invocation.mode == "train" and (cluster is None or cluster["chief"])  # the process that writes the folder
    if owner:
        lock.acquire(invocation.run_dir)  # before --restart: a busy folder is never deleted
    try:
        if settings.restart and invocation.mode == "train" and os.path.isdir(invocation.run_dir):
            shutil.rmtree(invocation.run_dir)
            print(f"--restart: removed {invocation.run_dir}")
        if getattr(own, "use_gui", False):
            _check_display()
        strategy, devices = runtime.setup(settings.gpus, settings.cpu_devices, settings.seed,
                                          precision=settings.precision, batch_size=settings.batch_size)
        task = fam.task_class()(resolved, strategy)
        status = task.main(devices)
        runtime.finish_cluster(strategy, status)
        return status
    finally:
        if owner:
            lock.release(invocation.run_dir)


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("--use_gui needs a display (DISPLAY is not set); leave it out to write the figures to files")


def _wants_help(argv: list) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def main(argv=None, script_mode: str | None = None, prog: str = "train.py") -> int:
    """Run the command line; returns the process exit status (0 success, 2 bad input, 3 diverged, 4 a lost worker,
    5 an output that cannot be written, 130 aborted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv, script_mode, prog)
    except BrokenPipeError:  # stdout closed early (``hvae-train --help | head``): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:  # a run folder or figure that cannot be written (read-only, full disk, permissions)
        if err.filename is None:
            raise  # not a file of ours: no message here would be right
        error = unwritable(err)
        print(f"{prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as err:
        # TensorFlow's own file errors (a checkpoint or event file in a folder it cannot write)
        tf = sys.modules.get("tensorflow")
        if tf is None or not isinstance(err, tf.errors.PermissionDeniedError):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        print(f"{prog}: error: cannot write: {first}; make the folder writable (or free disk space), or write the "
              f"run elsewhere with another --netname", file=sys.stderr)
        return 5


def _main(argv: list, script_mode, prog: str) -> int:
    try:
        argv, note = originals.translate(argv, prog)
        if note:
            print(f"{prog}: {note}", file=sys.stderr)
        if _wants_help(argv) and not any(registry.family_of_model(a) for a in _positionals(argv)):
            print(full_help(prog))
            return 0
        return run(resolve(argv, script_mode=script_mode, prog=prog))
    except SystemExit as exit_:  # argparse's --help for one family
        return int(exit_.code or 0)
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


def train_script() -> int:
    """The ``hvae-train`` console script (``pip install``): ``python train.py``'s command line."""
    return main(sys.argv[1:], prog="hvae-train")


def generate_script() -> int:
    """The ``hvae-generate`` console script (``pip install``): ``python generate.py``'s command line."""
    return main(sys.argv[1:], script_mode="generate", prog="hvae-generate")
