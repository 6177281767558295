#!/usr/bin/env python3
"""Drive the real app with Pilot on a demo sandbox and save an SVG of every screen in screenshots/.

    .venv/bin/python scripts/screenshots.py [--dir SANDBOX] [--out screenshots]

The sandbox is the one `rabtui demo` builds (a fresh one in /tmp/rabtui-demo by default, the paths
the pictures show; --dir: another, whose paths they show instead).
The "backup in progress" shot runs a real backup of the sandbox; its progress callback is slowed
down so that the picture can be taken mid-transfer.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rabtui import config as configmod  # noqa: E402
from rabtui import demo  # noqa: E402
from rabtui.events import ABORT, PROGRESS, READY, RETRY, REWRITE, SKIP, Question  # noqa: E402
from rabtui.state.jobs import JobRecorder  # noqa: E402
from rabtui.state.store import Store  # noqa: E402

SIZE = (100, 30)
SANDBOX = Path("/tmp/rabtui-demo")   # the paths the pictures show


async def wait(pilot, cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            await pilot.pause(0.3)
            return True
        await pilot.pause(0.1)
    print("  (timed out waiting; taking the shot anyway)", file=sys.stderr)
    return False


def slow_backup(config_path: Path, started: threading.Event) -> threading.Thread:
    """A real backup whose progress callback is slowed, so rsync (blocked on its pipe) runs longer."""
    from rabtui.backup.pipeline import run_backup

    cfg = configmod.load(config_path)
    store = Store(cfg.state_dir)
    demo.change_source(config_path.parent / "source", seed=21)
    import random

    rng = random.Random(5)
    batch = config_path.parent / "source" / "photos" / "holiday"
    batch.mkdir(parents=True, exist_ok=True)
    for i in range(40):
        (batch / f"IMG_7{i:04d}.jpg").write_bytes(rng.randbytes(200_000))

    def work():
        rec = JobRecorder(store, "backup", demo.SOURCE_ID, f"backup {demo.SOURCE_ID}", argv=["rabtui", "backup"])
        started.set()

        def emit(event):
            rec.emit(event)
            if event.kind == PROGRESS and event.data.get("done_bytes"):
                time.sleep(4.0)          # rsync waits on its pipe meanwhile: the picture is taken now

        result = run_backup(cfg, store, demo.SOURCE_ID, emit=emit, cancel=rec.cancel, job_id=rec.job_id)
        rec.finish(result.status, result.exit_code, result.reason or "")

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def ask_disc(config_path: Path) -> threading.Thread:
    """A checkpoint-style question through the prompts table (as a burning job asks it)."""
    cfg = configmod.load(config_path)
    store = Store(cfg.state_dir)
    rec = JobRecorder(store, "checkpoint", cfg.checkpoint.drive, "checkpoint 1")

    def work():
        try:
            rec.prompter().ask(Question(
                "insert_disc", "Checkpoint 1, disc 2 of 3: insert a blank 16MiB disc (volume id RAB1D02) "
                "into images:iso, then choose ready.", [READY, RETRY, REWRITE, SKIP, ABORT], {"disc": 2}), rec.cancel)
        except Exception:
            pass
        rec.finish("cancelled", 1, "screenshot")

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


async def shoot(config_path: Path, out: Path) -> None:
    from rabtui.tui.app import make_app
    from rabtui.tui.dialogs.checkpoint_choices import CheckpointChoices
    from rabtui.tui.dialogs.question import QuestionDialog
    from rabtui.tui.dialogs.source_form import SourceForm

    app = make_app(config_path, poll_interval=0.3)

    def texts(selector: str) -> str:
        from tests.tui.conftest import texts as t
        return t(app, selector)

    def save(name: str) -> None:
        app.save_screenshot(str(out / f"{name}.svg"))
        print(f"  {name}.svg")

    async with app.run_test(size=SIZE) as pilot:
        await wait(pilot, lambda: "demo-host" in texts("#sources"))
        save("dashboard")
        await pilot.press("2")
        await wait(pilot, lambda: "archive" in texts("#source-dirs"))
        save("sources")
        await pilot.press("e")
        await wait(pilot, lambda: isinstance(app.screen, SourceForm))
        save("source-form")
        await pilot.press("escape")
        await pilot.press("3")
        await wait(pilot, lambda: "backup-" in texts("#media-backups"))
        save("media")
        await pilot.press("4")
        await wait(pilot, lambda: "saved" in texts("#run-savings"))
        save("runs")
        await pilot.press("5", "p")
        await wait(pilot, lambda: "lower bound" in texts("#cp-plan"))
        save("checkpoints-plan")
        await pilot.press("c")
        await wait(pilot, lambda: isinstance(app.screen, CheckpointChoices))
        save("checkpoint-choices")
        await pilot.press("escape")
        await pilot.press("4")
        await pilot.pause(0.5)
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        await pilot.press(*"go to")
        await pilot.pause(1.0)
        save("command-palette")
        await pilot.press("escape")
        await pilot.press("6", "enter")
        await wait(pilot, lambda: app.screen.level == "backups" and app.screen.keys)
        screen = app.screen
        projects = str(config_path.parent / "source" / "documents" / "projects").lstrip("/").encode()
        screen.open_backup(screen.keys[0], projects)
        await wait(pilot, lambda: screen.level == "dir" and not screen.loading)
        await pilot.press("d")
        await wait(pilot, lambda: "changes" in texts("#browse-where"))
        save("browse-diff")
        # a directory where some files are new in this backup and the others hard links
        screen.open_dir(projects)
        await wait(pilot, lambda: not screen.loading)
        best = None
        for year in [e.name for e in screen.keys if e.is_dir][:3]:
            screen.open_dir(projects + b"/" + year)
            await wait(pilot, lambda: not screen.loading)
            for month in [e.name for e in screen.keys if e.is_dir]:
                screen.open_dir(projects + b"/" + year + b"/" + month)
                await wait(pilot, lambda: not screen.loading)
                states = [e.state for e in screen.keys]
                if "changed" in states and "link" in states and len(states) > 3:
                    best = screen.rel
                    break
            if best:
                break
        save("browse")
        # the restore dialog on a file of that directory
        from rabtui.tui.dialogs.restore import RestoreDialog
        from textual.widgets import DataTable

        files = [i for i, e in enumerate(screen.keys) if not e.is_dir]
        if files:
            screen.query_one("#browse", DataTable).move_cursor(row=files[0], animate=False)
        await pilot.press("r")
        await wait(pilot, lambda: isinstance(app.screen, RestoreDialog), timeout=5)
        save("browse-restore")
        await pilot.press("escape")
        started = threading.Event()
        worker = slow_backup(config_path, started)
        started.wait(10)
        await pilot.press("4")
        def moving() -> bool:
            jobs = [j for j in app.jobs.running if j["kind"] == "backup"]
            return bool(jobs) and (jobs[0].get("progress") or {}).get("done_bytes", 0) > 0

        await wait(pilot, lambda: "running" in texts("#run-title") and "▶ 5 rsync" in texts("#run-steps")
                   and moving() and "listed" in texts("#run-stats") and "▸" in texts("#run-current"), timeout=60)
        save("runs-backup-in-progress")
        await pilot.press("1")
        await wait(pilot, lambda: "running" in texts("#jobs"), timeout=5)
        save("dashboard-backup-running")
        await asyncio.get_running_loop().run_in_executor(None, worker.join, 120)

        asker = ask_disc(config_path)
        await pilot.press("5")
        await wait(pilot, lambda: isinstance(app.screen, QuestionDialog), timeout=20)
        save("checkpoint-disc-prompt")
        await pilot.press("5")          # abort
        await asyncio.get_running_loop().run_in_executor(None, asker.join, 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help=f"demo sandbox to build or reuse (default: {SANDBOX}, made afresh)")
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = None
    if args.dir:
        base = Path(args.dir)
    else:   # a fixed place (not the caller's TMPDIR): the paths in the pictures do not change from run to run
        tmp = SANDBOX
        shutil.rmtree(tmp, ignore_errors=True)
        base = tmp
    try:
        config_path = demo.build(base, progress=lambda m: print(m, file=sys.stderr))
        asyncio.run(shoot(config_path, out))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
