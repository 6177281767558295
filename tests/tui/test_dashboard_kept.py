"""A backup kept (its post-backup command failed, the data whole) is shown on the dashboard in the
colour of a backup with warnings: it was shown plain, as a status the console had no colour for."""

from __future__ import annotations

import threading

import pytest

from rabtui import config as configmod
from rabtui.backup.pipeline import run_backup
from rabtui.events import no_emit
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import STATUS_STYLE
from tests.tui.conftest import run, texts, wait_for
from tests.tui.layout import screen_lines


def _kept(tmp_path, medium_m_config, source: str = "box", more: str = ""):
    """A source `source` whose backup is kept (its post-backup command fails), then the sources of
    `more` (TOML): its config's path, the config and the store."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a")
    path = medium_m_config(f'[[sources]]\nid = "{source}"\npost_backup_commands = ["exit 1"]\n'
                           f'[[sources.directories]]\npath = "{tmp_path}/src"\n' + more)
    cfg = configmod.load(path)
    store = Store(cfg.state_dir)
    assert run_backup(cfg, store, source, emit=no_emit, cancel=threading.Event()).status == "failed"
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


LONG_ID = "a-source-id-of-sixty-four-characters-" + "x" * 21 + "-web1"
WIDE_HOST = "宿主" * 30 + "e\u0301" * 20 + ".example"     # wide (CJK) and combining characters


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_a_long_source_id_and_host_leave_every_column_on_the_screen(tmp_path, medium_m_config, size):
    """A source id of 64 characters (the longest the config takes), a host of 160 wide and combining
    characters, a kept backup (at 120 columns dated two days ahead, the widest ages): every column
    of the sources table is on the screen (the id pushed the last run, its age and the last complete
    backup out of view), the id's start and end both shown, the host cut."""
    path, _, store = _kept(tmp_path, medium_m_config, LONG_ID,
                           f'[[sources]]\nid = "web2"\nhost = "{WIDE_HOST}"\n[[sources.directories]]\npath = "/x"\n')
    kept = store.one("SELECT started FROM backups WHERE status='kept'")["started"]

    async def go():
        now = kept + 3 * 3600 + 60 if size[0] == 80 else kept - 2 * 86400 - 3 * 3600
        app = make_app(path, poll_interval=0, clock=lambda: now)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: "web2" in texts(app, "#sources"), what="the sources")
            # the row of the long id itself (" kept " alone was once seen in a paint the row was not in)
            await wait_for(pilot, lambda: any(" kept " in line and line.split()[0].endswith("-web1")
                                              for line in screen_lines(app) if line.split()),
                           what=lambda: "\n".join(screen_lines(app)))
            table = app.screen.query_one("#sources")
            assert table.virtual_size.width <= table.scrollable_content_region.width, "columns pushed out of view"
            lines = screen_lines(app)
            assert any(line.split()[:2] == ["source", "host"] and line.rstrip().endswith("new") for line in lines), lines
            row = next(line for line in lines if line.split()[:1] and line.split()[0].endswith("-web1"))
            assert row.split()[0].startswith("a-s") and row.split()[0].endswith("-web1"), row
            assert ("dated 2d03h ahead, kept" if size[0] == 120 else "3h01m ago, kept") in row, row
            host = next(line for line in lines if line.split()[:1] == ["web2"])
            assert "…" in host and "宿主" in host and "no backup" in host, host

    run(go())
