"""A job's question (insert disc k of n, retry/rewrite/skip/abort, ...), answered from the UI."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static


from rabtui.tui.dialogs.base import Dialog
from rabtui.tui.safe_text import plain

HELP = {
    "ready": "the disc is in the drive",
    "retry": "try this step again",
    "rewrite": "write this disc again on a new blank disc",
    "skip": "leave this disc out (the checkpoint stays incomplete)",
    "abort": "stop the checkpoint (it can be resumed)",
    "yes": "", "no": "",
}


class QuestionDialog(Dialog[str | None]):
    """Shows one open prompt of a job; dismisses with the chosen answer (None: answer later).

    A question opens by itself, whatever the operator is doing: a key pressed for the screen below
    as it opens (2 for Sources, enter to open a directory) would answer it, and abort or skip a
    disc. Its choices therefore take keys only once it has been on the screen ARM_AFTER seconds
    (then it focuses its first choice); one the operator asked for (`a`) takes them at once."""

    ARM_AFTER = 0.8
    AUTO_FOCUS = ""     # nothing has the keys until it is armed

    BINDINGS = [
        Binding("1", "choose(0)", "1st", id="question.choice1", show=False),
        Binding("2", "choose(1)", "2nd", id="question.choice2", show=False),
        Binding("3", "choose(2)", "3rd", id="question.choice3", show=False),
        Binding("4", "choose(3)", "4th", id="question.choice4", show=False),
        Binding("5", "choose(4)", "5th", id="question.choice5", show=False),
        Binding("escape", "later", "Answer later", id="question.later"),
    ]

    def __init__(self, prompt: dict, asked: bool = False):
        super().__init__()
        self.prompt = prompt
        self.armed = asked

    def compose(self) -> ComposeResult:
        p = self.prompt
        with Vertical(id="dialog", classes="question"):
            yield Label(f"Job {p['job_id']} asks", classes="title")
            with VerticalScroll(classes="dialog-text"):
                yield Static(plain(p["text"], lines=True), id="question-text")
            with Horizontal(classes="buttons"):
                for i, choice in enumerate(p["choices"]):
                    yield Button(f"{i + 1} {choice}", id=f"choice-{i}", variant="primary" if i == 0 else "default",
                                 tooltip=HELP.get(choice, ""), disabled=not self.armed)
            yield Static("keys 1-{}: answer · esc: answer later (Runs, or `rabtui jobs answer {} ANSWER`)".format(
                len(p["choices"]), p["id"]), classes="hint")

    def on_mount(self) -> None:
        if self.armed:
            self._arm()
        else:
            self.set_timer(self.ARM_AFTER, self._arm)

    def _arm(self) -> None:
        self.armed = True
        for button in self.query(Button):
            button.disabled = False
        for button in self.query("#choice-0"):
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(int(event.button.id.split("-")[1]))

    def action_choose(self, index: int) -> None:
        if self.armed and index < len(self.prompt["choices"]):
            self.dismiss(self.prompt["choices"][index])

    def action_later(self) -> None:
        self.dismiss(None)
