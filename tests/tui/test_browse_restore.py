"""Browse: restore a file and a directory through the dialog (real detached `rabtui restore` jobs on
real backups made by the engine), existing files kept without overwrite; the diff from the catalog."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from rabtui.state import backup_diff, catalog
from rabtui import config as configmod
from rabtui.state.store import Store
from rabtui.tui import tree
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.restore import RestoreDialog, RestoreRequest, check_target, default_target
from rabtui.tui.screens.browse import BrowseScreen
from tests.tui.conftest import browse, browse_backups, find_by_name, ready, run, texts, wait_for

ENDED = ("completed", "warnings", "failed", "cancelled")


# --- pure parts ---------------------------------------------------------------------------------------


def test_restore_request_args():
    req = RestoreRequest("web1", b"etc/-x \xe9", "backup-2026-01-02", "/tmp/r")
    assert req.args() == ["restore", "web1", "/etc/-x \udce9", "--backup", "backup-2026-01-02", "--to", "/tmp/r"]
    req = RestoreRequest("web1", b"etc", "b1", None, overwrite=True)
    assert req.args() == ["restore", "web1", "/etc", "--backup", "b1", "--to-source", "--overwrite"]
    # by its id where Browse knows it: two media may each have a backup of that name
    req = RestoreRequest("web1", b"etc", "b1", None, backup_id=7)
    assert req.args() == ["restore", "web1", "/etc", "--backup", "7", "--to-source"]
    assert "to the source" in req.title()


def test_check_target():
    assert check_target(" ~/r/ ") == str(Path.home() / "r")
    assert check_target("/a/b/../c") == "/a/b/../c"      # b may be a symlink: the restore takes the ..
    assert check_target("/") == "/"
    for bad in ("", "  ", "relative/dir"):
        with pytest.raises(ValueError):
            check_target(bad)
    assert default_target("web1", "b1").startswith(str(Path.home()))


def test_changes_below_is_relative_to_the_directory():
    d = backup_diff.Diff("a", "b", added=[backup_diff.Entry(b"x/y/new", 5)], removed=[backup_diff.Entry(b"x/y/z/gone", 7)],
                         changed=[backup_diff.Change(b"x/y/c", 1, 2)])
    changes, count = tree.changes_below(d, b"x/y", limit=2)
    assert count == 3
    assert [(c.path, c.what, c.size) for c in changes] == [(b"c", "changed", 2), (b"new", "added", 5)]


def test_changes_below_shows_what_the_backup_could_not_read():
    d = backup_diff.Diff("a", "b", unreadable=[backup_diff.Unreadable(b"x/y", None),
                                               backup_diff.Unreadable(b"x/y/secret", 3)])
    changes, count = tree.changes_below(d, b"x/y")
    assert [(c.path, c.what, c.shown()) for c in changes] == [(b".", "unreadable", ""), (b"secret", "unreadable", "3 B")]


# --- with the real app ------------------------------------------------------------------------------


def _job(store: Store, job_id: int) -> dict | None:
    row = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
    return dict(row) if row else None


async def _wait_job(pilot, store: Store, after: int, timeout: float = 60.0) -> dict:
    """The first restore job with an id above `after`, once it has ended."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        row = store.one("SELECT * FROM jobs WHERE kind='restore' AND id>? ORDER BY id LIMIT 1", (after,))
        if row is not None and row["status"] in ENDED:
            return dict(row)
        await pilot.pause(0.2)
    raise AssertionError(f"no restore job after {after} ended within {timeout} s")


def _last_job(store: Store) -> int:
    row = store.one("SELECT MAX(id) AS m FROM jobs")
    return row["m"] or 0


async def _restore_selected(pilot, app, target: Path, overwrite: bool = False) -> None:
    from textual.widgets import Checkbox, Input

    await pilot.press("r")
    await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
    dialog = app.screen
    assert dialog.query_one("#restore-overwrite", Checkbox).value is False   # off unless asked
    dialog.query_one("#restore-to", Input).value = str(target)
    if overwrite:
        dialog.query_one("#restore-overwrite", Checkbox).value = True
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), what="dialog closed")


def _select(app, screen, name: bytes) -> None:
    from textual.widgets import DataTable

    i = [e.name for e in screen.keys].index(name)
    screen.query_one("#browse", DataTable).move_cursor(row=i, animate=False)


