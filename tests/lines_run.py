"""Work counted, not timed: how many lines of one module run while a call runs (a test of growth
compares the counts at two sizes, which a loaded machine does not move)."""

from __future__ import annotations

import sys
from typing import Callable


def lines_run(module_path: str, call: Callable[[], object]) -> int:
    """Lines of the file whose path ends in `module_path` run during `call()`."""
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename.endswith(module_path):
            count += event == "line"
            return trace
        return None

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return count
