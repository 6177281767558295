"""Many sources, directories and media at 80x24. Sources: the list takes half the screen, the
highlighted source's commands and directories stay on it, and every column (the schedule last) stays
in view. Checkpoints: the directories take half the screen, why the highlighted one is due or not,
the last checkpoint and the plan (a burn's progress and question there) stay on it, the counts in
view; the dialog that chooses the directories keeps its disc type and its buttons on the screen.
Runs: the list `n` offers to pick the source to back up from stays inside its dialog. Media: many
media leave the highlighted one's backups on the screen."""

from __future__ import annotations

import pytest

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.checkpoint_choices import CheckpointChoices
from rabtui.tui.dialogs.common import PickDialog
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from rabtui.tui.screens.media import MediaScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui.conftest import ready, run, settled, texts, wait_for
from tests.tui.layout import in_view, screen_lines

SMALL = pytest.mark.parametrize("size", [(80, 24), (80, 16)], ids=["80x24", "80x16"])


def _sources(medium_m_config, tmp_path, more: str = ""):
    (tmp_path / "src").mkdir()
    return medium_m_config(more + "".join(
        f'[[sources]]\nid = "customer-{i:02d}-shop-production-web"\nhost = "web{i}.example.com"\nuser = "backup"\n'
        f'schedule = "30 2 * * 1-5"\npre_backup_commands = ["mysqldump > /var/backups/db.sql"]\n'
        f'[[sources.directories]]\npath = "{tmp_path}/src"\n' for i in range(25)))


def _with_checkpoints(medium_m_config, tmp_path):
    return _sources(medium_m_config, tmp_path, f'[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path}/iso"\n')


def _shown(path, keys: list[tuple[str, type, str | None]], widgets: tuple[str, ...], size=(80, 24)) -> list[str]:
    """The console on `path`: each key pressed in turn, waiting for its screen (and the text of a
    "#table=text" given, in that table); then each of `widgets` all on the terminal: its lines."""
    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=size) as pilot:
            for key, screen, loaded in keys:
                await pilot.press(key)
                table, _, text = (loaded or "=").partition("=")
                await wait_for(pilot, lambda: ready(app, screen) and (not table or text in texts(app, table))
                               and settled(app), what=screen.__name__)
            await pilot.pause(0.3)
            for widget in widgets:
                assert in_view(app, app.screen.query_one(widget)), widget
            return screen_lines(app)

    return run(go())


def test_many_sources_leave_the_highlighted_ones_directories_on_the_screen(tmp_path, medium_m_config):
    lines = _shown(_sources(medium_m_config, tmp_path), [("2", SourcesScreen, "#source-dirs=src")],
                   ("#sources-list", "#source-info", "#source-dirs"))
    assert any("mysqldump" in line for line in lines), "\n".join(lines)
    assert any(line.split()[-1:] == ["schedule"] for line in lines), "\n".join(lines)
    assert any(line.rstrip().endswith("30 2 * * 1-5") for line in lines), "\n".join(lines)


def test_many_directories_leave_the_checkpoint_and_its_plan_on_the_screen(tmp_path, medium_m_config):
    lines = _shown(_with_checkpoints(medium_m_config, tmp_path), [("5", CheckpointsScreen, "#cp-dirs=never (max 90d)")],
                   ("#cp-dirs", "#cp-why", "#cp-last", "#cp-plan"))
    assert any(line.rstrip().endswith("last checkpoint") for line in lines), "\n".join(lines)
    assert any(line.rstrip().endswith("never (max 90d)") for line in lines), "\n".join(lines)


@SMALL
def test_choosing_among_many_directories_keeps_the_disc_type_and_the_buttons_on_the_screen(
        tmp_path, medium_m_config, size):
    _shown(_with_checkpoints(medium_m_config, tmp_path),
           [("5", CheckpointsScreen, "#cp-dirs=never (max 90d)"), ("c", CheckpointChoices, None)],
           ("#cp-choose-dirs", "#cp-choose-disc", "#plan", "#cancel"), size)


@SMALL
def test_picking_among_many_sources_keeps_the_list_inside_its_dialog(tmp_path, medium_m_config, size):
    _shown(_sources(medium_m_config, tmp_path), [("4", RunsScreen, None), ("n", PickDialog, None)], ("#pick",), size)


def test_many_media_leave_the_highlighted_ones_backups_on_the_screen(tmp_path, write_config):
    text = f'[rabtui]\nstate_dir = "{tmp_path}/state"\n'
    for i in range(25):
        (tmp_path / f"m{i}").mkdir()
        text += f'[[media]]\nid = "usb-{i:02d}"\npath = "{tmp_path}/m{i}"\n'
    _shown(write_config(text), [("3", MediaScreen, "#media=usb-24")], ("#media", "#media-backups-title", "#media-backups"))


def test_a_medium_whose_label_is_not_read_leaves_its_paths_end_on_the_screen(tmp_path, write_config):
    """`label not read` (a path that is not there) is a wide label: the path, the last column, is cut
    in its middle to fit, not pushed off the screen's edge."""
    text = f'[rabtui]\nstate_dir = "{tmp_path}/state"\n'
    for i in range(2):
        text += f'[[media]]\nid = "usb-{i}"\npath = "{tmp_path}/not-there/usb-{i}"\n'
    lines = _shown(write_config(text), [("3", MediaScreen, "#media=label not read")], ("#media",))
    for i in range(2):
        [line] = [line for line in lines if f" usb-{i} " in line and "label not read" in line]
        assert line.rstrip().endswith(f"…ere/usb-{i}"), lines
