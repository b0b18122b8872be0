"""Options with their meaning: dataclass fields that carry their help text, allowed values and bounds.

    hidden: int = option(100, "width of node (and edge) states", low=4)

The metadata is the one source of what a key means and allows: the config checks values against it
(:func:`check_options`), ``gatedgcn config show`` prints its ``help``, and the CLI builds its flags from it.
Pure Python (no torch): the command line reads it before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gatedgcn.errors import ConfigError

__all__ = ["option", "check_options", "help_of", "choices_of"]


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    low: float | None = None,
    below: float | None = None,
    flag: str | None = None,
) -> Any:
    """A dataclass field with ``default`` and its meaning ``help``.

    ``choices``: the allowed values; ``low``: the least allowed value (inclusive); ``below``: the bound the value
    stays under (exclusive; with ``low``, else from 0); ``flag``: the command-line flag, where it is not ``--<name>``."""
    metadata = {"help": help, "choices": choices, "low": low, "below": below, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def help_of(cls: Any) -> dict[str, str]:
    """``name -> help`` of the fields of the dataclass ``cls`` (empty for a field made without :func:`option`)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def choices_of(cls: Any, name: str) -> tuple[Any, ...]:
    """The allowed values of the field ``name`` of ``cls``."""
    return next(f.metadata["choices"] for f in dataclasses.fields(cls) if f.name == name)


def check_options(obj: Any, section: str) -> None:
    """:class:`ConfigError` naming ``section.key`` for the first field of ``obj`` outside its choices or bounds."""
    for f in dataclasses.fields(obj):
        value, m, key = getattr(obj, f.name), f.metadata, f"{section}.{f.name}"
        if m.get("choices") is not None and value not in m["choices"]:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, m['choices']))}; got {value!r}")
        low, below = m.get("low"), m.get("below")
        if below is not None and not (low or 0) <= value < below:
            raise ConfigError(f"{key} must be in [{low or 0:g}, {below:g}), got {value}")
        if low is not None and value < low:
            raise ConfigError(f"{key} must be >= {low:g}, got {value}")
