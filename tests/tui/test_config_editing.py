"""The source form edits the configuration in place: comments and everything else stay, a change
made on disk meanwhile is shown (reload or go back; saved onto when it left the form's source
alone) and never written over, an invalid field stays
readable, an edit that would not be valid TOML is shown in the form (the app stays up), directories
written as an inline array take a new one, and hand edits come into the UI (ctrl+r, and the file
watch)."""

from __future__ import annotations

import contextlib
import difflib

import tomllib

import pytest
from textual.widgets import Input, Static, TextArea

from rabtui.config import edit as config_edit
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.source_form import SourceForm
from tests.tui.conftest import ready, run, texts, wait_for


def _commented(demo_config) -> str:
    """The demo config with comments and a relative path added by hand."""
    text = demo_config.read_text()
    text = "# kept by hand\n" + text.replace("[[sources]]", "# the demo host, do not touch\n[[sources]]", 1)
    text = text.replace('[[media]]', '[[media]]  # a rotation disk', 1)
    demo_config.write_text(text)
    return text


async def _sources_shown(app, pilot) -> None:
    """The Sources screen, listing the demo source."""
    await pilot.press("2")
    await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources-list"))


async def _edit_demo_source(app, pilot):
    await _sources_shown(app, pilot)
    app.screen.query_one("#sources-list").move_cursor(row=0)
    await pilot.press("e")
    await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
    return app.screen


@contextlib.asynccontextmanager
async def _demo_form(demo_config, size=(80, 24)):
    """The console on `demo_config`, the form of its demo source open: (app, pilot, form)."""
    app = make_app(demo_config, poll_interval=0)
    async with app.run_test(size=size) as pilot:
        yield app, pilot, await _edit_demo_source(app, pilot)


def _saved_with_user_backup(demo_config) -> None:
    """The demo source's user made "backup" in its form, saved (ctrl+s), the form closed."""
    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")

    run(go())


def test_saving_a_source_changes_only_what_was_edited(demo_config):
    before = _commented(demo_config)
    _saved_with_user_backup(demo_config)
    after = demo_config.read_text()
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ['+user = "backup"']


def test_fields_left_as_shown_keep_what_the_file_holds(demo_config):
    """What the form cannot show item by item (an exclude with a comma, one with a leading space, a
    command of several lines, a rate written as a string) is not rewritten by a save that changed
    another field: it was split into other items, and the command into commands of their own."""
    odd = ('excludes = ["*.{jpg,png}", " lead"]\n'
           'pre_backup_commands = ["""if true; then\n  echo a\nfi""", "  indented"]\nbwlimit = "100"\n')
    demo_config.write_text(demo_config.read_text().replace('excludes = ["*.tmp"]\n', odd, 1))
    before = demo_config.read_text()
    _saved_with_user_backup(demo_config)
    assert demo_config.read_text() == before.replace(odd, odd + 'user = "backup"\n')


def test_a_change_on_disk_is_shown_and_never_written_over(demo_config):
    """The form's own source changed by hand meanwhile: reload (what was typed is dropped) or back."""
    _commented(demo_config)

    async def go():
        async with _demo_form(demo_config, (120, 40)) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            text = demo_config.read_text()
            by_hand = text.replace('id = "demo-host"', 'id = "demo-host"\nport = 2222', 1)
            by_hand += '\n[[sources]]\nid = "mail"\nhost = "mail.example.com"\n'
            assert by_hand.count("port = 2222") == 1
            demo_config.write_text(by_hand)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the changed-on-disk dialog")
            shown = str(app.screen.query_one("#confirm-text", Static).render())
            assert "changed since this form read it" in shown and '+id = "mail"' in shown
            assert "Reload it" in shown and "Save onto it" not in texts(app, "Button")
            assert demo_config.read_text() == by_hand
            await pilot.press("n")                       # back to the form: nothing lost there either
            await wait_for(pilot, lambda: isinstance(app.screen, SourceForm), what="back to the form")
            assert app.screen.query_one("#f-user", Input).value == "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog again")
            await pilot.press("y")                       # reload
            await wait_for(pilot, lambda: "mail" in texts(app, "#sources-list"), what="the reloaded sources")
            assert demo_config.read_text() == by_hand
            assert app.cfg.source("mail").host == "mail.example.com"

    run(go())


