"""Names of one directory that differ only in case (`Case`, `case`), backed up onto exFAT, which
takes one for the other: rsync wrote both (each itemized as new), the second renamed over the first,
and the backup said "completed", a file lost in silence; every checkpoint plan then refused the
directory for `Case` "not on the medium any more" and a restore named it as lost (exit 3). Now the
one the medium does not list is named as not written on the medium (a warning), the catalog holds the
other with the content the medium holds, the plan goes through and a restore gives back what the
medium holds. Directories alike (`Dir`, `dir`) are one there: the files below the one not kept are
removed and named so (their paths were refused by the plan as put there since). Which one is kept
changes from backup to backup (the second, an unchanged one is copied from its base first). Real
rsync, exfat-fuse (tests/test_media_fat.fat_mounted)."""

from __future__ import annotations

import json
import os

from rabtui.checkpoint import not_read, prepare
from rabtui.cli import main
from rabtui.media import medium_fs
from tests.test_media_fat import fat_mounted
from tests.trees import Lab, write_files

FILES = {"Case": b"upper" * 10, "case": b"lower" * 30, "other": b"other", "sub/Été": b"e1", "sub/été": b"e2" * 5,
         "Dir/in": b"in", "dir/in": b"IN" * 3, "dir/only": b"only"}


def _in_catalog(store, backup, data) -> list[str]:
    """The files the catalog says `backup` holds, by path below the source's directory `data`."""
    cut = len(str(data))      # the catalog's paths are relative to /
    return [os.fsdecode(bytes(r["path"]))[cut:] for r in store.all(
        "SELECT p.path FROM versions v JOIN paths p ON p.id=v.path_id WHERE ? BETWEEN v.first_backup AND"
        " v.last_backup", (backup["id"],))]


def _files_below(top) -> dict[str, bytes]:
    """Each file below `top`, by its path from there, with its content."""
    return {os.path.relpath(os.path.join(d, n), top): open(os.path.join(d, n), "rb").read()
            for d, _, ns in os.walk(top) for n in ns}


def _catalog_and_medium(store, medium, backup, data):
    copy = next(p for p in medium.rglob(data.name) if backup["name"] in str(p) and str(p).endswith(str(data)))
    return set(_in_catalog(store, backup, data)), _files_below(copy)


def test_names_alike_but_for_case_on_exfat_are_said_not_written_and_the_survivor_kept(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, FILES)
    medium = lab.media[0][1]
    with fat_mounted(medium, "exfat"):
        for run in range(2):        # the second has the first as its base
            made = lab.backup(cfg)
            assert made.status == "warnings", made.reason
            assert "not written on the medium, whose file system takes a name for another" in made.reason, made.reason
            store = lab.store()
            backup = store.one("SELECT id, name FROM backups ORDER BY id DESC LIMIT 1")
            copy = next(p for p in medium.rglob("other") if backup["name"] in str(p)).parent
            on_medium = sum(len(names) for _, _, names in os.walk(copy))
            _, _, unmade = not_read.of_backup(store, backup["id"], str(data))
            # of names alike, the last written kept; of directories alike, the first made (Dir), what
            # would be below the other removed, with the file alike in both (either's content)
            assert len(unmade) == 5 and {"Dir/in", "dir/in", "dir/only"} < set(unmade), unmade
            assert {n.casefold() for n in unmade} == {"case", "sub/été", "dir/in", "dir/only"}, unmade
            said = json.loads((made.path / "backup.json").read_text())["directories"][0]
            assert sorted(said["unmade"]) == sorted(unmade)
            claimed = set(FILES) - set(unmade)
            assert set(_in_catalog(store, backup, data)) == claimed
            assert on_medium == len(claimed) == store.one("SELECT files FROM backup_dirs WHERE backup_id=?",
                                                          (backup["id"],))["files"]
            assert {n: (copy / n).read_bytes() for n in claimed} == {n: FILES[n] for n in claimed}
        prepare.compute(cfg, store, asked={"*"})     # not refused for a name the medium never held
        out = tmp_path / "out"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0
    assert _files_below(out / str(data).lstrip("/")) == {n: FILES[n] for n in claimed}


def test_the_probe_tells_a_medium_that_folds_case(tmp_path):
    (tmp_path / "ext").mkdir()
    assert medium_fs.folds_case(medium_fs.probe(tmp_path / "ext")) is False
    (tmp_path / "fat").mkdir()
    with fat_mounted(tmp_path / "fat", "exfat"):
        assert medium_fs.folds_case(medium_fs.probe(tmp_path / "fat")) is True


