"""The originals' command lines, read as ours: each original's spellings of flags, models and values.

Every README command of the five originals works with ``python train.py`` in front (in place of ``python main.py``,
``python run.py`` or ``python eval.py``): :func:`translate` rewrites such a command line into ours before it is
parsed, and says in one note what it read. One table per original (:data:`ORIGINALS`):

* ``flags``: the original's spelling -> ours (``--blocks-per-layer`` -> ``--blocks_per_layer``);
* ``values``: our flag -> {the original's value -> ours} (``--dataset static_mnist`` -> ``binarized_mnist``);
* ``refused``: a flag of the original that means nothing here -> why (one line, exit status 2);
* ``refused_values``: our flag -> {the original's value -> why it cannot be honoured here};
* ``signature``: flags that name the original when no model is given (the LVAE original's selects ``LVAE``).

Besides the tables: yookoon/VLAE's ``--model=X`` is the positional model (its ``VAE`` is our ``VLAE_VAE``), its
``eval.py --checkpoint=model/<netname>`` is ``evaluate`` of that run folder (the model settings it repeats are
checked against the folder's ``config.json``), and its bare ``key=value`` words (the README's ``z_dim=50``,
``logit_transform=True``) are ``--key=value``; VLadder's ``--no_train=True`` (argparse ``type=bool``) is our switch.
Our spellings stay primary: ``--help`` lists ours. No TensorFlow here (the command line runs this first).
Page: docs/coming_from_the_originals.md.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass(frozen=True)
class Original:
    """One original project's command line, as far as it differs from ours (see the module docstring)."""

    key: str
    repo: str
    family: str
    flags: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)
    refused_values: dict = field(default_factory=dict)
    signature: frozenset = frozenset()
    model: str | None = None


NOT_PORTED_DATASET = "is not ported (no loader here); datasets: mnist, binarized_mnist, svhn, celebA, lsun, cifar10, " \
                     "folder, digits"

VLADDER = Original(key="vladder", repo="ermongroup/Variational-Ladder-Autoencoder", family="vladder")

COLLECTION = Original(key="collection", repo="ALPHAYA-Japan/vae", family="collection")   # model names: any case

_LVAE_FLAGS = {
    "-d": "--dataset",
    "--batch-size": "--batch_size",
    "--test-batch-size": "--test_batch_size",
    "--lr": "--learning_rate",
    "--max-grad-norm": "--max_grad_norm",
    "--tr-log-every": "--log_frequency", "--tr-log-interv": "--log_frequency",
    "--ts-log-every": "--vis_frequency", "--ts-log-interv": "--vis_frequency",
    "--checkpoint-every": "--checkpoint_frequency", "--ckpt-interv": "--checkpoint_frequency",
    "--ll-every": "--ll_every", "--ll-interv": "--ll_every",
    "--ll-samples": "--ll_samples",
    "--max-steps": "--max_iterations",
    "--max-epochs": "--epochs",
    "--resume": "--netname",
    "--blocks-per-layer": "--blocks_per_layer",
    "--no-bn": "--no_bn",
    "--learn-top-prior": "--learn_top_prior",
    "--residual-type": "--residual_type",
    "--merge-layers": "--merge_layers",
    "--beta-anneal": "--beta_anneal",
    "--data-dep-init": "--data_dep_init",
    "--wd": "--weight_decay",
    "--analytical-kl": "--analytical_kl",
    "--no-initial-downscaling": "--no_initial_downscaling",
}

