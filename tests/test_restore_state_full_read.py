"""How a restore reads the state database when its directory is too full for SQLite's -shm (a real
small tmpfs filled to its last byte, real rsync backups). It read the file alone, with SQLite's
immutable=1: the pages a crash left in the -wal were not read (the restore refused, "is full"), and
another process writing the database meanwhile (room freed) had its checkpoint read half-way: rows
missing without a word, or "database disk image is malformed". Now it reads the database under
SQLite's exclusive lock, the -wal's pages with it, and keeps writers out until it is done."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from rabtui.state.store import Store
from tests.test_state_dir_full import _lab_on, _rabtui
from tests.trees import fill_up

WRITER = """
import sqlite3, sys
other = sqlite3.connect(sys.argv[1], timeout=0.2, isolation_level=None)
try:
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("UPDATE backups SET name = name || '-renamed'")
except sqlite3.OperationalError as exc:
    print(exc)
"""


def test_a_restore_onto_a_full_state_directory_reads_the_pages_a_crash_left_in_the_wal(tmp_path, tmpfs):
    lab = _lab_on(tmp_path, tmpfs, "size=6m")
    db = lab.state / "rabtui.db"
    data = lab.src / "data"
    (data / "a").write_bytes(b"v2" * 200)
    held = sqlite3.connect(db)      # open: the second backup's close leaves its pages in the -wal
    held.execute("SELECT count(*) FROM backups").fetchone()
    done = _rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stderr
    for name in ("rabtui.db", "rabtui.db-wal"):      # the files as a crash leaves them
        shutil.copy(lab.state / name, tmp_path / name)
    held.close()
    for name in ("rabtui.db", "rabtui.db-wal"):
        shutil.copy(tmp_path / name, lab.state / name)
    assert os.path.getsize(lab.state / "rabtui.db-wal") > 32 and not os.path.exists(lab.state / "rabtui.db-shm")
    fill_up(lab.state.parent / "filler")

    got = _rabtui(lab, "restore", "loc", str(data / "a"), "--to", str(tmp_path / "out"))
    assert got.returncode == 3 and "Traceback" not in got.stderr, got.stdout + got.stderr
    assert "restore's record could not be written" in got.stderr, got.stderr
    assert (tmp_path / "out" / str(data).lstrip("/") / "a").read_bytes() == b"v2" * 200


def test_a_database_read_while_its_directory_is_full_is_not_written_by_another_meanwhile(tmp_path, tmpfs):
    lab = _lab_on(tmp_path, tmpfs, "size=6m")
    fill_up(lab.state.parent / "filler")
    reader = Store(lab.state, full_ok=True)
    try:
        before = [tuple(r) for r in reader.all("SELECT id, name, medium, status FROM backups ORDER BY id")]
        os.unlink(lab.state.parent / "filler")      # room again, mid-restore: a backup may start
        other = sqlite3.connect(lab.state / "rabtui.db", timeout=0.2, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE backups SET name = name || '-renamed'")
            other.executemany("INSERT INTO events(job_id, ts, kind, message) VALUES (NULL, 1, 'x', ?)",
                              ((os.urandom(2000).hex(),) for _ in range(600)))
            other.execute("COMMIT")
        other.close()
        assert reader.one("PRAGMA quick_check")[0] == "ok"
        assert [tuple(r) for r in reader.all("SELECT id, name, medium, status FROM backups ORDER BY id")] == before
    finally:
        reader.close()
    assert Store(lab.state).one("SELECT count(*) FROM backups")[0] == len(before)


def test_the_file_read_alone_for_want_of_inodes_is_not_written_by_another_meanwhile(tmp_path, tmpfs):
    """No inode left for even the -wal: the file is read alone (immutable=1), SQLite taking no lock
    on it; inodes freed mid-read, another process wrote and folded its -wal into the file under the
    reader. The reader now holds the lock a writer needs to read the file at all."""
    lab = _lab_on(tmp_path, tmpfs, "size=20m,nr_inodes=400")
    store = lab.store()
    store.one("SELECT 1")
    store.close()
    made = []
    for i in range(400):
        try:
            (lab.state.parent / f"f{i}").touch()
        except OSError:
            break
        made.append(lab.state.parent / f"f{i}")
    reader = Store(lab.state, full_ok=True)
    try:
        before = [tuple(r) for r in reader.all("SELECT id, name, medium, status FROM backups ORDER BY id")]
        for p in made[-10:]:
            p.unlink()
        other = subprocess.run([sys.executable, "-c", WRITER, str(lab.state / "rabtui.db")],
                               capture_output=True, text=True, timeout=60)    # a lock of this process is not its own
        assert other.stdout.strip() == "database is locked", other.stdout + other.stderr
        assert [tuple(r) for r in reader.all("SELECT id, name, medium, status FROM backups ORDER BY id")] == before
    finally:
        reader.close()
    for p in made[:-10]:
        p.unlink()
    assert Store(lab.state).one("SELECT count(*) FROM backups")[0] == len(before)
