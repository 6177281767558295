"""rebuild-state and a backup copied by hand (`cp -a`) onto another medium, or into another
source's folder: its backup.json names the place that holds the original, so it is not taken as
this place's (exit 3, named); the backups there keep their ids, and a source's restore never gives
another source's files. Real backups onto directory media."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 9, 1, 3, 0)


def _rebuilt(lab, capsys) -> str:
    lab.store().close()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    assert "renumbered" not in out, out
    return out


def _rows(lab) -> list[tuple]:
    return [tuple(r) for r in lab.store().all("SELECT id, source, medium, name FROM backups ORDER BY id")]


def _copied_into_locs_folder(tmp_path):
    """Backups of loc (its file "loc's") and of web1 ("web1's"), the second copied into loc's folder."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source(None, "", "loc") + lab._local_source(None, "", "web1"))
    write_files(lab.src / "data", {"a": b"loc's"})
    b1 = lab.backup(cfg, "loc", now=T0)
    write_files(lab.src / "data", {"a": b"web1's"})
    b2 = lab.backup(cfg, "web1", now=T0 + timedelta(days=1))
    subprocess.run(["cp", "-a", str(b2.path), str(lab.media[0][1] / "loc")], check=True)
    return lab, b1, b2


def test_a_backup_copied_from_another_medium_is_not_taken_as_this_ones(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"v1"})
    b1 = lab.backup(cfg, now=T0, medium_id="m1")
    (lab.src / "data" / "a").write_bytes(b"v22")
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2")
    subprocess.run(["cp", "-a", str(b1.path), str(lab.media[1][1] / "loc")], check=True)

    out = _rebuilt(lab, capsys)
    assert f"medium m2: loc/{b1.path.name}: a copy of the backup {b1.path} (its backup.json names medium m1)" in out
    assert _rows(lab) == [(b1.backup_id, "loc", "m1", b1.path.name), (b2.backup_id, "loc", "m2", b2.path.name)]
    assert json.loads((b2.path / "backup.json").read_text())["backup_id"] == b2.backup_id
    assert main(["--config", str(lab.config_path), "find", "a"]) == 0     # the copy is no backup not known
    assert "does not know" not in capsys.readouterr().err


def test_a_backup_copied_into_another_sources_folder_is_not_restored_as_its_files(tmp_path, capsys):
    lab, b1, b2 = _copied_into_locs_folder(tmp_path)

    out = _rebuilt(lab, capsys)
    assert f"medium m1: loc/{b2.path.name}: a copy of the backup {b2.path} (its backup.json names source web1)" in out
    assert _rows(lab) == [(b1.backup_id, "loc", "m1", b1.path.name), (b2.backup_id, "web1", "m1", b2.path.name)]
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data" / "a"),
                 "--to", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / str(lab.src / "data" / "a").lstrip("/")).read_bytes() == b"loc's"


def test_a_backup_copied_into_another_sources_folder_is_no_base_of_its_next_backup(tmp_path):
    """Linked from the copy, the file of the same size and time would hold the other source's bytes."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source(None, "", "loc") + lab._local_source(None, "", "web1"))
    a = lab.src / "data" / "a"
    write_files(lab.src / "data", {"a": b"web1's"})
    os.utime(a, (1_700_000_000, 1_700_000_000))
    copied = lab.backup(cfg, "web1", now=T0)
    (lab.media[0][1] / "loc").mkdir(mode=0o700)
    subprocess.run(["cp", "-a", str(copied.path), str(lab.media[0][1] / "loc")], check=True)
    write_files(lab.src / "data", {"a": b"loc's!"})
    os.utime(a, (1_700_000_000, 1_700_000_000))
    made = lab.backup(cfg, "loc", now=T0 + timedelta(days=1))
    assert made.status == "completed", made.reason
    assert (made.path / "data" / str(a).lstrip("/")).read_bytes() == b"loc's!"


def test_a_copy_of_another_sources_backup_whose_original_is_gone_is_not_restored_as_its_files(tmp_path, capsys):
    """The original deleted since (by cleanup, or on a medium away): the record still names a source
    of the config, so the copy is not this source's; nor is it a backup the database lacks."""
    lab, b1, b2 = _copied_into_locs_folder(tmp_path)
    shutil.rmtree(b2.path)

    out = _rebuilt(lab, capsys)
    assert f"medium m1: loc/{b2.path.name}: a backup of the source web1 (its backup.json names it)" in out, out
    assert _rows(lab) == [(b1.backup_id, "loc", "m1", b1.path.name)]
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data" / "a"),
                 "--to", str(tmp_path / "out")]) == 0, capsys.readouterr()
    assert (tmp_path / "out" / str(lab.src / "data" / "a").lstrip("/")).read_bytes() == b"loc's"


def test_a_source_renamed_its_folder_renamed_by_hand_is_still_said_unknown_then_read(tmp_path, capsys):
    """Its records name the old id, which the database knows them under at the old folder, gone:
    no copy, but backups of the new id the database lacks; rebuild-state takes them as its."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"v1"})
    b1 = lab.backup(cfg, "loc", now=T0)
    lab.write(lab._local_source(None, "", "web"))
    (lab.media[0][1] / "loc").rename(lab.media[0][1] / "web")
    assert main(["--config", str(lab.config_path), "restore", "web", str(lab.src / "data" / "a"),
                 "--to", str(tmp_path / "out")]) == 1
    assert f"medium m1 holds 1 backup of web the state database does not know (web/{b1.path.name})" \
        in capsys.readouterr().err
    lab.store().close()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr().out
    assert _rows(lab) == [(b1.backup_id, "web", "m1", b1.path.name)]