def test_a_change_on_disk_that_left_the_source_alone_may_be_saved_onto(demo_config):
    """Another source added by hand meanwhile: what was typed is saved onto the file as it is now,
    the hand edit kept whole; a second change to the same source meanwhile is asked about again."""
    _commented(demo_config)

    async def go():
        async with _demo_form(demo_config, (120, 40)) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            by_hand = demo_config.read_text() + '\n[[sources]]\nid = "mail"\nhost = "mail.example.com"\n'
            demo_config.write_text(by_hand)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the changed-on-disk dialog")
            shown = str(app.screen.query_one("#confirm-text", Static).render())
            assert "left source demo-host as it was" in shown and '+id = "mail"' in shown
            assert demo_config.read_text() == by_hand
            await pilot.press("y")                       # save onto it
            await wait_for(pilot, lambda: not isinstance(app.screen, (SourceForm, ConfirmDialog)), what="saved")
            saved = demo_config.read_text()
            changed = [line for line in difflib.unified_diff(by_hand.splitlines(), saved.splitlines(),
                                                             lineterm="", n=0) if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            assert changed == ['+user = "backup"']
            await wait_for(pilot, lambda: "mail" in texts(app, "#sources-list"), what="the reloaded sources")

            # the same source changed by hand after the form read it: reload or back only
            form = await _edit_demo_source(app, pilot)
            form.query_one("#f-user", Input).value = "other"
            demo_config.write_text(saved.replace('user = "backup"', 'user = "root"'))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="asked again")
            assert "Reload it" in str(app.screen.query_one("#confirm-text", Static).render())
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, SourceForm), what="back to the form")
            assert 'user = "root"' in demo_config.read_text()

    run(go())


def test_an_invalid_field_shows_what_was_typed(demo_config):
    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            port = form.query_one("#f-port", Input)
            port.value = "99999"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: port.has_class("invalid"), what="the port marked invalid")
            assert "between 1 and 65535" in str(form.query_one("#e-port", Static).render())
            port.value = "2222"
            await pilot.pause()
            assert "2222" in app.export_screenshot(), "the typed value is visible in the invalid field"

    run(go())


def test_an_id_left_empty_is_said_beside_its_field(demo_config):
    before = demo_config.read_text()

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-id", Input).value = ""
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: form.query(".invalid") or app._notifications,
                           what="the save refused")
            assert form.query_one("#f-id", Input).has_class("invalid"), [n.message for n in app._notifications]
            assert "missing required key 'id'" in str(form.query_one("#e-id", Static).render())

    run(go())
    assert demo_config.read_text() == before


NOT_READ = [    # (field, what is typed, what is said beside it)
    ("port", "²", "must be a number"),                    # a digit to str.isdigit, not to int()
    ("io_timeout", "9" * 5000, "must be a number"),       # more digits than int() converts
    ("bwlimit", "¹²", "is not a rate rsync reads"),
    ("id", "a b" * 3000, "is not a valid source id"),     # quoted whole, it filled 130 lines
    ("directories", "standard /etc max_days=٣²", "max_days must be a number"),
]


def test_a_number_int_cannot_read_is_shown_in_the_form(demo_config):
    """Each value of NOT_READ typed in turn into one form (opening it costs the most), the value
    before it put back: each save refused, said beside its field."""
    before = demo_config.read_text()

    def put(widget, text: str) -> None:
        if isinstance(widget, TextArea):
            widget.text = text
        else:
            widget.value = text

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            for field, typed, shown in NOT_READ:
                widget = form.query_one(f"#f-{field}")
                was = widget.text if isinstance(widget, TextArea) else widget.value
                put(widget, typed)
                await pilot.press("ctrl+s")
                await wait_for(pilot, lambda: widget.has_class("invalid"), what=f"{field} marked invalid")
                said = str(form.query_one(f"#e-{field}", Static).render())
                assert shown in said, (field, said)
                assert len(said) <= 480, (field, "the value quoted loses its middle: the error stays a few lines")
                assert app.is_running and isinstance(app.screen, SourceForm), field
                put(widget, was)

    run(go())
    assert demo_config.read_text() == before


