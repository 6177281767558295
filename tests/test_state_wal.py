"""A database never meets the -wal of another: SQLite replays whatever `rabtui.db-wal` lies beside
a database onto it, whoever's it was. A -wal left by a lost database (its file deleted, the -wal
not) is kept aside when a new database is made, not replayed into it; and a database that a -wal
of another damaged is reported as that, naming the -wal."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from rabtui.state.store import Store
from tests.test_state_damage import _backed_up_lab, _rabtui

KILLED_WRITER = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA wal_autocheckpoint=0")
for i in range(300):
    db.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (1, 1, 'log', ?)", ("x" * 3000,))
db.execute("DELETE FROM events WHERE id > 3")
os.kill(os.getpid(), signal.SIGKILL)
"""


def _leave_wal(db: Path) -> None:
    """A writer killed with its transactions in the -wal only."""
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db)], check=False)
    assert os.path.getsize(f"{db}-wal") > 100_000


def test_a_wal_left_by_a_lost_database_is_not_replayed_into_the_new_one(tmp_path):
    lab = _backed_up_lab(tmp_path)
    db = lab.state / "rabtui.db"
    _leave_wal(db)
    wal = Path(f"{db}-wal").read_bytes()
    db.unlink()                           # the database is lost; its -wal stays

    done = _rabtui(lab, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM backups").fetchone()[0] == 0
    finally:
        conn.close()
    kept = [p for p in lab.state.iterdir() if p.name.startswith("rabtui.db-wal.left-")]
    assert len(kept) == 1 and kept[0].read_bytes() == wal, sorted(os.listdir(lab.state))
    assert kept[0].stat().st_mode & 0o777 == 0o600


def test_a_database_damaged_by_the_wal_of_another_says_so(tmp_path):
    """A database put in place by hand (a copy of another state directory's) beside the -wal of the
    one it replaces: SQLite replays that -wal onto it."""
    lab = _backed_up_lab(tmp_path)
    db = lab.state / "rabtui.db"
    _leave_wal(db)
    other = tmp_path / "other"
    other.mkdir()
    store = Store(other)
    try:
        for _ in range(100):
            store.execute("INSERT INTO paths(source, dir, path) VALUES ('s', 'd', ?)", (os.urandom(200),))
    finally:
        store.close()
    shutil.copy(other / "rabtui.db", db)

    done = _rabtui(lab, "find", "a")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert f"the state database {db} is damaged" in done.stderr, done.stderr
    assert f"{db}-wal" in done.stderr and "another database" in done.stderr, done.stderr


def test_backups_the_database_lost_with_its_wal_are_said_by_check(tmp_path):
    """The database's -wal lost (deleted, or an older copy of the database put back): the backups it
    recorded are on the medium, and find, restore, cleanup and checkpoints do not see them. `check`
    says which medium holds them and that rebuild-state records them; not before, nor after it."""
    lab = _backed_up_lab(tmp_path)
    db = lab.state / "rabtui.db"
    done = _rabtui(lab, "check")
    assert "does not know" not in done.stdout, done.stdout
    older = tmp_path / "older.db"
    shutil.copy(db, older)                 # the command closed it: its -wal is in the file
    assert _rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    newest = sorted(p.name for p in (lab.media[0][1] / "loc").iterdir() if p.name.startswith("backup-"))[-1]
    for name in ("rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)
    shutil.copy(older, db)
    done = _rabtui(lab, "check")
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr, done.stderr
    line = next(line for line in done.stdout.splitlines() if "does not know" in line)
    assert line.startswith("WARNING: medium m1: 1 backup") and f"loc/{newest}" in line and "rebuild-state" in line
    assert _rabtui(lab, "rebuild-state").returncode in (0, 3)
    done = _rabtui(lab, "check")
    assert "does not know" not in done.stdout, done.stdout
