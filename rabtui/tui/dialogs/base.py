"""The frame every dialog shares: a centred box (`#dialog`) with a title, buttons and a hint, and a
footer of the dialog's own keys (the screen below keeps its footer, which would show its keys).
A long text (a question naming a 4,000-byte path, a diff) scrolls in a `.dialog-text` box of its
own, so that the buttons and the hint below it stay on the screen."""

from __future__ import annotations

from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Footer


class Dialog(ModalScreen[ScreenResultType]):
    VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]     # below 20 lines the frame's margins go

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog #dialog { width: 70; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
                     background: $surface; padding: 1 2; }
    Dialog #dialog .title { text-style: bold; margin-bottom: 1; }
    Dialog #dialog .buttons { height: auto; margin-top: 1; }
    Dialog #dialog .buttons Button { margin-right: 1; min-width: 8; }
    Dialog #dialog .hint { color: $text-muted; margin-top: 1; }
    Dialog #dialog OptionList { height: auto; max-height: 50vh; }     /* inside the frame at 80x24 */
    Dialog #dialog .dialog-text { height: auto; max-height: 30vh; }
    Dialog.-short #dialog { border: none; padding: 0 1; max-height: 100%; }
    Dialog.-short #dialog .title { margin-bottom: 0; }
    Dialog.-short #dialog .buttons { margin-top: 0; }
    Dialog.-short #dialog .hint { margin-top: 0; }
    """

    def on_mount(self) -> None:
        self.mount(Footer(compact=True, show_command_palette=False))
