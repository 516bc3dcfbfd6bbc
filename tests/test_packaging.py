"""The project as a user installs it (README's set-up: ``pip install -e .``): importable from any folder, its
console scripts, a wheel holding one package (``hvae``, with ``hvae.models`` and ``hvae.datasets`` mapped from the
repository's top-level folders) that works installed from any folder, a foreign top-level ``datasets`` (Hugging
Face's package has that name) and ours in one process, and a ``.keras`` file of the previous layout still loading."""

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _installed():
    try:
        return importlib.metadata.distribution("hvae")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the project is not installed in this environment (pip install -e . installs it)")


def _run(code: str, cwd, extra_path=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_imports_from_another_folder(tmp_path):
    _installed()
    r = _run("import hvae; from hvae import models, datasets; print(hvae.__file__); print(models.__file__); "
             "print(datasets.__file__)", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert [p.parent.name for p in paths] == ["hvae", "models", "datasets"]
    assert all(p.parents[1] == ROOT for p in paths)  # the editable install points at this clone
    # nothing generic is installed: the top-level names stay free for other distributions
    for name in ("models", "datasets"):
        r = _run(f"import {name}", cwd=tmp_path)
        assert r.returncode != 0 and f"No module named '{name}'" in r.stderr


def _fake_distribution(tmp_path) -> Path:
    """A folder with a foreign top-level ``datasets`` package, as Hugging Face's ``datasets`` installs one."""
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    (site / "datasets" / "__init__.py").write_text("FOREIGN = True\n")
    return site


def test_a_foreign_datasets_package_and_ours_work_in_one_process(tmp_path):
    _installed()
    site = _fake_distribution(tmp_path)
    code = ("import datasets; from hvae import datasets as ours, models; "
            "print(getattr(datasets, 'FOREIGN', False)); print(ours.canonical_name('celeba')); "
            "print(ours.load('digits').shape); print(models.from_preset('VLAE_mnist', z_dim=2, hidden_dim=8)"
            ".count_parameters())")
    r = _run(code, cwd=tmp_path, extra_path=site)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "celebA", "(28,", "28,", "1)", "13541"]


def test_a_keras_file_saved_before_the_namespace_still_loads():
    """tests/data/VLAE_mnist_z2_h8_v0.2.0.keras was saved by version 0.2.0, when the models were the top-level
    package ``models`` (``models.from_preset("VLAE_mnist", z_dim=2, hidden_dim=8).save(...)``)."""
    import keras

    from hvae import models  # noqa: F401  (registers the classes)

    model = keras.models.load_model(ROOT / "tests" / "data" / "VLAE_mnist_z2_h8_v0.2.0.keras")
    assert type(model).__module__ == "hvae.models.laplace_vae" and type(model).__name__ == "VLAE"
    assert (model.config.z_dim, model.config.hidden_dim, model.count_parameters()) == (2, 8, 13541)
    images = np.random.RandomState(0).rand(3, 28, 28, 1).astype("float32")
    assert np.all(np.isfinite(model.log_importance_weights(images, 2).numpy()))


@pytest.mark.parametrize("script, usage", [("hvae-train", "hvae-train [MODEL] [MODE]"),
                                           ("hvae-generate", "hvae-generate [MODEL] [IMAGE]")])
def test_console_scripts(tmp_path, script, usage):
    _installed()
    exe = BIN / script
    assert exe.exists(), f"{exe} was not installed (pyproject.toml [project.scripts])"
    r = subprocess.run([str(exe), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert usage in r.stdout
    r = subprocess.run([str(exe), "NoSuchModel"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith(f"{script}: error:") and len(r.stderr.splitlines()) == 1


def test_wheel_holds_the_three_packages_the_license_and_the_scripts(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and ("Could not find a version" in r.stderr or "Network is unreachable" in r.stderr):
        pytest.skip("building a wheel needs setuptools from the package index, which is unreachable here")
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("hvae-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("hvae", "hvae/models", "hvae/datasets"):
        assert f"{package}/__init__.py" in names
    assert "hvae/models/vladder.py" in names and "hvae/datasets/celeba.py" in names and "hvae/cli.py" in names
    assert not any(n.startswith(("models/", "datasets/", "tests/", "benchmarks/", "plots/")) for n in names)
    assert any(n.endswith("LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "hvae-train = hvae.cli:train_script" in text and "hvae-generate = hvae.cli:generate_script" in text
    # installed from the wheel (not editable) into a folder of its own, it runs from any folder
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run("from hvae import models, datasets, cli; print(models.__file__); print(datasets.__file__); "
             "print(len(models.preset_names()) > 0)", cwd=elsewhere, extra_path=target)
    assert r.returncode == 0, r.stderr
    model_file, dataset_file, presets = r.stdout.split()
    assert Path(model_file).parents[2] == target and Path(dataset_file).parents[2] == target and presets == "True"
