"""A file of the source named as the file a join of a cut file's parts is written to before it
takes its name (.rabtui-join-<pid>), beside that cut file: both come back whole from the discs,
each under its own name. A real backup, real ISO discs."""

from __future__ import annotations

import os

from rabtui.restore import run as R
from tests.trees import Lab, burn_due, snapshot, write_files


def test_a_file_named_as_a_joins_own_file_comes_back_beside_the_cut_file(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {b".rabtui-join-%d" % os.getpid(): b"the operator's", "big.bin": 6_000_000})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.incomplete(), res.summary
    assert snapshot(tmp_path / "out" / str(data).lstrip("/")) == snapshot(data)
