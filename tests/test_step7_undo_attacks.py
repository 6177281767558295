"""Attacks on step 7's undoing of its archive links when a link fails: several archive directories,
files and shapes of the union replaced by the run, a failure while undoing. Real rsync, real
failures (immutable directories: chattr +i)."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui import faults
from rabtui.media import medium_layout
from tests import invariants
from tests.test_step7_failures_kept import _final_record_unwritable, _immutable
from tests.trees import Lab, next_second, write_files


def _two_unions(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch1", "archive"), ("arch2", "archive")])
    write_files(lab.src / "arch1", {"f": b"v1", "d/g": b"g1", "e": b"e1", "m/x": b"x1"})
    write_files(lab.src / "arch2", {"z/old": b"o1"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    next_second()
    root = lab.media[0][1]
    return lab, cfg, (medium_layout.archive_root(root, "loc", str(lab.src / "arch1")),
                      medium_layout.archive_root(root, "loc", str(lab.src / "arch2")))


def _agree(lab, cfg):
    store = lab.store()
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    return store


def _replace_in_first(lab):
    """The first archive directory's file at a new version and a directory of the union become a file."""
    import shutil
    shutil.rmtree(lab.src / "arch1/d")
    os.unlink(lab.src / "arch1/e")
    write_files(lab.src / "arch1", {"f": b"v2-longer", "d": b"D", "e/in": b"i1", "m/y": b"y1"})


def test_a_link_failing_in_a_later_directory_puts_back_what_the_first_replaced(tmp_path):
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    _replace_in_first(lab)
    write_files(lab.src / "arch2", {"a/new": b"n1", "z/new": b"n2", "zz/last": b"l1"})
    with _immutable(u2 / "z"):
        result = lab.backup(cfg)
    store = lab.store()
    row = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "kept" and result.exit_code == 1, (dict(row), result, lab.messages())
    assert (u1 / "f").read_bytes() == b"v1" and (u1 / "d/g").read_bytes() == b"g1", lab.messages()
    assert (u1 / "e").read_bytes() == b"e1"
    assert not (u1 / "m/y").exists() and not (u2 / "a").exists() and not (u2 / "zz").exists(), \
        sorted(os.listdir(u2))
    _agree(lab, cfg)
    next_second()
    assert lab.backup(cfg).status in ("completed", "warnings"), lab.messages()
    assert (u1 / "f").read_bytes() == b"v2-longer" and (u1 / "d").read_bytes() == b"D"
    assert (u1 / "e/in").read_bytes() == b"i1" and (u2 / "z/new").read_bytes() == b"n2"
    _agree(lab, cfg)


def test_a_failure_while_undoing_leaves_the_data_for_the_next_backup_to_keep(tmp_path, monkeypatch):
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    write_files(lab.src / "arch1", {"m/y": b"y1"})
    write_files(lab.src / "arch2", {"z/new": b"n2"})
    point = faults.point
    frozen = []

    def freezing(name):      # the first union's directory made immutable once its link is made
        point(name)
        if name == "union.linked" and not frozen and (u1 / "m/y").exists():
            frozen.append(u1 / "m")
            subprocess.run(["chattr", "+i", str(u1 / "m")], check=True)
    monkeypatch.setattr(faults, "point", freezing)
    try:
        with _immutable(u2 / "z"):
            result = lab.backup(cfg)
    finally:
        for path in frozen:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        monkeypatch.setattr(faults, "point", point)
    assert frozen and result.exit_code == 1 and "the next backup" in result.reason, (result, lab.messages())
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "running", dict(row)
    next_second()
    assert lab.backup(cfg).status in ("completed", "warnings"), lab.messages()
    store = _agree(lab, cfg)
    kept = store.one("SELECT status, reason FROM backups WHERE id=?", (row["id"],))
    assert kept["status"] == "kept", dict(kept)
    assert "cannot link" in kept["reason"] and "the data is kept" in kept["reason"], kept["reason"]    # why, said
    assert (u1 / "m/y").read_bytes() == b"y1" and (u2 / "z/new").read_bytes() == b"n2"


