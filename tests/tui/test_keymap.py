"""keymap.toml remaps keys by binding id; an entry that would take a key another action has on the
same screen or dialog (or one the console keeps: ctrl+q, tab, the tables' arrows) is not used and
the console says so, instead of Textual letting `q` stop quitting without a word."""

from __future__ import annotations

from rabtui.tui import keymap
from rabtui.tui.app import RabtuiApp, make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import ready, run, wait_for

SCOPES = keymap.scopes(RabtuiApp, RabtuiApp.MODES.values())


def test_entries_taking_another_actions_key_are_refused_and_said():
    usable, problems = keymap.checked({
        "goto.runs": "q",               # Quit's key
        "sources.add": "b",             # Sources' backup
        "media.label": "ctrl+q",        # the console's own
        "browse.up": "left",            # the table's cursor
        "nope.nothing": "f9",           # a typo
        "goto.media": "f3",             # free
        "app.answer": "a",              # its own key (shared with sources.add by design)
        "confirm.yes": "q",             # in a dialog, where the app's q does not apply
    }, SCOPES)
    assert usable == {"goto.media": "f3", "app.answer": "a", "confirm.yes": "q"}
    assert problems == [
        '"nope.nothing": no such binding id (README lists them)',
        '"goto.runs" = "q" not used: q is Quit (app.quit) already',
        '"sources.add" = "b" not used: b is Backup (sources.backup) already',
        '"media.label" = "ctrl+q" not used: ctrl+q is kept for Quit',
        '"browse.up" = "left" not used: left is kept for Cursor left',
    ]


def test_keys_swapped_are_used_and_a_refusal_that_leaves_a_key_taken_refuses_again():
    assert keymap.checked({"goto.runs": "q", "app.quit": "f10"}, SCOPES) == ({"goto.runs": "q", "app.quit": "f10"}, [])
    # app.quit refused (x is Runs' stop) keeps q: goto.runs cannot take it then
    usable, problems = keymap.checked({"goto.runs": "q", "app.quit": "x"}, SCOPES)
    assert usable == {} and [p.split(" not used")[0] for p in problems] == ['"app.quit" = "x"', '"goto.runs" = "q"']


def test_the_console_says_which_entries_it_did_not_use_and_q_still_quits(box_config):
    path = keymap.keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('"goto.runs" = "q"\n"goto.media" = "f3"\n')

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="dashboard")
            await wait_for(pilot, lambda: app._keymap, what="the keymap read")
            bound = {key: active.binding.id for key, active in app.screen.active_bindings.items()}
            assert bound.get("q") == "app.quit" and bound.get("f3") == "goto.media" and bound.get("4") == "goto.runs"
            said = [n.message for n in app._notifications if n.severity == "warning"]
            assert said == [f'{path}: "goto.runs" = "q" not used: q is Quit (app.quit) already']

    run(go())


def test_an_entry_whose_key_holds_a_control_character_is_refused_and_never_shown(box_config):
    """No key is named with an ESC or a bidi override: such an entry is said (escaped) and not
    used, where the footer and the help showed its key, the ESC sent to the terminal as it is."""
    from tests.tui.conftest import settled
    from tests.tui.layout import screen_lines

    usable, problems = keymap.checked({"goto.runs": "\x1b[2J", "goto.media": "f\u202e3", "goto.sources": "[b]"}, SCOPES)
    assert usable == {"goto.sources": "[b]"}      # a name no key has, shown as written: harmless
    assert problems == ["\"goto.runs\" = '\\x1b[2J' not used: no key name holds a control or format character",
                        "\"goto.media\" = 'f\\u202e3' not used: no key name holds a control or format character"]
    path = keymap.keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('"goto.runs" = "\\u001b]0;x\\u0007\\u001b[2J"\n')

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="dashboard")
            await wait_for(pilot, lambda: app._notifications, what="the refusal said")
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: "Runs" in "".join(screen_lines(app)) and settled(app), what="the help")
            lines = screen_lines(app)
            assert not any(ch in line for line in lines for ch in "\x1b\x07"), lines
            said = [n.message for n in app._notifications]
            assert said == [f'{path}: "goto.runs" = \'\\x1b]0;x\\x07\\x1b[2J\' not used: no key name holds a'
                            ' control or format character'], said

    run(go())
