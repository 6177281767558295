"""The program, `rabtui` and `python -m rabtui`: the command line, with a private umask."""

from __future__ import annotations

import sys

from rabtui import privacy
from rabtui.cli import main as command_line


def main(argv: list[str]) -> int:
    privacy.restrict_umask()    # what rabtui creates is its user's alone (backups hold every host's secrets)
    return command_line(argv)


def run():
    """Runs the command of `sys.argv` and exits with its status."""
    raise SystemExit(main(sys.argv[1:]))
