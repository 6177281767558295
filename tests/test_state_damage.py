"""A damaged state database, and a state_dir that is read-only or full: `status`, `backup` and the
TUI's start refuse with the reason and the `rebuild-state` hint (no traceback, nothing on the media
changed); `rebuild-state` takes every lock and brings the state back."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from rabtui.state.store_check import StateUnusable
from tests.trees import Lab, made_once, notify_into_file, write_files
from tests import preloaded

NOBODY = pwd.getpwnam("nobody")

HINT = "rabtui rebuild-state"


def _rabtui(lab: Lab, *argv: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                         capture_output=True, text=True, timeout=120)


def _media_view(lab: Lab) -> list:
    out = []
    for _, root in lab.media:
        for dirpath, dirs, files in os.walk(root):
            for name in sorted(dirs + files):
                st = os.lstat(os.path.join(dirpath, name))
                out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns, st.st_ino))
    return sorted(out)


def _backed_up_lab(tmp_path: Path, state: Path | None = None) -> Lab:
    lab = Lab(tmp_path)
    if state is not None:
        lab.state = state
    lab.local()
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stderr
    return lab


@pytest.fixture(scope="module")
def _backed_up_made(tmp_path_factory):
    yield from made_once(tmp_path_factory, _backed_up_lab)


@pytest.fixture
def backed_up_lab(_backed_up_made) -> Lab:
    """What _backed_up_lab makes, anew for each test (made once for the module)."""
    return Lab(_backed_up_made[1].anew())


def _refused(lab: Lab, *words: str) -> None:
    """status and backup both exit non-zero with the words and the hint; the media stay as they were."""
    before = _media_view(lab)
    for argv in (("status",), ("backup", "loc")):
        done = _rabtui(lab, *argv)
        assert done.returncode == 1, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        for word in words:
            assert word in done.stderr, (argv, done.stderr)
        assert done.stderr.startswith("rabtui: "), done.stderr
    assert _media_view(lab) == before


def test_truncated_database_is_refused_not_read_as_never_backed_up(backed_up_lab):
    lab = backed_up_lab
    db = lab.state / "rabtui.db"
    _rabtui(lab, "status")              # the WAL is written into the database on the last close
    size = db.stat().st_size
    assert size > 8192
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    _refused(lab, "is damaged", "truncated", HINT)


def test_database_truncated_to_nothing_is_refused(backed_up_lab):
    lab = backed_up_lab
    for name in os.listdir(lab.state):
        if name.startswith("rabtui.db-"):
            os.unlink(lab.state / name)
    os.truncate(lab.state / "rabtui.db", 0)
    _refused(lab, "is damaged: it is empty (truncated?)", HINT)


def test_garbage_database_is_refused(backed_up_lab):
    lab = backed_up_lab
    for name in os.listdir(lab.state):
        if name.startswith("rabtui.db-"):
            os.unlink(lab.state / name)
    (lab.state / "rabtui.db").write_bytes(os.urandom(20000))
    _refused(lab, "is damaged: it is not an SQLite database", HINT)


def test_damaged_page_inside_the_database_is_refused(backed_up_lab):
    """The header is intact but a page of a table is garbage: SQLite's error, met after the open,
    becomes the same message."""
    lab = backed_up_lab
    _rabtui(lab, "status")
    db = lab.state / "rabtui.db"
    from rabtui.state.store import connect

    conn = connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='backups'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(os.urandom(page))
    _refused(lab, "is damaged", HINT)


@pytest.mark.parametrize("table", ["paths", "disc_files"])
def test_a_dropped_table_is_refused_not_made_anew_empty(backed_up_lab, table):
    """Every table rabtui's first schema had is in any database it made: one that is gone (a hand, a
    tool) is damage, not a table to make anew and empty (a catalog without its paths: `find` and
    `diff` would say nothing changed); rebuild-state brings it back from the media."""
    lab = backed_up_lab
    _rabtui(lab, "status")
    from rabtui.state.store import connect

    conn = connect(lab.state / "rabtui.db")
    conn.execute(f"DROP TABLE {table}")
    conn.close()
    _refused(lab, f"is damaged: tables missing: {table}", HINT)
    done = _rabtui(lab, "find", "c")
    assert done.returncode == 1 and "tables missing" in done.stderr, (done.stdout, done.stderr)
    assert _rabtui(lab, "rebuild-state").returncode in (0, 3)
    done = _rabtui(lab, "find", "c")
    assert done.returncode == 0 and "/b/c" in done.stdout, (done.stdout, done.stderr)


def test_foreign_database_is_refused_not_filled_with_tables(tmp_path):
    lab = Lab(tmp_path)
    lab.local()
    lab.state.mkdir()
    from rabtui.state.store import connect

    conn = connect(lab.state / "rabtui.db")
    conn.execute("CREATE TABLE other(x)")
    conn.close()
    done = _rabtui(lab, "status")
    assert done.returncode == 1 and "tables missing: meta, media, backups, backup_steps and 13 more" in done.stderr
    assert HINT in done.stderr


@pytest.mark.parametrize("version,words", [("2", ("made by a newer rabtui (schema version 2", "rabtui rebuild-state")),
                                           ("banana", ("is damaged: its schema version", HINT)),
                                           ("0", ("is damaged: its schema version", HINT))])
def test_a_database_of_another_schema_version_is_refused(tmp_path, backed_up_lab, version, words):
    """A database a newer rabtui made (its tables may mean other things now), or one whose version
    is no version at all, is refused; nothing is read from it or written into it."""
    lab = backed_up_lab
    from rabtui.state.store import connect

    conn = connect(lab.state / "rabtui.db")
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (version,))
    conn.close()
    _refused(lab, *words)
    conn = connect(lab.state / "rabtui.db")
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == version
    conn.close()
    (tmp_path / "iso").mkdir()                    # the way out: the database made again from the media
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]', 1))
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3) and "backups: 1" in done.stdout, done.stdout + done.stderr
    assert _rabtui(lab, "status").returncode == 0


def test_a_directory_in_the_place_of_the_database_is_kept_aside_by_rebuild_state(tmp_path, backed_up_lab):
    """rabtui.db (and its -wal) replaced by directories: commands refuse with the way out, and
    rebuild-state, that way, makes the database again and keeps what was there aside as it was."""
    lab = backed_up_lab
    (tmp_path / "iso").mkdir()
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]', 1))
    lab.lose_database()
    (lab.state / "rabtui.db").mkdir()
    (lab.state / "rabtui.db" / "note").write_text("someone's")
    (lab.state / "rabtui.db-wal").mkdir()
    _refused(lab, "is damaged", HINT)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3) and "backups: 1" in done.stdout, done.stdout + done.stderr
    status = _rabtui(lab, "status")
    assert status.returncode == 0 and "never backed up" not in status.stdout, status.stdout + status.stderr
    aside = next(lab.state.glob("rabtui.db.before-rebuild-*[0-9]"))
    assert (aside / "note").read_text() == "someone's" and Path(f"{aside}-wal").is_dir()


def _with_drive(tmp_path: Path, lab: Lab) -> None:
    (tmp_path / "iso").mkdir()
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]', 1))


def _db_files_removed(lab: Lab) -> None:
    lab.lose_database()


def test_a_symlink_to_a_database_that_is_not_there_is_refused_not_made_anew_elsewhere(tmp_path, backed_up_lab):
    """rabtui.db a symlink to a database on a disk that is not mounted now: not a new database to
    make there (an empty one would stand in for the lost one, and be hidden once the disk is back)."""
    lab = backed_up_lab
    _with_drive(tmp_path, lab)
    away = tmp_path / "unmounted" / "rabtui.db"
    away.parent.mkdir()
    _db_files_removed(lab)
    os.symlink(away, lab.state / "rabtui.db")
    _refused(lab, "is damaged", str(away), "not there", HINT)
    assert not os.path.lexists(away)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3) and "backups: 1" in done.stdout, done.stdout + done.stderr
    aside = next(lab.state.glob("rabtui.db.before-rebuild-*[0-9]"))
    assert os.readlink(aside) == str(away) and not os.path.lexists(away)
    assert _rabtui(lab, "status").returncode == 0


def test_a_fifo_in_the_place_of_the_database_is_refused_and_rebuild_state_does_not_hang_on_it(tmp_path,
                                                                                                 backed_up_lab):
    lab = backed_up_lab
    _with_drive(tmp_path, lab)
    _db_files_removed(lab)
    os.mkfifo(lab.state / "rabtui.db", 0o600)
    _refused(lab, "is damaged: it is no file but a FIFO", HINT)
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                         capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 3) and "backups: 1" in done.stdout, done.stdout + done.stderr
    aside = next(lab.state.glob("rabtui.db.before-rebuild-*[0-9]"))
    assert stat.S_ISFIFO(os.lstat(aside).st_mode)
    assert _rabtui(lab, "status").returncode == 0


def test_a_file_in_the_place_of_the_locks_directory_is_no_traceback_of_the_commands_that_look_at_locks(backed_up_lab):
    """`status` and `checkpoint status`, which only look at the locks, ended with a traceback."""
    lab = backed_up_lab
    shutil.rmtree(lab.state / "locks")
    (lab.state / "locks").write_text("x")
    for argv in (("status",), ("checkpoint", "status")):
        done = _rabtui(lab, *argv)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (argv, done.stdout, done.stderr)


def test_a_directory_in_the_place_of_the_record_of_a_state_failure_said_neither_fails_nor_silences_check(
        tmp_path, backed_up_lab):
    """`check` (and run-due) ended with a traceback; with the database damaged, the directory was
    taken for the record that its damage was said already, and nothing was notified."""
    lab = backed_up_lab
    sent = notify_into_file(lab, tmp_path)
    (lab.state / "state-damage-said").mkdir(mode=0o700)
    done = _rabtui(lab, "check")
    assert done.returncode in (0, 1, 2) and "Traceback" not in done.stderr, done.stdout + done.stderr
    with open(lab.state / "rabtui.db", "r+b") as f:
        f.write(b"not a database at all" * 10)
    done = _rabtui(lab, "check")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert [(e["kind"], e["level"]) for e in sent() if e["data"].get("check") == "state"] == [("health", "critical")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_the_record_of_a_state_failure_said_made_first_by_another_user_does_not_silence_check(
        tmp_path, backed_up_lab):
    """In a state directory open to all but sticky, nobody's file at the record's name was taken for
    the record that the database's damage was said already: the damage was never notified."""
    lab = backed_up_lab
    sent = notify_into_file(lab, tmp_path)
    os.chmod(lab.state, 0o1777)       # an operator's chmod (`check` says CRITICAL)
    said = lab.state / "state-damage-said"
    said.write_text("said")
    os.chown(said, NOBODY.pw_uid, NOBODY.pw_gid)     # theirs, made before the damage
    with open(lab.state / "rabtui.db", "r+b") as f:
        f.write(b"not a database at all" * 10)
    done = _rabtui(lab, "check")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert [(e["kind"], e["level"]) for e in sent() if e["data"].get("check") == "state"] == [("health", "critical")]


