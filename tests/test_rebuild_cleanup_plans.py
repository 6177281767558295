"""rebuild-state ranks the backups as they were made: over generated histories (backups of a
standard and an archive directory onto two media, some killed, cleanups), a cleanup planned on the
rebuilt database deletes no backup the one it replaced would have kept, at any time after. (It may
delete fewer: the replaced database plans the deletion of a killed run whose directory its recovery
removed already, a row the rebuilt one does not have.)"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from rabtui.actions.rebuild import rebuild_state
from rabtui.backup import retention
from rabtui.events import no_emit
from tests.test_catalog_invariants import START, _lab, _run, op
from tests.trees import in_memory

pytestmark = pytest.mark.slow

kept_ops = op.filter(lambda step: step[0] in ("backup", "kill", "cleanup"))


def _deleted(cfg, lab, when) -> set[tuple[str, str]]:
    store = lab.store()
    try:
        plan = retention.plan_cleanup(cfg, store, now=when)
        return {(c.medium, c.name) for c in plan.delete}
    finally:
        store.close()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(kept_ops, min_size=2, max_size=6))
def test_a_cleanup_after_rebuild_state_deletes_nothing_the_replaced_database_kept(history):
    with in_memory("rabtui-plans-") as tmp_path:
        lab, cfg = _lab(tmp_path)
        _run(lab, cfg, history, tmp_path)
        times = [START + timedelta(days=d) for d in (30, 60, 120, 400)]
        before = {when: _deleted(cfg, lab, when) for when in times}
        rebuild_state(cfg, no_emit, None, None)
        for when in times:
            after = _deleted(cfg, lab, when)
            assert after <= before[when], (when, sorted(after - before[when]))
