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
from tests.tui.layout import screen_lines


def _kept(tmp_path, medium_m_config):
    """A source "box" whose backup is kept (its post-backup command fails): its config's path, the
    config and the store."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a")
    path = medium_m_config(f'[[sources]]\nid = "box"\npost_backup_commands = ["exit 1"]\n'
                           f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    cfg = configmod.load(path)
    store = Store(cfg.state_dir)
    assert run_backup(cfg, store, "box", emit=no_emit, cancel=threading.Event()).status == "failed"
    return path, cfg, store


def test_a_kept_backup_is_shown_in_the_colour_of_a_warning(tmp_path, medium_m_config):
    path, _, _ = _kept(tmp_path, medium_m_config)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "box" in texts(app, "#sources"), what="the source")
            cell = app.screen.query_one("#sources").get_row_at(0)[2]
            assert cell.plain == "kept" and cell.style == STATUS_STYLE["warnings"], cell

    run(go())


def test_a_failed_run_after_a_kept_backup_shows_the_kept_one_too(tmp_path, medium_m_config):
    """The run after a kept backup fails (its directory gone): the source's row shows the failed run
    and, as status does, the age of the last backup that holds its data, said kept (it showed the
    failed run alone, as if nothing of the source were restorable)."""
    import shutil

    path, cfg, store = _kept(tmp_path, medium_m_config)
    shutil.rmtree(tmp_path / "src")
    assert run_backup(cfg, store, "box", emit=no_emit, cancel=threading.Event()).status == "failed"
    kept = store.one("SELECT started FROM backups WHERE status='kept'")["started"]

    async def go():
        app = make_app(path, poll_interval=0, clock=lambda: kept + 3 * 3600 + 60)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "box" in texts(app, "#sources"), what="the source")
            table = app.screen.query_one("#sources")
            row = {str(column.label): str(cell) for column, cell in zip(table.ordered_columns, table.get_row_at(0))}
            assert (row["last run"], row["last complete"]) == ("failed", "3h01m ago, kept"), row
            assert "last complete" in "\n".join(screen_lines(app)), screen_lines(app)

    run(go())
