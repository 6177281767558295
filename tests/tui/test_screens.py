"""Every screen at 80x24 and 120x40 against a sandbox with real backups."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from rabtui.tui.app import make_app
from rabtui.tui.screens.browse import BrowseScreen
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.media import MediaScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui.conftest import browse, browse_backups, find_by_name, ready, run, texts, wait_for


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_every_screen(demo_config, size):
    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources"), what="dashboard sources")
            assert isinstance(app.screen, DashboardScreen)
            dash = texts(app, "#sources")
            assert "completed" in dash and "MiB" in dash
            assert "current disk-a" in texts(app, "#rotation") and "next disk-b" in texts(app, "#rotation")
            # 300 documents and 120 photos, each counted once however many media hold them: under
            # max_changed_files (1500, 300); due as never checkpointed
            assert "never checkpointed" in texts(app, "#due") and "max_changed_files" not in texts(app, "#due")

            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, SourcesScreen) and "archive" in texts(app, "#source-dirs"))
            assert "/photos" in texts(app, "#source-dirs")

            await pilot.press("3")
            await wait_for(pilot, lambda: isinstance(app.screen, MediaScreen) and "disk-b" in texts(app, "#media"))
            media = texts(app, "#media")
            assert "current" in media and "next" in media
            await wait_for(pilot, lambda: "backup-" in texts(app, "#media-backups"))
            assert texts(app, "#media-backups").count("backup-") == 2     # disk-a holds backups 1 and 3

            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "saved" in texts(app, "#run-savings"))
            assert texts(app, "#runs-jobs").count("completed") == 3
            assert "✔ 5 rsync" in texts(app, "#run-steps")

            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            await pilot.press("p")
            await wait_for(pilot, lambda: "lower bound" in texts(app, "#cp-plan"), what="the plan")
            assert "never" in texts(app, "#cp-dirs")

            await pilot.press("6")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) and "demo-host" in texts(app, "#browse"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: "backup-" in texts(app, "#browse"), what="backups list")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.level == "dir" and app.screen.loaded > 0, what="backup tree")
            assert "tmp/" in texts(app, "#browse") or "/" in texts(app, "#browse")
            assert not [n for n in app._notifications if n.severity == "error"]

    run(go())


async def _backups(pilot, screen) -> list:
    screen.show_backups("demo-host")
    await wait_for(pilot, lambda: screen.level == "backups" and screen.keys and isinstance(screen.keys[0], dict))
    return list(screen.keys)


def test_browse_shows_new_files_and_hard_links(demo_config):
    """The newest backup (disk-a, linked to the first) shows edited files as new, others as hard links."""
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot)
            newest = screen.keys[0]
            assert newest["medium"] == "disk-a"
            docs = (str(demo_config.parent / "source" / "documents")).lstrip("/").encode()

            async def leaf(topic: bytes) -> list:
                screen.open_backup(newest, docs + b"/" + topic)
                await wait_for(pilot, lambda: screen.rel.endswith(topic) and not screen.loading and screen.loaded > 0)
                year = screen.keys[0].name
                screen.open_dir(screen.rel + b"/" + year)
                await wait_for(pilot, lambda: screen.rel.endswith(year) and not screen.loading and screen.loaded > 0)
                month = screen.keys[0].name
                screen.open_dir(screen.rel + b"/" + month)
                await wait_for(pilot, lambda: screen.rel.endswith(month) and not screen.loading and screen.loaded > 0)
                return list(screen.keys)

            finance = await leaf(b"finance")       # untouched since backup 1 on the same medium
            assert finance and {e.state for e in finance} == {"link"}
            assert "hard link" in texts(app, "#browse")
            projects = await leaf(b"projects")     # edited before backups 2 and 3
            assert "changed" in {e.state for e in projects}
            assert "new (changed)" in texts(app, "#browse")
            await pilot.press("d")
            await wait_for(pilot, lambda: screen.level == "diff" and "changes" in texts(app, "#browse-where"))
            assert "vs backup-" in texts(app, "#browse-where")

            # the archive directory's merged view on disk-a: every photo saved there, from all backups
            archive = [b for b in (await _backups(pilot, screen)) if b.get("root") and b["medium"] == "disk-a"][0]
            photos = (str(demo_config.parent / "source" / "photos")).lstrip("/").encode()
            screen.open_backup(archive, photos)
            await wait_for(pilot, lambda: screen.rel == photos and not screen.loading and screen.loaded)
            names = {e.name for e in screen.keys}
            assert {b"new-album-8", b"new-album-9"} <= names    # both first reached disk-a with backup 3
            assert "every archive file on disk-a" in texts(app, "#browse-where")

    run(go())


def palette_top(app, query: str) -> str | None:
    """The highlighted command of the command palette once `query` is typed in full, else None."""
    from textual.command import CommandInput, CommandList

    screen = app.screen
    if not isinstance(screen, CommandPalette) or screen.query_one(CommandInput).value != query:
        return None
    option = screen.query_one(CommandList).highlighted_option
    return getattr(option.hit, "text", None) if option is not None else None


def test_command_palette_lists_screens_and_actions(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources"))
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: ready(app, CommandPalette), what="command palette")
            await pilot.press(*"go to runs")
            await wait_for(pilot, lambda: palette_top(app, "go to runs") == "Go to Runs", what="Go to Runs highlighted")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="palette switches to Runs")
            from rabtui.tui.commands import RabtuiCommands

            provider = RabtuiCommands(app.screen)
            names = [text for text, _, _ in provider._commands()]
            assert "New backup" in names and "Cancel job" in names and "Go to Checkpoints" in names

    run(go())


def test_find_by_name_and_open_its_directory(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await find_by_name(app, pilot, await browse(app, pilot), "IMG_00007")
            found = texts(app, "#browse")
            assert "IMG_00007.jpg" in found and "disk-a" in found and "disk-b" in found
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded)
            assert b"IMG_00007.jpg" in [e.name for e in screen.keys]

    run(go())


def test_keys_can_be_remapped_by_binding_id(demo_config):
    from rabtui.tui.keymap import keymap_path

    path = keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('"goto.runs" = "f4"\n')

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="dashboard")
            await wait_for(pilot, lambda: app._keymap, what="the keymap read")
            bound = {key: active.binding.id for key, active in app.screen.active_bindings.items()}
            assert bound.get("f4") == "goto.runs" and bound.get("4") != "goto.runs"
            await pilot.press("f4")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="f4 opens Runs")

    run(go())


def test_browse_names_that_are_not_utf8(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            odd = (str(demo_config.parent / "source" / "documents" / "odd names")).lstrip("/").encode()
            screen.open_backup(screen.keys[0], odd)
            await wait_for(pilot, lambda: screen.rel == odd and not screen.loading and screen.loaded)
            assert b"latin1-\xe9t\xe9.txt" in [e.name for e in screen.keys]
            shown = texts(app, "#browse")
            assert "latin1-\\351t\\351.txt" in shown and "-leading-dash.txt" in shown and "quote's \"here\".txt" in shown

    run(go())


def test_browse_a_directory_missing_from_a_backup(demo_config):
    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            screen.open_backup(screen.keys[0], b"no/such/dir")
            # the notification comes as a message of its own, a moment after the listing ended
            await wait_for(pilot, lambda: not screen.loading
                           and any("is not in this backup" in n.message for n in app._notifications),
                           what="the directory said missing")
            assert not [n for n in app._notifications if n.severity == "error"]

    run(go())