def _next_backup_keeps(lab, cfg, u1, u2):
    """The killed run kept by the next backup, which is complete and shows the source in the unions."""
    from tests.test_kill_anywhere import rabtui
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    next_second()
    done = rabtui(lab, "backup", "loc")
    assert done.returncode in (0, 3) and "Traceback" not in done.stderr, done.stdout + done.stderr   # 3: d replaced
    store = _agree(lab, cfg)
    row = store.one("SELECT * FROM backups WHERE id=?", (killed["id"],))
    assert row["status"] == "kept" and "its transfer had ended whole" in row["reason"], dict(row)
    assert medium_layout.read_backup_json(row["path"])["status"] == "kept"
    assert (u1 / "f").read_bytes() == b"v2-longer" and (u1 / "d").read_bytes() == b"D"
    assert (u1 / "e/in").read_bytes() == b"i1" and (u2 / "z/new").read_bytes() == b"n2"


@pytest.mark.parametrize("point", ["union.undoing", "union.undone"])
def test_a_kill_while_step7_undoes_its_links_keeps_the_data(tmp_path, point):
    from tests.test_kill_anywhere import _killed, rabtui
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    _replace_in_first(lab)
    write_files(lab.src / "arch2", {"a/new": b"n1", "z/new": b"n2"})
    with _immutable(u2 / "z"):
        _killed(rabtui(lab, "backup", "loc", point=point))
    _next_backup_keeps(lab, cfg, u1, u2)


@pytest.mark.parametrize("point", ["recovery.kept_catalog", "recovery.kept_said"])
def test_a_kill_while_a_run_keeps_its_own_data_keeps_it(tmp_path, point):
    """The final backup.json cannot be written (its directory made immutable as the run stops at
    backup.catalog), and the run is killed as it keeps its data."""
    import os
    import signal
    import sys
    from tests import held, preloaded
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    _replace_in_first(lab)
    write_files(lab.src / "arch2", {"a/new": b"n1", "z/new": b"n2"})
    env = {k: v for k, v in os.environ.items() if k != faults.ENV} | {faults.STOP_ENV: "backup.catalog",
                                                                      faults.ENV: point}
    proc = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time
        deadline = time.monotonic() + 60
        while not held.stopped(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        path = lab.store().one("SELECT path FROM backups ORDER BY id DESC LIMIT 1")[0]
        subprocess.run(["chattr", "+i", path], check=True)
        try:
            proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=60)
        finally:
            subprocess.run(["chattr", "-i", path], check=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, out, err)
    _next_backup_keeps(lab, cfg, u1, u2)


