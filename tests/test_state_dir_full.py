"""A state directory whose file system fills up while rabtui works, or runs out of inodes: the
operator is told it is full (exit 1, no traceback), never that a whole database is damaged nor sent
to `rebuild-state` for it; once room is back the next run works and nothing recorded is lost."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from rabtui import faults
from tests import held, invariants
from tests.procs import signalled
from tests.trees import Lab, fill_up, write_files
from tests import preloaded

HINT = "rabtui rebuild-state"


def _rabtui(lab: Lab, *argv: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _lab_on(tmp_path, tmpfs, options: str) -> Lab:
    """A lab whose state directory is on a tmpfs of `options`, with one backup made."""
    lab = Lab(tmp_path)
    lab.state = tmpfs(tmp_path / "small", options) / "state"
    lab.local()
    write_files(lab.src / "data", {"a": 300, "b/c": b"x"})
    done = _rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stderr
    return lab


def _said_full(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "is damaged" not in done.stderr and HINT not in done.stderr.split("should the database be damaged")[0], \
        done.stderr
    assert "full" in done.stderr, done.stderr


def test_a_wal_that_cannot_be_written_back_for_want_of_room_is_not_called_damage(tmp_path, tmpfs):
    """A large transaction (a big backup's catalog) waits in the -wal; writing it back into the
    database file fails half-way as the disk fills: the file is shorter than its header says, and
    its pages are whole in the -wal. With some room freed, but less than the write-back needs, the
    next command says the state directory is full, not that the database is damaged."""
    lab = _lab_on(tmp_path, tmpfs, "size=40m")
    small = lab.state.parent
    db = lab.state / "rabtui.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'x', ?)",
                     ((os.urandom(5000).hex(),) for _ in range(1700)))
    conn.execute("COMMIT")
    fill_up(small / "filler")
    os.truncate(small / "filler", os.path.getsize(small / "filler") - (5 << 20))
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.OperationalError as exc:
        assert "full" in str(exc)
    conn.close()
    os.truncate(small / "filler", os.path.getsize(small / "filler") - (5 << 20))

    _said_full(_rabtui(lab, "status"))

    os.unlink(small / "filler")
    assert _rabtui(lab, "status").returncode == 0
    assert lab.store().one("SELECT COUNT(*) FROM events WHERE kind='x'")[0] == 1700


def _use_every_inode(where) -> None:
    where.mkdir()
    try:
        for i in range(100_000):
            (where / str(i)).touch()
    except OSError:
        pass


def test_a_state_directory_out_of_inodes_is_full_not_a_damaged_database(tmp_path, tmpfs):
    """Out of inodes, SQLite cannot make the -wal and -shm its last connection removed ("unable to
    open database file"): a full state directory, refused as one by every command."""
    lab = _lab_on(tmp_path, tmpfs, "size=64m,nr_inodes=400")
    _use_every_inode(lab.state.parent / "files")
    for argv in (("status",), ("find", "a"), ("backup", "loc")):
        done = _rabtui(lab, *argv)
        _said_full(done)
        assert "inodes" in done.stderr, done.stderr
    for name in os.listdir(lab.state.parent / "files")[:100]:
        os.unlink(lab.state.parent / "files" / name)
    assert _rabtui(lab, "status").returncode == 0


def test_rebuild_state_in_a_state_directory_out_of_inodes_says_it_is_full(tmp_path, tmpfs):
    """rebuild-state takes its locks before it looks at the database: a lock file that cannot be
    made for want of room says so, not that another user owns the state directory."""
    lab = _lab_on(tmp_path, tmpfs, "size=64m,nr_inodes=400")
    _use_every_inode(lab.state.parent / "files")
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "chown" not in done.stderr and "full" in done.stderr, done.stderr


def _run_filling_at(lab: Lab, point: str, *argv: str) -> subprocess.CompletedProcess:
    """`rabtui ARGV` stopped at the fault point `point`, its state directory's file system filled
    to the last byte there, then let go on (again each time it comes to the point)."""
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                          env={**os.environ, faults.STOP_ENV: point}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    filled = False
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:
        if held.stopped(run.pid):     # not once it has ended, which its waiter may say after /proc does
            if not filled:
                fill_up(lab.state.parent / "filler")
                filled = True
            run.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    out, err = run.communicate(timeout=60)
    assert filled, (out, err)
    return subprocess.CompletedProcess(argv, run.returncode, out, err)


def test_a_cleanup_that_cannot_record_its_deletions_stops_before_the_next_medium(tmp_path, tmpfs):
    """The state directory fills up after a cleanup emptied the doomed backups of one medium: the
    catalog cannot forget them, so the cleanup stops there (another medium's backups are not
    emptied behind the catalog's back), says it is the state database, and exits 1. Once room is
    back, the next cleanup finishes the job and the catalog says what the media hold."""
    lab = Lab(tmp_path)
    lab.state = tmpfs(tmp_path / "small", "size=6m") / "state"
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 4, 1, 3, 0)
    for day in range(6):
        write_files(lab.src / "data", {f"d{day}": b"d" * day, "v": b"v%d" % day})
        assert lab.backup(cfg, now=t0 + timedelta(days=day), medium_id=f"m{day % 2 + 1}").status == "completed"
    later = (t0 + timedelta(days=8)).isoformat(timespec="minutes")
    before = {m: sorted(os.listdir(path / "loc")) for m, path in lab.media}

    done = _run_filling_at(lab, "cleanup.trees_emptied", "cleanup", "--now", later)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "state database" in done.stderr and "cannot be written" in done.stderr, done.stderr
    after = {m: sorted(os.listdir(path / "loc")) for m, path in lab.media}
    assert [after[m] == before[m] for m in ("m1", "m2")].count(True) == 1, (before, after)

    os.unlink(lab.state.parent / "filler")
    done = _rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    store = lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)
    assert all(len(os.listdir(path / "loc")) == 1 for _, path in lab.media)


