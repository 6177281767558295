"""Runs: running and past jobs; the selected one followed live from the state database."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, ProgressBar, RichLog, Static

from rabtui import fmt
from rabtui.actions import jobs as jobviews
from rabtui.errors import UsageError
from rabtui.tui.cancels import cancel_question, not_written, post_stop_said
from rabtui.tui.dialogs.common import ConfirmDialog, PickDialog
from rabtui.tui.safe_text import middle_cut, plain
from rabtui.tui.screens.base import RabtuiScreen, fill_table, selected_key
from rabtui.tui.screens.dashboard import status_text
from rabtui.tui.ui_words import for_the_ui
from rabtui.tui.waiting import job_prompt, waiting_line
from rabtui.tui.widgets.table import Table, cut_column

COLUMNS = ("status", "job", "kind", "title", "started", "took")   # status first: it is what is looked for
TITLE = COLUMNS.index("title")
LIVE = jobviews.LIVE

STEP_MARK = {"pending": ("·", "dim"), "running": ("▶", "bold cyan"), "ok": ("✔", "green"),
             "warning": ("!", "yellow"), "failed": ("✖", "bold red"), "skipped": ("-", "dim")}
EVENT_STYLE = {"warning": "yellow", "error": "bold red", "result": "green", "step": "cyan", "disc": "magenta"}


# A command's output (one message of many lines) is shown line by line, its last lines; every line
# is cut where no terminal shows it any more (a 64 KiB line of output cost the UI a second per
# redraw). Any other message is one line, a line break in a name in it escaped as `\n`.
LOG_LINE_MAX = 1000
LOG_LINES_MAX = 100


def log_text(message: str, job_id: int | None = None, output: bool = False) -> str:
    """A message for the log, names escaped; `output`: a command's output, its lines kept (indented
    under the time), its last LOG_LINES_MAX; each line cut at LOG_LINE_MAX characters."""
    lines = fmt.lines(message).split("\n") if output else [fmt.name(message)]
    if len(lines) > LOG_LINES_MAX:
        whole = f"rabtui jobs follow {job_id}" if job_id is not None else "rabtui jobs follow"
        lines = [f"[{len(lines) - LOG_LINES_MAX} earlier lines: {whole}]", *lines[-LOG_LINES_MAX:]]
    cut = [line if len(line) <= LOG_LINE_MAX else f"{line[:LOG_LINE_MAX]}… ({len(line) - LOG_LINE_MAX:,} more characters)"
           for line in lines]
    return "\n      ".join(cut)     # under the message's first line, past its "HH:MM "


@dataclass
class RunsData:
    jobs: list
    detail: jobviews.JobDetail | None
    tail: list | None   # a fresh log tail when the followed job changed


def savings_text(total: int | None, new: int | None) -> Text:
    if total is None or new is None:
        return Text("")
    saved = max(0, total - new)
    pct = 100 * saved / total if total else 0
    return Text.assemble(("total ", "bold"), fmt.size(total), ("  new ", "bold"), fmt.size(new),
                         ("  hard links saved ", "bold"), (f"{fmt.size(saved)} ({pct:.0f}%)", "green"))


class RunsScreen(RabtuiScreen):
    SUB_TITLE = "Runs"
    DEFAULT_CSS = """
    RunsScreen #runs-jobs { height: 8; }
    RunsScreen #run-detail { height: 1fr; padding: 0 1; }
    RunsScreen #run-steps { height: auto; }
    RunsScreen #run-progress { margin: 0; }
    RunsScreen #run-log { height: 1fr; border: round $primary-darken-2; }
    """
    refresh_on_poll = True
    BINDINGS = [
        Binding("n", "new_backup", "Backup", tooltip="New backup", id="runs.backup"),
        Binding("x", "cancel_job", "Stop", tooltip="Cancel job", id="runs.cancel"),
        Binding("a", "answer", "Answer", id="runs.answer"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.followed: int | None = None
        self.after = 0
        self._cancel_read: set[str] = set()
        # backups whose cancel was confirmed here: a second x asks about their post-backup commands
        # before a load reads the cancel back (or before it is even written: a busy database)
        self.stop_asked: set[str] = set()
        self._post_stop_read: set[str] = set()
        self.post_stop_asked: set[str] = set()     # as stop_asked, of the stops of post-backup commands
        self.post_step: dict[str, str] = {}    # of the backups followed: the state of their post-backup commands

    def compose_body(self) -> ComposeResult:
        yield Table(id="runs-jobs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="run-detail"):
            yield Static("", id="run-title")
            yield Static("", id="run-steps")
            yield ProgressBar(total=100, show_eta=False, id="run-progress")
            yield Static("", id="run-stats")
            yield Static("", id="run-current")
            yield Static("", id="run-savings")
            yield RichLog(id="run-log", max_lines=500, wrap=False, markup=False)

    def on_mount(self) -> None:
        self.query_one("#runs-jobs", DataTable).add_columns(*COLUMNS)
        self.query_one("#runs-jobs", DataTable).focus()

    def load_data(self) -> RunsData:
        store = self.app.store
        jobs = jobviews.recent_jobs(store)
        target = self._wanted_job(jobs)
        tail = None
        if target is None:
            return RunsData(jobs, None, None)
        if target != self.followed:
            tail, after = jobviews.log_tail(store, target)
            detail = jobviews.job_detail(store, target, after=after)
        else:
            detail = jobviews.job_detail(store, target, after=self.after)
        return RunsData(jobs, detail, tail)

    def reload(self) -> None:
        table = self.query_one("#runs-jobs", DataTable)
        # read on the UI thread; a cursor on the top row follows the newest job
        self._want = selected_key(table) if table.cursor_row > 0 else None
        super().reload()

    def _wanted_job(self, jobs: list) -> int | None:
        key = getattr(self, "_want", None)
        if key is not None:
            return int(key)
        return jobs[0]["id"] if jobs else None

    def show_data(self, data: RunsData) -> None:
        now = self.app.now()
        rows, keys = [], []
        self.jobs_shown = {str(j["id"]): j for j in data.jobs}
        self.job_status = {key: j["status"] for key, j in self.jobs_shown.items()}
        self.job_kind = {key: j["kind"] for key, j in self.jobs_shown.items()}
        self._cancel_read = {str(j["id"]) for j in data.jobs if j["cancel_requested"] and j["kind"] == "backup"}
        self.stop_asked -= self._cancel_read
        self._post_stop_read = {key for key in self._cancel_read
                                if self.jobs_shown[key]["cancel_requested"] >= jobviews.CANCEL_AGAIN}
        self.post_stop_asked -= self._post_stop_read
        for j in data.jobs:
            end = j["finished"] or (now if j["status"] in LIVE else None)
            took = fmt.duration(end - j["started"]) if end and j["started"] else "-"
            rows.append((status_text(j["status"]), str(j["id"]), j["kind"], j["title"] or "", fmt.stamp(j["started"]), took))
            keys.append(str(j["id"]))
        self._job_rows = rows, keys
        self._show_jobs()
        d = data.detail
        if d is None:
            self.query_one("#run-title", Static).update("no jobs yet: press n to start a backup")
            return
        log = self.query_one("#run-log", RichLog)
        if data.tail is not None:
            self.followed = d.job["id"]
            log.clear()
            for e in data.tail:
                if self._loggable(e):
                    log.write(self._event_line(e))
        if d.job["id"] == self.followed:
            for e in d.events:
                if self._loggable(e):
                    log.write(self._event_line(e))
            self.after = d.last_event
        if d.job["kind"] == "backup":
            self.post_step[str(d.job["id"])] = next(
                (state for n, _, state in d.steps if n == jobviews.POST_STEP), "pending")
        self._show_detail(d)

    def _show_jobs(self) -> None:
        rows, keys = self._job_rows
        table = self.query_one("#runs-jobs", DataTable)
        width = self.size.width - table.styles.scrollbar_size_vertical   # room for its scrollbar
        fill_table(table, cut_column(rows, TITLE, width, COLUMNS), keys, follow_top=True)

    def on_resize(self) -> None:
        if hasattr(self, "_job_rows"):
            self._show_jobs()

    @staticmethod
    def _loggable(e: dict) -> bool:
        if e["kind"] == "step":   # "running" is shown by the step list; the log keeps the outcomes
            return (e.get("data") or {}).get("state") != "running"
        return e["kind"] in ("log", "warning", "error", "result", "disc")

    def _event_line(self, e: dict) -> Text:
        msg = e["message"] or ""
        data = e.get("data") or {}
        if e["kind"] == "step" and not msg:
            msg = f"step {data.get('step')}: {data.get('name', '')} {data.get('state', '')}"
        if e["kind"] == "disc" and not msg:
            msg = f"disc {data.get('disc')}: {data.get('state', '')}"
        text = log_text(for_the_ui(msg), e.get("job_id"), output="output_bytes" in data)
        return Text(f"{fmt.stamp(e['ts'])[11:]} {text}", style=EVENT_STYLE.get(e["kind"], ""))

    def _show_detail(self, d: jobviews.JobDetail) -> None:
        job, p = d.job, d.progress
        # the title and the summary take a line or two each, however long the paths they name: the
        # steps, the progress and the log stay on the screen
        width = max(40, self.size.width - 2)
        title = Text.assemble((f"Job {job['id']} ", "bold"),
                              middle_cut(fmt.name(job["title"] or job["kind"]), 2 * width - 30) + "  ",
                              status_text(job["status"]))
        if job.get("summary"):
            title.append("  " + middle_cut(fmt.name(for_the_ui(job["summary"])), 2 * width))
        self.query_one("#run-title", Static).update(title)
        steps = Text()
        for n, name, state in d.steps:
            mark, style = STEP_MARK.get(state, ("?", ""))
            steps.append(f"{mark} {n} {name}  ", style=style)
        for disc in d.discs[-8:]:
            steps.append(f"disc {disc.get('disc')}: {disc.get('state')}  ", style="magenta")
        self.query_one("#run-steps", Static).update(steps)
        bar = self.query_one("#run-progress", ProgressBar)
        done, total = p.get("done_bytes"), p.get("total_bytes")
        live = job["status"] in LIVE
        if not live and job["status"] in ("completed", "warnings"):
            bar.update(total=100, progress=100)
        elif total:
            bar.update(total=total, progress=min(done or 0, total))
        elif isinstance(p.get("percent"), (int, float)):
            bar.update(total=100, progress=p["percent"])
        elif not live and job["status"] in ("completed", "warnings"):
            bar.update(total=100, progress=100)
        else:
            bar.update(total=None if live else 100, progress=0)
        stats = ""
        if done is not None and live:
            # no ETA: rsync's (kept in the event as rsync said it) counts every byte it listed as
            # still to copy, the files linked from the backup before included (a large tree that
            # changed little is given hours for minutes), and on a file's last line it is the time
            # that file took
            stats = f"{fmt.size(done)} copied" + (f" of {fmt.size(total)} listed" if total else "")
            if fmt.files(p):
                stats += f"  ·  {fmt.files(p)}"
            stats += f"  ·  {fmt.rate(p.get('rate'))}"
        self.query_one("#run-stats", Static).update(stats)
        current = p.get("current") if live else None
        if job["status"] == "waiting":   # not the last file copied: what the job waits for
            line = plain(f"▸ {waiting_line(job_prompt(self.app.jobs.prompts, job['id']))}", style="bold magenta")
        else:
            # two lines at most, as the title: a file 4,000 bytes deep left the log no room
            line = Text(f"▸ {middle_cut(fmt.name(current), 2 * width - 2)}", style="dim") if current else ""
        self.query_one("#run-current", Static).update(line)
        b = d.backup
        self.query_one("#run-savings", Static).update(
            savings_text(b.get("total_bytes"), b.get("new_bytes")) if b else "")

    @property
    def job_cancelled(self) -> set[str]:
        """Backups asked to stop already: a second cancel stops their post-backup commands too."""
        return self._cancel_read | self.stop_asked

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None and int(event.row_key.value) != self.followed:
            self.reload()

    # --- actions ---------------------------------------------------------------------------------

    def action_new_backup(self) -> None:
        options = [(s.id, f"{s.id}  ({'local' if s.is_local else s.host})") for s in self.app.cfg.sources]
        if not options:
            self.notify("no sources in the config: add one on the Sources screen", severity="warning")
            return

        def chosen(source: str | None) -> None:
            if source:
                self.app.start_backup(source)

        self.app.push_screen(PickDialog("Back up which source?", options), chosen)

    def action_cancel_job(self) -> None:
        key = selected_key(self.query_one("#runs-jobs", DataTable))
        if key is None:
            return
        job_id = int(key)
        status = getattr(self, "job_status", {}).get(key)
        if status not in LIVE:
            message = f"job {job_id} has ended ({status}): nothing to stop"
            self.notify(message)
            self.set_status(message)
            return

        job = self.jobs_shown[key]
        post_step = self.post_step.get(key, "pending")
        # (commands running are the backup's own, whatever the config names since it began)
        post = jobviews.post_commands_of(self.app.cfg, job) or post_step == "running"
        again = key in self.job_cancelled
        ended = post_step not in ("pending", "running")
        stopped = key in self._post_stop_read | self.post_stop_asked
        if again and (status == "queued" or not post or ended or stopped):     # nothing more for x to stop
            message = f"job {job_id} was asked to stop already" + (
                ": it has not begun, and reads cancelled once its turn comes" if status == "queued"
                else " (its source has no post-backup commands to stop)" if not post
                else ", its post-backup commands too" if stopped
                else " (its backup runs no post-backup commands)" if post_step == "skipped"   # none when it began
                else " (its post-backup commands have ended: nothing of them is left to stop)")
            self.notify(message)
            self.set_status(message)
            return

        # a question of a job waiting its turn promises that it never starts: its answer is written
        # only while the job still waits (its turn may come while the question is open)
        queued_only = status == "queued"

        def confirmed(ok: bool | None) -> None:
            if ok:
                if self.job_kind.get(key) == "backup":
                    self.stop_asked.add(key)
                    if again or post_step == "running":     # (running: the first cancel stops them too)
                        self.post_stop_asked.add(key)
                self.app.write_cancel(job_id, functools.partial(self._cancel_written, again=again), again, queued_only)

        if again:
            self.app.push_screen(ConfirmDialog("Stop the post-backup commands", (
                f"Job {job_id} was asked to stop already; its post-backup commands"
                f" {'are running' if post_step == 'running' else 'still run (or are yet to)'},"
                " to undo what its pre-backup commands did. Stop its post-backup commands too? What they were"
                " to undo stays undone (a dump left on the source, a service left stopped).")), confirmed)
            return
        self.app.push_screen(ConfirmDialog("Cancel job", cancel_question(job, post, post_step == "running")), confirmed)

    def _cancel_written(self, job_id: int, status: str | None, error: Exception | None, post_state: str | None,
                        *, again: bool) -> None:
        if error is None:
            message = post_stop_said(job_id, post_state) if again else f"cancel requested for job {job_id}"
            job = self.jobs_shown.get(str(job_id))
            stopped = jobviews.stopped_said(job) if job is not None else ""
            if stopped:     # it heeds no cancel until it is continued: said where it stays
                message = f"{message}; {stopped}"
                self.set_status(message)
                self.notify(message, severity="warning", timeout=15)
            else:
                self.notify(message)
            return
        self.stop_asked.discard(str(job_id))
        self.post_stop_asked.discard(str(job_id))
        if isinstance(error, jobviews.NotCancelled):    # its first cancel failed after the question was asked
            message = f"{error} (x asks again)"
            self.notify(message, severity="warning", timeout=8)
            self.set_status(message)
        elif isinstance(error, jobviews.Began):
            message = (f"job {job_id} has begun since its question was asked ({error.status}): not stopped;"
                       " x asks what stopping it now does")
            self.notify(message, severity="warning")
            self.set_status(message)
        elif isinstance(error, UsageError):     # it ended as it was confirmed
            self.notify(str(error))
        else:                                   # the database failed: what goes on said
            message = self.app.not_done(job_id, again) or not_written(job_id, again, str(error))
            self.notify(message, severity="error", timeout=8)
            self.set_status(message, error=True)

    def action_answer(self) -> None:
        prompts = self.app.jobs.prompts
        key = selected_key(self.query_one("#runs-jobs", DataTable))
        mine = [p for p in prompts if key is not None and str(p["job_id"]) == key] or prompts
        if mine:
            self.app.ask(mine[0], asked=True)
        else:
            self.notify("no question is waiting for an answer")
