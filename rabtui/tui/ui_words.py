"""The engine's hints name command-line flags ("use --overwrite"); on the screens the operator
has controls instead, so a message shown there names the control."""

from __future__ import annotations

import re

# (what the command line says, what the UI says): longest first
HINTS = (
    ("use --overwrite to replace them", 'tick "overwrite existing files" in the restore dialog to replace them'),
    ("restore with --to DIR", "restore into a directory"),
    ("use --force to relabel it", 'answer "Label anyway"'),
    ("--overwrite", '"overwrite existing files"'),
    ("--to DIR", "a directory"),
)


def for_the_ui(message: str) -> str:
    for cli, ui in HINTS:
        message = message.replace(cli, ui)
    return message


def names_a_flag(message: str) -> bool:
    return re.search(r"(^|\s)--[a-z]", message) is not None
