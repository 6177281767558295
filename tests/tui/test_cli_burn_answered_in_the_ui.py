"""`rabtui checkpoint burn` run on a terminal (a pty, as an operator's ssh session gives it), on an
images: drive with discs small enough for several: the operator accepts the plan there, then
answers each "insert disc" question from the UI's Runs screen instead. The command line says who
answered and goes on to the end; the UI shows the job's outcome."""

from __future__ import annotations

import os
import pty
import select
import sys
import threading
import time

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import ready, run, settled, texts, wait_for


class Terminal:
    """The command on a pty, its output read as it comes (a terminal nobody reads would block it)."""

    def __init__(self, argv: list[str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(sys.executable, [sys.executable, "-m", "rabtui", *argv])
        self.out = bytearray()
        self.exit_code: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:       # the command ended and its terminal with it
                    chunk = b""
                if not chunk:
                    break
                self.out += chunk
        _, status = os.waitpid(self.pid, 0)
        self.exit_code = os.waitstatus_to_exitcode(status)

    def text(self) -> str:
        return self.out.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def stop(self) -> None:
        if self.exit_code is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
        self._reader.join(10)
        os.close(self.fd)


def test_a_burn_on_the_command_line_answered_from_the_runs_screen(demo_config):
    demo_config.write_text(demo_config.read_text().replace('disc = "16MiB"', 'disc = "8MiB"'))
    store = Store(demo_config.parent / "state")
    term = Terminal(["--config", str(demo_config), "checkpoint", "burn"])
    answered = []

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) or ready(app, QuestionDialog), what="Runs")
            await wait_for(pilot, lambda: "(default yes): " in term.text() and ready(app, QuestionDialog),
                           timeout=30, what="the plan's question, on the terminal and in the UI")
            assert "Write these" in str(app.screen.query_one("#question-text").render())
            plan = app.screen.prompt
            term.type("yes")                                # answered on the terminal: the dialog goes
            # the first disc's question may follow it before a check sees no dialog (a busy machine)
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog)
                           or app.screen.prompt["id"] != plan["id"], what="the plan's dialog closed")
            while True:
                await wait_for(pilot, lambda: ready(app, QuestionDialog) or term.exit_code is not None, timeout=60,
                               what=f"a disc's question in the UI; the terminal said:\n{term.text()}")
                if term.exit_code is not None:
                    break
                prompt = app.screen.prompt
                assert prompt["kind"] == "insert_disc" and prompt["choices"][0] == "ready"
                assert "(default ready): " in term.text()       # asked on the terminal as well
                await pilot.press("1")
                answered.append(prompt["data"]["disc"])
                await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog)
                               or app.screen.prompt["id"] != prompt["id"], what="the dialog closed")
            job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")
            assert job["status"] == "completed", (dict(job), term.text())
            if not isinstance(app.screen, RunsScreen):    # a key pressed as the last dialog went (a busy machine)
                await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app)
                           and "completed" in texts(app, "#runs-jobs"),
                           what=lambda: f"the outcome in Runs; on screen: {type(app.screen).__name__}"
                                        f" {texts(app, '#runs-jobs') if ready(app, RunsScreen) else ''!r}")

    try:
        run(go())
        deadline = time.monotonic() + 10
        while term.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        term.stop()
    said = term.text()
    assert term.exit_code == 0, said
    assert "Traceback" not in said
    discs = store.all("SELECT disc, state FROM discs ORDER BY disc")
    assert len(discs) >= 2 and {d["state"] for d in discs} == {"verified"}, [dict(d) for d in discs]
    assert answered == [d["disc"] for d in discs]
    assert said.count("-> ready (answered in the UI or with rabtui jobs answer)") == len(discs), said
