"""A cleanup killed once it had set aside the trees of the backups it deletes, before the catalog
forgot them; the next run is a backup onto that medium, not a cleanup: the catalog must not go on
naming backups the medium no longer holds (find, restore, status) until some later cleanup."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

from rabtui import faults
from rabtui.backup import retention
from rabtui.state import catalog
from tests import invariants, preloaded
from tests.test_retention import _history

KILLED_CLEANUP = textwrap.dedent("""
    import sys
    from datetime import datetime
    from rabtui import config
    from rabtui.backup import deletion, retention
    from rabtui.state.store import Store
    cfg = config.load(sys.argv[1], check_media=False)
    store = Store(cfg.state_dir)
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=datetime.fromisoformat(sys.argv[2])))
""")


def test_the_next_backup_forgets_what_a_killed_cleanup_set_aside(tmp_path):
    lab, cfg, results, now = _history(tmp_path)
    gone = results[:4]
    assert [c.id for c in retention.plan_cleanup(cfg, lab.store(), now=now).delete] == [r.backup_id for r in gone]
    done = preloaded.run([sys.executable, "-c", KILLED_CLEANUP, str(lab.config_path), now.isoformat()],
                         env={**os.environ, faults.ENV: "cleanup.trees_emptied"}, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not any(r.path.exists() for r in gone)

    after = lab.backup(cfg, now=now)
    assert after.status == "completed", after.message
    store = lab.store()
    statuses = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM backups")}
    assert [statuses[r.backup_id] for r in gone] == ["deleted"] * 4
    said = [m for m in lab.messages() if "interrupted deletion" in m]
    assert len(said) == 4 and all(r.path.name in " ".join(said) for r in gone), said
    # `find` names no backup that is gone
    names = {n for v in catalog.find(store, "*") for loc in v.locations for n in loc.backups}
    assert not names & {r.path.name for r in gone}, names
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    # the next cleanup removes what is left of their trees (and deletes the day-old backup)
    plan = retention.plan_cleanup(cfg, store, now=now)
    assert len(plan.leftovers) == 4 and [c.id for c in plan.delete] == [results[4].backup_id]
    from rabtui.backup import deletion

    deletion.apply_cleanup(cfg, store, plan)
    assert not [n for n in os.listdir(results[0].path.parent) if n.startswith(retention.DELETING_PREFIX)]
    invariants.check_catalog_is_media(cfg, store)
