"""Checkpoints: each directory's trigger counters and why it is due; the per-disc fill plan of the
directories and disc type chosen (default: the due ones, the config's disc); burn and resume as
detached jobs whose disc prompts open as dialogs (see the app's poller)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static

from rabtui import fmt
from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.actions import jobs as jobviews
from rabtui.actions import status
from rabtui.events import WARNING, Event
from rabtui.tui import threads
from rabtui.tui.dialogs.checkpoint_choices import CheckpointChoices
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.planning import FillPlan, PlanChoice, fill_plan
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.base import RabtuiScreen, fill_table
from rabtui.tui.waiting import job_prompt, waiting_line
from rabtui.tui.widgets.discbars import DiscBars
from rabtui.tui.widgets.table import Table, cells_width, cut_column

DIR_COLUMNS = ("due", "source", "directory", "changed", "last checkpoint")


@dataclass
class CheckpointsData:
    dirs: list
    last: dict | None        # newest checkpoint row with its discs
    job: dict | None         # a running checkpoint job


class CheckpointsScreen(RabtuiScreen):
    SUB_TITLE = "Checkpoints"
    DEFAULT_CSS = """
    CheckpointsScreen #cp-why { padding: 0 1; color: $text-muted; height: auto; }
    CheckpointsScreen #cp-dirs { max-height: 50%; }
    """
    refresh_on_poll = True
    BINDINGS = [
        Binding("p", "plan", "Plan", id="checkpoints.plan"),
        Binding("c", "choose", "Choose", tooltip="Choose directories and disc type, then plan",
                id="checkpoints.choose"),
        Binding("B", "burn", "Burn", id="checkpoints.burn"),
        Binding("R", "resume", "Resume", id="checkpoints.resume"),
        Binding("a", "answer", "Answer", id="checkpoints.answer"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan: FillPlan | None = None
        self._plans = threads.Outstanding(1)   # a plan still made (threads.py)
        self._plan_cancel = threading.Event()  # ends the plan under way (its wait for a union's lock): the screen left
        self.choice = PlanChoice()          # what the next plan is made of
        self.plan_choice = PlanChoice()     # what self.plan was made of: the burn job gets the same
        self._last_number = 0      # the newest checkpoint shown
        self._plan_after = 0       # the newest checkpoint when self.plan was made

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="checkpoints"):
            yield Table(id="cp-dirs", cursor_type="row", zebra_stripes=True)
            yield Static("", id="cp-why")
            yield Static("", id="cp-last", classes="section")
            yield ProgressBar(total=100, show_eta=False, id="cp-progress")
            yield Static("", id="cp-job")
            yield DiscBars(id="cp-plan")

    def on_mount(self) -> None:
        self.query_one("#cp-dirs", DataTable).add_columns(*DIR_COLUMNS)
        self.query_one("#cp-dirs", DataTable).focus()
        self.query_one("#cp-progress").display = False
        self.query_one("#cp-plan", DiscBars).show(None)

    def load_data(self) -> CheckpointsData:
        store = self.app.store
        cps = checkpoint_actions.shown_checkpoints(store)
        jobs = [j for j in jobviews.poll_jobs(store).running if j["kind"] == "checkpoint"]
        return CheckpointsData(status.due_dirs(self.app.cfg, store, now=self.app.now()), cps[0] if cps else None,
                               jobs[0] if jobs else None)

    def show_data(self, data: CheckpointsData) -> None:
        now = self.app.now()
        rows = []
        self.dirs = data.dirs
        for d in data.dirs:
            last = "never" if d.last_time is None else fmt.age(d.last_time, now)
            due = Text("due", style="bold yellow") if d.reasons else Text("-", style="dim")
            rows.append((due, d.source, f"{d.path} ({d.kind})", f"{d.changed}/{d.max_changed}", f"{last} (max {d.max_days}d)"))
        table = self.query_one("#cp-dirs", DataTable)
        width = cells_width(table, self.size.width, len(rows))
        # the directory cut first, then the source's id (their middles): the counts stay in view
        rows = cut_column(rows, DIR_COLUMNS.index("directory"), width, DIR_COLUMNS, least=24, middle=True)
        fill_table(table, cut_column(rows, DIR_COLUMNS.index("source"), width, DIR_COLUMNS, middle=True),
                   [f"{d.source}:{d.path}" for d in data.dirs])
        self._show_why()
        last = data.last
        states = {}
        if last is not None:
            self._last_number = last["number"]
            states = {r["disc"]: (r["state"], r["message"] or "") for r in last["disc_rows"]}
            verified = sum(1 for s, _ in states.values() if s == "verified")
            self.query_one("#cp-last", Static).update(
                f"Checkpoint {last['number']}: {last['status']}, {fmt.stamp(last['created'])}, "
                f"{last['discs']} × {last['disc_type']} (bound {last['lower_bound']}), {verified} verified")
        else:
            self.query_one("#cp-last", Static).update("No checkpoint yet")
        bar = self.query_one("#cp-progress", ProgressBar)
        job = data.job
        bar.display = job is not None
        if job is not None:
            p = job.get("progress") or {}
            if isinstance(p.get("percent"), (int, float)):
                bar.update(total=100, progress=p["percent"])
            status = f"job {job['id']} {job['status']}"
            if job["status"] == "waiting":
                status = f"job {job['id']} {waiting_line(job_prompt(self.app.jobs.prompts, job['id']))}"
            elif p.get("current"):          # the volume id while writing, a file while preparing or verifying
                status += f": {p['current']}"
            if p.get("done_bytes") is not None:
                status += f" · {fmt.size(p['done_bytes'])}" + (f" of {fmt.size(p['total_bytes'])}" if p.get("total_bytes") else "")
            if p.get("rate"):
                status += f" · {fmt.rate(p['rate'])}"
            self.query_one("#cp-job", Static).update(plain(status))
        else:
            self.query_one("#cp-job", Static).update("")
        plan = self.plan
        if plan is None and last is not None and last.get("plan"):   # the newest checkpoint, with its discs' states
            plan = _plan_from_row(last, self.app.cfg.checkpoint.max_discs)
        elif plan is not None and self._last_number <= self._plan_after:
            states = {}    # a new plan: nothing of it is written yet (the states are an older checkpoint's)
        self.query_one("#cp-plan", DiscBars).show(plan, states)

    def _show_why(self) -> None:
        table = self.query_one("#cp-dirs", DataTable)
        dirs = getattr(self, "dirs", [])
        if not dirs or not 0 <= table.cursor_row < len(dirs):
            return
        d = dirs[table.cursor_row]
        text = plain(f"{d.source}:{d.path}: ", style="bold")
        if d.reasons:
            text.append(plain("due: " + "; ".join(d.reasons), style="yellow"))
        else:
            text.append(plain(d.why_not or "not due"))
        self.query_one("#cp-why", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_why()

    # --- actions ---------------------------------------------------------------------------------

    def action_choose(self) -> None:
        def chosen(choice: PlanChoice | None) -> None:
            if choice is not None:
                self.choice = choice
                self.action_plan()

        self.app.push_screen(CheckpointChoices(getattr(self, "dirs", []), self.app.cfg.checkpoint.disc, self.choice),
                             chosen)

    def action_plan(self) -> None:
        if self._plans.full():   # p again while the one asked before waits (a lock, a medium that hangs)
            self.notify("still planning: the plan asked before waits (see the status line)", severity="warning")
            return
        self.notify("planning ...")
        self.set_status("planning ...")
        self._plan_after = self._last_number
        self._plan_cancel = threading.Event()
        self._plan(self.choice, self._plan_cancel)

    def on_screen_suspend(self) -> None:
        """Left for another screen: the plan under way ends (a wait for a union's lock would go on
        behind it up to the source's io_timeout, the state directory's lock held, p refused). Not
        for a dialog over it (help, a job's question): the screen is still the one shown below."""
        if self not in self.app.screen_stack:
            self._plan_cancel.set()

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    @threads.counted("_plans")
    def _plan(self, choice: PlanChoice, cancel: threading.Event) -> None:
        app = self.app

        def said(event: Event) -> None:      # as `checkpoint plan` says it on stderr
            if event.kind == WARNING:
                app.call_from_thread(self._planning_said, event.message)

        plan = fill_plan(app.cfg, app.store, choice, emit=said, cancel=cancel)
        if cancel.is_set():
            self.app.call_from_thread(self.set_status, "the plan was cancelled as the screen was left; p plans again")
            return
        self.app.call_from_thread(self._planned, plan, choice)

    def _planning_said(self, message: str) -> None:
        """What the planning waits for (a union's lock, held by a process named with its pid)."""
        self.notify(message, severity="warning", timeout=10)
        self.set_status(f"planning ... {message}")

    def _planned(self, plan: FillPlan, choice: PlanChoice) -> None:
        self.plan, self.plan_choice = plan, choice
        refused = burn_refused(plan)
        asked = f"; also {', '.join(choice.asked)}" if choice.asked else ""
        self.set_status(f"plan: {len(plan.discs)} disc(s) of {plan.disc_name}{asked}; "
                        + (f"not burnable: {refused}" if refused else "B burns it"), error=bool(refused))
        self.refresh_bindings()
        self.reload()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "burn":   # offered only for a plan that can be written
            return self.plan is not None and not burn_refused(self.plan)
        return True

    def action_burn(self) -> None:
        drive = self.app.cfg.checkpoint.drive

        args = ["checkpoint", "burn", *self.plan_choice.args()]

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.app.start_job("checkpoint", drive, "checkpoint burn", args)

        n, disc = (len(self.plan.discs), self.plan.disc_name) if self.plan else ("?", "?")
        self.app.push_screen(ConfirmDialog("Burn checkpoint", f"Write a checkpoint onto {n} disc(s) of {disc} in {drive}?\n"
                                           "You are asked for each disc; the job goes on if you close the UI."),
                             confirmed)

    def action_resume(self) -> None:
        self.app.start_job("checkpoint", self.app.cfg.checkpoint.drive, "checkpoint resume", ["checkpoint", "resume"],
                           refuse=lambda: checkpoint_actions.to_resume(self.app.store))

    def action_answer(self) -> None:
        self.app.action_answer_prompt()


def burn_refused(plan: FillPlan) -> str:
    """Why this plan cannot be burnt ("" when it can)."""
    if not plan.discs:
        return plan.note or "nothing to write"
    if len(plan.discs) > plan.max_discs:
        return f"{len(plan.discs)} discs > max_discs {plan.max_discs}"
    return ""


def _plan_from_row(row: dict, max_discs: int) -> FillPlan | None:
    import json

    from rabtui.tui.planning import from_summary

    try:
        summary = json.loads(row["plan"]).get("summary")
        plan = from_summary(summary, max_discs) if isinstance(summary, dict) else None
    except (ValueError, TypeError, AttributeError):
        return None
    return plan if plan is not None and plan.discs else None
