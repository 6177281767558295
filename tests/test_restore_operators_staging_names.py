"""A directory of the operator's in a --to target whose name begins as a staging directory's
(.rabtui-restore-) is theirs: a restore into that target, from a medium or from discs, leaves it
and what it holds (it took each such directory of the restoring user for one a killed restore
left, and removed it). A real backup, a real ISO disc."""

from __future__ import annotations

import pytest

from rabtui.restore import run as R
from tests.trees import Lab, burn_due, snapshot, write_files


@pytest.mark.parametrize("disc", [False, True])
def test_a_directory_of_the_operators_named_as_a_staging_directory_is_left(tmp_path, disc):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB") if disc else lab.local()
    data = lab.src / "data"
    write_files(data, {"f": b"restored"})
    assert lab.backup(cfg).status == "completed"
    if disc:
        burn_due(cfg, lab.store())
    out = tmp_path / "out"
    write_files(out, {".rabtui-restore-notes/kept": b"the operator's", ".rabtui-restore-x1y2z3w4/kept": b"theirs too"})
    before = {n: snapshot(out / n) for n in (".rabtui-restore-notes", ".rabtui-restore-x1y2z3w4")}
    got = R.restore(cfg, lab.store(), "loc", str(data), to=out, **({"checkpoint": 1} if disc else {}))
    assert not got.written.errors, got.summary
    assert (out / str(data).lstrip("/") / "f").read_bytes() == b"restored"
    assert {n: snapshot(out / n) for n in before} == before
