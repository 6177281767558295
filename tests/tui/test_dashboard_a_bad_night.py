"""A bad night at 80x24: thirty sources never backed up (thirty health problems) and thirty jobs
failed while the console was open. The dashboard's lists of failures and problems stay a few lines
each, saying how many more there are: the sources table, whose highlighted source `b` backs up,
stays on the screen; the failures come in one toast, not thirty."""

from __future__ import annotations

import time

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import ready, run, settled, texts, wait_for
from tests.tui.layout import screen_lines

MANY = 30


def test_a_bad_night_leaves_the_sources_on_the_screen(tmp_path, medium_m_config):
    (tmp_path / "src").mkdir()
    path = medium_m_config("".join(f'[[sources]]\nid = "s{i:02d}"\nschedule = "0 2 * * *"\n'
                                   f'[[sources.directories]]\npath = "{tmp_path}/src"\n' for i in range(MANY)))

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "s29" in texts(app, "#sources")
                           and app.failed_since is not None, what="the dashboard")
            store = Store(tmp_path / "state")
            now = time.time()
            for i in range(MANY):
                store.execute("INSERT INTO jobs(kind, target, title, status, started, finished, exit_code, summary)"
                              " VALUES ('backup', ?, ?, 'failed', ?, ?, 1, 'medium m is not mounted')",
                              (f"s{i:02d}", f"backup s{i:02d}", now, now + 1))
            store.close()
            await wait_for(pilot, lambda: f"job {MANY}" in texts(app, "#failed-jobs") and settled(app),
                           what="the failures on the dashboard")
            await pilot.pause(0.5)
            failed, problems = texts(app, "#failed-jobs"), texts(app, "#problems")
            assert "27 more failed jobs" in failed and "job 1 " not in failed, failed
            assert "never backed up" in problems and "26 more problems" in problems, problems
            table = app.screen.query_one("#sources")
            assert app.screen.focused is table and table.cursor_row == 0
            lines = screen_lines(app)
            # its header and its highlighted row, on the terminal
            assert any(line.split()[:2] == ["source", "host"] for line in lines), "\n".join(lines)
            assert any(line.split()[:1] == ["s00"] for line in lines), "\n".join(lines)
            errors = [n for n in app._notifications if n.severity == "error"]
            assert len(errors) == 1 and f"{MANY} jobs failed" in errors[0].message, [n.message for n in errors]

    run(go())
