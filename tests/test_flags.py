"""The command line's model flags are made from the typed configs (``hvae.family.config_flags``): one name, one
default and one check per setting. What a user gets from that, tested through the command line's own resolution
(``hvae.cli.resolve``, no data read, no TensorFlow):

- a model setting is a field of its config and nothing else: every field the command line may set has its flag,
  spelt as the originals spell it, and no family declares a flag by hand for a config field;
- a preset reaches the model unchanged when no flag is given, also where it differs from the config's defaults
  (a flag's default is "not given", never a copy of a default);
- the flags given, and only those, change the preset;
- a setting that only some models have is refused for the others, in one line;
- a value below a field's minimum is refused by the flag, in one line, before anything runs.
"""

import dataclasses

import pytest

from hvae import registry
from hvae.cli import COMMON_FLAGS, build_parser, resolve
from hvae.configs import collection, lvae, lvae2, vladder
from hvae.configs.base import flag_dest
from hvae.errors import ConfigError
from hvae.runs import ResolvedRun, RunConfig


def _config_of(argv):
    """The model config a command line trains, as the family's task builds it (the data's shape from the preset)."""
    resolved = resolve(argv)
    model, fam, flags = resolved.invocation.model, registry.family(resolved.invocation.family), resolved.model_flags
    if fam.name == "lvae":
        from hvae.lvae_task import preset_flags

        name = lvae.resolve_preset(resolved.settings.preset, resolved.run.dataset)
        return lvae.LVAEConfig.from_flags(preset_flags(resolved), lvae.PRESETS[name].image_shape,
                                          lvae.PRESETS[name].value_range)
    if fam.name == "lvae2":
        return lvae2.PRESETS["LVAE2_mnist"].with_flags(flags)
    if fam.name == "vladder":
        base = vladder.config_for_run(resolved.run.netname, resolved.run.dataset, (28, 28, 1), (0.0, 1.0))
        return base.with_flags(flags)
    return fam.configs[model]().with_flags(flags)


@pytest.mark.parametrize("fam", registry.families(), ids=lambda f: f.name)
def test_every_settable_field_has_its_flag_and_no_flag_is_written_by_hand(fam):
    made = {}
    for model, config_class in fam.configs.items():
        for f in config_class.flag_fields():
            made.setdefault(flag_dest(f), set()).add(model)
    declared = {f.dest for f in fam.flags}
    assert set(made) <= declared, f"{fam.name}: config fields without a flag: {sorted(set(made) - declared)}"
    for flag in fam.flags:
        if flag.dest in made:
            # made by config_flags: its models are exactly the configs that have the field
            assert set(flag.models or fam.configs) == made[flag.dest], flag.option


def test_the_originals_spellings_are_kept():
    options = {f.option for fam in registry.families() for f in fam.flags}
    for spelling in ("--zdims", "--nfilters", "--freebits", "--no_bn", "--no_initial_downscaling", "--lambda",
                     "--denoise_train", "--latent_dim", "--z_dim", "--n_update"):
        assert spelling in options, spelling


def test_common_flags_are_runconfigs_fields_and_no_family_repeats_one():
    assert [f.dest for f in COMMON_FLAGS] == list(RunConfig.field_names())
    common = {f.option for f in COMMON_FLAGS}
    for fam in registry.families():
        repeated = sorted(common & {f.option for f in fam.flags})
        assert not repeated, f"{fam.name} declares common flags again: {repeated}"
        build_parser("train.py", fam)   # argparse accepts the family's flags beside the common ones


@pytest.mark.parametrize("argv, preset", [
    (["LVAE", "--dataset=binarized_mnist"], lvae.PRESETS["LVAE_mnist_3"]),
    (["LVAE", "--dataset=binarized_mnist", "--preset=mnist_12"], lvae.PRESETS["LVAE_mnist_12"]),
    (["LVAE", "--dataset=cifar10", "--preset=cifar10_6"], lvae.PRESETS["LVAE_cifar10_6"]),
    (["LVAE", "--dataset=binarized_mnist", "--preset=original_defaults"], lvae.PRESETS["LVAE_original_defaults"]),
    (["LVAE2", "--dataset=digits"], lvae2.PRESETS["LVAE2_mnist"]),
    (["VAE", "--dataset=mnist"], collection.PRESETS["VAE_mnist"].replace(image_shape=(32, 32, 3))),
    (["--dataset=digits"], vladder.PRESETS["vladder_mnist"]),
], ids=lambda v: v[0] if isinstance(v, list) else None)
def test_a_preset_reaches_the_model_unchanged_without_flags(in_tmp, argv, preset):
    assert _config_of(argv) == preset


