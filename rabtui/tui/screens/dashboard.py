"""Dashboard: failed and running jobs first (on screen at 80x24), then health problems, sources,
media and due checkpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from rabtui import fmt
from rabtui.actions import jobs as jobviews
from rabtui.actions import status
from rabtui.state.store import KEPT
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.base import RabtuiScreen, fill_table, selected_key
from rabtui.tui.ui_words import job_failure
from rabtui.tui.waiting import job_prompt, waiting_line
from rabtui.tui.widgets.table import Table, cut_column

STATUS_STYLE = {
    "completed": "green", "warnings": "yellow", "failed": "bold red", "running": "cyan",
    "abandoned": "red", "interrupted": "red", "no backup": "dim", "waiting": "bold magenta", "queued": "cyan", "dead": "red",
    "cancelled": "yellow", "kept": "yellow",     # kept: the data whole, its run failed after (a post command)
}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def complete_text(backup: dict | None, now: float) -> Text:
    """The age of a source's last backup that holds its data (as `status` names it beside a last run
    that failed), kept data said and coloured as a warning."""
    if backup is None:
        return Text("never", style=STATUS_STYLE["no backup"])
    if backup["status"] == KEPT:
        return Text(f"{fmt.age(backup['started'], now)}, kept", style=STATUS_STYLE[KEPT])
    return Text(fmt.age(backup["started"], now))


JOB_COLUMNS = ("job", "kind", "title", "status", "progress")
SOURCE_COLUMNS = ("source", "host", "last run", "age", "last complete", "total", "new")
DUE_COLUMNS = ("source", "directory", "why due")
# lines of failed jobs and of health problems shown: a night that failed every source leaves the
# sources table (`b` backs up its highlighted source) on the screen at 80x24, the rest counted
FAILED_SHOWN, PROBLEMS_SHOWN = 3, 4


@dataclass
class DashboardData:
    problems: list
    sources: list
    rotation: status.Rotation
    due: list
    jobs: list


class DashboardScreen(RabtuiScreen):
    SUB_TITLE = "Dashboard"
    DEFAULT_CSS = """
    DashboardScreen #jobs-title { margin-top: 0; }
    DashboardScreen #jobs-title.idle { text-style: none; color: $text-muted; }
    DashboardScreen #problems { padding: 0 1; }
    DashboardScreen #problems.bad { border: round $error; }
    DashboardScreen #failed-jobs { padding: 0 1; border: round $error; height: auto; }
    DashboardScreen #dashboard DataTable { height: auto; max-height: 12; }
    DashboardScreen #rotation { padding: 0 1; margin-top: 1; }
    """
    refresh_on_poll = True
    BINDINGS = [
        Binding("b", "backup", "Backup", tooltip="Backup now", id="dashboard.backup"),
        Binding("k", "acknowledge", "Ack failed", tooltip="Acknowledge failed jobs", id="dashboard.acknowledge"),
    ]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="dashboard"):
            yield Static("", id="failed-jobs")
            yield Static("Running jobs", id="jobs-title", classes="section")
            yield Table(id="jobs", cursor_type="row")
            yield Static("", id="problems")
            yield Table(id="sources", cursor_type="row", zebra_stripes=True)
            yield Static("", id="rotation")
            yield Static("Checkpoints due", classes="section")
            yield Table(id="due", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#sources", DataTable).add_columns(*SOURCE_COLUMNS)
        self.query_one("#due", DataTable).add_columns(*DUE_COLUMNS)
        self.query_one("#jobs", DataTable).add_columns(*JOB_COLUMNS)
        self.query_one("#sources", DataTable).focus()

    HEALTH_EVERY = 10.0   # seconds: the health checks are the costly part; job polls reuse them

    def on_screen_resume(self) -> None:
        self._health_at = 0.0
        super().on_screen_resume()

    def load_data(self) -> DashboardData:
        app = self.app
        cfg, store = app.cfg, app.store
        problems = getattr(self, "_problems", None)
        if problems is None or time.monotonic() - getattr(self, "_health_at", 0.0) > self.HEALTH_EVERY:
            try:
                problems = status.problems(cfg, store, now=app.now())
            except Exception as exc:  # a failing check is itself a problem to show
                problems = [status.Problem("health", "warning", f"health checks failed: {exc}")]
            self._problems, self._health_at = problems, time.monotonic()
        due = [d for d in status.due_dirs(cfg, store, now=app.now()) if d.reasons]
        return DashboardData(problems, status.sources(cfg, store), status.rotation(cfg, store), due,
                             jobviews.poll_jobs(store).running)

    def show_failed_jobs(self) -> None:
        failed = self.app.failed_jobs
        widget = self.query_one("#failed-jobs", Static)
        widget.display = bool(failed)
        text, jobs = Text(), list(failed.values())
        if len(jobs) > FAILED_SHOWN:
            text.append(f"✖ {len(jobs) - FAILED_SHOWN} more failed jobs before these: Runs lists them\n",
                        style="bold red")
        for job in jobs[-FAILED_SHOWN:]:
            text.append(plain(f"✖ {job_failure(job)}\n", style="bold red", lines=True))
        text.append("k: acknowledge", style="dim")
        widget.update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "acknowledge":
            return bool(self.app.failed_jobs)
        return True

    def action_acknowledge(self) -> None:
        self.app.acknowledge_failures()
        self.show_failed_jobs()

    def show_data(self, data: DashboardData) -> None:
        now = self.app.now()
        self.show_failed_jobs()
        problems = self.query_one("#problems", Static)
        if data.problems:
            text = Text()
            for i, p in enumerate(data.problems[:PROBLEMS_SHOWN]):    # critical first
                style = "bold red" if p.level == "critical" else "yellow"
                if i:
                    text.append("\n")
                text.append(plain(f"{'✖' if p.level == 'critical' else '!'} {p.message}", style=style, lines=True))
            more = data.problems[PROBLEMS_SHOWN:]
            if more:
                critical = sum(p.level == "critical" for p in more)
                text.append(f"\n… {len(more)} more problems{f' ({critical} critical)' if critical else ''}:"
                            " `rabtui check` lists them all", style="bold red" if critical else "yellow")
            problems.update(text)
            problems.set_class(True, "bad")
        else:
            problems.update(Text("✔ no health problems", style="green"))
            problems.set_class(False, "bad")
        rows, keys = [], []
        for s in data.sources:
            status = "running" if s.running else s.status
            rows.append((s.id, s.where, status_text(status), fmt.age(s.started, now),
                         complete_text(s.last_complete, now), fmt.size(s.total_bytes), fmt.size(s.new_bytes)))
            keys.append(s.id)
        table = self.query_one("#sources", DataTable)
        width = self.size.width - table.styles.scrollbar_size_vertical
        # the host cut first, then the source's id (its middle): no column is pushed out of view
        rows = cut_column(rows, SOURCE_COLUMNS.index("host"), width, SOURCE_COLUMNS)
        fill_table(table, cut_column(rows, 0, width, SOURCE_COLUMNS, middle=True), keys)
        rot = data.rotation
        self.query_one("#rotation", Static).update(
            Text.assemble(("Media: ", "bold"), f"current {rot.current or '-'}  ·  next {rot.next or '-'}"))
        table = self.query_one("#due", DataTable)
        due = [(d.source, d.path, "; ".join(d.reasons)) for d in data.due] or [("-", "nothing is due", "")]
        width = self.size.width - table.styles.scrollbar_size_vertical
        # the directory cut (its middle) to leave the reasons room, then the reasons to what is left
        # (all of them on Checkpoints)
        due = cut_column(due, 1, width, DUE_COLUMNS, least=16, middle=True)
        fill_table(table, cut_column(due, 2, width, DUE_COLUMNS))
        jrows = []
        for j in data.jobs:
            p = j.get("progress") or {}
            pct = p.get("percent")
            progress = f"{pct:.0f}%" if isinstance(pct, (int, float)) else ""
            if fmt.files(p):
                progress += f" · {fmt.files(p)}"
            if j["status"] == "waiting":
                progress = waiting_line(job_prompt(self.app.jobs.prompts, j["id"]))
            jrows.append((str(j["id"]), j["kind"], j["title"] or "", status_text(j["status"]), progress))
        table = self.query_one("#jobs", DataTable)
        width = self.size.width - table.styles.scrollbar_size_vertical
        fill_table(table, cut_column(jrows, JOB_COLUMNS.index("title"), width, JOB_COLUMNS))
        self.query_one("#jobs", DataTable).display = bool(jrows)
        title = self.query_one("#jobs-title", Static)
        title.update("Running jobs" if jrows else "Running jobs: none")
        title.set_class(not jrows, "idle")

    def action_backup(self) -> None:
        source = selected_key(self.query_one("#sources", DataTable))
        if source:
            self.app.start_backup(source)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "jobs":   # enter on a running job: follow it in Runs
            self.app.switch_mode("runs")
