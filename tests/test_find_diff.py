"""find and diff from the catalog of real backups (two media), plus checkpoint disc rows."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from rabtui.state import backup_diff, catalog
from rabtui.cli import main
from tests.trees import Lab, closed, made_once, write_files

T0 = datetime(2026, 7, 1, 3, 0)


def _lab(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard"), ("photos", "archive")])
    write_files(lab.src / "data", {"etc/fstab": b"one", "etc/hosts": b"h", b"b\xffad name.txt": b"x",
                                   "gone.txt": b"soon gone"})
    write_files(lab.src / "photos", {"p1.jpg": 100})
    b1 = lab.backup(cfg, now=T0, medium_id="m1")
    (lab.src / "data/etc/fstab").write_bytes(b"two!")
    (lab.src / "data/gone.txt").unlink()
    write_files(lab.src / "data", {"new.txt": b"new"})
    write_files(lab.src / "photos", {"p2.jpg": 200})
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1")
    b3 = lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m2")
    assert {b1.status, b2.status, b3.status} == {"completed"}
    return lab, cfg, (b1, b2, b3)


@pytest.fixture(scope="module")
def _three_backups_made(tmp_path_factory):
    def make(live):
        lab, _cfg, backups = _lab(live)
        closed(lab)
        return backups

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def three_backups(_three_backups_made):
    """What _lab makes (lab, cfg, its three backups), anew for each test (made once for the module),
    in lab.tmp."""
    backups, made = _three_backups_made
    lab = Lab(made.anew(), media_count=2)
    return lab, lab.load(), backups


def test_find_every_version_and_where(three_backups, capsys):
    lab, cfg, (b1, b2, b3) = three_backups
    store = lab.store()
    arch = {"loc": (str(lab.src / "photos"),)}
    found = catalog.find(store, "fstab", archive_dirs=arch)
    assert [(v.size, [(l.medium, l.backups) for l in v.locations]) for v in found] == [
        (3, [("m1", [b1.path.name])]),
        (4, [("m1", [b2.path.name]), ("m2", [b3.path.name])]),
    ]
    # a glob on the whole path, and one on the name
    assert {os.path.basename(v.path) for v in catalog.find(store, "*/etc/*")} == {b"fstab", b"hosts"}
    assert len(catalog.find(store, "*.txt")) == 3            # gone, new, bad name
    assert catalog.find(store, "b\udcffad*")[0].path.endswith(b"b\xffad name.txt")
    # archive: the version lives in the backup that saved it (and the union)
    p1 = catalog.find(store, "p1.jpg", archive_dirs=arch)
    assert [(l.medium, l.backups, l.archive) for l in p1[0].locations] == [
        ("m1", [b1.path.name], True), ("m2", [b3.path.name], True)]
    # a checkpoint disc holding a version shows up as a location
    v = store.one("SELECT p.path FROM paths p WHERE CAST(p.path AS TEXT) GLOB '*/fstab'")
    store.execute("INSERT INTO discs(number, disc, volid, state) VALUES (5, 1, 'RAB5D01', 'verified')")
    store.execute("INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime) VALUES"
                  " (5, 1, 'loc', ?, ?, 4, ?)", (v["path"], b"data/loc/" + bytes(v["path"]),
                                                 found[1].mtime))
    found = catalog.find(store, "fstab", source="loc")
    assert "checkpoint 5 disc 1 (RAB5D01, verified)" in [l.describe() for l in found[1].locations]

    code = main(["--config", str(lab.config_path), "find", "fstab", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and len(data) == 2 and data[1]["locations"][-1]["volid"] == "RAB5D01"
    assert main(["--config", str(lab.config_path), "find", "nothing-like-this"]) == 1
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "find", ""]) == 2
    assert "give a pattern" in capsys.readouterr().err


def test_diff_last_two_and_named(three_backups, capsys):
    lab, cfg, (b1, b2, b3) = three_backups
    store = lab.store()
    rows = catalog.complete_backups(store, "loc", "m1")
    d = backup_diff.diff(store, rows[0], rows[1], (str(lab.src / "photos"),))
    name = lambda p: os.path.basename(p)
    assert [name(e.path) for e in d.added] == [b"new.txt", b"p2.jpg"]
    assert [(name(e.path), e.size) for e in d.removed] == [(b"gone.txt", 9)]
    assert [(name(c.path), c.old_size, c.size) for c in d.changed] == [(b"fstab", 3, 4)]

    code = main(["--config", str(lab.config_path), "diff", "loc", b1.path.name, b2.path.name])
    out = capsys.readouterr().out
    assert code == 0 and "- /" in out and "gone.txt" in out and "~ /" in out and "1 changed" in out
    # default: the last two complete (b2 on m1, b3 on m2): nothing changed in the files
    code = main(["--config", str(lab.config_path), "diff", "loc", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and (data["a"], data["b"]) == (b2.path.name, b3.path.name)
    assert data["added"] == data["removed"] == data["changed"] == []
    assert main(["--config", str(lab.config_path), "diff", "loc", "backup-1"]) == 2


def test_find_a_part_of_a_name_as_locate_does_and_ignoring_case(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"needle.txt": b"n", "docs/a-Needle-b.md": b"m", "haystack": b"h",
                                   "Übersicht.txt": b"u", "deep/needle/inside.txt": b"i"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()

    def names(pattern, **kw):
        return sorted(os.path.basename(v.path).decode() for v in catalog.find(store, pattern, **kw))

    assert names("needle") == ["needle.txt"]                  # a part of the file name
    assert names("needle", ignore_case=True) == ["a-Needle-b.md", "needle.txt"]
    assert names("needle*") == ["needle.txt"]                 # a glob keeps its meaning: from the start
    assert names("*.md") == ["a-Needle-b.md"]
    assert names("/needle/") == ["inside.txt"]                # with a /: a part of the whole path
    assert names("übersicht", ignore_case=True) == ["Übersicht.txt"]   # beyond ASCII too
    assert names("übersicht") == []
    args = ["--config", str(lab.config_path), "find"]
    assert main(args + ["NEEDLE"]) == 1 and 'nothing matches "NEEDLE"' in capsys.readouterr().err
    # a pattern that is no UTF-8, or holds a control character, is shown as ls -b shows a name
    assert main(args + [os.fsdecode(b"caf\xe9\x1b[2J")]) == 1
    assert 'nothing matches "caf\\351\\033[2J"' in capsys.readouterr().err
    assert main(args + ["-i", "NEEDLE", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert sorted(os.path.basename(v["path"]) for v in found) == ["a-Needle-b.md", "needle.txt"]


def test_a_limited_find_counts_only_the_files_something_holds(three_backups):
    """A path whose versions a cleanup dropped (or that a failed backup left) is in `paths` with
    nothing holding it: a search for a few files (Browse's) finds as many all the same."""
    lab, cfg, (b1, b2, b3) = three_backups
    store = lab.store()
    every = {bytes(v.path) for v in catalog.find(store, "*")}
    first = store.one("SELECT id, path FROM paths ORDER BY id LIMIT 1")
    store.execute("DELETE FROM versions WHERE path_id=?", (first["id"],))
    held = every - {bytes(first["path"])}
    for limit in (1, 2, len(held)):
        found = {bytes(v.path) for v in catalog.find(store, "*", limit=limit)}
        assert len(found) == limit and found <= held


def test_a_glob_with_brackets_means_what_it_means_to_the_shell(tmp_path):
    """`[!...]` is the shell's (and fnmatch's) negation, SQLite's GLOB says `[^...]`; a `[` that no
    `]` closes is a plain character: the catalog's narrowing before the exact test keeps every
    name the glob matches."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a[b": b"1", "apple": b"2", "berry": b"3", "!bang": b"4", "^caret": b"5",
                                   "x/[y": b"6"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()

    def names(pattern, **kw):
        return sorted(os.path.basename(v.path).decode() for v in catalog.find(store, pattern, **kw))

    assert names("[!a]*") == ["!bang", "[y", "^caret", "berry"]
    assert names("[!a]*", ignore_case=True) == ["!bang", "[y", "^caret", "berry"]
    assert names("[!!]*") == ["[y", "^caret", "a[b", "apple", "berry"]
    assert names("[^a]*") == ["^caret", "a[b", "apple"]     # `^` is a plain character there
    assert names("a[b") == ["a[b"]
    assert names("*/x/[y") == ["[y"]      # a glob with a / matches the whole path
    assert names("[[]y") == ["[y"]
    assert names("[ab]*") == ["a[b", "apple", "berry"]


def test_diff_refuses_a_deleted_backup_named_by_its_id_as_by_its_name(tmp_path, capsys):
    """A backup that cleanup deleted has no files left in the catalog: a diff against it would list
    every file of the other as added (exit 0). Named by its id as by its name, it is refused."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1", "b": b"2"})
    b1 = lab.backup(cfg, now=T0, medium_id="m1")
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1")
    lab.keep_a_day()
    assert main(["--config", str(lab.config_path), "cleanup"]) == 0
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (b1.backup_id,))["status"] == "deleted"
    capsys.readouterr()
    for ref in (b1.path.name, str(b1.backup_id)):
        assert main(["--config", str(lab.config_path), "diff", "loc", ref, b2.path.name]) == 2
        captured = capsys.readouterr()
        assert f"source loc has no backup {ref}" in captured.err and "added" not in captured.out, captured


def test_find_in_a_source_named_empty_is_refused_not_taken_for_every_source(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "find", "a", "--source", ""]) == 2
    captured = capsys.readouterr()
    assert "no source with id ''" in captured.err and "loc:" not in captured.out, captured
