"""Keyboard first at 80x24: the footer of every screen shows its own keys, `q Quit` and `? Help`;
`?` lists every binding of the screen; Escape closes what is pushed on top and goes up in Browse."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import PickDialog
from rabtui.tui.dialogs.help import HelpScreen
from rabtui.tui.screens.browse import BrowseScreen
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import browse_backups, ready, run, texts, wait_for

SCREENS = "123456"


def footer_keys(app) -> dict[str, tuple[str, int]]:
    """key -> (description, right edge) of what the footer shows."""
    return {k.key: (k.description, k.region.right) for k in app.screen.query(FooterKey) if k.region.width}


def test_the_footer_fits_80_columns_on_every_screen(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            for key in SCREENS:
                await pilot.press(key)
                # the footer shows the keys of the focused widget's screen a refresh after the focus
                await wait_for(pilot, lambda: app.screen.is_mounted and app.screen.focused is not None
                               and "q" in footer_keys(app) and "question_mark" in footer_keys(app))
                await pilot.pause(0.2)
                shown = footer_keys(app)
                name = type(app.screen).__name__
                assert shown.get("q", ("",))[0] == "Quit", (name, shown)
                assert shown.get("question_mark", ("",))[0] == "Help", (name, shown)
                own = [b.key.split(",")[0] for b in app.screen.BINDINGS if b.show
                       and app.screen.check_action(b.action, ()) is True]
                for k in own:
                    assert k in shown, (name, k, shown)
                assert all(right <= 80 for _, right in shown.values()), (name, shown)

    run(go())


def test_help_lists_every_binding_of_the_screen_and_escape_closes_it(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: app.screen.focused is not None and "demo-host" in texts(app, "#sources-list"))
            sources = app.screen
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            shown = texts(app, "#help-keys")
            lines = {" ".join(line.split()) for line in shown.splitlines()}
            for binding in sources.BINDINGS:        # every binding of the screen, the hidden ones too
                long = binding.tooltip or binding.description
                assert any(line.endswith(long) for line in lines), (long, shown)
            for want in ("^q q Quit", "? Help", "1 Dashboard", "6 Browse", "^r Reload"):
                assert want in lines, (want, shown)
            assert any(line.startswith("^p ") and "palette" in line for line in lines), shown
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is sources, what="help closed")

            await pilot.press("1")                  # answering a job's question moved from ? to a
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and app.screen.focused is not None)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on the dashboard")
            assert "a Answer a job's question" in {" ".join(line.split()) for line in texts(app, "#help-keys").splitlines()}
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="help closed")
            await pilot.press("a")
            await wait_for(pilot, lambda: any("no job is waiting" in n.message for n in app._notifications),
                           what="a answers (nothing waits)")

            await pilot.press("4")                  # a dialog pushed on top closes with escape
            await wait_for(pilot, lambda: ready(app, RunsScreen))
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, PickDialog), what="the source picker")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="picker closed")

    run(go())


def test_escape_goes_up_a_directory_in_browse(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            screen.open_backup(screen.keys[0], b"")
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded, what="top")
            top = [k.name for k in screen.keys if getattr(k, "is_dir", False)]
            assert top
            screen.open_dir(top[0])
            await wait_for(pilot, lambda: screen.rel == top[0] and not screen.loading and screen.loaded, what="below")
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.rel == b"" and screen.level == "dir", what="up one directory")
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.level == "backups", what="up to the backups")
            assert isinstance(app.screen, BrowseScreen)
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))

    run(go())


def test_a_answers_a_waiting_question_once_and_not_again_from_inside_its_dialog(demo_config):
    import threading

    from rabtui.events import ABORT, READY, Question
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store
    from rabtui.tui.dialogs.question import QuestionDialog

    store = Store(demo_config.parent / "state")
    recorder = JobRecorder(store, "checkpoint", "images:iso", "checkpoint 1")
    answers = []
    thread = threading.Thread(target=lambda: answers.append(recorder.prompter().ask(
        Question("insert_disc", "Insert disc 1 of 1", [READY, ABORT], {"disc": 1, "discs": 1, "volid": "RAB1D01"}),
        recorder.cancel)), daemon=True)
    thread.start()

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question")
            await pilot.press("escape")                 # later
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and not app._dialog_open)
            await pilot.press("a")                      # a (was ?) opens it again
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question again")
            await pilot.press("a")                      # inside the dialog: no second dialog on top
            await pilot.pause(0.3)
            assert sum(isinstance(s, QuestionDialog) for s in app.screen_stack) == 1
            await pilot.press("1")
            await wait_for(pilot, lambda: answers == [READY], what="answered")

    run(go())
    thread.join(60)
    recorder.finish("completed", 0)
