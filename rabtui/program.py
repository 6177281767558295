"""The program, `rabtui` and `python -m rabtui`: a backup's login started ahead, then the command line."""

from __future__ import annotations

import gc
import sys

from rabtui import login_ahead, privacy


def main(argv: list[str]) -> int:
    privacy.restrict_umask()    # what rabtui creates is its user's alone (backups hold every host's secrets)
    login_ahead.start(argv)     # before the command line's modules load: they take a tenth of a second
    try:
        from rabtui.cli import main as command_line

        return command_line(argv)
    finally:
        login_ahead.discard()


def run():
    """Runs the command of `sys.argv` and exits with its status."""
    code = main(sys.argv[1:])
    # The objects still alive are freed as the interpreter exits; the garbage collector's passes
    # over them first would add ~15 ms to every command (a backup's wall time included).
    gc.freeze()
    raise SystemExit(code)
