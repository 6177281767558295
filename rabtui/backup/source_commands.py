"""Steps 4 and 6: the operator's pre/post-backup commands, on the source (over SSH) or locally.

Each command runs at most `command_timeout` seconds. On timeout or cancel its whole process group
dies, on the source too, and so it does when rabtui dies (proc_lifeline.dies_with_stdin), with the
processes it started that left the group (a token in their environment marks them). Over SSH
the command runs under `setsid` in a process group of its own, whose id it prints first, and a
second channel kills that group (`kill -- -PGID`), since closing an SSH channel does not stop what
it started. Its output is bounded: the last OUTPUT_KEPT bytes of each command are logged (as one
event) once it ends, whatever it printed.
"""

from __future__ import annotations

import re
import secrets
import shlex
import threading
from typing import Sequence

from rabtui import command_safety, proc, proc_lifeline
from rabtui.config import safety as config_safety
from rabtui.config import Config, Source
from rabtui.errors import Cancelled, TimedOut, WorkFailed
from rabtui.events import LOG, Emit, Event
from rabtui.ssh.login_shell import any_shell_word

OUTPUT_KEPT = 64 * 1024
HINT_LINES = 20
KILL_GRACE = 5                 # seconds between SIGTERM and SIGKILL of a command's group
OUTPUT_AFTER_END = 1.0         # seconds a command's output is read on once it has ended (proc.run)
KILLED = "its processes were killed"
_PGID = re.compile(rb"^rabtui-pgid (\d+)\n", re.M)
_PGID_WITHIN = 4096            # a shell start-up file may print before the wrapper does
UNMARKED = b"rabtui-unmarked"   # kill_group_command's word that it can find no process by its token


def killable(command: str, token: str) -> str:
    """The command as run over SSH: in a new session (so a process group of its own) under the
    account's shell, after printing that group's id; the group dies when the channel ends without
    a word, as when rabtui is killed (proc_lifeline.dies_with_stdin). The login shell hands it to
    sh (fish knows no `$?`: it ended at once, exit 0, the command never run), where it is not run
    by `exec` and followed by `exit`, so that sh forks it: setsid then needs no fork of its own and
    the group id is $$. `token` marks its processes' environment (proc_lifeline.MARK), so that a
    kill finds those that left the group too (kill_group_command, and the watcher of the channel)."""
    inner = (f'export {proc_lifeline.MARK}={shlex.quote(token)}; echo "rabtui-pgid $$"; '
             + proc_lifeline.dies_with_stdin('"${SHELL:-/bin/sh}"', KILL_GRACE, token))
    outer = f'setsid /bin/sh -c {shlex.quote(inner)} rabtui "$1"; exit $?'
    return f"exec /bin/sh -c {any_shell_word(outer)} rabtui {any_shell_word(command)}"


def kill_group_command(pgid: int, token: str) -> str:
    """SIGTERM to the group and to every process whose environment holds the command's `token`
    (one that left the group: proc_lifeline.marked_sh), SIGKILL after KILL_GRACE seconds to what
    is left of them; it ends once they are gone (or KILL_GRACE more seconds have passed). First it
    prints UNMARKED when the host cannot find a process by its environment (no /proc/PID/environ,
    or a grep without -z): a process that left the group is then out of its reach."""
    g = f"-{int(pgid)}"
    probe = f"{proc_lifeline.MARK}=probe"      # a process marked so, for grep to find in its own environment
    looks = f"env {probe} grep -qsxzF -- {probe} /proc/self/environ || echo {UNMARKED.decode()}; "
    each = f"each() {{ kill -s $1 -- {g} 2>/dev/null; marked $1; }}; "
    left = f"left() {{ kill -s 0 -- {g} 2>/dev/null || any_marked; }}; "
    # after SIGKILL each look kills what it finds again: one listed before a marked process forked
    # (a loop ignoring SIGTERM) is killed, the child forked meanwhile is found at the next look
    wait_gone = "i=0; while [ $i -lt %d ]; do left || exit 0; %ssleep 0.2; i=$((i+1)); done"
    script = (looks + proc_lifeline.marked_sh(token) + each + left
              + f"left || exit 0; each TERM; each CONT; {wait_gone % (KILL_GRACE * 5, '')}; each KILL; "
              + f"{wait_gone % (KILL_GRACE * 5, 'each KILL; ')}; exit 0")
    return f"exec /bin/sh -c {any_shell_word(script)}"     # sh's, whatever the login shell (killable)


class OutputTail:
    """The last OUTPUT_KEPT bytes of a command's output, and how many came before them."""

    def __init__(self, limit: int = OUTPUT_KEPT):
        self.limit = limit
        self.data = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * self.limit:
            del self.data[: len(self.data) - self.limit]

    def text(self) -> str:
        return bytes(self.data[-self.limit:]).decode("utf-8", "replace")

    @property
    def dropped(self) -> int:
        return max(0, self.total - self.limit)

    def last_lines(self, n: int = HINT_LINES) -> list[str]:
        return [line for line in self.text().splitlines() if line.strip()][-n:]


