"""A checkpoint of a backup that could not read some paths on the source (backup/unreadable.py):
they are on none of its discs, and the plan, the planning and each disc's README.txt say which.
Real rsync over the test sshd (the source's rsync without root's right to read everything) and a
real disc image written by xorriso."""

from __future__ import annotations

import json
import os
from datetime import datetime

from rabtui.checkpoint import layout, prepare
from rabtui.cli import main
from rabtui.events import READY
from tests.test_checkpoint import _burn
from tests.test_checkpoint_readme import _from_disc
from tests import test_unreadable_on_source
from tests.test_unreadable_on_source import BLIND
from tests.trees import Lab, ssh_source_lines, write_files

pytestmark = test_unreadable_on_source.pytestmark     # root and setpriv


def test_a_disc_says_what_the_backup_it_holds_could_not_read(tmp_path, sshd, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    write_files(data, {"keep": b"k", "secret": b"s", "bad\nname\x1b[31m": b"b", "closed/in": b"i"})
    for name in ("secret", "bad\nname\x1b[31m", "closed"):
        os.chmod(data / name, 0)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n[[sources.directories]]\npath = "{data}"\n'
                    f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    done = lab.backup(cfg, "web", now=datetime(2026, 7, 1, 3, 0))
    assert done.status == "warnings", done.reason
    names = ["bad\nname\x1b[31m", "closed/.", "secret"]

    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--json"]) == 0
    [d] = json.loads(capsys.readouterr().out)["directories"]
    assert (d["unreadable"], d["unreadable_unnamed"]) == (names, 0)
    assert main(["--config", str(lab.config_path), "checkpoint", "plan"]) == 0
    text = capsys.readouterr().out
    assert "could not read 3 paths on the source, not on the discs: bad\\nname\\033[31m, closed/., secret" in text

    store = lab.store()
    said = []
    c = prepare.compute(cfg, store, emit=said.append)
    assert [e.message for e in said if e.kind == "warning"] == [
        f"web:{data}: backup {done.path.name} could not read 3 paths on the source, and they are not on the discs,"
        " e.g. bad\nname\x1b[31m"]
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    [planned] = [x for x in json.loads(store.one("SELECT plan FROM checkpoints WHERE number=?", (number,))[0])["dirs"]]
    assert (planned["unreadable"], planned["unreadable_unnamed"]) == (names, 0)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    readme = _from_disc(tmp_path / "iso" / f"RAB{number}D01.iso", "/README.txt", tmp_path / "README.txt").decode()
    shown = layout.escape_path(os.fsencode(str(data)))
    block = readme.split(f"=  web:{shown}  (standard, backup {done.backup_id}, discs 1)  <- on this disc\n", 1)[1]
    assert block.split("\n\n", 1)[0].splitlines() == [
        "      3 paths its backup could not read on the source, not on these discs (older backups on the media"
        " may hold them):", "        bad\\nname\\x1b[31m", "        closed/.", "        secret"]
    assert "\x1b" not in readme
