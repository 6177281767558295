"""Retention: GFS buckets at their edges (pure), then real backups on a real medium with a faked
clock: the newest kept, the size cap, hard-link-aware freed space, the archive-file guard, crash-safe
deletion, failed runs."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta

import pytest

from rabtui import faults
from rabtui.backup import catalog_forget, deletion, gfs, retention
from rabtui.config import RetentionSettings
from tests.trees import Lab, write_files
from tests import preloaded

S = RetentionSettings(keep_all_days=7, keep_daily_days=31, keep_weekly_weeks=8, keep_monthly_months=4,
                      keep_yearly_years=2, max_size_mb=5000)
NOW = datetime(2026, 11, 22, 12, 0)


def _kept(times, settings=S, now=NOW):
    verdict = gfs.select_gfs(list(enumerate(times)), settings, now)
    return {times[i] for i, why in verdict.items() if why}


def test_keep_all_period_edge():
    edge = NOW - timedelta(days=7)
    older = edge - timedelta(seconds=1)
    older2 = edge - timedelta(hours=1)     # same day as `older`: only the newest of the day stays
    kept = _kept([NOW - timedelta(hours=1), edge, older, older2])
    assert edge in kept and older in kept and older2 not in kept


def test_daily_keeps_newest_of_each_day():
    day = datetime(2026, 11, 1)
    times = [day + timedelta(hours=h) for h in (1, 5, 23)] + [NOW]
    kept = _kept(times)
    assert kept == {NOW, day + timedelta(hours=23)}


def test_weekly_monthly_yearly_and_expired():
    p = gfs.periods(S, NOW)
    assert p.daily_from == NOW - timedelta(days=38)
    assert p.weekly_from == p.daily_from - timedelta(weeks=8)
    assert p.monthly_from == gfs._months_back(p.weekly_from, 4)
    assert p.yearly_from == gfs._months_back(p.monthly_from, 24)
    # two backups in one ISO week of the weekly period: the newer one stays
    monday = p.daily_from - timedelta(days=20)
    monday -= timedelta(days=monday.weekday())
    w1, w2 = monday + timedelta(hours=1), monday + timedelta(days=2)
    # two in one month of the monthly period
    m = p.weekly_from - timedelta(days=40)
    m1, m2 = m.replace(day=2), m.replace(day=20)
    # two in one year of the yearly period; one before it (expired)
    y = p.monthly_from - timedelta(days=400)
    y1, y2 = y.replace(month=1, day=3), y.replace(month=1, day=9)
    expired = p.yearly_from - timedelta(days=1)
    kept = _kept([NOW, w1, w2, m1, m2, y1, y2, expired])
    assert kept == {NOW, w2, m2, y2}


def test_newest_kept_even_when_expired():
    old = [NOW - timedelta(days=5000), NOW - timedelta(days=6000)]
    assert _kept(old) == {old[0]}


def test_months_back_clamps_day():
    assert gfs._months_back(datetime(2026, 3, 31), 1) == datetime(2026, 2, 28)
    assert gfs._months_back(datetime(2026, 1, 15), 2) == datetime(2025, 11, 15)


@pytest.mark.parametrize("key", ["keep_all_days", "keep_daily_days", "keep_weekly_weeks",
                                 "keep_monthly_months", "keep_yearly_years"])
@pytest.mark.parametrize("value", [9999, 10**20], ids=["9999", "1e20"])
def test_a_period_reaching_back_beyond_the_calendar_keeps_everything_in_it(key, value):
    # an operator's "for ever": the period holds all time, instead of a hang or an OverflowError
    settings = dataclasses.replace(S, **{key: value})
    times = [NOW, NOW - timedelta(days=400), NOW - timedelta(days=3000), NOW - timedelta(days=9000)]
    assert _kept(times, settings) == set(times)


def test_cli_cleanup_with_a_retention_of_9999_years_keeps_every_backup(tmp_path, capsys):
    from rabtui.cli import main

    lab, cfg = _lab(tmp_path, "keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                              "keep_monthly_months = 0\nkeep_yearly_years = 9999")
    write_files(lab.src / "data", {"a": b"a"})
    first = lab.backup(cfg, now=datetime(2025, 4, 1, 3, 0))
    lab.backup(cfg, now=datetime(2026, 4, 1, 3, 0))
    assert main(["--config", str(lab.config_path), "cleanup", "--now", "2026-04-05T00:00"]) == 0
    assert "0 backups" in capsys.readouterr().out
    assert first.path.exists()


# --- real backups ----------------------------------------------------------------------------------


def _lab(tmp_path, extra_retention: str = "", dirs=None):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(dirs or [("data", "standard")])
    if extra_retention:
        text = lab.config_path.read_text().replace("[[media]]", f"[retention]\n{extra_retention}\n[[media]]", 1)
        lab.config_path.write_text(text)
        cfg = lab.load()
    return lab, cfg


def test_cleanup_with_faked_clock_deletes_old_and_updates_catalog(tmp_path):
    lab, cfg = _lab(tmp_path, "keep_all_days = 2\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                              "keep_monthly_months = 0\nkeep_yearly_years = 0")
    write_files(lab.src / "data", {"same": 4000, "v": b"1"})
    t0 = datetime(2026, 1, 1, 3, 0)
    results = []
    for i in range(4):
        (lab.src / "data/v").write_bytes(b"version %d" % i + b"x" * 5000 * i)
        results.append(lab.backup(cfg, now=t0 + timedelta(days=i)))
    assert all(r.status == "completed" for r in results)
    store = lab.store()
    now = t0 + timedelta(days=4)
    plan = retention.plan_cleanup(cfg, store, now=now)
    going = [c.name for c in plan.delete]
    assert going == [results[0].path.name, results[1].path.name]
    # hard links counted: `same` is linked from kept backups, so only the old `v` versions free space
    assert 0 < plan.freed_bytes < 4000 + 2 * 4096 + 5000 + 3 * 4096
    dry = set(os.listdir(lab.media[0][1] / "loc"))
    assert results[0].path.name in dry        # planning deletes nothing

    deletion.apply_cleanup(cfg, store, plan)
    assert not results[0].path.exists() and not results[1].path.exists()
    assert (results[2].path / "data").exists()
    assert not [n for n in os.listdir(results[0].path.parent) if n.startswith(".deleting-")]
    rows = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM backups")}
    assert rows[results[0].backup_id] == "deleted" and rows[results[3].backup_id] == "completed"
    # catalog: no version points at a deleted backup any more; `same` now starts at backup 3
    deleted = {results[0].backup_id, results[1].backup_id}
    for v in store.all("SELECT * FROM versions"):
        assert v["first_backup"] not in deleted and v["last_backup"] not in deleted
    same = store.one("SELECT v.* FROM versions v JOIN paths p ON p.id=v.path_id WHERE CAST(p.path AS TEXT) GLOB '*/same'")
    assert (same["first_backup"], same["last_backup"]) == (results[2].backup_id, results[3].backup_id)
    # the kept files are intact
    assert (results[2].path / "data").exists()


def test_size_cap_deletes_oldest_but_never_the_newest(tmp_path):
    lab, cfg = _lab(tmp_path, "max_size_mb = 1")
    t0 = datetime(2026, 5, 1, 3, 0)
    results = []
    for i in range(3):
        write_files(lab.src / "data", {f"f{i}": 700 * 1024})   # each backup adds 700 KiB
        results.append(lab.backup(cfg, now=t0 + timedelta(hours=i)))
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(hours=3))
    # 2.1 MB > 1 MB: deleting the oldest frees nothing (its file is linked from the newer ones),
    # so the cap goes on to the second; the newest is never a candidate
    names = [c.name for c in plan.delete]
    assert results[2].path.name not in names
    assert names == [results[0].path.name, results[1].path.name]
    assert all("more than 1 MB" in c.why for c in plan.delete)

    # a single backup above the cap is kept: it is the newest
    (tmp_path / "two").mkdir()
    lab2, cfg2 = _lab(tmp_path / "two", "max_size_mb = 1")
    write_files(lab2.src / "data", {"big": 2 * 1024 * 1024})
    lab2.backup(cfg2, now=t0)
    assert retention.plan_cleanup(cfg2, lab2.store(), now=t0 + timedelta(days=1)).delete == []


def test_archive_guard_keeps_only_copy_unless_verified_checkpoint(tmp_path):
    lab, cfg = _lab(tmp_path, "keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                              "keep_monthly_months = 0\nkeep_yearly_years = 0",
                    dirs=[("photos", "archive")])
    t0 = datetime(2026, 2, 1, 3, 0)
    write_files(lab.src / "photos", {"one.jpg": 3000})
    first = lab.backup(cfg, now=t0)
    write_files(lab.src / "photos", {"two.jpg": 3000})
    assert lab.backup(cfg, now=t0 + timedelta(days=1)).status == "completed"
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(days=10))
    assert plan.delete == []
    assert [g[0] for g in plan.guarded] == [first.backup_id]
    assert "only copy of 1 archive file " in plan.guarded[0][2]

    # a checkpoint disc holds one.jpg: only written (not verified), it does not count
    v = store.one("SELECT p.source, p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id"
                  " WHERE v.first_backup=?", (first.backup_id,))
    store.execute("INSERT INTO discs(number, disc, volid, state) VALUES (1, 1, 'RAB1D01', 'written')")
    store.execute("INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime) VALUES"
                  " (1, 1, ?, ?, ?, ?, ?)", (v["source"], v["path"], b"data/loc/" + bytes(v["path"]), v["size"], v["mtime"]))
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(days=10))
    assert plan.delete == [] and [g[0] for g in plan.guarded] == [first.backup_id]
    # verified: now the old backup may go, and its union link too
    store.execute("UPDATE discs SET state='verified'")
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(days=10))
    assert [c.id for c in plan.delete] == [first.backup_id]
    # the union link goes too, so one.jpg's space counts as freed (a walk of the backup alone says no)
    assert plan.freed_bytes >= retention.FreedCounter().add(first.path) + 3000
    deletion.apply_cleanup(cfg, store, plan)
    union = lab.media[0][1] / "loc" / ".archive" / str(lab.src / "photos").lstrip("/")
    assert not (union / "one.jpg").exists() and (union / "two.jpg").exists()
    assert store.one("SELECT COUNT(*) AS n FROM versions WHERE first_backup=?", (first.backup_id,))["n"] == 0


def test_failed_runs_go_after_a_day_and_interrupted_deletion_is_finished(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"a": b"a"})
    t0 = datetime(2026, 3, 1, 3, 0)
    ok = lab.backup(cfg, now=t0)
    store = lab.store()
    failed_dir = ok.path.parent / "backup-20260302030000"
    (failed_dir / "data").mkdir(parents=True)
    store.execute("INSERT INTO backups(source, medium, name, path, status, started) VALUES"
                  " ('loc','m1','backup-20260302030000',?, 'failed', ?)", (str(failed_dir), t0.timestamp()))
    leftover = ok.path.parent / ".deleting-backup-20250101000000"
    (leftover / "data/x").mkdir(parents=True)
    (leftover / "data/x").chmod(0o500)        # a read-only directory inside: still removed
    plan = retention.plan_cleanup(cfg, store, now=datetime(2026, 3, 2, 12, 0))
    assert [c.name for c in plan.delete] == []          # failed less than a day ago
    plan = retention.plan_cleanup(cfg, store, now=datetime(2026, 3, 3, 4, 0))
    assert [c.name for c in plan.delete] == ["backup-20260302030000"]
    assert plan.leftovers == [leftover]
    deletion.apply_cleanup(cfg, store, plan)
    assert not failed_dir.exists() and not leftover.exists() and ok.path.exists()


def test_cli_cleanup_dry_run(tmp_path, capsys):
    from rabtui.cli import main

    lab, cfg = _lab(tmp_path, "keep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                              "keep_monthly_months = 0\nkeep_yearly_years = 0")
    write_files(lab.src / "data", {"a": 5000})
    t0 = datetime(2026, 4, 1, 3, 0)
    first = lab.backup(cfg, now=t0)
    (lab.src / "data/a").write_bytes(b"changed")
    lab.backup(cfg, now=t0 + timedelta(days=1))
    code = main(["--config", str(lab.config_path), "cleanup", "--dry-run", "--now", "2026-04-05T00:00"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"would delete loc {first.path.name}" in out and "dry run" in out
    assert first.path.exists()
    assert main(["--config", str(lab.config_path), "cleanup", "--now", "2026-04-05T00:00"]) == 0
    assert not first.path.exists()


def test_absent_medium_keeps_its_backups(tmp_path):
    lab, cfg = _lab(tmp_path, "keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                              "keep_monthly_months = 0\nkeep_yearly_years = 0")
    write_files(lab.src / "data", {"a": b"a"})
    t0 = datetime(2026, 1, 1, 3, 0)
    old = lab.backup(cfg, now=t0)
    (lab.src / "data/a").write_bytes(b"bb")
    lab.backup(cfg, now=t0 + timedelta(days=1))
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(days=3))
    assert [c.id for c in plan.delete] == [old.backup_id]
    medium = lab.media[0][1]
    medium.rename(tmp_path / "away")
    lines = deletion.apply_cleanup(cfg, store, plan).lines
    assert "not there" in lines[0]
    assert store.one("SELECT status FROM backups WHERE id=?", (old.backup_id,))["status"] == "completed"
    (tmp_path / "away").rename(medium)
    deletion.apply_cleanup(cfg, store, plan)
    assert store.one("SELECT status FROM backups WHERE id=?", (old.backup_id,))["status"] == "deleted"


def _history(tmp_path, media: int = 1, archive: bool = False):
    """Five daily backups of a standard directory (and an archive one), files added, changed and
    deleted between them, over `media` media in turn."""
    lab = Lab(tmp_path, media_count=media)
    cfg = lab.local([("data", "standard")] + ([("arch", "archive")] if archive else []))
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 4, 1, 3, 0)
    results = []
    for day in range(5):
        write_files(lab.src / "data", {f"d{day}": b"d" * day, "same": b"same", "v": b"v%d" % day})
        if archive:
            write_files(lab.src / "arch", {f"a{day}": b"a" * (day + 1)})
        if day == 3:
            (lab.src / "data" / "d1").unlink()
        results.append(lab.backup(cfg, now=t0 + timedelta(days=day), medium_id=f"m{day % media + 1}"))
    assert all(r.status == "completed" for r in results)
    return lab, cfg, results, t0 + timedelta(days=6)


def test_forgetting_backups_at_once_is_forgetting_them_one_by_one(tmp_path):
    """The month's cleanup forgets its backups in one pass: the catalog it leaves is the one that
    forgetting them one after another leaves, whatever the order of their ranges."""
    import shutil

    from rabtui.state.store import Store

    lab, cfg, results, _ = _history(tmp_path, media=2, archive=True)
    lab.store().close()
    copies = {}
    for way in ("one by one", "at once"):
        shutil.copytree(cfg.state_dir, tmp_path / way)
        copies[way] = Store(tmp_path / way)
    ids = [results[i].backup_id for i in (0, 1, 2)]     # both media, the newest of each left alone
    for backup_id in ids:
        catalog_forget.forget_backups(copies["one by one"], [backup_id], cfg)
    catalog_forget.forget_backups(copies["at once"], ids, cfg)
    query = "SELECT path_id, medium, size, mtime, first_backup, last_backup FROM versions ORDER BY 1, 2, 3, 4, 5"
    one, once = (copies[w].all(query) for w in ("one by one", "at once"))
    assert [tuple(r) for r in one] == [tuple(r) for r in once]
    assert len(once) > 0 and all(r["first_backup"] not in ids and r["last_backup"] not in ids for r in once)
    statuses = copies["at once"].all("SELECT id, status FROM backups ORDER BY id")
    assert [r["status"] for r in statuses] == ["deleted"] * 3 + ["completed"] * 2


@pytest.mark.parametrize("point", faults.CLEANUP_POINTS)
def test_a_cleanup_killed_before_the_catalog_forgot_is_finished_by_the_next(tmp_path, point):
    """Killed after the trees of a medium's doomed backups are emptied, before the catalog forgot
    them: their empty .deleting- directories are left, and the next cleanup forgets them."""
    import signal
    import sys
    import textwrap

    from tests import invariants

    lab, cfg, results, now = _history(tmp_path)
    going = retention.plan_cleanup(cfg, lab.store(), now=now).delete
    assert [c.id for c in going] == [r.backup_id for r in results[:4]]
    script = textwrap.dedent("""
        import sys
        from datetime import datetime
        from rabtui import config
        from rabtui.backup import deletion, retention
        from rabtui.state.store import Store
        cfg = config.load(sys.argv[1], check_media=False)
        store = Store(cfg.state_dir)
        deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=datetime.fromisoformat(sys.argv[2])))
    """)
    done = preloaded.run([sys.executable, "-c", script, str(lab.config_path), now.isoformat()],
                         env={**os.environ, faults.ENV: point}, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    marks = [r.path.with_name(retention.DELETING_PREFIX + r.path.name) for r in results[:4]]
    assert all(m.is_dir() and not os.listdir(m) for m in marks)
    assert not any(r.path.exists() for r in results[:4])
    store = lab.store()
    assert {r["status"] for r in store.all("SELECT status FROM backups")} == {"completed"}   # not heard yet

    plan = retention.plan_cleanup(cfg, store, now=now)
    assert sorted(plan.leftovers) == sorted(marks)
    deletion.apply_cleanup(cfg, store, plan)
    assert not any(m.exists() for m in marks)
    assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == ["deleted"] * 4 + ["completed"]
    invariants.check_catalog_is_media(cfg, store)


def test_a_symlink_planted_in_place_of_a_backup_is_removed_not_followed(tmp_path):
    lab, cfg, results, now = _history(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"precious": b"keep me"})
    victim = results[0].path
    import shutil

    shutil.rmtree(victim)
    victim.symlink_to(elsewhere)
    store = lab.store()
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=now))
    assert (elsewhere / "precious").read_bytes() == b"keep me" and oct(elsewhere.stat().st_mode)[-3:] != "700"
    assert not os.path.lexists(victim) and not os.path.lexists(victim.with_name(retention.DELETING_PREFIX + victim.name))
    assert store.one("SELECT status FROM backups WHERE id=?", (results[0].backup_id,))["status"] == "deleted"


def test_a_deleting_directory_planted_beside_a_backup_never_makes_the_catalog_forget_it(tmp_path):
    """An empty `.deleting-<name>` beside the newest complete backup, which is there: the cleanup
    removes it, as the remains of an interrupted deletion, but the catalog keeps the backup (it
    forgot it, the backup still on the medium)."""
    from tests import invariants

    lab, cfg, results, now = _history(tmp_path)
    newest = results[-1]
    mark = newest.path.with_name(retention.DELETING_PREFIX + newest.path.name)
    mark.mkdir()
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=now)
    assert mark in plan.leftovers
    deletion.apply_cleanup(cfg, store, plan)
    assert not os.path.lexists(mark) and newest.path.is_dir()
    assert store.one("SELECT status FROM backups WHERE id=?", (newest.backup_id,))["status"] == "completed"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)


def test_a_symlink_planted_as_the_remains_of_a_deletion_is_removed_not_followed(tmp_path):
    """`.deleting-<name>` is a symlink out of the medium: the cleanup removes the symlink only, and
    does not fail on it at every run."""
    lab, cfg, results, now = _history(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"precious": b"keep me"})
    planted = results[0].path.with_name(retention.DELETING_PREFIX + "backup-20250101000000")
    planted.symlink_to(elsewhere)
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=now)
    assert planted in plan.leftovers
    done = deletion.apply_cleanup(cfg, store, plan)
    assert not done.failed, done.failed
    assert not os.path.lexists(planted) and (elsewhere / "precious").read_bytes() == b"keep me"


def test_hostile_names_in_a_doomed_backup_go_with_it(tmp_path):
    """255-byte names that are not UTF-8, a 4,000-byte path, a read-only directory and a symlink out
    of the medium, inside a backup that cleanup deletes: all of it goes, nothing outside does."""
    lab, cfg, results, now = _history(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {"precious": b"keep me"})
    tree = results[0].path / "data"
    odd = b"\xff\xfe" + b"n" * 253
    (tree / os.fsdecode(odd)).write_bytes(b"x")
    deep = tree
    while len(os.fsencode(deep)) < 3500:     # with the 255-byte name below: about 4,000 bytes
        deep = deep / os.fsdecode(b"\xe9" + b"d" * 200)
    os.makedirs(deep)
    (deep / os.fsdecode(odd)).write_bytes(b"y")
    (tree / "link").symlink_to(elsewhere)
    locked = tree / "locked"
    locked.mkdir()
    (locked / "f").write_bytes(b"z")
    locked.chmod(0o500)
    store = lab.store()
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=now))
    assert not os.path.lexists(results[0].path)
    assert not [n for n in os.listdir(results[0].path.parent) if n.startswith(retention.DELETING_PREFIX)]
    assert (elsewhere / "precious").read_bytes() == b"keep me"
    assert store.one("SELECT status FROM backups WHERE id=?", (results[0].backup_id,))["status"] == "deleted"
