"""What another put at a running backup's backup.json.tmp (the room kept for its final record,
records.write_json_atomic) is never written through: a symlink, a hard link to another file, a
FIFO are taken away and the record written into a file of its own; a directory (what it holds
would go with it) stays, and the record goes through a file of another name. The backup completes
and what they led to is as it was. A real backup stopped at its step 4 (after step 3 kept the room)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests import invariants
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, ssh_source_lines, write_files


@pytest.mark.parametrize("planted", ["symlink", "hard link", "fifo"])
def test_what_is_planted_at_the_room_kept_is_not_written_through(tmp_path, planted):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": "a"})
    victim = lab.media[0][1] / "victim"
    run = None
    try:
        run = _stopped_at(lab, "backup.step4", "backup", "loc")
        victim.write_text("precious")
        row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
        room = os.path.join(row["path"], "backup.json.tmp")
        os.unlink(room)
        {"symlink": lambda: os.symlink(victim, room), "hard link": lambda: os.link(victim, room),
         "fifo": lambda: os.mkfifo(room)}[planted]()
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        _killed(run)
    assert run.returncode == 0, out
    assert victim.read_text() == "precious"
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "completed"
    assert sorted(os.listdir(row["path"])) == ["backup.json", "backup.log", "data"]
    invariants.check_json_agrees(lab.load(), lab.store())


def test_a_directory_planted_at_the_room_kept_stays_and_the_backup_completes(tmp_path, sshd):
    """A directory with another's files in it cannot be taken away without deleting them: it stays
    as it is, and the complete backup's record is written through a temporary file of another
    name, none of which is left. Real rsync over ssh."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = tmp_path / "remote"
    write_files(data, {"f": "a"})
    lab.write(ssh_source_lines(sshd, "loc") + f'\n[[sources.directories]]\npath = "{data}"\n')
    run = None
    try:
        run = _stopped_at(lab, "backup.step4", "backup", "loc")
        row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
        room = os.path.join(row["path"], "backup.json.tmp")
        os.unlink(room)
        os.mkdir(room)
        write_files(room, {"theirs": "precious"})
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=60)[0].decode()
    finally:
        _killed(run)
    assert run.returncode == 0, out
    assert os.listdir(room) == ["theirs"] and open(os.path.join(room, "theirs")).read() == "precious"
    with open(os.path.join(row["path"], "backup.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] == "completed"
    assert sorted(os.listdir(row["path"])) == ["backup.json", "backup.json.tmp", "backup.log", "data"]
    invariants.check_json_agrees(lab.load(), lab.store())