def test_an_error_in_another_source_is_not_shown_beside_this_ones_field(demo_config):
    """Another source made invalid by hand while the UI runs (its port): the edit of this one is
    refused with the whole message, naming that source's key and line, not as this one's port."""
    text = demo_config.read_text() + '\n[[sources]]\nid = "mail"\nhost = "m.example.com"\n'

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            demo_config.write_text(text + "port = 0\n")
            form.snapshot = config_edit.read(demo_config)     # as a reload would read it
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("sources[1].port" in n.message for n in app._notifications),
                           what="the other source's error notified")
            assert not form.query_one("#f-port", Input).has_class("invalid")
            assert isinstance(app.screen, SourceForm)

    run(go())
    assert demo_config.read_text() == text + "port = 0\n"


def test_a_directory_added_to_inline_directories_is_saved(demo_config):
    demo_config.write_text(demo_config.read_text()
                           + '\n[[sources]]\nid = "inl"\nhost = "inl.example.com"\ndirectories = [{path = "/etc"}]\n')

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "inl" in texts(app, "#sources-list"))
            table = app.screen.query_one("#sources-list")
            table.move_cursor(row=[i for i in range(table.row_count) if "inl" in str(table.get_row_at(i))][0])
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            area = app.screen.query_one("#f-directories", TextArea)
            area.text = area.text + "\nstandard /srv"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")
            assert app.is_running

    run(go())
    assert 'directories = [{path = "/etc"}, {path = "/srv", kind = "standard"}]\n' in demo_config.read_text()
    inl = [s for s in tomllib.loads(demo_config.read_text())["sources"] if s["id"] == "inl"][0]
    assert inl["directories"] == [{"path": "/etc"}, {"path": "/srv", "kind": "standard"}]


def test_an_edit_that_would_not_be_valid_toml_is_shown_in_the_form(demo_config, monkeypatch):
    before = demo_config.read_text()
    # an edit tomlkit would get wrong: the text it gives cannot be read back
    monkeypatch.setattr(config_edit.Snapshot, "put_source",
                        lambda self, values, old_id=None: self.text + "[[sources]\n")

    async def go():
        async with _demo_form(demo_config, (120, 40)) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("not be valid TOML" in n.message and n.severity == "error"
                                              for n in app._notifications), what="the error notified")
            assert app.is_running and isinstance(app.screen, SourceForm)

    run(go())
    assert demo_config.read_text() == before


def test_hand_edits_come_into_the_ui(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            demo_config.write_text(demo_config.read_text() + '\n[[sources]]\nid = "mail"\nhost = "m.example.com"\n')
            app._watch_config()                          # what each poll does
            await wait_for(pilot, lambda: "mail" in texts(app, "#sources-list"), what="the watched file's source")
            demo_config.write_text(demo_config.read_text() + '\n[[sources]]\nid = "db9"\nhost = "d.example.com"\n')
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "db9" in texts(app, "#sources-list"), what="ctrl+r reloads the file")

    run(go())


@pytest.mark.parametrize("damage", [b"\n[[[sources\n", b"\n# caf\xe9\n", b"\nx = " + b"[" * 200 + b"]" * 200 + b"\n"],
                         ids=["not TOML", "not UTF-8", "nested beyond tomlkit"])
def test_a_file_broken_on_disk_is_said_on_edit_and_delete_and_left_as_it_is(demo_config, damage):
    """The file edited by hand into something that is not TOML (or not UTF-8, or TOML that tomlkit
    cannot read: arrays nested deeper than 100) while the UI runs:
    the watch keeps the config it has and says so (not "reloaded"); edit and delete say why they
    cannot, instead of ending the UI with a traceback; the file is not touched."""
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            with open(demo_config, "ab") as f:
                f.write(damage)
            app._watch_config()                          # what each poll does
            await wait_for(pilot, lambda: any("read before stays in use" in n.message for n in app._notifications),
                           what="the file said unusable")
            assert not any("reloaded" in n.message for n in app._notifications)
            for key in ("e", "D"):
                await pilot.press(key)
                await wait_for(pilot, lambda: sum(f"cannot edit {demo_config}" in n.message
                                                  for n in app._notifications) == ("e", "D").index(key) + 1,
                               what=f"{key} says why not")
                assert app.is_running and not isinstance(app.screen, (SourceForm, ConfirmDialog))

    before = demo_config.read_bytes() + damage
    run(go())
    assert demo_config.read_bytes() == before


