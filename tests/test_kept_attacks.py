"""Attacks on the keeping of a backup whose transfer ended whole: a cancel in step 7 (while it waits
for its archive union) keeps the data as a kill there does. Real rsync, a real process holding the
union lock."""

from __future__ import annotations

import os
import threading

from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _files
from tests.test_lock_waits import _end, _stopped_holder
from tests.trees import Lab, snapshot


def test_a_cancel_while_step7_waits_for_the_union_keeps_the_data(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "standard"), ("arch", "archive")], "io_timeout = 120", "loc"))
    _files(lab.src / "data", {"a": b"a1" * 500})
    _files(lab.src / "arch", {"x": b"x1" * 100})
    cancel = threading.Event()

    def emit(event) -> None:
        lab.events.append(event)
        if "waiting (at most 120 s)" in event.message:
            cancel.set()
    lab.emit = emit
    holder = _stopped_holder(lab.state, "loc")
    try:
        result = lab.backup(cfg, cancel=cancel)
    finally:
        _end(holder)
    assert cancel.is_set(), lab.messages()
    store = lab.store()
    row = store.one("SELECT * FROM backups")
    assert row["status"] == "kept", (dict(row), result)
    assert "the data is kept" in row["reason"] and result.status == "cancelled", (row["reason"], result)
    assert medium_layout.read_backup_json(row["path"])["status"] == "kept"
    arch = cfg.sources[0].directories[1].path
    assert snapshot(medium_layout.backup_data_path(row["path"], arch)) == snapshot(lab.src / "arch")
    assert not (medium_layout.archive_root(lab.media[0][1], "loc", arch) / "x").exists()
    assert os.path.isdir(row["path"])
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)


def test_a_run_killed_after_its_transfer_that_the_database_lost_is_kept(tmp_path):
    """The database lost after the kill: the next backup undoes the run's archive links but keeps
    its directory (it deleted what rsync had copied whole), and rebuild-state records it kept, though
    a complete backup came after it there (it recorded it abandoned: deleted by the next cleanup)."""
    from tests.test_killed_after_transfer import _changed_then_killed, _found_and_restored, _lab, rebuilt_kept
    from tests.test_kill_anywhere import rabtui

    lab, cfg = _lab(tmp_path)
    store, killed, at_kill, _ = _changed_then_killed(lab, cfg, "backup.archive_linked")
    store.close()
    lab.lose_database()
    after = rabtui(lab, "backup", "loc")
    out = after.stdout + after.stderr
    data, arch = (d.path for d in cfg.sources[0].directories)
    assert os.path.isdir(killed["path"]), out
    assert snapshot(medium_layout.backup_data_path(killed["path"], data)) == at_kill[data]
    assert "its transfer had ended whole" in out and "rebuild-state" in out, out
    assert not (medium_layout.archive_root(lab.media[0][1], "loc", arch) / "only").exists()
    store, row = rebuilt_kept(lab, killed)
    cleanup = rabtui(lab, "cleanup")
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
    assert snapshot(medium_layout.backup_data_path(killed["path"], data)) == at_kill[data]
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["status"] == "completed" and newest["link_dest"] != row["id"]
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    _found_and_restored(cfg, store, row, tmp_path / "restored")


def test_a_kept_run_s_catalog_read_from_a_tree_of_awkward_names(tmp_path):
    """The killed run's tree holds names with line breaks, bytes not UTF-8, of 255 bytes, a path of
    about 3,500 bytes and files hard-linked to the first backup: its catalog, read again from it,
    is the medium's; find and a restore give them back."""
    from rabtui.actions.find import find
    from rabtui.restore import run as restore_run
    from tests.test_killed_after_transfer import _lab
    from tests.test_kill_anywhere import _killed, rabtui

    lab, cfg = _lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    deep = b"/".join([b"d" * 200] * 17) + b"/deep"
    odd = {b"line\nbreak": b"nl", b"bytes-\xff\xfe": b"latin", b"n" * 255: b"long", deep: b"deep"}
    _files(lab.src / "data", odd)
    _files(lab.src / "arch", {b"arch\nnl-\xff": b"archived", b"m" * 255: b"long arch"})
    _killed(rabtui(lab, "backup", "loc", point="backup.catalog"))
    store = lab.store()
    killed = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    for name in list(odd)[:3]:
        os.unlink(os.path.join(os.fsencode(lab.src / "data"), name))
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    row = store.one("SELECT * FROM backups WHERE id=?", (killed["id"],))
    assert row["status"] == "kept", (dict(row), after.stdout)
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
    found = [v for v in find(cfg, store, "bytes-").versions]
    assert [n for v in found for loc in v.locations for n in loc.backups] == [row["name"]], found
    data = cfg.sources[0].directories[0].path
    restore_run.restore(cfg, store, "loc", data, backup=row["name"], to=tmp_path / "back")
    back = tmp_path / "back" / os.path.relpath(data, "/")
    assert snapshot(back) == snapshot(lab.src / "data") | odd


def test_rebuild_state_with_a_kept_run_beside_one_killed_after_its_transfer(tmp_path):
    """A run kept by a recovery, the run that kept it killed after its own transfer too: rebuild-state
    (the database lost) records both kept, the union and catalog as the media; the next backup's
    base is the complete one."""
    from tests.test_killed_after_transfer import _lab
    from tests.test_kill_anywhere import _killed, rabtui

    lab, cfg = _lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "arch", {"one": b"first killed"})
    _killed(rabtui(lab, "backup", "loc", point="backup.catalog"))
    _files(lab.src / "arch", {"two": b"second killed"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    store = lab.store()
    first, second = store.all("SELECT * FROM backups WHERE id>1 ORDER BY id")
    assert first["status"] == "kept" and second["status"] == "running", (dict(first), dict(second))
    store.close()
    lab.lose_database()
    rebuilt = rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    store = lab.store()
    rows = {r["name"]: r for r in store.all("SELECT * FROM backups")}
    assert rows[first["name"]]["status"] == rows[second["name"]]["status"] == "kept", rows
    arch = cfg.sources[0].directories[1].path
    union = medium_layout.archive_root(lab.media[0][1], "loc", arch)
    assert not (union / "one").exists() and not (union / "two").exists()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    os.unlink(lab.src / "arch" / "one")
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    kept_ids = (rows[first["name"]]["id"], rows[second["name"]]["id"])
    assert newest["status"] == "completed" and newest["link_dest"] not in kept_ids, dict(newest)
    assert snapshot(medium_layout.backup_data_path(rows[second["name"]]["path"], arch))[b"two"] == b"second killed"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
