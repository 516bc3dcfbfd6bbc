"""The project as a user installs it (README's set-up: ``pip install -e .``): importable from any folder, its
console scripts, a wheel holding its three packages, and our ``datasets`` winning over another distribution's
``datasets`` (Hugging Face's package has that top-level name)."""

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

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
    r = _run("import hvae, models, datasets; print(hvae.__file__); print(models.__file__); print(datasets.__file__)",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    paths = r.stdout.split()
    assert [Path(p).parent.name for p in paths] == ["hvae", "models", "datasets"]
    assert all(Path(p).parents[1] == ROOT for p in paths)  # the editable install points at this clone


def _fake_distribution(tmp_path) -> Path:
    """A folder with a foreign top-level ``datasets`` package, as Hugging Face's ``datasets`` installs one."""
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    (site / "datasets" / "__init__.py").write_text("FOREIGN = True\n")
    return site


@pytest.mark.parametrize("first", ["hvae", "models"])
def test_our_datasets_wins_over_a_foreign_datasets_package(tmp_path, first):
    _installed()
    site = _fake_distribution(tmp_path)
    # without our package imported first the foreign one is found: the test's set-up is real
    r = _run("import datasets; print(getattr(datasets, 'FOREIGN', False))", cwd=tmp_path, extra_path=site)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr
    r = _run(f"import {first}, datasets; print(datasets.__file__); print(datasets.canonical_name('celeba'))",
             cwd=tmp_path, extra_path=site)
    assert r.returncode == 0, r.stderr
    path, name = r.stdout.split()
    assert Path(path).parents[1] == ROOT and name == "celebA"


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
    for package in ("hvae", "models", "datasets"):
        assert f"{package}/__init__.py" in names
    assert "models/vladder.py" in names and "datasets/celeba.py" in names and "hvae/cli.py" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "plots/")) for n in names)
    assert any(n.endswith("LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "hvae-train = hvae.cli:train_script" in text and "hvae-generate = hvae.cli:generate_script" in text
