"""Names and messages on the screens: escaped for the terminal as `fmt.name` does (`\\033`, `\\r`,
invalid UTF-8 as octal) and never read as markup, so that a file called `[red]x` shows as such."""

from __future__ import annotations

import re

from rich.cells import cell_len, get_character_cell_size
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
    """`text` in at most `most` cells of the terminal: its middle left out (…), its start and its
    end kept (a title naming a 4,000-byte path still says what it is and how it ended). A wide
    (CJK) character takes two cells."""
    if cell_len(text) <= most:
        return text
    head = most // 3
    return _cells(text, head) + "…" + _cells(text[::-1], most - head - 1)[::-1]


def _cells(text: str, most: int) -> str:
    """The longest start of `text` that takes at most `most` cells."""
    used = 0
    for i, ch in enumerate(text):
        used += get_character_cell_size(ch)
        if used > most:
            return text[:i]
    return text


GLANCE_WORD_MAX = 120    # characters of one name or path: three lines of a toast at 80 columns
GLANCE_LINES_MAX = 12


def glance(text: str) -> str:
    """`text` a glance long, for a toast or an error beside a field: a word (a 4,000-byte path, a
    value of 5,000 digits) loses its middle, a message of many lines its end."""
    lines = [re.sub(rf"\S{{{GLANCE_WORD_MAX + 1},}}", lambda m: middle_cut(m.group(), GLANCE_WORD_MAX), line)
             for line in text.split("\n")]
    if len(lines) > GLANCE_LINES_MAX:
        lines = [*lines[:GLANCE_LINES_MAX - 1], f"… ({len(lines) - GLANCE_LINES_MAX + 1} more lines)"]
    return "\n".join(lines)


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ESCAPED = re.compile(r"\\(\\|n|t|r|[0-3][0-7]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def _code(ch: str) -> str:
    code = ord(ch)
    return _ESCAPES.get(ch) or (f"\\{code:03o}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                                else f"\\U{code:08x}")


def editable(text: str) -> str:
    """`text` for a field the operator edits, safe on the terminal: each character `fmt.escaped`
    does not show as it is (ESC, a newline, C1 codes, a bidi override) as an escape (`\\033`, `\\n`,
    `\\u202e`) and each backslash doubled, so that `unescaped` gives `text` back exactly."""
    return fmt.escaped(text.replace("\\", "\\\\"), _code)


def unescaped(text: str) -> str:
    """What `editable` shows, as the text it is (a backslash before anything else stays as it is)."""
    def one(m: re.Match) -> str:
        word = m.group(1)
        if word[0] in "uU":
            return chr(int(word[1:], 16))
        if word[0].isdigit():
            return chr(int(word, 8))
        return {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}[word]

    return _ESCAPED.sub(one, text)
