"""What checking a source's host key finds: its verdict (HostKeyInfo) and the errors it raises.
Kept apart from remote.py so that the command line and the UI know them without loading paramiko,
which only a failed OpenSSH login, the pre/post commands and `sources trust` need."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from rabtui.errors import WorkFailed
from rabtui.ssh import known_hosts

if TYPE_CHECKING:
    import paramiko


class HostKeyError(WorkFailed):
    """The source's host key is not trusted (unknown or changed)."""


class UnknownHostKey(HostKeyError):
    def __init__(self, source_id: str, host: str, port: int, key_type: str, fingerprint: str, note: str = ""):
        self.source_id, self.host, self.port = source_id, host, port
        self.key_type, self.fingerprint = key_type, fingerprint
        super().__init__(
            f"{source_id}: the host key of {host}:{port} is not known ({key_type} {fingerprint}){note}",
            hint=f"check the fingerprint with the host's administrator, then trust it with: "
            f"rabtui sources trust {source_id}",
        )


class ChangedHostKey(HostKeyError):
    def __init__(self, source_id: str, host: str, port: int, key_type: str, expected: str, got: str,
                 files: Sequence[Path], name: str, lines: Sequence[str] = ()):
        self.source_id, self.host, self.port, self.key_type = source_id, host, port, key_type
        self.expected, self.fingerprint, self.files = expected, got, list(files)
        where = ", ".join(lines or [str(f) for f in files])
        super().__init__(
            f"HOST KEY CHANGED for host {host}:{port} (source {source_id}): expected {expected} got {got} ({key_type}) "
            f"-- possible man-in-the-middle; if the change is legitimate remove the old key from {where}",
            hint="; ".join(f"ssh-keygen -f {shlex.quote(str(f))} -R {shlex.quote(name)}" for f in files)
            + f", then run: rabtui sources trust {source_id}  (or: rabtui sources trust {source_id} --replace)",
        )


class Unreachable(WorkFailed):
    """DNS failure, refused or timed-out connection, failed login."""


@dataclass(frozen=True)
class HostKeyInfo:
    host: str
    port: int
    name: str                           # known_hosts name: "host" or "[host]:port"
    key_type: str
    fingerprint: str                    # "SHA256:..."
    key: paramiko.PKey
    status: str                         # "known" | "unknown" | "changed" | "revoked"
    files: tuple[Path, ...] = ()        # where it is known, or where the old key is
    expected: str = ""                  # the fingerprint on file, when changed
    lines: tuple[str, ...] = ()         # "FILE line N" of those entries
    old: tuple[known_hosts.Entry, ...] = ()   # changed: the keys on file that this one replaces

    @property
    def known(self) -> bool:
        return self.status == "known"

    @property
    def changed(self) -> bool:
        return self.status == "changed"
