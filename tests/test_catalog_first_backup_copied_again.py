"""A source's first backup in the catalog (its earlier backup on the medium held no file: the
catalog knows none of its paths) whose basis has a symlink where the source now has a directory:
the files hard-linked to files below it are taken back (spool.forget) after their paths were
added with ids from their rows, and copied again. Each path added as rsync's output is read (as
in a tree of millions of files). Real rsync, a local source."""

from __future__ import annotations

import os

import pytest

from rabtui.backup import catalog_update
from tests import invariants
from tests.test_symlinked_basis import _flip, _server_file, _versions
from tests.trees import Lab, snapshot, write_files
from rabtui.media import medium_layout
from rabtui.state.store import COMPLETE


@pytest.mark.parametrize("other", [b"z/g", b"0/g"])
def test_a_first_backup_takes_back_and_copies_again_files_whose_paths_it_added(tmp_path, monkeypatch, other):
    lab = Lab(tmp_path)
    cfg = lab.write(lab._local_source([("data", "standard")], "", "loc") + lab._local_source([("o", "standard")], "", "other"))
    src = os.fsencode(lab.src / "data")
    write_files(lab.src / "o", {f"o{i}": f"o{i}" for i in range(20)})
    assert lab.backup(cfg, "other", medium_id="m1").status == "completed"     # ids of another source
    outside, secret = _server_file(tmp_path, "shadow", b"SERVER SECRET")
    os.symlink(outside, os.path.join(src, b"a"))
    assert lab.backup(cfg, "loc", medium_id="m1").status == "completed"       # no file: no path
    assert lab.store().one("SELECT COUNT(*) AS n FROM paths WHERE source='loc'")["n"] == 0
    _flip(src, b"a", {b"shadow": b"SOURCE'S OWN!"})
    write_files(src, {f"m{i}".encode(): f"m{i}".encode() for i in range(5)})
    os.makedirs(os.path.dirname(os.path.join(src, other)))
    os.link(os.path.join(src, b"a/shadow"), os.path.join(src, other))
    monkeypatch.setattr(catalog_update, "BATCH", 1)
    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 1)
    second = lab.backup(cfg, "loc", medium_id="m1")
    assert second.status in COMPLETE, second.reason     # warnings: the symlink that pointed out is said
    data = os.fsencode(medium_layout.backup_data_path(second.path, os.fsdecode(src)))
    assert snapshot(data) == snapshot(src)
    assert set(_versions(lab, second.backup_id)) == {os.path.relpath(os.path.join(d, n), b"/")
                                                     for d, _, ns in os.walk(src) for n in ns}
    store = lab.store()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_change_counters(store)
