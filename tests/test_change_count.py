"""The changed-files trigger with media in rotation: real backups onto three media and real
checkpoints (xorriso, `images:` drive). A file counts once since its directory's last checkpoint,
whatever the number of media it was saved on; a medium back from the drawer adds nothing the
checkpoint holds; changes seen after the checkpoint's content was taken stay counted."""

from __future__ import annotations

import json
import os
import threading

from rabtui.rebuild import scan as rebuild
from rabtui.checkpoint import prepare, run
from rabtui.cli import main as cli_main
from rabtui.events import READY, ScriptedPrompter
from rabtui.state import changes
from rabtui.state.store import Store
from tests.trees import Lab, next_second, write_files

_clock = [1_700_000_000]


def _files(root, files: dict) -> None:
    """Write files, each with an mtime of its own (rsync's quick check never hides a change)."""
    write_files(root, files)
    for rel in files:
        _clock[0] += 10
        os.utime(os.path.join(root, rel), (_clock[0], _clock[0]))


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=3)
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("photos", "archive")])
    _files(lab.src / "data", {f"f{i:02d}": b"d%d" % i * 50 for i in range(20)})
    _files(lab.src / "photos", {f"p{i}.jpg": b"p%d" % i * 80 for i in range(5)})
    return lab, cfg


def _backups(lab, cfg, *media_ids):
    for mid in media_ids:
        result = lab.backup(cfg, medium_id=mid)
        assert result.status == "completed", result.reason


def _counts(lab) -> dict[str, int]:
    rows = lab.store().all("SELECT path, changed_since_checkpoint FROM dir_state")
    return {os.path.basename(r["path"]): r["changed_since_checkpoint"] for r in rows}


def _checkpoint(lab, cfg, *, before_burn=None) -> int:
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    if before_burn:
        before_burn()
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    return number


def test_rotation_counts_each_changed_file_once(tmp_path, capsys):
    lab, cfg = _lab(tmp_path)
    _backups(lab, cfg, "m1", "m2", "m3")
    # never checkpointed: every file is new, once, though each medium got a whole copy
    assert _counts(lab) == {"data": 20, "photos": 5}
    _backups(lab, cfg, "m1", "m2", "m3")
    assert _counts(lab) == {"data": 20, "photos": 5}       # no change at the source: no rise

    # f00 changes and is saved on m3 only; the checkpoint takes m3's state
    _files(lab.src / "data", {"f00": b"changed before the checkpoint"})
    _backups(lab, cfg, "m3")
    assert _counts(lab) == {"data": 20, "photos": 5}
    # a rebuilt state knows backups to the second (their names): the checkpoint a second apart
    next_second()
    _checkpoint(lab, cfg)
    next_second()
    assert _counts(lab) == {"data": 0, "photos": 0}
    # m1 and m2 come back from the drawer: they get f00 as new to them, which the checkpoint holds
    _backups(lab, cfg, "m1", "m2", "m3")
    assert _counts(lab) == {"data": 0, "photos": 0}

    # one file changed and one photo added: one each, after backups on all three media
    _files(lab.src / "data", {"f01": b"changed after the checkpoint"})
    _files(lab.src / "photos", {"new.jpg": b"n" * 90})
    _backups(lab, cfg, "m1", "m2", "m3")
    assert _counts(lab) == {"data": 1, "photos": 1}
    _files(lab.src / "data", {"f01": b"changed again, the same file"})
    _backups(lab, cfg, "m2", "m1")
    assert _counts(lab) == {"data": 1, "photos": 1}

    assert cli_main(["--config", str(lab.config_path), "checkpoint", "status", "--json"]) == 0
    shown = {os.path.basename(d["path"]): d["changed"] for d in json.loads(capsys.readouterr().out)["directories"]}
    assert shown == {"data": 1, "photos": 1}

    # a database made before the changes were kept: counted again from the catalog when opened
    store = lab.store()
    store.execute("DROP TABLE changes")
    store.execute("UPDATE dir_state SET changed_since_checkpoint=99")
    store.close()
    assert _counts(lab) == {"data": 1, "photos": 1}
    # rebuild-state: the same from the media and the discs alone
    lab.lose_database()
    rebuild.rebuild(cfg, Store(lab.state))
    assert _counts(lab) == {"data": 1, "photos": 1}


