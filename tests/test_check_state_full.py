"""`rabtui check` when the state database cannot take what it found: its state directory full (the
Prometheus textfile on the same file system), or its database held by a writer that stopped. The
operator hears of it all the same: notified (again at each check, until the database records it),
and said in a textfile of now, not the figures of the last check that could write one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from rabtui.actions import status
from tests.trees import Lab, fill_up, notify_into_file, write_files
from tests import held, preloaded


def _alerted(tmp_path, lab: Lab) -> tuple:
    """A notify command whose script keeps each event it gets; (the file it keeps them in, a
    function giving the (check, level) of those kept so far)."""
    sent = notify_into_file(lab, tmp_path)

    def events() -> list[tuple[str, str]]:
        return [(e["data"]["check"], e["level"]) for e in sent()]
    return tmp_path / "notified", events


def _rabtui(lab: Lab, *argv: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _series(prom) -> dict[str, float]:
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\S+) (\S+)$", prom.read_text(), re.M)}


def test_a_full_state_directory_is_said_in_a_textfile_on_the_same_full_file_system(tmp_path, tmpfs):
    """The state directory and the textfile share a file system that fills up: each check notifies
    the state directory's failure (again at the next one: nothing can keep that it was said), and
    puts the textfile of now in place of the last one, in the room that frees. It kept the last
    good figures, read by Prometheus as current (a warning, no critical), for hours."""
    lab = Lab(tmp_path, media_count=1)
    small = tmpfs(tmp_path / "small", "size=6m")
    lab.state = small / "state"
    lab.local()
    _notified, events = _alerted(tmp_path, lab)
    write_files(lab.src / "data", {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    prom = small / "rabtui.prom"
    assert _rabtui(lab, "check", "--prometheus", str(prom)).returncode == 1    # a checkpoint is due
    assert _series(prom)["rabtui_health_status"] == 1
    fill_up(small / "filler")
    for said in (1, 2):
        done = _rabtui(lab, "check", "--prometheus", str(prom))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert f"the state directory {lab.state} is full" in done.stdout, done.stdout
        assert events().count(("state", "critical")) == said, events()
        series = _series(prom)
        assert series['rabtui_check_status{check="state"}'] == 2 and series["rabtui_health_status"] == 2, series
    os.unlink(small / "filler")
    done = _rabtui(lab, "check", "--prometheus", str(prom))
    assert done.returncode == 1, done.stdout + done.stderr
    assert events()[-1] == ("state", "ok") and _series(prom)["rabtui_health_status"] == 1


@contextmanager
def stopped_writer(db) -> Iterator[None]:
    """Within it, a process holds a write transaction on the database `db`, stopped (SIGSTOP) in
    it; killed at its end."""
    writer = preloaded.Popen([sys.executable, "-c", (
        "import os, signal, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute(\"INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'held', 'held')\")\n"
        "os.kill(os.getpid(), signal.SIGSTOP)\n"), str(db)])
    try:
        deadline = time.monotonic() + 30
        while not _in_stop(writer):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not stop in its transaction"
            time.sleep(0.02)
        yield
    finally:
        writer.kill()
        writer.wait()


def _in_stop(proc: subprocess.Popen) -> bool:
    return held.stopped(proc.pid)


def test_a_check_whose_database_a_stopped_writer_holds_reports_what_it_found(tmp_path):
    """A process stopped while it held a write transaction (SIGSTOP): commands that only read open
    the database at once, and the check reads what it checks all the same, waits the database's
    busy timeout to record it (SQLite's 30 s; here shortened), and reports and notifies what it
    found with the database's failure; the found problems were lost behind a "database is locked"
    raised out of the check."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("4MiB")
    _notified, events = _alerted(tmp_path, lab)
    write_files(lab.src / "data", {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0     # a checkpoint of it is due: a warning
    cfg, store = lab.load(), lab.store()
    with stopped_writer(lab.state / "rabtui.db"):
        # opening the database takes no write lock when its schema is whole: it waited 30 s for this
        # one and failed every command, `status` too
        done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "status"],
                             capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert done.returncode == 0 and "loc" in done.stdout, done.stdout + done.stderr
        store.conn.execute("PRAGMA busy_timeout=300")
        result = status.check(cfg, store)
    assert [(p.check_id.split(":")[0], p.level) for p in result.problems] == \
        [("checkpoint", "warning"), ("state", "critical")], result.problems
    assert result.exit_code == 2 and "is busy" in result.problems[-1].message
    assert [(c.split(":")[0], level) for c, level in events()] == [("checkpoint", "warning"), ("state", "critical")]

    again = status.check(cfg, store)      # the writer gone: recorded now, the state back to normal
    assert [p.check_id.split(":")[0] for p in again.problems] == ["checkpoint"] and again.unrecorded is None
    assert [(c.split(":")[0], level) for c, level in events()][2:] == [("state", "ok"), ("checkpoint", "warning")]


def test_a_textfile_written_over_in_place_on_a_full_file_system_is_never_a_symlink_followed(open_base, tmpfs):
    """The textfile's directory is often node_exporter's: its user may put a symlink to a file of
    this server (/etc/passwd) in place of the textfile; when the file system is full, the textfile
    is written over in place, which must not truncate and fill the file the symlink points to."""
    from rabtui.ops import prometheus as prometheus_file
    from tests.other_user import NOBODY, as_nobody

    collector = tmpfs(open_base / "collector", "size=1m")
    os.chown(collector, NOBODY.pw_uid, NOBODY.pw_gid)
    victim = open_base / "passwd"
    victim.write_bytes(b"root:x:0:0::/root:/bin/sh\n")
    prom = collector / "rabtui.prom"
    as_nobody(lambda: os.symlink(victim, prom))
    as_nobody(lambda: fill_up(collector / "filler"))

    try:
        prometheus_file.write(prom, "rabtui_health_status 2\n")
    except OSError:
        pass     # the file system is full: that may be said
    assert victim.read_bytes() == b"root:x:0:0::/root:/bin/sh\n"