def _mount(*argv: str) -> None:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or done.returncode}): needs root and mount(8)")


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt))
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_state_dir_is_refused(tmp_path, tmpfs):
    lab = _backed_up_lab(tmp_path, state=tmpfs / "state")
    _mount("-o", "remount,ro", str(tmpfs))
    _refused(lab, "is read-only", HINT)


def test_full_state_dir_is_refused(tmp_path, tmpfs):
    lab = _backed_up_lab(tmp_path, state=tmpfs / "state")
    with open(tmpfs / "filler", "wb", buffering=0) as f:     # no buffer left to flush at close
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass
    _refused(lab, "is full", "free space there", HINT)


def test_disk_full_after_the_open_gives_the_message(tmp_path, tmpfs):
    """The state_dir fills up while a command runs: SQLite's `database or disk is full` reaches the
    operator as the state database's message, not a traceback."""
    lab = _backed_up_lab(tmp_path, state=tmpfs / "state")
    script = textwrap.dedent(f"""
        import sys
        from rabtui.cli import backup_cmds, main
        real = backup_cmds.open_store

        def open_then_fill(cfg, **kw):
            store = real(cfg, **kw)
            try:     # what a write left in the buffer fails again as the file is closed
                with open({str(tmpfs / 'filler')!r}, "wb") as f:
                    while True:
                        f.write(b"\\0" * 65536)
                        f.flush()
            except OSError:
                pass
            store.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'x', ?)",
                          ("x" * 200000,))
            return store

        backup_cmds.open_store = open_then_fill
        sys.exit(main(["--config", {str(lab.config_path)!r}, "status"]))
    """)
    done = preloaded.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot be written" in done.stderr and "full" in done.stderr and HINT in done.stderr