def test_a_transaction_the_disk_has_no_room_for_fails_as_full_not_as_damage(tmp_path, tmpfs):
    """SQLite rolls a transaction back by itself when the disk is full: rabtui's own ROLLBACK then
    failed ("cannot rollback - no transaction is active"), hid the real error, and the operator
    read that the database was damaged (a checkpoint of 20,000 files planned with 4 MiB free did)."""
    from rabtui.state.store import Store
    from rabtui.state.store_check import state_failure

    state = tmpfs(tmp_path / "small", "size=16m") / "state"
    store = Store(state)
    fill_up(state.parent / "filler")
    os.truncate(state.parent / "filler", os.path.getsize(state.parent / "filler") - (9 << 19))
    try:
        with store.transaction() as conn:
            conn.executemany("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'x', ?)",
                             (("x" * 10000,) for _ in range(1000)))
    except sqlite3.Error as exc:
        failure = state_failure(exc, store.path).message
    assert "cannot be written" in failure and "full" in failure, failure
    os.unlink(state.parent / "filler")
    store.add_event(None, "y")       # the connection goes on once there is room
    assert store.one("SELECT COUNT(*) FROM events WHERE kind='x'")[0] == 0


# `rabtui ARGV` whose state directory fills up just before `prepare.write_catalog` writes the new
# checkpoint's catalog there, while the database keeps room for small writes: its -wal was grown
# and written back, as after any large transaction, and SQLite writes into it again from its start.
FULL_AT_THE_CATALOG = """
import os, sqlite3, sys
from rabtui.checkpoint import prepare
from rabtui.cli import main
from tests.trees import fill_up

state, real = sys.argv[1], prepare.write_catalog

def write_catalog(path, rows):
    conn = sqlite3.connect(os.path.join(state, "rabtui.db"), isolation_level=None)
    conn.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'ballast', ?)", ("x" * (1 << 20),))
    conn.execute("DELETE FROM events WHERE kind='ballast'")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    conn.close()
    fill_up(os.path.join(os.path.dirname(state), "filler"))
    real(path, rows)

prepare.write_catalog = write_catalog
sys.exit(main(sys.argv[2:]))
"""