def test_kept_by_a_failing_link_then_a_complete_backup_its_own_version_found_and_restored(tmp_path):
    from rabtui.actions.find import find
    from rabtui.restore import run as restore_run
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    write_files(lab.src / "arch1", {"f": b"kept-only"})
    write_files(lab.src / "arch2", {"z/new": b"n2"})
    with _immutable(u2 / "z"):
        assert lab.backup(cfg).status == "failed", lab.messages()
    kept = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert kept["status"] == "kept" and (u1 / "f").read_bytes() == b"v1"
    next_second()
    write_files(lab.src / "arch1", {"f": b"complete-v3"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    assert (u1 / "f").read_bytes() == b"complete-v3" and (u2 / "z/new").read_bytes() == b"n2"
    store = _agree(lab, cfg)
    arch1 = str(lab.src / "arch1")
    found = [v for v in find(cfg, store, "f").versions if os.fsencode(v.path).endswith(b"arch1/f")]
    holders = {v.size: [n for loc in v.locations for n in loc.backups] for v in found}
    assert kept["name"] in holders.get(len(b"kept-only"), []), found
    restore_run.restore(cfg, store, "loc", arch1 + "/f", backup=kept["name"], to=tmp_path / "to")
    assert (tmp_path / "to" / os.path.relpath(arch1, "/") / "f").read_bytes() == b"kept-only"


def test_a_final_record_failing_on_standard_directories_only_keeps_the_data(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a": b"a1"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    next_second()
    write_files(lab.src / "data", {"a": b"a2-kept"})
    result = _final_record_unwritable(lab, cfg, monkeypatch)
    store = _agree(lab, cfg)
    row = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "kept" and result.exit_code == 1, (dict(row), result, lab.messages())
    next_second()
    write_files(lab.src / "data", {"a": b"a3"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    store = _agree(lab, cfg)
    assert store.one("SELECT link_dest FROM backups ORDER BY id DESC LIMIT 1")[0] != row["id"]
    assert (medium_layout.backup_data_path(row["path"], str(lab.src / "data")) / "a").read_bytes() == b"a2-kept"


def test_a_cancel_as_the_final_record_fails_keeps_the_data(tmp_path, monkeypatch):
    """A cancel comes in step 7 as its final backup.json cannot be written: its links are undone and
    its data kept all the same (the union is free: nothing waits on it)."""
    import threading
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    _replace_in_first(lab)
    write_files(lab.src / "arch2", {"z/new": b"n2"})
    result = _final_record_unwritable(lab, cfg, monkeypatch, threading.Event())
    store = lab.store()
    row = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "kept" and result.exit_code == 1, (dict(row), result, lab.messages())
    assert (u1 / "f").read_bytes() == b"v1" and not (u2 / "z/new").exists(), lab.messages()
    _agree(lab, cfg)
    next_second()
    assert lab.backup(cfg).status in ("completed", "warnings"), lab.messages()
    store = _agree(lab, cfg)
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))[0] == "kept"
    assert (u1 / "f").read_bytes() == b"v2-longer" and (u2 / "z/new").read_bytes() == b"n2"


def test_a_link_failing_on_the_second_medium_leaves_the_first_ones_union(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("arch1", "archive"), ("arch2", "archive")])
    write_files(lab.src / "arch1", {"f": b"v1"})
    write_files(lab.src / "arch2", {"z/old": b"o1"})
    for m in ("m1", "m2"):
        assert lab.backup(cfg, medium_id=m).status == "completed", lab.messages()
    next_second()
    write_files(lab.src / "arch1", {"f": b"v2-longer"})
    write_files(lab.src / "arch2", {"z/new": b"n2"})
    assert lab.backup(cfg, medium_id="m1").status == "completed", lab.messages()
    unions = [[medium_layout.archive_root(root, "loc", str(lab.src / d)) for d in ("arch1", "arch2")]
              for _, root in lab.media]
    with _immutable(unions[1][1] / "z"):
        assert lab.backup(cfg, medium_id="m2").status == "failed", lab.messages()
    assert (unions[0][0] / "f").read_bytes() == b"v2-longer" and (unions[0][1] / "z/new").read_bytes() == b"n2"
    assert (unions[1][0] / "f").read_bytes() == b"v1" and not (unions[1][1] / "z/new").exists()
    store = _agree(lab, cfg)
    assert store.one("SELECT status FROM backups ORDER BY id DESC LIMIT 1")[0] == "kept"
    next_second()
    assert lab.backup(cfg, medium_id="m2").status == "completed", lab.messages()
    assert (unions[1][0] / "f").read_bytes() == b"v2-longer" and (unions[1][1] / "z/new").read_bytes() == b"n2"
    _agree(lab, cfg)


def test_a_kill_while_step7_undoes_then_cleanup_and_rebuild_state_keep_it(tmp_path):
    from tests.test_kill_anywhere import _killed, rabtui
    lab, cfg, (u1, u2) = _two_unions(tmp_path)
    _replace_in_first(lab)
    write_files(lab.src / "arch2", {"a/new": b"n1", "z/new": b"n2"})
    with _immutable(u2 / "z"):
        _killed(rabtui(lab, "backup", "loc", point="union.undoing"))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    done = rabtui(lab, "cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    store = _agree(lab, cfg)
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))[0] == "kept", done.stdout
    assert (u1 / "f").read_bytes() == b"v1" and (u1 / "e").read_bytes() == b"e1"
    assert (u1 / "d/g").read_bytes() == b"g1" and not (u2 / "a/new").exists()
    store.close()
    lab.lose_database()
    done = rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3) and "Traceback" not in done.stderr, done.stdout + done.stderr
    store = _agree(lab, cfg)
    assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == ["completed", "kept"]


