"""A backup that fails after rsync has listed its files leaves the paths the catalog did not know
(the spool adds them while rsync runs) but no version of them: find, diff, restore and cleanup
answer as before it, and the next backup of those files records them (real rsync over the test
sshd)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from rabtui import faults
from rabtui.backup import catalog_update, deletion, retention
from rabtui.cli import main
from rabtui.state import catalog
from tests import invariants
from tests.trees import Lab, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 7, 1, 3, 0)
LATE = 1500      # many times what the spool writes and adds at a time (100 below): its paths are in the catalog when the backup fails


def _lab(tmp_path, sshd) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    (lab.src / "data").mkdir()
    cfg = lab.write("[retention]\nkeep_all_days = 2\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                    "keep_monthly_months = 0\nkeep_yearly_years = 0\n\n"
                    + ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    return lab, cfg


def _answers(lab: Lab, cfg, capsys, tmp_path, tag: str) -> dict:
    """What find, diff, restore and a cleanup planned two days after the last complete backup say."""
    def cli(*args: str, code: int = 0):
        assert main(["--config", str(lab.config_path), *args]) == code
        return capsys.readouterr().out

    store = lab.store()
    restored = tmp_path / f"restored-{tag}"
    cli("restore", "web", str(lab.src / "data"), "--to", str(restored))
    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=4))
    return {
        "find": json.loads(cli("find", "*", "--json")),
        "find late": json.loads(cli("find", "*/late/*", "--json", code=1)),
        "find limited": [v.as_json() for v in catalog.find(store, "*", limit=3)],
        "diff": json.loads(cli("diff", "web", "--json")),
        "restore": snapshot(restored / str(lab.src / "data").lstrip("/")),
        "cleanup": sorted(c.name for c in plan.delete),
    }


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
def test_a_backup_failing_after_rsync_leaves_paths_that_change_no_answer(tmp_path, sshd, capsys, monkeypatch):
    lab, cfg = _lab(tmp_path, sshd)
    write_files(lab.src / "data", {"a": b"a1", "b": b"b1", "sub/c": b"c1" * 300})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    write_files(lab.src / "data", {"a": b"a2 longer", "n": b"new"})
    (lab.src / "data" / "b").unlink()
    assert lab.backup(cfg, "web", now=T0 + timedelta(days=1)).status == "completed"
    before = _answers(lab, cfg, capsys, tmp_path, "before")
    assert before["find late"] == [] and before["cleanup"]

    write_files(lab.src / "data", {f"late/f{i:04d}": b"x" for i in range(LATE)})
    # a batch of 100, paths added once 100 wait: all but the last few hundred are added while rsync
    # runs, however its output is read (with 1,000 of each, a first batch of 999 new files and a
    # directory added none, and the backup failed before the rest)
    monkeypatch.setattr(catalog_update, "BATCH", 100)
    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 100)

    def fail_after_rsync(name: str) -> None:
        if name == "backup.step5":
            raise OSError(5, "the medium went away")

    monkeypatch.setattr(faults, "point", fail_after_rsync)
    failed = lab.backup(cfg, "web", now=T0 + timedelta(days=2))
    assert failed.status == "failed"
    monkeypatch.undo()
    store = lab.store()
    left = store.all("SELECT p.id, v.id AS v FROM paths p LEFT JOIN versions v ON v.path_id=p.id"
                     " WHERE CAST(p.path AS TEXT) GLOB '*/late/*'")
    assert len(left) >= 1000 and all(r["v"] is None for r in left)

    after = _answers(lab, cfg, capsys, tmp_path, "after")
    # the failed run itself goes a day after it (as any failed run does)
    after["cleanup"].remove(failed.path.name)
    assert after == before
    invariants.check_change_counters(store)
    invariants.check_catalog_is_media(cfg, store)

    # those files go from the source and another comes: a search for a few files finds as many
    # (the paths left take no place among them)
    (lab.src / "data" / "late").rename(tmp_path / "late")
    write_files(lab.src / "data", {"x": b"x"})
    assert lab.backup(cfg, "web", now=T0 + timedelta(days=3)).status == "completed"
    assert {bytes(v.path).rsplit(b"/", 1)[-1] for v in catalog.find(store, "*", limit=5)} == {
        b"a", b"b", b"c", b"n", b"x"}
    # they come back: the next backup records them, and a cleanup goes through
    (tmp_path / "late").rename(lab.src / "data" / "late")
    assert lab.backup(cfg, "web", now=T0 + timedelta(days=4)).status == "completed"
    assert len(catalog.find(store, "late/f0007")) == 1
    assert len(catalog.find(store, "*/late/*", limit=LATE + 10)) == LATE
    invariants.check_change_counters(store)
    invariants.check_catalog_is_media(cfg, store)
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=5)))
    assert len(catalog.find(store, "late/f0007")) == 1
    invariants.check_catalog_is_media(cfg, store)
