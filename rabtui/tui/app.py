"""The rabtui application: screens as modes, a jobs poller, one place for worker errors.

Screens live in `screens/`, dialogs in `dialogs/`. Blocking work runs in thread workers; the
results come back to the UI thread with `call_from_thread` or messages. Jobs are separate
processes (see `rabtui.state.jobs`): the UI only polls their rows in the state database, so quitting
the UI or losing the terminal never stops them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState

from rabtui import config as configmod
from rabtui import fmt
from rabtui.config import Config
from rabtui.errors import RabtuiError
from rabtui.state.store import Store
from rabtui.actions import backup as backup_actions
from rabtui.actions import jobs as jobviews
from rabtui.tui import threads
from rabtui.tui.cancels import CancelWrites
from rabtui.tui.commands import RabtuiCommands
from rabtui.tui.config_watch import ConfigWatch
from rabtui.tui.dialogs.help import HelpScreen, binding_lines
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.messages import JobsPolled
from rabtui.tui.safe_text import glance
from rabtui.tui.screens.base import failure_text
from rabtui.tui.screens.browse import BrowseScreen
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.media import MediaScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.sources import SourcesScreen
from rabtui.tui.ui_files import UiFiles
from rabtui.tui.ui_words import for_the_ui, job_failure

log = logging.getLogger("rabtui.tui")


class RabtuiApp(ConfigWatch, UiFiles, CancelWrites, App):
    TITLE = "rabtui"
    COMMANDS = App.COMMANDS | {RabtuiCommands}
    MODES = {
        "dashboard": DashboardScreen,
        "sources": SourcesScreen,
        "media": MediaScreen,
        "runs": RunsScreen,
        "checkpoints": CheckpointsScreen,
        "browse": BrowseScreen,
    }
    DEFAULT_MODE = "dashboard"
    # the command line sets it False: a read that hangs would keep q from giving the terminal back
    # (threads._Pool); the tests keep it, so each test's workers end before the next test begins
    wait_for_reads_at_exit = True
    SCREENS_GROUP = Binding.Group("Screens", compact=True)
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("1", "switch_mode('dashboard')", "Dashboard", id="goto.dashboard", group=SCREENS_GROUP),
        Binding("2", "switch_mode('sources')", "Sources", id="goto.sources", group=SCREENS_GROUP),
        Binding("3", "switch_mode('media')", "Media", id="goto.media", group=SCREENS_GROUP),
        Binding("4", "switch_mode('runs')", "Runs", id="goto.runs", group=SCREENS_GROUP),
        Binding("5", "switch_mode('checkpoints')", "Checkpoints", id="goto.checkpoints", group=SCREENS_GROUP),
        Binding("6", "switch_mode('browse')", "Browse", id="goto.browse", group=SCREENS_GROUP),
        Binding("a", "answer_prompt", "Answer a job's question", id="app.answer", show=False),
    ]
    # Where the keys go, in every theme: the focused table's header in the accent colour (a table
    # shows its cursor row focused or not, so with two tables on a screen the cursor alone does not
    # say which one has the keys).
    CSS = """
    DataTable:focus > .datatable--header { background: $accent; color: $text; text-style: bold; }
    """

    def __init__(self, config_path: str | Path | None = None, *, config: Config | None = None,
                 poll_interval: float = 0.5, clock: Callable[[], float] | None = None):
        super().__init__()
        self.cfg = config if config is not None else configmod.load(config_path, check_media=False)
        self.store = Store(self.cfg.state_dir)
        self.poll_interval = poll_interval
        self.clock = clock or time.time
        self.jobs = jobviews.JobsSnapshot([], [], 0.0)
        self._asked: set[int] = set()       # prompts already shown in a dialog
        self._dialog_open = False
        self._polling = False
        self._poll_again = False
        self._changes = self.store.watch()
        self._polled_at = 0.0
        self._poll_failure = ""          # what the last poll that failed said
        self.watch_config_file()
        # jobs that failed since the operator last acknowledged failures (or first opened the UI on
        # this state), shown on the dashboard until acknowledged: a night's failure is there in the
        # morning. The Runs screen keeps the full history.
        self.failed_jobs: dict[int, dict] = {}
        self._failed_seen: set[int] = set()
        self.failed_since: float | None = None      # until ui.json is read (ui_files)
        self.init_cancels()

    # --- lifecycle -------------------------------------------------------------------------------

    def on_load(self) -> None:
        threads.larger_pool(self.wait_for_reads_at_exit)
        self.read_ui_files()

    def on_mount(self) -> None:
        self.sub_title = fmt.name(str(self.cfg.path or ""))    # the header shows it as Content: ESC and all
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._tick)
        self._changes.changed()   # from here on: the commits after this first poll
        self.poll_jobs()
        self.name_unsaid_conflicts()
        self.say_cancels_left()

    @staticmethod
    def reads_left_waiting(timeout: float) -> bool:
        """After run(): whether a worker's thread still waits (a read on a mount that hangs), given
        `timeout` seconds to end (the command line then ends the process without joining it)."""
        return threads.left_waiting(timeout)

    def now(self) -> float:
        return self.clock()

    # --- jobs ------------------------------------------------------------------------------------

    # A poll reads the jobs and makes the screens that show live state reload. It runs when the
    # database changed (a job's progress, a backup by cron, an answer) and otherwise only now and
    # then: what changes with time alone (ages, the health checks) every IDLE_EVERY seconds; while
    # jobs run, every LIVE_EVERY seconds, so that a job whose process died without a word is seen.
    IDLE_EVERY = 30.0
    LIVE_EVERY = 2.0

    def _tick(self) -> None:
        # the timer runs on while Textual closes the screens at exit (slowly on a busy machine):
        # with none left on the stack, `self.screen` raises and the UI ended in a traceback
        if not self.is_running:
            return
        self._watch_config()
        every = self.LIVE_EVERY if self.jobs.running else self.IDLE_EVERY
        if self._changes.changed() or time.monotonic() - self._polled_at >= every:
            self.poll_jobs()

    def poll_jobs(self) -> None:
        """Poll now (the timer's ticks poll when something changed, see _tick)."""
        if self._polling:       # a poll still waiting on a busy database: do not pile up threads,
            self._poll_again = True     # poll once more after it
            return
        self._polling, self._poll_again = True, False
        self._poll()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        try:
            snapshot = jobviews.poll_jobs(self.store, failed_since=self.failed_since)
        except BaseException:
            self.call_from_thread(self._poll_ended)
            raise
        self.call_from_thread(self._polled, snapshot)

    def _poll_ended(self) -> None:
        """A poll ended, read or not: the next one comes at the usual pace (a failing one was tried
        again at every tick)."""
        self._polling = False
        self._polled_at = time.monotonic()
        if self._poll_again:
            self.poll_jobs()

    def _polled(self, snapshot: jobviews.JobsSnapshot) -> None:
        self._poll_ended()
        if not self.is_running:   # a poll that ended while the UI closes: no screen to show it on
            return
        self._poll_failure = ""
        self.jobs = snapshot
        self.forget_cancels_of_ended({job["id"] for job in snapshot.running})
        self._note_failures(snapshot.failed)
        self.screen.post_message(JobsPolled(snapshot))
        screen = self.screen
        if isinstance(screen, QuestionDialog) and screen.prompt["id"] not in {p["id"] for p in snapshot.prompts}:
            job_id = screen.prompt["job_id"]
            if any(j["id"] == job_id and j["cancel_requested"] for j in snapshot.running):
                self.notify(f"job {job_id} was asked to stop: its question is closed")
            else:
                self.notify(f"job {job_id}'s question was answered elsewhere (or the job ended)")
            screen.dismiss(None)
            return
        # not over a dialog the operator is in (typing digits into a form would answer it): it
        # opens with the first poll after that dialog closes
        if not self._dialog_open and not isinstance(screen, ModalScreen):
            for prompt in snapshot.prompts:
                if prompt["id"] not in self._asked:
                    self.ask(prompt)
                    break

    def _note_failures(self, failed: list[dict]) -> None:
        """A job that failed raises a notification wherever the operator is, once; those seen in one
        poll (a night's, seen in the morning) one together, that leaves the screen readable."""
        new = [job for job in failed if job["id"] not in self._failed_seen]
        for job in new:
            self._failed_seen.add(job["id"])
            self.failed_jobs[job["id"]] = job
        if len(new) == 1:
            self.notify(job_failure(new[0]), title="Job failed", severity="error", timeout=30)
        elif new:
            self.notify(f"{len(new)} jobs failed (the Dashboard lists them); the last: {job_failure(new[-1])}",
                        title="Jobs failed", severity="error", timeout=30)

    def ask(self, prompt: dict, asked: bool = False) -> None:
        """Show a job's open question; the answer goes to the prompts table, the job picks it up.
        `asked`: the operator asked for it (else it opens by itself, see QuestionDialog)."""
        self._asked.add(prompt["id"])
        self._dialog_open = True

        def answered(reply: str | None) -> None:
            self._dialog_open = False
            if reply is not None:
                self.answer(prompt["id"], reply)

        self.push_screen(QuestionDialog(prompt, asked), answered)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title = getattr(screen, "SUB_TITLE", "") or type(screen).__name__
        self.push_screen(HelpScreen(title, binding_lines(screen)))

    async def action_quit(self) -> None:
        """q and ctrl+q (which a dialog leaves to the app): a source form holding edits asks first."""
        from rabtui.tui.dialogs.source_form import SourceForm

        form = next((s for s in self.screen_stack if isinstance(s, SourceForm)), None)
        if form is None or getattr(self.screen, "drops_edits", False):   # asked already: a second one quits
            self.exit_once_cancels_written()
        else:
            form.unless_kept(self.exit_once_cancels_written, "Quit rabtui")

    def action_answer_prompt(self) -> None:
        if self.jobs.prompts:
            self.ask(self.jobs.prompts[0], asked=True)
        else:
            self.notify("no job is waiting for an answer")

    @work(thread=True, exit_on_error=False, group="answer")
    def answer(self, prompt_id: int, reply: str) -> None:
        jobviews.answer(self.store, prompt_id, reply)
        self.call_from_thread(self.notify, f"answered {reply}")
        self.call_from_thread(self.poll_jobs)

    def start_job(self, kind: str, target: str | None, title: str, args: list[str],
                  refuse: Callable[[], object] | None = None) -> None:
        """Start a detached job process (it outlives the UI) and show it in Runs. `refuse`: raises
        (RabtuiError) when the job would find nothing to do, before a job is recorded."""
        def start() -> int:
            if refuse is not None:
                refuse()
            return jobviews.start(self.store, self.cfg.path, kind, target, title, args)

        self._start(title, args, start)

    def start_backup(self, source: str) -> None:
        """A backup of one source as a detached job, onto the day's medium: the one the backups under
        way write to (as `backup --all` and run-due put all sources of a run onto one medium)."""
        self._start(f"backup {source}", ["backup", source],
                    lambda: backup_actions.start_detached(self.cfg, self.store, source))

    @work(thread=True, group="start", exit_on_error=False)
    def _start(self, title: str, args: list[str], start: Callable[[], int]) -> None:
        """The job's row is written in a thread: a database another process holds busy keeps no key
        waiting (the start follows when it is free)."""
        try:
            self.state_dir_kept()
            job_id = start()
        except (RabtuiError, OSError) as exc:
            log.error("cannot start %s: %s", args, exc)
            self.call_from_thread(self.notify, f"cannot start {title}: {exc}", severity="error", timeout=8)
            return
        log.info("started job %s: %s", job_id, args)
        self.call_from_thread(self.notify, f"job {job_id} started: {title}")
        self.call_from_thread(self.poll_jobs)

    # --- errors ----------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The app's own workers' failures (a screen's workers end in RabtuiScreen's handler)."""
        if event.state != WorkerState.ERROR:
            return
        message = failure_text(event.worker)
        if event.worker.group == "poll":     # a poll that fails each time (a damaged database) is said once
            if message == self._poll_failure:
                return
            self._poll_failure = message
        self.notify(message, severity="error", timeout=8)

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every toast of the screens: names in it escaped, never read as markup, the engine's
        command-line hints said with the UI's controls, and a glance long: a 4,000-byte path in it
        loses its middle, a message of many lines its end (the status line, Runs and the logs keep
        the whole text)."""
        super().notify(glance(fmt.lines(for_the_ui(message))), title=glance(fmt.lines(title)),
                       severity=severity, timeout=timeout, markup=False)


def make_app(config_path: str | Path | None = None, **kwargs) -> RabtuiApp:
    """The one factory used by the command line, the tests, the screenshots and the benchmark."""
    return RabtuiApp(config_path, **kwargs)
