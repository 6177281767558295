"""A killed run recorded abandoned by a recovery while its directory stays on the medium: its
backup.json says so too, with the same reason (DESIGN: backup.json and the database agree after
any recovery), and a run that deletes that directory later says so in its row. It said `running`
on the medium until the next backup onto it deleted it, and the row's reason still said it was
found running by rebuild-state once it was gone. Real rsync, the real process killed (SIGKILL)."""

from __future__ import annotations

import os

from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _backed_up_on_m1, _change, _files, _killed, _killed_then_away, _local_lab, rabtui


def _agree(lab, row) -> dict:
    """The killed run's row now, checked against its backup.json."""
    store = lab.store()
    now = store.one("SELECT * FROM backups WHERE medium=? AND name=?", (row["medium"], row["name"]))
    info = medium_layout.read_backup_json(row["path"])
    assert info is not None and (info["status"], info["reason"]) == (now["status"], now["reason"]), (dict(now), info)
    assert all(s["state"] not in ("running", "pending") for s in info["steps"]), info["steps"]
    return now


def test_rebuild_state_writes_a_killed_runs_record_as_it_records_it(tmp_path):
    lab, cfg = _local_lab(tmp_path)
    assert lab.backup(cfg).status == "completed"
    _change(lab)
    # killed during its transfer (one killed after it is kept: test_killed_after_transfer.py)
    _killed(rabtui(lab, "backup", "loc", point="backup.rsync_ended"))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    for path in lab.state.glob("rabtui.db*"):
        os.unlink(path)

    done = rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    row = _agree(lab, killed)
    assert row["status"] == "abandoned" and "found running by rebuild-state" in row["reason"], dict(row)
    # the next backup onto the medium deletes it, and its row says so
    assert lab.backup(cfg).status == "completed"
    assert not os.path.lexists(killed["path"])
    gone = lab.store().one("SELECT status, reason FROM backups WHERE name=?", (killed["name"],))
    assert gone["status"] == "abandoned" and gone["reason"].endswith("its partial directory was deleted"), dict(gone)
    invariants.check_json_agrees(cfg, lab.store())
    invariants.check_catalog_is_media(cfg, lab.store())


def test_a_cleanup_writes_the_record_of_a_run_marked_abandoned_while_its_medium_was_away(tmp_path):
    """The next run (of an earlier rabtui) marked the killed run abandoned while its medium was away
    (nothing on it could be written); the medium back, a cleanup (within the day it keeps such a
    run) says so in its record."""
    lab, cfg, store, copies = _backed_up_on_m1(tmp_path)
    _files(lab.src / "arch", {"x": b"x2" * 10})
    killed = _killed_then_away(lab, cfg, "loc", copies, earlier=True)
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    cleanup = rabtui(lab, "cleanup")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    _agree(lab, killed)
    assert lab.backup(cfg, medium_id="m1").status == "completed"     # deletes it, its links undone
    assert any(f"found the interrupted backup {killed['name']} on medium m1, now mounted: 1 archive link(s) undone"
               in m for m in lab.messages("warning")), lab.messages("warning")
    assert not os.path.lexists(killed["path"])
    invariants.check_catalog_is_media(cfg, store)



def test_a_record_is_written_only_when_it_says_running_and_through_no_symlink(tmp_path):
    """killed_record.say_abandoned: a `running` record says abandoned with the reason, its steps
    ended; any other record is left as it is; none is written through a symlink on the way from the
    medium (the source's directory, or the backup's, planted off it)."""
    import json

    from rabtui.backup import killed_record

    medium, elsewhere = tmp_path / "medium", tmp_path / "elsewhere"

    def record(root, name: str, status: str) -> os.PathLike:
        path = root / "loc" / name
        path.mkdir(parents=True)
        (path / "backup.json").write_text(json.dumps({"status": status, "reason": None, "steps": [
            {"state": "ok"}, {"state": "running"}, {"state": "pending"}]}))
        return path / "backup.json"

    running, complete = record(medium, "backup-20260101000000", "running"), record(medium, "backup-20260102000000",
                                                                                     "completed")
    assert killed_record.say_abandoned(medium, "loc", "backup-20260101000000", "killed") is None
    assert json.loads(running.read_text()) == {"status": "abandoned", "reason": "killed", "finished": None,
                                               "steps": [{"state": "ok"}, {"state": "failed"}, {"state": "skipped"}]}
    assert killed_record.say_abandoned(medium, "loc", "backup-20260102000000", "killed") is None
    assert json.loads(complete.read_text())["status"] == "completed"
    theirs = record(elsewhere, "backup-20260103000000", "running")
    os.symlink(theirs.parent, medium / "loc" / "backup-20260103000000")
    said = killed_record.say_abandoned(medium, "loc", "backup-20260103000000", "killed")
    assert said and "is a symlink, which rabtui never makes" in said, said
    os.rename(medium / "loc", tmp_path / "aside")
    os.symlink(elsewhere / "loc", medium / "loc")
    said = killed_record.say_abandoned(medium, "loc", "backup-20260103000000", "killed")
    assert said and f"{medium / 'loc'} is a symlink" in said, said
    assert json.loads(theirs.read_text())["status"] == "running"