class _GroupReader:
    """Takes the wrapper's `rabtui-pgid N` line out of the output, and remembers N."""

    def __init__(self, tail: OutputTail):
        self.tail = tail
        self.pgid: int | None = None
        self._head: bytes | None = b""      # None once the line is found or given up on

    def feed(self, chunk: bytes) -> None:
        if self._head is None:
            self.tail.feed(chunk)
            return
        self._head += chunk
        m = _PGID.search(self._head)
        if m:
            self.pgid = int(m.group(1))
            head, self._head = self._head[: m.start()] + self._head[m.end():], None
            self.tail.feed(head)
        elif len(self._head) > _PGID_WITHIN:
            head, self._head = self._head, None
            self.tail.feed(head)

    def close(self) -> None:
        if self._head:
            self.tail.feed(self._head)
        self._head = None


def run_commands(cfg: Config, source: Source, commands: Sequence[str], *, emit: Emit,
                 cancel: threading.Event | None = None, what: str = "pre-backup") -> None:
    """Run each command in turn; the first failure (or timeout) stops with its output's last lines.
    None runs when others can change the config file that holds them."""
    if not commands:
        return
    unsafe = config_safety.permission_problem(cfg.path) if cfg.path else None
    if unsafe:
        raise WorkFailed(f"refusing to run the {what} commands: {unsafe}")
    if source.is_local:     # here, as this user: what they run must be as closed as the config
        changeable = next(filter(None, map(command_safety.command_changeable, commands)), None)
        if changeable:
            raise WorkFailed(f"refusing to run the {what} commands: {changeable}",
                             hint=command_safety.FIX)
    from rabtui.ssh import remote

    client = None if source.is_local else remote.connect(cfg, source)
    timeout = cfg.rabtui.command_timeout
    try:
        for command in commands:
            emit(Event(LOG, f"{what}: $ {command}"))
            tail = OutputTail()
            stopped = [KILLED]       # what became of its processes once it had to be stopped
            try:
                if client is None:
                    code = _run_local(command, tail, cancel, timeout)
                else:
                    code = _run_remote(client, command, tail, cancel, timeout, stopped)
            except (Cancelled, TimedOut, remote.CommandTimeout) as exc:
                _log_output(emit, command, what, tail)
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"cancelled: {command} ({stopped[0]})") from None
                raise WorkFailed(f"{what} command timed out after {timeout} s (command_timeout;"
                                 f" {stopped[0]}): {command}",
                                 hint="\n  ".join(tail.last_lines()) or "(no output)") from exc
            _log_output(emit, command, what, tail)
            if cancel is not None and cancel.is_set():     # as it ended, or after: what it left is left
                raise Cancelled(f"cancelled once the {what} command had ended: {command}")
            if code != 0:
                status = f"killed by signal {-code}" if client is None and code < 0 else remote._status(code)
                raise WorkFailed(f"{what} command failed ({status}): {command}",
                                 hint="\n  ".join(tail.last_lines()) or "(no output)")
    finally:
        if client is not None:
            client.close()


def _run_local(command: str, tail: OutputTail, cancel: threading.Event | None, timeout: int) -> int:
    # proc runs it in a new session: cancel and timeout kill its whole process group
    return proc.run_shell(command, on_stdout_data=tail.feed, on_stderr=lambda rec: tail.feed(rec + b"\n"),
                          cancel=cancel, timeout=timeout, output_after_end=OUTPUT_AFTER_END).returncode


def _run_remote(client, command: str, tail: OutputTail, cancel: threading.Event | None, timeout: int,
                stopped: list[str]) -> int:
    """The command run over SSH; `stopped[0]` is set to what became of its processes when it had to
    be stopped and the kill could not be seen done (a connection that no longer answers)."""
    from rabtui.ssh import remote

    reader = _GroupReader(tail)
    token = secrets.token_hex(16)

    def kill_group() -> None:
        if reader.pgid is None:
            stopped[0] = ("its process group was never named, so no kill could be sent: its processes end"
                          " once the host sees the connection closed")
            return
        said = bytearray()
        try:
            remote._exec(client, kill_group_command(reader.pgid, token), said.extend, None,
                         timeout=KILL_GRACE + 10)
            if UNMARKED in said:
                stopped[0] = ("its process group was killed, but a process of it that left the group (setsid, a"
                              " daemon's double fork) may still run on the host: none can be found there by its"
                              " environment (/proc/PID/environ read by `grep -z`)")
        except remote.CommandTimeout:
            stopped[0] = (f"the kill of its processes was not confirmed within {KILL_GRACE + 10} s:"
                          " they may still run on the host")
        except WorkFailed:   # the connection no longer answers: nothing more can be done from here
            stopped[0] = ("the kill of its processes could not be delivered, the SSH connection no longer"
                          " answering: they may still run on the host until it finds the connection gone")

    try:
        return remote._exec(client, killable(command, token), reader.feed, cancel, timeout=timeout, on_stop=kill_group,
                            output_after_end=OUTPUT_AFTER_END)
    finally:
        reader.close()


def _log_output(emit: Emit, command: str, what: str, tail: OutputTail) -> None:
    if not tail.total:
        return
    dropped = f"[{tail.dropped} earlier bytes of output not kept]\n" if tail.dropped else ""
    emit(Event(LOG, dropped + tail.text().rstrip("\n"),
               {"command": command, "what": what, "output_bytes": tail.total, "dropped_bytes": tail.dropped}))
