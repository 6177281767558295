"""Words: a message on the screens names the UI's control, never a command-line flag (a restore
refused over existing files says to tick "overwrite existing files", not "use --overwrite")."""

from __future__ import annotations


from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.ui_words import for_the_ui, names_a_flag
from tests.tui.conftest import browse_backups, ready, run, texts, wait_for
from tests.tui.test_browse_restore import _restore_selected, _select


def test_the_engines_hints_are_said_with_the_uis_controls():
    said = for_the_ui("3 files exist in the target already: a, b, c\n  use --overwrite to replace them,"
                      " or restore to another directory")
    assert not names_a_flag(said) and '"overwrite existing files"' in said
    assert not names_a_flag(for_the_ui("refusing ... (nothing written)\n  remove them on the source, or restore with --to DIR"))
    assert names_a_flag("use --overwrite") and not names_a_flag("a - b --")


def test_a_restore_refused_over_existing_files_names_the_checkbox(demo_config, tmp_path):
    src = demo_config.parent / "source" / "documents"
    a_file = min(p for p in src.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))
    a_dir = a_file.parent
    target = tmp_path / "target"
    clash = target / str(a_file).lstrip("/")
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"the operator's own file")

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            rel = str(a_dir).lstrip("/").encode()
            screen.open_backup(screen.keys[0], rel)
            await wait_for(pilot, lambda: screen.rel == rel and not screen.loading and screen.loaded, what="the directory")
            _select(app, screen, a_file.name.encode())
            await _restore_selected(pilot, app, target)
            await wait_for(pilot, lambda: any(n.severity == "error" and "exist" in n.message for n in app._notifications),
                           timeout=60, what="the refusal notified")
            said = [n.message for n in app._notifications if "exist" in n.message]
            assert all(not names_a_flag(m) for m in said), said
            assert any('"overwrite existing files"' in m for m in said), said
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "failed" in texts(app, "#run-title"))
            await pilot.pause(0.5)
            shown = texts(app, "#run-title") + texts(app, "#run-log")
            assert "exist" in shown and not names_a_flag(shown), shown
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and "exist" in texts(app, "#failed-jobs"))
            assert not names_a_flag(texts(app, "#failed-jobs"))

    run(go())
    assert clash.read_bytes() == b"the operator's own file"
