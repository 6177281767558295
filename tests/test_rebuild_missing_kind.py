"""A `backup.json` that records no kind for a directory (edited by hand, written by an older
rabtui) never makes archive data deletable: rebuild-state takes the directory as an archive one
where the medium holds an archive union of it (it was one there, maybe in that backup), whatever
the config says now; standard only where there is none; and says which in its report. Real rsync,
the real command line in process."""

from __future__ import annotations

import json
import os

from rabtui.backup.retention_guard import ArchiveGuard
from rabtui.cli import main
from tests.trees import Lab, write_files


def _backed_up_recording_no_kinds(lab: Lab) -> list[str]:
    """A backup of source "loc" made, its backup.json then recording no kind for any directory:
    the command line's arguments naming the config."""
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "backup", "loc"]) == 0
    (bj,) = (lab.media[0][1] / "loc").glob("backup-*/backup.json")
    info = json.loads(bj.read_text())
    for d in info["directories"]:
        del d["kind"]
    bj.write_text(json.dumps(info))
    return argv


def test_a_directory_recorded_without_its_kind_is_no_archive_made_deletable(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch", "archive"), ("std", "standard")])
    write_files(lab.src / "arch", {"only-here": b"saved once"})
    write_files(lab.src / "std", {"s": b"s"})
    argv = _backed_up_recording_no_kinds(lab)
    # the archive directory made a standard one since (and the file gone from the source)
    lab.config_path.write_text(lab.config_path.read_text().replace('kind = "archive"', 'kind = "standard"'))
    (lab.src / "arch" / "only-here").unlink()

    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) == 3
    said = capsys.readouterr().out
    arch, std = str(lab.src / "arch"), str(lab.src / "std")
    assert f"{arch} records no kind: taken as an archive directory" in said, said
    assert f"{std} records no kind: taken as a standard directory" in said, said
    store = lab.store()
    try:
        kinds = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM backup_dirs")}
        assert kinds == {arch: "archive", std: "standard"}
        bid = store.one("SELECT id FROM backups")["id"]
        assert ArchiveGuard(store, "loc", [], ["m1"]).only_copies(bid) == 1    # its only copy: kept
    finally:
        store.close()


def test_a_union_that_cannot_be_looked_at_is_taken_for_one(tmp_path):
    """Where the medium's union of the directory cannot be looked at by its path (past PATH_MAX),
    it may be there: the directory is taken as an archive one."""
    from rabtui.media.medium_layout import archive_root
    from rabtui.rebuild.record import kind_taken

    parts = ["d" * 250] * 17                      # 4,267 bytes: past PATH_MAX
    dir_path = "/" + "/".join(parts)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in ("loc", ".archive", *parts):
            os.mkdir(name, dir_fd=fd)
            fd, old = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    assert kind_taken(tmp_path, "loc", dir_path, "standard")[0] == "archive"
    assert kind_taken(tmp_path, "loc", "/elsewhere", "standard")[0] == "standard"
    assert len(str(archive_root(tmp_path, "loc", dir_path)).encode()) > 4096


def test_a_standard_directory_made_archive_since_with_no_union_is_taken_as_standard(tmp_path, capsys):
    """A backup.json recording no kinds, of a directory the config made archive since with no
    archive backup on the medium yet (no union there): rebuild-state takes it as a standard one, as
    every reader takes such a backup (saved_kinds), and the directory restores as a whole from the
    backup's own tree (taken as an archive one, it was looked for in a union that is not there)."""
    from rabtui.restore import run as restore_run

    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "standard")])
    write_files(lab.src / "photos", {"p": b"p", "sub/q": b"q"})
    argv = _backed_up_recording_no_kinds(lab)
    lab.local([("photos", "archive")])
    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) == 3
    photos = str(lab.src / "photos")
    assert f"{photos} records no kind: taken as a standard directory" in capsys.readouterr().out
    cfg, store = lab.load(), lab.store()
    try:
        name = store.one("SELECT name FROM backups")["name"]
        restore_run.restore(cfg, store, "loc", photos, backup=name, to=tmp_path / "out")
    finally:
        store.close()
    got = tmp_path / "out" / photos.lstrip("/")
    assert (got / "p").read_bytes() == b"p" and (got / "sub" / "q").read_bytes() == b"q"
