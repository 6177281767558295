"""Backups are named by their start time on each medium: a clock set back (a dead RTC battery, NTP
stepping it) gives two media a backup of one name. A name that stands for two backups chooses
neither: restore and diff refuse it, naming each backup's id and medium (exit 2, nothing written),
and take the id. Real rsync, the real command line."""

from __future__ import annotations

from datetime import datetime

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)
NAME = "backup-20260301020000"


def test_a_name_two_media_give_a_backup_is_refused_and_the_id_taken(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"on m1"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(data, {"a.txt": b"on m2, later"})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    ids = {r["medium"]: r["id"] for r in lab.store().all("SELECT id, medium FROM backups WHERE name=?", (NAME,))}
    assert set(ids) == {"m1", "m2"}
    run = ["--config", str(lab.config_path)]
    path = str(data / "a.txt")
    capsys.readouterr()

    assert main([*run, "restore", "loc", path, "--backup", NAME, "--to", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{NAME} names 2 backups of loc: id {ids['m1']} on medium m1, id {ids['m2']} on medium m2" in err, err
    assert not (tmp_path / "out").exists()
    assert main([*run, "diff", "loc", NAME, str(ids["m2"])]) == 2
    assert f"{NAME} names 2 backups of loc" in capsys.readouterr().err

    assert main([*run, "restore", "loc", path, "--backup", str(ids["m1"]), "--to", str(tmp_path / "m1")]) == 0
    assert (tmp_path / "m1" / path.lstrip("/")).read_bytes() == b"on m1"


def test_find_names_the_id_of_a_backup_whose_name_two_media_give(tmp_path, capsys):
    """find names each backup by its name, and by its id too where the name stands for two
    (`backup_ids` beside `backups` in --json, always): the id a refused name asks for."""
    import json

    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a.txt": b"one", "b.txt": b"b"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    assert lab.backup(cfg, now=datetime(2026, 3, 2, 2, 0, 0), medium_id="m2").status == "completed"
    rows = lab.store().all("SELECT id, medium, name FROM backups ORDER BY id")
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main([*run, "find", "a.txt"]) == 0
    out = capsys.readouterr().out
    assert f"m1: {NAME} (id {rows[0]['id']})" in out, out
    assert f"m2: {NAME} (id {rows[1]['id']}) .. backup-20260302020000 (2 backups)" in out, out
    assert "backup-20260302020000 (id" not in out
    assert main([*run, "find", "a.txt", "--json"]) == 0
    found = {loc["medium"]: loc for loc in json.loads(capsys.readouterr().out)[0]["locations"]}
    assert (found["m1"]["backups"], found["m1"]["backup_ids"]) == ([NAME], [rows[0]["id"]])
    assert found["m2"]["backup_ids"] == [rows[1]["id"], rows[2]["id"]]
