"""The day's medium fills up while several sources write to it at once (a real small tmpfs, real
rsync): each source's backup ends as what it is, the catalog says exactly what the medium holds,
and no backup that did not complete is a base, a version's home or in an archive union."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from rabtui.cli import main
from tests import invariants
from tests.trees import Lab, write_files


def _run(lab: Lab, *argv: str) -> int:
    return main(["--config", str(lab.config_path), *argv])


def _checked(lab: Lab) -> None:
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)


@pytest.mark.parametrize("kind, freed", [("standard", 0), ("archive", 2)])
def test_a_source_whose_medium_another_filled_before_its_end_leaves_nothing_behind(tmp_path, tmpfs, capsys,
                                                                                   kind, freed):
    """Source `a` had copied its files when `b`, running at the same time, used the last inodes of
    the medium. Standard: its final backup.json goes into the room kept for it since step 3 (it
    once failed there, leaving a complete backup `running` on the medium): it completes. Archive:
    linking its third new file into the union failed once b's partial backup gave back two inodes;
    the backup failed, but the first two links in the union stayed (files the catalog did not
    know, that the next backup took as saved). Now they are undone, as recovery undoes a killed
    run's, its data whole kept (it was deleted as a failed run's), and the next night's backup is whole."""
    lab = Lab(tmp_path)
    medium = tmpfs(lab.media[0][1], "size=16m,nr_inodes=300")
    write_files(lab.src / "a", {f"f{i}": f"a{i}" for i in range(10)})
    a_dir = f'[[sources.directories]]\npath = "{lab.src / "a"}"\nkind = "{kind}"\n'
    lab.write('[[sources]]\nid = "a"\n' + a_dir)
    assert _run(lab, "backup", "a", "--medium", "m1") == 0

    # the next night: `a` has new files; `b` is new, has more files than the medium has inodes, and
    # starts once a's files are copied; a's post-backup command waits until b has failed (its
    # partial backup keeps the inodes), and gives `freed` of them back
    write_files(lab.src / "a", {f"new{i}": f"n{i}" for i in range(5)})
    write_files(lab.src / "b", {f"x{i:04}": "x" for i in range(600)})
    copied = tmp_path / "a-copied"
    post = (f"touch {copied}; until grep -qs 'backup of b failed' {medium}/b/backup-*/backup.log; do sleep 0.1; done;"
            f" find {medium}/b -name 'x*' -type f | head -n {freed} | xargs -r rm")
    lab.write(f'[[sources]]\nid = "a"\npost_backup_commands = ["{post}"]\n' + a_dir
              + f'[[sources]]\nid = "b"\npre_backup_commands = ["until [ -e {copied} ]; do sleep 0.1; done"]\n'
              f'[[sources.directories]]\npath = "{lab.src / "b"}"\n')
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\ncommand_timeout = 20\n"))
    assert _run(lab, "backup", "--all", "--medium", "m1") == 1
    out = capsys.readouterr().out
    assert "a: step 6/7 post-backup commands: ok" in out
    store = lab.store()
    rows = {r["source"]: r for r in store.all("SELECT * FROM backups WHERE id > 1")}
    assert rows["b"]["status"] == "failed"
    in_catalog = store.one("SELECT COUNT(*) FROM versions WHERE ? IN (first_backup, last_backup)",
                           (rows["a"]["id"],))[0]
    if kind == "standard":
        assert rows["a"]["status"] == "completed" and in_catalog
        assert json.loads((medium / "a" / rows["a"]["name"] / "backup.json").read_text())["status"] == "completed"
    else:
        assert rows["a"]["status"] == "kept" and in_catalog
        assert "No space left on device" in rows["a"]["reason"] and "the data is kept" in rows["a"]["reason"], \
            rows["a"]["reason"]
    _checked(lab)

    # space again (failed runs go after a day), and a's next backup is whole, linked to the last complete one
    later = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert _run(lab, "cleanup", "--now", later) == 0
    lab.write('[[sources]]\nid = "a"\n' + a_dir)
    assert _run(lab, "backup", "a", "--medium", "m1") == 0
    last = store.one("SELECT * FROM backups WHERE source='a' ORDER BY id DESC LIMIT 1")
    assert last["status"] == "completed"
    if kind == "standard":
        assert last["link_dest"] == rows["a"]["id"]
        assert json.loads((medium / "a" / last["name"] / "backup.json").read_text())["link_dest"] == rows["a"]["name"]
    new = {bytes(r["path"]).rsplit(b"/", 1)[-1] for r in store.all(
        "SELECT p.path FROM versions v JOIN paths p ON p.id=v.path_id WHERE v.last_backup=?", (last["id"],))}
    assert {f"new{i}".encode() for i in range(5)} <= new
    _checked(lab)
