"""A small C library built for a test, preloaded into rsync (LD_PRELOAD) to make what no real file
system here does: a read error partway, a file swapped for a FIFO, a create that vfat refuses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def built(tmp_path_factory, name: str, source: str, why: str) -> Path:
    """The library `name`.so built from C `source` in a new temporary folder; the test skipped, saying
    `why` it needs one, where there is no gcc."""
    if not shutil.which("gcc"):
        pytest.skip(f"no gcc to build the library that {why}")
    base = tmp_path_factory.mktemp(name)
    (base / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(base / f"{name}.so"), str(base / f"{name}.c"), "-ldl"],
                   check=True)
    return base / f"{name}.so"
