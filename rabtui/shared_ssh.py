"""One OpenSSH connection for a whole backup of a remote source.

Step 1 logs in with OpenSSH, the transport rsync uses, and runs `whoami`; the login stays open
(ControlMaster) and every rsync of the backup runs over it. A backup so pays one SSH handshake, as
bare rsync does, and step 1 proves the very login that rsync will use.

When OpenSSH cannot log in, paramiko (remote.py) tells why in the terms the operator acts on: an
unknown host key with its fingerprint, a changed key, a refused connection. Only then, or for
pre/post commands, is paramiko loaded.
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import threading
from pathlib import Path

from rabtui import proc, ssh_target
from rabtui.config import Config, Source
from rabtui.errors import Cancelled, WorkFailed

SOCKET_PATH_MAX = 100      # sun_path holds 108 bytes; ssh adds a suffix while it sets the socket up
SSH_FAILED = 255           # ssh's own exit status: it could not connect or log in


class SharedConnection:
    """`start` begins the login (a caller may start it early, to overlap it with its own start-up),
    `open` waits for it; `close` ends it, at any point."""

    def __init__(self, cfg: Config, source: Source):
        self.cfg, self.source = cfg, source
        self._ep: ssh_target.Endpoint | None = None   # read once: ~/.ssh/config may fill it in
        self._dir: Path | None = None
        self._login: proc.Started | None = None
        self._want: Path | None = None
        self.control: Path | None = None      # the socket, once the shared connection is open

    def start(self) -> SharedConnection:
        if self._login is None:
            self._ep = ssh_target.endpoint(self.source)
            self._dir = Path(tempfile.mkdtemp(prefix="rabtui-ssh-"))
            control = self._dir / "mux"
            # a very long TMPDIR: no sharing, each rsync logs in itself
            self._want = control if len(os.fsencode(control)) <= SOCKET_PATH_MAX else None
            self._login = proc.start(ssh_target.whoami_argv(self.cfg, self.source, self._want, self._ep))
        return self

    def open(self, cancel: threading.Event | None = None) -> str:
        """Log in, run `whoami` and keep the connection; returns the user. WorkFailed says why not."""
        self.start()
        timeout = 2 * ssh_target.CONNECT_TIMEOUT
        try:
            done = self._login.finish(capture=True, cancel=cancel, timeout=timeout)
        except Cancelled:
            if cancel is not None and cancel.is_set():
                raise
            raise WorkFailed(f"{self.source.id}: no answer from {self.source.host} within {timeout} s") from None
        lines = [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        if done.returncode == 0 and lines:
            if self._want is not None and self._want.exists():
                self.control = self._want
            return lines[-1]   # the last line: a chatty shell start-up file may print before it
        if done.returncode == SSH_FAILED:
            self._explain(done.stderr_tail)
        output = "\n  ".join((lines + done.stderr_tail)[-5:]) or None
        raise WorkFailed(f"{self.source.id}: whoami failed on {self.source.host} (exit {done.returncode})",
                         hint=output)

    def _explain(self, stderr: list[str]) -> None:
        """OpenSSH could not log in: raise paramiko's precise reason, else OpenSSH's own words
        (always for a host behind a ProxyJump or ProxyCommand, which only OpenSSH follows)."""
        from rabtui import remote

        proxy = self._ep.proxy
        if not proxy:
            remote.whoami(self.cfg, self.source)   # raises HostKeyError, Unreachable, ...
        said = next((line for line in reversed(stderr) if line.strip()), "no message")
        hint = (f"~/.ssh/config reaches it with {proxy}" if proxy else
                "paramiko can (rabtui sources test passes): compare ~/.ssh/config and the key files with "
                "what ssh reads")
        raise WorkFailed(f"{self.source.id}: OpenSSH (which rsync uses) cannot log in to {self.source.host}: {said}",
                         hint=hint)

    def rsync_rsh(self) -> str:
        """rsync's -e: over the shared connection when it is open."""
        return ssh_target.rsync_rsh(self.cfg, self.source, self._ep, control=self.control)

    def close(self) -> None:
        if self._login is not None:
            self._login.kill()      # started and never waited for: stop it
        if self.control is not None and self.control.exists():
            try:
                proc.run(ssh_target.shared_exit_argv(self.cfg, self.source, self.control, self._ep), timeout=10)
            except (Cancelled, OSError):
                pass    # it closes itself once idle (SHARED_IDLE_SECONDS)
        self.control = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def whoami(cfg: Config, source: Source, cancel: threading.Event | None = None) -> str:
    """Step 1 on its own (`rabtui sources test`): log in as a backup does, `whoami`, log out."""
    if source.is_local:
        return getpass.getuser()
    login = SharedConnection(cfg, source)
    try:
        return login.open(cancel)
    finally:
        login.close()
