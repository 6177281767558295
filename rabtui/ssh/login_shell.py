"""Words of what rabtui sends over SSH, which the source account's login shell reads (sshd runs
`SHELL -c TEXT`): sh, bash, dash, zsh, fish or tcsh, each reading quotes, `$`, `\\` and `!` its own
way. shlex.quote's words are sh's: fish read a backslash in them as an escape, and tcsh's `!` in
single quotes expanded history (`owner: Event not found.`, the check on the source failed)."""

from __future__ import annotations

import re
from typing import Sequence


def any_shell_word(text: str) -> str:
    """`text` as one word alike to sh, bash, fish and tcsh: single-quoted but for ', \\ and !, each
    escaped outside the quotes (fish reads \\ and \\' inside single quotes, tcsh expands ! there).
    A newline stays quoted, which tcsh refuses."""
    return "".join(f"\\{part}" if part in ("'", "\\", "!") else f"'{part}'"
                   for part in re.split(r"(['\\!])", text) if part) or "''"


def command_line(argv: Sequence[str]) -> str:
    """The program `argv` as one command line that any of those login shells runs as given."""
    return " ".join(any_shell_word(arg) for arg in argv)
