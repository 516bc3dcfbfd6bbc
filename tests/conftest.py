"""Shared test set-up: quiet TensorFlow and the offline data folder. The tests import the installed project
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
