"""`find` marks a version `+ archive` (`"archive": true` in --json) where the backup that saved it
saved its directory as an archive one (linked it into the medium's union), whatever the config
says of the directory now: the union holds it until a cleanup releases the union with the last
such backup. Real backups (rsync)."""

from __future__ import annotations

import os

from rabtui.actions.find import find
from tests import invariants
from tests.test_union_kind_changed import _made_standard
from tests.trees import Lab


def _labels(cfg, store, pattern: str) -> dict[tuple, bool]:
    return {(v.kind, loc.medium, tuple(loc.backups)): loc.archive
            for v in find(cfg, store, pattern).versions for loc in v.locations if loc.kind == "backup"}


def test_a_file_an_archive_backup_saved_is_marked_archive_once_the_directory_is_made_standard(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg, store, union, (first, second) = _made_standard(lab)
    names = {r["id"]: r["name"] for r in store.all("SELECT id, name FROM backups")}
    assert os.path.isfile(os.path.join(union, "a"))
    assert _labels(cfg, store, "a") == {("file", "m1", (names[first],)): True}
    b = _labels(cfg, store, "b")
    assert b[("file", "m1", (names[second], names[second + 2]))] is True, b
    described = [loc.describe() for v in find(cfg, store, "a").versions for loc in v.locations]
    assert described == [f"m1: {names[first]} + archive"], described
    invariants.check_catalog_is_media(cfg, store)
