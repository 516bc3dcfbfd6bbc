"""Bad command-line input a new user types: one clear line, exit status 2, nothing created."""

import json
import os

import pytest

from hvae import cli
from hvae.errors import ConfigError


@pytest.mark.parametrize("netname", ["räum*?", "my run", "a/b", ".hidden", "-x", "tab\tname"])
def test_netname_outside_the_portable_set_is_one_line(netname, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = cli.main(["VAE", "train", "--dataset=digits", f"--netname={netname}"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "--netname must be a folder name of ASCII letters, digits" in err
    assert not os.path.exists(tmp_path / "model") or not os.listdir(tmp_path / "model")


@pytest.mark.parametrize("netname", ["vae_digits-2", "Run.3", "A_b-c.d"])
def test_portable_netnames_are_taken(netname, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolved = cli.resolve(["VAE", "train", "--dataset=digits", f"--netname={netname}"])
    assert resolved.run.netname == netname and resolved.invocation.run_dir == os.path.join("model", netname)


def test_invalid_value_is_reported_before_a_config_conflict(tmp_path, monkeypatch, capsys):
    """``--batch_size=0`` on an existing run is the invalid value, not a conflict with config.json."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "model" / "VAE_digits"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "VAE", "dataset": "digits", "batch_size": 32}))
    status = cli.main(["VAE", "train", "--dataset=digits", "--batch_size=0"])
    err = capsys.readouterr().err
    assert status == 2 and "--batch_size must be at least 1, got 0" in err and "config.json" not in err, err
    # a valid value that differs is still the conflict it is
    status = cli.main(["VAE", "train", "--dataset=digits", "--batch_size=16"])
    err = capsys.readouterr().err
    assert status == 2 and "config.json has --batch_size=32" in err, err


def test_a_malformed_dataset_option_is_one_line_before_any_data_is_read(tmp_path, monkeypatch):
    """``--dataset_option`` without ``=`` is refused by the command line itself (not when the loader first runs)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^--dataset_option takes KEY=VALUE, got 'train_split'$"):
        cli.resolve(["VAE", "train", "--dataset=digits", "--dataset_option", "train_split"])
    assert not (tmp_path / "model").exists()
