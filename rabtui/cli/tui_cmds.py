"""`rabtui` alone (the TUI) and `rabtui demo`."""

from __future__ import annotations

from rabtui.errors import UsageError


def register(sub) -> None:
    pass


def open_tui(args) -> int:
    raise UsageError("the terminal UI is not built yet; see rabtui --help for the commands")
