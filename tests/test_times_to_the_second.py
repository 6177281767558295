"""A file's time as the catalog keeps it is the second it falls in, as rsync gives it: -2 for
-1.5 s (before 1970), and 1704067200 for 1704067200.999999999 s (which a float of st_mtime rounds
up to the next second). Each part that compares a file on the medium or a disc with the catalog
takes the second so; a file at such a time goes onto the discs, is verified there, and comes back
from the medium and from the discs. Real rsync, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os

import pytest

from rabtui.restore import run as R
from tests.trees import Lab, burn_due, write_files

TIMES = {"before-1970": -1_500_000_000, "a-nanosecond-short": 1_704_067_200_999_999_999}


@pytest.mark.parametrize("kind", ["archive", "standard"])
def test_files_at_a_part_of_a_second_that_a_float_or_a_cut_misreads_go_onto_discs_and_come_back(tmp_path, kind):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("photos", kind)])
    photos = lab.src / "photos"
    write_files(photos, {name: name.encode() for name in TIMES})
    for name, ns in TIMES.items():
        os.utime(photos / name, ns=(0, ns))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, {"*"}, verified=True)
    top = str(photos).lstrip("/")
    for how, args in (("medium", {}), ("discs", {"checkpoint": number})):
        out = tmp_path / how
        res = R.restore(cfg, store, "loc", str(photos), to=out, **args)
        assert not res.written.problems(), (how, res.summary)
        for name, ns in TIMES.items():
            back = out / top / name
            assert back.read_bytes() == name.encode(), (how, name)
            assert os.stat(back).st_mtime_ns // 10**9 == ns // 10**9, (how, name)