LVAE = Original(
    key="lvae", repo="addtt/ladder-vae-pytorch", family="lvae", model="LVAE",
    flags=_LVAE_FLAGS,
    values={"--dataset": {"static_mnist": "binarized_mnist"}},
    refused={
        "--ts-img-every": "figures are drawn at every validation pass here: --vis_frequency sets both",
        "--keep-checkpoint-max": "the newest 2 checkpoints (and the best one, in best/) are kept here; not a setting",
        "--nocuda": "choose devices with --gpus (CUDA_VISIBLE_DEVICES=-1 hides every GPU)",
        "--descr": "name the run folder model/<netname>/ with --netname",
        "--dry-run": "every run writes its folder model/<netname>/: give a throw-away --netname",
    },
    refused_values={"--dataset": {"multi_dsprites_binary_rgb": "multi-dSprites " + NOT_PORTED_DATASET,
                                  "multi_mnist_binary": "multi-MNIST " + NOT_PORTED_DATASET}},
    # the original's spellings that are not ours (its dashed flags, its on-switches): any of them without a model ->
    # LVAE. Flags spelled as ours (--zdims, --freebits, ...) do not select it: with the default model they get our
    # usual "a flag of LVAE" hint
    signature=frozenset(set(_LVAE_FLAGS) - {"-d"} | {"--skip", "--gated"}),
)

LVAE2 = Original(key="lvae2", repo="ahmeterdem1/lvae", family="lvae2")   # a notebook: its README has no command

# yookoon/VLAE's run.py / eval.py flags (for its bare ``key=value`` words)
VLAE_KEYS = ("model", "dataset", "logit_transform", "batch_size", "n_epochs", "seed", "log_interval", "base_dir",
             "z_dim", "output_dist", "hidden_dim", "learning_rate", "weight_decay", "svi_lr", "n_svi_step",
             "n_update", "update_lr", "n_flow", "iaf_dim", "checkpoint")

LAPLACE = Original(
    key="laplace", repo="yookoon/VLAE", family="laplace",
    flags={"--n_epochs": "--epochs", "--log_interval": "--log_frequency"},
    values={"--model": {"vae": "VLAE_VAE"}},
    refused={"--base_dir": "runs live in model/<netname>/: name the folder with --netname (and the folder that "
                                  "holds the runs with --runs_dir)"},
    refused_values={"--dataset": {"fashionmnist": "Fashion-MNIST " + NOT_PORTED_DATASET,
                                  "omniglot": "OMNIGLOT " + NOT_PORTED_DATASET}},
)

ORIGINALS = (VLADDER, COLLECTION, LVAE, LVAE2, LAPLACE)

MODEL_OPTION, CHECKPOINT_OPTION, NO_TRAIN = "--model", "--checkpoint", "--no_train"
FALSE_WORDS, TRUE_WORDS = ("false", "0", "no", "off"), ("true", "1", "yes", "on")


# --------------------------------------------------------------------------------------------------
def _our_flags() -> dict:
    """Every option of ours -> its :class:`hvae.family.Flag` (common flags, then each family's)."""
    from . import registry
    from .runs import RunConfig

    table = {}
    for f in tuple(RunConfig.flags()) + tuple(x for fam in registry.families() for x in fam.flags):
        table.setdefault(f.option, f)
    return table


def _arity(flag) -> object:
    """False (a switch), True (one value) or "+" (a list of values)."""
    if flag is None or flag.kwargs.get("action") in ("store_true", "store_false"):
        return False
    return "+" if flag.kwargs.get("nargs") in ("+", "*") else True


def _is_option(token: str) -> bool:
    if not token.startswith("-") or len(token) < 2:
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def _items(argv: list, ours: dict) -> list:
    """``argv`` as items ``[option, value_tokens, attached]`` (``option`` None for a positional word); the values of
    an option written ``--flag=value`` are attached."""
    items, i = [], 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not _is_option(token) or token == "--":
            items.append([None, [token], False])
            continue
        option, eq, value = token.partition("=")
        if eq:
            items.append([option, [value], True])
            continue
        our = ours.get(option) or ours.get(_alias(option))
        arity = _arity(our) if our is not None else (True if option in (MODEL_OPTION, CHECKPOINT_OPTION) or any(
            option in o.refused for o in ORIGINALS) else False)
        values = []
        if arity == "+":
            while i < len(argv) and not _is_option(argv[i]):
                values.append(argv[i])
                i += 1
        elif arity and i < len(argv):
            values.append(argv[i])
            i += 1
        items.append([option, values, False])
    return items


def _alias(option: str) -> str | None:
    """Our spelling of an original's flag, or None."""
    for original in ORIGINALS:
        if option in original.flags:
            return original.flags[option]
    return None


