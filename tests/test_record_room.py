"""The final backup.json fits the room kept for it on the medium (records.ROOM) whatever the
directories' rsync errors say: three directories each with ten files rsync cannot read on the source
under hostile long names (4,000-byte paths of bytes that are no UTF-8, each escaped in rsync's lines)
give messages, a step 5 message and a reason of tens of KB each. Real rsync over the test sshd, as
tests/test_unreadable_on_source.py runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
from datetime import datetime

import pytest

from rabtui.backup import record_bound
from rabtui.backup.records import ROOM
from rabtui.errors import EXIT_WARNINGS
from tests.test_medium_identity import _killed, _stopped_at
from tests.test_unreadable_on_source import BLIND
from tests.trees import Lab, fill_up, ssh_source_lines

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root and setpriv to close files to the source's rsync")

HOSTILE = bytes(range(0x80, 0xff)) * 2     # 254 bytes, none of them UTF-8 on its own


def _closed_files(top: bytes, count: int) -> None:
    """`count` files closed to the source's rsync (mode 0), each at a path of about 4,000 bytes."""
    deep = top
    while len(deep) < 3600:
        deep += b"/" + HOSTILE
    os.makedirs(deep)
    for i in range(count):
        path = deep + b"/" + HOSTILE[:250] + b"%02d" % i
        with open(path, "wb") as f:
            f.write(b"x")
        os.chmod(path, 0)


def _hostile(lab: Lab, sshd):
    """Source `web`: three directories, each with a readable file and twelve it cannot read."""
    lab.trust(sshd)
    lines = ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n'
    for n in range(3):
        top = lab.src / f"d{n}"
        _closed_files(os.fsencode(top), 12)
        (top / "ok").write_bytes(b"readable")
        lines += f'[[sources.directories]]\npath = "{top}"\n'
    return lab.write(lines)


def test_the_final_record_fits_the_room_kept(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    result = lab.backup(_hostile(lab, sshd), "web", now=datetime(2026, 7, 1, 3, 0))
    assert result.status == "warnings", result.reason
    record = (result.path / "backup.json").read_bytes()
    assert len(record) <= ROOM
    info = json.loads(record)
    assert info["status"] == "warnings" and len(info["directories"]) == 3
    # each name longer than unreadable.py's bound: all twelve counted, none named
    assert [(d["state"], len(d["unreadable"]) + d["unreadable_unnamed"]) for d in info["directories"]] == [
        ("warning", 12)] * 3
    # the database keeps the whole reason; the record its first lines and how much was cut
    row = lab.store().one("SELECT reason FROM backups WHERE id=?", (result.backup_id,))
    assert len(row["reason"]) > ROOM
    assert row["reason"].startswith(info["reason"].split(" [")[0][:200])
    assert "cut" in info["reason"]


def test_names_past_the_room_are_counted_not_named():
    """Many directories, each with its names of paths not read and of files with holes at their own
    bound: the last names are left out of the record (counted unnamed), the record fits."""
    names = ["n%04d-" % i + "\udc80" * 40 for i in range(30)]
    data = {"status": "warnings", "reason": "r" * 100_000, "steps": [{"message": "; ".join(["line"] * 9000)}],
            "directories": [{"message": None, "unreadable": list(names), "unreadable_unnamed": 2,
                             "holes": {f"h{i}-" + "x" * 200: 1 << 20 for i in range(40)}} for _ in range(12)]}
    out = record_bound.bounded(data, ROOM)
    assert len(record_bound.encoded(out)) <= ROOM
    dirs = out["directories"]
    assert all(len(d["unreadable"]) + d["unreadable_unnamed"] == 32 for d in dirs)
    assert all(d["unreadable"] == names[:len(d["unreadable"])] for d in dirs)
    assert 0 < sum(len(d["unreadable"]) for d in dirs) < 12 * 30     # the holes' names went first
    assert all(d["holes"] == {} for d in dirs)
    assert out["reason"].startswith("rrrr") and out["reason"].endswith("more characters cut to fit backup.json]")
    assert out["steps"][0]["message"].startswith("line; line") and " [... " in out["steps"][0]["message"]
    assert record_bound.bounded({"reason": "short"}, ROOM) == {"reason": "short"}
    assert data["reason"] == "r" * 100_000 and len(data["directories"][0]["holes"]) == 40    # (a copy cut)


def test_a_medium_full_at_the_final_record_keeps_the_backup_complete(tmp_path, sshd, tmpfs):
    """The medium filled up (every block) at the end of step 7 of that backup: its final record
    goes into the room kept, and the backup ends with its warnings, on the medium and in the database."""
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m")
    _hostile(lab, sshd)
    run = None
    said = tmp_path / "out"
    try:
        with open(said, "wb") as out:    # (it says each directory's rsync errors in full: more than a pipe holds)
            run = _stopped_at(lab, "backup.catalog", "backup", "web", out=out)
            fill_up(medium / "filler")
            assert os.statvfs(medium).f_bavail == 0
            run.send_signal(signal.SIGCONT)
            run.wait(timeout=120)
    finally:
        _killed(run)
    text = said.read_text(errors="replace")
    assert run.returncode == EXIT_WARNINGS and "Traceback" not in text, text[-3000:]
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "warnings"
    record = (medium / "web" / row["name"] / "backup.json").read_bytes()
    assert len(record) <= ROOM and json.loads(record)["status"] == "warnings"
    assert len([p for p in (medium / "web" / row["name"]).rglob("ok")]) == 3


def test_names_past_the_room_said_not_written_on_the_medium_are_cut_with_them():
    """Names of files the medium could not hold are `unreadable` names listed again in `unmade`:
    a name cut from the first is cut from the second, the record fits."""
    names = ["n%04d-" % i + "\udc80" * 40 for i in range(30)]
    data = {"status": "warnings", "directories": [{"message": None, "unreadable": list(names), "unreadable_unnamed": 0,
                                                   "unmade": list(names)} for _ in range(12)]}
    out = record_bound.bounded(data, ROOM)
    assert len(record_bound.encoded(out)) <= ROOM
    dirs = out["directories"]
    assert all(d["unmade"] == d["unreadable"] for d in dirs)
    assert 0 < sum(len(d["unreadable"]) for d in dirs) < 12 * 30
    assert all(len(d["unreadable"]) + d["unreadable_unnamed"] == 30 for d in dirs)
