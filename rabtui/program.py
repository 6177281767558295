"""The program, `rabtui` and `python -m rabtui`: the command line, with a private umask."""

from __future__ import annotations

import os
import sys

from rabtui import privacy
from rabtui.cli import main as command_line


def main(argv: list[str]) -> int:
    standard_streams()
    privacy.restrict_umask()    # what rabtui creates is its user's alone (backups hold every host's secrets)
    return command_line(argv)


def standard_streams() -> None:
    """Standard input, output and error that were closed (`rabtui run-due >&-`) opened on /dev/null,
    and Python's streams on them: else the first files rabtui opens (the state database, a medium's
    files) take those descriptors, and what is printed, or written by a program it starts, lands in
    them. Output and error escape what their encoding cannot hold."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)      # the lowest free descriptor: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))
    for stream in (sys.stdout, sys.stderr):
        # a terminal not in UTF-8 (LANG=de_DE.ISO-8859-1): a character of a name it cannot show is
        # printed escaped (\u20ac), not a UnicodeEncodeError at that line
        getattr(stream, "reconfigure", lambda **kw: None)(errors="backslashreplace")


def run():
    """Runs the command of `sys.argv` and exits with its status."""
    raise SystemExit(main(sys.argv[1:]))
