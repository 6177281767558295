"""Which copy a restore without --backup reads, and what it says about it, when the copies cannot
be told apart by date or by size and mtime alone: a file rewritten with its mtime kept (touch -r,
databases, VM images), a checkpoint whose content backup is not recorded (a state database rebuilt
from discs). Real rsync backups on media that are directories (one renamed away plays "not
mounted") and checkpoint ISOs written by an images: drive."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta

from rabtui.checkpoint import prepare, run
from rabtui.events import READY, WARNING, ScriptedPrompter
from rabtui.restore import run as R
from tests.trees import Lab, sandbox_fixtures, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)
KEPT_MTIME = 1_700_000_000


def _away(path):
    away = path.with_name(path.name + "-away")
    path.rename(away)
    return away


def _checkpoint(cfg, store, asked=None) -> int:
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    return number


def _restored(tmp_path, name, path) -> bytes:
    return (tmp_path / name / str(path).lstrip("/")).read_bytes()


def _old_on_disc_newer_on_m2(tmp_path):
    """`data/a.txt` OLD backed up on m1 and checkpointed from there; NEWER backed up on m2 a day later."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a.txt": b"OLD"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    store = lab.store()
    number = _checkpoint(cfg, store)
    write_files(lab.src / "data", {"a.txt": b"NEWER"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    return lab, cfg, store, number


_sandbox_made, old_on_disc = sandbox_fixtures(_old_on_disc_newer_on_m2, "old_on_disc", media_count=2)


def _forget_content_backup(store, number):
    """The checkpoint as a database rebuilt from discs that do not name their backup has it: no
    content backup, made (as far as it knows) after every backup."""
    store.execute("UPDATE checkpoint_dirs SET backup_id=NULL WHERE number=?", (number,))
    store.execute("UPDATE checkpoints SET created=? WHERE number=?",
                  ((T0 + timedelta(days=30)).timestamp(), number))


def test_a_file_of_the_same_size_and_mtime_is_not_called_the_same(tmp_path):
    """The newest medium is away and the copy at hand has the same size and mtime: the same version
    as the backups tell them apart (rsync's test), but the backups keep no checksum, so the restore
    says that only size and mtime agree (a file rewritten with its mtime kept would pass)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    f = lab.src / "data" / "a.txt"
    write_files(lab.src / "data", {"a.txt": b"OLD-CONTENT"})
    os.utime(f, (KEPT_MTIME, KEPT_MTIME))
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    f.write_bytes(b"NEW-CONTENT")
    os.utime(f, (KEPT_MTIME, KEPT_MTIME))
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    _away(lab.media[1][1])

    res = R.restore(cfg, lab.store(), "loc", str(f), to=tmp_path / "out", emit=lab.emit)
    assert _restored(tmp_path, "out", f) == b"OLD-CONTENT"
    assert res.origin.endswith("on m1") and res.warnings == []
    said = [m for m in lab.messages(WARNING) if "same size and mtime" in m]
    assert said and "not known to be the same" in said[0] and "m2" in said[0]
    assert not any("holds the same as the newest copy" in m for m in lab.messages(WARNING))


def test_after_rebuild_state_a_checkpoint_of_old_content_does_not_outrank_a_newer_backup(old_on_disc, tmp_path):
    """The state database is lost and rebuilt from media and discs: the checkpoint keeps the backup
    its README names as its content backup, and a restore with every copy at hand gives the newer
    backup's content, silently."""
    from rabtui.rebuild import scan as rebuild
    from rabtui.state.store import Store

    lab, cfg, store, number = old_on_disc
    f = lab.src / "data" / "a.txt"
    before = store.one("SELECT backup_id FROM checkpoint_dirs WHERE number=?", (number,))["backup_id"]
    made = store.one("SELECT created FROM checkpoints WHERE number=?", (number,))["created"]
    store.close()
    lab.lose_database()
    store = Store(lab.state)
    rebuild.rebuild(cfg, store)

    assert store.one("SELECT backup_id FROM checkpoint_dirs WHERE number=?", (number,))["backup_id"] == before
    assert abs(store.one("SELECT created FROM checkpoints WHERE number=?", (number,))["created"] - made) < 1
    assert store.one("SELECT state FROM discs WHERE number=?", (number,))["state"] == "verified"
    res = R.restore(cfg, store, "loc", str(f), to=tmp_path / "after", emit=lab.emit)
    assert _restored(tmp_path, "after", f) == b"NEWER", (res.origin, res.warnings)
    assert res.origin.endswith("on m2") and res.warnings == []


def test_a_disc_file_whose_backup_is_unknown_ranks_as_the_backup_holding_its_size_and_mtime(old_on_disc, tmp_path):
    """A checkpoint that does not record its content backup is not dated by when it was made: its
    file counts as of the newest backup holding one of the same size and mtime, so a newer backup
    holding another version comes first; read when nothing newer is at hand, it is said to rest on
    that guess."""
    lab, cfg, store, number = old_on_disc
    f = lab.src / "data" / "a.txt"
    _forget_content_backup(store, number)
    m1_name = store.one("SELECT name FROM backups WHERE medium='m1'")["name"]

    res = R.restore(cfg, store, "loc", str(f), to=tmp_path / "all", emit=lab.emit)
    assert _restored(tmp_path, "all", f) == b"NEWER"
    assert res.origin.endswith("on m2") and res.warnings == []

    _away(lab.media[0][1])
    _away(lab.media[1][1])
    res = R.restore(cfg, store, "loc", str(f), to=tmp_path / "disc", emit=lab.emit)
    assert _restored(tmp_path, "disc", f) == b"OLD"
    assert res.origin == f"checkpoint {number}"
    assert len(res.warnings) == 1
    assert "was not at hand" in res.warnings[0] and "ranked on a guess" in res.warnings[0]
    assert "does not record the backup" in res.warnings[0] and m1_name in res.warnings[0]


def test_the_only_copy_on_a_disc_whose_backup_is_unknown_is_no_older_copy(old_on_disc, tmp_path):
    """Every backup gone (the media lost, the database rebuilt from the discs): the disc is the
    only copy, nothing to rank it against, yet the restore said it read an older copy, the newest
    not at hand, and exited 3."""
    lab, cfg, store, number = old_on_disc
    f = lab.src / "data" / "a.txt"
    _forget_content_backup(store, number)
    store.execute("UPDATE backups SET status='deleted'")
    res = R.restore(cfg, store, "loc", str(f), to=tmp_path / "only", emit=lab.emit)
    assert _restored(tmp_path, "only", f) == b"OLD"
    assert res.origin == f"checkpoint {number}" and res.warnings == [], (res.origin, res.warnings)


def test_a_disc_directory_whose_backup_is_unknown_ranks_below_every_backup(old_on_disc, tmp_path):
    """A directory of a checkpoint that does not record its content backup cannot be matched to a
    backup: every backup comes first, and a restore that reads the disc says it took the disc to be
    older than every backup."""
    lab, cfg, store, number = old_on_disc
    data = lab.src / "data"
    _forget_content_backup(store, number)

    res = R.restore(cfg, store, "loc", str(data), to=tmp_path / "all", emit=lab.emit)
    assert _restored(tmp_path, "all", data / "a.txt") == b"NEWER"
    assert res.origin.endswith("on m2") and res.warnings == []

    _away(lab.media[1][1])
    res = R.restore(cfg, store, "loc", str(data), to=tmp_path / "m1", emit=lab.emit)
    assert res.origin.endswith("on m1"), "a backup comes before a disc whose backup is unknown"
    _away(lab.media[0][1])
    res = R.restore(cfg, store, "loc", str(data), to=tmp_path / "disc", emit=lab.emit)
    assert _restored(tmp_path, "disc", data / "a.txt") == b"OLD"
    assert res.origin == f"checkpoint {number}"
    assert len(res.warnings) == 1 and "older than every backup" in res.warnings[0]


def test_discs_tell_files_of_the_same_size_and_mtime_apart_by_sha256(tmp_path):
    """Two checkpoints, `a.txt` rewritten with its mtime kept between them, `same.txt` unchanged;
    only the older disc is at hand. The newest copy (a backup) is compared through the checksums
    of the disc taken from it: `a.txt` is said to be older, `same.txt` is the same."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    write_files(data, {"a.txt": b"OLD-CONTENT", "same.txt": b"same"})
    for name in ("a.txt", "same.txt"):
        os.utime(data / name, (KEPT_MTIME, KEPT_MTIME))
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    store = lab.store()
    first = _checkpoint(cfg, store)
    (data / "a.txt").write_bytes(b"NEW-CONTENT")
    os.utime(data / "a.txt", (KEPT_MTIME, KEPT_MTIME))
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    second = _checkpoint(cfg, store, asked={f"loc:{data}"})
    assert second > first
    _away(lab.media[0][1])
    _away(lab.media[1][1])
    iso = tmp_path / "iso" / f"RAB{second}D01.iso"
    iso.rename(iso.with_name(iso.name + "-away"))

    res = R.restore(cfg, store, "loc", str(data / "a.txt"), to=tmp_path / "a", emit=lab.emit)
    assert _restored(tmp_path, "a", data / "a.txt") == b"OLD-CONTENT"
    assert res.origin == f"checkpoint {first}"
    assert len(res.warnings) == 1 and "was not at hand" in res.warnings[0]

    res = R.restore(cfg, store, "loc", str(data / "same.txt"), to=tmp_path / "same", emit=lab.emit)
    assert _restored(tmp_path, "same", data / "same.txt") == b"same"
    assert res.origin == f"checkpoint {first}" and res.warnings == []
    assert any("holds the same as the newest copy" in m for m in lab.messages(WARNING))


def test_a_file_whose_backups_retention_deleted_is_read_from_the_discs(tmp_path):
    """The source deleted a file, retention then deleted the backups holding it (a verified disc
    holds it): a restore that names no copy reads the disc, not the newest backup, which lacks it."""
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"gone.txt": b"ONLY ON THE DISC", "stays.txt": b"S"})
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = _checkpoint(cfg, store)
    gone = lab.src / "data" / "gone.txt"
    gone.unlink()
    for day in (1, 2):
        assert lab.backup(cfg, now=T0 + timedelta(days=day)).status == "completed"
    lab.keep_a_day()
    later = (T0 + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert main(["--config", str(lab.config_path), "cleanup", "--now", later]) == 0
    assert store.one("SELECT status FROM backups ORDER BY id LIMIT 1")["status"] == "deleted"
    res = R.restore(lab.load(), store, "loc", str(gone), to=tmp_path / "out", emit=lab.emit)
    assert _restored(tmp_path, "out", gone) == b"ONLY ON THE DISC"
    assert f"checkpoint {number}" in res.origin, res.origin


def test_a_directory_whose_backups_retention_deleted_is_read_from_the_discs(tmp_path):
    """Likewise a directory the source removed: the disc that holds it is read."""
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"old/a.txt": b"A", "old/sub/b.txt": b"B", "stays.txt": b"S"})
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = _checkpoint(cfg, store)
    for f in ("old/sub/b.txt", "old/a.txt"):
        (lab.src / "data" / f).unlink()
    (lab.src / "data" / "old" / "sub").rmdir()
    (lab.src / "data" / "old").rmdir()
    for day in (1, 2):
        assert lab.backup(cfg, now=T0 + timedelta(days=day)).status == "completed"
    lab.keep_a_day()
    later = (T0 + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert main(["--config", str(lab.config_path), "cleanup", "--now", later]) == 0
    old = lab.src / "data" / "old"
    res = R.restore(lab.load(), store, "loc", str(old), to=tmp_path / "out", emit=lab.emit)
    assert _restored(tmp_path, "out", old / "sub" / "b.txt") == b"B"
    assert f"checkpoint {number}" in res.origin, res.origin


def test_the_newest_disc_read_on_a_guess_is_no_older_copy(old_on_disc, tmp_path):
    """Two checkpoints, neither recording its backup, no backup left (the media lost, the database
    rebuilt from the discs): the newest disc is at hand and read, ranked on a guess; the summary
    called it an older copy, the newest not at hand."""
    lab, cfg, store, number = old_on_disc
    f = lab.src / "data" / "a.txt"
    second = _checkpoint(cfg, store, asked={f"loc:{lab.src / 'data'}"})
    for n in (number, second):
        _forget_content_backup(store, n)
    store.execute("UPDATE checkpoints SET created=created + 86400 WHERE number=?", (second,))
    store.execute("UPDATE backups SET status='deleted'")
    res = R.restore(cfg, store, "loc", str(f), to=tmp_path / "newest", emit=lab.emit)
    assert _restored(tmp_path, "newest", f) == b"NEWER" and res.origin == f"checkpoint {second}"
    assert res.warnings and "ranked on a guess" in res.warnings[0], res.warnings
    assert "older copy" not in res.summary and "ranked on a guess" in res.summary, res.summary


def test_a_disc_read_on_a_guess_that_holds_the_newest_state_is_no_older_copy(tmp_path):
    """`a.txt` unchanged in two backups, each checkpointed; the first checkpoint does not record its
    backup. Only its disc is at hand: it holds what the newest copy holds (the second disc, taken
    from the newest backup, has the same sha256), said with its guess; the summary called it an
    older copy, the newest not at hand."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    write_files(data, {"a.txt": b"SAME"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    store = lab.store()
    first = _checkpoint(cfg, store)
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    second = _checkpoint(cfg, store, asked={f"loc:{data}"})
    _forget_content_backup(store, first)
    _away(lab.media[0][1])
    _away(lab.media[1][1])
    iso = tmp_path / "iso" / f"RAB{second}D01.iso"
    iso.rename(iso.with_name(iso.name + "-away"))

    res = R.restore(cfg, store, "loc", str(data / "a.txt"), to=tmp_path / "a", emit=lab.emit)
    assert _restored(tmp_path, "a", data / "a.txt") == b"SAME" and res.origin == f"checkpoint {first}"
    assert len(res.warnings) == 1 and "holds the same as the newest copy" in res.warnings[0], res.warnings
    assert "older copy" not in res.summary and "ranked on a guess" in res.summary, res.summary