def test_values_of_another_type_written_by_hand_are_shown_and_refused_on_save(demo_config):
    """Lists written by hand meanwhile with an item that is not a string: the form shows them (it
    ended the UI with a TypeError) and saving says what the check finds, with the line."""
    text = demo_config.read_text().replace('excludes = ["*.tmp"]', "excludes = [1]", 1) + "excludes = [2]\n"

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            demo_config.write_text(text)
            form = await _edit_demo_source(app, pilot)
            assert form.query_one("#f-excludes", Input).value == "1"
            assert "exclude=2" in form.query_one("#f-directories", TextArea).text
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: form.query_one("#f-excludes", Input).has_class("invalid"),
                           what="the excludes marked invalid")
            assert "item 1 must be a string" in str(form.query_one("#e-excludes", Static).render())
            assert app.is_running and isinstance(app.screen, SourceForm)

    run(go())
    assert demo_config.read_text() == text


def test_a_read_only_file_is_not_replaced(demo_config):
    """A config the operator made read-only (0400): Save says so and writes nothing (the rename
    that replaces the file would do it all the same, and leave it 0600)."""
    demo_config.chmod(0o400)
    before = demo_config.read_bytes()

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("is read-only (mode 0400): nothing was saved" in n.message
                                              for n in app._notifications), what="the refusal")
            assert isinstance(app.screen, SourceForm)    # what was typed is still there

    run(go())
    assert demo_config.read_bytes() == before and demo_config.stat().st_mode & 0o777 == 0o400


def test_escape_or_quit_asks_before_dropping_what_was_typed(demo_config):
    """escape (as on every dialog) or ctrl+q (quit, wherever the keys are) on a form holding edits
    asks first: the edits are dropped only when the operator says so. A form as it was opened
    closes at once."""
    before = demo_config.read_text()

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            await pilot.press("escape")                       # nothing typed: closes at once
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="the form closed")
            form = await _edit_demo_source(app, pilot)
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("escape")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="asked before dropping")
            await pilot.press("n")                            # back: the edit is there
            await wait_for(pilot, lambda: app.screen is form, what="back to the form")
            assert form.query_one("#f-user", Input).value == "backup"
            await pilot.press("ctrl+q")                       # quits from any screen, dialogs too
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="asked before quitting")
            await pilot.press("n")
            await wait_for(pilot, lambda: app.screen is form and app.is_running, what="still editing")
            await pilot.press("escape")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="asked again")
            await pilot.press("y")                            # dropped
            await wait_for(pilot, lambda: not any(isinstance(s, SourceForm) for s in app.screen_stack),
                           what="the form closed")

    run(go())
    assert demo_config.read_text() == before


def test_a_check_that_hangs_keeps_no_key_waiting_and_a_form_closed_meanwhile_saves_nothing(demo_config, monkeypatch):
    """Saving checks the file as a whole, which looks at the local directories typed: one on a file
    system that hangs (an NFS server away) leaves the console answering, and the form closed while
    the check waits writes nothing when the check comes back."""
    import threading

    before = demo_config.read_text()
    real = config_edit.check
    held, release, returned = threading.Event(), threading.Event(), threading.Event()

    def hanging(snapshot, text):
        held.set()
        release.wait(20)      # as a stat on a hung mount (released by the test): the check does not come back
        returned.set()
        return real(snapshot, text)

    monkeypatch.setattr(config_edit, "check", hanging)

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, held.is_set, what="the check under way")
            await pilot.press("escape")                  # edits typed: the form asks before dropping them
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
            assert not returned.is_set(), "the console waited for the check"
            await pilot.press("y")
            await wait_for(pilot, lambda: not isinstance(app.screen, (SourceForm, ConfirmDialog)), what="form closes")
            release.set()
            await wait_for(pilot, returned.is_set, what="the check to end")
            await pilot.pause(0.3)                       # a save after it would be written by now

    run(go())
    assert demo_config.read_text() == before


