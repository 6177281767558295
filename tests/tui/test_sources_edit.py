"""Sources: add and edit through the form; the TOML file written is valid and holds the change;
a bad value is shown on its field and the file is left alone."""

from __future__ import annotations

import tomllib

from textual.widgets import Input, Static, TextArea

from rabtui import config as configmod
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.source_fields import directories_text, parse_directories
from rabtui.tui.dialogs.source_form import SourceForm
from tests.tui.conftest import ready, run, texts, wait_for
from tests.tui.test_config_editing import _demo_form


async def _save_refused(pilot, form, field: str, said: str) -> None:
    """ctrl+s on `form`, refused: what is said beside the field `field` holds `said`."""
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: said in str(form.query_one(f"#e-{field}", Static).render()),
                   what=f"the error of {field}")


def test_add_and_edit_a_source_writes_the_toml(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources-list"))
            await pilot.press("a")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            form = app.screen
            form.query_one("#f-id", Input).value = "web1"
            form.query_one("#f-host", Input).value = "web1.example.com"
            form.query_one("#f-user", Input).value = "backup"
            form.query_one("#f-port", Input).value = "not-a-port"
            form.query_one("#f-directories", TextArea).text = "standard /etc\narchive '/srv/my photos' max_days=14"
            form.query_one("#f-pre_backup_commands", TextArea).text = "mysqldump --all-databases > /var/backups/db.sql"
            before = demo_config.read_text()
            await _save_refused(pilot, form, "port", "number")
            assert isinstance(app.screen, SourceForm), "a bad port keeps the form open"
            assert form.query_one("#f-port").has_class("invalid")
            assert demo_config.read_text() == before

            form.query_one("#f-port", Input).value = "2222"
            form.query_one("#f-schedule", Input).value = "every day"
            await _save_refused(pilot, form, "schedule", "cron")
            assert isinstance(app.screen, SourceForm)
            assert demo_config.read_text() == before

            form.query_one("#f-schedule", Input).value = "30 1 * * *"
            assert form.query_one("#f-acls", Input).value == ""
            form.query_one("#f-xattrs", Input).value = "maybe"
            await _save_refused(pilot, form, "xattrs", "true or false")
            assert demo_config.read_text() == before
            form.query_one("#f-xattrs", Input).value = "false"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")
            await wait_for(pilot, lambda: "web1" in texts(app, "#sources-list"))

            # edit the demo source: a per-directory threshold
            app.screen.query_one("#sources-list").move_cursor(row=0)
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            area = app.screen.query_one("#f-directories", TextArea)
            area.text = area.text.replace("kind", "kind").replace("max_changed_files=300", "max_changed_files=42")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")

    run(go())
    data = tomllib.loads(demo_config.read_text())
    web1 = [s for s in data["sources"] if s["id"] == "web1"][0]
    assert web1["host"] == "web1.example.com" and web1["port"] == 2222 and web1["schedule"] == "30 1 * * *"
    assert web1["directories"] == [{"path": "/etc", "kind": "standard"},
                                   {"path": "/srv/my photos", "kind": "archive", "max_days": 14}]
    assert web1["pre_backup_commands"] == ["mysqldump --all-databases > /var/backups/db.sql"]
    assert web1["xattrs"] is False and "acls" not in web1     # written only when turned off
    cfg = configmod.load(demo_config)          # the file is valid for the engine
    assert cfg.source("web1").acls and not cfg.source("web1").xattrs
    photos = [d for d in cfg.source("demo-host").directories if d.kind == "archive"][0]
    assert photos.max_changed_files == 42


def test_directory_lines_parse():
    dirs = parse_directories("standard /etc allow_empty\n\narchive '/a b' max_changed_files=5 exclude='*.tmp'\n")
    assert [(d.path, d.kind, d.max_changed_files, d.excludes, d.allow_empty) for d in dirs] == [
        ("/etc", "standard", None, (), True), ("/a b", "archive", 5, ("*.tmp",), False)]
    as_written = [{"path": "/etc", "allow_empty": True}, {"path": "/a b", "kind": "archive", "max_changed_files": 5,
                                                          "excludes": ["*.tmp"]}]
    assert directories_text(as_written).splitlines() == [
        "standard /etc allow_empty", "archive '/a b' max_changed_files=5 exclude='*.tmp'"]


def test_transfer_options_in_the_form(demo_config):
    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            assert form.query_one("#f-io_timeout", Input).value == ""
            form.query_one("#f-bwlimit", Input).value = "5M"
            form.query_one("#f-rsync_path", Input).value = "nice -n 19 rsync"
            form.query_one("#f-one_file_system", Input).value = "true"
            form.query_one("#f-io_timeout", Input).value = "120"
            form.query_one("#f-rsync_options", Input).value = "--compress --inplace"
            before = demo_config.read_text()
            await _save_refused(pilot, form, "rsync_options", "refused")
            assert isinstance(app.screen, SourceForm) and demo_config.read_text() == before
            form.query_one("#f-rsync_options", Input).value = "--compress --checksum"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")
            # shown again as written
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            assert app.screen.query_one("#f-rsync_options", Input).value == "--compress --checksum"
            assert app.screen.query_one("#f-one_file_system", Input).value == "true"

    run(go())
    source = configmod.load(demo_config).source("demo-host")
    assert (source.bwlimit, source.rsync_path, source.one_file_system, source.io_timeout, source.rsync_options) == \
        ("5M", "nice -n 19 rsync", True, 120, ("--compress", "--checksum"))
    written = [s for s in tomllib.loads(demo_config.read_text())["sources"] if s["id"] == "demo-host"][0]
    assert written["io_timeout"] == 120 and written["rsync_options"] == ["--compress", "--checksum"]


def test_a_hand_edit_saved_as_the_form_saves_is_said_and_kept_aside(demo_config, monkeypatch):
    """The operator's editor writes the file between the save's last look and its rename: the form
    closes (its edit is saved) and says where the hand edit is kept, to merge."""
    from rabtui import rename_exchange

    real_exchange = rename_exchange.exchange
    by_hand = demo_config.read_text() + "# by hand\n"

    def editor_saves_first(a, b) -> bool:
        demo_config.write_text(by_hand)
        return real_exchange(a, b)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources-list"))
            app.screen.query_one("#sources-list").move_cursor(row=0)
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            app.screen.query_one("#f-schedule", Input).value = "30 1 * * *"
            monkeypatch.setattr(rename_exchange, "exchange", editor_saves_first)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")
            said = [n.message for n in app._notifications]
            assert any("kept in" in m and ".conflict-" in m for m in said), said
            await wait_for(pilot, lambda: not [p for p in demo_config.parent.iterdir()
                                               if p.name.startswith(f".{demo_config.name}.")],
                           what="said: the save's own name of it removed")

    run(go())
    kept = list(demo_config.parent.glob(f"{demo_config.name}.conflict-*"))
    assert len(kept) == 1 and kept[0].read_text() == by_hand and kept[0].stat().st_nlink == 1
    assert "30 1 * * *" in demo_config.read_text() and "# by hand" not in demo_config.read_text()


def test_deleting_a_source_with_backups_says_what_becomes_of_them(tmp_path, box_config):
    """As a rename does: its backups counted, cleanup leaves them, restore reaches them; then the
    source is gone from the file and its backup is where it was."""
    from rabtui.tui.dialogs.common import ConfirmDialog
    from rabtui.tui.screens.sources import SourcesScreen
    from tests.tui.conftest import back_up

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    path = box_config()
    back_up(path)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen) and "box" in texts(app, "#sources-list"))
            await pilot.press("D")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question")
            said = texts(app, "#confirm-text")
            assert "Its 1 backup(s) stay" in said and "cleanup no longer deletes them" in said, said
            assert "rabtui restore box PATH --to DIR" in said, said
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.cfg.sources, what="the source deleted")

    run(go())
    assert not tomllib.loads(path.read_text()).get("sources")
    assert [p.name for p in (tmp_path / "m" / "box").iterdir() if not p.name.startswith(".")]
