"""The frame every dialog shares: a centred box (`#dialog`) with a title, buttons and a hint, and a
footer of the dialog's own keys (the screen below keeps its footer, which would show its keys)."""

from __future__ import annotations

from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Footer


class Dialog(ModalScreen[ScreenResultType]):
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog #dialog { width: 70; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
                     background: $surface; padding: 1 2; }
    Dialog #dialog .title { text-style: bold; margin-bottom: 1; }
    Dialog #dialog .buttons { height: auto; margin-top: 1; }
    Dialog #dialog .buttons Button { margin-right: 1; min-width: 8; }
    Dialog #dialog .hint { color: $text-muted; margin-top: 1; }
    Dialog #dialog OptionList { height: auto; max-height: 15; }
    """

    def on_mount(self) -> None:
        self.mount(Footer(compact=True, show_command_palette=False))
