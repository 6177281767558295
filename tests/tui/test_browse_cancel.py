"""Browse's listings, diffs and finds run in one exclusive worker group: a newer one cancels the
one before, whose worker hands its `cancelled_event` to the code that reads (tree, catalog), so
the superseded read stops instead of reading on, and never shows its result."""

from __future__ import annotations

import os
import threading

import pytest

from rabtui import config as configmod
from rabtui.errors import Cancelled
from rabtui.state import catalog
from rabtui.state.store import Store
from rabtui.tui import tree
from rabtui.tui.app import make_app
from tests.tui.conftest import back_up, browse_backups, run, wait_for
from tests.tui.test_browse_large import backed_up_directory


def test_a_superseded_listing_stops_and_is_not_shown(tmp_path, box_config, monkeypatch):
    path, big = backed_up_directory(tmp_path, box_config, 3_000)
    (big.parent / "small").mkdir()   # not in the backup: opened, it says so and goes back
    real = tree.details
    held, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def held_first(root, rel, prev_root, names, ndirs, compare=True, cancel=None, extra=None):
        if rel.endswith(b"/big") and not outcome:
            outcome.append("held")
            held.set()
            release.wait(30)        # the operator moves on while this listing is being read
            try:
                real(root, rel, prev_root, names, ndirs, compare, cancel, extra)
            except Cancelled:
                outcome.append("stopped")
                raise
            outcome.append("read on to the end")
        return real(root, rel, prev_root, names, ndirs, compare, cancel, extra)

    monkeypatch.setattr(tree, "details", held_first)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            backup = screen.keys[0]
            src = os.fsencode(big.parent).lstrip(b"/")
            screen.open_backup(backup, src + b"/big")
            await wait_for(pilot, held.is_set, what="the big listing to start")
            screen.open_dir(src)                       # up, before the big one has shown anything
            await wait_for(pilot, lambda: screen.rel == src and not screen.loading and screen.loaded,
                           what="the newer listing")
            release.set()
            await wait_for(pilot, lambda: len(outcome) == 2, what="the superseded listing to end")
            await pilot.pause(0.2)                     # a stale result would land by now
            assert outcome == ["held", "stopped"]
            assert screen.rel == src
            assert [e.name for e in screen.keys] == [b"big"]   # the newer listing is what is shown

    run(go())


def test_find_stops_when_cancelled(tmp_path, box_config):
    path, big = backed_up_directory(tmp_path, box_config, 50)
    store = Store(configmod.load(path).state_dir)
    assert len(catalog.find(store, "f00004")) == 10
    cancel = threading.Event()
    cancel.set()
    try:
        catalog.find(store, "f00004", cancel=cancel)
    except Cancelled:
        pass
    else:
        raise AssertionError("a cancelled find returned a result")


def test_a_cancelled_query_is_interrupted(tmp_path):
    """A query that would run for minutes stops soon after its cancel event is set."""
    store = Store(tmp_path / "state")
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    steps = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
    try:
        with store.interruptible(cancel):
            store.one(steps)
    except Cancelled:
        pass
    else:
        raise AssertionError("the query ran to its end")
    assert store.one("SELECT 1")[0] == 1   # the connection is still usable, without the handler


def test_a_superseded_archive_listing_changes_nothing_the_newer_listing_shows(tmp_path, monkeypatch):
    """An archive directory's listing (from the catalog) superseded by a standard directory's: when
    it ends after the newer one is shown, the screen still pages the standard directory from its
    tree, not from the archive's catalog listing."""
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive"), ("docs", "standard")])
    write_files(lab.src / "photos", {"a.jpg": b"A"})
    write_files(lab.src / "docs", {f"f{i:04d}": b"" for i in range(tree.PAGE + 100)})
    assert lab.backup(cfg).status == "completed"
    photos, docs = (str(lab.src / d).lstrip("/").encode() for d in ("photos", "docs"))
    real = catalog.archive_listing
    held, release = threading.Event(), threading.Event()

    def held_for_photos(store, source, backup, directories, rel, *more):
        listing = real(store, source, backup, directories, rel, *more)
        if rel == photos:
            held.set()
            release.wait(30)        # the operator opened docs meanwhile
        return listing

    real_position, past = tree.position, threading.Event()

    def position(names, ndirs, name):   # the photos listing has read what it read: it is past the catalog
        if name == b"a.jpg":
            past.set()
        return real_position(names, ndirs, name)

    monkeypatch.setattr(catalog, "archive_listing", held_for_photos)
    monkeypatch.setattr(tree, "position", position)

    async def go():
        app = make_app(lab.config_path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "loc")
            screen.open_backup(next(b for b in screen.keys if not b.get("root")), photos, select=b"a.jpg")
            await wait_for(pilot, lambda: held.is_set(), what="the photos listing under way")
            screen.open_dir(docs)
            await wait_for(pilot, lambda: screen.rel == docs and not screen.loading and screen.loaded, what="docs")
            release.set()
            await wait_for(pilot, past.is_set, what="the superseded listing read on")
            assert screen.as_of is None and "up to this backup" not in str(screen.query_one("#browse-where").render())
            await pilot.press("ctrl+end")               # the next page: read from the docs tree
            await wait_for(pilot, lambda: screen.loaded == tree.PAGE + 100 or app._notifications, what="next page")
            assert screen.keys[-1].name == b"f%04d" % (tree.PAGE + 99)
            assert not [n.message for n in app._notifications if n.severity == "error"]

    run(go())


