"""The chosen theme is kept across restarts; the widget that has the keys is visible in every theme."""

from __future__ import annotations

import stat

from textual.constants import DEFAULT_THEME
from textual.widgets import DataTable

from rabtui.tui import settings
from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import ready, run, texts, wait_for


def test_theme_is_kept_across_restarts(demo_config):
    async def first():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen))
            assert app.theme != "nord"
            await pilot.press("ctrl+p")               # the command palette: Change theme, then nord
            await pilot.press(*"theme")
            await wait_for(pilot, lambda: "theme" in str(app.screen.query("CommandList").first().get_option_at_index(0).prompt).lower()
                           if app.screen.query("CommandList") and app.screen.query("CommandList").first().option_count
                           else False, what="the theme command")
            await pilot.press("enter")
            await pilot.press(*"nord", "enter")
            await wait_for(pilot, lambda: app.theme == "nord", what="the theme to change")
            await wait_for(pilot, lambda: settings.load().get("theme") == "nord", what="the theme to be saved")

    async def second():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen))
            assert app.theme == "nord"

    run(first())
    assert stat.S_IMODE(settings.settings_path().stat().st_mode) == 0o600
    run(second())


def test_unreadable_settings_start_with_the_default_theme(demo_config):
    settings.settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings.settings_path().write_text("{not json")

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen))
            assert app.theme == DEFAULT_THEME    # and no failure

    run(go())


def header_background(table: DataTable) -> tuple[int, int, int]:
    return tuple(table.get_component_rich_style("datatable--header").bgcolor.get_truecolor())


def header_text(table: DataTable) -> tuple[int, int, int]:
    return tuple(table.get_component_rich_style("datatable--header").color.get_truecolor())


def distance(a: tuple, b: tuple) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def test_focused_table_stands_out_in_every_theme(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "demo-host" in texts(app, "#sources"))
            tables = [t for t in app.screen.query(DataTable) if t.display]   # the jobs table shows when there are jobs
            assert len(tables) >= 2
            for theme in sorted(app.available_themes):
                app.theme = theme
                # each table in turn has the keys, the one that has them already first: a change of
                # focus restyles the screen as a theme does
                for focused in sorted(tables, key=lambda table: table is not app.focused):
                    focused.focus()
                    await pilot.pause(0)       # the focus's messages handled (an idle wait took up to a second)
                    assert app.focused is focused
                    assert distance(header_text(focused), header_background(focused)) > 120, (theme, "readable")
                    # clearly: not the faint tint Textual gives a focused table (about 10 apart)
                    for other in tables:
                        if other is not focused:
                            assert distance(header_background(focused), header_background(other)) > 40, \
                                (theme, focused.id, other.id)

    run(go())