def test_a_cleanup_after_kept_data_keeps_the_newest_complete_backup_and_its_union(tmp_path):
    """Complete, complete, then kept by a failing link, days apart; a cleanup a month on under a
    retention of a day keeps the newest complete backup and the kept one; the union shows the former."""
    from datetime import datetime, timedelta
    from rabtui.backup import deletion, retention
    from rabtui.config import load
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch1", "archive"), ("arch2", "archive")])
    lab.keep_a_day()
    cfg = load(lab.config_path)
    t0 = datetime(2026, 1, 5, 3, 0)
    write_files(lab.src / "arch1", {"f": b"v1"})
    write_files(lab.src / "arch2", {"z/old": b"o1"})
    assert lab.backup(cfg, now=t0).status == "completed", lab.messages()
    write_files(lab.src / "arch1", {"f": b"v2-longer"})
    assert lab.backup(cfg, now=t0 + timedelta(days=1)).status == "completed", lab.messages()
    u1, u2 = (medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / d)) for d in ("arch1", "arch2"))
    write_files(lab.src / "arch1", {"f": b"v3-kept-only"})
    write_files(lab.src / "arch2", {"z/new": b"n2"})
    with _immutable(u2 / "z"):
        assert lab.backup(cfg, now=t0 + timedelta(days=2)).status == "failed", lab.messages()
    store = lab.store()
    rows = store.all("SELECT id, status FROM backups ORDER BY id")
    assert [r["status"] for r in rows] == ["completed", "completed", "kept"]
    plan = retention.plan_cleanup(cfg, store, now=t0 + timedelta(days=30))
    assert [c.id for c in plan.delete] in ([], [rows[0]["id"]]), (plan.delete, plan.kept)     # b1: guarded, it holds z/old
    assert {k[0]: k[2] for k in plan.kept} == {rows[1]["id"]: "newest complete", rows[2]["id"]: "newest"}, plan.kept
    deletion.apply_cleanup(cfg, store, plan)
    assert (u1 / "f").read_bytes() == b"v2-longer" and (u2 / "z/old").read_bytes() == b"o1"
    _agree(lab, cfg)


def test_a_checkpoint_after_a_failing_link_holds_the_union_as_the_complete_backups_show_it(tmp_path):
    from tests.trees import burn_due
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch1", "archive"), ("arch2", "archive")])
    write_files(lab.src / "arch1", {"f": b"v1"})
    write_files(lab.src / "arch2", {"z/old": b"o1"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    next_second()
    u2 = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch2"))
    write_files(lab.src / "arch2", {"a/b/new": b"n1", "z/new": b"n2"})
    with _immutable(u2 / "z"):
        assert lab.backup(cfg).status == "failed", lab.messages()
    store = _agree(lab, cfg)
    number = burn_due(cfg, store, {"*"})
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    out = tmp_path / "check"
    from rabtui.restore import run as restore_run
    restore_run.restore(cfg, store, "loc", str(lab.src / "arch2"), checkpoint=number, to=out)
    assert not (out / os.path.relpath(lab.src / "arch2", "/") / "a").exists(), \
        sorted(os.listdir(out / os.path.relpath(lab.src / "arch2", "/")))


def test_the_look_at_a_union_directory_holding_only_empty_ones_leaves_no_descriptor_open(tmp_path):
    from rabtui.backup import archive
    (tmp_path / "u/d/e/f").mkdir(parents=True)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert archive._only_empty_dirs(os.fsencode(tmp_path / "u"), b"d")
    assert len(os.listdir("/proc/self/fd")) == before
