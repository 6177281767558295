"""Output that cannot be written: to /dev/full (as a full disk or a failing one takes a redirected
report), a command says so on stderr in one `rabtui:` line and exits non-zero, never with a
traceback nor 0 for a report that was lost; to a pipe whose reader is gone (`| head -1`), it keeps
its own exit status, without a traceback. Each runs `python -m rabtui` as the operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.trees import Lab, write_files

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 9, 1, 3, 0)
COMMANDS = [["find", "f"], ["find", "f", "--json"], ["diff", "loc"], ["status", "--json"], ["check"]]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("output"), media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {f"f{i:04d}": b"x" for i in range(20)})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {f"f{i:04d}": b"yy" for i in range(20)})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    return lab


def _argv(lab, args):
    return [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_output_to_a_full_device_is_said_and_fails(lab, args):
    with open("/dev/full", "w") as full:
        done = subprocess.run(_argv(lab, args), stdout=full, stderr=subprocess.PIPE, cwd=ROOT,
                              stdin=subprocess.DEVNULL, timeout=120)
    err = done.stderr.decode(errors="replace")
    assert "Traceback" not in err, err[-800:]
    assert done.returncode != 0, err
    assert "rabtui: cannot write the output: No space left on device" in err, err


@pytest.mark.parametrize("args", [["find", "f"], ["status"]], ids=" ".join)
def test_a_reader_gone_keeps_the_exit_status(lab, args):
    read, write = os.pipe()
    os.close(read)      # the reader is gone before the first line: every write meets EPIPE
    try:
        done = subprocess.run(_argv(lab, args), stdout=write, stderr=subprocess.PIPE, cwd=ROOT,
                              stdin=subprocess.DEVNULL, timeout=120)
    finally:
        os.close(write)
    err = done.stderr.decode(errors="replace")
    assert "Traceback" not in err and "Exception ignored" not in err, err[-800:]
    assert done.returncode == 0, err
