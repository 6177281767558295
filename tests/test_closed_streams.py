"""rabtui started with its standard output, error or input closed (`rabtui run-due >&-` in a crontab,
for `>/dev/null`; a service manager that gives none): Python leaves sys.stdout None, and the first
files rabtui opens (the state database, a medium's files) would take descriptors 0-2, where the
programs it starts and anything written to "stdout" would land (it ended in a traceback at its first
line of output, before any backup). The closed streams are /dev/null from the start: the command
runs as with its output thrown away, no traceback, nothing written into rabtui's own files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.trees import Lab, write_files

ROOT = Path(__file__).resolve().parent.parent


def _closed(fds):
    def close():
        for fd in fds:
            os.close(fd)
    return close


def test_a_command_with_its_standard_streams_closed_runs_as_with_them_thrown_away(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"one", "b": b"two"})
    lab.local(extra='pre_backup_commands = ["echo said on stdout; echo said on stderr >&2"]')
    err = tmp_path / "err"
    with open(err, "wb") as f:
        done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                              cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                              preexec_fn=_closed((0, 1, 2)), timeout=120)
    said = err.read_bytes()
    assert done.returncode == 0 and b"Traceback" not in said, (done.returncode, said[-800:])
    store = lab.store()
    assert [r["status"] for r in store.all("SELECT status FROM backups")] == ["completed"]
    store.close()
    with sqlite3.connect(lab.state / "rabtui.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    medium = lab.media[0][1]
    for record in [medium / ".rabtui-medium", *medium.glob("loc/backup-*/backup.json")]:
        json.loads(record.read_bytes())     # no line printed into it
