"""One name, one default and one check per setting, between the command line and the typed configs.

The common flags are made from :class:`hvae.runs.RunConfig`'s fields. A family's own flags are declared in its
task module (read before TensorFlow starts, so they cannot be made from the model configs, which live in modules
that import it); this test holds the two together: every family flag that sets a field of one of the family's model
configs has that field's choices, and a family default for it is the config's own default or None ("the
config's").
"""

import dataclasses
import importlib

import pytest

from hvae import registry
from hvae.cli import COMMON_FLAGS, build_parser
from hvae.runs import RunConfig
from models.base import ModelConfig


def _configs(fam):
    module = importlib.import_module(fam.model_module)
    return [c for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, ModelConfig) and c is not ModelConfig and dataclasses.is_dataclass(c)]


def _fields_of(fam):
    """flag dest -> [(config class, field)] for every config field a family flag can set."""
    out = {}
    for cfg in _configs(fam):
        for f in dataclasses.fields(cfg):
            name = (f.metadata.get("flag") if f.metadata else None) or f.name
            out.setdefault(name, []).append((cfg, f))
    return out


@pytest.mark.parametrize("fam", registry.families(), ids=lambda f: f.name)
def test_family_flags_agree_with_the_model_configs(fam):
    fields = _fields_of(fam)
    checked = 0
    for flag in fam.flags:
        for cfg, f in fields.get(flag.dest, []):
            checked += 1
            choices = f.metadata.get("choices") if f.metadata else None
            if choices is not None and flag.kwargs.get("action") not in ("store_true", "store_false"):
                assert set(flag.kwargs.get("choices") or ()) == set(choices), \
                    f"{flag.option}: choices {flag.kwargs.get('choices')} but {cfg.__name__}.{f.name} {choices}"
            default = fam.defaults.get(flag.dest)
            if default is not None and f.default is not dataclasses.MISSING and not flag.kwargs.get("action"):
                assert default == f.default, f"{flag.option}: family default {default!r}, {cfg.__name__}.{f.name} " \
                                             f"default {f.default!r}"
    assert checked or fam.name == "vladder", f"{fam.name}: no flag sets a model config field"


def test_common_flags_are_runconfigs_fields_and_no_family_repeats_one():
    assert [f.dest for f in COMMON_FLAGS] == list(RunConfig.field_names())
    common = {f.option for f in COMMON_FLAGS}
    for fam in registry.families():
        repeated = sorted(common & {f.option for f in fam.flags})
        assert not repeated, f"{fam.name} declares common flags again: {repeated}"
        build_parser("train.py", fam)   # argparse accepts the family's flags beside the common ones
