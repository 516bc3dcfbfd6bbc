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
