"""Sources over SSH with paramiko: connect with a strict host-key policy, `whoami` (to tell why an
OpenSSH login failed: ssh/shared.py), trust a host key, the pre/post commands.

Host keys are checked against the user's ~/.ssh/known_hosts and rabtui's own file in state_dir;
an unknown key is never accepted on the fly (`rabtui sources trust ID` does that, after showing
the fingerprint), and a changed key is refused loudly. Both transports (paramiko here, OpenSSH
under rsync) use the same host name, port, user, key and known_hosts files.
"""

from __future__ import annotations

import getpass
import logging
import os
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import paramiko

from rabtui import faults, fmt, privacy, proc_records
from rabtui.ssh import dropped, known_hosts
from rabtui.config import Config, Source
from rabtui.errors import Cancelled, WorkFailed
from rabtui.ssh.endpoint import CONNECT_TIMEOUT, Endpoint, endpoint, keys_tried, known_hosts_files
from rabtui.ssh.host_keys import ChangedHostKey, HostKeyError, HostKeyInfo, UnknownHostKey, Unreachable  # noqa: F401

# paramiko logs transport failures itself; we turn them into one clear error instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

# --- host keys -----------------------------------------------------------------------------------


def _entries_for(cfg: Config, name: str) -> list[known_hosts.Entry]:
    return list(known_hosts.for_host(known_hosts.read(known_hosts_files(cfg)), name))


def _classify(cfg: Config, ep: Endpoint, key: paramiko.PKey) -> HostKeyInfo:
    name, kind, blob = ep.known_hosts_name, key.get_name(), key.asbytes()
    entries = _entries_for(cfg, name)
    info = dict(host=ep.hostname, port=ep.port, name=name, key_type=kind, fingerprint=key.fingerprint, key=key)

    def where(found: list[known_hosts.Entry]) -> dict:
        return {"files": tuple(dict.fromkeys(e.path for e in found)),
                "lines": tuple(f"{e.path} line {e.line}" for e in found)}

    revoked = [e for e in entries if e.marker == "@revoked" and e.blob == blob]
    if revoked:
        return HostKeyInfo(status="revoked", **where(revoked), **info)
    usable = [e for e in entries if not e.marker and e.key_type == kind]
    known = [e for e in usable if e.blob == blob]
    if known:
        return HostKeyInfo(status="known", **where(known), **info)
    # A key of another type where one is trusted is a changed key too: the server no longer offers
    # the trusted key (rabtui and ssh both ask for the types on file first).
    if usable:
        return HostKeyInfo(status="changed", expected=usable[0].fingerprint, old=tuple(usable), **where(usable), **info)
    old = [e for e in entries if not e.marker]
    if old:
        return HostKeyInfo(status="changed", expected=", ".join(f"{e.key_type} {e.fingerprint}" for e in old),
                           old=tuple(old), **where(old), **info)
    return HostKeyInfo(status="unknown", **info)


def _raise_untrusted(source: Source, info: HostKeyInfo) -> None:
    if info.status == "revoked":
        raise HostKeyError(f"{source.id}: the host key of {info.host}:{info.port} ({info.key_type} "
                           f"{info.fingerprint}) is marked @revoked in {', '.join(info.lines)}: refused")
    if info.changed:
        raise ChangedHostKey(source.id, info.host, info.port, info.key_type, info.expected,
                             info.fingerprint, info.files, info.name, info.lines)
    if not info.known:
        raise UnknownHostKey(source.id, info.host, info.port, info.key_type, info.fingerprint)


def _transport_factory(preferred: set[str]):
    """A Transport that asks first for the key types already on file, as ssh does."""

    def make(sock, **kwargs) -> paramiko.Transport:
        t = paramiko.Transport(sock, **kwargs)
        if preferred:
            opts = t.get_security_options()
            types = list(opts.key_types)
            first = [k for k in types if known_hosts.key_type_of(k) in preferred]
            opts.key_types = first + [k for k in types if k not in first]
        return t

    return make