def test_tui_start_refuses_a_damaged_database(backed_up_lab):
    from rabtui.tui.app import make_app

    lab = backed_up_lab
    (lab.state / "rabtui.db").write_bytes(b"SQLite format 3\0" + os.urandom(5000))
    for name in os.listdir(lab.state):
        if name.startswith("rabtui.db-"):
            os.unlink(lab.state / name)
    with pytest.raises(StateUnusable) as exc:
        make_app(lab.config_path)
    assert "is damaged" in str(exc.value) and HINT in str(exc.value)


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from rabtui.state import locks
    with locks.source_lock(sys.argv[1], sys.argv[2]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_rebuild_state_waits_for_no_backup_and_brings_the_state_back(tmp_path, backed_up_lab):
    lab = backed_up_lab
    (tmp_path / "iso").mkdir()
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace("[[media]]", f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]', 1))
    (lab.state / "rabtui.db").write_bytes(os.urandom(20000))
    holder = preloaded.Popen([sys.executable, "-c", HOLD_LOCK, str(lab.state), "loc"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = _rabtui(lab, "rebuild-state")
        assert done.returncode == 1
        assert "a backup of loc is already running since" in done.stderr and f"pid {holder.pid}" in done.stderr
        assert not list(lab.state.glob("rabtui.db.before-rebuild-*"))     # nothing was moved
    finally:
        holder.kill()
        holder.wait()
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stderr         # warnings: medium m2 was never labelled
    assert "backups: 1" in done.stdout and "medium m2: no labelled medium" in done.stdout
    done = _rabtui(lab, "status")
    assert done.returncode == 0 and "never backed up" not in done.stdout and "completed" in done.stdout


def test_rebuild_state_keeps_a_verified_image_verified_and_proves_it(tmp_path):
    """A checkpoint burned and verified onto an images: drive: after the database is lost, rebuild
    verifies the image again and records the disc as verified; an image changed since (or left
    half-written by a kill) comes back failed, and check says so."""
    from tests.test_checkpoint import _burn, _lab, _record

    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f1": 5000, "sub/f2": 7000})
    write_files(lab.src / "other", {"o1": 100})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: "ready")
    assert res.status == "completed" and res.verified
    ndiscs = len(res.verified)
    store.close()

    (lab.state / "rabtui.db").write_bytes(os.urandom(20000))
    for name in os.listdir(lab.state):
        if name.startswith("rabtui.db-"):
            os.unlink(lab.state / name)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"discs verified again: RAB{number}D01" in done.stdout
    states = [r["state"] for r in lab.store().all("SELECT state FROM discs WHERE number=? ORDER BY disc", (number,))]
    assert states == ["verified"] * ndiscs

    # one byte of a file changed inside the image: not verified, and not taken for a whole disc
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    data = iso.read_bytes()
    content = (lab.src / "data" / "sub" / "f2").read_bytes()
    at = data.index(content[:4096])
    with open(iso, "r+b") as f:
        f.seek(at + 100)
        f.write(bytes([data[at + 100] ^ 0xFF]))
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "discs verified again: none" in done.stdout, done.stdout
    assert f"checkpoint {number}: disc RAB{number}D01 failed its verification, no good copy" in done.stdout
    row = lab.store().one("SELECT state, message FROM discs WHERE number=? AND disc=1", (number,))
    assert row["state"] == "failed" and "differ" in row["message"]
    assert lab.store().one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "aborted"
    done = _rabtui(lab, "check")
    assert done.returncode == 1 and f"checkpoint {number} is unfinished" in done.stdout, done.stdout
    assert f"disc RAB{number}D01 failed its verification" in done.stdout, done.stdout


def test_processes_opening_a_new_database_at_once_all_find_it_whole(tmp_path):
    """A new state database is filled in one transaction: a process that opens it meanwhile (run-due
    and the UI started together) finds it empty or whole, never "damaged"."""
    import subprocess
    import sys

    for attempt in range(5):
        state = tmp_path / f"state{attempt}"
        (state / "locks").mkdir(parents=True)          # rabtui has run here: an empty file would be damage
        code = "import sys; from rabtui.state.store import Store; Store(sys.argv[1]).close()"
        procs = [preloaded.Popen([sys.executable, "-c", code, str(state)], stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
        errors = [p.communicate()[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors


def test_check_with_a_damaged_database_is_critical_and_says_so_to_prometheus(tmp_path, backed_up_lab):
    """`check` is what the monitoring runs: a database it cannot read is critical (exit 2, nothing
    can be backed up), and the textfile says so at once, instead of keeping the last good figures
    until the check is taken for not running."""
    lab = backed_up_lab
    prom = tmp_path / "rabtui.prom"
    assert _rabtui(lab, "check", "--prometheus", str(prom)).returncode in (0, 1)
    assert "rabtui_health_status 2" not in prom.read_text()
    with open(lab.state / "rabtui.db", "r+b") as f:
        f.write(b"not a database at all" * 10)
    done = _rabtui(lab, "check", "--prometheus", str(prom))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "CRITICAL: the state database" in done.stdout and HINT in done.stdout, done.stdout
    text = prom.read_text()
    assert "rabtui_health_status 2" in text and 'rabtui_check_status{check="state"} 2' in text, text
    assert "rabtui_last_backup_timestamp_seconds{" not in text     # nothing read from a damaged database
    if shutil.which("promtool"):
        from tests.test_prometheus_rules import _expect, _promtool_test, _test_group

        _promtool_test(tmp_path, _test_group("damaged", text, {"10m": {
            "RabtuiHealthCritical": [_expect("RabtuiHealthCritical", check="state")]}}))


def test_a_process_that_had_the_database_open_uses_the_rebuilt_one(tmp_path, backed_up_lab):
    """The UI stays open while rebuild-state, in another terminal, puts a new database in place: its
    next queries read the new one (they went on reading, and writing the jobs it started into, the
    old one kept aside, which no other process reads)."""
    lab = backed_up_lab
    (tmp_path / "iso").mkdir()
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[checkpoint]\ndrive = "images:{tmp_path / "iso"}"\n\n[[media]]', 1))
    from rabtui.state.store import Store

    store = Store(lab.state)
    store.execute("INSERT INTO backups(source, medium, name, path, status, started) VALUES"
                  " ('loc', 'm1', 'backup-20200101000000', '/nowhere', 'completed', 1)")
    assert store.one("SELECT COUNT(*) AS n FROM backups")["n"] == 2
    watch = store.watch()
    watch.changed()
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert watch.changed()
    assert store.one("SELECT COUNT(*) AS n FROM backups")["n"] == 1
    assert not watch.changed()
    job = store.execute("INSERT INTO jobs(kind, title, status) VALUES ('backup', 'after', 'queued')").lastrowid
    other = Store(lab.state)
    assert other.one("SELECT title FROM jobs WHERE id=?", (job,))["title"] == "after"
    other.close()
    assert watch.changed()                 # the UI's poll sees what is committed to the new one
    watch.close()
    store.close()


def test_a_damaged_database_is_notified_once_and_its_repair_once(tmp_path, backed_up_lab):
    """The health table, which keeps what was said, is in the database: its own damage is said
    once all the same (a file beside it keeps that), and so is its coming back."""
    lab = backed_up_lab
    events = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read())\n")
    lab.config_path.write_text(lab.config_path.read_text().replace(
        "[[media]]", f'[notify]\ncommand = "{sys.executable} {script}"\n\n[[media]]', 1))
    _rabtui(lab, "check")
    events.unlink(missing_ok=True)
    db = lab.state / "rabtui.db"
    good = db.read_bytes()
    with open(db, "r+b") as f:
        f.write(b"not a database at all" * 10)
    for _ in range(2):
        done = _rabtui(lab, "check")
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    import json

    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["kind"], e["level"], e["data"]["check"]) for e in sent] == [("health", "critical", "state")]
    assert HINT in sent[0]["message"]
    assert (lab.state / "state-damage-said").stat().st_mode & 0o077 == 0
    db.write_bytes(good)
    _rabtui(lab, "check")
    _rabtui(lab, "check")
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["level"], e["data"]["check"]) for e in sent[1:]] == [("ok", "state")]
    assert not (lab.state / "state-damage-said").exists()


def test_a_database_whose_pages_another_process_is_writing_back_is_not_called_truncated(tmp_path, backed_up_lab,
                                                                                        monkeypatch):
    """Another rabtui process writes its WAL back into the file (a checkpoint): the header, giving
    the new page count, comes before the pages past the old end. A command starting meanwhile
    read a file shorter than its header said and refused it as damaged; it looks again first."""
    from rabtui.state import store_check

    lab = backed_up_lab
    db = lab.state / "rabtui.db"
    _rabtui(lab, "status")              # the WAL is written into the database on the last close
    whole = db.read_bytes()
    assert len(whole) > 8192
    with open(db, "r+b") as f:
        f.truncate(len(whole) // 2)       # the header already says the whole size: pages to come
    (tmp_path / "whole").write_bytes(whole)
    writer = preloaded.Popen([sys.executable, "-c", "import sys; sys.stdin.read();"
                               " f = open(sys.argv[1], 'r+b'); f.seek(0); f.write(open(sys.argv[2], 'rb').read())",
                               str(db), str(tmp_path / "whole")], stdin=subprocess.PIPE)
    looks = []

    def pause(seconds: float) -> None:
        """Between two looks: the other process writes the rest once the first look found the file
        short (let go then, not after a time a loaded machine may take to start it)."""
        looks.append(seconds)
        if not writer.stdin.closed:
            writer.stdin.close()
            writer.wait(timeout=60)
        time.sleep(seconds)

    monkeypatch.setattr(store_check, "time", types.SimpleNamespace(sleep=pause, monotonic=time.monotonic))
    # as a command starting: the header is read only before a process's first connection to the
    # database, and this test process may have had one to it (the lab is made once for the module)
    monkeypatch.setattr(store_check, "_OPENED_HERE", {})
    try:
        assert store_check.check_usable(lab.state, db) is True
    finally:
        if not writer.stdin.closed:
            writer.stdin.close()
        writer.wait(timeout=60)
    assert looks and db.read_bytes() == whole      # looked at again, not found whole at once


def _last_frame_of_page_one(wal: bytes, page_size: int) -> bytes:
    """The newest image of page 1 in a WAL file (32-byte header; frames of a 24-byte header and a page)."""
    found, at = None, 32
    while at + 24 + page_size <= len(wal):
        if int.from_bytes(wal[at:at + 4], "big") == 1:
            found = wal[at + 24:at + 24 + page_size]
        at += 24 + page_size
    assert found is not None
    return found


def test_a_database_whose_last_process_ended_in_the_middle_of_writing_back_its_wal_opens_whole(backed_up_lab):
    """A process ends (its daemon thread was writing the WAL back: a checkpoint) after the header,
    giving the new page count, and before the pages past the old end: the file stays shorter than
    its header says, and the WAL beside it holds those pages. SQLite reads them from there; rabtui
    called the database truncated and sent the operator to rebuild-state."""
    import sqlite3

    lab = backed_up_lab
    db = lab.state / "rabtui.db"
    _rabtui(lab, "status")              # the WAL is written into the database on the last close
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    with conn:
        conn.executemany("INSERT INTO events(job_id, ts, kind, message, data) VALUES (NULL, 0, 'log', ?, '{}')",
                         [(f"event {i} " + "x" * 2000,) for i in range(400)])
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    main, wal = db.read_bytes(), Path(f"{db}-wal").read_bytes()
    conn.close()
    lab.lose_database()
    Path(f"{db}-wal").write_bytes(wal)
    db.write_bytes(_last_frame_of_page_one(wal, page_size) + main[page_size:])   # page 1 written back, no more
    header = db.read_bytes()[:100]
    assert int.from_bytes(header[28:32], "big") * page_size > db.stat().st_size

    done = _rabtui(lab, "status", "--json")
    assert done.returncode == 0, done.stderr
    check = sqlite3.connect(db)
    assert check.execute("SELECT COUNT(*) FROM events WHERE message LIKE 'event %'").fetchone()[0] == 400
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


@pytest.mark.parametrize("end", ["-shm", "-wal", "-journal"])
def test_a_file_of_the_database_linked_to_a_file_elsewhere_is_not_written_into(tmp_path, backed_up_lab, end):
    """A hard link at rabtui.db-shm (say) to a file of root's elsewhere, as another user can make one in
    a state directory open to all where the kernel's protected_hardlinks is off: root's own regular
    file, it passed the owner check, and SQLite wrote over /etc/shadow."""
    lab = backed_up_lab
    victim = tmp_path / "shadow"
    victim.write_bytes(b"root:$6$secret:19000:0:99999:7:::\n" * 4)
    before = victim.read_bytes()
    lab.state.chmod(0o1777)     # where another user can make names
    companion = lab.state / f"rabtui.db{end}"
    companion.unlink(missing_ok=True)
    os.link(victim, companion)
    for argv in (("status",), ("backup", "loc")):
        done = _rabtui(lab, *argv)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert f"{companion} has 2 names, 1 of them not rabtui's own" in done.stderr, done.stderr
    assert victim.read_bytes() == before
    companion.unlink()
    assert _rabtui(lab, "status").returncode == 0


def test_a_state_directory_copied_by_hand_with_hard_links_is_used(backed_up_lab):
    """The operator's copy of the state directory made with `cp -al` (or restored from one by
    `rsync -H`): its database has two names, both of this user's making in a directory closed to
    others, where nobody else can make a name. It was refused as a link to a file elsewhere, and
    every backup with it."""
    lab = backed_up_lab
    _rabtui(lab, "status")
    copy = lab.state.parent / "state.copy"
    subprocess.run(["cp", "-al", str(lab.state), str(copy)], check=True)
    assert (lab.state / "rabtui.db").stat().st_nlink == 2
    for argv in (("status",), ("backup", "loc")):
        done = _rabtui(lab, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
