"""A config written by hand or by another tool may hold characters a terminal obeys (ESC, C1 codes,
a newline in a path, a bidi override) in a source's values: the source form shows them escaped,
never raw, and reads them back exactly: saved unchanged the file stays byte for byte, a change
elsewhere in the same field keeps them."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from textual.widgets import Input, TextArea

from rabtui import config as configmod
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.source_form import SourceForm
from rabtui.tui.safe_text import editable, unescaped
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui.conftest import ready, run, texts, wait_for
from tests.tui.layout import screen_lines

# TOML escapes: ESC + CSI, a C1 CSI, a newline in a path, a right-to-left override, a backslash
SOURCE = r'''
[[sources]]
id = "odd"
host = "odd.example.com"
user = "backup"
excludes = ["*.t\u009bmp", "a\\b"]
pre_backup_commands = ["echo \u001b[2J", "printf 'x\\n'"]
[[sources.directories]]
path = "/srv/a\u001b[31mb"
[[sources.directories]]
path = "/srv/two\nlines"
excludes = ["x\u202eyz"]
[[sources.directories]]
path = "/srv/plain\\dir"
'''


def _obeyed(text: str) -> list[str]:
    return [ch for ch in text if ch != "\n" and not ch.isprintable()]


@settings(max_examples=50, deadline=None)
@given(st.text())
def test_editable_text_is_printable_and_comes_back_exactly(text):
    shown = editable(text)
    assert shown.isprintable() and unescaped(shown) == text


def test_control_characters_in_the_file_are_shown_escaped_and_kept(medium_m_config):
    path = medium_m_config(SOURCE)
    before = path.read_bytes()
    odd = configmod.load(path, check_media=False).source("odd")

    async def edit(app, pilot) -> SourceForm:
        await pilot.press("2")
        await wait_for(pilot, lambda: ready(app, SourcesScreen) and "odd" in texts(app, "#sources-list"))
        await pilot.press("e")
        await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
        return app.screen

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            form = await edit(app, pilot)
            values = form.values()
            assert values["pre_backup_commands"] == "echo \\033[2J\nprintf 'x\\\\n'"
            assert values["excludes"] == "*.t\\233mp, a\\\\b"
            assert values["directories"].splitlines()[:2] == ["standard '/srv/a\\033[31mb'",
                                                              "standard '/srv/two\\nlines' exclude='x\\u202eyz'"]
            assert not _obeyed("".join(values.values()))
            assert not _obeyed("".join(screen_lines(app)))
            assert form.query("#escaped-note")
            await pilot.press("ctrl+s")                       # nothing edited
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="the form closes")
            assert path.read_bytes() == before

            form = await edit(app, pilot)
            area = form.query_one("#f-directories", TextArea)
            area.text = area.text + "\nstandard /srv/new"
            form.query_one("#f-user", Input).value = "root"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="the form closes")

    run(go())
    saved = configmod.load(path, check_media=False).source("odd")
    assert saved.user == "root"
    assert [d.path for d in saved.directories] == [*(d.path for d in odd.directories), "/srv/new"]
    assert [d.excludes for d in saved.directories[:3]] == [d.excludes for d in odd.directories]
    assert saved.excludes == odd.excludes and saved.pre_backup_commands == odd.pre_backup_commands


# spaces other than U+0020 (escaped in the form) at the ends of items, and names that read as escapes
SPACES = r'''
[[sources]]
id = "odd"
host = "odd.example.com"
user = "backup"
excludes = ["trail\u00a0", "\u3000lead", "mid\u00a0dle", "\u00a0"]
pre_backup_commands = ["echo x\u3000", "\u3000"]
[[sources.directories]]
path = "/srv/a\u00a0b\u3000"
excludes = ["c\u3000", "\u00a0"]
[[sources.directories]]
path = "/srv/d\\xe2\\x80\\xae"
[[sources.directories]]
path = "/srv/d\\342\\200\\256\\u202e"
'''


def test_spaces_and_escape_like_names_come_back_exactly(medium_m_config):
    path = medium_m_config(SPACES)
    before = path.read_bytes()
    odd = configmod.load(path, check_media=False).source("odd")

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen) and "odd" in texts(app, "#sources-list"))
            for user in ("backup", "root"):     # saved unchanged, then with another field changed
                await pilot.press("e")
                await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
                form = app.screen
                form.query_one("#f-user", Input).value = user
                if user == "root":      # each list a new item: its items read back from what the form shows
                    form.query_one("#f-excludes", Input).value += ", new"
                    for name, line in (("#f-directories", "standard /srv/new"), ("#f-pre_backup_commands", "true")):
                        area = form.query_one(name, TextArea)
                        area.text = area.text + "\n" + line
                await pilot.press("ctrl+s")
                await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="the form closes")
                if user == "backup":
                    assert path.read_bytes() == before

    run(go())
    saved = configmod.load(path, check_media=False).source("odd")
    assert saved.user == "root"
    assert [d.path for d in saved.directories] == [*(d.path for d in odd.directories), "/srv/new"]
    assert [d.excludes for d in saved.directories[:-1]] == [d.excludes for d in odd.directories]
    assert saved.excludes == (*odd.excludes, "new")
    assert saved.pre_backup_commands == (*odd.pre_backup_commands, "true")
