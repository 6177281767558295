"""The configuration, described once in model.py: TOML in (parse.py), frozen dataclasses out.

`from rabtui import config` and `from rabtui.config import Config, Source, ...` reach all of it.
"""

from rabtui.config.model import (
    DIRECTORY_KINDS,
    ID_RE,
    CheckpointSettings,
    Config,
    Directory,
    Medium,
    NotifySettings,
    RetentionSettings,
    Settings,
    Source,
    command_for,
    default_path,
    default_state_dir,
)
from rabtui.config.parse import error_at, load, parse
from rabtui.errors import ConfigError

__all__ = [
    "DIRECTORY_KINDS", "ID_RE", "CheckpointSettings", "Config", "ConfigError", "Directory", "Medium", "NotifySettings",
    "RetentionSettings", "Settings", "Source", "command_for", "default_path", "default_state_dir", "error_at", "load", "parse",
]