@pytest.mark.parametrize("ends", ["with its rows", "failing"])
def test_a_page_of_a_superseded_listing_changes_nothing_the_newer_listing_shows(tmp_path, box_config,
                                                                                monkeypatch, ends):
    """A later page still being read when the same directory is opened in another backup: when it
    ends, its rows are not added to the newer listing, nor does its failure take Browse elsewhere."""
    path, big = backed_up_directory(tmp_path, box_config, tree.PAGE + 50)
    back_up(path)             # a second backup: the same names, each a hard link into the first
    real = tree.details
    held, release, ended = threading.Event(), threading.Event(), threading.Event()

    def held_page(root, rel, prev_root, names, *more, **kw):
        if names[0] == b"f%06d" % tree.PAGE and not held.is_set():   # the first backup's second page
            held.set()
            release.wait(30)        # the operator opens the newer backup meanwhile
            ended.set()
            if ends == "failing":
                raise FileNotFoundError(2, "No such file or directory")
        return real(root, rel, prev_root, names, *more, **kw)

    monkeypatch.setattr(tree, "details", held_page)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            newer, older = screen.keys[:2]
            rel = os.fsencode(big).lstrip(b"/")
            screen.open_backup(older, rel)
            await wait_for(pilot, lambda: not screen.loading and screen.loaded == tree.PAGE, what="the older listing")
            assert {e.state for e in screen.keys} == {"new"}
            await pilot.press("ctrl+end")                   # its next page is read
            await wait_for(pilot, held.is_set, what="the older listing's next page")
            screen.open_backup(newer, rel)
            await wait_for(pilot, lambda: screen.backup is newer and not screen.loading and screen.loaded,
                           what="the newer listing")
            release.set()
            await wait_for(pilot, ended.is_set, what="the older page to end")
            await pilot.pause(0.3)                          # a stale page would land by now
            assert (screen.level, screen.rel, screen.backup) == ("dir", rel, newer)
            assert screen.loaded == tree.PAGE == screen.query_one("#browse").row_count
            assert {e.state for e in screen.keys} == {"link"}, "rows of the older backup in the newer listing"
            assert not [n.message for n in app._notifications if n.severity != "information"]
            await pilot.press("ctrl+end")                   # the newer listing's own next page
            await wait_for(pilot, lambda: screen.loaded == tree.PAGE + 50, what="the newer page")
            assert {e.state for e in screen.keys} == {"link"}

    run(go())


def _listings_held(release: threading.Event, calls: list):
    """tree.list_names noting each directory it is asked for in `calls`, then held until `release`
    (20 s at most), as a medium that stops answering holds it."""
    real = tree.list_names

    def held(root, rel, cancel=None):
        calls.append(rel)
        release.wait(20)
        return real(root, rel, cancel)
    return held


def test_reads_of_a_medium_that_hangs_are_not_started_again_and_again(tmp_path, box_config, monkeypatch):
    """The medium stops answering (an NFS server away) while Browse lists a directory of it: going
    up and in again starts at most two reads that wait (each holds a worker thread for good, and a
    pool full of them would leave none for a poll or a screen load); the others are refused and said."""
    (tmp_path / "src" / "a" / "b").mkdir(parents=True)
    path = box_config()
    back_up(path)
    release, calls = threading.Event(), []
    hanging = _listings_held(release, calls)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            monkeypatch.setattr(tree, "list_names", hanging)
            src = os.fsencode(tmp_path / "src").lstrip(b"/")
            screen.open_backup(screen.keys[0], src + b"/a/b")
            await wait_for(pilot, lambda: len(calls) == 1, what="the listing under way")
            await pilot.press(*["backspace"] * 6)
            await wait_for(pilot, lambda: any("does not answer" in n.message for n in app._notifications),
                           what="a read refused")
            assert len(calls) == 2
            app.poll_jobs()
            await wait_for(pilot, lambda: not app._polling, timeout=10, what="a poll, beside the hung reads")
            release.set()

    try:
        run(go())
    finally:
        release.set()


@pytest.mark.parametrize("key", ["enter", "r"])
def test_keys_pressed_while_a_backup_opens_act_on_what_the_table_shows(tmp_path, box_config, monkeypatch, key):
    """enter pressed twice on a backup (or r pressed) while its listing is still read (a slow
    medium): the table still shows the backups, and the key acts on them as shown, where the UI
    took a backup's row for a file and ended in a traceback."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    path = box_config()
    back_up(path)
    release, calls = threading.Event(), []
    slow = _listings_held(release, calls)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            monkeypatch.setattr(tree, "list_names", slow)
            await pilot.press("enter")
            await wait_for(pilot, lambda: calls, what="the listing under way")
            await pilot.press(key)
            await pilot.pause(0.2)
            assert app.is_running
            release.set()
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded,
                           what="the backup listed")
            assert app.is_running and len(calls) <= 2

    try:
        run(go())
    finally:
        release.set()
