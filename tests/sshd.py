"""A real sshd on 127.0.0.1 for the tests: its own host key, user key and config, no root needed."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.procs import processes, stat_fields

SSHD = "/usr/sbin/sshd"


class PortTaken(RuntimeError):
    """The port free_port gave was taken before sshd could bind it."""


def ssh_children_to(port: int) -> list[int]:
    """This process's ssh children that connect to `port`."""
    found = []
    for pid, argv in processes():
        if argv[0].endswith(b"ssh") and str(port).encode() in argv:
            try:
                if int(stat_fields(pid)[1]) == os.getpid():
                    found.append(pid)
            except OSError:
                continue
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)


@dataclass
class SshServer:
    dir: Path
    port: int
    user: str
    identity_file: Path
    host_key: Path
    proc: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    max_startups: str = "100"      # sshd's MaxStartups (its default, 10:30:100, drops logins past 10 at once)
    banner: str | None = None      # the text sshd sends before authentication (its Banner)
    wrap: tuple[str, ...] = ()     # a command that runs sshd (its argv after these), in a mount namespace say

    @property
    def home(self) -> Path:
        """The HOME of logins: empty, no shell start-up of the account's own."""
        return self.dir / "home"

    @property
    def host_public_line(self) -> str:
        return (self.host_key.with_suffix(".pub")).read_text().strip()

    def known_hosts_line(self) -> str:
        kind, key = self.host_public_line.split()[:2]
        return f"[{self.host}]:{self.port} {kind} {key}\n"

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key.with_suffix(".pub"))],
            check=True, capture_output=True, text=True,
        ).stdout
        return out.split()[1]  # "SHA256:..."

    def start(self) -> None:
        config = self.dir / "sshd_config"
        # logins get a HOME of their own (sshd sets the admin's SetEnv after HOME): bash run by sshd
        # reads ~/.bashrc, and what the machine's holds (a pyenv rehash racing another) would write
        # on rsync's stderr; nor is ~/.ssh/rc run
        self.home.mkdir(exist_ok=True)
        config.write_text(
            f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
UsePAM no
StrictModes no
MaxStartups {self.max_startups}
MaxSessions 100
LogLevel ERROR
Subsystem sftp internal-sftp
SetEnv HOME={self.home}
PermitUserRC no
"""
        )
        if self.banner is not None:
            (self.dir / "banner").write_text(self.banner)
            with config.open("a") as f:
                f.write(f"Banner {self.dir}/banner\n")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = self.dir / "sshd.log"
        self._log_from = log.stat().st_size if log.exists() else 0    # a restart appends to it
        self.proc = subprocess.Popen(
            [*self.wrap, SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"),
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._exited()
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("sshd did not start")
        # the port may have been taken meanwhile (free_port lets it go; tests run in parallel): then
        # another sshd answered, and this one exits as soon as it fails to bind
        time.sleep(0.3)
        if self.proc.poll() is not None:
            self._exited()

    def _exited(self) -> None:
        log = (self.dir / "sshd.log").read_bytes()[self._log_from:].decode(errors="replace")
        raise (PortTaken if "Address already in use" in log else RuntimeError)(f"sshd exited: {log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_sshd(directory: Path, max_startups: str = "100", banner: str | None = None,
               wrap: tuple[str, ...] = ()) -> SshServer:
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "host_ed25519"
    user_key = directory / "id_ed25519"
    keygen(host_key)
    keygen(user_key)
    (directory / "authorized_keys").write_text(user_key.with_suffix(".pub").read_text())
    for attempt in range(5):
        server = SshServer(dir=directory, port=free_port(), user=getpass.getuser(),
                           identity_file=user_key, host_key=host_key, max_startups=max_startups, banner=banner,
                           wrap=wrap)
        try:
            server.start()
            return server
        except PortTaken:
            if attempt == 4:
                raise