def _tokens(items: list) -> list:
    out = []
    for option, values, attached in items:
        if option is None:
            out.extend(values)
        elif attached:
            out.append(f"{option}={values[0]}")
        else:
            out.extend([option, *values])
    return out


def _lookup(table: dict, value: str):
    for key, target in table.items():
        if key.lower() == str(value).lower():
            return target
    return None


def translate(argv: list, prog: str = "train.py") -> tuple:
    """Rewrite an original's command line (``argv`` without the script) into ours.

    Returns:
        ``(argv, note)``: the command line in our spellings and one line saying what was read (None when
        ``argv`` holds none of the originals' spellings; then ``argv`` comes back unchanged).

    Raises:
        ConfigError: one line: a flag or value of an original that means nothing here (and why), ``--model``
            contradicting the model given, ``--checkpoint`` not naming a run folder of ours, or a model setting
            repeated to ``--checkpoint`` that contradicts that run's ``config.json``.
    """
    from . import registry

    argv = list(argv)
    ours = _our_flags()
    items = _items(argv, ours)
    used = []                    # the originals whose spellings appear
    model_given = checkpoint = None

    def _use(original):
        if original not in used:
            used.append(original)

    # the VLAE original's bare key=value words (README: eval.py ... z_dim=50), when its --model/--checkpoint is there
    if any(it[0] in (MODEL_OPTION, CHECKPOINT_OPTION) for it in items):
        for it in items:
            if it[0] is None and "=" in it[1][0] and it[1][0].split("=", 1)[0] in VLAE_KEYS:
                key, value = it[1][0].split("=", 1)
                it[:] = ["--" + key, [value], True]
                _use(LAPLACE)

    kept = []
    for it in items:
        option, values, attached = it
        if option is None:
            kept.append(it)
            continue
        for original in ORIGINALS:
            if option in original.refused:
                raise ConfigError(f"{option} ({original.repo}) means nothing here: {original.refused[option]}")
            if option in original.flags:
                _use(original)
                it[0] = option = original.flags[option]
                break
        if option == MODEL_OPTION:
            _use(LAPLACE)
            if not values:
                raise ConfigError(f"{option} needs a model name, e.g. {option}=VLAE")
            model_given = _lookup(LAPLACE.values[option], values[0]) or values[0]
            continue
        if option == CHECKPOINT_OPTION:
            _use(LAPLACE)
            if not values:
                raise ConfigError(f"{option} needs a run folder, e.g. {option}=model/VLAE_mnist")
            checkpoint = values[0]
            continue
        if option == NO_TRAIN and attached:   # VLadder's type=bool: --no_train=True
            _use(VLADDER)
            word = values[0].lower()
            if word in FALSE_WORDS:
                continue
            if word not in TRUE_WORDS:
                raise ConfigError(f"{option} takes no value here (a switch); {option}={values[0]} reads as {option}")
            it[:] = [option, [], False]
        for original in ORIGINALS:
            for value in values:
                reason = _lookup(original.refused_values.get(option, {}), value)
                if reason:
                    raise ConfigError(f"{option}={value} ({original.repo}): {reason}")
            table = original.values.get(option, {})
            for k, value in enumerate(values):
                target = _lookup(table, value)
                if target is not None:
                    values[k] = target
                    _use(original)
        kept.append(it)
    items = kept

    positional = [k for k, it in enumerate(items) if it[0] is None]
    named = registry.family_of_model(items[positional[0]][1][0]) if positional else None
    model_index = positional[0] if named is not None else None
    selected = None
    if model_given is not None:
        fam = registry.family_of_model(model_given)
        if fam is None or fam.name != LAPLACE.family:
            choices = ", ".join(registry.family(LAPLACE.family).models)
            raise ConfigError(f"{MODEL_OPTION}={model_given}: not a model of {LAPLACE.repo}'s; here: {choices} "
                              f"(its VAE is VLAE_VAE)")
        model_given = fam.canonical_model(model_given)
        if named is not None:
            if named.canonical_model(items[model_index][1][0]) != model_given:
                raise ConfigError(f"{MODEL_OPTION}={model_given} contradicts the model named, "
                                  f"{items[model_index][1][0]}")
        else:
            items.insert(0, [None, [model_given], False])
            model_index = 0
        selected = model_given
    elif named is None:
        if LVAE in used or any(it[0] in LVAE.signature for it in items):
            _use(LVAE)
            items.insert(0, [None, [LVAE.model], False])
            model_index = 0
            selected = LVAE.model

    if checkpoint is not None:
        items = _checkpoint(items, checkpoint, model_index, ours)

    if not used:
        return argv, None
    out = _tokens(items)
    command = " ".join(shlex.quote(t) for t in out)
    repos = ", ".join(o.repo for o in used)
    if selected == LVAE.model and model_given is None:
        note = (f"note: these are {LVAE.repo}'s flags, so the model is the LVAE; in our spelling: python {prog} "
                f"{command}")
    else:
        note = f"note: read {repos}'s spellings as ours: python {prog} {command}"
    return out, note


