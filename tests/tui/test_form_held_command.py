"""A command the file held already that another user can change since does not stop the form's
save of the source, nor a removal of another (config/safety's held), but the form says it as
check-config says it, with its fix: check-config refuses the file as saved, the backup the command."""

from __future__ import annotations

from textual.widgets import Input

from rabtui.cli import main
from rabtui.tui.dialogs.source_form import SourceForm
from tests.tui.conftest import kept_notes, run, wait_for
from tests.tui.test_config_editing import _demo_form


def test_the_form_says_what_check_config_refuses_of_a_command_held_already(demo_config, tmp_path, capsys):
    script = tmp_path / "pre.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    text = demo_config.read_text()
    demo_config.write_text(text.replace('excludes = ["*.tmp"]', f'excludes = ["*.tmp"]\npre_backup_commands = ["{script}"]', 1))
    script.chmod(0o666)
    assert main(["--config", str(demo_config), "check-config"]) == 2
    refused = capsys.readouterr().err.strip().splitlines()[0].removeprefix("rabtui: ").removeprefix("error: ")
    assert f"{script} is writable by everyone" in refused and "fix: give it" in refused, refused

    async def go():
        async with _demo_form(demo_config) as (app, pilot, form):
            said = kept_notes(app)
            form.query_one("#f-schedule", Input).value = "30 1 * * *"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: not isinstance(app.screen, SourceForm), what="form closes")
            await wait_for(pilot, lambda: any("check-config refuses" in s for s in said), what=lambda: said)
            note = next(s for s in said if "check-config refuses" in s)
            assert refused in note, (refused, note)

    run(go())
    assert '"30 1 * * *"' in demo_config.read_text()