def test_restore_a_file_and_a_directory_from_browse(demo_config, tmp_path):
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)
    src_root = demo_config.parent / "source"
    finance = src_root / "documents" / "finance"   # untouched since the first backup
    year = sorted(p.name for p in finance.iterdir())[0]
    month_dir = sorted((finance / year).iterdir())[0]
    a_file = sorted(p for p in month_dir.iterdir() if p.is_file())[0]
    rel_year = str(finance / year).lstrip("/").encode()

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await browse_backups(app, pilot)
            newest = screen.keys[0]
            assert newest["status"] == "completed"

            # r at the backups level only explains itself
            await pilot.press("r")
            await wait_for(pilot, lambda: any("select a file or directory" in n.message for n in app._notifications),
                           what="r explained")
            assert not isinstance(app.screen, RestoreDialog)

            # a file
            screen.open_backup(newest, rel_year + b"/" + month_dir.name.encode())
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded, what="month")
            _select(app, screen, a_file.name.encode())
            target = tmp_path / "restored"
            before = _last_job(store)
            await _restore_selected(pilot, app, target)
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            assert job["target"] == "demo-host"
            restored = target / str(a_file).lstrip("/")
            assert restored.read_bytes() == a_file.read_bytes()
            await wait_for(pilot, lambda: any(f"job {job['id']} completed" in n.message for n in app._notifications),
                           what="the end of the job notified")
            ended = [n.message for n in app._notifications if f"job {job['id']} completed" in n.message]
            assert "1 file, 0 directories, 0 hard links, 0 symlinks, 0 special files" in ended[0]

            # a directory (the month, from its parent)
            screen.open_dir(rel_year)
            await wait_for(pilot, lambda: screen.rel == rel_year and not screen.loading and screen.loaded, what="year")
            _select(app, screen, month_dir.name.encode())
            target2 = tmp_path / "restored-dir"
            before = _last_job(store)
            await _restore_selected(pilot, app, target2)
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            out = target2 / str(month_dir).lstrip("/")
            names = sorted(p.name for p in month_dir.iterdir())
            assert names and sorted(p.name for p in out.iterdir()) == names
            for name in names:
                assert (out / name).read_bytes() == (month_dir / name).read_bytes()

            # without overwrite an existing file is kept (the job fails and says why) ...
            restored.write_bytes(b"keep me\n")
            screen.open_dir(rel_year + b"/" + month_dir.name.encode())
            await wait_for(pilot, lambda: screen.rel.endswith(month_dir.name.encode()) and not screen.loading
                           and screen.loaded, what="month again")
            _select(app, screen, a_file.name.encode())
            before = _last_job(store)
            await _restore_selected(pilot, app, target)
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "failed" and "exist" in (job["summary"] or ""), job
            assert restored.read_bytes() == b"keep me\n"
            await wait_for(pilot, lambda: any(f"job {job['id']} failed" in n.message and n.severity == "error"
                                              for n in app._notifications), what="the failure notified")

            # ... and replaced with it
            before = _last_job(store)
            await _restore_selected(pilot, app, target, overwrite=True)
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            assert restored.read_bytes() == a_file.read_bytes()

    run(go())


def test_restore_dialog_checks_the_target_and_can_be_cancelled(demo_config):
    async def go():
        from textual.widgets import Input, RadioButton

        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            docs = str(demo_config.parent / "source" / "documents").lstrip("/").encode()
            screen.open_backup(screen.keys[0], docs)
            await wait_for(pilot, lambda: screen.rel == docs and not screen.loading and screen.loaded)
            jobs_before = app.store.one("SELECT COUNT(*) AS n FROM jobs")["n"]
            await pilot.press("r")
            await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
            dialog = app.screen
            what = texts(app, "#restore-what Static")
            assert "demo-host" in what and screen.keys[0].name.decode() in what and screen.backup["name"] in what
            assert dialog.query_one("#restore-to", Input).value.startswith(str(Path.home()))
            dialog.query_one("#restore-to", Input).value = "relative"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "absolute" in texts(app, "#restore-error"), what="the error shown")
            assert app.screen is dialog
            # back to the source: the directory field is not used
            dialog.query_one("#restore-source", RadioButton).value = True
            assert dialog.request().to is None and dialog.request().args()[-1] == "--to-source"
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
            assert app.store.one("SELECT COUNT(*) AS n FROM jobs")["n"] == jobs_before

            # a directory above the configured ones cannot be restored: said at once, no dialog
            screen.open_dir(b"")
            await wait_for(pilot, lambda: screen.rel == b"" and not screen.loading and screen.loaded)
            await pilot.press("r")
            await wait_for(pilot, lambda: any("not inside a directory" in n.message for n in app._notifications),
                           what="r refused")
            assert not isinstance(app.screen, RestoreDialog)

    run(go())


def test_browse_diff_comes_from_the_catalog(demo_config):
    """The diff below a directory equals `backup_diff.diff` (what `rabtui diff` says) filtered to it."""
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)
    projects = str(demo_config.parent / "source" / "documents" / "projects").lstrip("/").encode()

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot)
            newest = screen.keys[0]
            screen.open_backup(newest, projects)
            await wait_for(pilot, lambda: screen.rel == projects and not screen.loading and screen.loaded)
            # the trees are not read: with both backups' trees moved away the diff still answers
            away = []
            for b in (newest, screen.prev):
                data = Path(b["path"]) / "data"
                data.rename(data.with_name("data.away"))
                away.append(data)
            await pilot.press("d")
            await wait_for(pilot, lambda: screen.level == "diff" and "changes" in texts(app, "#browse-where"))
            shown = [(c.path, c.what) for c in screen.keys]
            prev, new = dict(screen.prev), dict(newest, source="demo-host")

            whole = backup_diff.diff(store, prev, new)
            want = sorted([(e.path[len(projects) + 1:], what) for what, part in
                           (("added", whole.added), ("removed", whole.removed), ("changed", whole.changed))
                           for e in part if e.path.startswith(projects + b"/")])
            assert shown == want and want, "the projects directory was edited between the backups"
            assert f"{len(want)} changes" in texts(app, "#browse-where")
            # nothing from the sibling directories
            assert not [p for p, _ in shown if p.startswith(b"/")]
            for data in away:
                data.with_name("data.away").rename(data)

    run(go())


