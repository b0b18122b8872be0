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
