"""Damages of the state database that the open let through, met by each command: a column of a table
dropped, and the -wal or -shm beside the database that is no file. Every command that needs the
database refuses at its start, naming the file and the way out, with exit 1 and no traceback;
nothing on the media or the discs changes; `rebuild-state` gives back what the media hold. Real
commands, a real backup and a checkpoint burnt with real xorriso onto an `images:` drive."""

from __future__ import annotations

import hashlib
import os
import pwd
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests import invariants, preloaded
from tests.test_run_due_state_damaged import _damage_table
from tests.trees import Lab, made_once, write_files

HINT = "rabtui rebuild-state"
ALL_COMMANDS = (("status",), ("find", "c"), ("cleanup",), ("checkpoint", "burn", "--yes", "--now"),
                ("check",), ("jobs", "list"), ("backup", "loc"), ("run-due", "--now", "2027-01-01T03:00"))


def _rabtui(lab: Lab, *argv: str) -> tuple[int, str, str]:
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *argv],
                         capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def _made(live: Path) -> None:
    lab = Lab(live, media_count=1)
    lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    for argv in (("backup", "loc"), ("checkpoint", "burn", "--yes", "--now")):
        code, out, err = _rabtui(lab, *argv)
        assert code == 0, (argv, out, err)
    write_files(lab.src / "data", {"new": 5000})      # something to back up and to put on a disc


@pytest.fixture(scope="module")
def _damage_lab_made(tmp_path_factory):
    yield from made_once(tmp_path_factory, _made)


@pytest.fixture
def lab(_damage_lab_made) -> Lab:
    return Lab(_damage_lab_made[1].anew(), media_count=1)


def _held(lab: Lab) -> list:
    """What the medium and the images folder hold: each entry's path, mode, size, time and content."""
    out = []
    for top in (lab.media[0][1], lab.tmp / "iso"):
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                data = hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.isfile(path) else ""
                out.append((path, st.st_mode, st.st_size, st.st_mtime_ns, data))
    return sorted(out)


def _refused_by_all(lab: Lab, *words: str) -> None:
    before = _held(lab)
    for argv in ALL_COMMANDS:
        code, out, err = _rabtui(lab, *argv)
        said = out + err
        assert code == (2 if argv == ("check",) else 1), (argv, said)
        assert "Traceback" not in said, (argv, said)
        for word in (str(lab.state / "rabtui.db"), *words):
            assert word in said, (argv, word, said)
        assert _held(lab) == before, argv


def _rebuilt_holds_the_media(lab: Lab, backups: int = 1) -> None:
    code, out, err = _rabtui(lab, "rebuild-state")
    assert code in (0, 3) and f"backups: {backups}," in out and "checkpoints: 1" in out, out + err
    store = lab.store()
    try:
        invariants.check_catalog_is_media(lab.load(), store)
    finally:
        store.close()
    code, out, err = _rabtui(lab, "find", "c")
    assert code == 0 and "/b/c" in out and "RAB1D01" in out, out + err


@pytest.mark.parametrize("table,column", [("disc_files", "size"), ("versions", "mtime"), ("backups", "status")])
def test_a_dropped_column_is_refused_at_the_start_of_every_command(lab, table, column):
    """`find` ended with a traceback (a row without the column), a backup failed at its catalog with
    its data on the medium, `check` said all was well."""
    with closing(sqlite3.connect(lab.state / "rabtui.db")) as conn:
        for (index,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?"
                                     " AND sql IS NOT NULL", (table,)).fetchall():
            conn.execute(f"DROP INDEX {index}")
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.commit()
    _refused_by_all(lab, f"is damaged: columns missing: {table}.{column}", HINT)
    _rebuilt_holds_the_media(lab)


