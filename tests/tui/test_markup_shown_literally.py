"""What the operator wrote (a host name of the config) is shown as written wherever the UI lists it,
never read as markup: `[/]` in it does not end the UI, `[bold]` does not make it bold."""

from __future__ import annotations

from textual.widgets import OptionList

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import PickDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import ready, run, wait_for


def test_host_names_with_markup_in_the_pick_dialog(tmp_path, medium_m_config):
    path = medium_m_config("""
        [[sources]]
        id = "web"
        host = "web[/]x"
        [[sources.directories]]
        path = "/etc"
        [[sources]]
        id = "web2"
        host = "[bold]web2[link=https://example.com]"
        [[sources.directories]]
        path = "/etc"
    """)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen), what="Runs")
            await pilot.press("n")                      # back up which source?
            await wait_for(pilot, lambda: ready(app, PickDialog), what="the pick dialog")
            options = app.screen.query_one(OptionList)
            shown = [options.get_option_at_index(i).prompt for i in range(options.option_count)]
            assert [str(p) for p in shown] == ["web  (web[/]x)", "web2  ([bold]web2[link=https://example.com])"]
            assert not any(span.style for p in shown for span in getattr(p, "spans", []))
            await pilot.press("escape")
            await wait_for(pilot, lambda: ready(app, RunsScreen), what="back in Runs")

    run(go())


def test_a_field_error_quotes_what_was_typed_as_typed(demo_config):
    """The source form's error beside a field quotes the value: `[/]` typed as an id is said as such
    (it ended the UI with a MarkupError), `[bold]` typed as a schedule is not taken for a style."""
    from textual.widgets import Input, Static

    from rabtui.tui.dialogs.source_form import SourceForm
    from tests.tui.conftest import texts

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources-list"), what="Sources")
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            form = app.screen
            for field, typed, said in (("id", "[/]", "'[/]' is not a valid source id"),
                                       ("schedule", "[bold]", "'[bold]' is not a valid cron expression")):
                form.query_one(f"#f-{field}", Input).value = typed
                await pilot.press("ctrl+s")
                await wait_for(pilot, lambda: form.query_one(f"#f-{field}", Input).has_class("invalid"),
                               what=f"{field} marked invalid")
                assert said in str(form.query_one(f"#e-{field}", Static).render())
                form.query_one(f"#f-{field}", Input).value = {"id": "demo-host", "schedule": ""}[field]

    run(go())