class _Verify(paramiko.MissingHostKeyPolicy):
    """Every key comes here (the client holds no keys of its own): accept only a known one."""

    def __init__(self, cfg: Config, source: Source, ep: Endpoint):
        self.cfg, self.source, self.ep = cfg, source, ep
        self.info: HostKeyInfo | None = None

    def missing_host_key(self, client, hostname, key) -> None:
        self.info = _classify(self.cfg, self.ep, key)
        _raise_untrusted(self.source, self.info)


# --- connecting ----------------------------------------------------------------------------------


def _unreachable(ep: Endpoint, why: str, hint: str | None = None) -> Unreachable:
    return Unreachable(f"cannot reach {ep.hostname}:{ep.port} as user {ep.user}: {why}", hint=hint)


def _no_key_file(path: Path) -> str:
    """Why `path`, not a regular file, holds no key: missing, or what it is (a FIFO, a directory)."""
    try:
        return f"is no key file but a {fmt.file_kind(os.stat(path).st_mode)}"
    except OSError:
        return "does not exist"


def _connect(cfg: Config, source: Source, ep: Endpoint, timeout: float,
             policy: paramiko.MissingHostKeyPolicy, logs_in: bool = True) -> paramiko.SSHClient:
    """`logs_in` False: the policy stops before authentication, so no key is looked at (a host key
    can be trusted before the key to log in with is made)."""
    if ep.proxy:
        raise _unreachable(ep, f"~/.ssh/config sets {ep.proxy} for {ep.alias}, which rabtui's SSH login "
                               "cannot follow", hint="give the source a host that is reachable directly")
    for path in keys_tried(ep) if logs_in else ():
        if source.identity_file is not None and not path.is_file():
            raise _unreachable(ep, f"identity file {path} {_no_key_file(path)}")
        mode = privacy.open_key(path)
        if mode is not None:    # paramiko would log in with it, and rsync's ssh then refuse it
            raise _unreachable(ep, f"identity file {path} is open to other users (mode {mode:04o}): whoever"
                                   " can read it logs in to the source, and OpenSSH refuses it",
                               hint=f"fix: {privacy.fix_command([path])}")
    preferred = {e.key_type for e in _entries_for(cfg, ep.known_hosts_name) if not e.marker}
    pauses = iter(dropped.PAUSES)
    while True:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(policy)
        started = time.monotonic()
        try:
            with dropped.logging_in(ep.hostname, ep.port) as crowded:
                client.connect(
                    ep.hostname, port=ep.port, username=ep.user,
                    key_filename=[str(p) for p in ep.identity_files] or None,
                    look_for_keys=not ep.identity_files, allow_agent=not ep.identity_files,
                    timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
                    transport_factory=_transport_factory(preferred),
                )
        except BaseException as exc:
            client.close()
            if isinstance(exc, (HostKeyError, _GotKey, Cancelled)) or not isinstance(exc, Exception):
                raise
            elapsed = time.monotonic() - started
            pause = next(pauses, None) if crowded[0] and dropped.by_paramiko(exc, elapsed, timeout) else None
            if pause is None:
                raise _describe(ep, exc, timeout, elapsed) from None
            dropped.wait(pause)     # sshd took no more logins at once (MaxStartups): once more
            continue
        client.get_transport().set_keepalive(30)
        return client


def _describe(ep: Endpoint, exc: BaseException, timeout: float, elapsed: float) -> Exception:
    keys = ", ".join(str(p) for p in ep.identity_files) or "the agent and ~/.ssh/id_*"
    if isinstance(exc, socket.gaierror):
        return _unreachable(ep, f"the host name {ep.hostname!r} does not resolve ({exc.strerror})")
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return _unreachable(ep, "connection refused", hint="is sshd running there, on this port?")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _unreachable(ep, "timed out")
    if isinstance(exc, paramiko.PasswordRequiredException):
        return _unreachable(ep, f"the identity file ({keys}) is protected by a passphrase",
                            hint="load it into ssh-agent, or use a key without a passphrase")
    if isinstance(exc, paramiko.AuthenticationException):
        return _unreachable(ep, f"authentication failed with {keys}",
                            hint=f"is the public key in ~{ep.user}/.ssh/authorized_keys on {ep.hostname}?")
    silent = str(exc) == "No existing session" or ("banner" in str(exc) and elapsed >= 0.9 * timeout)
    if isinstance(exc, paramiko.SSHException) and silent:
        return _unreachable(ep, f"no SSH handshake within {timeout:.0f} s", hint="is this port an SSH server?")
    if isinstance(exc, paramiko.SSHException) and "banner" in str(exc):
        return _unreachable(ep, "SSH handshake failed: the server sent no SSH banner",
                            hint="is this port an SSH server?")
    if isinstance(exc, paramiko.SSHException):
        return _unreachable(ep, f"SSH handshake failed: {exc}")
    if isinstance(exc, OSError):
        return _unreachable(ep, exc.strerror or str(exc))
    if isinstance(exc, EOFError):
        return _unreachable(ep, "the server closed the connection")
    return _unreachable(ep, f"{type(exc).__name__}: {exc}")