def test_a_checkpoint_keeps_changes_its_content_does_not_hold(tmp_path):
    lab, cfg = _lab(tmp_path)
    _backups(lab, cfg, "m1", "m2")
    # a photo saved on m1 only, then gone from the source: the archive on m2 never had it
    _files(lab.src / "photos", {"only-m1.jpg": b"o" * 70})
    _backups(lab, cfg, "m1")
    os.unlink(lab.src / "photos" / "only-m1.jpg")
    _files(lab.src / "data", {"f02": b"changed before the content backup"})
    _backups(lab, cfg, "m2")                                 # the newest backup: the checkpoint's content

    def while_planned():
        # a change seen after the content was taken, before the discs are done
        _files(lab.src / "data", {"f03": b"changed while the checkpoint was planned"})
        _backups(lab, cfg, "m1")

    _checkpoint(lab, cfg, before_burn=while_planned)
    # f02 (held by the checkpoint) is covered; f03 is not; a standard directory's content replaces
    # what older backups saw, but an archive keeps files the content's medium never had
    assert _counts(lab) == {"data": 1, "photos": 1}
    _backups(lab, cfg, "m2")
    assert _counts(lab) == {"data": 1, "photos": 1}


def test_a_directory_added_later_counts_its_files_beside_one_counted_before(tmp_path):
    """A backup whose directories are counted two ways: one with changes already (each file looked
    up, counted once), one backed up for the first time (each file a change of its own)."""
    lab, cfg = _lab(tmp_path)
    _backups(lab, cfg, "m1", "m2")
    assert _counts(lab) == {"data": 20, "photos": 5}
    (lab.src / "mail").mkdir()
    _files(lab.src / "mail", {f"m{i}": b"mail %d" % i for i in range(7)})
    _files(lab.src / "data", {"f00": b"changed", "f20": b"new"})
    text = lab.config_path.read_text()
    mail = f'[[sources.directories]]\npath = "{lab.src / "mail"}"\n'
    lab.config_path.write_text(text.replace("\n[checkpoint]", f"{mail}\n[checkpoint]"))
    cfg = lab.load()
    _backups(lab, cfg, "m3", "m1")
    # data: 20 files, one changed (still one file) and one new; mail: 7 files, whatever the media
    assert _counts(lab) == {"data": 21, "photos": 5, "mail": 7}
    store = lab.store()
    assert store.one("SELECT COUNT(*) FROM changes WHERE dir=?", (str(lab.src / "mail"),))[0] == 7
    assert store.one("SELECT COUNT(*) FROM changes WHERE dir=?", (str(lab.src / "data"),))[0] == 22


def test_a_file_counts_in_the_wider_directory_configured_after_its_own(tmp_path):
    """A directory configured later around the one a path was first seen in (its first backup,
    counted the quick way) counts the path's new versions: a checkpoint of it has to hold them (they
    were counted for the inner directory, no longer configured, and the outer one's trigger never
    saw them)."""
    from tests.invariants import check_change_counters

    lab = Lab(tmp_path)
    _files(lab.src / "d" / "sub", {f"s{i}": b"sub %d" % i for i in range(4)})
    _files(lab.src / "d", {"top": b"top"})
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "d" / "sub"}"\n')
    _backups(lab, lab.load(), "m1")
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "d"}"\n')
    _files(lab.src / "d" / "sub", {"s0": b"changed"})
    _backups(lab, lab.load(), "m1")
    check_change_counters(lab.store())
    assert _counts(lab) == {"sub": 4, "d": 2}
    # s0's new version is a change of the directory configured now (what a checkpoint of it holds)
    rows = lab.store().all("SELECT dir FROM changes")
    assert sorted(os.path.basename(r["dir"]) for r in rows) == ["d"] * 2 + ["sub"] * 4


def test_a_version_back_after_the_checkpoint_stays_counted_when_the_changes_are_rebuilt(tmp_path):
    """A file changed and then back as it was before the checkpoint (same size and time): the
    backup after the checkpoint wrote that version again, a change the checkpoint does not hold.
    The changes made anew from the catalog (rebuild-state, a checkpoint abandoned) count it still:
    they took its first backup, one the checkpoint covers, and dropped it."""
    lab, cfg = _lab(tmp_path)
    data = lab.src / "data"
    was = os.stat(data / "f00")
    _backups(lab, cfg, "m1")
    _files(data, {"f00": b"changed, longer than it was"})
    _backups(lab, cfg, "m1")
    _checkpoint(lab, cfg)
    assert _counts(lab)["data"] == 0
    write_files(data, {"f00": b"d0" * 50})
    os.utime(data / "f00", ns=(was.st_atime_ns, was.st_mtime_ns))
    _backups(lab, cfg, "m1")
    assert _counts(lab)["data"] == 1
    store = lab.store()
    with store.transaction() as conn:
        changes.rebuild(conn)
    assert _counts(lab)["data"] == 1
