"""A `backup.json` that records no kind for a directory (edited by hand, written by an older
rabtui) never makes archive data deletable: rebuild-state takes the directory as an archive one
where the medium holds an archive union of it (it was one there, maybe in that backup), whatever
the config says now; standard only where there is none; and says which in its report. Real rsync,
the real command line in process."""

from __future__ import annotations

import json

from rabtui.backup.retention_guard import ArchiveGuard
from rabtui.cli import main
from tests.trees import Lab, write_files


def test_a_directory_recorded_without_its_kind_is_no_archive_made_deletable(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch", "archive"), ("std", "standard")])
    write_files(lab.src / "arch", {"only-here": b"saved once"})
    write_files(lab.src / "std", {"s": b"s"})
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "backup", "loc"]) == 0
    (bj,) = (lab.media[0][1] / "loc").glob("backup-*/backup.json")
    info = json.loads(bj.read_text())
    for d in info["directories"]:
        del d["kind"]
    bj.write_text(json.dumps(info))
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