def test_a_checkpoint_whose_catalog_finds_the_state_directory_full_says_so(tmp_path, tmpfs):
    """The checkpoint is recorded, its catalog cannot be written into the state directory: the
    burn fails with the file and the reason (no traceback), and once there is room `checkpoint
    resume` writes and verifies its disc."""
    lab = Lab(tmp_path)
    lab.state = tmpfs(tmp_path / "small", "size=16m") / "state"
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {f"f{i}": 2000 for i in range(20)})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    done = preloaded.run([sys.executable, "-c", FULL_AT_THE_CATALOG, str(lab.state), "--config",
                          str(lab.config_path), "checkpoint", "burn", "--yes"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "catalog" in done.stderr and "No space left on device" in done.stderr, done.stderr
    os.unlink(lab.state.parent / "filler")
    done = _rabtui(lab, "checkpoint", "resume", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "its disc written and verified" in done.stdout


def test_a_state_directory_filling_up_under_an_open_ui_is_critical_in_its_health(tmp_path, tmpfs):
    """The UI opened the database before the state directory filled up: every job it starts now
    dies at once (it cannot open the database, nor write its log). The dashboard's health checks
    say why, as `rabtui check` does when it starts."""
    from rabtui.actions import status

    lab = _lab_on(tmp_path, tmpfs, "size=8m")
    cfg, store = lab.load(), lab.store()
    assert not [p for p in status.problems(cfg, store) if "state directory" in p.message]
    fill_up(lab.state.parent / "filler")
    found = [p for p in status.problems(cfg, store) if "state directory" in p.message]
    assert [p.level for p in found] == ["critical"], found
    assert "full" in found[0].message and str(lab.state) in found[0].message


def _room_in_the_wal(state) -> None:
    """The database keeps room for small writes in its -wal once the file system is full, as after
    any large transaction written back (see FULL_AT_THE_CATALOG)."""
    conn = sqlite3.connect(state / "rabtui.db", isolation_level=None)
    conn.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'ballast', ?)", ("x" * (1 << 20),))
    conn.execute("DELETE FROM events WHERE kind='ballast'")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    conn.close()


def _stop_extraction(under: bytes, run: subprocess.Popen) -> int:
    """The pid of the xorriso extracting a disc for its verification (its arguments hold `under`),
    stopped (SIGSTOP) as soon as it starts."""
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"-extract" in argv and any(under in a for a in argv) and signalled(int(pid), signal.SIGSTOP):
                return int(pid)
        time.sleep(0.002)
    raise AssertionError(f"no extraction seen: {run.communicate()}")


def test_a_disc_whose_extraction_the_state_directory_has_no_room_for_is_not_failed(tmp_path, tmpfs):
    """There was room to extract the disc into the state directory for its verification, and it
    filled up meanwhile (another process's catalog grew): the disc is read back as a stream instead
    and verified, never marked failed with "files missing" and offered for a rewrite on a new disc."""
    lab = Lab(tmp_path)
    lab.state = tmpfs(tmp_path / "small", "size=160m") / "state"
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {f"f{i}": 1 << 20 for i in range(60)})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint", "burn",
                            "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    xorriso = _stop_extraction(os.fsencode(tmp_path), run)
    _room_in_the_wal(lab.state)
    fill_up(lab.state.parent / "filler")
    signalled(xorriso, signal.SIGCONT)     # unless the burn has ended it meanwhile
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    assert "reading each file back as a stream" in err, err
    os.unlink(lab.state.parent / "filler")
    disc = lab.store().one("SELECT state FROM discs WHERE number=1 AND disc=1")
    assert disc["state"] == "verified"


def test_a_full_directory_of_sqlites_temporary_files_is_named_not_the_state_directory(tmp_path, tmpfs):
    """SQLite keeps the temporary tables of a backup's catalog that outgrow its cache in a file of
    $SQLITE_TMPDIR, $TMPDIR or /var/tmp: that directory full, the backup fails saying so, not
    sending the operator to a state directory with room; the next backup, with room, works."""
    lab = Lab(tmp_path)
    lab.local()
    # not the source's first backup, whose new paths need no temporary file (nothing to look up)
    write_files(lab.src / "data", {"first": b"1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    # 1,500 new files: a few hundred already make SQLite write a temporary file (a backup with
    # too few exits 0 here, and the test fails, not passes); more only take longer
    write_files(lab.src / "data", {f"d{i % 20}/file-with-a-long-name-{i:06d}": b"%d" % i for i in range(1500)})
    temp = tmpfs(tmp_path / "temp", "size=1m")
    fill_up(temp / "filler")
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TMPDIR": str(temp), "SQLITE_TMPDIR": str(temp)})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert str(temp) in done.stderr and f"is {lab.state} full" not in done.stderr, done.stderr
    assert _rabtui(lab, "backup", "loc").returncode == 0
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)


def test_a_backup_whose_record_the_state_disk_fails_to_write_back_is_not_said_complete(tmp_path, tmpfs):
    """The state directory's disk fails its writes (EIO: here an ext4 on a loop device whose image
    has no more room to grow) after a backup's last steps began. SQLite writes its commits into the
    page cache, and the kernel's write-back fails later: rabtui said "completed", the archive union
    held the new files, and once the disk was back the database knew nothing of that backup (the
    catalog missed what the medium holds). The record is made durable before the union or
    backup.json say anything: the run fails (exit 1) instead, and the next run finds all in order."""
    for tool in ("mkfs.ext4", "e2fsck", "losetup"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    backing = tmpfs(tmp_path / "backing", "size=14m")
    image = backing / "state.ext4"
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)], check=True)
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-o", "loop", str(image), str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a loop device here")
    try:
        lab = Lab(tmp_path)
        lab.state = disk / "state"
        cfg = lab.local([("data", "archive")])
        write_files(lab.src / "data", {f"f{i}": 300 for i in range(50)})
        assert _rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
        write_files(lab.src / "data", {f"g{i}": 300 for i in range(500)})
        run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc",
                                "--medium", "m1"], env={**os.environ, faults.STOP_ENV: "backup.step6"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        while run.poll() is None and not held.stopped(run.pid):    # /proc may drop it before its waiter says it ended
            time.sleep(0.05)
        fill_up(backing / "filler")
        run.send_signal(signal.SIGCONT)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 1 and "Traceback" not in err, out + err
        assert "disk I/O error" in err and "failing" in err, err
        os.unlink(backing / "filler")
        subprocess.run(["umount", str(disk)], capture_output=True)
        subprocess.run(["e2fsck", "-fy", str(image)], capture_output=True)
        assert subprocess.run(["mount", "-o", "loop", str(image), str(disk)]).returncode == 0
        done = _rabtui(lab, "backup", "loc", "--medium", "m1")
        assert done.returncode == 0, done.stdout + done.stderr
        store = lab.store()
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_json_agrees(cfg, store)
        store.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.parametrize("inodes_left", [0, 1])
def test_a_disc_verified_where_the_state_directory_cannot_take_its_scratch_is_read_as_a_stream(tmp_path, tmpfs,
                                                                                               inodes_left):
    """The state directory has no room for the directory a verification extracts the disc in (out
    of inodes here, or with one left, for its private directory and not the disc's in it; a full
    ext4 refuses a new directory the same way): the disc is read back as a stream and verified,
    never marked failed ("cannot verify") and offered for a rewrite."""
    from rabtui.checkpoint import questions, run
    from rabtui.events import ABORT, READY, ScriptedPrompter
    from tests.trees import burn_due

    lab = Lab(tmp_path)
    lab.state = tmpfs(tmp_path / "small", "size=64m,nr_inodes=400") / "state"
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    _use_every_inode(lab.state.parent / "files")
    for name in os.listdir(lab.state.parent / "files")[:inodes_left]:
        os.unlink(lab.state.parent / "files" / name)
    said = []
    prompter = ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else ABORT)
    res = run.verify_checkpoint(cfg, store, number, emit=said.append, cancel=threading.Event(), prompter=prompter)
    assert (res.status, res.verified) == ("completed", [1]), (res.message, [q.text for q in prompter.asked])
    assert any("reading each file back as a stream" in e.message for e in said), [e.message for e in said]
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "verified"


def test_a_disc_verified_where_tmpdir_is_full_is_read_as_a_stream(tmp_path, tmpfs, monkeypatch):
    """TMPDIR filled up (no byte, no inode left) after the run chose it (Python's tempfile keeps
    the first usable one: a job, the UI, a burn of several discs): the short alias through which a
    verification extracts a disc cannot be made there. The disc is read back as a stream and
    verified, instead of the whole verification stopping."""
    import tempfile

    from rabtui.checkpoint import run
    from rabtui.events import READY, ScriptedPrompter
    from tests.trees import burn_due

    lab = Lab(tmp_path)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    temp = tmpfs(tmp_path / "temp", "size=1m,nr_inodes=64")
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    _use_every_inode(temp / "files")
    fill_up(temp / "files" / "0")
    said = []
    res = run.verify_checkpoint(cfg, store, number, emit=said.append, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert (res.status, res.verified) == ("completed", [1]), res.message
    streamed = [e.message for e in said if "reading each file back as a stream" in e.message]
    assert streamed and str(temp) in streamed[0], [e.message for e in said]
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "verified"
