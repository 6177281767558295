"""One OpenSSH connection for a whole backup of a remote source.

Step 1 logs in with OpenSSH, the transport rsync uses; the login stays open (ControlMaster) and
every rsync of the backup runs over it. A backup so pays one SSH handshake, as bare rsync does, and
step 1 proves the very login that rsync will use. The login runs nothing on the source: a session
costs the source account's shell start-up (its ~/.bashrc, PAM), and the authenticated login is
already the proof that the source is reachable and its key trusted. `rabtui sources test` runs
`whoami` over it as well, to show the remote's own answer.

When OpenSSH cannot log in, paramiko (remote.py) tells why in the terms the operator acts on: an
unknown host key with its fingerprint, a changed key, a refused connection. Only then, or for
pre/post commands, is paramiko loaded.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import threading
import time
from pathlib import Path
from typing import NamedTuple, NoReturn

from rabtui import proc, proc_lifeline, proc_started, proc_table, temp_dirs
from rabtui.ssh import dropped, endpoint as ssh_target
from rabtui.config import Config, Source
from rabtui.errors import TimedOut, WorkFailed

# A socket's path fits in 107 bytes (sun_path, with its NUL); ssh binds it first under the path
# plus a suffix of 17 bytes (".XXXXXXXXXXXXXXXX"), then renames it.
SOCKET_PATH_MAX = 90
SSH_FAILED = 255           # ssh's own exit status: it could not connect or log in
LOGIN_GRACE = 2            # seconds past the connect timeout before ssh is stopped: it says a silent port itself
EXIT_WAIT = 10             # seconds `ssh -O exit` may take before the connection is taken to be hung and killed


class SharedConnection:
    """`start` begins the login (a caller may start it early, to overlap it with its own start-up),
    `open` waits for it; `close` ends it, at any point."""

    def __init__(self, cfg: Config, source: Source):
        self.cfg, self.source = cfg, source
        self._ep: ssh_target.Endpoint | None = None   # read once: ~/.ssh/config may fill it in
        self._dir: Path | None = None
        self._temporary: contextlib.AbstractContextManager | None = None
        self._login: proc_started.Started | None = None
        self._argv: list[str] = []
        self._want: Path | None = None
        self.control: Path | None = None      # the socket, once the shared connection is open
        self._exit: proc_started.Started | None = None
        self._exiting: Path | None = None      # the socket `_exit` was asked to close
        # the login under way from its start to its end in `open`, begun ahead or not: sshd may drop it
        # (MaxStartups) for the logins of other sources of the run while it waits for its turn
        self._under_way: contextlib.ExitStack | None = None
        self._crowded: list[bool] = [False]
        self._begun = 0.0      # time.monotonic() as the login began
        # the shared connection goes to the background in a session of its own, out of every group
        # that dies with rabtui: its login runs with a token in its environment, and a watcher kills
        # what holds it when rabtui dies (SIGKILL included), where it would stay open while idle;
        # started before the login, which may be begun long ahead of its turn (logins_ahead.py) and
        # log in meanwhile, and kept until `close`
        self._token: str | None = None
        self._watch: proc_started.Started | None = None

    def start(self) -> SharedConnection:
        if self._login is None:
            self._ep = ssh_target.endpoint(self.source)
            ssh_target.known_hosts_checked(self.cfg)
            # the socket's directory; one a killed run left goes with the next (the connection
            # itself, if still there, ends once idle)
            temporary = temp_dirs.private()
            try:
                self._dir = Path(os.fsdecode(temporary.__enter__()))
                self._temporary = temporary
            except (OSError, WorkFailed):     # no temporary directory can be written (read-only, full,
                self._dir = None                 # missing), or another user could change it
            control = self._dir / "mux" if self._dir is not None else None
            if control is not None and len(os.fsencode(control)) <= SOCKET_PATH_MAX:
                self._want = control
                argv = ssh_target.login_argv(self.cfg, self.source, control, self._ep)
                self._token = secrets.token_hex(16)
            else:
                # no place for the socket, or a very long TMPDIR: no sharing, each rsync logs in
                # itself; a login that stays open would hold step 1 up, so it runs `whoami` and ends
                argv = ssh_target.whoami_argv(self.cfg, self.source, None, self._ep)
            self._argv = argv
            self._under_way = contextlib.ExitStack()
            self._crowded = self._under_way.enter_context(dropped.logging_in(self._ep.hostname, self._ep.port))
            try:
                if self._token is not None:
                    self._watch = proc.start(["/bin/sh", "-c", proc_lifeline.marked_die_with_stdin(self._token)],
                                             lifeline=True, name="ssh")
                self._begun = time.monotonic()
                self._login = self._start_login()
            except BaseException:
                self._under_way.close()
                self._stop_watching()
                raise
        return self

    def _start_login(self) -> proc_started.Started:
        return proc.start(self._argv, env={proc_lifeline.MARK: self._token} if self._token else None)

    def open(self, cancel: threading.Event | None = None) -> str:
        """Log in and keep the connection; returns the user logged in as. WorkFailed says why not."""
        self.start()
        with self._under_way or contextlib.nullcontext():
            crowded = self._crowded
            done = self._finish(self._login, cancel)
            for pause in dropped.PAUSES:    # sshd took no more logins at once (MaxStartups): once more
                if not (crowded[0] and done.returncode == SSH_FAILED and dropped.by_openssh(done.stderr_tail)):
                    break
                dropped.wait(pause, cancel)
                self._login = self._start_login()
                done = self._finish(self._login, cancel)
        if self._want is None:
            return self._answer(done)
        if done.returncode == 0 and not self._want.exists() and \
                time.monotonic() - self._begun >= ssh_target.SHARED_IDLE_SECONDS:
            # begun ahead of its turn (logins_ahead.py), which came once the connection had closed
            # itself, idle: its rsyncs would each log in on their own; logged in again, once
            self._login = self._start_login()
            done = self._finish(self._login, cancel)
        if done.returncode == 0:
            if self._want.exists():
                self.control = self._want
            return self._ep.user
        if done.returncode == SSH_FAILED:
            self._explain(done.stderr_tail)
        self._failed("ssh", done)

    def whoami(self, cancel: threading.Event | None = None) -> str:
        """`whoami` on the source over the open login: the remote's own answer."""
        user = self.open(cancel)
        if self._want is None:
            return user      # the login ran `whoami` itself
        login = proc.start(ssh_target.whoami_argv(self.cfg, self.source, self.control, self._ep))
        return self._answer(self._finish(login, cancel, logged_in=True))

    def _finish(self, started: proc_started.Started, cancel: threading.Event | None, *,
                logged_in: bool = False) -> proc_started.Completed:
        """The ssh process's end, within one connect timeout: ssh's ConnectTimeout bounds the connection
        and the server's greeting only, not what follows (a server that sends its greeting and then
        nothing holds ssh for good). `logged_in`: it runs `whoami` over a login that is open (what
        hangs then is the command, not the login)."""
        timeout = ssh_target.CONNECT_TIMEOUT
        try:
            return started.finish(capture=True, cancel=cancel, timeout=timeout + LOGIN_GRACE)
        except TimedOut:
            if logged_in:
                raise WorkFailed(f"{self.source.id}: logged in, but `whoami` there did not end within {timeout} s",
                                 hint="does a shell start-up file on the source wait for input, or a file system"
                                      " there hang?") from None
            what = "the SSH login" if self._want is not None else "the SSH login, or `whoami` after it,"
            raise WorkFailed(f"{self.source.id}: no answer from {self._ep.hostname}:{self._ep.port} within {timeout} s:"
                             f" {what} did not end", hint="is this port an SSH server, and is it answering?") from None

    @staticmethod
    def _lines(done: proc_started.Completed) -> list[str]:
        return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]

    def _answer(self, done: proc_started.Completed) -> str:
        lines = self._lines(done)
        if done.returncode == 0 and lines:
            return lines[-1]   # the last line: a chatty shell start-up file may print before it
        if done.returncode == SSH_FAILED:
            self._explain(done.stderr_tail)
        self._failed("whoami", done)

    def _failed(self, what: str, done: proc_started.Completed) -> NoReturn:
        output = "\n  ".join((self._lines(done) + done.stderr_tail)[-5:]) or None
        raise WorkFailed(f"{self.source.id}: {what} failed on {self.source.host} (exit {done.returncode})",
                         hint=output)

    def _explain(self, stderr: list[str]) -> None:
        """OpenSSH could not log in: raise paramiko's precise reason, else OpenSSH's own words
        (always for a host behind a ProxyJump or ProxyCommand, which only OpenSSH follows)."""
        from rabtui.ssh import remote

        proxy = self._ep.proxy
        timed_out = remote.ssh_timed_out(self._ep, stderr, ssh_target.CONNECT_TIMEOUT)
        if timed_out is not None and not proxy:
            raise timed_out
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

    def release(self) -> None:
        """Start closing the login, which is not needed any more; `close` waits for it."""
        if self._login is not None and not self._login.finished:
            # started and never waited for (its source's turn never came): stopped, and with it the
            # connection it may have taken to the background already (ControlPersist, once logged in),
            # which no `ssh -O exit` would end (the socket is not known open): it stayed till idle
            self._login.kill()
            self._kill_master(self._want)
        if self.control is not None and self.control.exists():
            try:
                self._exit = proc.start(ssh_target.shared_exit_argv(self.cfg, self.source, self.control, self._ep))
                self._exiting = self.control
            except OSError:
                pass    # it closes itself once idle (SHARED_IDLE_SECONDS)
        self.control = None
        if self._under_way is not None:
            self._under_way.close()

    def close(self) -> None:
        self.release()
        if self._exit is not None:
            try:
                self._exit.finish(timeout=EXIT_WAIT)
            except TimedOut:      # the connection does not answer (stopped, hung): it would stay for good
                self._kill_master(self._exiting)
            self._exit = self._exiting = None
        self._stop_watching()
        if self._temporary is not None:
            self._temporary.__exit__(None, None, None)
            self._temporary = self._dir = None

    def _stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.kill()
            self._watch = None

    @staticmethod
    def _kill_master(control: Path | None) -> None:
        """Kill the ssh that holds the shared connection at `control` (a socket of this run's own)."""
        if control is None:
            return
        given = os.fsencode(ssh_target.control_option(control))
        proc_table.kill_strays(lambda argv: os.path.basename(argv[0]) == b"ssh" and b"ControlMaster=yes" in argv
                               and given in argv)


class Answer(NamedTuple):
    user: str      # whoami's answer on the source
    where: str     # "local machine", or the endpoint ssh logged in to


def whoami(cfg: Config, source: Source, cancel: threading.Event | None = None) -> Answer:
    """`rabtui sources test`: log in as step 1 of a backup does, `whoami`, log out."""
    if source.is_local:
        return Answer(getpass.getuser(), "local machine")
    login = SharedConnection(cfg, source)
    try:
        return Answer(login.whoami(cancel), str(login._ep))
    finally:
        login.close()
