"""A backup kept (its post-backup command failed, the data whole) is shown on the dashboard in the
colour of a backup with warnings: it was shown plain, as a status the console had no colour for."""

from __future__ import annotations

import threading

from rabtui import config as configmod
from rabtui.backup.pipeline import run_backup
from rabtui.events import no_emit
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import STATUS_STYLE
from tests.tui.conftest import run, texts, wait_for


def test_a_kept_backup_is_shown_in_the_colour_of_a_warning(tmp_path, medium_m_config):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a")
    path = medium_m_config(f'[[sources]]\nid = "box"\npost_backup_commands = ["exit 1"]\n'
                           f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    cfg = configmod.load(path)
    assert run_backup(cfg, Store(cfg.state_dir), "box", emit=no_emit, cancel=threading.Event()).status == "failed"

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "box" in texts(app, "#sources"), what="the source")
            cell = app.screen.query_one("#sources").get_row_at(0)[2]
            assert cell.plain == "kept" and cell.style == STATUS_STYLE["warnings"], cell

    run(go())
