"""Shared test set-up: quiet TensorFlow, the offline data folder, the command line run in-process and the
in_tmp folder. The tests import the installed project
(``pip install -e .``, README's set-up); nothing is put on ``sys.path`` here.

Tests that need the real data in ``../shared/data`` use the ``shared_data`` fixture, which skips with a
reason where the folder is absent (a user's clone has no ``../shared``). Set ``HVAE_SHARED_DATA`` to
point elsewhere.
"""

import os
from pathlib import Path

import pytest

import hvae  # noqa: F401  (TensorFlow's environment defaults, before any test imports TensorFlow)

ROOT = Path(__file__).resolve().parents[1]

SHARED_DATA = Path(os.environ.get("HVAE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the offline data folder (binarized_mnist/, mnist/, celeba/); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set HVAE_SHARED_DATA to use another)")
    return SHARED_DATA


def shared_subdir(shared_data: Path, name: str) -> Path:
    path = shared_data / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


# ---- the command line, as a user meets it (one implementation for every test file) ---------------------------------
def run_cli(argv, capsys, script_mode=None, prog=None) -> tuple:
    """Run ``train.py argv`` (``generate.py`` with ``script_mode="generate"``) in this process: ``(exit status,
    stdout, stderr)``."""
    from hvae.cli import main

    prog = prog or ("generate.py" if script_mode else "train.py")
    code = main(list(argv), script_mode=script_mode, prog=prog)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments, exit_code=2) -> str:
    """Assert that a command failed with ``exit_code`` (None: any non-zero) and one line on stderr, no traceback,
    holding every fragment; returns the line."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert (code != 0 if exit_code is None else code == exit_code), err
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """A fresh working folder (``model/`` and ``images/`` are written here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
