"""The live file count on the Runs screen's job line and on the dashboard, from a real backup whose
progress is held for a moment (its callback waits, rsync waits on its pipe) so the UI sees it live."""

from __future__ import annotations

import re
import threading

from rabtui.backup.pipeline import run_backup
from rabtui.events import PROGRESS
from rabtui.state.jobs import JobRecorder
from rabtui.tui.app import make_app
from rabtui.tui.screens.runs import RunsScreen
from tests.trees import Lab, write_files
from tests.tui.conftest import run, texts, wait_for

COUNT = re.compile(r"\d[\d,]* of \d[\d,]*\+? files")


def test_runs_and_dashboard_show_the_file_count_of_a_live_backup(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {f"d{i % 4}/f{i:04d}": 2000 + i for i in range(200)})
    seen, release = threading.Event(), threading.Event()

    def work():
        store = lab.store()
        rec = JobRecorder(store, "backup", "loc", "backup loc", argv=["rabtui", "backup"])

        def emit(event):
            rec.emit(event)
            if event.kind == PROGRESS and event.data.get("files_total") and event.data.get("total_bytes") \
                    and not seen.is_set():
                seen.set()
                release.wait(30)

        result = run_backup(cfg, store, "loc", emit=emit, cancel=rec.cancel, job_id=rec.job_id)
        rec.finish(result.status, result.exit_code, result.reason or "")

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert seen.wait(30), "no progress event with a file count"

    async def go():
        app = make_app(lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: COUNT.search(texts(app, "#jobs")), what="the count on the dashboard")
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and COUNT.search(texts(app, "#run-stats")),
                           what="the count on the job line")
            stats = texts(app, "#run-stats")
            assert "copied of" in stats and "listed" in stats and "ETA" not in stats, stats

    try:
        run(go())
    finally:
        release.set()
        worker.join(60)
    assert not worker.is_alive()
