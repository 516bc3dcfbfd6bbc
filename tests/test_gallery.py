"""plots/gallery.py on three tiny runs of scikit-learn's digits (three families, one conditional): one row per run
in a PNG of the layout's size, and bad input as one line with exit status 2."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
from conftest import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "plots", "gallery.py")

spec = importlib.util.spec_from_file_location("gallery", SCRIPT)   # plots/ is not a package
gallery = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gallery)

TINY = {  # a few steps of small networks, as the families' own command-line tests
    "CVAE": ["--epochs=1", "--max_iterations=3", "--latent_dim=8"],
    "VLAE_VAE": ["--max_iterations=3", "--z_dim=4", "--hidden_dim=32", "--output_dist=bernoulli"],
    "LVAE2": ["--epochs=1", "--max_iterations=3"],
}


def _one_error_line(args, cwd) -> str:
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_gallery_draws_one_row_per_run_and_refuses_bad_input(in_tmp, capsys):
    for model, flags in TINY.items():
        code, _, err = run_cli([model, "train", "--dataset=digits", f"--netname=g_{model}", "--seed=1", *flags], capsys)
        assert code == 0, err
    runs = [f"model/g_{model}" for model in TINY]
    out = in_tmp / "gallery.png"
    assert gallery.main([*runs, "--dataset=digits", "--samples=5", "--seed=0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("row ")]
    assert [line.split()[2] for line in rows] == list(TINY), printed
    assert "3 iterations \u00d7 64" in rows[0] and "3 iterations \u00d7 128" in rows[1], rows

    import matplotlib.image

    image = matplotlib.image.imread(str(out))[..., :3]
    width, height = gallery.figure_size(3, 5)
    assert image.shape[:2] == (height, width)
    # one band of images per run, in the samples column and in the reconstructions column; white between bands
    lines, _ = gallery.grid_shape(5)
    row_h = max((lines * 28 + (lines - 1) * gallery.CELL_GAP) * gallery.SCALE, gallery.MIN_ROW_HEIGHT)
    x = gallery.MARGIN + gallery.LABEL_WIDTH + gallery.COLUMN_GAP
    for i in range(3):
        top = gallery.MARGIN + gallery.HEADER + i * (row_h + gallery.ROW_GAP)
        band = image[top + 2:top + row_h - 2, x:]
        assert (band < 0.5).mean() > 0.2, f"row {i} holds no images"
        if i:
            assert np.all(image[top - gallery.ROW_GAP + 2:top - 2, x:] == 1.0), f"no gap above row {i}"
    assert np.all(image[-gallery.MARGIN + 2:, :] == 1.0)

    # bad input: one line on stderr, exit status 2, no traceback
    (in_tmp / "not_a_run").mkdir()
    assert "not a run folder" in _one_error_line([runs[0], "not_a_run", "--out", "x.png", "--dataset=digits"], in_tmp)
    assert "trained on digits, not binarized_mnist" in _one_error_line([runs[1], "--out", "x.png"], in_tmp)
    assert not (in_tmp / "x.png").exists()
