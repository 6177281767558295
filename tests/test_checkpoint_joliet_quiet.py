"""Symlinks, FIFOs and device nodes go into the Rock Ridge tree of a disc only (Joliet holds none):
xorriso's warning for each of them is expected, and is not shown to the operator once per entry."""

from __future__ import annotations

import os

from rabtui.events import READY
from tests.test_checkpoint import _burn, _extract, _lab, _record
from tests.trees import write_files


def test_a_disc_of_symlinks_and_fifos_says_nothing_of_joliet(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"f": 1000})
    for i in range(5):
        os.symlink("f", lab.src / "data" / f"link{i}")
    os.mkfifo(lab.src / "data" / "fifo")
    write_files(lab.src / "other", {"o": 10})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, seen = _burn(lab, cfg, store, number, lambda q: READY)
    assert res.status == "completed", res.message
    said = [e.message for e in seen if e.message]
    assert not [m for m in said if "Joliet" in m], said
    # the entries are on the disc all the same, in its Rock Ridge tree
    out = tmp_path / "out"
    _extract(next((tmp_path / "iso").glob("*.iso")), out)
    data = next(out.glob("data/*")) / os.path.relpath(lab.src / "data", "/")
    assert os.readlink(data / "link4") == "f"
    assert sorted(p.name for p in data.iterdir() if p.is_symlink()) == [f"link{i}" for i in range(5)]
