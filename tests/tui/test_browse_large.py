"""Browse opens a directory of many entries a page at a time and loads more as the cursor moves."""

from __future__ import annotations

import os

from textual.widgets import DataTable

from rabtui.tui import tree
from rabtui.tui.app import make_app
from tests.tui.conftest import back_up, browse, browse_backups, find_by_name, run, texts, wait_for

N = 5_000


def backed_up_directory(tmp_path, box_config, n: int, name: str = "f{:06d}"):
    """A local source holding one directory of `n` empty files, backed up once by the engine
    (real rsync): the config's path and the directory."""
    big = tmp_path / "src" / "big"
    big.mkdir(parents=True)
    for i in range(n):
        with open(big / name.format(i), "wb"):
            pass
    path = box_config()
    back_up(path)
    return path, big


def test_large_directory_opens_in_pages(tmp_path, box_config):
    path, big = backed_up_directory(tmp_path, box_config, N)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            screen.open_backup(screen.keys[0], os.fsencode(big).lstrip(b"/"))
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded)
            assert len(screen.names) == N
            assert screen.loaded == tree.PAGE                     # one page, not the whole directory
            assert f"{tree.PAGE} of {N} entries" in texts(app, "#browse-where")
            await pilot.press("ctrl+end")                         # cursor to the last loaded row
            await wait_for(pilot, lambda: screen.loaded == 2 * tree.PAGE, what="next page")
            assert screen.keys[-1].name == b"f%06d" % (2 * tree.PAGE - 1)

    run(go())


def test_find_result_past_the_first_page_opens_selected(tmp_path, box_config):
    """Enter on a find result opens its directory with the found file selected, also when the file
    is pages below the first one (2,500 files: file-01999 is on the seventh page)."""
    path, big = backed_up_directory(tmp_path, box_config, 2_500, name="file-{:05d}")

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await find_by_name(app, pilot, await browse(app, pilot, "box"), "file-01999")
            assert [bytes(r["path"]) for r in screen.keys] == [os.fsencode(big / "file-01999").lstrip(b"/")]
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded,
                           what="the found file's directory")
            assert screen.rel == os.fsencode(big).lstrip(b"/")
            table = screen.query_one("#browse", DataTable)
            assert table.cursor_row >= tree.PAGE                   # past the first page
            assert screen.keys[table.cursor_row].name == b"file-01999"
            assert screen.loaded >= table.cursor_row + 1

    run(go())
