"""The backup pipeline with a local source and real rsync: layout, hard links, sizes, catalog,
archive kind, rotation, warnings."""

from __future__ import annotations

import json
import os
from datetime import datetime

from rabtui.backup import catalog_update
from rabtui.media import medium_layout
from rabtui.media.rotation import next_medium
from rabtui.events import STEP
from rabtui.state.store import Store
from tests.trees import Lab, write_files


def _inode(path) -> int:
    return os.stat(path).st_ino


def _data(result, lab: Lab, rel: str = "data"):
    return medium_layout.backup_data_path(result.path, str(lab.src / rel))


def test_first_and_second_backup(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a": b"alpha", "b": b"bravo", "sub/c": b"charlie", "big": 10000})
    first = lab.backup(cfg, medium_id="m1")
    assert (first.status, first.exit_code, first.reason) == ("completed", 0, None)
    assert first.path.parent == tmp_path / "medium1" / "loc"
    assert first.path.name.startswith("backup-") and len(first.path.name) == len("backup-20261122031500")
    d1 = _data(first, lab)
    assert (d1 / "sub/c").read_bytes() == b"charlie"
    assert first.total_bytes == first.new_bytes == 5 + 5 + 7 + 10000

    info = json.loads((first.path / "backup.json").read_text())
    assert info["status"] == "completed" and info["link_dest"] is None
    assert [s["state"] for s in info["steps"]] == ["ok", "ok", "ok", "skipped", "ok", "skipped", "ok"]
    assert info["directories"][0]["kind"] == "standard" and info["directories"][0]["rsync_exit"] == 0
    assert info["totals"]["files"] == 4 and info["totals"]["new_files"] == 4
    assert "step 5/7 rsync: ok" in (first.path / "backup.log").read_text()

    (lab.src / "data/b").write_bytes(b"bravo, changed")
    (lab.src / "data/d").write_bytes(b"delta")
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "completed"
    d2 = _data(second, lab)
    # unchanged: the same inode in both backups; changed: the older backup keeps the old content
    assert _inode(d1 / "a") == _inode(d2 / "a") and _inode(d1 / "big") == _inode(d2 / "big")
    assert (d1 / "b").read_bytes() == b"bravo" and (d2 / "b").read_bytes() == b"bravo, changed"
    assert _inode(d1 / "b") != _inode(d2 / "b")
    assert second.new_bytes == len(b"bravo, changed") + len(b"delta")
    assert second.total_bytes == 5 + 14 + 7 + 10000 + 5

    store = lab.store()
    row = store.one("SELECT * FROM backups WHERE id=?", (second.backup_id,))
    assert row["status"] == "completed" and row["link_dest"] == first.backup_id
    assert (row["files"], row["new_files"]) == (5, 2)
    drow = store.one("SELECT * FROM backup_dirs WHERE backup_id=?", (second.backup_id,))
    assert (drow["new_files"], drow["changed_files"], drow["new_bytes"]) == (1, 1, 19)
    steps = store.all("SELECT state FROM backup_steps WHERE backup_id=? ORDER BY step", (second.backup_id,))
    assert len(steps) == 7 and steps[4]["state"] == "ok"
    state = store.one("SELECT * FROM dir_state WHERE source='loc'")
    # files new or modified since the (no) checkpoint, each once: a, b, big, c, then d (b again)
    assert state["changed_since_checkpoint"] == 4 + 1 and state["did_not_fit"] is None
    medium_row = store.one("SELECT * FROM media WHERE id='m1'")
    assert medium_row["last_used"] and medium_row["free_bytes"] > 0

    # the catalog: unchanged files extend their version, changed ones get a new one
    versions = {
        (bytes(r["path"]).rsplit(b"/", 1)[-1], r["first_backup"], r["last_backup"], r["size"])
        for r in store.all("SELECT p.path, v.* FROM versions v JOIN paths p ON p.id=v.path_id")
    }
    f, s = first.backup_id, second.backup_id
    assert versions == {
        (b"a", f, s, 5), (b"big", f, s, 10000), (b"c", f, s, 7),
        (b"b", f, f, 5), (b"b", s, s, 14), (b"d", s, s, 5),
    }
    paths = {bytes(r["path"]) for r in store.all("SELECT path FROM paths")}
    assert (str(lab.src / "data/sub/c").lstrip("/")).encode() in paths


def test_same_second_gets_a_suffix(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    when = datetime(2026, 11, 22, 3, 15, 0)
    names = [lab.backup(cfg, medium_id="m1", now=when).path.name for _ in range(3)]
    assert names == ["backup-20261122031500", "backup-20261122031500-2", "backup-20261122031500-3"]
    # names that only look like a backup's: a newline at the end, digits of another script
    for odd in ("backup-20261122031500\n", "backup-20261122031500-4\n", "backup-\u0662" * 1 + "0" * 13):
        (tmp_path / "medium1" / "loc" / odd).mkdir()
    listed = [n for n, _, _ in medium_layout.list_backups(tmp_path / "medium1", "loc")]
    assert listed == names
    # a pretended time is the backup's start as well as its name
    started = {r["started"] for r in lab.store().all("SELECT started FROM backups")}
    assert started == {when.timestamp()}


def test_backup_json_records_the_start_to_the_microsecond(tmp_path):
    """rebuild-state orders two backups that started in the same second (onto two media, each
    numbered 1 by a database made anew) by their backup.json's start: to the second, it took the
    one that came second for the first (test_made_order_across_rebuild failed one run in four)."""
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    when = datetime(2026, 11, 22, 3, 15, 0, 654321)
    path = lab.backup(cfg, medium_id="m1", now=when).path
    recorded = json.loads((path / "backup.json").read_text())["started"]
    assert datetime.fromisoformat(recorded).timestamp() == when.timestamp(), recorded


def test_archive_directory(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("photos", "archive")])
    write_files(lab.src / "photos", {"2025/x.jpg": b"x" * 100, "2025/y.jpg": b"y" * 200})
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed"
    union = medium_layout.archive_root(tmp_path / "medium1", "loc", str(lab.src / "photos"))
    assert union == tmp_path / "medium1" / "loc" / ".archive" / str(lab.src / "photos").lstrip("/")
    d1 = _data(first, lab, "photos")
    assert _inode(union / "2025/x.jpg") == _inode(d1 / "2025/x.jpg")

    write_files(lab.src / "photos", {"2026/z.jpg": b"z" * 300, "2025/y.jpg": b"Y" * 250})
    second = lab.backup(cfg, medium_id="m1")
    d2 = _data(second, lab, "photos")
    held = sorted(p.relative_to(d2).as_posix() for p in d2.rglob("*") if p.is_file())
    assert held == ["2025/y.jpg", "2026/z.jpg"]          # only what the medium did not hold
    assert (d1 / "2025/y.jpg").read_bytes() == b"y" * 200  # the older version is untouched
    union_files = {p.relative_to(union).as_posix(): p.read_bytes() for p in union.rglob("*") if p.is_file()}
    assert union_files == {"2025/x.jpg": b"x" * 100, "2025/y.jpg": b"Y" * 250, "2026/z.jpg": b"z" * 300}
    assert second.new_bytes == second.total_bytes == 550

    third = lab.backup(cfg, medium_id="m1")
    assert third.status == "completed" and third.new_bytes == 0
    assert not [p for p in _data(third, lab, "photos").rglob("*") if p.is_file()]

    # on another medium the archive starts over: a full copy there
    other = lab.backup(cfg, medium_id="m2")
    assert other.new_bytes == 100 + 250 + 300

    store = lab.store()
    rows = store.all("SELECT p.path, v.* FROM versions v JOIN paths p ON p.id=v.path_id WHERE v.medium='m1'"
                     " ORDER BY v.id")
    got = [(bytes(r["path"]).rsplit(b"/", 1)[-1], r["first_backup"], r["last_backup"]) for r in rows]
    assert got == [(b"x.jpg", first.backup_id, first.backup_id), (b"y.jpg", first.backup_id, first.backup_id),
                   (b"y.jpg", second.backup_id, second.backup_id), (b"z.jpg", second.backup_id, second.backup_id)]
    state = store.one("SELECT changed_since_checkpoint FROM dir_state")
    # x, y, z: each file once, whichever medium and however often it was saved
    assert state[0] == 3


def test_rotation_uses_media_in_turn(tmp_path):
    lab = Lab(tmp_path, media_count=3)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    store = lab.store()
    assert next_medium(cfg, store).id == "m1"
    used = [lab.backup(cfg).medium for _ in range(4)]
    assert used == ["m1", "m2", "m3", "m1"]
    # the fourth backup links to the first one: the newest complete backup on the same medium
    rows = store.all("SELECT id, link_dest FROM backups ORDER BY id")
    assert [r["link_dest"] for r in rows] == [None, None, None, rows[0]["id"]]


def test_missing_source_directory_with_allow_empty_is_a_warning(tmp_path):
    lab = Lab(tmp_path)
    lab.local([("data", "standard"), ("gone", "standard")])
    lab.config_path.write_text(lab.config_path.read_text() + "allow_empty = true\n")   # on "gone", the last
    cfg = lab.load()
    write_files(lab.src / "data", {"a": b"1"})
    (lab.src / "gone").rmdir()
    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("warnings", 3)
    assert "gone" in result.reason and "No such file or directory" in result.reason
    info = json.loads((result.path / "backup.json").read_text())
    assert info["status"] == "warnings"
    assert [d["rsync_exit"] for d in info["directories"]] == [0, 23]
    # a backup with warnings is complete: the next one links to it
    again = lab.backup(cfg, medium_id="m1")
    assert lab.store().one("SELECT link_dest FROM backups WHERE id=?", (again.backup_id,))[0] == result.backup_id


def test_excludes(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local(extra='excludes = ["*.tmp"]')
    write_files(lab.src / "data", {"keep": b"1", "drop.tmp": b"2", "cache/x": b"3"})
    text = lab.config_path.read_text() + 'excludes = ["cache/"]\n'
    lab.config_path.write_text(text)
    cfg = lab.load()
    result = lab.backup(cfg, medium_id="m1")
    held = sorted(p.name for p in _data(result, lab).rglob("*"))
    assert held == ["keep"]


def test_archive_saves_a_new_name_of_a_file_it_holds(tmp_path):
    """A hard link made on the source to a file the archive holds: with -H and --compare-dest,
    rsync left the new name out (or hung); an archive keeps each name as a file of its own."""
    lab = Lab(tmp_path)
    cfg = lab.local([("photos", "archive")], extra="io_timeout = 20")
    write_files(lab.src / "photos", {"2025/x.jpg": b"x" * 100})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    os.link(lab.src / "photos/2025/x.jpg", lab.src / "photos/best-of.jpg")
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "completed", second.reason
    union = medium_layout.archive_root(tmp_path / "medium1", "loc", str(lab.src / "photos"))
    assert (union / "best-of.jpg").read_bytes() == b"x" * 100
    assert [p.name for p in _data(second, lab, "photos").rglob("*") if p.is_file()] == ["best-of.jpg"]


def test_archive_keeps_each_name_of_a_file_as_a_file_of_its_own(tmp_path):
    """From the first backup on (no union yet): each name a new file and a version of its own."""
    lab = Lab(tmp_path)
    cfg = lab.local([("photos", "archive")])
    src = lab.src / "photos"
    write_files(src, {"a/f": b"F" * 10})
    for i in range(20):
        os.link(src / "a/f", src / f"n{i}")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    row = lab.store().one("SELECT files, new_files, new_bytes FROM backup_dirs WHERE backup_id=?", (first.backup_id,))
    assert (row["files"], row["new_files"], row["new_bytes"]) == (21, 21, 210)
    assert _inode(_data(first, lab, "photos") / "n0") != _inode(_data(first, lab, "photos") / "a/f")
    os.link(src / "a/f", src / "late")
    second = lab.backup(cfg, medium_id="m1")
    row = lab.store().one("SELECT new_files FROM backup_dirs WHERE backup_id=?", (second.backup_id,))
    assert second.status == "completed" and row["new_files"] == 1
    assert len(lab.store().all("SELECT id FROM versions")) == 22
    union = medium_layout.archive_root(tmp_path / "medium1", "loc", str(src))
    assert sorted(os.listdir(union)) == sorted(["a", "late"] + [f"n{i}" for i in range(20)])


def test_archive_union_holds_only_complete_backups(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local([("photos", "archive")], extra='post_backup_commands = ["exit 1"]')
    write_files(lab.src / "photos", {"x.jpg": b"x" * 10})
    failed = lab.backup(cfg, medium_id="m1")
    assert failed.status == "failed"
    union = medium_layout.archive_root(tmp_path / "medium1", "loc", str(lab.src / "photos"))
    assert not (union / "x.jpg").exists()
    lab.config_path.write_text(lab.config_path.read_text().replace('post_backup_commands = ["exit 1"]', ""))
    good = lab.backup(lab.load(), medium_id="m1")
    assert good.status == "completed" and good.new_bytes == 10     # copied again: the medium's archive lacked it
    assert (union / "x.jpg").read_bytes() == b"x" * 10
    # the kept data of the first run is in the catalog with its own version, outside the union
    rows = lab.store().all("SELECT first_backup FROM versions ORDER BY id")
    assert [r[0] for r in rows] == [failed.backup_id, good.backup_id]


def test_source_without_directories_warns(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.write('[[sources]]\nid = "loc"\n')
    result = lab.backup(cfg, medium_id="m1")
    assert (result.status, result.exit_code) == ("warnings", 3)
    assert "no directories" in result.reason


def _catalog_holds(store, backup_id: int) -> set[tuple[bytes, int, int]]:
    """(path, size, mtime) of every file the catalog places in one backup (standard directories)."""
    return {(bytes(r["path"]), r["size"], r["mtime"]) for r in store.all(
        "SELECT p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id"
        " JOIN backups b ON b.id=? AND b.medium=v.medium AND b.source=p.source"
        " WHERE v.first_backup<=b.id AND v.last_backup>=b.id", (backup_id,))}


def _medium_holds(result, lab: Lab) -> set[tuple[bytes, int, int]]:
    """The same, read off the backup's directory on the medium."""
    root = os.fsencode(result.path / "data")
    out = set()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            out.add((os.path.relpath(os.path.join(dirpath, name), root), st.st_size, int(st.st_mtime)))
    return out


def test_catalog_matches_the_media_across_many_batches(tmp_path, monkeypatch):
    """Unchanged files' versions are looked up batch by batch while rsync runs; after backups with
    changed, deleted and new files, and after the catalog lost some of the base's versions, the
    catalog still places exactly the files each backup holds, no more and no fewer."""
    monkeypatch.setattr(catalog_update, "BATCH", 7)
    lab = Lab(tmp_path)
    cfg = lab.local([("data", "standard")])
    files = {f"d{i % 5}/f{i:03d}": b"x" * i for i in range(60)}
    write_files(lab.src / "data", files)
    for i, rel in enumerate(files):
        os.utime(lab.src / "data" / rel, (1_700_000_000 + i, 1_700_000_000 + i))
    first = lab.backup(cfg, medium_id="m1")
    store = lab.store()

    for i in range(0, 60, 6):                       # change some (new sizes), delete others, add some
        (lab.src / "data" / f"d{i % 5}/f{i:03d}").write_bytes(b"changed" * (i + 1))
    for i in range(1, 60, 9):
        (lab.src / "data" / f"d{i % 5}/f{i:03d}").unlink()
    write_files(lab.src / "data", {f"new/n{i}": b"n" * i for i in range(10)})
    second = lab.backup(cfg, medium_id="m1")
    assert (first.status, second.status) == ("completed", "completed")
    assert len(_medium_holds(first, lab)) == 60 and len(_medium_holds(second, lab)) == 60 - 7 + 10
    assert _catalog_holds(store, first.backup_id) == _medium_holds(first, lab)
    assert _catalog_holds(store, second.backup_id) == _medium_holds(second, lab)
    # unchanged files extended their versions: new versions only for the 10 changed and 10 new files
    assert store.one("SELECT COUNT(*) AS n FROM versions")["n"] == 60 + 10 + 10

    # the catalog forgets a few of the second backup's versions (a base it only partly knows)
    store.execute("DELETE FROM versions WHERE id IN (SELECT id FROM versions WHERE last_backup=? LIMIT 5)",
                  (second.backup_id,))
    (lab.src / "data/d2/f002").unlink()
    third = lab.backup(cfg, medium_id="m1")
    assert third.status == "completed"
    assert _catalog_holds(store, third.backup_id) == _medium_holds(third, lab)
    assert (str(lab.src / "data/d2/f002").lstrip("/").encode(), 2, 1_700_000_002) not in \
        _catalog_holds(store, third.backup_id)
    # an unchanged file keeps one version from the first backup to the third
    rows = store.all("SELECT v.first_backup, v.last_backup FROM versions v JOIN paths p ON p.id=v.path_id"
                     " WHERE p.path=?", (str(lab.src / "data/d3/f003").lstrip("/").encode(),))
    assert [(r["first_backup"], r["last_backup"]) for r in rows] == [(first.backup_id, third.backup_id)]


def test_catalog_moves_only_versions_still_in_the_base(tmp_path, monkeypatch):
    """The versions looked up while rsync runs are checked again in step 7: one that no longer
    ends at the base by then (another process rewrote the catalog) is left alone, and the file it
    stood for gets a version of its own in the new backup."""
    monkeypatch.setattr(catalog_update, "BATCH", 7)    # the first batches are looked up during rsync
    lab = Lab(tmp_path)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {f"f{i}": b"y" * (i + 1) for i in range(20)})
    first = lab.backup(cfg, medium_id="m1")
    moved: list[int] = []

    def emit(event):
        lab.events.append(event)
        if event.kind == STEP and event.data["step"] == 6 and not moved:
            other = Store(lab.state)        # another connection, as another process would
            moved.extend(r["id"] for r in other.all(
                "SELECT id FROM versions WHERE last_backup=? ORDER BY id LIMIT 3", (first.backup_id,)))
            other.execute(f"UPDATE versions SET last_backup=-7 WHERE id IN ({','.join('?' * 3)})", moved)
            other.close()

    lab.emit = emit
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "completed" and len(moved) == 3
    store = lab.store()
    assert [r["last_backup"] for r in store.all(
        f"SELECT last_backup FROM versions WHERE id IN ({','.join('?' * 3)})", moved)] == [-7, -7, -7]
    assert _catalog_holds(store, second.backup_id) == _medium_holds(second, lab)
    assert store.one("SELECT COUNT(*) AS n FROM versions")["n"] == 20 + 3


def test_a_source_file_named_like_a_temporary_link_stays_in_the_union(tmp_path):
    """The union links each new item under a temporary name first: a file of the source that has
    such a name is never replaced or removed by it."""
    from rabtui.backup import union_link

    data, union = tmp_path / "backup" / "data", tmp_path / "union"
    (data / "d").mkdir(parents=True)
    (union / "d").mkdir(parents=True)
    names = [f".rabtui-link-{os.getpid()}", ".rabtui-link-0", ".rabtui-link-"]
    for name in names:
        (union / "d" / name).write_bytes(b"a file of the source")
    (data / "d" / "new").write_bytes(b"new")
    assert union_link.link_into_union(data, union, [b"d/new"], staging=tmp_path / "linking") == 1
    assert (union / "d" / "new").read_bytes() == b"new" and os.listdir(tmp_path / "linking") == []
    assert sorted(os.listdir(union / "d")) == sorted([*names, "new"])
    assert all((union / "d" / name).read_bytes() == b"a file of the source" for name in names)
