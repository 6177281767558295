"""A terminal whose encoding is not UTF-8 (an older server's LANG=de_DE.ISO-8859-1; here
PYTHONIOENCODING, which sets Python's standard streams alike): a name holding a character it cannot
show (the euro sign in Latin-1) ended the command in a UnicodeEncodeError traceback at the line
naming it. Such a character is printed escaped, as control characters are; the command goes on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.trees import Lab, write_files

ROOT = Path(__file__).resolve().parent.parent


def test_a_name_the_terminal_cannot_show_is_printed_escaped(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"café€": b"one"})
    cfg = lab.local()
    assert lab.backup(cfg).status == "completed"
    done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "loc",
                           str(lab.src / "data" / "café€"), "--to", str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "latin-1"})
    said = done.stdout + done.stderr
    assert done.returncode == 0 and b"Traceback" not in said, said.decode("latin-1")[-800:]
    assert "café\\u20ac".encode("latin-1") in said, said     # the name, in each line naming it
    assert (tmp_path / "out" / str(lab.src / "data" / "café€").lstrip("/")).read_bytes() == b"one"
