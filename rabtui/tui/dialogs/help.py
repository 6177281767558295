"""`?`: every binding of the screen below, with its key, including those the footer leaves out."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Label, Static

from rabtui.tui.dialogs.base import Dialog


def binding_lines(screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) of every active binding of `screen`: its own, the app's, the focused
    widget's, then Textual's own; one line per action."""
    app = screen.app
    by_action: dict[tuple, list[str]] = {}
    descriptions: dict[tuple, str] = {}
    for node, binding, enabled, _tooltip in screen.active_bindings.values():
        if not enabled or not binding.description:
            continue
        if node is screen:   # the screen's own keys first, Textual's (focus, copy) after the app's
            owner = 0 if binding.id else 3      # every binding of rabtui has an id (keymap.toml)
        else:
            owner = 1 if node is app else 2
        action = (owner, id(node), binding.action)
        by_action.setdefault(action, []).append(app.get_key_display(binding))
        descriptions[action] = binding.tooltip or binding.description   # the long name where the footer's is short
    ordered = sorted(by_action, key=lambda a: a[0])        # stable: each group keeps its own order
    return [(" ".join(dict.fromkeys(by_action[a])), descriptions[a]) for a in ordered]


class HelpScreen(Dialog[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, title: str, lines: list[tuple[str, str]]):
        super().__init__()
        self.title_text, self.lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Keys: {self.title_text}", classes="title")
            text = Text()
            width = max((len(k) for k, _ in self.lines), default=1)
            for keys, description in self.lines:
                text.append(f"{keys:>{width}}  ", style="bold")
                text.append(f"{description}\n")
            with VerticalScroll():
                yield Static(text, id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
