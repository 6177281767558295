"""`find` lists the symlinks and special files every backup holds, as it lists the files (the
catalog's `others`): of a standard directory across the complete backups holding each, of a kept
backup (post-backup command failed) by itself, of an archive directory with the union; the same
after `rebuild-state`; each found is restored from the backup find names; a cleanup moves their
ranges as it moves the files'. Real rsync backups of a local source."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

from rabtui.actions import find as find_actions
from rabtui.actions.restore import copy_of_version
from rabtui.backup import catalog_forget
from rabtui.cli import main
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 7, 1, 3, 0)
OFF, FAILING = "post_backup_commands = []", 'post_backup_commands = ["exit 4"]'


def _others(d, tag: str) -> None:
    os.symlink(f"f.txt-{tag}", d / f"link-{tag}")
    os.mkfifo(d / f"pipe-{tag}")


def _history(lab):
    """A complete backup (link-a, pipe-a), a kept one adding link-k and pipe-k, the source without
    those, a complete backup again. Returns the three backups' names."""
    cfg = lab.local([("std", "standard"), ("arc", "archive")], extra=OFF)
    for k in ("std", "arc"):
        write_files(lab.src / k, {"f.txt": b"x"})
        _others(lab.src / k, "a")
    names = [lab.backup(cfg, now=T0).path.name]
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace(OFF, FAILING))
    for k in ("std", "arc"):
        _others(lab.src / k, "k")
    names.append(lab.backup(lab.load(), now=T0 + timedelta(days=1)).path.name)
    for k in ("std", "arc"):
        for name in ("link-k", "pipe-k"):
            (lab.src / k / name).unlink()
    lab.config_path.write_text(text)
    names.append(lab.backup(lab.load(), now=T0 + timedelta(days=2)).path.name)
    return names


def _found(lab, capsys, pattern: str) -> dict:
    assert main(["--config", str(lab.config_path), "find", pattern, "--json"]) == 0
    out = {}
    for v in json.loads(capsys.readouterr().out):
        where = [(tuple(loc["backups"]), loc.get("archive", False)) for loc in v["locations"]]
        out[v["path"].rsplit("/", 2)[-2] + "/" + v["path"].rsplit("/", 1)[-1]] = (v.get("kind"), sorted(where))
    return out


def test_find_lists_the_symlinks_and_fifos_each_backup_holds_and_they_are_restored(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    b1, kept, b3 = _history(lab)
    links = _found(lab, capsys, "link-")
    assert links == {
        "std/link-a": ("symlink", [((b1, b3), False), ((kept,), False)]),
        "std/link-k": ("symlink", [((kept,), False)]),
        "arc/link-a": ("symlink", [((b1,), True)]),       # saved by b1, in the union since
        "arc/link-k": ("symlink", [((kept,), False)]),    # kept data: never in the union
    }
    assert {p: kind for p, (kind, _) in _found(lab, capsys, "pipe-").items()} == dict.fromkeys(
        ("std/pipe-a", "std/pipe-k", "arc/pipe-a", "arc/pipe-k"), "special")
    assert main(["--config", str(lab.config_path), "find", "link-k"]) == 0
    assert "link-k  symlink" in capsys.readouterr().out

    # Browse's restore of a found entry takes it from the newest backup holding it
    cfg, store = lab.load(), lab.store()
    for v in find_actions.find(cfg, store, "link-a").versions:
        copy = copy_of_version(cfg, store, cfg.source("loc"), v.path, v.size, v.mtime)
        assert copy.backup["name"] == (b3 if b"/std/" in v.path else b1), v.path

    # what find lists, restored from the backups it names
    for rel, (_, where) in links.items():
        for backups, _ in where:
            out = tmp_path / "restored" / backups[-1]
            path = lab.src / rel
            assert main(["--config", str(lab.config_path), "restore", "loc", str(path), "--to", str(out),
                         "--backup", backups[-1], "--overwrite"]) == 0
            assert os.readlink(out / str(path).lstrip("/")) == "f.txt-" + rel[-1], (rel, backups)

    # rebuild-state records them as the backups did
    capsys.readouterr()
    lab.lose_database()
    main(["--config", str(lab.config_path), "rebuild-state"])
    capsys.readouterr()
    assert _found(lab, capsys, "link-") == links


def test_a_cleanup_moves_the_ranges_of_symlinks_as_of_files(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("std", "standard")])
    write_files(lab.src / "std", {"f.txt": b"x"})
    os.symlink("f.txt", lab.src / "std" / "link")
    ids = [lab.backup(cfg, now=T0 + timedelta(days=n)).backup_id for n in range(3)]
    store = lab.store()

    def ranges(table: str) -> list[tuple]:
        return [tuple(r) for r in store.all(f"SELECT first_backup, last_backup FROM {table}")]

    assert ranges("others") == ranges("versions") == [(ids[0], ids[2])]
    catalog_forget.forget_backups(store, [ids[0], ids[2]], cfg)
    assert ranges("others") == ranges("versions") == [(ids[1], ids[1])]
    catalog_forget.forget_backups(store, [ids[1]], cfg)
    assert ranges("others") == ranges("versions") == []


def test_a_checkpointed_symlink_is_one_entry_with_its_backups_and_its_disc(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    write_files(data, {"f.txt": b"x"})
    os.symlink("f.txt", data / "link")
    os.mkfifo(data / "pipe")
    (data / "empty").mkdir()
    name = lab.backup(cfg).path.name
    number = burn_due(cfg, lab.store(), asked={"*"})
    disc = [(f"checkpoint {number}", 1)]
    assert main(["--config", str(lab.config_path), "find", "*", "--json"]) == 0
    found = {v["path"].rsplit("/", 1)[-1]: (v.get("kind"), v["size"], [
        (loc["backups"][0], 0) if loc["kind"] == "backup" else (f"checkpoint {loc['checkpoint']}", loc["disc"])
        for loc in v["locations"]]) for v in json.loads(capsys.readouterr().out)}
    assert found == {"f.txt": (None, 1, [(name, 0)] + disc), "link": ("symlink", 0, [(name, 0)] + disc),
                     "pipe": ("special", 0, [(name, 0)] + disc), "empty": ("directory", 0, disc)}
