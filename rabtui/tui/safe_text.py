"""Names and messages on the screens: escaped for the terminal as `fmt.name` does (`\\033`, `\\r`,
invalid UTF-8 as octal) and never read as markup, so that a file called `[red]x` shows as such."""

from __future__ import annotations

from rich.text import Text

from rabtui import fmt


def plain(value: str | bytes, style: str = "", *, lines: bool = False) -> Text:
    """One line (a newline in a name shows as `\\n`); with `lines`, a message whose breaks are kept."""
    return Text(fmt.lines(value) if lines and isinstance(value, str) else fmt.name(value), style=style)


def cell(value):
    """A table cell: a str becomes plain Text (DataTable reads str cells as markup); a Text holding
    control characters is rebuilt from its escaped plain text, keeping its style."""
    if isinstance(value, (str, bytes)):
        return plain(value)
    if isinstance(value, Text) and fmt.name(value.plain) != value.plain:
        return Text(fmt.name(value.plain), style=value.style)
    return value


def middle_cut(text: str, most: int) -> str:
    """`text` in at most `most` characters: its middle left out (…), its start and its end kept
    (a title naming a 4,000-byte path still says what it is and how it ended)."""
    if len(text) <= most:
        return text
    head = most // 3
    return text[:head] + "…" + text[len(text) - (most - head - 1):]
