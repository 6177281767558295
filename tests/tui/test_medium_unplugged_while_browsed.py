"""A medium unplugged while Browse shows a backup on it (its directory gone, an empty mount point
left, another disk of the same id in its place, its label replaced by another medium's or not
readable): going into a directory, going up and restoring say what happened to the medium, with
no traceback and no frozen screen, at 80x24."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from textual.widgets import DataTable, Input

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.dialogs.restore import RestoreDialog
from rabtui.tui.screens.browse import BrowseScreen
from tests.tui.conftest import back_up, browse_backups, ready, run, settled, wait_for
from tests.tui.layout import screen_lines


def _unplug(medium, how: str) -> None:
    away = medium.parent / "away"
    if how == "other_id":          # its label replaced in place: the files are still there
        (medium / ".rabtui-medium").write_text(json.dumps({"id": "another"}))
        return
    if how == "unreadable_label":  # what root gets where others get EACCES: a label that cannot be read
        (medium / ".rabtui-medium").unlink()
        (medium / ".rabtui-medium").mkdir()
        return
    os.rename(medium, away)
    if how == "empty_mount_point":
        medium.mkdir()
    elif how == "another_disk":     # another disk labelled with this medium's id
        medium.mkdir()
        (medium / ".rabtui-medium").write_text(json.dumps({"id": "m", "serial": "0000"}))


async def _listed(app, pilot, rel: bytes):
    """Browse with the newest backup of box open at `rel`, its first entries listed."""
    screen = await browse_backups(app, pilot, "box")
    screen.open_backup(screen.keys[0], rel)
    await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded)
    return screen


def _messages(app) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("how", ["removed", "empty_mount_point", "another_disk", "other_id", "unreadable_label"])
def test_a_medium_unplugged_while_browsed(tmp_path, box_config, how):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "sub" / "file").write_text("x")
    (src / "sub" / "deeper" / "f").write_text("y")
    path = box_config()
    back_up(path)
    rel = os.fsencode(src).lstrip(b"/")
    store = Store(tmp_path / "state")

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _listed(app, pilot, rel)
            _unplug(tmp_path / "m", how)

            await pilot.press("enter")                  # sub/, on the medium that is gone
            await wait_for(pilot, lambda: any("cannot be listed" in m for m in _messages(app)),
                           what="the medium said away")
            said = next(m for m in _messages(app) if "cannot be listed" in m)
            assert "medium m is" in said or "medium m:" in said or "cannot read the label" in said, said
            assert not any("Error" in m or "Traceback" in m for m in _messages(app)), _messages(app)
            await wait_for(pilot, lambda: screen.level == "backups" and screen.keys and not screen.loading,
                           what="back to the backups")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            assert len(screen_lines(app)) == 24

            await pilot.press("enter")                  # open the backup again: said again, no traceback
            await wait_for(pilot, lambda: sum("cannot be listed" in m for m in _messages(app)) == 2,
                           what="said again")
            await wait_for(pilot, lambda: screen.level == "backups" and not screen.loading, what="backups again")
            await pilot.press("escape")                 # up to the sources: the keys still react
            await wait_for(pilot, lambda: screen.level == "sources", what="the sources")

    run(go())
    assert not store.one("SELECT COUNT(*) FROM jobs WHERE kind='restore'")[0]


@pytest.mark.parametrize("how", ["removed", "other_id"])
def test_a_restore_chosen_before_the_medium_went_asks_for_it(tmp_path, box_config, how):
    """The tree was listed, the restore dialog is open, then the medium goes: the job asks for the
    medium by name (answered: abort), and ends aborted; Browse says so."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_text("x")
    path = box_config()
    back_up(path)
    rel = os.fsencode(src / "sub").lstrip(b"/")
    store = Store(tmp_path / "state")

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _listed(app, pilot, rel)
            screen.query_one("#browse", DataTable).move_cursor(row=0, animate=False)
            await pilot.press("r")
            await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
            _unplug(tmp_path / "m", how)
            app.screen.query_one("#restore-to", Input).value = str(tmp_path / "out")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, QuestionDialog), timeout=20, what="the job's question")
            text = str(app.screen.query_one("#question-text").render())
            assert "medium m" in text or "m is" in text, text
            choices = app.screen.prompt["choices"]
            await pilot.press(str(choices.index("abort") + 1))
            await wait_for(pilot, lambda: any("job 1" in m and "aborted: the medium is not there" in m
                                              for m in _messages(app)), timeout=20, what="the end said")
            assert isinstance(app.screen, BrowseScreen)

    run(go())
    job = store.one("SELECT status, summary FROM jobs WHERE kind='restore'")
    assert job["status"] in ("failed", "cancelled") and "aborted" in job["summary"], dict(job)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("file"))


@pytest.mark.parametrize("how", ["removed", "other_id"])
def test_the_next_page_of_a_directory_whose_medium_went(tmp_path, box_config, how):
    """A directory longer than a page: the cursor nearing the end of what is listed loads the next
    page, which says the medium went instead of reading another medium's files."""
    from rabtui.tui import tree

    big = tmp_path / "src" / "big"
    big.mkdir(parents=True)
    for i in range(tree.PAGE + 50):
        (big / f"f{i:04d}").write_text("x")
    path = box_config()
    back_up(path)

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            screen.open_backup(screen.keys[0], os.fsencode(big).lstrip(b"/"))
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded == tree.PAGE)
            _unplug(tmp_path / "m", how)
            screen.query_one("#browse", DataTable).move_cursor(row=tree.PAGE - 5, animate=False)
            await pilot.press("down")
            await wait_for(pilot, lambda: any("cannot be listed" in m for m in _messages(app)),
                           what="the medium said away")
            await wait_for(pilot, lambda: screen.level == "backups" and not screen.loading, what="the backups")
            assert screen.loaded == tree.PAGE

    run(go())


def test_a_medium_moved_is_not_browsed_at_its_old_path(tmp_path, box_config):
    """The medium's path changed in the config (its disk mounted elsewhere), the catalog still
    records its backups at the old path, where a copy of the old disk labelled as another medium
    lies: opening the backup says why it is not read, and lists nothing of the old path."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_text("x")
    path = box_config()
    back_up(path)
    old, new = tmp_path / "m", tmp_path / "m-larger"
    old.rename(new)
    path.write_text(path.read_text().replace(f'path = "{old}"', f'path = "{new}"'))
    shutil.copytree(new, old, symlinks=True)
    (old / ".rabtui-medium").write_text(json.dumps({"id": "another"}))

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            screen.open_backup(screen.keys[0], os.fsencode(src / "sub").lstrip(b"/"))
            await wait_for(pilot, lambda: any("cannot be listed" in m for m in _messages(app)), what="refused")
            said = next(m for m in _messages(app) if "cannot be listed" in m)
            assert f"not on medium m at {new}" in said and "rebuild-state" in said, said
            await wait_for(pilot, lambda: screen.level == "backups" and not screen.loading, what="back to the backups")

    run(go())
