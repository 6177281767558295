"""Catalog = media, as a property: after any generated history of backups (local source, a
standard and an archive directory, files added, changed and deleted), cleanups, backups killed
at a fault point, `rebuild-state`, a medium offsite and back, and the state database lost, what `find` says is on each medium is exactly what is there
(walked), and backup.json and the database agree about "completed". Half the histories have the
spool write each read of rsync's output and add its new paths at once (as a tree of millions of
files does while rsync runs), so kills fall between those and step 7."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rabtui import faults
from rabtui.actions.rebuild import rebuild_state
from rabtui.errors import WorkFailed
from rabtui.events import no_emit
from rabtui.backup import catalog_update, deletion, retention
from rabtui.media import medium_layout
from rabtui.state.store import COMPLETE
from tests import invariants, preloaded
from tests.trees import Lab, in_memory

DIRS = ("data", "arch")
NAMES = ("a", "b", "sub/c", "sub/d", ".hidden")
KILLS = ("backup.step3", "backup.rsync_ended", "backup.archive_linked", "backup.catalog", "backup.step7_ended",
         "backup.json_written")
START = datetime(2026, 1, 5, 3, 0)

# size -1: delete, -2: a symlink
change = st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES), st.integers(-2, 4000))
day = st.integers(1, 12)
op = st.one_of(
    st.tuples(st.just("backup"), st.lists(change, max_size=4), st.sampled_from(("m1", "m2")), day),
    st.tuples(st.just("kill"), st.lists(change, max_size=3), st.sampled_from(("m1", "m2")), day,
              st.sampled_from(KILLS)),
    st.tuples(st.just("cleanup"), st.integers(1, 40)),
    st.tuples(st.just("rebuild"),),
    st.tuples(st.just("away"),),    # m1 taken offsite, or brought back (the backups meanwhile go to m2)
    st.tuples(st.just("lost"),),    # the state database lost: made anew by the next step
)

KILLED = textwrap.dedent("""
    import sys, threading
    from datetime import datetime
    from rabtui import config
    from rabtui.backup import catalog_update
    if sys.argv[4] == "each read":
        catalog_update.BATCH = catalog_update.PATHS_AT_ONCE = 1
    from rabtui.state.store import Store
    from rabtui.backup.pipeline import run_backup
    cfg = config.load(sys.argv[1], check_media=False)
    run_backup(cfg, Store(cfg.state_dir), "loc", emit=lambda e: None, cancel=threading.Event(),
               now=datetime.fromisoformat(sys.argv[2]), medium_id=sys.argv[3])
