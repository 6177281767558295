"""A medium's label that is no label of rabtui's (a FIFO or a symlink to /dev/zero put in its place,
a file nested deeper than the JSON reader goes), as a disk from elsewhere or a damaged one may
hold: a backup and a restore say so in a line and end, never wait on it for ever, read it into
memory whole or end in a traceback; the backups already there are left as they are. Real rsync,
the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trees import Lab, snapshot, write_files
from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent


def _rabtui(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)


@pytest.mark.parametrize("odd", ["fifo", "zero", "nested", "long id"])
def test_a_label_that_is_no_label_is_said_in_a_line(tmp_path, odd):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    medium = Path(cfg.media[0].path)
    before = snapshot(medium / "loc")
    label = medium / ".rabtui-medium"
    label.unlink()
    if odd == "fifo":
        os.mkfifo(label)
    elif odd == "zero":
        os.symlink("/dev/zero", label)
    elif odd == "nested":
        label.write_bytes(b"[" * 50_000)     # under the size of a label
    else:     # JSON whose id is long: another medium's label, said in a line all the same
        label.write_text('{"id": "' + "x" * 50_000 + '", "serial": "0123456789abcdef"}')
    for args in (("backup", "loc"), ("restore", "loc", str(lab.src / "data"), "--to", str(tmp_path / "out"))):
        done = _rabtui(lab, *args)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "Traceback" not in out and "internal error" not in out, out
        assert ("is labelled 'xxx" if odd == "long id" else ".rabtui-medium") in out, out
        assert max(map(len, out.splitlines())) < 1000, "the label's text was said whole"
    assert snapshot(medium / "loc") == before
    assert not (tmp_path / "out").exists()