def test_a_preset_that_differs_from_the_config_defaults_is_not_overridden(in_tmp, monkeypatch):
    """The latent bug of hand-copied defaults: a preset with dropout 0.1, weight decay and the linear merge (the
    config's defaults: 0.2, 0, residual) must train with its own values from the command line too."""
    odd = lvae.PRESETS["LVAE_mnist_3"].replace(dropout=0.1, weight_decay=1e-4, merge_layers="linear", nonlin="relu",
                                               analytical_kl=True, batch_norm=False, beta_anneal=5)
    monkeypatch.setitem(lvae.PRESETS, "LVAE_mnist_3", odd)
    assert _config_of(["LVAE", "--dataset=binarized_mnist"]) == odd
    assert _config_of(["LVAE", "--dataset=binarized_mnist", "--dropout=0.3"]) == odd.replace(dropout=0.3)


@pytest.mark.parametrize("argv, changed", [
    (["LVAE", "--dataset=binarized_mnist", "--zdims", "8", "8", "8", "--nfilters=16", "--no_bn", "--freebits=0.25",
      "--no_skip"], dict(z_dims=(8, 8, 8), n_filters=16, batch_norm=False, free_bits=0.25, skip=False)),
    (["LVAE2", "--dataset=digits", "--sampling=paper", "--beta_max=0.25"], dict(sampling="paper", beta_max=0.25)),
    (["--dataset=digits", "--reg=mmd", "--denoise_train", "--latent_dims", "3", "3", "3"],
     dict(reg="mmd", denoise=True, latent_dims=(3, 3, 3))),
], ids=["LVAE", "LVAE2", "vladder"])
def test_only_the_flags_given_change_the_preset(in_tmp, argv, changed):
    base = _config_of(argv[:2] if argv[0].startswith("LVAE") else argv[:1])
    assert _config_of(argv) == base.replace(**changed)
    assert dataclasses.asdict(base) != dataclasses.asdict(_config_of(argv))


@pytest.mark.parametrize("argv, message", [
    (["VAE", "--alpha=0.5"], "--alpha does not apply to VAE (only to InfoVAE)"),
    (["MMDVAE", "--alpha=0.5"], "--alpha does not apply to MMDVAE (only to InfoVAE)"),
    (["HF", "--n_update=2"], "--n_update does not apply to HF (only to VLAE)"),
    (["VLAE", "--n_flow=2"], "--n_flow does not apply to VLAE (only to HF and IAF)"),
])
def test_a_setting_of_other_models_is_refused_in_one_line(in_tmp, argv, message):
    with pytest.raises(ConfigError) as err:
        resolve(argv)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["VAE", "--latent_dim=0"], "argument --latent_dim: must be at least 1, got 0"),
    (["LVAE", "--nfilters=0"], "argument --nfilters: must be at least 1, got 0"),
    (["LVAE", "--zdims", "8", "0"], "argument --zdims: must be at least 1, got 0"),
    (["VLAE", "--z_dim=x"], "argument --z_dim: expected an integer, got 'x'"),
])
def test_a_value_below_a_fields_minimum_is_refused_by_its_flag(in_tmp, argv, message):
    with pytest.raises(ConfigError) as err:
        resolve(argv)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("argv", [
    ["VAE", "train", "--dataset=digits", "--latent_dim=8", "--dataset_option", "train_split=test"],
    ["InfoVAE", "train", "--dataset=digits", "--alpha=0.5", "--seed=3"],
    ["LVAE", "train", "--preset=mnist_6", "--freebits=0.25", "--vis_frequency=7", "--lr_milestones=2,3"],
    ["LVAE2", "train", "--sampling=paper", "--beta_constant=0.5"],
    ["VLAE", "train", "--z_dim=8", "--n_update=2", "--epochs=3"],
    ["--dataset=svhn", "--gpus=0", "--reg=kl"],
], ids=lambda a: a[0])
def test_the_command_line_resolves_to_a_typed_run(in_tmp, argv):
    """``resolve`` returns the typed run (no flat namespace): the run's and the family's settings typed, the model
    flags given (and only those) apart for the model config, and a flat view that makes the same object again."""
    resolved = resolve(argv)
    assert isinstance(resolved, ResolvedRun) and isinstance(resolved.run, RunConfig)
    fam = registry.family(resolved.invocation.family)
    assert isinstance(resolved.settings, fam.settings)
    given = {a[2:].split("=")[0] for a in argv if a.startswith("--")}
    assert {k for k, v in resolved.model_flags.items() if v is not None} == given & fam.model_flag_dests
    assert ResolvedRun.from_flat(resolved.flat(), fam) == resolved
    if argv[0] == "VAE":
        assert resolved.dataset_options == {"train_split": "test"} and resolved.model_flags["latent_dim"] == 8
    if argv[0] == "LVAE":
        assert resolved.settings.vis_frequency == 7 and resolved.run.lr_milestones == [2, 3]
        assert resolved.settings.preset == "mnist_6" and resolved.model_flags["freebits"] == 0.25
    if argv[0] == "InfoVAE":
        assert resolved.run.seed == 3 and resolved.invocation.mode == "train" and resolved.invocation.image is None
