"""The sources verbs: is a source reachable (the login a backup's step 1 makes), and trusting or
replacing its host key after the operator has seen the fingerprint. Never auto-accepted."""

from __future__ import annotations

import threading
from pathlib import Path

from rabtui.config import Config, Source
from rabtui.ssh import shared
from rabtui.ssh.host_keys import HostKeyInfo, UnknownHostKey

__all__ = ["HostKeyInfo", "UnknownHostKey", "whoami", "scan_host_key", "trust", "replace"]


def whoami(cfg: Config, source: Source, cancel: threading.Event | None = None) -> shared.Answer:
    """Log in as a backup's step 1 does and ask `whoami`; raises UnknownHostKey for a host key
    that is not known, Cancelled when `cancel` is set meanwhile, RabtuiError for anything else
    that fails."""
    return shared.whoami(cfg, source, cancel)


def scan_host_key(cfg: Config, source: Source) -> HostKeyInfo:
    """The source's host key, its fingerprint and whether it is known, changed or revoked."""
    from rabtui.ssh import remote

    return remote.scan_host_key(cfg, source)


def trust(cfg: Config, source: Source, info: HostKeyInfo) -> Path:
    """Add a host key the operator accepted to known_hosts (a changed or revoked key is refused
    with the loud message); the file written."""
    from rabtui.ssh import remote

    return remote.trust(cfg, source, info)


def replace(cfg: Config, source: Source, info: HostKeyInfo) -> Path:
    """Replace a changed host key the host's administrator confirmed; the file written."""
    from rabtui.ssh import remote

    return remote.replace(cfg, source, info)