def test_catalog_diff_prefix_keeps_only_that_directory(demo_config):
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)
    a, b = catalog.complete_backups(store, "demo-host")[-2:]
    archive = tuple(d.path for d in cfg.source("demo-host").directories if d.kind == "archive")
    docs = str(demo_config.parent / "source" / "documents").lstrip("/").encode()
    whole = backup_diff.diff(store, a, b, archive)
    for prefix in (docs, docs + b"/projects", b"/" + docs + b"/"):
        part = backup_diff.diff(store, a, b, archive, prefix=prefix)
        p = catalog.rel_path(prefix)

        def below(items):
            return [x for x in items if x[0] == p or x[0].startswith(p + b"/")]

        assert part.added == below(whole.added) and part.removed == below(whole.removed)
        assert part.changed == below(whole.changed)
    assert backup_diff.diff(store, a, b, archive, prefix=b"") == whole
    assert [c for c in whole.changed if c.path.startswith(docs + b"/")]
    # a sibling whose name extends the prefix ("documents" vs "documents-old") is not below it
    assert not backup_diff.diff(store, a, b, archive, prefix=docs[:-1]).added


def test_restore_from_the_archive_merged_view(demo_config, tmp_path):
    """A photo in disk-a's archive union that the newest backup there did not save itself comes
    from the union tree (restored through the newest complete backup on the medium)."""
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)
    photos = demo_config.parent / "source" / "photos"
    rel_photos = str(photos).lstrip("/").encode()

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await browse_backups(app, pilot)
            rows = list(screen.keys)
            archive = [b for b in rows if b.get("root") and b["medium"] == "disk-a"][0]
            newest = [b for b in rows if not b.get("root") and b["medium"] == "disk-a"][0]
            assert archive["restore_from"] == newest["name"]
            in_newest = Path(newest["path"]) / "data"
            union = Path(archive["root"])
            only_union = sorted(p for p in (union / rel_photos.decode()).rglob("*.jpg")
                                if not (in_newest / p.relative_to(union)).exists())
            assert only_union, "backup 3 saved only the new photos; the older ones are in the union tree only"
            photo_rel = only_union[0].relative_to(union)
            where = str(photo_rel.parent).encode()
            photo = photo_rel.name.encode()
            screen.open_backup(archive, where)
            await wait_for(pilot, lambda: screen.rel == where and not screen.loading and screen.loaded)
            _select(app, screen, photo)
            before = _last_job(store)
            await _restore_selected(pilot, app, tmp_path / "out")
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            src = Path("/") / photo_rel
            assert (tmp_path / "out" / str(src).lstrip("/")).read_bytes() == src.read_bytes()

    run(go())


def test_restore_a_version_found_by_name(demo_config, tmp_path):
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await find_by_name(app, pilot, await browse(app, pilot), "IMG_00007")
            row = screen.keys[0]
            assert row["backup"] is not None
            before = _last_job(store)
            await _restore_selected(pilot, app, tmp_path / "found")
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            assert row["backup"]["name"] in job["title"]
            src = Path("/") / os.fsdecode(bytes(row["path"]))
            assert (tmp_path / "found" / os.fsdecode(bytes(row["path"]))).read_bytes() == src.read_bytes()

    run(go())


def test_a_directory_that_cannot_be_listed_leaves_the_screen_where_it_was(demo_config):
    """Enter on a directory gone from the backup: the warning, and the screen still where its table
    is (the directory shown), so up goes to that directory's parent, not one level too far."""
    import shutil

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot)
            source = str(demo_config.parent / "source").lstrip("/").encode()
            screen.open_backup(screen.keys[0], source)
            await wait_for(pilot, lambda: screen.rel == source and not screen.loading and screen.loaded)
            shown = texts(app, "#browse")
            shutil.rmtree(os.path.join(tree.data_root(screen.backup), source, b"documents"))
            screen.open_dir(source + b"/documents")
            await wait_for(pilot, lambda: any("is not in this backup" in n.message for n in app._notifications),
                           what="the warning")
            await wait_for(pilot, lambda: not screen.loading)
            assert (screen.level, screen.rel) == ("dir", source) and texts(app, "#browse") == shown
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.rel == os.path.dirname(source) and not screen.loading)

    run(go())
