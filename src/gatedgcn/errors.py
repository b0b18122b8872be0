"""The project's own exceptions: every bad input ends here, with a message naming what and where."""


class GatedGCNError(Exception):
    """Base class of every error this library raises on purpose."""


class GraphError(GatedGCNError, ValueError):
    """A graph or batch is malformed: the message names the field and the offending index."""


class ConfigError(GatedGCNError, ValueError):
    """A config key or CLI flag is unknown, of the wrong type or out of range."""


class RunDirError(GatedGCNError, OSError):
    """A run directory is missing, not writable, or holds files that do not match."""


class DataError(GatedGCNError, ValueError):
    """A data file is missing, malformed or unsafe: the message names the file and, where it can, the line."""


class CheckpointError(RunDirError):
    """A checkpoint is corrupt, truncated, of another kind or of another run's configuration."""


class TrainingError(GatedGCNError, RuntimeError):
    """Training cannot go on (e.g. too many non-finite losses or gradients in a row)."""


class TrainingInterrupted(GatedGCNError):
    """A run stopped on SIGINT/SIGTERM after writing a checkpoint; ``signum`` is the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
