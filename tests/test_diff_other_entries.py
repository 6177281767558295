"""`diff` lists the symlinks and special files as it lists the files (the catalog's `others`): one
added or removed; a symlink re-pointed (its time kept, so only the entry rsync made anew tells);
a file that became a symlink and back, a FIFO that became a symlink, as changed with both kinds;
names that are no UTF-8 or hold a line break escaped in the text, exact in JSON; nothing that
did not change, across media and beside kept data (whose entries are its own). Browse's diff
shows them with their kinds. Real rsync backups over the test sshd."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from rabtui.cli import main
from rabtui.tui.app import make_app
from tests.trees import Lab, ssh_source_lines, write_files
from tests.tui.conftest import browse_backups, run, texts, wait_for

T0 = datetime(2026, 7, 1, 3, 0)
ODD = b"odd\xff\nname"                  # no UTF-8, and a line break
ODD_SHOWN = "odd\\377\\nname"
OFF, FAILING = "post_backup_commands = []", 'post_backup_commands = ["exit 4"]'


def _repoint(link, target: str) -> None:
    """`link` pointing at `target` now, with the time it had: only its target tells it changed."""
    st = os.lstat(link)
    os.unlink(link)
    os.symlink(target, link)
    os.utime(link, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _history(top, sshd):
    """Four backups of a standard and an archive directory: b1 and b2 on m1 (the changes), b3 on m1
    kept (its post-backup command failed; became-link a file again), b4 on m2 (nothing changed)."""
    lab = Lab(top, media_count=2)
    lab.trust(sshd)
    std, arc = lab.src / "std", lab.src / "arc"
    cfg = lab.write(ssh_source_lines(sshd) + OFF + "\n"
                    + "".join(f'[[sources.directories]]\npath = "{d}"\nkind = "{k}"\n'
                              for d, k in ((std, "standard"), (arc, "archive"))))
    for d in (std, arc):
        write_files(d, {"f.txt": b"x", "became-link": b"abc"})
        for name, target in (("keep-link", "f.txt"), ("moved-link", "aaa"), ("gone-link", "x"), ("became-file", "y")):
            os.symlink(target, d / name)
        for name in ("pipe", "gone-pipe", "pipe-to-link"):
            os.mkfifo(d / name)
    names = [lab.backup(cfg, "web", now=T0, medium_id="m1")]
    for d in (std, arc):
        _repoint(d / "moved-link", "bbb")
        os.unlink(d / "gone-link")
        os.unlink(d / "gone-pipe")
        os.symlink("f.txt", d / "new-link")
        os.mkfifo(d / "new-pipe")
        os.symlink("f.txt", os.fsencode(d) + b"/" + ODD)
    # a path of another kind: in the standard directory (the archive's union keeps what each saved)
    os.unlink(std / "became-link")
    os.symlink("f.txt", std / "became-link")
    os.unlink(std / "became-file")
    write_files(std, {"became-file": b"data"})
    os.unlink(std / "pipe-to-link")
    os.symlink("pipe", std / "pipe-to-link")
    names.append(lab.backup(cfg, "web", now=T0 + timedelta(days=1), medium_id="m1"))
    lab.config_path.write_text(lab.config_path.read_text().replace(OFF, FAILING))
    os.unlink(std / "became-link")
    write_files(std, {"became-link": b"abc"})
    names.append(lab.backup(lab.load(), "web", now=T0 + timedelta(days=2), medium_id="m1"))
    lab.config_path.write_text(lab.config_path.read_text().replace(FAILING, OFF))
    names.append(lab.backup(lab.load(), "web", now=T0 + timedelta(days=3), medium_id="m2"))
    assert [b.status for b in names] == ["completed", "completed", "failed", "completed"], [b.reason for b in names]
    assert [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")] == [
        "completed", "completed", "kept", "completed"]
    return lab, [b.path.name for b in names]


@pytest.fixture(scope="module")
def _diff_history_made(tmp_path_factory, sshd):
    with pytest.MonkeyPatch.context() as mp:     # the fixtures' own HOME is the test's alone
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        yield _history(tmp_path_factory.mktemp("diff"), sshd)


def _diff(lab, capsys, *args: str):
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "diff", "web", *args]) == 0
    return capsys.readouterr().out


def _json(lab, capsys, a: str, b: str) -> dict:
    """The --json diff, each list as {name (dir/name, bytes): entry without its path}."""
    data = json.loads(_diff(lab, capsys, a, b, "--json"))
    top = os.fsencode(lab.src)
    out = {}
    for what in ("added", "removed", "changed"):
        out[what] = {}
        for e in data[what]:
            path = os.fsencode(e.pop("path"))
            assert path.startswith(top + b"/")
            out[what][path[len(top) + 1:]] = e
    return out


def test_diff_lists_symlinks_and_fifos_added_removed_and_changed(_diff_history_made, capsys):
    lab, (b1, b2, b3, b4) = _diff_history_made
    got = _json(lab, capsys, b1, b2)
    for d in (b"std/", b"arc/"):
        assert {p: e for p, e in got["added"].items() if p.startswith(d)} == {
            d + b"new-link": {"size": 0, "kind": "symlink"}, d + b"new-pipe": {"size": 0, "kind": "special"},
            d + ODD: {"size": 0, "kind": "symlink"}}
    repointed = {"old_size": 0, "size": 0, "old_kind": "symlink", "kind": "symlink"}
    assert got["changed"] == {
        b"std/moved-link": repointed, b"arc/moved-link": repointed,
        b"std/became-link": {"old_size": 3, "size": 0, "kind": "symlink"},
        b"std/became-file": {"old_size": 0, "size": 4, "old_kind": "symlink"},
        b"std/pipe-to-link": {"old_size": 0, "size": 0, "old_kind": "special", "kind": "symlink"}}
    # the archive directory's union holds what b1 saved: nothing is removed there
    assert got["removed"] == {b"std/gone-link": {"size": 0, "kind": "symlink"},
                              b"std/gone-pipe": {"size": 0, "kind": "special"}}

    out = _diff(lab, capsys, b1, b2)
    std = f"/{str(lab.src).lstrip('/')}/std"
    for line in (f"+ {std}/new-link  symlink", f"+ {std}/new-pipe  special", f"+ {std}/{ODD_SHOWN}  symlink",
                 f"- {std}/gone-link  symlink", f"- {std}/gone-pipe  special",
                 f"~ {std}/moved-link  symlink", f"~ {std}/became-link  3 B -> symlink",
                 f"~ {std}/became-file  symlink -> 4 B", f"~ {std}/pipe-to-link  special -> symlink"):
        assert line in out.splitlines(), (line, out)
    assert "keep-link" not in out and "/pipe " not in out and "f.txt" not in out
    assert "\udcff" not in out and "6 added (0 B), 2 removed (0 B), 5 changed" in out

    # the file is back in the kept backup: changed again; nothing else (kept data's entries are
    # its own, the same as before all the same)
    assert _json(lab, capsys, b2, b3) == {"added": {}, "removed": {}, "changed": {
        b"std/became-link": {"old_size": 0, "size": 3, "old_kind": "symlink"}}}
    # on another medium every entry is another; none changed since the kept backup (the archive
    # directory's union there never held what the source had removed before)
    gone = {"removed": {b"arc/gone-link": {"size": 0, "kind": "symlink"},
                        b"arc/gone-pipe": {"size": 0, "kind": "special"}}}
    assert _json(lab, capsys, b3, b4) == {"added": {}, "changed": {}, **gone}
    # the last two complete backups by default
    assert _json(lab, capsys, b2, b4) == {"added": {}, **gone, "changed": {
        b"std/became-link": {"old_size": 0, "size": 3, "old_kind": "symlink"}}}
    assert _diff(lab, capsys).splitlines()[-1] == "0 added (0 B), 2 removed (0 B), 1 changed"


def test_browse_diff_shows_the_kinds(_diff_history_made):
    lab, (b1, b2, b3, b4) = _diff_history_made
    std = os.fsencode(lab.src / "std").lstrip(b"/")

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "web")
            screen.open_backup(next(k for k in screen.keys if k["name"] == b2), std)
            await wait_for(pilot, lambda: screen.rel == std and not screen.loading and screen.loaded)
            await pilot.press("d")
            await wait_for(pilot, lambda: screen.level == "diff" and "changes" in texts(app, "#browse-where"))
            # each row: change, path, size (a symlink's or a FIFO's kind instead, as find shows them)
            assert sorted(texts(app, "#browse").splitlines()) == [
                "added new-link symlink", "added new-pipe special", f"added {ODD_SHOWN} symlink",
                "changed became-file symlink → file", "changed became-link file → symlink",
                "changed moved-link symlink", "changed pipe-to-link special → symlink",
                "removed gone-link symlink", "removed gone-pipe special"]
            assert "9 changes" in texts(app, "#browse-where")

    run(go())
