"""A checkpoint is never chosen on the test split: with ``--validation_size=0`` every family monitors the test split
(its lines say ``test``), keeps no ``best/`` checkpoint and says so once, and ``generate --best`` / ``evaluate
--best`` refuse in one line (the template's :meth:`hvae.task.Task.monitor` and ``restore_for_use``)."""

import pytest

from hvae.cli import main
from hvae.task import NO_VALIDATION_NOTE

LVAE_TINY = ["--zdims", "3", "4", "--downsample", "1", "1", "--blocks_per_layer=1", "--nfilters=8", "--batch_size=16",
             "--test_batch_size=200", "--compile=eager", "--vis_frequency=2", "--ll_every=1000"]
# one tiny run per family: two iterations on digits, monitored at least once (at the end)
FAMILIES = {
    "vladder": ["vladder", "train", "--batch_size=16", "--vis_frequency=2"],
    "collection": ["VAE", "train", "--batch_size=16", "--epochs=1"],
    "lvae": ["LVAE", "train"] + LVAE_TINY,
    "lvae2": ["LVAE2", "train", "--batch_size=16"],
    "laplace": ["VLAE", "train", "--z_dim=4", "--hidden_dim=32", "--n_update=2", "--batch_size=64"],
}


def _one_error_line(status, err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, (status, err)
    return lines[0]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_best_checkpoint_without_a_validation_split(family, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = FAMILIES[family] + ["--dataset=digits", "--seed=1", "--validation_size=0", "--max_iterations=2"]
    model = argv[0]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count(NO_VALIDATION_NOTE) == 1, out
    assert "new best" not in out and "validation" not in out.replace(NO_VALIDATION_NOTE, ""), out
    assert "test" in out.replace(NO_VALIDATION_NOTE, ""), out   # the monitoring lines name the test split
    run = tmp_path / "model" / f"{model}_digits"
    assert (run / "checkpoint").exists() and not (run / "best" / "checkpoint").exists()
    for mode in (["generate"], ["evaluate", "--iw_samples=2", "--num_images=10"]):
        status = main([model] + mode + ["--best"])
        line = _one_error_line(status, capsys.readouterr().err)
        assert "no best checkpoint" in line and "no validation split" in line, line
    assert main([model, "generate"]) == 0   # the newest checkpoint is there