@pytest.mark.parametrize("end,make", [("-shm", os.mkdir), ("-wal", os.mkdir), ("-wal", os.mkfifo)])
def test_a_wal_or_shm_that_is_no_file_is_said_as_that(lab, end, make):
    """Commands that write failed as "disk I/O error" or "attempt to write a readonly database",
    calling the state directory full, read-only or its disk failing; those that only read went on."""
    db = lab.state / "rabtui.db"
    for name in ("rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)
    make(f"{db}{end}")
    kind = "directory" if make is os.mkdir else "FIFO"
    _refused_by_all(lab, f"its {end} file {db}{end} is no file but a {kind}", f"move {db}{end} away", HINT)
    (os.rmdir if make is os.mkdir else os.unlink)(f"{db}{end}")      # the way out it names: the database is whole
    code, out, err = _rabtui(lab, "status")
    assert code == 0 and "never backed up" not in out, out + err
    make(f"{db}{end}")
    _rebuilt_holds_the_media(lab)


@pytest.mark.parametrize("end", ["-wal", "-journal"])
def test_a_wal_or_journal_that_is_a_symlink_to_a_file_is_said_as_that(lab, tmp_path, end):
    """A symlink to another database's -wal (or to any file): SQLite opens none, and every command
    said "unable to open database file" (beside a -wal, that another database's -wal had damaged
    this one), the database to be rebuilt; the file it leads to is left as it is."""
    db = lab.state / "rabtui.db"
    for name in ("rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)
    other = tmp_path / f"other.db{end}"
    with closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        conn.execute("CREATE TABLE t(x)")
        conn.commit()
    other.write_bytes(b"another database's")
    os.symlink(other, f"{db}{end}")
    _refused_by_all(lab, f"its {end} file {db}{end} is a symbolic link to {other}, which SQLite does not open",
                    f"move {db}{end} away")
    assert other.read_bytes() == b"another database's"
    os.unlink(f"{db}{end}")     # the way out it names: the database is whole
    code, out, err = _rabtui(lab, "status")
    assert code == 0 and "never backed up" not in out, out + err


def test_a_directory_in_the_place_of_the_shm_of_a_lost_database_is_kept_aside(lab):
    """The database lost, a directory where its -shm was: the new database's making unlinked it, and
    the command ended with a traceback (IsADirectoryError)."""
    lab.lose_database()
    shm = lab.state / "rabtui.db-shm"
    shm.mkdir()
    (shm / "note").write_text("someone's")
    code, out, err = _rabtui(lab, "status")
    assert code == 0 and "Traceback" not in err, out + err
    kept = [p for p in lab.state.iterdir() if p.name.startswith("rabtui.db-shm.left-")]
    assert len(kept) == 1 and (kept[0] / "note").read_text() == "someone's", sorted(os.listdir(lab.state))
    _rebuilt_holds_the_media(lab)


def test_a_page_a_backup_finds_damaged_is_not_laid_to_its_own_wal(lab):
    """A page the backup reads once under way (the catalog's versions, at step 7; its directories'
    table is read at step 2 now, for the forecast) is damaged, and the database's own -wal is beside
    it then, written by the backup itself: the message laid the damage to a -wal another database
    left, and told the operator to move it away."""
    db = lab.state / "rabtui.db"
    _damage_table(db, "versions")
    assert not os.path.exists(f"{db}-wal") or os.path.getsize(f"{db}-wal") == 0
    code, out, err = _rabtui(lab, "backup", "loc")
    assert code == 1 and "Traceback" not in err, out + err
    assert f"{db} is damaged: database disk image is malformed" in err and HINT in err, err
    assert "-wal" not in err, err
    _rebuilt_holds_the_media(lab, backups=2)       # its own, failed at its catalog, is on the medium
    store = lab.store()
    try:
        assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == ["completed", "failed"]
    finally:
        store.close()


def test_check_finds_a_damaged_page_that_none_of_its_queries_reads(lab, tmp_path):
    """A damaged page of a table the health check does not read (the steps of the backups): `check`
    said all was well, exit 0, and so did run-due's health check; the monitoring learnt of the damage
    only when a command met it."""
    db = lab.state / "rabtui.db"
    prom = tmp_path / "rabtui.prom"
    _damage_table(db, "backup_steps")
    code, out, err = _rabtui(lab, "check", "--prometheus", str(prom))
    assert code == 2 and "Traceback" not in err, out + err
    assert f"CRITICAL: the state database {db} is damaged: database disk image is malformed" in out, out
    assert HINT in out and 'rabtui_check_status{check="state"} 2' in prom.read_text(), out
    code, out, err = _rabtui(lab, "run-due", "--now", "2027-01-01T03:00")
    assert code == 1 and f"rabtui: health check: the state database {db} is damaged" in err, out + err
    _rebuilt_holds_the_media(lab)
    assert _rabtui(lab, "check")[0] in (0, 1)


HOLD_EXCLUSIVE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_database_another_process_holds_names_that_process(lab, capsys, short_busy_timeout):
    """A process that is no rabtui's (an operator's sqlite3 left in a transaction) holds the database
    past the busy timeout: each command that writes said "another rabtui process held it too long;
    run again", and every run again failed the same; it names the processes that have it open."""
    from rabtui.cli import main

    db = lab.state / "rabtui.db"
    before = _held(lab)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_EXCLUSIVE, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        for argv in (["backup", "loc"], ["check"], ["cleanup"]):
            code = main(["--config", str(lab.config_path), *argv])
            out = capsys.readouterr()
            said = out.out + out.err
            assert code == (2 if argv == ["check"] else 1) and "Traceback" not in said, (argv, said)
            assert f"the state database {db} is busy" in said, (argv, said)
            assert f"open in pid {holder.pid} (`{sys.executable} -c " in said and "run again once it lets go" in said, (argv, said)
    finally:
        holder.communicate("\n", timeout=30)
    assert _held(lab) == before
    assert main(["--config", str(lab.config_path), "status"]) == 0


def _as_nobody(lab: Lab, *argv: str) -> tuple[int, str]:
    """rabtui's command line run as the user nobody, to whom the whole lab is given: (its exit code,
    what it printed). A fork of this process, which has rabtui imported (nobody may not read the
    interpreter's own files here)."""
    from rabtui.cli import main

    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:           # pragma: no cover (the child)
        code = 99
        try:
            os.close(read)
            sys.stdout = sys.stderr = os.fdopen(write, "w")
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.environ["HOME"] = str(lab.tmp)
            code = main(["--config", str(lab.config_path), *argv])
            sys.stdout.flush()
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as f:
        said = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), said


def test_a_database_closed_by_its_mode_is_said_as_that(lab):
    """The database file of mode 0000 (a chmod by hand), rabtui run as its owner, not root: every
    command said the state directory was read-only, to be mounted read-write."""
    __import__("_strptime")      # read by rebuild-state: nobody may not import it from its file

    db = lab.state / "rabtui.db"
    with _given_to_nobody(lab):
        os.chmod(db, 0)
        before = _held(lab)
        for argv, expected in ((("status",), 1), (("find", "c"), 1), (("check",), 2), (("backup", "loc"), 1)):
            code, said = _as_nobody(lab, *argv)
            assert code == expected and "Traceback" not in said, (argv, said)
            assert f"the state database {db} cannot be read or written by this user (its mode 0000)" in said, said
            assert f"chmod u+rw {db}" in said and HINT in said and "read-only" not in said, (argv, said)
        assert _held(lab) == before
        code, said = _as_nobody(lab, "rebuild-state")
        assert code in (0, 3) and "backups: 1," in said, said
        assert _as_nobody(lab, "status")[0] == 0


@contextmanager
def _given_to_nobody(lab: Lab) -> Iterator[None]:
    """The whole lab the user nobody's, for _as_nobody, the test's directories above it passable."""
    nobody = pwd.getpwnam("nobody")
    for dirpath, dirs, files in os.walk(lab.tmp):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirs + files)]:
            os.lchown(name, nobody.pw_uid, nobody.pw_gid)
    closed = [p for p in lab.tmp.parents if not os.stat(p).st_mode & stat.S_IXOTH]
    for parent in closed:          # the test's temporary directories, root's: nobody passes through
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for parent in closed:
            os.chmod(parent, os.stat(parent).st_mode & ~stat.S_IXOTH)


