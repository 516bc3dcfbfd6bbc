"""The project's exceptions.

Every error caused by bad input (a flag, a path, a file, a checkpoint) is raised as a subclass of
:class:`HVAEError` with a one-line message that names the culprit and what was expected. The command
line (``train.py``, ``generate.py``) prints that line and exits with a non-zero status instead of a
traceback.
"""


class HVAEError(Exception):
    """Base class of every user-facing error. ``str(err)`` is a complete one-line message."""

    exit_code = 2


class DatasetError(HVAEError):
    """A dataset cannot be loaded: unknown name, missing or malformed files, no network for a download."""


class ConfigError(HVAEError):
    """Flags that contradict each other or the run folder's ``config.json``."""


class CheckpointError(HVAEError):
    """A checkpoint is missing or does not match the model being restored."""


class TrainingDiverged(HVAEError):
    """A loss term or the gradient became NaN or Inf; the last good checkpoint is kept."""

    exit_code = 3


class WorkerLost(HVAEError):
    """A worker of a multi-worker job died or became unreachable; restarting every worker resumes the run."""

    exit_code = 4


class RunFolderError(HVAEError):
    """A file of the run folder (or another output) cannot be written: a read-only or immutable folder, a full
    disk, a missing permission. Whatever was already computed has been printed or kept."""

    exit_code = 5


_REASONS = {1: "the operation is not permitted (an immutable or protected folder?)", 13: "permission denied",
            28: "no space left on the device", 30: "the file system is read-only", 122: "the disk quota is exceeded"}


def unwritable(err: OSError, what: str = "") -> RunFolderError:
    """The one-line :class:`RunFolderError` for an ``OSError`` raised while writing ``err.filename``.

    Args:
        err: the error (its ``filename`` and ``errno`` name the path and the reason).
        what: what was lost or kept, appended to the message (``"the evaluation was printed above"``).
    """
    path = err.filename or "the run folder"
    reason = _REASONS.get(err.errno, err.strerror or str(err))
    verb = "write" if err.errno in WRITE_ERRNOS else "access"
    message = (f"cannot {verb} {path}: {reason}; make the folder writable (or free disk space), or write the run "
               f"elsewhere with another --netname")
    return RunFolderError(message + (f"; {what}" if what else ""))


# errno values of a write that the file system refused (EPERM, EIO, EACCES, ENOSPC, EROFS, EDQUOT)
WRITE_ERRNOS = (1, 5, 13, 28, 30, 122)
