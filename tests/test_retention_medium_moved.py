"""A medium whose path changed in the config (its disk copied onto a larger one, mounted elsewhere)
while the catalog records its backups at the old path: a cleanup deletes nothing there (the old
disk, still mounted, is no medium of the config any more) and forgets no backup the medium holds;
it says why, and once `rebuild-state` has recorded the backups where they are, it deletes what is
due on the medium. Real rsync and real copies of the medium (cp -a keeps its hard links)."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime

from rabtui.actions.rebuild import rebuild_state
from rabtui.backup import deletion, retention
from rabtui.events import no_emit
from tests import invariants
from tests.test_kill_anywhere import _files
from tests.trees import Lab, snapshot


def test_a_cleanup_after_the_mediums_path_changed_deletes_nothing_at_the_old_path(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard"), ("arch", "archive")])
    lab.keep_a_day()
    _files(lab.src / "arch", {"a": b"arch"})        # its only copy in the first backup, which stays
    for day in range(1, 4):
        _files(lab.src / "data", {f"v{day}": b"version %d" % day})
        assert lab.backup(lab.load(), now=datetime(2026, 10, day, 3)).status == "completed"
    old, new = lab.media[0][1], tmp_path / "larger-disk"
    subprocess.run(["cp", "-a", str(old), str(new)], check=True)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'path = "{old}"', f'path = "{new}"'))
    cfg = lab.load()
    before_old, before_new = snapshot(old), snapshot(new)
    later = datetime(2026, 10, 20, 3)

    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=later)
    assert plan.delete == []
    said = [why for _, _, why in plan.guarded]
    assert said and all(f"not on medium m1 at {new}" in why and "rebuild-state" in why for why in said), said
    deletion.apply_cleanup(cfg, store, plan)
    assert snapshot(old) == before_old and snapshot(new) == before_new
    assert {r["status"] for r in store.all("SELECT status FROM backups")} == {"completed"}

    rebuild_state(cfg, no_emit, None, None)
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=later)
    assert [c.name for c in plan.delete] == ["backup-20261002030000"], plan
    assert all(c.path.startswith(str(new)) for c in plan.delete)
    deletion.apply_cleanup(cfg, store, plan)
    assert snapshot(old) == before_old
    assert sorted(n for n in os.listdir(new / "loc") if n.startswith("backup-")) == [
        "backup-20261001030000", "backup-20261003030000"]
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
