"""Renaming a source that has backups asks first: its backups are filed under the old id."""

from __future__ import annotations

import threading
import tomllib

from textual.widgets import Input

from rabtui import config as configmod
from rabtui.backup.pipeline import run_backup
from rabtui.events import no_emit
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.source_form import SourceForm
from tests.tui.conftest import ready, run, texts, wait_for


def _config(tmp_path, medium_m_config):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("x")
    return medium_m_config(f"""
        [[sources]]
        id = "box"
        [[sources.directories]]
        path = "{src}"
        [[sources]]
        id = "fresh"
        [[sources.directories]]
        path = "{src}"
    """)


async def _rename(app, pilot, row: int, new_id: str):
    await pilot.press("2")
    await wait_for(pilot, lambda: "fresh" in texts(app, "#sources-list"))
    app.screen.query_one("#sources-list").move_cursor(row=row)
    await pilot.press("e")
    await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
    app.screen.query_one("#f-id", Input).value = new_id
    await pilot.press("ctrl+s")


def test_renaming_a_source_with_backups_asks_first(tmp_path, medium_m_config):
    path = _config(tmp_path, medium_m_config)
    cfg = configmod.load(path)
    assert run_backup(cfg, Store(cfg.state_dir), "box", emit=no_emit, cancel=threading.Event()).status == "completed"
    before = path.read_bytes()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _rename(app, pilot, 0, "box2")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question")
            question = str(app.screen.query_one("#confirm-text").render())
            assert "box to box2" in question and "full" in question and "restore box " in question
            await pilot.press("n")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form again")
            assert app.screen.query_one("#f-id", Input).value == "box2"
            assert path.read_bytes() == before

            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question")
            await pilot.press("y")
            await wait_for(pilot, lambda: "box2" in texts(app, "#sources-list"), what="the renamed source")

    run(go())
    ids = [s["id"] for s in tomllib.loads(path.read_text())["sources"]]
    assert ids == ["box2", "fresh"]


def test_renaming_a_source_without_backups_does_not_ask(tmp_path, medium_m_config):
    path = _config(tmp_path, medium_m_config)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _rename(app, pilot, 1, "fresh2")
            await wait_for(pilot, lambda: "fresh2" in texts(app, "#sources-list"), what="the renamed source")
            assert not isinstance(app.screen, ConfirmDialog)

    run(go())
    ids = [s["id"] for s in tomllib.loads(path.read_text())["sources"]]
    assert ids == ["box", "fresh2"]