def ssh_timed_out(ep: Endpoint, stderr: list[str], timeout: float) -> Unreachable | None:
    """OpenSSH's own words when it gave up waiting (its ConnectTimeout), as `_describe` says them;
    None for any other failure. Asking paramiko why would only wait as long once more."""
    said = " ".join(stderr)
    if "timed out during banner exchange" in said:
        return _unreachable(ep, f"no SSH handshake within {timeout:.0f} s", hint="is this port an SSH server?")
    if "Connection timed out" in said or "Operation timed out" in said:
        return _unreachable(ep, "timed out")
    return None


def connect(cfg: Config, source: Source, timeout: float = CONNECT_TIMEOUT) -> paramiko.SSHClient:
    """A logged-in SSH client for a remote source, after checking its host key; close it after use."""
    ep = endpoint(source)
    return _connect(cfg, source, ep, timeout, _Verify(cfg, source, ep))


class _Capture(paramiko.MissingHostKeyPolicy):
    def __init__(self):
        self.key = None

    def missing_host_key(self, client, hostname, key) -> None:
        self.key = key
        raise _GotKey()


class _GotKey(Exception):
    pass


def scan_host_key(cfg: Config, source: Source, timeout: float = CONNECT_TIMEOUT) -> HostKeyInfo:
    """The server's host key (stopping before authentication) and whether it is known or changed."""
    ep = endpoint(source)
    capture = _Capture()
    try:
        _connect(cfg, source, ep, timeout, capture, logs_in=False).close()
    except _GotKey:
        pass
    if capture.key is None:
        raise _unreachable(ep, "the server sent no host key")
    return _classify(cfg, ep, capture.key)


def trust(cfg: Config, source: Source, info: HostKeyInfo) -> Path:
    """Add the key to rabtui's known_hosts file; a changed key is refused (remove the old one first)."""
    return _write_key(cfg, source, info, replacing=False)


def own_known_hosts(cfg: Config) -> Path:
    return cfg.state_dir / "known_hosts"


def replace(cfg: Config, source: Source, info: HostKeyInfo) -> Path:
    """The operator confirmed a changed key: drop the old keys of this host from rabtui's own file
    and trust the new one. Keys in another file (~/.ssh/known_hosts) are the operator's to remove."""
    return _write_key(cfg, source, info, replacing=True)


def _write_key(cfg: Config, source: Source, info: HostKeyInfo, replacing: bool) -> Path:
    """Trust the key, or replace the changed one, in rabtui's own file; the file where it is known.
    The files are read again once this write holds the file (known_hosts.held): another rabtui
    trusting or replacing a key at once (its rewrite is a rename) waits, and loses no line of ours."""
    ep, path = endpoint(source), own_known_hosts(cfg)
    first = _classify(cfg, ep, info.key)
    if _verdict(source, first, path, replacing) == "known":      # nothing to write: no file made
        return first.files[0]
    try:
        privacy.private_dir(path.parent)
        with known_hosts.held(path):
            current = _classify(cfg, ep, info.key)   # the files may have changed since the scan
            verdict = _verdict(source, current, path, replacing)
            if verdict == "known":
                return current.files[0]
            line = known_hosts.line_for(current.name, info.key.get_name(), info.key.asbytes())
            faults.point("known_hosts.writing")
            if verdict == "replace":
                known_hosts.remove_lines(path, {e.line for e in current.old}, line.encode())
            else:
                known_hosts.add_line(path, line.encode())
    except OSError as exc:
        raise WorkFailed(f"cannot write {path}: {exc.strerror}") from None
    return path


