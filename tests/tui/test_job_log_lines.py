"""A job's log in Runs shows a command's output line by line, its last lines, each cut where no
terminal shows it any more (a real backup job whose pre-backup command writes them); a line break
in a name is escaped, as before."""

from __future__ import annotations

from rabtui.tui.app import make_app
from rabtui.tui.screens.runs import LOG_LINE_MAX, LOG_LINES_MAX, RunsScreen, log_text
from tests.tui.conftest import ready, run, texts, wait_for


def test_log_text_keeps_lines_and_cuts_them():
    assert log_text("a\nb\x1b[31m", output=True) == "a\n      b\\033[31m"
    assert log_text("restoring a\nb") == "restoring a\\nb"          # a line break in a name
    long = log_text("y" * (LOG_LINE_MAX + 5))
    assert long == "y" * LOG_LINE_MAX + "… (5 more characters)"
    many = log_text("\n".join(str(i) for i in range(LOG_LINES_MAX + 3)), 7, output=True).split("\n      ")
    assert many[0] == "[3 earlier lines: rabtui jobs follow 7]" and many[1:] == [str(i) for i in range(3, LOG_LINES_MAX + 3)]


def test_a_commands_output_in_the_job_log(tmp_path, medium_m_config):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    command = r"printf 'first line\nsecond [bold]line[/] \033[31m\n'; head -c 5000 /dev/zero | tr '\0' x; echo; echo last"
    in_toml = command.replace("\\", "\\\\")
    path = medium_m_config(f"""
        [[sources]]
        id = "box"
        pre_backup_commands = ["{in_toml}"]
        [[sources.directories]]
        path = "{tmp_path}/src"
    """)

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            app.start_backup("box")
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "completed" in texts(app, "#run-title"),
                           timeout=60, what="the backup done")
            await wait_for(pilot, lambda: "last" in texts(app, "#run-log"), what="the output in the log")
            lines = texts(app, "#run-log").split("\n")
            start = next(i for i, line in enumerate(lines) if line.endswith(" first line"))
            assert lines[start + 1:start + 4] == [
                "      second [bold]line[/] \\033[31m",         # as written, its escape shown as such
                "      " + "x" * LOG_LINE_MAX + f"… ({5000 - LOG_LINE_MAX:,} more characters)",
                "      last"]

    run(go())