def _checkpoint(items: list, path: str, model_index, ours: dict) -> list:
    """yookoon/VLAE's ``eval.py --checkpoint=PATH``: ``evaluate`` of the run folder ``PATH`` (``model/<netname>``,
    or its ``best/`` for the best checkpoint); the model settings repeated on the command line must match the
    folder's ``config.json`` and are then left out (evaluate takes them from there)."""
    from . import registry
    from .runs import load_config_json, recorded_settings, run_dir_of

    option = CHECKPOINT_OPTION
    folder, best = path.rstrip("/"), False
    if os.path.basename(folder) == "best":
        folder, best = os.path.dirname(folder), True
    name = os.path.basename(folder)
    if not (name and os.path.isdir(folder) and os.path.realpath(folder) == os.path.realpath(run_dir_of(name))):
        if os.path.isfile(path) and path.endswith((".pkl", ".pt", ".pth")):
            raise ConfigError(f"{option}={path}: the original's PyTorch state dict cannot be restored here; train the "
                              f"model here and give its run folder, {option}=model/<netname>")
        raise ConfigError(f"{option}={path}: not a run folder of ours; give {option}=model/<netname> (a folder "
                          f"under {os.path.realpath(run_dir_of(''))}), or evaluate it as python train.py MODEL "
                          f"evaluate --netname=<netname>")
    if model_index is None:
        raise ConfigError(f"{option} evaluates a run: name its model too, e.g. {MODEL_OPTION}=VLAE")
    modes = [k for k, it in enumerate(items) if it[0] is None and k != model_index]
    if modes and items[modes[0]][1][0] != "evaluate":
        raise ConfigError(f"{option} evaluates a run; it does not go with '{items[modes[0]][1][0]}'")
    model = items[model_index][1][0]
    fam = registry.family_of_model(model)
    configs = fam.configs if fam is not None else {}
    saved = recorded_settings(load_config_json(folder) or {}, configs.get(fam.canonical_model(model)) if fam else None)
    kept = []
    for it in items:
        option_, values, _ = it
        flag = ours.get(option_) if option_ else None
        if flag is not None and option_ == "--netname" and values and values[0] != name:
            raise ConfigError(f"{option}={path} names the run {name}, not --netname={values[0]}")
        if flag is None or "evaluate" in flag.modes:
            kept.append(it)
            continue
        # a training setting the original's eval.py needs to rebuild the model: ours reads config.json
        if flag.dest in saved and values and not _same(flag, values[0], saved[flag.dest]):
            raise ConfigError(f"{folder}/config.json has {option_}={saved[flag.dest]} but the command asks for "
                              f"{option_}={values[0]}: {option}={path} evaluates that run as it was trained")
    if not modes:
        kept.insert(model_index + 1, [None, ["evaluate"], False])
    kept.append(["--netname", [name], True])
    if best:
        kept.append(["--best", [], False])
    return kept


def _same(flag, text: str, saved) -> bool:
    """Whether the command line's ``text`` for ``flag`` is the saved value."""
    convert = flag.kwargs.get("type")
    try:
        value = convert(text) if convert else text
    except (ValueError, TypeError):
        return False
    if isinstance(value, str) and isinstance(saved, str):
        return value.lower() == saved.lower()
    return value == saved