def _verdict(source: Source, current: HostKeyInfo, own: Path, replacing: bool) -> str:
    """"known", "add" or "replace" (the old keys all in rabtui's own file `own`); the loud error of
    a changed key (unless `replacing`) or a revoked one."""
    if current.known:
        return "known"
    if not (replacing and current.changed):
        if current.status in ("changed", "revoked"):
            _raise_untrusted(source, current)
        return "add"
    elsewhere = sorted({e.path for e in current.old if e.path != own})
    if elsewhere:
        raise WorkFailed(f"{source.id}: the old host key is in {', '.join(str(p) for p in elsewhere)},"
                         " which rabtui does not edit", hint="; ".join(
                             f"ssh-keygen -f {shlex.quote(str(p))} -R {shlex.quote(current.name)}"
                             for p in elsewhere) + f", then: rabtui sources trust {source.id}")
    return "replace"


# --- commands ------------------------------------------------------------------------------------


def whoami(cfg: Config, source: Source) -> str:
    """Step 1: the user we act as on the source (local: our own name, no SSH)."""
    if source.is_local:
        return getpass.getuser()
    client = connect(cfg, source)
    try:
        lines: list[str] = []
        split = proc_records.LineSplitter(lambda rec: lines.append(rec.decode("utf-8", "replace")))
        code = _exec(client, "whoami", split.feed, None, timeout=CONNECT_TIMEOUT)
        split.close()
    finally:
        client.close()
    lines = [line.strip() for line in lines if line.strip()]
    if code != 0 or not lines:
        raise WorkFailed(f"{source.id}: whoami failed on {source.host} ({_status(code)})",
                         hint="\n  ".join(lines[-5:]) or None)
    return lines[-1]   # the last line: a chatty shell start-up file may print before it


def _status(code: int) -> str:
    if code == -1:
        return "no exit status: the connection was lost or the command was killed"
    return f"exit {code}"


class CommandTimeout(WorkFailed):
    """A command over SSH ran longer than its timeout."""


def _exec(client: paramiko.SSHClient, command: str, on_data: Callable[[bytes], None],
          cancel: threading.Event | None, timeout: float | None = None,
          on_stop: Callable[[], None] | None = None, output_after_end: float | None = None) -> int:
    """Run one command in its own channel, stdout and stderr merged, its output to on_data.

    Returns the exit status, -1 when there is none (connection lost). On cancel or timeout,
    `on_stop` is called (to kill what the command started) before the channel is closed.
    `output_after_end`: as for proc.run (a service the command started holds the channel open).
    """
    started = time.monotonic()
    chan = None

    def due() -> Exception | None:
        if cancel is not None and cancel.is_set():
            return Cancelled(f"cancelled: {command}")
        if timeout is not None and time.monotonic() - started > timeout:
            return CommandTimeout(f"no answer within {timeout:.0f} s to: {command}")
        return None

    def check() -> None:
        """Stop on cancel or timeout: `on_stop` first, then the error."""
        error = due()
        if error is None:
            return
        if on_stop is not None:
            on_stop()
        raise error

    try:
        try:
            chan = client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
            chan.set_combine_stderr(True)
            chan.settimeout(0.2)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise WorkFailed(f"cannot start over SSH: {command}: {exc or 'connection lost'}") from None
        last_data = time.monotonic()
        while True:
            if output_after_end is not None and chan.exit_status_ready() and due() is not None:
                break     # it has ended: what it left running is not stopped (the caller sees the cancel)
            check()
            try:
                chunk = chan.recv(65536)
            except socket.timeout:
                if (output_after_end is not None and chan.exit_status_ready()
                        and time.monotonic() - last_data > output_after_end):
                    break
                continue
            if not chunk:
                break
            last_data = time.monotonic()
            on_data(chunk)
        while not chan.exit_status_ready():     # its output closed: the same limits hold
            check()
            time.sleep(0.05)
        return chan.recv_exit_status()
    finally:
        if chan is not None:
            chan.close()
