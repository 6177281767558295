"""What /proc says of processes: whether a pid runs (and is still the process recorded with it),
whether a process group does, and the rsync processes that still write under a path. The one
runner (proc.py) starts processes; this module only reads /proc and stops strays."""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, Iterator

from rabtui import fmt

GROUP_DEATH = 5.0   # seconds a killed group (or a killed stray) may take to be gone


_STARTED = 19     # the start time among the fields of /proc/PID/stat after the name


def kill_writers(path: str | os.PathLike) -> tuple[int, list[int]]:
    """Stop the rsync processes that still write into `path` after the run that started them was
    killed (one behind a wrapper that puts it in a session of its own outlives its group): those whose program
    is rsync and whose arguments name `path` or a path below it. Nothing else is touched: an
    operator's `cp` or `less` on a file there goes on. Returns (how many it stopped, the pids of
    those left): those it may not signal, or that are still there GROUP_DEATH seconds after all
    were killed."""
    needle = os.fsencode(path).rstrip(b"/")
    return kill_strays(lambda argv: os.path.basename(argv[0]) == b"rsync"
                       and any(a == needle or a.startswith(needle + b"/") for a in argv))


def kill_strays(matches: Callable[[list[bytes]], bool]) -> tuple[int, list[int]]:
    """SIGKILL the processes (this one aside) whose argv `matches`; returns as kill_writers does."""
    found: list[tuple[int, bytes]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:                       # gone meanwhile, or not ours to read
            continue
        fields = _stat(f"/proc/{entry.name}/stat")
        if fields is not None and matches(argv):
            found.append((int(entry.name), fields[_STARTED]))
    left: list[int] = []
    killed: list[int] = []
    for pid, started in found:
        fields = _stat(f"/proc/{pid}/stat")
        if fields is None or fields[_STARTED] != started:
            continue                          # ended (its pid may be another process's now)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        except PermissionError:
            left.append(pid)
            continue
        killed.append(pid)
    # all killed first, then waited for together: those that cannot die (frozen, or asleep on a
    # file system that stopped answering) hold the run up GROUP_DEATH seconds in all, not each
    end = time.monotonic() + GROUP_DEATH
    while any(_alive(pid) for pid in killed) and time.monotonic() < end:
        time.sleep(0.02)
    left += [pid for pid in killed if _alive(pid)]
    return len(found) - len(left), sorted(left)


def _alive(pid: int) -> bool:
    fields = _stat(f"/proc/{pid}/stat")
    return fields is not None and _runs(pid, fields)


def group_runs(pgid: int) -> bool:
    """Whether a process of group `pgid` is alive: zombies (dead, not yet reaped by whoever is
    their parent now) do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(_runs(pid, fields) for pid, fields in _of_group(pgid))


def _of_group(pgid: int) -> Iterator[tuple[str, list[bytes]]]:
    """(pid, /proc/PID/stat fields) of each process of group `pgid` (those gone meanwhile left out)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(f"/proc/{entry.name}/stat")
            if fields is not None and int(fields[2]) == pgid:
                yield entry.name, fields


FREEZE_ROUNDS = 50    # looks at a tree being stopped, at the most (each stops what the last one found new)


def stop_tree(pid: int) -> dict[int, bytes]:
    """SIGSTOP process `pid` and every process descended from it, looking again until a look finds
    none new (a stopped process forks no more); returns each one's pid and start time (/proc's
    field, which `signal_each` checks). `pid` must not have been reaped yet (else its pid may be
    another's). A descendant orphaned stays in the tree only where an ancestor of it is a subreaper
    (proc.start's `subreaper`): otherwise it is init's child, out of reach."""
    return stop_below({pid: None})


def stop_below(roots: dict[int, bytes | None]) -> dict[int, bytes]:
    """`stop_tree` from each of `roots` (pid: start time, None for one not reaped yet) that still
    runs as recorded: for a tree stopped before, what those of it that outlived a signal have
    started since."""
    seen: dict[int, bytes] = {}
    stopped: dict[int, bytes] = {}      # seen less those not ours to signal (a setuid program's)
    for _ in range(FREEZE_ROUNDS):
        new = {p: s for p, s in _descendants(roots).items() if p not in seen}
        if not new:
            break
        seen.update(new)
        sent = signal_each(new, signal.SIGSTOP)
        stopped.update((p, s) for p, s in new.items() if p in sent)
    return stopped


def marked(entry: bytes) -> dict[int, bytes]:
    """The processes (this one aside) whose environment holds `entry` (NAME=value), each with its
    start time: an operator's command's, by its token (proc_lifeline.MARK), also one orphaned to
    init."""
    found = {}
    for e in os.scandir("/proc"):
        if e.name.isdigit() and int(e.name) != os.getpid():
            try:
                with open(f"/proc/{e.name}/environ", "rb") as f:
                    if entry not in f.read().split(b"\0"):
                        continue
            except OSError:
                continue
            fields = _stat(f"/proc/{e.name}/stat")
            if fields is not None:
                found[int(e.name)] = fields[_STARTED]
    return found


def kill_below(roots: dict[int, bytes | None]) -> None:
    """SIGKILL to each of `roots` (as in `stop_below`) and every process below it, looking again
    until a look finds none new (one that still ran may have forked meanwhile)."""
    seen: dict[int, bytes] = {}
    for _ in range(FREEZE_ROUNDS):
        new = {p: s for p, s in _descendants(roots).items() if p not in seen}
        if not new:
            break
        seen.update(new)
        signal_each(new, signal.SIGKILL)


def _descendants(roots: dict[int, bytes | None]) -> dict[int, bytes]:
    """Those of `roots` that run as recorded, and the processes below them, each with its start time."""
    children: dict[int, list[tuple[int, bytes]]] = {}
    started: dict[int, bytes] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(f"/proc/{entry.name}/stat")
            if fields is not None:
                children.setdefault(int(fields[1]), []).append((int(entry.name), fields[_STARTED]))
                started[int(entry.name)] = fields[_STARTED]
    found = {p: started[p] for p, s in roots.items() if p in started and s in (None, started[p])}
    todo = list(found)
    while todo:
        for child, began in children.get(todo.pop(), ()):
            if child not in found:
                found[child] = began
                todo.append(child)
    return found


def signal_each(processes: dict[int, bytes], sig: int) -> set[int]:
    """`sig` to each of `processes` (pid: start time) that still runs as the process recorded;
    returns the pids it was sent to."""
    sent = set()
    for pid, started in processes.items():
        fields = _stat(f"/proc/{pid}/stat")
        if fields is not None and fields[_STARTED] == started:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                continue
            sent.add(pid)
    return sent


def any_runs(processes: dict[int, bytes]) -> bool:
    """Whether one of `processes` (pid: start time) still runs as the process recorded."""
    for pid, started in processes.items():
        fields = _stat(f"/proc/{pid}/stat")
        if fields is not None and fields[_STARTED] == started and _runs(pid, fields):
            return True
    return False


_UTIME, _STIME = 11, 12    # the processor time in user and system mode, in clock ticks, among those fields


def group_work(pgid: int) -> tuple[float, int]:
    """What the processes of group `pgid` alive now have done: (seconds of processor time used,
    bytes read, through any read call: /proc/PID/io's rchar, 0 for a process whose io is not ours to read)."""
    ticks = read = 0
    for pid, fields in _of_group(pgid):
        ticks += int(fields[_UTIME]) + int(fields[_STIME])
        read += _bytes_read(pid)
    return ticks / os.sysconf("SC_CLK_TCK"), read


def _bytes_read(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _runs(pid: int | str, fields: list[bytes]) -> bool:
    """Whether the process with these /proc/PID/stat fields runs. A zombie does not, unless only its
    main thread has ended while other threads run on: the process shows as a zombie then."""
    if fields[0] != b"Z":
        return True
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in threads:
        task = _stat(f"/proc/{pid}/task/{tid}/stat")
        if task is not None and task[0] != b"Z":
            return True
    return False


def _stat(path: str) -> list[bytes] | None:
    """The fields of a /proc stat file after the command's name (state, ppid, pgrp ...); None if unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split() or None
    except (OSError, IndexError):
        return None


PID_SLACK = 10.0    # seconds between a record of a process's pid and the process's start


def identity(pid: int) -> str | None:
    """What tells process `pid` from any other that has held or will hold its pid, whatever the
    clock does: the boot it runs in and its start in clock ticks since that boot (None: /proc does
    not say)."""
    fields = _stat(f"/proc/{pid}/stat")
    try:
        # bytes, decoded without a codec looked up: a process forked as a user who cannot read the
        # interpreter's library can import none
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            boot = f.read().strip().decode("ascii")
        return f"{boot}:{int(fields[_STARTED])}" if fields is not None and boot else None
    except (OSError, ValueError, IndexError):
        return None


def stopped(pid: int | None) -> bool:
    """Whether process `pid` is stopped (SIGSTOP, Ctrl-Z): it does nothing, a cancel included,
    until it is continued (SIGCONT). One that has ended, or that traces, is not."""
    fields = _stat(f"/proc/{pid}/stat") if pid else None
    return fields is not None and fields[0] == b"T"


def pid_alive(pid: int | None, since: float | None = None, ident: str | None = None) -> bool:
    """Whether process `pid` runs. `since`: a time (time.time()) at which the process recorded
    lived; one holding the pid that began later is another process, given the pid since (after a
    reboot, say), and is not taken for it. `ident`: the recorded process's `identity`, which
    decides where it is known (the clock put back since the record makes a later process seem to
    have begun before it)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's: /proc still tells when it began
        pass
    fields = _stat(f"/proc/{pid}/stat")
    if fields is None:
        return True
    now = identity(pid) if ident else None
    if now is not None:
        return now == ident and _runs(pid, fields)
    if since is not None:
        born = _began(fields)
        if born is not None and born > since + PID_SLACK:
            return False
    return _runs(pid, fields)


def _began(fields: list[bytes]) -> float | None:
    """When the process of these /proc/PID/stat fields began, on today's clock: now less its age
    (which a change of the clock since does not move)."""
    try:
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - int(fields[_STARTED]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def described(pid: int, longest: int | None = None) -> str:
    """Process `pid` as a message names it: its command line, each argument as `fmt.name` shows a
    name (control characters and bytes that are not UTF-8 escaped: another's process may name
    anything), and with `longest`, one longer than that many characters as shown cut in the
    middle, keeping the program and the paths it ends with; and
    whether it is stopped (SIGSTOP, a debugger) or asleep in the kernel on a file system that
    stopped answering; "" when /proc does not say."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = [fmt.name(w) for w in f.read().split(b"\0") if w]
    except OSError:
        words = []
    line = " ".join(words)
    if longest is not None and len(line) > longest:
        head = longest // 3
        line = f"{line[:head]} … {line[len(line) - (longest - head - 3):]}"
    fields = _stat(f"/proc/{pid}/stat")
    state = {b"T": "stopped", b"t": "stopped", b"D": "waiting on a file system"}.get(fields[0] if fields else b"")
    parts = ([f"`{line}`"] if words else []) + ([state] if state else [])
    return ", ".join(parts)


COMMAND_SAID = 160    # characters of a command line that a message names a process by, at the most
PIDS_SAID = 5         # processes a message names, at the most: of more, it says how many more


def named(pids: list[int]) -> str:
    """The processes `pids` as a message names them for an operator to act on: "pid N (its
    command line shortened, its state)", those alike together ("pids N, M (...)": an rsync's
    processes share their command line); PIDS_SAID of them at the most, then how many more (any
    user may start processes whose command lines name a path, in any number)."""
    alike: dict[str, list[int]] = {}
    for pid in sorted(pids)[:PIDS_SAID]:
        alike.setdefault(described(pid, COMMAND_SAID), []).append(pid)
    said = []
    for process, group in alike.items():
        which = f"pid{'s' if len(group) > 1 else ''} {', '.join(map(str, group))}"
        said.append(f"{which} ({process})" if process else which)
    if len(pids) > PIDS_SAID:
        said.append(f"and {len(pids) - PIDS_SAID} more")
    return "; ".join(said)
