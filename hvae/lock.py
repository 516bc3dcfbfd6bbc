"""One training process per run folder: ``model/<netname>.lock``, held for the life of the process.

Two trainings started with the same ``--netname`` would write the same checkpoints, ``best/`` and figures, each
overwriting the other's. A training takes an exclusive ``fcntl.flock`` on the lock file beside its run folder
(outside it, so ``--restart`` cannot delete a busy folder's lock with the folder) and writes its host, process id
and start time into it. The operating system releases the lock when the process ends, however it ends, so a lock
left by a killed run (``kill -9``, a power cut) is free for the next start, which takes it over; the file's old
contents only say who held it last.

``flock`` is a lock of one machine: on a network file system that does not carry it, two hosts are not kept apart.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket

from .errors import ConfigError

_HELD: dict = {}  # lock path -> open file (kept open: closing it would release the lock)


def lock_path(run_dir: str) -> str:
    """``model/<netname>`` -> ``model/<netname>.lock`` (a sibling of the run folder)."""
    return os.path.normpath(run_dir) + ".lock"


def holder(run_dir: str) -> dict | None:
    """What the lock file says of its last holder: ``{"host", "pid", "started"}``, or None (no file, unreadable)."""
    try:
        with open(lock_path(run_dir), encoding="utf-8") as f:
            return json.loads(f.read() or "null")
    except (OSError, ValueError):
        return None


def acquire(run_dir: str) -> str:
    """Take the run folder for this process until it ends.

    Args:
        run_dir: the run folder (``model/<netname>``); its parent is created if needed.

    Returns:
        the lock file's path.

    Raises:
        ConfigError: another live process holds the folder (one line naming its host, process id and start).
        OSError: the lock file cannot be created (an unwritable folder; the command line reports it as such).
    """
    path = lock_path(run_dir)
    if path in _HELD:
        return path
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    while True:
        f = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            who = holder(run_dir) or {}
            since = f" since {who['started']}" if who.get("started") else ""
            raise ConfigError(f"{run_dir} is in use by another training (host {who.get('host', '?')}, process "
                              f"{who.get('pid', '?')}{since}): wait for it to end, or train under another "
                              f"--netname") from None
        try:
            same = os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # the holder removed this file as it ended: lock the one at the path now
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}))
    f.flush()
    _HELD[path] = f
    return path


def release(run_dir: str) -> None:
    """Give the folder up: the lock file is removed (while still locked, so no other start can hold the removed
    file: :func:`acquire` checks that the file it locked is still the one at the path), then unlocked. A killed run
    never gets here; its file stays until the next start takes it over."""
    path = lock_path(run_dir)
    f = _HELD.pop(path, None)
    if f is not None:
        try:
            os.unlink(path)
        except OSError:
            pass
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()
