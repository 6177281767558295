"""A medium swapped during a backup, after step 3 made the backup's directory, for a copy of itself
(on its own file system or on another one), or the backup's directory moved away and a copy put in
its place: what is at the medium's path still holds the backup's `data/`, but it is not where the
backup was written. The backup fails there (exit 1, "went away"), before rsync writes into the copy
(step 5) or before step 7 records anything: no catalog rows, no `completed` backup.json on either
disk, and nothing written into the copy. Real rsync, real files; the swap is a pre- or post-backup
command (or a stop at a fault point)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rabtui import faults
from tests import invariants, preloaded
from tests.trees import Lab, write_files
from tests.held import stopped as _stopped

ROOT = Path(__file__).resolve().parent.parent
DIRS = [("data", "standard"), ("photos", "archive")]


def _swap_command(how: str, medium: Path, aside: Path) -> str:
    """The shell command that swaps `medium` as `how` says; what was there goes to `aside`."""
    m, a = shlex.quote(str(medium)), shlex.quote(str(aside))
    if how == "copy on the same file system":
        return f"mv {m} {a} && cp -a {a} {m}"
    if how == "copy on another file system":     # the medium (a tmpfs) unplugged, its copy on the root one
        return f"cp -a {m} {a} && umount -l {m} && cp -a {a}/. {m}/"
    # the backup's directory (the newest of the source) moved away, a copy of it in its place
    return f'cd {m}/loc && d=$(ls -d backup-* | tail -n 1) && mv "$d" {a} && cp -a {a} "$d"'


def _status(backup_dir: Path) -> str | None:
    try:
        return json.loads((backup_dir / "backup.json").read_text())["status"]
    except FileNotFoundError:
        return None


def _lab(tmp_path: Path, tmpfs, how: str) -> Lab:
    """A local source `loc` (a standard and an archive directory) with one backup on m1."""
    lab = Lab(tmp_path, media_count=1)
    if how == "copy on another file system":
        tmpfs(lab.media[0][1], "size=16m")
    cfg = lab.local(DIRS)
    write_files(lab.src / "data", {"a": b"1", "sub/b": b"2"})
    write_files(lab.src / "photos", {"p1": b"photo1"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"c": b"3"})
    write_files(lab.src / "photos", {"p2": b"photo2"})
    return lab


def _nothing_recorded(lab: Lab, backup_id: int, *backup_dirs: Path) -> None:
    """The backup `backup_id` failed, with no catalog rows, and its directories `backup_dirs` (the
    copy at the medium's path, the one it began in) say neither completed nor failed."""
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE id=?", (backup_id,))["status"] == "failed"
    for table in ("versions", "others"):
        assert store.one(f"SELECT COUNT(*) FROM {table} WHERE first_backup=?", (backup_id,))[0] == 0
        assert store.one(f"SELECT COUNT(*) FROM {table} WHERE last_backup=?", (backup_id,))[0] == 0
    for d in backup_dirs:
        assert _status(d) in (None, "running"), d


@pytest.mark.parametrize("how", ["copy on the same file system", "copy on another file system",
                                 "copy of the backup's directory"])
@pytest.mark.parametrize("when", ["pre_backup_commands", "post_backup_commands"])
def test_a_medium_swapped_for_a_copy_after_step_3_records_nothing(tmp_path, tmpfs, how, when):
    lab = _lab(tmp_path, tmpfs, how)
    medium, aside = lab.media[0][1], tmp_path / "aside"
    step = 5 if when == "pre_backup_commands" else 7
    cfg = lab.local(DIRS, extra=f"{when} = [{json.dumps(_swap_command(how, medium, aside))}]")

    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("failed", 1), result.reason
    assert result.reason.startswith("medium m1 went away during the backup: ") \
        and "nothing of the backup is recorded" in result.reason, result.reason
    said = "not the directory the backup began in" if how == "copy of the backup's directory" \
        else "a copy of the medium is in its place"
    assert said in result.reason, result.reason
    failed = lab.store().one("SELECT state, message FROM backup_steps WHERE backup_id=? AND step=?",
                             (result.backup_id, step))
    assert failed["state"] == "failed" and failed["message"] == result.reason, dict(failed)

    copy = result.path
    began_in = aside if how == "copy of the backup's directory" else aside / "loc" / copy.name
    _nothing_recorded(lab, result.backup_id, copy, began_in)
    if step == 5:       # rsync wrote nothing into the copy, nor into the directory the backup began in
        assert os.listdir(copy / "data") == [] and os.listdir(began_in / "data") == []
    union = medium / "loc" / ".archive" / str(lab.src / "photos").lstrip("/")
    assert sorted(os.listdir(union)) == ["p1"]

    if how != "copy on another file system":     # (there the medium's mount point is empty: refused)
        again = lab.backup(lab.local(DIRS), medium_id="m1")
        assert again.status == "completed", again.reason
        first = lab.store().one("SELECT id FROM backups ORDER BY id LIMIT 1")["id"]
        assert lab.store().one("SELECT link_dest FROM backups WHERE id=?", (again.backup_id,))["link_dest"] == first


@pytest.mark.parametrize("point", ["backup.rsync_ended", "backup.archive_linked", "backup.catalog"])
def test_a_medium_swapped_between_rsync_and_the_record_records_nothing(tmp_path, point):
    """Stopped after a directory's rsync, after step 7 linked the archive's new files, or after it
    wrote the catalog: the medium swapped for a copy of itself meanwhile, the backup fails; neither
    the copy nor the disk it began on holds a completed backup.json. What step 7 wrote is left with
    its row running for the next run, which keeps the data on the disk at the path (undone by the
    run itself, its row said failed and its backup.json running: the data whole, never kept)."""
    lab = _lab(tmp_path, None, "copy on the same file system")
    medium, aside = lab.media[0][1], tmp_path / "aside"
    run = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                          cwd=ROOT, env={**os.environ, faults.STOP_ENV: point},
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(run.pid):
            assert run.poll() is None and time.monotonic() < deadline, f"the backup did not reach {point}"
            time.sleep(0.05)
        subprocess.run(_swap_command("copy on the same file system", medium, aside), shell=True, check=True)
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
            run.send_signal(signal.SIGCONT)
            run.wait(timeout=30)
    assert run.returncode == 1 and "Traceback" not in out, out
    assert "medium m1 went away during the backup" in out and "a copy of the medium is in its place" in out, out
    row = lab.store().one("SELECT id, name FROM backups ORDER BY id DESC LIMIT 1")
    union = medium / "loc" / ".archive" / str(lab.src / "photos").lstrip("/")
    if point == "backup.rsync_ended":
        _nothing_recorded(lab, row["id"], medium / "loc" / row["name"], aside / "loc" / row["name"])
        assert sorted(os.listdir(union)) == ["p1"]
    else:
        # what step 7 linked into the union is left with its row running, for the next run to undo
        # there and keep the data, whole (the disk at the path is the medium by its label)
        assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "running"
        for d in (medium / "loc" / row["name"], aside / "loc" / row["name"]):
            assert _status(d) in (None, "running"), d
    again = lab.backup(lab.load(), medium_id="m1")
    assert again.status == "completed", again.reason
    if point != "backup.rsync_ended":
        assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
        assert sorted(os.listdir(union)) == ["p1", "p2"]
        assert os.stat(union / "p2").st_ino == os.stat(again.path / "data" / str(lab.src / "photos").lstrip("/")
                                                       / "p2").st_ino
        invariants.check_json_agrees(lab.load(), lab.store())
        invariants.check_catalog_is_media(lab.load(), lab.store())
