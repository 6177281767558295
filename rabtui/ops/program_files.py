"""The files a timer of `schedule install` runs: the program, its interpreter, rabtui's own modules
(and their compiled `__pycache__`) and the directories Python imports from. Another user who can
change any of them runs their code as the timer's user (root, often), who reads and rewrites every
backup: a checkout in their home, or a `__pycache__` that Python made 0777 less a umask of 000 as it
first imported rabtui (before rabtui could set its own)."""

from __future__ import annotations

import os
import sys

from rabtui import privacy


def changeable(argv: list[str]) -> str | None:
    """Why a user other than root and this one could change what `argv` (the units' command line)
    runs, or None."""
    import rabtui

    package = os.path.dirname(os.path.abspath(rabtui.__file__))
    # sys.path[0] is the program's own directory, or the directory `-m` was run in (not the timer's)
    named = [argv[0], sys.executable, *(p for p in sys.path[1:] if p and os.path.exists(p))]
    for path in named + [package]:
        why = privacy.others_can_change(path) or privacy.others_can_write(os.path.realpath(path))
        if why:
            return why
    for top, dirs, files in os.walk(package):
        for name in dirs + files:
            why = privacy.others_can_write(os.path.join(top, name))
            if why:
                return why
    return None
