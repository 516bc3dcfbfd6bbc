"""config.json as a user meets it: each model setting recorded once, in the typed ``model`` section, and read back
(a resumed run keeps the model it was built with; a flag that contradicts it is one line); a hand edit with a wrong
type, a misspelt key or a value out of range is one line naming the file and the key, never a traceback and never
silently ignored; ``--config PATH`` starts a new run from another run's file (flags given beside it win) or from a
file written by hand."""

import json

import pytest
from conftest import one_line_error, run_cli

RUN = ["VAE", "train", "--dataset=digits", "--max_iterations=2", "--log_frequency=1", "--seed=0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short VAE run on digits with a non-default latent size (``model/VAE_digits``), made once."""
    import os

    from hvae.cli import main

    folder = tmp_path_factory.mktemp("config_file")
    here = os.getcwd()
    os.chdir(folder)
    try:
        assert main(RUN + ["--latent_dim=12"]) == 0
    finally:
        os.chdir(here)
    return folder


@pytest.fixture
def run_folder(trained, tmp_path, monkeypatch):
    """A copy of the trained run in a fresh working folder (each test may edit its config.json)."""
    import shutil

    shutil.copytree(trained / "model", tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "model" / "VAE_digits"


def _edit(run, change):
    path = run / "config.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return "model/VAE_digits/config.json"   # as the messages name it, from the working folder


def test_each_model_setting_is_recorded_once_in_the_model_section(run_folder):
    doc = json.loads((run_folder / "config.json").read_text())
    assert doc["model"]["latent_dim"] == 12 and doc["model"]["image_shape"] == [28, 28, 1]
    for section in ("settings", "run", "derived"):
        assert "latent_dim" not in doc[section], section


def test_a_resumed_run_is_built_from_its_model_section_and_a_contradiction_is_one_line(run_folder, capsys):
    code, out, err = run_cli(RUN[:3] + ["--max_iterations=3"], capsys)   # no --latent_dim: the saved model's
    assert code == 0, err
    assert "resumed from" in out and "latent 12" in out
    code, out, err = run_cli(RUN + ["--latent_dim=8", "--max_iterations=4"], capsys)
    one_line_error(code, err, "config.json has --latent_dim=12 but this run asks for --latent_dim=8")


@pytest.mark.parametrize("change, fragments", [
    (lambda d: d["run"].update(batch_size="64x"), ["run.batch_size must be an integer", "'64x'"]),
    (lambda d: d["run"].update(batch_sise=64), ["run has no setting 'batch_sise'", "batch_size"]),
    (lambda d: d["run"].update(epochs=0), ["--epochs must be at least 1, got 0"]),
    (lambda d: d["settings"].update(lable=3), ["settings has no setting 'lable'"]),
    (lambda d: d["model"].update(latent_dim="twelve"), ["model:", "latent_dim"]),
    (lambda d: d["model"].update(latent_size=12), ["model:", "has no setting 'latent_size'"]),
    (lambda d: d["model"].update(likelihood="poisson"), ["model:", "likelihood must be one of"]),
    (lambda d: d.update(extra={}), ["unknown section 'extra'"]),
])
def test_a_hand_edit_that_is_wrong_is_one_line_naming_the_file_and_the_key(run_folder, capsys, change, fragments):
    path = _edit(run_folder, change)
    before = (run_folder / "config.json").read_text()
    for argv in (RUN[:3], ["VAE", "evaluate", "--iw_samples=2", "--num_images=4"]):
        code, out, err = run_cli(argv, capsys)
        one_line_error(code, err, path, *fragments)
    assert (run_folder / "config.json").read_text() == before   # nothing rewritten


def test_config_starts_a_new_run_from_another_runs_file_and_flags_win(run_folder, capsys):
    source = str(run_folder / "config.json")
    code, out, err = run_cli(["VAE", "train", f"--config={source}", "--netname=again"], capsys)
    assert code == 0, err
    doc = json.loads((run_folder.parent / "again" / "config.json").read_text())
    assert doc["model"]["latent_dim"] == 12 and doc["run"]["max_iterations"] == 2 and doc["run"]["seed"] == 0
    code, out, err = run_cli(["VAE", "train", f"--config={source}", "--netname=wider", "--latent_dim=5",
                              "--max_iterations=1"], capsys)
    assert code == 0, err
    doc = json.loads((run_folder.parent / "wider" / "config.json").read_text())
    assert doc["model"]["latent_dim"] == 5 and doc["run"]["max_iterations"] == 1


def test_config_written_by_hand(in_tmp, capsys):
    path = in_tmp / "mine.json"
    path.write_text(json.dumps({"format": 2, "run": {"dataset": "digits", "max_iterations": 1, "seed": 3},
                                "model": {"latent_dim": 7}}))
    code, out, err = run_cli(["VAE", "train", f"--config={path}"], capsys)
    assert code == 0, err
    doc = json.loads((in_tmp / "model" / "VAE_digits" / "config.json").read_text())
    assert doc["model"]["latent_dim"] == 7 and doc["run"]["seed"] == 3


@pytest.mark.parametrize("content, fragments", [
    ('{"format": 2, "model_name": "CVAE", "run": {}}', ["is a config of CVAE, not VAE"]),
    ('{"run": {"dataset": "digits"}}', ["not a config.json of this version"]),
    ('{"format": 2, "run": {"batch_size": -1}}', ["--batch_size must be at least 1"]),
    ('{"format": 2, "run": ', ["is not valid JSON"]),
    (None, ["cannot read"]),
])
def test_a_bad_config_file_is_one_line(in_tmp, capsys, content, fragments):
    path = in_tmp / "bad.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run_cli(["VAE", "train", f"--config={path}"], capsys)
    one_line_error(code, err, *fragments)
