"""A source removed from the configuration (or renamed) through the UI's source form leaves its
backups on the media and in the catalog: they can still be found and restored to a directory, never
onto a machine the configuration no longer names."""

from __future__ import annotations

import pytest

from rabtui.cli import main
from rabtui.config import edit as config_edit
from tests.trees import Lab, write_files


def _backed_up_then_edited(tmp_path, edit):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "standard"), ("photos", "archive")], "", "loc")
                    + lab._local_source([("other", "standard")], "", "keep"))
    write_files(lab.src / "data", {"a.txt": b"first", "sub/b.txt": b"b"})
    write_files(lab.src / "photos", {"p.jpg": b"photo"})
    assert lab.backup(cfg).status == "completed"
    write_files(lab.src / "data", {"c.txt": b"c"})
    assert lab.backup(cfg).status == "completed"
    snap = config_edit.read(lab.config_path)
    config_edit.save(snap, edit(snap))
    return lab


def _renamed(snap):
    values = snap.source_values("loc")
    values["id"] = "loc2"
    return snap.put_source(values, "loc")


@pytest.mark.parametrize("edit", [lambda snap: snap.delete_source("loc"), _renamed], ids=["removed", "renamed"])
def test_the_backups_of_a_source_no_longer_in_the_config_are_restored_to_a_directory(tmp_path, capsys, edit):
    lab = _backed_up_then_edited(tmp_path, edit)
    (lab.src / "data/a.txt").unlink()
    out = tmp_path / "out"
    for path in (lab.src / "data", lab.src / "photos/p.jpg"):
        assert main(["--config", str(lab.config_path), "restore", "loc", str(path), "--to", str(out)]) == 0
    restored = out / str(lab.src).lstrip("/")
    assert (restored / "data/a.txt").read_bytes() == b"first"
    assert (restored / "data/sub/b.txt").read_bytes() == b"b"
    assert (restored / "photos/p.jpg").read_bytes() == b"photo"
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "diff", "loc"]) == 0
    assert "1 added" in capsys.readouterr().out


def test_a_source_no_longer_in_the_config_is_not_restored_onto_a_machine(tmp_path, capsys):
    lab = _backed_up_then_edited(tmp_path, lambda snap: snap.delete_source("loc"))
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to-source"]) == 2
    err = capsys.readouterr().err
    assert "source loc is no longer in" in err and "--to DIR" in err
    assert (lab.src / "data/a.txt").read_bytes() == b"first"


def test_a_source_that_never_had_a_backup_is_still_unknown(tmp_path, capsys):
    lab = _backed_up_then_edited(tmp_path, lambda snap: snap.delete_source("loc"))
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "nope", "/x", "--to", str(tmp_path / "o")]) == 2
    assert "no source with id 'nope'" in capsys.readouterr().err
