"""A checkpoint of a backup that could not read some paths on the source (backup/unreadable.py):
they are on none of its discs, and the plan, the planning and each disc's README.txt say which
(bounded); and `diff` to the backup after says which were read again, past the names kept too.
Real rsync over the test sshd (the source's rsync without root's right to read everything) and a
real disc image written by xorriso."""

from __future__ import annotations

import json
import os

import pytest
from datetime import datetime

from rabtui.checkpoint import layout, prepare
from rabtui.cli import main
from rabtui.events import READY
from rabtui.rebuild import disc_text
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
        f"web:{data}: backup {done.path.name} could not read 3 paths on the source, not on the discs,"
        " e.g. bad\\nname\\033[31m"]
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
        " may hold them;", "      NAME a file, NAME/. what a directory holds, NAME/ an entry and what is below it, . all):",
        "        bad\\nname\\x1b[31m", "        closed/.", "        secret"]
    assert "\x1b" not in readme


NAMES = [b"%02d-\xff\n" % i + b"n" * 244 for i in range(60)]


@pytest.fixture(scope="module")
def many_closed(tmp_path_factory, sshd):
    """A backup that could not read 60 files of 250-byte names (not UTF-8, a newline) and a
    directory 3,500 bytes deep: more than backup.json names."""
    tmp_path = tmp_path_factory.mktemp("many-closed")
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    deep = b"/".join([b"d" * 250] * 14)
    write_files(data, {b"keep": b"k", **{n: b"x" for n in NAMES}, deep + b"/in": b"i"})
    closed = [os.path.join(os.fsencode(data), n) for n in [*NAMES, deep]]
    for path in closed:
        os.chmod(path, 0)
    cfg = lab.write(ssh_source_lines(sshd) + f'rsync_path = "{BLIND}"\n[[sources.directories]]\npath = "{data}"\n'
                    f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    done = lab.backup(cfg, "web", now=datetime(2026, 7, 1, 3, 0))
    assert done.status == "warnings", done.reason
    yield lab, cfg, data, done, closed


def test_many_long_names_it_could_not_read_keep_to_their_room_on_the_disc(many_closed):
    """README.txt names what fits its room (2 KiB of names), counts the rest, and the disc is
    written within the room kept for it; rebuild-state still reads the directory's line."""
    lab, cfg, data, done, _ = many_closed
    tmp_path = lab.tmp
    store = lab.store()
    c = prepare.compute(cfg, store)
    [d] = c.data
    assert len(d.unread) + d.unread_unnamed == 61 and d.unread_unnamed > 0
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    res, _, _ = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    readme = _from_disc(tmp_path / "iso" / f"RAB{number}D01.iso", "/README.txt", tmp_path / "README.txt")
    block = readme.split(b"paths its backup could not read on the source", 1)[1].split(b"\n\n", 1)[0].split(b"\n")[2:]
    shown, more = block[:-1], block[-1]
    assert shown and all(line.startswith(b"        ") and b"\\xff\\n" in line for line in shown)
    assert sum(len(line) + 1 for line in shown) <= layout.UNREAD_ROOM
    assert more == f"        ... and {61 - len(shown)} more (rabtui/rabtui.db, table unreadable, names them as far as" \
                   " the backup could)".encode()
    assert disc_text.readme_backup(readme, "web", str(data)) == done.backup_id


def test_paths_read_again_past_those_named_are_said(many_closed, capsys):
    """The backup after one that could not read more than it names: those named are read again,
    the others added, with a line that says some of them may be read again."""
    lab, cfg, data, done, closed = many_closed
    for path in closed:
        os.chmod(path, 0o755)
    again = lab.backup(cfg, "web", now=datetime(2026, 7, 2, 3, 0))
    assert again.status == "completed", again.reason
    assert main(["--config", str(lab.config_path), "diff", "web", done.path.name, again.path.name, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    [recorded] = json.loads((done.path / "backup.json").read_text())["directories"]
    unnamed = recorded["unreadable_unnamed"]
    # the 60 files and deep/in: those it named read again, those it did not added
    assert (d["readable_again_unnamed"], len(d["added"]), len(d["readable_again"])) == (unnamed, unnamed, 61 - unnamed)
    assert main(["--config", str(lab.config_path), "diff", "web", done.path.name, again.path.name]) == 0
    assert (f"{done.path.name} could not read {unnamed} more paths on the source than it names: some of those"
            " added may be among them (readable again)") in capsys.readouterr().out


def test_readme_lines_by_kind_and_of_plans_made_before():
    assert layout.unread_lines({"kind": "archive", "unreadable": ["a/."], "unreadable_unnamed": 2}) == [
        "      3 paths its backup could not read on the source, on these discs only as an earlier backup saved"
        " them (if one did;", "      NAME a file, NAME/. what a directory holds, NAME/ an entry and what is below it,"
        " . all):", "        a/.", "        ... and 2 more (rabtui/rabtui.db, table unreadable, names them as far as"
        " the backup could)"]
    assert layout.unread_lines({"kind": "standard", "role": "data", "prefix": "data/web/x"}) == []


def test_the_plan_line_counts_those_past_the_names():
    from rabtui.cli.checkpoint_cmds import _not_read

    assert _not_read(["a", "b"], 3, "standard") == "    could not read 5 paths on the source, not on the discs: a, b and 3 more"
    assert _not_read([f"n{i}" for i in range(12)], 0, "archive").endswith("n9 and 2 more")
    assert "as saved before" in _not_read(["a"], 0, "archive")


def test_the_room_kept_for_names_not_in_ascii_is_counted_in_bytes():
    """README.txt is written as UTF-8: the room each disc keeps for a directory's names is what
    they take there in bytes (a name of 3-byte characters is kept as it is, not escaped)."""
    from types import SimpleNamespace

    from rabtui.checkpoint import not_read

    names = ["日本" * 100, "é" * 300, "x"]
    for kind in ("archive", "standard"):
        written = "\n".join(layout.unread_lines({"kind": kind, "unreadable": names, "unreadable_unnamed": 4}))
        assert len(written.encode()) + 1 <= not_read.readme_bytes(SimpleNamespace(unread=names, unread_unnamed=4, unmade=[]))


def test_names_not_read_are_escaped_as_ls_b_shows_them():
    """The plan's line and the planning's warning tell a name holding a backslash from one holding
    a newline (the backslash doubled, as `ls -b` shows it)."""
    from types import SimpleNamespace

    from rabtui.checkpoint import not_read
    from rabtui.cli.checkpoint_cmds import _not_read

    names = ["a\\nb", "a\nb\x1b[31m", os.fsdecode(b"x\xff")]
    assert _not_read(names, 0, "standard").endswith(": a\\\\nb, a\\nb\\033[31m, x\\377")
    d = SimpleNamespace(unread=names[:1], unread_unnamed=0, unmade=[], kind="standard", key="web:/d", backup_name="b")
    assert not_read.warning(d).endswith("e.g. a\\\\nb")
    d.unread = names[1:2]
    assert not_read.warning(d).endswith("e.g. a\\nb\\033[31m")