def test_a_reload_whose_check_hangs_keeps_no_key_waiting(demo_config, monkeypatch):
    """ctrl+r reads the file again, whose check resolves each medium path and local source
    directory: one on a file system that hangs leaves the console answering keys meanwhile."""
    import threading

    from rabtui.config import safety
    from rabtui.tui.screens.dashboard import DashboardScreen

    real = safety.overlap_problem
    armed, held, release, returned = (threading.Event() for _ in range(4))

    def hanging(*args):
        if armed.is_set():
            held.set()
            release.wait(20)      # as a stat on a hung mount (released by the test)
            returned.set()
        return real(*args)

    monkeypatch.setattr(safety, "overlap_problem", hanging)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            demo_config.write_text(demo_config.read_text().replace("demo-host", "demo-renamed", 1))
            armed.set()
            await pilot.press("ctrl+r")
            await wait_for(pilot, held.is_set, what="the reload under way")
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
            assert not returned.is_set(), "the console waited for the reload"
            release.set()
            await wait_for(pilot, lambda: app.cfg.sources[0].id == "demo-renamed", what="the file reloaded")

    run(go())


def test_deleting_a_source_writes_the_file_and_reloads_it(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            await pilot.press("D")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.cfg.sources, what="the source gone from the config in use")
            await wait_for(pilot, lambda: any("removed from the config" in n.message for n in app._notifications),
                           what="the deletion said")

    run(go())
    assert "demo-host" not in demo_config.read_text()


def test_a_kept_hand_edit_no_one_was_told_of_is_named_as_the_console_starts(demo_config, monkeypatch):
    """A save that kept a hand edit aside and ended before the UI said so (killed: the file the save
    leaves is the same, tests/test_config_save_killed.py): the console's start names it, once."""
    from tests.test_config_edit_keeps_attrs import _editor_saves_at_the_last_look

    by_hand = demo_config.read_text() + "# by hand\n"
    snap = config_edit.read(demo_config)
    _editor_saves_at_the_last_look(monkeypatch, demo_config, "by rename", text=by_hand)
    with pytest.raises(config_edit.ConflictKept) as unsaid:     # never shown
        config_edit.save(snap, snap.text + "# by the form\n")
    monkeypatch.undo()

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: any(str(unsaid.value.kept) in n.message for n in app._notifications),
                           what="the kept file named")

    run(go())
    assert unsaid.value.kept.read_text() == by_hand and unsaid.value.kept.stat().st_nlink == 1
    assert not [p for p in demo_config.parent.iterdir() if p.name.startswith(f".{demo_config.name}.")]


def test_a_command_typed_into_a_file_others_can_change_is_not_saved(demo_config):
    """check-config refuses a file its group can change that holds commands (they are not run): the
    form does not save one either, and says why; taking the commands out again is saved."""
    from rabtui.cli import main

    demo_config.chmod(0o664)
    before = demo_config.read_text()

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-pre_backup_commands", TextArea).text = "mysqldump --all-databases > /var/backups/db.sql"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any("are not run" in n.message for n in app._notifications),
                           what="the refusal said")
            assert isinstance(app.screen, SourceForm)
            assert "writable by its group" in next(n.message for n in app._notifications if "are not run" in n.message)
            assert demo_config.read_text() == before
            form.query_one("#f-pre_backup_commands", TextArea).text = ""
            form.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="saved without commands")

    run(go())
    assert 'user = "backup"' in demo_config.read_text() and "mysqldump" not in demo_config.read_text()
    assert main(["--config", str(demo_config), "check-config"]) == 0


def test_a_command_that_runs_a_script_others_can_change_is_not_saved(demo_config):
    """A local source's pre-backup command naming a script writable by everyone: its backup would
    refuse to run it, check-config refuses it, and the form does not save it: it says why at the
    field."""
    from rabtui.cli import main

    script = demo_config.parent / "dump.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o666)
    before = demo_config.read_text()

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            form.query_one("#f-pre_backup_commands", TextArea).text = f"{script} --all"
            await pilot.press("ctrl+s")
            said = lambda: str(form.query_one("#e-pre_backup_commands", Static).render())  # noqa: E731
            await wait_for(pilot, lambda: "writable by everyone" in said(), what="the refusal said at the field")
            assert isinstance(app.screen, SourceForm) and "its backups refuse it" in said(), said()

    run(go())
    assert demo_config.read_text() == before
    assert main(["--config", str(demo_config), "check-config"]) == 0
