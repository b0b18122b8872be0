"""YAML for configs: safe, without aliases, and every fault in one line naming the file (or flag), line and column.

``yaml.safe_load`` builds no objects, but an alias makes a node appear wherever it is named: nine
nested levels of nine aliases each ("billion laughs") are a few hundred bytes that stand for 10^9
values, and whatever walks the config afterwards walks all of them.  A config never needs an alias,
so :func:`load_yaml` refuses the first one it meets, before anything is built.  A config file is read
only if it is a plain file of at most :data:`MAX_BYTES` of UTF-8.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from gatedgcn.errors import ConfigError

__all__ = ["MAX_BYTES", "load_yaml", "read_yaml_file"]

MAX_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases (``*name``) where they are met."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"found the alias *{event.anchor} (aliases are not allowed in a config)", event.start_mark
            )
        return super().compose_node(parent, index)


def _one_line(err: yaml.YAMLError) -> str:
    """A YAML error as ``problem (line L, column C)``, without the excerpt and caret PyYAML prints under it."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def load_yaml(text: str, where: str) -> Any:
    """The data of the YAML ``text``; :class:`ConfigError` (one line, starting with ``where``) if it is not valid
    YAML, holds an alias or a tag of anything but plain data."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {_one_line(err)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: not valid YAML: nested too deep") from None


def read_yaml_file(path: str | Path) -> Any:
    """The data of the YAML file ``path``: a plain UTF-8 file of at most :data:`MAX_BYTES`."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"config file {path} is not a plain file")
        if info.st_size > MAX_BYTES:
            raise ConfigError(f"config file {path} has {info.st_size:,} bytes; a config has at most {MAX_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    return load_yaml(text, f"config file {path}")