def test_a_database_held_by_another_users_process_is_said_so(lab, short_busy_timeout):
    """rabtui run as the database's owner, not root, which holds it in a transaction (an operator's
    sqlite3 run as root): this user may not see root's open files, and every command that writes
    said "another rabtui process held it too long; run again", which failed again alike."""
    db = lab.state / "rabtui.db"
    with _given_to_nobody(lab):
        holder = subprocess.Popen([sys.executable, "-c", HOLD_EXCLUSIVE, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "held\n"
            code, said = _as_nobody(lab, "backup", "loc")
        finally:
            holder.communicate("\n", timeout=30)
    assert code == 1 and f"the state database {db} is busy" in said and "Traceback" not in said, said
    assert "another rabtui process" not in said and "another user's" in said and f"fuser -v {db}" in said, said


def test_a_burn_does_not_write_a_damaged_database_onto_its_discs(lab):
    """A damaged page of a table the burn does not read (the steps of the backups): the burn wrote its
    disc, and on it the copy of the database with that page, which rebuild-state later reads from it
    (write-once: the damage stays there); it is refused before its plan, nothing recorded or written."""
    db = lab.state / "rabtui.db"
    _damage_table(db, "backup_steps")
    before = _held(lab)
    code, out, err = _rabtui(lab, "checkpoint", "burn", "--yes", "--now")
    assert code == 1 and "Traceback" not in err, out + err
    assert f"the state database {db} is damaged: database disk image is malformed" in err and HINT in err, err
    assert _held(lab) == before and not (lab.tmp / "iso" / "RAB2D01.iso").exists()
    _rebuilt_holds_the_media(lab)


@pytest.mark.parametrize("argv", [("cleanup",), ("cleanup", "--dry-run"), ("run-due", "--now", "2027-01-01T03:00")])
def test_a_cleanup_is_not_planned_from_a_database_with_a_damaged_page(lab, argv):
    """What a cleanup deletes, for good, is judged from the database: one with a damaged page in a
    table its plan does not read (the steps of the backups) planned and ran as if whole, exit 0."""
    db = lab.state / "rabtui.db"
    _damage_table(db, "backup_steps")
    before = _held(lab)
    code, out, err = _rabtui(lab, *argv)
    assert code == 1 and "Traceback" not in err, out + err
    said = "rabtui: cleanup: the state database" if argv[0] == "run-due" else "rabtui: the state database"
    assert f"{said} {db} is damaged: database disk image is malformed" in err and HINT in err, err
    assert _held(lab) == before


@pytest.mark.parametrize("end,target", [("-wal", "nowhere/rabtui.db-wal"), ("-shm", "rabtui.db-shm")])
def test_a_wal_or_shm_that_is_a_symlink_leading_nowhere_is_said_as_that(lab, end, target):
    """A symlink to a directory that is not there, or to itself: every command said only "unable to
    open database file"."""
    db = lab.state / "rabtui.db"
    for name in ("rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)
    os.symlink(target, f"{db}{end}")
    _refused_by_all(lab, f"its {end} file {db}{end} is a symbolic link to {target}, which leads nowhere",
                    f"move {db}{end} away", HINT)
    _rebuilt_holds_the_media(lab)
