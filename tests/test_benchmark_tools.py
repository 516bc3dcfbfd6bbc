"""The speed benchmark's reproducibility report (``benchmarks/train_speed.py --compare``): it reads two result
files, reports each figure's change per case and variant, and says whether the largest change is within the
tolerance; and the shim that makes a foreign harness build the project's default optimizer."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "train_speed.py")


def _result(path, ips, ratio, norm):
    variants = [{"variant": v, "images_per_second": ips[v], "time_vs_first_variant": ratio[v],
                 "images_per_reference_gflop": norm[v]} for v in ips]
    with open(path, "w") as f:
        json.dump({"results": [{"case": "vladder_mnist", "variants": variants}]}, f)
    return str(path)


def _compare(a, b, tmp_path, *extra):
    out = subprocess.run([sys.executable, SCRIPT, "--compare", a, b, "--out", str(tmp_path), *extra],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_compare_reports_changes_and_verdicts(tmp_path):
    a = _result(tmp_path / "a.json", {"function": 400.0, "xla": 300.0}, {"function": 1.0, "xla": 1.333},
                {"function": 2.0, "xla": 1.5})
    # the machine ran 20% slower in b; relative figures moved less than 10%
    b = _result(tmp_path / "b.json", {"function": 320.0, "xla": 246.0}, {"function": 1.0, "xla": 1.30},
                {"function": 1.96, "xla": 1.53})
    text = _compare(a, b, tmp_path)
    assert "| vladder_mnist | function | 400, 320, -20.0% **beyond** |" in text
    assert "largest change of images/s: 20.0% (beyond 10%)" in text
    assert "largest change of time vs the first variant: 2.5% (within 10%)" in text
    assert "largest change of images per reference-GFLOP: 2.0% (within 10%)" in text
    assert os.path.getsize(tmp_path / "train_speed_repeat.png") > 10_000
    assert "within 25%" in _compare(a, b, tmp_path, "--tolerance", "0.25")


def test_compare_refuses_unrelated_or_missing_files(tmp_path):
    a = _result(tmp_path / "a.json", {"function": 1.0}, {"function": 1.0}, {"function": 1.0})
    with open(tmp_path / "c.json", "w") as f:
        json.dump({"results": [{"case": "VAE_mnist", "variants": [{"variant": "function"}]}]}, f)
    for other, message in ((str(tmp_path / "c.json"), "share no case and variant"),
                           (str(tmp_path / "missing.json"), "cannot read")):
        out = subprocess.run([sys.executable, SCRIPT, "--compare", a, other, "--out", str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and message in out.stderr
        assert "Traceback" not in out.stderr


def test_fused_adam_shim_replaces_keras_adam(tmp_path):
    pytest.importorskip("keras")
    env = dict(os.environ, PROJECT_ROOT=ROOT, PYTHONPATH=os.path.join(ROOT, "benchmarks", "shims", "fused_adam"))
    code = "import keras; print(keras.optimizers.Adam.__module__, keras.optimizers.Adam.__name__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hvae.optimizers", "FusedAdam"]
