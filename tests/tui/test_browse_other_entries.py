"""Browse lists every entry a backup holds, not only the regular files the catalog records: the
symlinks, FIFOs and empty directories of an archive directory as of each backup (a complete one, a
kept one whose post-backup command failed, one after them) and those only kept data saved in the
merged view of the medium's union, which lacks them; a standard directory's as its tree has them.
Real rsync backups of a local source."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.tui.app import make_app
from tests.trees import Lab, write_files
from tests.tui.conftest import browse_backups, find_by_name, run, texts, wait_for

T0 = datetime(2026, 7, 1, 3, 0)
OFF, FAILING = "post_backup_commands = []", 'post_backup_commands = ["exit 4"]'


def _others(d, tag: str) -> None:
    os.symlink("f.txt", d / f"link-{tag}")
    os.mkfifo(d / f"pipe-{tag}")
    os.makedirs(d / f"empty-{tag}")


def _history(lab):
    """A complete backup (its own link, pipe, empty directory: -a), a kept one adding -k ones, the
    source without those, a complete backup again."""
    cfg = lab.local([("std", "standard"), ("arc", "archive")], extra=OFF)
    for k in ("std", "arc"):
        write_files(lab.src / k, {"f.txt": b"x"})
        _others(lab.src / k, "a")
    assert lab.backup(cfg, now=T0).status == "completed"
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace(OFF, FAILING))
    for k in ("std", "arc"):
        _others(lab.src / k, "k")
    assert lab.backup(lab.load(), now=T0 + timedelta(days=1)).status == "failed"
    for k in ("std", "arc"):
        for name in ("link-k", "pipe-k"):
            (lab.src / k / name).unlink()
        (lab.src / k / "empty-k").rmdir()
    lab.config_path.write_text(text)
    (lab.src / "arc" / "empty-c").mkdir()     # only the last backup, a complete one, saves it
    assert lab.backup(lab.load(), now=T0 + timedelta(days=2)).status == "completed"


A = {"empty-a/", "f.txt", "link-a", "pipe-a"}
K = {"empty-k/", "link-k", "pipe-k"}


def test_browse_lists_the_symlinks_fifos_and_empty_directories_each_backup_holds(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    _history(lab)
    arc, std = (str(lab.src / k).lstrip("/").encode() for k in ("arc", "std"))

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot, "loc")
            rows = {b["name"]: b for b in screen.keys}
            first, kept, last = sorted(n for n in rows if n.startswith("backup-"))
            assert rows[kept]["status"] == "kept"

            async def listed(name, rel) -> dict:
                screen.open_backup(rows[name], rel)
                await wait_for(pilot, lambda: screen.rel == rel and not screen.loading and screen.level == "dir")
                shown = {os.fsdecode(e.name) + ("/" if e.is_dir else ""): e.state for e in screen.keys}
                assert f"({len(shown)} entries" in texts(app, "#browse-where")
                return shown

            # a standard directory as its tree has it, each entry new or a hard link into the one before
            old = {"empty-a/": "", "f.txt": "link", "link-a": "link", "pipe-a": "link"}
            assert await listed(first, std) == {"empty-a/": "", "f.txt": "new", "link-a": "new", "pipe-a": "new"}
            assert await listed(kept, std) == {**old, "empty-k/": "", "link-k": "new", "pipe-k": "new"}
            assert await listed(last, std) == old
            # the archive as of each backup: what it saved, and every entry saved up to it
            assert await listed(first, arc) == {"empty-a/": "", "f.txt": "new", "link-a": "new", "pipe-a": "new"}
            assert await listed(kept, arc) == {"empty-a/": "", "f.txt": "", "link-a": "", "pipe-a": "",
                                               "empty-k/": "", "link-k": "new", "pipe-k": "new"}
            assert set(await listed(last, arc)) == A | K | {"empty-c/"}
            # the union holds the complete backups' link and pipe, none of their empty directories;
            # the rest only the kept backup
            assert set(await listed(".archive (merged)", arc)) == A | K | {"empty-c/"}

            # found by name with / (their kind in the size column), opened where the newest backup has it
            await find_by_name(app, pilot, screen, "link-k")
            assert sorted(os.path.basename(os.path.dirname(bytes(r["path"]))) for r in screen.keys) == [b"arc", b"std"]
            assert texts(app, "#browse").count("link-k symlink ") == 2
            table = app.screen.query_one("#browse")
            table.move_cursor(row=[i for i, r in enumerate(screen.keys) if b"/arc/" in bytes(r["path"])][0])
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.level == "dir" and screen.rel == arc and not screen.loading)
            assert screen.backup["name"] == kept
            assert screen.keys[table.cursor_row].name == b"link-k"

    run(go())
