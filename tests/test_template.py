"""The one task template (``hvae/task.py``) with a family that supplies only the required hooks: the complete task
of ``docs/adding_a_family.md``, run as it is written there, registered beside the five families and driven through
the command line (train with epoch monitoring and the best checkpoint, resume, generate, evaluate, export), and the
one progress format (``hvae/progress.py``)."""

import io
import json
import re
import sys
from pathlib import Path

import pytest

from hvae import registry
from hvae.cli import main
from hvae.progress import Progress, format_duration

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding_a_family.md"


@pytest.fixture()
def toy_family(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / "toy_task.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FAMILY_MODULES", registry.FAMILY_MODULES + ("toy_task",))
    monkeypatch.setattr(registry, "_FAMILIES", None)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("toy_task", None)


def test_the_documented_family_trains_resumes_generates_evaluates_and_exports(toy_family, capsys):
    argv = ["Toy", "train", "--dataset=digits", "--seed=1", "--log_frequency=10"]
    assert main(argv + ["--max_iterations=30"]) == 0
    out = capsys.readouterr().out
    run = toy_family / "model" / "Toy_digits"
    # 1,294 training images / 32 = 40 steps an epoch: a line at step 1 (no speed yet) and every 10 steps
    assert re.search(r"^iteration 1/30 \| epoch 1/2 \| - images/s \| ETA - \| loss ", out, re.M)
    assert re.search(r"^iteration 20/30 \| epoch 1/2 \| [\d.]+ images/s \| ETA \d+:\d\d:\d\d \| loss ", out, re.M)
    # the run stopped inside epoch 1: the template monitored the final state, kept the best, measured the test split
    assert re.search(r"^iteration 30 \(epoch 0\.75\): validation loss [\d.]+.* \(new best\)$", out, re.M)
    assert re.search(r"^end of training \(iteration 30\): test loss ", out, re.M)
    for name in ("current.png", "epoch1.png", "current_labelled.png"):
        assert (run / "samples" / name).stat().st_size > 0
    assert (run / "best" / "checkpoint").exists()
    doc = json.loads((run / "config.json").read_text())
    # each model setting once, in the typed model section (the preset's latent 8: no flag given)
    assert doc["format"] == 2 and "latent_dim" not in doc["settings"] and doc["model"]["latent_dim"] == 8
    assert doc["run"]["batch_size"] == 32 and doc["data"]["image_shape"] == [28, 28, 1]

    assert main(argv) == 0   # --epochs 2 by the family's default: resumes at 30, monitors after epochs 1 and 2
    out = capsys.readouterr().out
    assert "resumed from model/Toy_digits/ckpt-30 at iteration 30" in out
    assert re.search(r"^iteration 40 \(epoch 1\.00\): validation loss ", out, re.M)
    assert re.search(r"^iteration 80 \(epoch 2\.00\): validation loss ", out, re.M)
    assert "done at iteration 80 (epoch 2.00)" in out and (run / "samples" / "epoch2.png").exists()

    assert main(["Toy", "generate", "--best"]) == 0
    assert "wrote model/Toy_digits/samples/generated_best_labelled.png" in capsys.readouterr().out
    assert main(["Toy", "evaluate", "--iw_samples=3", "--num_images=20"]) == 0
    assert "importance-weighted bound, K = 3" in capsys.readouterr().out
    assert main(["Toy", "generate", "--export=toy.keras"]) == 0
    assert (toy_family / "toy.keras").stat().st_size > 0
    # a flag of the family that changes the model is refused on a resume
    assert main(argv + ["--latent_dim=4"]) == 2
    # the family's own setting: its flag, range check and typed value come from its field
    capsys.readouterr()
    assert main(["Toy", "generate", "--sample_rows=0"]) == 2
    assert capsys.readouterr().err.strip().endswith("--sample_rows must be at least 1, got 0")
    assert main(["Toy", "generate", "--sample_rows=2"]) == 0
    import cv2

    small, full = (cv2.imread(str(run / "samples" / name)) for name in ("generated.png", "current.png"))
    assert small.shape[0] * 4 == full.shape[0], (small.shape, full.shape)   # 2x2 samples against 8x8


def test_progress_lines_and_bar():
    out = io.StringIO()
    p = Progress(batch_size=10, steps_per_epoch=5, total=12, stream=out, bar=False)
    p.start(0)
    p.update(1, {"loss": 2.5, "gradient_norm": 1.0}, log=True)
    p.update(2, {"loss": 2.0}, log=False)
    p.update(4, {"loss": 1.5, "kl": 0.25}, log=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == "iteration 1/12 | epoch 1/3 | - images/s | ETA - | loss 2.5"
    assert re.fullmatch(r"iteration 4/12 \| epoch 1/3 \| [\d.]+ images/s \| ETA \d+:\d\d:\d\d \| loss 1.5 \| kl 0.25",
                        lines[1])
    assert len(lines) == 2
    assert Progress(10, 5, total=None, epochs=None, stream=io.StringIO(), bar=False).line(7, {"loss": 1.0}) == \
        "iteration 7 | epoch 2 | - images/s | loss 1"
    bar = io.StringIO()
    p = Progress(batch_size=10, steps_per_epoch=5, total=10, stream=bar, bar=True)
    p.start(0)
    p.update(5, {"loss": 1.0}, log=True)
    p.print("validation loss 0.9")
    text = bar.getvalue()
    assert text.startswith("\r[==========..........]  50% iteration 5/10") and "\nvalidation loss 0.9\n" in text
    assert format_duration(3723.4) == "1:02:03" and format_duration(90061) == "1 day, 1:01:01"