def test_a_file_of_the_kept_directory_alike_only_under_casefold_stays_written(tmp_path):
    """`Dir/ß` and `dir/ss`: str.casefold joins them, exFAT keeps them apart. `dir` is one with `Dir`
    on the medium, so `dir/ss` went to `Dir/ss` and is removed; `Dir/ß` is a file of its own there,
    with its own content, and stays in the catalog (it was named not written, out of the catalog, the
    medium holding it under a path the catalog lacked)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    files = {"Dir/ß": b"sharp" * 7, "dir/ss": b"double", "Dir/in": b"in", "dir/in": b"IN" * 3}
    write_files(data, files)
    medium = lab.media[0][1]
    with fat_mounted(medium, "exfat"):
        for run in range(2):
            made = lab.backup(cfg)
            assert made.status == "warnings", made.reason
            store = lab.store()
            backup = store.one("SELECT id, name FROM backups ORDER BY id DESC LIMIT 1")
            _, _, unmade = not_read.of_backup(store, backup["id"], str(data))
            assert sorted(unmade) == ["Dir/in", "dir/in", "dir/ss"], unmade
            copy = next(p for p in medium.rglob("*") if p.name == "Dir" and backup["name"] in str(p))
            assert sorted(os.listdir(copy)) == ["ß"] and (copy / "ß").read_bytes() == files["Dir/ß"]
            assert _in_catalog(store, backup, data) == ["Dir/ß"]
        prepare.compute(cfg, store, asked={"*"})
        out = tmp_path / "out"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0
    assert (out / str(data).lstrip("/") / "Dir" / "ß").read_bytes() == files["Dir/ß"]


def test_sets_that_casefold_joins_wider_than_exfat_take_out_those_it_does_not_list(tmp_path):
    """`ß`, `ss`, `SS` (and the Kelvin sign, `k`, `K`; directories `Straße`, `STRASSE`, `strasse`):
    str.casefold joins each set, exFAT keeps two apart and writes the third over one of them. Two
    were listed as they are, so nothing was taken out: the backup said "completed", the catalog held
    the one written over (a file lost in silence, the plan then refusing the directory for it)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    files = {"ß": b"1", "ss": b"22", "SS": b"333", "kel/\u212a": b"k1", "kel/k": b"k22", "kel/K": b"k333",
             "Straße/f": b"f", "STRASSE/g": b"gg", "strasse/h": b"hhh"}
    write_files(data, files)
    medium = lab.media[0][1]
    with fat_mounted(medium, "exfat"):
        for run in range(2):
            made = lab.backup(cfg)
            assert made.status == "warnings", made.reason
            store = lab.store()
            backup = store.one("SELECT id, name FROM backups ORDER BY id DESC LIMIT 1")
            _, _, unmade = not_read.of_backup(store, backup["id"], str(data))
            # of each set, the one written over another (which changes from backup to backup)
            assert len(unmade) == 3 and {u.casefold() for u in unmade} == {"ss", "kel/k", "strasse/h"}, unmade
            assert "ß" not in unmade and "kel/\u212a" not in unmade and "Straße/f" not in unmade
            catalog, held = _catalog_and_medium(store, medium, backup, data)
            assert set(held) == catalog == set(files) - set(unmade)
            assert {n: files[n] for n in catalog} == held
        prepare.compute(cfg, store, asked={"*"})
        out = tmp_path / "out"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)]) == 0


def test_a_file_rsync_took_from_the_base_under_another_name_alike_is_not_kept_with_its_content(tmp_path):
    """`Case` and `case` of the same size and time: the first backup kept `case`. The second's rsync
    looked `Case` up in its base, found `case` there (exFAT takes one for the other), saw it
    unchanged and copied its content: the backup said "completed", the catalog held `Case` with its
    own content and the medium `case`'s under that name (a restore gave `case`'s content back as
    `Case`). Now it is removed and named not written; no backup holds a file with another's content."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    files = {"Case": b"AAAA", "case": b"bbbb", "x/y": b"1"}
    write_files(data, files)
    for name in files:
        os.utime(data / name, (1_600_000_000, 1_600_000_000))
    medium = lab.media[0][1]
    with fat_mounted(medium, "exfat"):
        for run in range(3):
            made = lab.backup(cfg)
            assert made.status == "warnings", made.reason
            store = lab.store()
            backup = store.one("SELECT id, name FROM backups ORDER BY id DESC LIMIT 1")
            catalog, held = _catalog_and_medium(store, medium, backup, data)
            assert set(held) == catalog and "x/y" in catalog
            assert {n: files[n] for n in catalog} == held
            if run == 1:     # the next backup writes it anew, its base not holding it
                assert "taken by rsync as unchanged from the base under a name differing only in case" in made.reason
                assert catalog == {"x/y"}
        prepare.compute(cfg, store, asked={"*"})
