"""Which directories go into the next checkpoint and on which discs: the choices `rabtui checkpoint
plan/burn --now SOURCE:PATH --disc TYPE` takes on the command line. Directories that are due are
always part of it (as on the command line); others can be added."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from rabtui import fmt
from rabtui.config.disc_types import DISC_SECTORS, SECTOR
from rabtui.tui.dialogs.base import Dialog
from rabtui.tui.planning import PlanChoice
from rabtui.tui.safe_text import plain


def disc_options(configured: str) -> list[tuple[str, str]]:
    """(label, value) of every disc type, the configured one first when it is a size of its own."""
    options = [(f"{name}  ({fmt.size(sectors * SECTOR)})", name) for name, sectors in DISC_SECTORS.items()]
    if configured not in DISC_SECTORS:
        options.insert(0, (f"{configured}  (the config's)", configured))
    return options


class CheckpointChoices(Dialog[PlanChoice | None]):
    """Dismisses with the PlanChoice to plan (and burn) with, or None when cancelled."""

    DEFAULT_CSS = """
    CheckpointChoices #dialog { width: 90; }
    CheckpointChoices #dialog #cp-choose-dirs { height: auto; max-height: 25vh; }   /* over Dialog's OptionList */
    CheckpointChoices #dialog .hint { margin-top: 0; }     /* with many directories the buttons stay on 80x20 */
    CheckpointChoices .field { height: auto; margin-top: 1; }
    CheckpointChoices .field-label { width: 10; }
    CheckpointChoices #cp-choose-disc { width: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+s", "plan", "Plan", id="cp_choices.plan", priority=True),
        Binding("escape", "cancel", "Cancel", id="cp_choices.cancel"),
    ]

    def __init__(self, dirs: list, configured_disc: str, current: PlanChoice):
        """dirs: the screen's DueDir rows (source, path, kind, reasons, why_not)."""
        super().__init__()
        self.dirs, self.configured_disc, self.current = dirs, configured_disc, current

    def compose(self) -> ComposeResult:
        selections = []
        for d in self.dirs:
            key = f"{d.source}:{d.path}"
            why = f"due: {'; '.join(d.reasons)}" if d.reasons else (d.why_not or "not due")
            selections.append(Selection(plain(f"{key} ({d.kind})  {why}"), key,
                                        initial_state=bool(d.reasons) or key in self.current.asked,
                                        disabled=bool(d.reasons)))
        with Vertical(id="dialog"):
            yield Label("Checkpoint which directories, on which discs?", classes="title")
            yield SelectionList[str](*selections, id="cp-choose-dirs")
            with Horizontal(classes="field"):
                yield Label("discs", classes="field-label")
                yield Select(disc_options(self.configured_disc), value=self.current.disc or self.configured_disc,
                             allow_blank=False, id="cp-choose-disc", compact=True)
            yield Static("space: add or leave out a directory (the due ones are always in)", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Plan (ctrl+s)", id="plan", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cp-choose-dirs", SelectionList).focus()

    def choice(self) -> PlanChoice:
        due = {f"{d.source}:{d.path}" for d in self.dirs if d.reasons}
        asked = tuple(k for k in self.query_one("#cp-choose-dirs", SelectionList).selected if k not in due)
        disc = self.query_one("#cp-choose-disc", Select).value
        return PlanChoice(asked, None if disc == self.configured_disc else str(disc))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "plan":
            self.action_plan()
        else:
            self.dismiss(None)

    def action_plan(self) -> None:
        self.dismiss(self.choice())

    def action_cancel(self) -> None:
        self.dismiss(None)
