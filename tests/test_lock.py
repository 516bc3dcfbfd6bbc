"""A run folder is owned by one training at a time (hvae/lock.py), tested with real processes: a second
``train.py`` on a busy folder is refused in one line naming the holder, and a lock left by a killed run is taken
over by the next start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["VAE", "train", "--dataset=digits", "--netname=locked", "--seed=1", "--log_frequency=1"]


def start(cwd: Path, *extra) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *ARGS, *extra], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock(cwd: Path, pid: int, timeout: float = 300) -> dict:
    path = cwd / "model" / "locked.lock"
    end = time.time() + timeout
    while time.time() < end:
        try:
            held = json.loads(path.read_text() or "null")
            if held and held.get("pid") == pid:
                return held
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path} never named process {pid}")


def test_second_training_on_a_busy_folder_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    first = start(tmp_path, "--epochs=1000")
    try:
        held = wait_for_lock(tmp_path, first.pid)
        assert held["host"] == socket.gethostname()
        second = subprocess.run([sys.executable, str(ROOT / "train.py"), *ARGS, "--epochs=1"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "model/locked is in use by another training" in lines[0], second.stderr
        assert f"process {first.pid}" in lines[0] and f"host {socket.gethostname()}" in lines[0], lines[0]
        # --restart must not delete a busy folder either
        third = subprocess.run([sys.executable, str(ROOT / "train.py"), *ARGS, "--restart"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
        assert third.returncode == 2 and "in use by another training" in third.stderr, third.stderr
        assert first.poll() is None, "the first training was disturbed"
    finally:
        first.send_signal(signal.SIGKILL)  # a killed run: no chance to release anything
        first.wait(timeout=60)
    again = subprocess.run([sys.executable, str(ROOT / "train.py"), *ARGS, "--max_iterations=2"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]   # took the killed run's lock over
    assert not (tmp_path / "model" / "locked.lock").exists()  # and removed it when it ended