""")


def _lab(tmp_path) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=2)
    lab.local([(d, "standard" if d == "data" else "archive") for d in DIRS])
    text = lab.config_path.read_text() + textwrap.dedent("""
        [retention]
        keep_all_days = 2
        keep_daily_days = 5
        keep_weekly_weeks = 1
        keep_monthly_months = 1
        keep_yearly_years = 0
    """)
    lab.config_path.write_text(text)
    for d in DIRS:      # in every backup: a symlink and a FIFO, which `find` lists too
        os.symlink("a", lab.src / d / "to-a")
        os.mkfifo(lab.src / d / "fifo")
    return lab, lab.load()


def _apply(lab: Lab, changes, when: datetime) -> None:
    for n, (d, name, size) in enumerate(changes):
        path = lab.src / d / name
        if os.path.lexists(path) and (size < 0 or path.is_symlink()):
            path.unlink()
        if size == -1:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        t = when.timestamp() - 3600 + n      # each change its own mtime
        if size == -2:      # a symlink in its place, to a target as long as n + 1
            os.symlink("t" * (n + 1), path)
            os.utime(path, (t, t), follow_symlinks=False)
            continue
        path.write_bytes(os.urandom(size))
        os.utime(path, (t, t))


def _run(lab: Lab, cfg, history, tmp_path, each_read: bool = False) -> None:
    when = START
    pending = False     # a kill that the next backup (or rebuild-state) has not found yet
    away = None         # where m1 is while it is offsite
    unknown = False     # backups the database does not know, until a rebuild-state with every medium there
    for step in history:
        kind = step[0]
        pending = kind == "kill" or (pending and kind in ("cleanup", "away", "lost"))
        if kind == "away":
            away = _away(lab, away, tmp_path)
            continue
        if kind == "lost":
            for path in lab.state.glob("rabtui.db*"):
                path.unlink()
            unknown = True
            continue
        if kind in ("backup", "kill"):
            _apply(lab, step[1], when)
            medium = "m2" if away else step[2]
            when += timedelta(days=step[3])
            if kind == "backup":
                result = lab.backup(cfg, medium_id=medium, now=when)
                assert result.status in COMPLETE, result.reason
            else:
                env = {**os.environ, faults.ENV: step[4]}
                done = preloaded.run([sys.executable, "-c", KILLED, str(lab.config_path), when.isoformat(), medium,
                                      "each read" if each_read else "batches"],
                                     env=env, capture_output=True, timeout=120)
                assert done.returncode == -signal.SIGKILL, done.stderr
        elif kind == "cleanup":
            when += timedelta(days=step[1])
            store = lab.store()
            plan = retention.plan_cleanup(cfg, store, now=when)
            deletion.apply_cleanup(cfg, store, plan)
        elif any((path / ".rabtui-medium").exists() for _, path in lab.media):
            rebuild_state(cfg, no_emit, None, None)
            unknown = away is not None
        else:       # no medium to read (none used yet, or m1 away and m2 not yet): refused, the state as it was
            with pytest.raises(WorkFailed, match="nothing to rebuild"):
                rebuild_state(cfg, no_emit, None, None)
        if not pending and not unknown and not away:
            store = lab.store()
            invariants.check_json_agrees(cfg, store)
            invariants.check_catalog_is_media(cfg, store)
    if away:
        _away(lab, away, tmp_path)
    # the next backups find whatever a kill left, and the invariants still hold
    for n, medium in enumerate(("m1", "m2")):
        lab.backup(cfg, medium_id=medium, now=when + timedelta(days=1 + n))
    if unknown:
        rebuild_state(cfg, no_emit, None, None)
    store = lab.store()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)


def _away(lab: Lab, away, tmp_path):
    """m1 taken away (an empty directory where it was mounted), or brought back: where it is away."""
    m1 = lab.media[0][1]
    if away is None:
        away = tmp_path / "m1-away"
        os.rename(m1, away)
        m1.mkdir()
        return away
    os.rmdir(m1)
    os.rename(away, m1)
    return None


@pytest.mark.slow
@settings(max_examples=20)
@given(history=st.lists(op, min_size=2, max_size=8), each_read=st.booleans())
def test_catalog_is_what_the_media_hold(history, each_read):
    with in_memory("rabtui-history-") as tmp_path, pytest.MonkeyPatch.context() as mp:
        lab, cfg = _lab(tmp_path)
        if each_read:
            mp.setattr(catalog_update, "BATCH", 1)
            mp.setattr(catalog_update, "PATHS_AT_ONCE", 1)
        _run(lab, cfg, history, tmp_path, each_read)


def test_catalog_after_kills_cleanup_and_rebuild(tmp_path):
    """A fixed history through every kind of step, archive files replaced and deleted at the source,
    files replaced by symlinks and back."""
    lab, cfg = _lab(tmp_path)
    history = [
        ("backup", [("data", "a", 100), ("arch", "a", 200), ("arch", "sub/c", 10)], "m1", 1),
        ("backup", [("arch", "a", 300), ("data", "b", 5)], "m2", 1),
        ("kill", [("arch", "a", 400), ("arch", "b", 7)], "m1", 1, "backup.archive_linked"),
        ("backup", [("arch", "sub/c", -1), ("data", "a", -1), ("data", "sub/c", -2), ("arch", "b", -2)], "m1", 1),
        ("kill", [("data", "sub/d", 9), ("data", "sub/c", -2)], "m1", 1, "backup.catalog"),
        ("backup", [], "m1", 1),    # the killed run's catalog rows undone by this one
        ("kill", [("arch", "sub/d", 11)], "m2", 2, "backup.json_written"),
        ("cleanup", 20),
        ("backup", [], "m2", 1),    # what the cleanup deleted is in no row of the catalog
        ("rebuild",),
        ("backup", [("arch", "a", 500), ("arch", "b", 8), ("data", "b", -2)], "m1", 3),
        ("kill", [("arch", "a", 600), ("arch", "e", 3)], "m1", 1, "backup.archive_linked"),
        ("rebuild",),
    ]
    _run(lab, cfg, history, tmp_path)


def test_cleanup_keeps_the_backup_whose_version_the_union_shows(tmp_path):
    """Retention keeps a newer backup whose archive file the union tree shows although that version
    is safe on the other medium, while an older backup holds an older version: without it, the union
    (and the view of the backup after it) would show the older version as the newest. The catalog
    still says what the media hold."""
    lab, cfg = _lab(tmp_path)
    _apply(lab, [("arch", "a", 100)], datetime(2026, 1, 31, 3))
    lab.backup(cfg, medium_id="m1", now=datetime(2026, 1, 31, 3))
    _apply(lab, [("arch", "a", 200)], datetime(2026, 2, 1, 3))
    lab.backup(cfg, medium_id="m1", now=datetime(2026, 2, 1, 3))
    lab.backup(cfg, medium_id="m2", now=datetime(2026, 2, 1, 4))
    lab.backup(cfg, medium_id="m1", now=datetime(2026, 2, 2, 3))
    # a week on (a cleanup judges at most a week after the newest backup), with no weekly nor
    # monthly backups kept: the older two on m1 are past the periods
    lab.config_path.write_text(lab.config_path.read_text().replace("keep_weekly_weeks = 1", "keep_weekly_weeks = 0")
                               .replace("keep_monthly_months = 1", "keep_monthly_months = 0"))
    cfg = lab.load()
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=datetime(2026, 2, 9, 3))
    assert plan.delete == []
    assert [name for _, name, why in plan.guarded if "an older version would show" in why] == ["backup-20260201030000"]
    deletion.apply_cleanup(cfg, store, plan)
    invariants.check_catalog_is_media(cfg, store)
    union = retention.archive_dirs(cfg, "loc")[0]
    assert (medium_layout.archive_root(lab.media[0][1], "loc", union) / "a").stat().st_size == 200
