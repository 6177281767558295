"""The looks for symlinks on a source of one backup (source_top.py), asked with the transfers' own
command and connection."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from rabtui import proc
from rabtui.backup import source_top
from rabtui.backup.transfer import commands
from rabtui.config import Source
from rabtui.ssh import endpoint as ssh_target


def looks(source: Source, look: Callable[[bool], dict[str, str]]) -> source_top.Looks:
    """The looks of a backup of `source` (`look(after)`: symlinked, apart): in the transfers' own
    sessions over SSH."""
    _, remote_path = commands(source, "rsync")
    words = None if source.is_local else (remote_path or "rsync").split(" ")
    return source_top.Looks(words, [d.path for d in source.directories], look)


def symlinked(source: Source, backup_path: Path, rsh: str | None, cancel: threading.Event,
              after: bool = False) -> dict[str, str]:
    """source_top.symlinked of the source's directories, asked with the transfers' command and
    connection: path -> why it is not backed up."""
    command, remote_path = commands(source, proc.which("rsync"))
    paths = [d.path for d in source.directories]
    return source_top.symlinked(command, lambda path: ssh_target.rsync_read_location(source, path), paths,
                                str(backup_path), rsh=rsh, rsync_path=remote_path, io_timeout=source.io_timeout, cancel=cancel,
                                after=after)
