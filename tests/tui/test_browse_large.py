"""Browse opens a directory of many entries a page at a time and loads more as the cursor moves."""

from __future__ import annotations

import os
import threading

from rabtui import config as configmod
from rabtui.backup.pipeline import run_backup
from rabtui.events import no_emit
from rabtui.state.store import Store
from rabtui.tui import tree
from rabtui.tui.app import make_app
from tests.tui.conftest import browse_backups, run, texts, wait_for

N = 5_000


def test_large_directory_opens_in_pages(tmp_path, write_config):
    big = tmp_path / "src" / "big"
    big.mkdir(parents=True)
    for i in range(N):
        with open(big / f"f{i:06d}", "wb"):
            pass
    (tmp_path / "m").mkdir()
    path = write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [[media]]
        id = "m"
        path = "{tmp_path}/m"
        [[sources]]
        id = "box"
        [[sources.directories]]
        path = "{tmp_path}/src"
    """)
    cfg = configmod.load(path)
    result = run_backup(cfg, Store(cfg.state_dir), "box", emit=no_emit, cancel=threading.Event())
    assert result.status == "completed"

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
