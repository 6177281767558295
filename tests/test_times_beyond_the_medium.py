"""Times far from now. rsync (3.5.0) itemizes a time before the year 1000 as `-500/01/02-...` (its
year padded with dashes: `---1` for the year 1) and one past 9999 with five digits of year and one
of seconds (`10000/01/02-01:02:0`): such files were missing from the catalog (find said the backup
did not hold them). A time the medium's file system cannot hold (ext4: 1901-12-13 to 2446-05-10)
is kept there as the nearest one it holds, by the kernel, without an error: the backup names each
such entry (its warnings), as it names xattrs the medium cannot hold. Real rsync; the source on
/dev/shm (a tmpfs holds any time), the medium on the test's own (ext4) file system."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from rabtui import rsync
from rabtui.cli import main
from rabtui.restore import run as R
from tests.trees import Lab

YEAR_500 = -46_388_588_277                        # 0500-01-02 01:02:03 UTC
YEAR_1800 = -5_364_662_400                        # 1800-01-01 00:00:00 UTC
YEAR_12000 = 316_516_208_520                       # 12000-01-01 01:02:00 UTC


def test_rsyncs_odd_times_are_items():
    out = (b"\n>f+++++++++|4|-500/01/02-01:02:03|y500\n>f+++++++++|3|---1/01/01-01:02:03|y1\n"
           b">f+++++++++|6|12000/01/01-01:02:0|y12000\n>f+++++++++|6|1800/01/01-00:00:00|y1800\n")
    got = {name: (size, t) for _code, size, t, name in rsync.items(out, len(out))}
    assert set(got) == {b"y500", b"y1", b"y12000", b"y1800"}, got
    assert got[b"y500"] == (4, YEAR_500)
    assert got[b"y1800"] == (6, YEAR_1800)
    assert got[b"y12000"] == (6, YEAR_12000)     # to the ten seconds: rsync prints one digit of them


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_files_dated_where_the_medium_cannot_hold_them_are_saved_and_named(tmp_path, shm, capsys, kind):
    """The catalog records the time the medium holds: an archive's restore, which compares the
    union's file with it, restores the file (it named it as "with another modification time")."""
    data = shm / "data"
    data.mkdir()
    for name, t in (("y500", YEAR_500), ("y1800", YEAR_1800), ("y12000", YEAR_12000), ("now", 1_700_000_000)):
        (data / name).write_text(name)
        os.utime(data / name, (t, t))
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{data}"\nkind = "{kind}"\n')
    res = lab.backup(cfg, now=datetime(2026, 6, 1, 3))
    assert res.status == "warnings", res.reason
    said = "\n".join(lab.messages())
    assert "3 entries dated where the medium's file system holds no time: kept with the nearest" in said, said
    for name in ("y500", "y1800", "y12000"):
        assert name in said, said
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "find", "*"]) == 0
    found = capsys.readouterr().out
    assert found.count("m1: backup-20260601030000") == 4, found
    got = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    back = tmp_path / "out" / str(data).lstrip("/")
    assert sorted(os.listdir(back)) == ["now", "y12000", "y1800", "y500"]
    assert os.stat(back / "y1800").st_mtime == -2**31       # as the medium holds it, said above
